//! The watch loop: a `kube::runtime::Controller` over MySQL objects that owns the children
//! it creates and calls the same [`crate::reconcile::reconcile`] as the CLI.

pub mod leader;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};

use crate::crd::MySQL;
use crate::error::Error;
use crate::reconcile::{self, Context};
pub use telemetry::Telemetry;

/// Which namespaces the operator watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespace(String),
}

fn api<K>(client: &Client, scope: &Scope) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match scope {
        Scope::All => Api::all(client.clone()),
        Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
    }
}

/// Retry delay after a failed reconcile: doubles per consecutive failure of an object,
/// from 2 s up to about 4 minutes.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(8)).min(Duration::from_secs(300))
}

struct State {
    ctx: Context,
    telemetry: Arc<Telemetry>,
    failures: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

async fn reconcile_one(mysql: Arc<MySQL>, state: Arc<State>) -> Result<Action, Error> {
    let key = format!(
        "{}/{}",
        mysql.namespace().unwrap_or_default(),
        mysql.name_any()
    );
    let started = std::time::Instant::now();
    let outcome = match reconcile::reconcile(&mysql, &state.ctx).await {
        Ok(outcome) => outcome,
        Err(error) => {
            state.telemetry.failed(&error, started.elapsed());
            return Err(error);
        }
    };
    state.telemetry.reconciled(started.elapsed());
    if let Ok(mut failures) = state.failures.lock() {
        failures.remove(&key);
    }
    tracing::info!(instance = %key, phase = ?outcome.phase, applied = outcome.applied, status_written = outcome.status_written, "reconciled");
    Ok(match outcome.requeue_after {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

fn error_policy(mysql: Arc<MySQL>, error: &Error, state: Arc<State>) -> Action {
    let key = format!(
        "{}/{}",
        mysql.namespace().unwrap_or_default(),
        mysql.name_any()
    );
    let failures = state
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        })
        .unwrap_or(1);
    let delay = backoff(failures);
    tracing::warn!(instance = %key, error = %error, kind = error.metric_label(), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Run until `shutdown` resolves; in-flight reconciles finish first. `telemetry` turns
/// ready once the watch caches are filled.
pub async fn run(
    client: Client,
    scope: Scope,
    instance: &str,
    telemetry: Arc<Telemetry>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let mysqls: Api<MySQL> = api(&client, &scope);
    let state = Arc::new(State {
        ctx: Context::new(client.clone(), instance),
        telemetry: telemetry.clone(),
        failures: Default::default(),
    });
    let config = watcher::Config::default().any_semantic();
    let controller = Controller::new(mysqls, config.clone());
    // A Secret the spec references (password_secret) is not owned: map it to the
    // instances that name it, so creating or fixing it heals them.
    let instances = controller.store();
    let cache = instances.clone();
    let readiness = telemetry.clone();
    let became_ready = tokio::spawn(async move {
        // The store's ready signal wakes only its latest waiter (the Controller's own), so
        // ask again every 200 ms instead of waiting once.
        loop {
            match tokio::time::timeout(Duration::from_millis(200), cache.wait_until_ready()).await {
                Ok(Ok(())) => break readiness.set_ready(true),
                Ok(Err(_)) => break,
                Err(_) => continue,
            }
        }
    });
    let controller = controller
        .owns(api::<Deployment>(&client, &scope), config.clone())
        .owns(api::<Service>(&client, &scope), config.clone())
        // Metadata only: the operator never keeps other Secrets' data in memory.
        .watches(
            api::<PartialObjectMeta<Secret>>(&client, &scope),
            config,
            move |secret: PartialObjectMeta<Secret>| {
                let namespace = secret.namespace();
                let name = secret.name_any();
                instances
                    .state()
                    .into_iter()
                    .filter(|m| {
                        m.namespace() == namespace
                            && m.spec
                                .password_secret
                                .as_ref()
                                .is_some_and(|r| r.name == name)
                    })
                    .map(|m| ObjectRef::from_obj(&*m))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown);
    controller
        .run(reconcile_one, error_policy, state)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
    became_ready.abort();
    telemetry.set_ready(false);
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(30), Duration::from_secs(256));
    }
}
