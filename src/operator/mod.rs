//! The watch loop: a `kube::runtime::Controller` over MySQL objects that calls the same
//! [`crate::reconcile::reconcile`] as the CLI, reading the cluster from watch caches.
//!
//! Event-driven: every kind an instance waits for is watched (its Deployment and Service,
//! claims and volumes, Jobs and their pods, Secrets), and a change wakes the instance it
//! belongs to. A slow resync with jitter is the only timer. After each pass the operator
//! waits until its caches show that pass's own writes, so the next pass reads what it
//! wrote and a converged instance costs no request at all.
//!
//! Several namespaces (`--watch-namespace a --watch-namespace b`, a namespace-scoped
//! install whose Roles grant nothing cluster-wide) run one controller per namespace in
//! this process ([`run_scopes`]): a namespaced watch is all such an install may open, and
//! a reflector store cannot be fed by several watches (each watch's initial list replaces
//! the store), so each controller keeps its own caches. They share the client, the
//! telemetry (ready only while every controller's caches are filled) and, in
//! `run-operator`, the leader election, which starts and stops them together.

pub mod leader;
pub mod telemetry;

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service,
};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::crd::MySQL;
use crate::error::Error;
use crate::reconcile::observe::{Compact, Labelled, managed_selector};
use crate::reconcile::{self, Caches, Context, Observer, pool};
use crate::resources::NAMESPACE_LABEL;
pub use telemetry::Telemetry;

/// Which namespaces the operator watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespace(String),
}

/// How hard the operator may work at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Reconciles in flight (never two of one instance).
    pub concurrency: u16,
    /// Backup Jobs running at once, delete-backups and on-demand backups alike.
    pub max_concurrent_backups: usize,
}

/// The default of `--max-concurrent-reconciles`.
pub const DEFAULT_CONCURRENCY: u16 = 10;

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            max_concurrent_backups: usize::from(pool::DEFAULT_MAX_CONCURRENT_BACKUPS),
        }
    }
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

/// `after`, moved by up to a tenth either way, so resyncs of instances made together do
/// not come back together.
fn jittered(after: Duration) -> Duration {
    let tenth = after.as_millis() as u64 / 10;
    let shift = rand::random_range(0..=2 * tenth);
    Duration::from_millis(after.as_millis() as u64 - tenth + shift)
}

/// When to look again at an instance whose pass came before the caches had listed.
const CACHES_FILLING: Duration = Duration::from_millis(100);

/// How long a pass waits for the caches to show its own writes.
const CATCH_UP: Duration = Duration::from_secs(5);

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
    // A pass on half-filled caches would take a child not listed yet for a missing one
    // and apply it again: come back once every cache has listed. Not waited for here: the
    // caches fill only while the Controller polls its streams, and a shutdown stops that
    // while it waits for the passes in flight (a pass waiting here never ended).
    if let Some(caches) = state.ctx.observer.caches()
        && !all_ready(caches)
    {
        return Ok(Action::requeue(CACHES_FILLING));
    }
    let started = std::time::Instant::now();
    let ctx = state.ctx.for_pass();
    let result = reconcile::reconcile(&mysql, &ctx).await;
    // The next pass of this instance must see what this one wrote (errors too wrote).
    if !ctx.observer.caught_up(CATCH_UP).await {
        tracing::warn!(instance = %key, "the watch caches did not show this pass's writes in time");
    }
    let outcome = match result {
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
        Some(after) => Action::requeue(jittered(after)),
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

/// Drop what the operator never reads, so 1,000 instances stay small in memory.
fn slim<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
    if let Some(annotations) = object.meta_mut().annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// kube-rs's `watcher`, started afresh when its watch connection broke mid-stream.
///
/// When the API server resets a watch connection (a control-plane restart, a load
/// balancer dropping it), kube-rs's watcher keeps the broken response body and gets the
/// same read error from it on every poll: the watch never resumes (kube-rs#1791). Such an
/// error is passed on (the backoff after it still applies), and the next poll starts a
/// new watcher, which lists again and resumes.
pub fn resilient_watcher<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let start = move || watcher(api.clone(), config.clone()).boxed();
    futures::stream::unfold(start(), move |mut current| {
        let start = start.clone();
        async move {
            let item = current.next().await?;
            if let Err(watcher::Error::WatchFailed(kube::Error::ReadEvents(_))) = &item {
                tracing::debug!("a watch connection broke: watching again from a fresh list");
                current = start();
            }
            Some((item, current))
        }
    })
}

/// Objects gone while a watch was away, reported as deleted. A watch that starts again
/// lists afresh, and kube-rs's reflector drops what the list lacks without an event, so a
/// child deleted while its watch was down (an outage, a backoff) would wake no owner
/// until the next resync. client-go's informers report such an object as deleted
/// (`DeletedFinalStateUnknown`); here it follows the list's end as a `Delete` of the
/// last copy the cache had, which wakes its owner like any delete.
fn deletes_missed_while_away<K, E>(
    events: impl Stream<Item = Result<watcher::Event<K>, E>> + Send + 'static,
    cache: Store<K>,
) -> impl Stream<Item = Result<watcher::Event<K>, E>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    E: Send + 'static,
{
    let mut before: Vec<Arc<K>> = Vec::new();
    let mut listed = std::collections::HashSet::new();
    events.flat_map(move |item| {
        let mut missed = Vec::new();
        match &item {
            // The cache still holds what the last watch saw: reflect comes after this.
            Ok(watcher::Event::Init) => {
                before = cache.state();
                listed.clear();
            }
            Ok(watcher::Event::InitApply(object)) => {
                listed.insert(ObjectRef::from_obj(object));
            }
            Ok(watcher::Event::InitDone) => {
                missed = std::mem::take(&mut before)
                    .into_iter()
                    .filter(|object| !listed.contains(&ObjectRef::from_obj(object.as_ref())))
                    .map(|object| Ok(watcher::Event::Delete(object.as_ref().clone())))
                    .collect();
                listed.clear();
            }
            _ => {}
        }
        futures::stream::iter(std::iter::once(item).chain(missed))
    })
}

/// The Controller's backoff over all its trigger streams together: none. Each watch
/// already backs off on its own ([`cache`]); one shared backoff would make every watch wait
/// for the errors of any other, and after an outage the errors of a dozen watches double
/// it again and again, so the operator stayed deaf for minutes after the API server came
/// back.
#[derive(Clone, Copy, Debug, Default)]
struct EachWatchBacksOff;

impl Iterator for EachWatchBacksOff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        // `None` would end the trigger stream: "no wait" is zero.
        Some(Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for EachWatchBacksOff {
    fn reset(&mut self) {}
}

/// A cache of `api`'s objects (with the labels `selector` asks for) and the stream of
/// objects it saw change, which must be polled for the cache to fill.
fn cache<K>(
    api: Api<K>,
    selector: Option<&str>,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    cache_observed(api, selector, |_| {})
}

/// [`cache`], with `observe` shown every event and error of the watch.
fn cache_observed<K>(
    api: Api<K>,
    selector: Option<&str>,
    observe: impl Fn(&Result<watcher::Event<K>, watcher::Error>) + Send + 'static,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let mut config = watcher::Config::default().any_semantic();
    if let Some(selector) = selector {
        config = config.labels(selector);
    }
    let stream = resilient_watcher(api, config).inspect(observe);
    let stream = deletes_missed_while_away(stream, store.clone())
        .modify(slim)
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    (store, stream)
}

/// The MySQL CRD, as the instances' own watch sees it. Deleting the CRD deletes every
/// instance (each through its finalizer, so each is backed up first), then the resource
/// stops being served: the watch's list answers 404. The operator then says so once and
/// is not ready (nothing to reconcile, and an alert should fire), and looks every few
/// seconds with a one-item list until the CRD is back. A watch that resumes on the new
/// CRD may bring no event at all (no instance yet), so the list, not the watch, says so.
struct CrdPresence {
    gone: Arc<std::sync::atomic::AtomicBool>,
    readiness: Arc<Readiness>,
    api: Api<MySQL>,
}

/// How often an operator without its CRD looks whether it is back.
const CRD_LOOK: Duration = Duration::from_secs(2);

impl CrdPresence {
    fn observe(&self, item: &Result<watcher::Event<MySQL>, watcher::Error>) {
        use std::sync::atomic::Ordering::SeqCst;
        let Err(error) = item else { return };
        if !not_served(error) || self.gone.swap(true, SeqCst) {
            return;
        }
        let crd = crate::install::CRD_NAME;
        tracing::warn!(
            crd,
            "the CustomResourceDefinition is gone, and every instance with it: not ready until it is installed again"
        );
        self.readiness.set(false);
        let (gone, readiness, api) = (self.gone.clone(), self.readiness.clone(), self.api.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CRD_LOOK).await;
                if api
                    .list(&kube::api::ListParams::default().limit(1))
                    .await
                    .is_ok()
                {
                    break;
                }
            }
            gone.store(false, SeqCst);
            tracing::info!(
                crd,
                "the CustomResourceDefinition is back: watching instances again"
            );
            readiness.set(true);
        });
    }
}

/// Whether a watch failed because its resource is not served (404 on the list or watch).
fn not_served(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => matches!(e, kube::Error::Api(s) if s.code == 404),
        watcher::Error::WatchError(status) => status.code == 404,
        watcher::Error::NoResourceVersion => false,
    }
}

/// The instance a labelled object belongs to: `app.kubernetes.io/instance` in its
/// namespace (for a cluster-scoped volume, the namespace label).
fn owner_instance<K: Resource + Labelled>(object: &K) -> Option<ObjectRef<MySQL>> {
    let name = object.label("app.kubernetes.io/instance")?;
    let namespace = object
        .meta()
        .namespace
        .as_deref()
        .or_else(|| object.label(NAMESPACE_LABEL))?;
    Some(ObjectRef::new(name).within(namespace))
}

/// Run until `shutdown` resolves; in-flight reconciles finish first. `telemetry` turns
/// ready once the watch caches are filled.
pub async fn run(
    client: Client,
    scope: Scope,
    instance: &str,
    telemetry: Arc<Telemetry>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let readiness = Readiness::parts(telemetry.clone(), 1).remove(0);
    run_one(
        client, scope, instance, telemetry, readiness, settings, shutdown,
    )
    .await
}

/// [`run`] for several scopes at once: one controller per scope, each with its own caches,
/// on its own task. `telemetry` is ready only while every controller's caches are filled.
///
/// Each controller has its own backup pool, so `max_concurrent_backups` bounds the backup
/// Jobs of each watched namespace (a pool counts from its controller's Job cache).
pub async fn run_scopes(
    client: Client,
    scopes: Vec<Scope>,
    instance: &str,
    telemetry: Arc<Telemetry>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown = shutdown.boxed().shared();
    let mut scopes = scopes;
    if scopes.len() <= 1 {
        let scope = scopes.pop().unwrap_or(Scope::All);
        return run(client, scope, instance, telemetry, settings, shutdown).await;
    }
    let readiness = Readiness::parts(telemetry.clone(), scopes.len());
    let controllers = scopes.into_iter().zip(readiness).map(|(scope, readiness)| {
        let (client, instance, telemetry, settings, shutdown) = (
            client.clone(),
            instance.to_string(),
            telemetry.clone(),
            settings.clone(),
            shutdown.clone(),
        );
        // A task each: the controllers' passes run on every worker thread.
        tokio::spawn(async move {
            run_one(
                client, scope, &instance, telemetry, readiness, settings, shutdown,
            )
            .await
        })
    });
    // A controller that panicked takes the process down, as one alone would: the pod
    // restarts rather than run on without a namespace.
    if let Err(failed) = futures::future::try_join_all(controllers).await
        && failed.is_panic()
    {
        std::panic::resume_unwind(failed.into_panic());
    }
}

/// One controller's share of the process's readiness: the process is ready only while
/// every controller says it is.
struct Readiness {
    telemetry: Arc<Telemetry>,
    parts: Arc<std::sync::Mutex<Vec<bool>>>,
    index: usize,
}

impl Readiness {
    fn parts(telemetry: Arc<Telemetry>, count: usize) -> Vec<Self> {
        let parts = Arc::new(std::sync::Mutex::new(vec![false; count]));
        (0..count)
            .map(|index| Self {
                telemetry: telemetry.clone(),
                parts: parts.clone(),
                index,
            })
            .collect()
    }

    fn set(&self, ready: bool) {
        // Under the lock: two controllers turning ready at once must not leave it false.
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(part) = parts.get_mut(self.index) {
            *part = ready;
        }
        self.telemetry.set_ready(parts.iter().all(|p| *p));
    }
}

/// What [`check_crd`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrdState {
    /// Installed and established, serving the version this binary speaks.
    Ready,
    Missing,
    /// Installed, but not (yet) established, or without the version this binary speaks.
    NotServing,
}

/// Read the MySQL CRD by name (a namespace-scoped install grants this one read of it), so
/// an operator watching some namespaces stops with a clear message when the CRD is not
/// there, instead of retrying a 404 watch in each namespace.
pub async fn check_crd(client: &Client) -> Result<CrdState, Error> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds
        .get_opt(crate::install::CRD_NAME)
        .await
        .map_err(|source| Error::Api {
            what: format!(
                "read the CustomResourceDefinition {}",
                crate::install::CRD_NAME
            ),
            source,
        })?;
    let Some(crd) = crd else {
        return Ok(CrdState::Missing);
    };
    let version = MySQL::version(&());
    let serves = crd
        .spec
        .versions
        .iter()
        .any(|v| v.name == version && v.served);
    let established = crd
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    Ok(if serves && established {
        CrdState::Ready
    } else {
        CrdState::NotServing
    })
}

async fn run_one(
    client: Client,
    scope: Scope,
    instance: &str,
    telemetry: Arc<Telemetry>,
    readiness: Readiness,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let managed = managed_selector();
    // Cluster-scoped volumes: those of the watched namespace only.
    let volume_selector = match &scope {
        Scope::All => managed.clone(),
        Scope::Namespace(ns) => format!("{managed},{NAMESPACE_LABEL}={ns}"),
    };
    let readiness = Arc::new(readiness);
    let crd = CrdPresence {
        gone: Default::default(),
        readiness: readiness.clone(),
        api: api::<MySQL>(&client, &scope),
    };
    let (mysqls, mysql_stream) = cache_observed(api::<MySQL>(&client, &scope), None, move |item| {
        crd.observe(item)
    });
    // Children as compact JSON text: the operator's memory stays small at 1,000 instances.
    let (deployments, deployment_stream) =
        cache(api::<Compact<Deployment>>(&client, &scope), Some(&managed));
    let (services, service_stream) =
        cache(api::<Compact<Service>>(&client, &scope), Some(&managed));
    let (claims, claim_stream) = cache(
        api::<Compact<PersistentVolumeClaim>>(&client, &scope),
        Some(&managed),
    );
    let (volumes, volume_stream) = cache(
        Api::<Compact<PersistentVolume>>::all(client.clone()),
        Some(&volume_selector),
    );
    // Full Secrets only of the product's own; any other Secret as metadata only.
    let (secrets, secret_stream) = cache(api::<Compact<Secret>>(&client, &scope), Some(&managed));
    let (config_maps, config_map_stream) =
        cache(api::<Compact<ConfigMap>>(&client, &scope), Some(&managed));
    let (jobs, job_stream) = cache(api::<Compact<Job>>(&client, &scope), Some(&managed));
    let (cron_jobs, cron_job_stream) =
        cache(api::<Compact<CronJob>>(&client, &scope), Some(&managed));
    let (pods, pod_stream) = cache(api::<Compact<Pod>>(&client, &scope), Some(&managed));
    let caches = Arc::new(Caches {
        mysqls: mysqls.clone(),
        deployments,
        services,
        claims,
        volumes,
        secrets,
        config_maps,
        jobs,
        cron_jobs,
        pods,
        backup_pool: tokio::sync::Mutex::new(()),
    });
    let mut ctx = Context::new(client.clone(), instance);
    ctx.observer = Observer::cached(caches.clone());
    ctx.max_concurrent_backups = settings.max_concurrent_backups.max(1);
    let state = Arc::new(State {
        ctx: ctx.clone(),
        telemetry: telemetry.clone(),
        failures: Default::default(),
    });

    let became = readiness.clone();
    let ready_caches = caches.clone();
    let became_ready = tokio::spawn(async move {
        // A store's ready signal wakes only its latest waiter, so look every 200 ms.
        loop {
            if all_ready(&ready_caches) {
                break became.set(true);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // The catalogue is read, never waited for: its cache only needs to be kept filled.
    let catalogue_cache = tokio::spawn(config_map_stream.for_each(|_| async {}));

    // A referenced Secret (password_secret) is not the product's: map it to the instances
    // that name it, so creating or fixing it heals them.
    let referencing = mysqls.clone();
    let secret_refs = move |secret: PartialObjectMeta<Secret>| {
        let namespace = secret.namespace();
        let name = secret.name_any();
        referencing
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
    };
    // A backup Job wakes its instance; one that gives its slot back (it ended or went)
    // also wakes the instances first in the backup queue.
    let pool_ctx = ctx.clone();
    let job_owners = move |job: Compact<Job>| {
        let mut wake: Vec<ObjectRef<MySQL>> = owner_instance(&job).into_iter().collect();
        let cached = pool_ctx
            .observer
            .caches()
            .and_then(|c| c.jobs.get(&ObjectRef::from_obj(&job)))
            .and_then(|j| j.object());
        if cached.is_none_or(|j| !pool::holds_slot(&j)) {
            let queue = pool::queue(&pool_ctx);
            wake.extend(queue.into_iter().take(pool_ctx.max_concurrent_backups));
        }
        wake
    };
    let config = controller::Config::default().concurrency(settings.concurrency);
    let controller = Controller::for_stream(mysql_stream, mysqls)
        .with_config(config)
        .trigger_backoff(EachWatchBacksOff)
        .owns_stream(deployment_stream)
        .owns_stream(service_stream)
        .owns_stream(secret_stream)
        .owns_stream(cron_job_stream)
        .watches_stream(claim_stream, |c| owner_instance(&c))
        .watches_stream(volume_stream, |v| owner_instance(&v))
        .watches_stream(job_stream, job_owners)
        .watches_stream(pod_stream, |p| owner_instance(&p))
        .watches_stream(
            // Metadata only, and not kept: a change only needs mapping to instances.
            resilient_watcher(
                api::<PartialObjectMeta<Secret>>(&client, &scope),
                watcher::Config::default().any_semantic(),
            )
            .modify(slim)
            .default_backoff()
            .touched_objects(),
            secret_refs,
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
    catalogue_cache.abort();
    readiness.set(false);
}

/// Whether every cache has listed once.
fn all_ready(caches: &Caches) -> bool {
    fn ready<K>(store: &Store<K>) -> bool
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        // Polled once: resolves at once when the store was filled.
        store
            .wait_until_ready()
            .now_or_never()
            .is_some_and(|r| r.is_ok())
    }
    ready(&caches.mysqls)
        && ready(&caches.deployments)
        && ready(&caches.services)
        && ready(&caches.claims)
        && ready(&caches.volumes)
        && ready(&caches.secrets)
        && ready(&caches.config_maps)
        && ready(&caches.jobs)
        && ready(&caches.cron_jobs)
        && ready(&caches.pods)
}

#[cfg(test)]
mod tests {
    use super::{Readiness, Telemetry, backoff, deletes_missed_while_away, jittered};
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::ResourceExt;
    use kube::runtime::reflector::{self, Store};
    use kube::runtime::watcher::Event;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn several_controllers_are_ready_only_together() {
        let telemetry = Arc::new(Telemetry::new());
        let parts = Readiness::parts(telemetry.clone(), 2);
        parts[0].set(true);
        assert!(!telemetry.is_ready(), "one of two caches filled");
        parts[1].set(true);
        assert!(telemetry.is_ready());
        parts[0].set(false);
        assert!(!telemetry.is_ready(), "one controller stopped");
    }

    #[test]
    fn resyncs_spread_by_a_tenth() {
        let base = Duration::from_secs(300);
        for _ in 0..200 {
            let after = jittered(base);
            assert!(after >= Duration::from_secs(270) && after <= Duration::from_secs(330));
        }
    }

    fn config_map(name: &str) -> ConfigMap {
        let mut map = ConfigMap::default();
        map.metadata.name = Some(name.into());
        map.metadata.namespace = Some("ns".into());
        map
    }

    /// What a fresh list of `names` brings, through the adapter, as kinds and names.
    async fn relisted(cache: &Store<ConfigMap>, names: &[&str]) -> Vec<String> {
        let mut events = vec![Event::Init];
        events.extend(names.iter().map(|n| Event::InitApply(config_map(n))));
        events.push(Event::InitDone);
        let items = futures::stream::iter(events.into_iter().map(Ok::<_, ()>));
        let out: Vec<_> = deletes_missed_while_away(items, cache.clone())
            .collect()
            .await;
        (out.into_iter().flatten())
            .map(|event| match event {
                Event::Init => "init".to_string(),
                Event::InitApply(m) => format!("listed {}", m.name_any()),
                Event::InitDone => "done".to_string(),
                Event::Apply(m) => format!("applied {}", m.name_any()),
                Event::Delete(m) => format!("deleted {}", m.name_any()),
            })
            .collect()
    }

    /// A child deleted while its watch was away (an outage) is missing from the next list:
    /// it is reported deleted, so its owner is reconciled and the child made again (one
    /// CI run waited 60 s in vain for a Service deleted right after an outage).
    #[tokio::test]
    async fn an_object_missing_from_a_fresh_list_is_reported_deleted() {
        let (cache, mut writer) = reflector::store::<ConfigMap>();
        // The first list: nothing was cached, nothing can be missing.
        let first = relisted(&cache, &["kept", "gone"]).await;
        assert_eq!(first, ["init", "listed kept", "listed gone", "done"]);
        for event in [
            Event::Init,
            Event::InitApply(config_map("kept")),
            Event::InitApply(config_map("gone")),
            Event::InitDone,
        ] {
            writer.apply_watcher_event(&event);
        }
        let again = relisted(&cache, &["kept", "new"]).await;
        assert_eq!(
            again,
            ["init", "listed kept", "listed new", "done", "deleted gone"]
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(30), Duration::from_secs(256));
    }
}
