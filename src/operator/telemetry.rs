//! What the operator tells its pod's probes and Prometheus: `/healthz`, `/readyz` and
//! `/metrics`, served by `run-operator --metrics-addr`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    /// A small fixed set ([`crate::Error::metric_label`]): never an instance name.
    error: String,
}

/// The operator's health and metrics, shared by the controller and the HTTP endpoint.
pub struct Telemetry {
    registry: Registry,
    reconciliations: Counter,
    failures: Family<ErrorLabels, Counter>,
    duration: Histogram,
    leader: Gauge,
    /// The watch loop runs and its caches are filled, or this replica stands by.
    ready: AtomicBool,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kubectl_mysql");
        let reconciliations = Counter::default();
        let failures = Family::<ErrorLabels, Counter>::default();
        // 10 ms .. ~40 s: a reconcile is a handful of API calls.
        let duration = Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 40.0]);
        let leader = Gauge::default();
        registry.register(
            "reconciliations",
            "Reconciles of MySQL instances",
            reconciliations.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Reconciles that failed, by kind of error",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "How long one reconcile took",
            duration.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease (or runs without leader election)",
            leader.clone(),
        );
        Self {
            registry,
            reconciliations,
            failures,
            duration,
            leader,
            ready: AtomicBool::new(false),
        }
    }

    pub fn reconciled(&self, took: Duration) {
        self.reconciliations.inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// Reconciles so far (failed ones included).
    pub fn reconciliations(&self) -> u64 {
        self.reconciliations.get()
    }

    pub fn failed(&self, error: &crate::Error, took: Duration) {
        self.reconciled(took);
        self.failures
            .get_or_create(&ErrorLabels {
                error: error.metric_label().to_string(),
            })
            .inc();
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

fn router(telemetry: Arc<Telemetry>) -> Router {
    Router::new()
        // Liveness: the process answers. A wedged API connection is not a reason to restart.
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(telemetry)
}

async fn readyz(State(telemetry): State<Arc<Telemetry>>) -> impl IntoResponse {
    if telemetry.is_ready() {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: caches not synced\n",
        )
    }
}

async fn metrics(State(telemetry): State<Arc<Telemetry>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        telemetry.encode(),
    )
}

/// A bound health and metrics endpoint; [`Endpoint::serve`] answers until the future ends.
pub struct Endpoint {
    listener: tokio::net::TcpListener,
    telemetry: Arc<Telemetry>,
}

impl Endpoint {
    /// Bind first, so a taken port fails `run-operator` at start, not silently later.
    pub async fn bind(addr: SocketAddr, telemetry: Arc<Telemetry>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            telemetry,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn serve(self) -> std::io::Result<()> {
        axum::serve(self.listener, router(self.telemetry)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_reconciles_and_failures_by_kind() {
        let telemetry = Telemetry::new();
        telemetry.reconciled(Duration::from_millis(20));
        telemetry.failed(
            &crate::Error::BadValue("storage_size".into()),
            Duration::from_millis(5),
        );
        telemetry.set_leader(true);
        let text = telemetry.encode();
        assert!(
            text.contains("kubectl_mysql_reconciliations_total 2"),
            "{text}"
        );
        assert!(
            text.contains("kubectl_mysql_reconcile_failures_total{error=\"invalid\"} 1"),
            "{text}"
        );
        assert!(text.contains("kubectl_mysql_leader 1"), "{text}");
        assert!(
            text.contains("kubectl_mysql_reconcile_duration_seconds_count 2"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
