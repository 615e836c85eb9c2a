//! `kubectl-mysql run-operator`: the watch loop, in a cluster or from a laptop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use futures::FutureExt;

use super::{Failure, GlobalArgs, kubeconfig};
use crate::operator::leader::{Candidate, LEASE_NAME};
use crate::operator::{self, Scope, Settings, Telemetry};
use crate::reconcile::pool::DEFAULT_MAX_CONCURRENT_BACKUPS;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # Watch every namespace (the default), as the in-cluster Deployment does
  kubectl-mysql run-operator

  # Watch one namespace, with JSON logs
  kubectl mysql run-operator -n shop --log-format json

  # Watch two namespaces (one controller each), as a namespace-scoped install runs it
  kubectl-mysql run-operator --watch-namespace shop --watch-namespace blog

  # As the Deployment from `kubectl mysql install` runs it: two replicas are safe
  kubectl-mysql run-operator --leader-elect --metrics-addr 0.0.0.0:8080")]
pub struct RunOperatorArgs {
    /// Watch every namespace (the default unless -n names one; `-n all` says the same)
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    all_namespaces: bool,

    /// Watch only this namespace (repeatable); -n NS watches one the same way
    #[arg(long, value_name = "NAMESPACE", conflicts_with = "all_namespaces")]
    watch_namespace: Vec<String>,

    /// Log format: text for people, json for log collectors
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,

    /// Serve /healthz, /readyz and Prometheus /metrics on this address (off by default)
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,

    /// Reconcile only while holding the Lease "kubectl-mysql-operator", so replicas take turns
    #[arg(long)]
    leader_elect: bool,

    /// Namespace of the leader Lease (default: $POD_NAMESPACE, then the kubeconfig's)
    #[arg(long, value_name = "NAMESPACE", requires = "leader_elect")]
    leader_elect_namespace: Option<String>,

    /// Reconciles in flight at once (never two of one instance)
    #[arg(long, value_name = "N", default_value_t = operator::DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent_reconciles: u16,

    /// Backup Jobs running at once, delete-backups and on-demand backups alike; the rest wait in turn (per namespace with --watch-namespace)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONCURRENT_BACKUPS, value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent_backups: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(
        |_| // Targets match by prefix: "kube" would also silence "kubectl_mysql".
        tracing_subscriber::EnvFilter::new("info,kube_client=warn,kube_runtime=warn"),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Resolves on Ctrl-C or SIGTERM (what a pod gets on shutdown).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing reconciles in flight");
}

pub async fn run(global: &GlobalArgs, args: RunOperatorArgs) -> anyhow::Result<()> {
    init_logs(args.log_format);
    let scopes = scopes(
        global.namespace.as_deref(),
        args.all_namespaces,
        &args.watch_namespace,
    )?;
    let (client, default_namespace) = kubeconfig::client(global, None).await?;
    // Events and the lease name the reporting instance: the pod's name in a cluster.
    let instance = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "kubectl-mysql".into());
    let telemetry = Arc::new(Telemetry::new());
    if let Some(addr) = args.metrics_addr {
        let endpoint = operator::telemetry::Endpoint::bind(addr, telemetry.clone())
            .await
            .map_err(|e| {
                Failure::new(
                    format!("cannot serve metrics on {addr}: {e}"),
                    "pick a free address with --metrics-addr, e.g. 127.0.0.1:9090",
                )
            })?;
        tracing::info!(addr = %endpoint.local_addr()?, "serving /healthz, /readyz and /metrics");
        tokio::spawn(async move {
            if let Err(e) = endpoint.serve().await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
    }
    client.apiserver_version().await.map_err(|e| {
        Failure::new(
            format!("the cluster does not answer: {e}"),
            "check the kubeconfig (`kubectl get ns`) or run the operator inside the cluster",
        )
    })?;
    if scopes != [Scope::All] {
        check_crd(&client).await?;
    }
    let shutdown = shutdown_signal().shared();
    let settings = Settings {
        concurrency: args.max_concurrent_reconciles,
        max_concurrent_backups: usize::from(args.max_concurrent_backups),
    };
    if !args.leader_elect {
        telemetry.set_leader(true);
        tracing::info!(scope = ?scopes, "operator started");
        operator::run_scopes(client, scopes, &instance, telemetry, settings, shutdown).await;
        tracing::info!("operator stopped");
        return Ok(());
    }

    let lease_namespace = args
        .leader_elect_namespace
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or(default_namespace);
    // Unique per replica: the pod's name, or this process on a laptop.
    let identity = match std::env::var("POD_NAME") {
        Ok(pod) => pod,
        Err(_) => format!("{instance}-{}", std::process::id()),
    };
    let election = Election {
        namespace: lease_namespace,
        identity,
    };
    lead(
        client, scopes, &instance, telemetry, settings, shutdown, election,
    )
    .await
}

/// What to watch: every namespace (no flag, -A or `-n all`), the one of -n, or those of
/// `--watch-namespace` (sorted, each once).
fn scopes(
    namespace: Option<&str>,
    all_namespaces: bool,
    watch_namespaces: &[String],
) -> Result<Vec<Scope>, Failure> {
    if !watch_namespaces.is_empty() {
        if namespace.is_some() {
            return Err(Failure::new(
                "-n and --watch-namespace both name namespaces to watch",
                "give each namespace with --watch-namespace, e.g. --watch-namespace shop --watch-namespace blog",
            ));
        }
        let mut names = watch_namespaces.to_vec();
        for name in &names {
            super::install::check_namespace_name(
                name,
                "give the name of an existing namespace, e.g. --watch-namespace shop",
            )?;
        }
        names.sort();
        names.dedup();
        return Ok(names.into_iter().map(Scope::Namespace).collect());
    }
    // `-n all` is the spec's spelling of -A.
    Ok(match (namespace, all_namespaces) {
        (Some(ns), false) if ns != "all" => vec![Scope::Namespace(ns.to_string())],
        _ => vec![Scope::All],
    })
}

/// A namespace-scoped operator first checks that the MySQL CRD is there to watch. Refused
/// the read, it goes on: `install --watch-namespace` grants it, but `-n NS` may run under
/// the cluster-wide install's rules, which do not (and did not need to).
async fn check_crd(client: &kube::Client) -> Result<(), Failure> {
    let crd = crate::install::CRD_NAME;
    match operator::check_crd(client).await {
        Ok(operator::CrdState::Ready) => Ok(()),
        Err(crate::Error::Api {
            source: kube::Error::Api(refused),
            ..
        }) if refused.code == 403 => {
            tracing::warn!(crd, reason = %refused.message, "cannot check the CRD: watching anyway");
            Ok(())
        }
        Ok(operator::CrdState::Missing) => Err(Failure::new(
            format!("the CustomResourceDefinition {crd} is not installed"),
            "install it first: kubectl mysql crd | kubectl apply -f -",
        )),
        Ok(operator::CrdState::NotServing) => Err(Failure::new(
            format!(
                "the CustomResourceDefinition {crd} is not established or does not serve version v1"
            ),
            "apply the CRD of this version: kubectl mysql crd | kubectl apply -f -",
        )),
        Err(e) => Err(Failure::new(
            e.to_string(),
            "the operator's ServiceAccount needs get on this CRD (see `kubectl mysql install --watch-namespace`)",
        )),
    }
}

struct Election {
    namespace: String,
    identity: String,
}

/// Stand by until this replica holds the Lease, reconcile while it does, and hand the
/// Lease over on shutdown. Losing it is an error: the pod restarts as a standby.
async fn lead(
    client: kube::Client,
    scopes: Vec<Scope>,
    instance: &str,
    telemetry: Arc<Telemetry>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Clone + Send + Sync + 'static,
    election: Election,
) -> anyhow::Result<()> {
    let Election {
        namespace: lease_namespace,
        identity,
    } = election;
    let mut candidate = Candidate::join(client.clone(), &lease_namespace, &identity)
        .await
        .map_err(|e| {
            Failure::new(
                format!("cannot join the leader election (Lease {lease_namespace}/{LEASE_NAME}): {e}"),
                "the operator's ServiceAccount needs get, create and patch on leases in that namespace (see deploy/rbac.yaml)",
            )
        })?;
    // A standby is ready: it serves its purpose by waiting.
    telemetry.set_ready(true);
    tracing::info!(lease = %format!("{lease_namespace}/{LEASE_NAME}"), identity = %identity, "waiting to lead");
    tokio::select! {
        _ = candidate.elected() => {}
        _ = shutdown.clone() => {
            candidate.resign().await;
            tracing::info!("operator stopped before it led");
            return Ok(());
        }
    }
    telemetry.set_ready(false);
    telemetry.set_leader(true);
    tracing::info!(scope = ?scopes, "elected leader: operator started");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = operator::run_scopes(
        client,
        scopes,
        instance,
        telemetry.clone(),
        settings,
        async move {
            let _ = stopped.await;
        },
    );
    tokio::pin!(controller);
    let mut finished = false;
    let lost = tokio::select! {
        _ = &mut controller => { finished = true; None }
        _ = shutdown.clone() => None,
        why = candidate.lost() => Some(why),
    };
    if let Some(why) = lost {
        tracing::error!(
            why,
            "lost the leader lease: stopping so that the new leader runs alone"
        );
    }
    let _ = stop.send(());
    if !finished {
        controller.await;
    }
    telemetry.set_leader(false);
    // Hand the lease over at once rather than let the next leader wait for it to expire.
    candidate.resign().await;
    if let Some(why) = lost {
        return Err(Failure::new(
            format!("lost the leader lease while reconciling: {why}"),
            "the API server was unreachable for longer than the lease (15s), or another replica took over; the pod restarts and stands by",
        )
        .into());
    }
    tracing::info!("operator stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn watched_namespaces_are_sorted_once_each_and_n_still_watches_one() {
        assert_eq!(scopes(None, false, &[]).ok(), Some(vec![Scope::All]));
        assert_eq!(scopes(Some("all"), false, &[]).ok(), Some(vec![Scope::All]));
        assert_eq!(
            scopes(Some("shop"), false, &[]).ok(),
            Some(vec![Scope::Namespace("shop".into())])
        );
        assert_eq!(
            scopes(None, false, &names(&["shop", "blog", "shop"])).ok(),
            Some(vec![
                Scope::Namespace("blog".into()),
                Scope::Namespace("shop".into())
            ])
        );
    }

    #[test]
    fn a_bad_or_doubly_given_watch_namespace_is_refused_with_a_hint() {
        let bad = scopes(None, false, &names(&["shop", "Bad_Name"])).expect_err("invalid");
        assert!(
            bad.message.starts_with("invalid namespace \"Bad_Name\""),
            "{}",
            bad.message
        );
        assert!(bad.hint.contains("--watch-namespace"), "{}", bad.hint);
        let both = scopes(Some("shop"), false, &names(&["blog"])).expect_err("-n and the flag");
        assert!(both.hint.contains("--watch-namespace"), "{}", both.hint);
    }
}
