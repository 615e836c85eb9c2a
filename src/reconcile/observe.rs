//! Where a reconcile reads the cluster from: the API itself (the CLI, which runs once and
//! has no watches), or the operator's watch caches (so a converged instance costs no
//! request at all).
//!
//! A cache lags the writes that the reconcile itself made by one watch event. The
//! operator therefore waits, after each pass, until its caches show that pass's writes
//! ([`Caches::caught_up`]); the next pass then never re-applies what it just wrote.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::crd::MySQL;
use crate::error::Error;
use crate::resources::FIELD_MANAGER;

/// The label every object the product makes carries; the operator's caches watch only
/// objects with it (`app.kubernetes.io/managed-by=kubectl-mysql`).
pub fn managed_selector() -> String {
    format!("app.kubernetes.io/managed-by={FIELD_MANAGER}")
}

/// The operator's watch caches: every kind of child, its Jobs and their pods, the
/// catalogue ConfigMaps and the instances themselves. Children are cached only when they
/// carry the managed-by label; other Secrets never are.
pub struct Caches {
    pub mysqls: Store<MySQL>,
    pub deployments: Store<Compact<Deployment>>,
    pub services: Store<Compact<Service>>,
    pub claims: Store<Compact<PersistentVolumeClaim>>,
    pub volumes: Store<Compact<PersistentVolume>>,
    pub secrets: Store<Compact<Secret>>,
    pub config_maps: Store<Compact<ConfigMap>>,
    pub jobs: Store<Compact<Job>>,
    pub cron_jobs: Store<Compact<CronJob>>,
    pub pods: Store<Compact<Pod>>,
    /// Held while a backup slot is counted and taken, so two passes never take the last
    /// one at once.
    pub backup_pool: tokio::sync::Mutex<()>,
}

/// A cached child kept as its JSON text beside its metadata. k8s-openapi's structs are
/// dense (every optional field has its place): a Deployment takes about 13 KB of memory
/// typed and 2.5 KB as text, so 1,000 instances' children fit in a few MB. A read parses
/// the one object it needs. The labels are one string too: as a `BTreeMap` of `String`s
/// they took about 800 bytes an object, more than most objects' text.
pub struct Compact<K> {
    /// Without labels and managed fields.
    metadata: ObjectMeta,
    /// `key=value` lines, sorted by key (neither can hold `=` or a line break).
    labels: Box<str>,
    /// The object without its metadata.
    rest: Box<str>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Compact<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            labels: self.labels.clone(),
            rest: self.rest.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> Debug for Compact<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compact")
            .field("name", &self.metadata.name)
            .field("namespace", &self.metadata.namespace)
            .finish_non_exhaustive()
    }
}

impl<K: Resource<DynamicType = ()>> Resource for Compact<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(_: &()) -> Cow<'_, str> {
        K::kind(&())
    }
    fn group(_: &()) -> Cow<'_, str> {
        K::group(&())
    }
    fn version(_: &()) -> Cow<'_, str> {
        K::version(&())
    }
    fn plural(_: &()) -> Cow<'_, str> {
        K::plural(&())
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl<'de, K: Resource<DynamicType = ()>> Deserialize<'de> for Compact<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(deserializer)?;
        let metadata = value
            .as_object_mut()
            .and_then(|o| o.remove("metadata"))
            .unwrap_or_default();
        let mut metadata: ObjectMeta =
            serde_json::from_value(metadata).map_err(serde::de::Error::custom)?;
        // Never read: left out of memory.
        metadata.managed_fields = None;
        if let Some(annotations) = metadata.annotations.as_mut() {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
        // The operator reads a pod's labels and status only (is the server's pod gone,
        // a Job pod's termination message); its spec is most of its text.
        if K::kind(&()) == "Pod"
            && let Some(object) = value.as_object_mut()
        {
            object.remove("spec");
        }
        let labels = metadata
            .labels
            .take()
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect::<String>();
        Ok(Self {
            metadata,
            labels: labels.into_boxed_str(),
            rest: value.to_string().into_boxed_str(),
            kind: PhantomData,
        })
    }
}

impl<K> Compact<K> {
    /// The value of the label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.lines().find_map(|line| {
            line.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
        })
    }

    fn label_map(&self) -> BTreeMap<String, String> {
        self.labels
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl<K: DeserializeOwned> Compact<K> {
    /// The typed object (None only if the cached text does not fit the type, which
    /// the text it was read from did).
    pub fn object(&self) -> Option<K> {
        let mut value: Value = serde_json::from_str(&self.rest).ok()?;
        let mut metadata = self.metadata.clone();
        if !self.labels.is_empty() {
            metadata.labels = Some(self.label_map());
        }
        value["metadata"] = serde_json::to_value(&metadata).ok()?;
        serde_json::from_value(value).ok()
    }
}

/// What a cached object's labels say, without unpacking it.
pub trait Labelled {
    fn label(&self, key: &str) -> Option<&str>;
}

impl<K> Labelled for Compact<K> {
    fn label(&self, key: &str) -> Option<&str> {
        Compact::label(self, key)
    }
}

impl Labelled for MySQL {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels().get(key).map(String::as_str)
    }
}

/// A kind the operator caches.
pub trait Cached:
    Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static
{
    /// How the cache keeps it (the type itself, or [`Compact`]).
    type Kept: Resource<DynamicType = ()> + Labelled + Clone + Send + Sync + 'static;
    fn store(caches: &Caches) -> &Store<Self::Kept>;
    /// The object out of its cached form.
    fn unpack(kept: &Self::Kept) -> Option<Self>;
    /// The API of this kind in `namespace` (ignored for a cluster-scoped kind).
    fn api(client: &Client, namespace: Option<&str>) -> Api<Self>;
}

macro_rules! cached {
    ($($kind:ty => $field:ident),* $(,)?) => {
        $(impl Cached for $kind {
            type Kept = Compact<$kind>;
            fn store(caches: &Caches) -> &Store<Self::Kept> {
                &caches.$field
            }
            fn unpack(kept: &Self::Kept) -> Option<Self> {
                kept.object()
            }
            fn api(client: &Client, namespace: Option<&str>) -> Api<Self> {
                Api::namespaced(client.clone(), namespace.unwrap_or_default())
            }
        })*
    };
}

cached!(
    Deployment => deployments,
    Service => services,
    PersistentVolumeClaim => claims,
    Secret => secrets,
    ConfigMap => config_maps,
    Job => jobs,
    CronJob => cron_jobs,
    Pod => pods,
);

impl Cached for PersistentVolume {
    type Kept = Compact<PersistentVolume>;
    fn store(caches: &Caches) -> &Store<Self::Kept> {
        &caches.volumes
    }
    fn unpack(kept: &Self::Kept) -> Option<Self> {
        kept.object()
    }
    fn api(client: &Client, _: Option<&str>) -> Api<Self> {
        Api::all(client.clone())
    }
}

/// The instances: the Controller's own store, typed.
impl Cached for MySQL {
    type Kept = MySQL;
    fn store(caches: &Caches) -> &Store<Self::Kept> {
        &caches.mysqls
    }
    fn unpack(kept: &Self::Kept) -> Option<Self> {
        Some(kept.clone())
    }
    fn api(client: &Client, namespace: Option<&str>) -> Api<Self> {
        Api::namespaced(client.clone(), namespace.unwrap_or_default())
    }
}

/// Reads the cached resourceVersion of one object.
type CachedVersion = Box<dyn Fn(&Caches) -> Option<String> + Send + Sync>;

/// A written object whose cached copy may still be older than the write: the cache has
/// caught up once the copy's resourceVersion is none of the versions that preceded the
/// last write (absent counts as the version `None`).
struct Expectation {
    /// The cached resourceVersion of the object (`None`: not in the cache).
    cached: CachedVersion,
    stale: HashSet<Option<String>>,
    /// The version the last write produced: stale once another write follows.
    last: Option<String>,
}

impl Expectation {
    fn seen(&self, caches: &Caches) -> bool {
        !self.stale.contains(&(self.cached)(caches))
    }
}

/// How a reconcile reads, and what it wrote.
#[derive(Clone)]
pub struct Observer {
    caches: Option<Arc<Caches>>,
    /// By `kind/namespace/name`.
    pending: Arc<Mutex<HashMap<String, Expectation>>>,
}

impl Observer {
    /// Read from the API server (the CLI).
    pub fn api() -> Self {
        Self {
            caches: None,
            pending: Arc::default(),
        }
    }

    /// Read from the operator's caches.
    pub fn cached(caches: Arc<Caches>) -> Self {
        Self {
            caches: Some(caches),
            pending: Arc::default(),
        }
    }

    /// A fresh record of writes for one pass, reading from the same place.
    pub fn for_pass(&self) -> Self {
        Self {
            caches: self.caches.clone(),
            pending: Arc::default(),
        }
    }

    pub fn caches(&self) -> Option<&Arc<Caches>> {
        self.caches.as_ref()
    }

    /// One object: `namespace` `None` for a cluster-scoped kind.
    pub async fn get<K: Cached>(
        &self,
        client: &Client,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<K>, Error> {
        if let Some(caches) = &self.caches {
            let key = ObjectRef::<K::Kept>::new(name);
            let key = match namespace {
                Some(ns) => key.within(ns),
                None => key,
            };
            return Ok(K::store(caches).get(&key).and_then(|k| K::unpack(&k)));
        }
        K::api(client, namespace)
            .get_opt(name)
            .await
            .map_err(|e| Error::api(format!("read {} {name}", K::kind(&())), e))
    }

    /// The objects of a namespace whose labels include all of `labels`.
    pub async fn list<K>(
        &self,
        client: &Client,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<K>, Error>
    where
        K: Cached + Resource<Scope = NamespaceResourceScope>,
    {
        if let Some(caches) = &self.caches {
            return Ok(K::store(caches)
                .state()
                .into_iter()
                .filter(|k| k.meta().namespace.as_deref() == Some(namespace))
                .filter(|k| labels.iter().all(|(l, v)| k.label(l) == Some(v.as_str())))
                .filter_map(|k| K::unpack(&k))
                .collect());
        }
        let selector = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let api: Api<K> = Api::namespaced(client.clone(), namespace);
        api.list(&ListParams::default().labels(&selector))
            .await
            .map(|l| l.items)
            .map_err(|e| Error::api(format!("list {}s", K::kind(&())), e))
    }

    /// Note a write to `K` `name` that moved its resourceVersion from `before` (`None`:
    /// it did not exist) to `after` (`None`: deleted, or not known).
    pub fn wrote<K: Cached>(
        &self,
        namespace: Option<&str>,
        name: &str,
        before: Option<String>,
        after: Option<String>,
    ) {
        if self.caches.is_none() {
            return;
        }
        let key = ObjectRef::<K::Kept>::new(name);
        let key = match namespace {
            Some(ns) => key.within(ns),
            None => key,
        };
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        let expectation = pending.entry(key.to_string()).or_insert_with(|| {
            let key = key.clone();
            Expectation {
                cached: Box::new(move |caches: &Caches| {
                    K::store(caches)
                        .get(&key)
                        .and_then(|k| k.resource_version())
                }),
                stale: HashSet::new(),
                last: None,
            }
        });
        expectation.stale.insert(before);
        if let Some(previous) = expectation.last.take() {
            expectation.stale.insert(Some(previous));
        }
        expectation.last = after;
    }

    /// Note a write of `object` as the server answered it, if its resourceVersion moved.
    pub fn wrote_object<K: Cached>(&self, before: Option<&K>, after: &K) {
        let before_rv = before.and_then(|b| b.resource_version());
        if before_rv.is_some() && before_rv == after.resource_version() {
            return; // the server changed nothing
        }
        self.wrote::<K>(
            after.namespace().as_deref(),
            &after.name_any(),
            before_rv,
            after.resource_version(),
        );
    }

    /// Wait (at most `limit`) until the caches show every write of this pass.
    pub async fn caught_up(&self, limit: Duration) -> bool {
        let Some(caches) = &self.caches else {
            return true;
        };
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let done = self
                .pending
                .lock()
                .map(|mut pending| {
                    pending.retain(|_, expectation| !expectation.seen(caches));
                    pending.is_empty()
                })
                .unwrap_or(true);
            if done {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            // The caches are memory: looking every few milliseconds costs no request.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Compact, Labelled};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn deployment() -> serde_json::Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "mysql-instance",
                "namespace": "default",
                "resourceVersion": "42",
                "labels": {"app.kubernetes.io/instance": "mysql-instance", "app.kubernetes.io/name": "mysql"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "kept": "yes"},
                "managedFields": [{"manager": "kubectl-mysql", "operation": "Apply"}],
                "ownerReferences": [{"apiVersion": "otus.homework/v1", "kind": "MySQL", "name": "mysql-instance", "uid": "u1", "controller": true}]
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "mysql-instance"}},
                "template": {"metadata": {"labels": {"app": "mysql-instance"}}, "spec": {"containers": [{"name": "mysql", "image": "mysql:8.4"}]}}
            },
            "status": {"readyReplicas": 1}
        })
    }

    #[test]
    fn a_compact_object_unpacks_to_what_was_read_less_what_is_never_read() {
        let compact: Compact<Deployment> = serde_json::from_value(deployment()).unwrap();
        let unpacked = compact.object().expect("unpacks");
        let mut expected: Deployment = serde_json::from_value(deployment()).unwrap();
        expected.metadata.managed_fields = None;
        expected
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .remove("kubectl.kubernetes.io/last-applied-configuration");
        assert_eq!(unpacked, expected);
        // The typed metadata the reflector and Controller read keeps what they need.
        let meta = kube::Resource::meta(&compact);
        assert_eq!(meta.resource_version.as_deref(), Some("42"));
        assert_eq!(meta.owner_references.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn labels_are_looked_up_by_their_whole_key() {
        let compact: Compact<Deployment> = serde_json::from_value(deployment()).unwrap();
        assert_eq!(
            Labelled::label(&compact, "app.kubernetes.io/instance"),
            Some("mysql-instance")
        );
        assert_eq!(compact.label("app.kubernetes.io/name"), Some("mysql"));
        assert_eq!(compact.label("app.kubernetes.io/nam"), None);
        assert_eq!(compact.label("app.kubernetes.io"), None);
        let unlabelled = json!({"metadata": {"name": "x"}, "spec": {}});
        let compact: Compact<Deployment> = serde_json::from_value(unlabelled).unwrap();
        assert_eq!(compact.label("app.kubernetes.io/name"), None);
        assert_eq!(compact.object().unwrap().metadata.labels, None);
    }

    #[test]
    fn a_cached_pod_keeps_its_status_and_labels_not_its_spec() {
        let pod = json!({
            "metadata": {"name": "backup-x-job-abcde", "namespace": "default", "labels": {"job-name": "backup-x-job"}},
            "spec": {"containers": [{"name": "backup", "image": "mysql:8.4"}]},
            "status": {"phase": "Failed", "containerStatuses": [{"name": "backup", "image": "mysql:8.4", "imageID": "sha", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 1, "message": "the dump failed"}}}]}
        });
        let compact: Compact<Pod> = serde_json::from_value(pod).unwrap();
        let unpacked = compact.object().unwrap();
        assert_eq!(unpacked.spec, None);
        assert_eq!(compact.label("job-name"), Some("backup-x-job"));
        let status = unpacked.status.unwrap();
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        let terminated = status.container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap();
        assert_eq!(terminated.message.as_deref(), Some("the dump failed"));
    }
}
