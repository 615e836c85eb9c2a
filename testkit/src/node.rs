//! A node stand-in: the controllers and kubelet the product relies on, played as a
//! separate client of the test API server (SPEC §5), never as code inside it.
//!
//! - **PersistentVolume binder and provisioner**: a claim naming a volume is bound to it;
//!   a claim with a storage class and no volume gets a hostPath volume `pvc-<claim uid>`
//!   under a temp dir the stand-in owns, then is bound. A volume that does not satisfy
//!   the claim (size, access modes, class, claimed by another claim) leaves it Pending,
//!   as on a real cluster. Reclaiming (Released, the Delete policy) is not played.
//! - **Deployment controller and kubelet**: a Deployment is marked available once its pod
//!   could start: every claim it mounts is Bound and every `secretKeyRef` it reads exists.
//!   [`NodeStandIn::hold`] keeps one unready for a test.
//! - **Jobs**: not played yet. The place for them is `Cluster::run_jobs`; a later issue
//!   runs each Job's container command as a local process there (add a Job cache in
//!   [`NodeStandIn::start`] so Job changes wake the loop).
//!
//! Level-triggered: reflectors cache claims, volumes, Deployments and Secrets; any change
//! wakes one loop that reconciles every object from the caches and writes only what
//! differs, so a converged cluster gets no writes. Writes are merge patches (status through
//! `/status`) under the manager `kube-controller-manager`, as the real controllers' updates.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, PodSpec, Secret};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Merge patches as the real binder, provisioner and Deployment controller send them
/// (all three run in kube-controller-manager).
fn as_controller() -> PatchParams {
    PatchParams {
        field_manager: Some("kube-controller-manager".into()),
        ..PatchParams::default()
    }
}

type Outcome = Result<(), Box<dyn std::error::Error + Send + Sync>>;
type Held = Arc<Mutex<HashSet<(String, String)>>>;

/// The stand-in; its tasks stop when it is dropped.
pub struct NodeStandIn {
    held: Held,
    wake: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
    /// Holds the provisioned volumes' directories; removed on drop.
    _volumes: tempfile::TempDir,
}

impl NodeStandIn {
    /// Start reacting to the cluster `client` talks to (all namespaces). Needs a Tokio runtime.
    pub fn start(client: Client) -> NodeStandIn {
        let dir = tempfile::Builder::new()
            .prefix("node-stand-in-")
            .tempdir()
            .expect("a temp dir for provisioned volumes");
        let wake = Arc::new(Notify::new());
        let held = Held::default();
        let (claims, t1) = cache(Api::all(client.clone()), &wake);
        let (volumes, t2) = cache(Api::all(client.clone()), &wake);
        let (deployments, t3) = cache(Api::all(client.clone()), &wake);
        let (secrets, t4) = cache(Api::all(client.clone()), &wake);
        let cluster = Cluster {
            client,
            claims,
            volumes,
            deployments,
            secrets,
            held: held.clone(),
            volume_dir: dir.path().to_path_buf(),
        };
        let run = tokio::spawn(cluster.run(wake.clone()));
        NodeStandIn {
            held,
            wake,
            tasks: vec![t1, t2, t3, t4, run],
            _volumes: dir,
        }
    }

    /// Keep a Deployment's pod unready (as if its readiness probe failed) until released.
    pub fn hold(&self, namespace: &str, deployment: &str) {
        self.held_set()
            .insert((namespace.into(), deployment.into()));
        self.wake.notify_one();
    }

    /// Let a held Deployment become available again.
    pub fn release(&self, namespace: &str, deployment: &str) {
        self.held_set()
            .remove(&(namespace.to_string(), deployment.to_string()));
        self.wake.notify_one();
    }

    fn held_set(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for NodeStandIn {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A reflector over all objects of one kind; every event wakes the reconcile loop.
fn cache<K>(api: Api<K>, wake: &Arc<Notify>) -> (Store<K>, JoinHandle<()>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (store, writer) = reflector::store();
    let wake = wake.clone();
    let events = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .for_each(move |_| {
            wake.notify_one();
            async {}
        });
    (store, tokio::spawn(events))
}

struct Cluster {
    client: Client,
    claims: Store<PersistentVolumeClaim>,
    volumes: Store<PersistentVolume>,
    deployments: Store<Deployment>,
    secrets: Store<Secret>,
    held: Held,
    volume_dir: PathBuf,
}

impl Cluster {
    async fn run(self, wake: Arc<Notify>) {
        // Act on complete caches only: a half-listed cache looks like missing objects.
        let _ = self.claims.wait_until_ready().await;
        let _ = self.volumes.wait_until_ready().await;
        let _ = self.deployments.wait_until_ready().await;
        let _ = self.secrets.wait_until_ready().await;
        loop {
            match self.reconcile_all().await {
                Ok(()) => wake.notified().await,
                Err(e) => {
                    eprintln!("node stand-in: {e} (retrying)");
                    let _ = tokio::time::timeout(Duration::from_millis(500), wake.notified()).await;
                }
            }
        }
    }

    /// One pass over everything; an error on one object does not stop the others.
    async fn reconcile_all(&self) -> Outcome {
        let mut outcome = Ok(());
        for claim in self.claims.state() {
            outcome = outcome.and(self.bind(&claim).await);
        }
        for deployment in self.deployments.state() {
            outcome = outcome.and(self.roll_out(&deployment).await);
        }
        outcome.and(self.run_jobs().await)
    }

    /// The binder: the claim's volume gets its claimRef and Bound, then the claim gets
    /// its volumeName and a Bound status with the volume's capacity and modes.
    async fn bind(&self, claim: &PersistentVolumeClaim) -> Outcome {
        let (Some(namespace), Some(uid), Some(spec)) =
            (claim.namespace(), claim.uid(), claim.spec.as_ref())
        else {
            return Ok(());
        };
        if claim.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let class = spec.storage_class_name.as_deref().unwrap_or_default();
        let named = spec.volume_name.as_deref().filter(|v| !v.is_empty());
        let volume_name = match named {
            Some(v) => v.to_string(),
            None if !class.is_empty() => format!("pvc-{uid}"),
            // The real binder would look for a matching Available volume; nothing needs it.
            None => return Ok(()),
        };
        let Some(volume) = self.volumes.get(&ObjectRef::new(&volume_name)) else {
            return match named {
                None => self.provision(claim, &volume_name).await,
                Some(_) => Ok(()), // pre-bound to a volume not created yet: Pending
            };
        };
        if !satisfies(&volume, claim) {
            return Ok(());
        }
        let params = as_controller();
        let pvs: Api<PersistentVolume> = Api::all(self.client.clone());
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &namespace);
        let pv_spec = volume.spec.clone().unwrap_or_default();
        // The volume first, so no other claim can take it (the real binder's order).
        if pv_spec
            .claim_ref
            .as_ref()
            .and_then(|r| r.uid.as_ref())
            .is_none()
        {
            let claim_ref = json!({"spec": {"claimRef": claim_ref(claim)}});
            pvs.patch(&volume_name, &params, &Patch::Merge(claim_ref))
                .await?;
        }
        if volume.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
            let bound = json!({"status": {"phase": "Bound"}});
            pvs.patch_status(&volume_name, &params, &Patch::Merge(bound))
                .await?;
        }
        if named.is_none() {
            let spec = json!({"spec": {"volumeName": volume_name}});
            claims
                .patch(&claim.name_any(), &params, &Patch::Merge(spec))
                .await?;
        }
        let want = json!({
            "phase": "Bound",
            "accessModes": pv_spec.access_modes,
            "capacity": pv_spec.capacity,
        });
        let have = serde_json::to_value(&claim.status)?;
        if ["phase", "accessModes", "capacity"]
            .iter()
            .any(|f| have[f] != want[f])
        {
            let status = json!({ "status": want });
            claims
                .patch_status(&claim.name_any(), &params, &Patch::Merge(status))
                .await?;
        }
        Ok(())
    }

    /// The provisioner: a hostPath volume of the requested size, pre-bound to the claim.
    async fn provision(&self, claim: &PersistentVolumeClaim, name: &str) -> Outcome {
        let spec = claim.spec.clone().unwrap_or_default();
        let path = self.volume_dir.join(name);
        std::fs::create_dir_all(&path)?;
        let volume: PersistentVolume = serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "annotations": {"pv.kubernetes.io/provisioned-by": "testkit.node-stand-in"},
            },
            "spec": {
                "capacity": spec.resources.and_then(|r| r.requests),
                "accessModes": spec.access_modes,
                "storageClassName": spec.storage_class_name,
                "volumeMode": spec.volume_mode.unwrap_or_else(|| "Filesystem".into()),
                "persistentVolumeReclaimPolicy": "Delete",
                "hostPath": {"path": path, "type": "DirectoryOrCreate"},
                "claimRef": claim_ref(claim),
            },
        }))?;
        let pvs: Api<PersistentVolume> = Api::all(self.client.clone());
        match pvs.create(&PostParams::default(), &volume).await {
            // Made on an earlier pass that the cache has not seen yet.
            Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(()),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    /// The Deployment controller: the status it writes once the pod is ready (or not).
    async fn roll_out(&self, deployment: &Deployment) -> Outcome {
        let (Some(namespace), Some(spec)) = (deployment.namespace(), deployment.spec.as_ref())
        else {
            return Ok(());
        };
        if deployment.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let name = deployment.name_any();
        let wanted = spec.replicas.unwrap_or(1);
        let key = (namespace.clone(), name.clone());
        let held = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key);
        let pod = spec.template.spec.as_ref();
        let ready = !held && pod.is_none_or(|p| self.pod_can_start(&namespace, p));
        let ready = if ready { wanted } else { 0 };
        let desired = deployment_status(deployment.metadata.generation, wanted, ready, &name);
        let current = serde_json::to_value(&deployment.status)?;
        if converged(&current, &desired) {
            return Ok(());
        }
        let status = json!({ "status": stamped(&current, desired) });
        let params = as_controller();
        Api::<Deployment>::namespaced(self.client.clone(), &namespace)
            .patch_status(&name, &params, &Patch::Merge(status))
            .await?;
        Ok(())
    }

    /// What the kubelet needs before the containers start: Bound claims and the Secret
    /// keys the env reads (a missing one is CreateContainerConfigError).
    fn pod_can_start(&self, namespace: &str, pod: &PodSpec) -> bool {
        let claims_bound = (pod.volumes.iter().flatten())
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .all(|source| {
                let key = ObjectRef::new(&source.claim_name).within(namespace);
                self.claims.get(&key).is_some_and(|c| {
                    c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
                })
            });
        let containers = pod
            .containers
            .iter()
            .chain(pod.init_containers.iter().flatten());
        let secrets_present = (containers.flat_map(|c| c.env.iter().flatten()))
            .filter_map(|e| e.value_from.as_ref()?.secret_key_ref.as_ref())
            .filter(|r| r.optional != Some(true))
            .all(|r| {
                let key = ObjectRef::new(&r.name).within(namespace);
                self.secrets
                    .get(&key)
                    .is_some_and(|s| s.data.as_ref().is_some_and(|d| d.contains_key(&r.key)))
            });
        claims_bound && secrets_present
    }

    /// Jobs: left alone for now. A later issue runs each Job's container command here as
    /// a local process and writes the Job's status as the Job controller would.
    async fn run_jobs(&self) -> Outcome {
        Ok(())
    }
}

/// Whether the volume may be bound to the claim, as the real binder checks it.
fn satisfies(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let (Some(pv), Some(pvc)) = (&volume.spec, &claim.spec) else {
        return false;
    };
    let other_claim = pv.claim_ref.as_ref().is_some_and(|r| {
        r.namespace != claim.metadata.namespace
            || r.name != claim.metadata.name
            || r.uid
                .as_ref()
                .is_some_and(|u| Some(u) != claim.metadata.uid.as_ref())
    });
    let class = |c: &Option<String>| c.clone().unwrap_or_default();
    let modes = (pvc.access_modes.iter().flatten())
        .all(|m| pv.access_modes.iter().flatten().any(|v| v == m));
    let request = pvc.resources.as_ref().and_then(|r| r.requests.as_ref());
    let big_enough = match (bytes(pv.capacity.as_ref()), bytes(request)) {
        (Some(have), Some(want)) => have >= want,
        (_, None) => true,
        (None, Some(_)) => false,
    };
    !other_claim
        && class(&pv.storage_class_name) == class(&pvc.storage_class_name)
        && modes
        && big_enough
}

/// A claimRef as the binder writes it (`reference.GetReference(claim)`).
fn claim_ref(claim: &PersistentVolumeClaim) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": claim.metadata.namespace,
        "name": claim.metadata.name,
        "uid": claim.metadata.uid,
        "resourceVersion": claim.metadata.resource_version,
    })
}

/// The bytes of a `storage` quantity ("1Gi", "500M", "1.5G"); None if unparsable.
fn bytes(resources: Option<&BTreeMap<String, Quantity>>) -> Option<f64> {
    let text = resources?.get("storage")?.0.trim();
    let units = [("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40), ("Pi", 50)]
        .map(|(suffix, power)| (suffix, 2f64.powi(power)))
        .into_iter()
        .chain([("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15)]);
    let (number, factor) = units
        .filter_map(|(suffix, factor)| Some((text.strip_suffix(suffix)?, factor)))
        .next()
        .unwrap_or((text, 1.0));
    Some(number.parse::<f64>().ok()? * factor)
}

/// The Deployment status the controller writes, without timestamps. Zero counts are left
/// out, as in a real status (`omitempty`), so they are nulls in the merge patch. (A real
/// ReplicaSet name ends with the pod-template-hash; none exists here.)
fn deployment_status(generation: Option<i64>, wanted: i32, ready: i32, name: &str) -> Value {
    let count = |n: i32| if n == 0 { Value::Null } else { json!(n) };
    let [status, reason, message, progress, progressed] = if ready >= wanted {
        let available = "Deployment has minimum availability.";
        [
            "True",
            "MinimumReplicasAvailable",
            available,
            "NewReplicaSetAvailable",
            "has successfully progressed",
        ]
    } else {
        let unavailable = "Deployment does not have minimum availability.";
        [
            "False",
            "MinimumReplicasUnavailable",
            unavailable,
            "ReplicaSetUpdated",
            "is progressing",
        ]
    };
    json!({
        "observedGeneration": generation,
        "replicas": count(wanted),
        "updatedReplicas": count(wanted),
        "readyReplicas": count(ready),
        "availableReplicas": count(ready),
        "unavailableReplicas": count(wanted - ready),
        "conditions": [
            {"type": "Available", "status": status, "reason": reason, "message": message},
            {"type": "Progressing", "status": "True", "reason": progress,
             "message": format!("ReplicaSet \"{name}\" {progressed}.")},
        ],
    })
}

/// Whether the current status already says what `desired` does (timestamps aside).
fn converged(current: &Value, desired: &Value) -> bool {
    let conditions = |v: &Value| {
        let mut list: Vec<Value> = (v["conditions"].as_array().into_iter().flatten())
            .map(|c| json!([c["type"], c["status"], c["reason"], c["message"]]))
            .collect();
        list.sort_by_key(|c| c.to_string());
        list
    };
    conditions(current) == conditions(desired)
        && (desired.as_object().into_iter().flatten())
            .filter(|(key, _)| *key != "conditions")
            .all(|(key, want)| current.get(key).unwrap_or(&Value::Null) == want)
}

/// `desired` with condition timestamps: kept while a condition says the same, else now.
fn stamped(current: &Value, mut desired: Value) -> Value {
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let old = current["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in desired["conditions"].as_array_mut().into_iter().flatten() {
        let before = old.iter().find(|o| o["type"] == c["type"]);
        let same = |fields: &[&str]| before.is_some_and(|o| fields.iter().all(|f| o[f] == c[f]));
        let keep = |field: &str, same: bool| match before {
            Some(o) if same => o[field].clone(),
            _ => json!(now),
        };
        let transition = keep("lastTransitionTime", same(&["status"]));
        let update = keep("lastUpdateTime", same(&["status", "reason", "message"]));
        c["lastTransitionTime"] = transition;
        c["lastUpdateTime"] = update;
    }
    desired
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::TestApiServer;
    use std::future::Future;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    async fn cluster() -> Result<(TestApiServer, Client, NodeStandIn), Box<dyn std::error::Error>> {
        let server = TestApiServer::start().await?;
        let client = Client::try_from(kube::Config::new(server.url().parse()?))?;
        let node = NodeStandIn::start(client.clone());
        Ok((server, client, node))
    }

    /// Poll `probe` until it gives a value, for at most 10 s.
    async fn eventually<T, F: Future<Output = Option<T>>>(
        what: &str,
        mut probe: impl FnMut() -> F,
    ) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn from<T: DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).expect("a valid object")
    }

    fn volume(name: &str, size: &str, claim: &str) -> PersistentVolume {
        from(json!({
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": format!("/tmp/{name}")},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "default", "name": claim},
            },
        }))
    }

    fn claim(name: &str, size: &str, class: &str, volume: Option<&str>) -> PersistentVolumeClaim {
        from(json!({
            "metadata": {"name": name},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
                "storageClassName": class,
                "volumeName": volume,
            },
        }))
    }

    fn secret(name: &str, key: &str) -> Secret {
        from(json!({"metadata": {"name": name}, "data": {key: "c2VjcmV0"}}))
    }

    /// A one-replica Deployment reading `secret`'s `password` and mounting `claim`, if any.
    fn deployment(name: &str, secret: &str, claim: Option<&str>) -> Deployment {
        let volumes: Vec<Value> = claim
            .map(|c| json!({"name": "data", "persistentVolumeClaim": {"claimName": c}}))
            .into_iter()
            .collect();
        from(json!({
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [{
                            "name": "mysql",
                            "image": "mysql:8.0",
                            "env": [{"name": "MYSQL_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}],
                        }],
                        "volumes": volumes,
                    },
                },
            },
        }))
    }

    async fn bound(api: &Api<PersistentVolumeClaim>, name: &str) -> Option<PersistentVolumeClaim> {
        let claim = api.get(name).await.ok()?;
        (claim.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(claim)
    }

    /// The Deployment once its Available condition has this status.
    async fn available(api: &Api<Deployment>, name: &str, status: &str) -> Option<Deployment> {
        let d = api.get(name).await.ok()?;
        let conditions = d.status.as_ref()?.conditions.as_ref()?;
        conditions
            .iter()
            .any(|c| c.type_ == "Available" && c.status == status)
            .then_some(d)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_pre_bound_claim_and_its_volume_become_bound() -> TestResult {
        let (_server, client, _node) = cluster().await?;
        let pvs: Api<PersistentVolume> = Api::all(client.clone());
        let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(client);
        let pp = PostParams::default();
        // Too small for its claim: must stay Pending. Created first, so a pass that sees
        // the good pair below sees these too (each cache is one ordered watch).
        pvs.create(&pp, &volume("small", "1Gi", "big")).await?;
        claims
            .create(&pp, &claim("big", "2Gi", "", Some("small")))
            .await?;
        pvs.create(&pp, &volume("data", "1Gi", "data")).await?;
        claims
            .create(&pp, &claim("data", "1Gi", "", Some("data")))
            .await?;

        let claim = eventually("the claim bound", || bound(&claims, "data")).await;
        let status = claim.status.expect("status");
        assert_eq!(status.access_modes, Some(vec!["ReadWriteOnce".to_string()]));
        assert_eq!(status.capacity.expect("capacity")["storage"].0, "1Gi");
        let pv = eventually("the volume bound", || async {
            let pv = pvs.get("data").await.ok()?;
            (pv.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(pv)
        })
        .await;
        let claim_ref = pv.spec.and_then(|s| s.claim_ref).expect("claimRef");
        assert_eq!(claim_ref.uid, claim.metadata.uid);

        let big = claims.get("big").await?;
        let phase = big.status.and_then(|s| s.phase);
        assert_ne!(
            phase.as_deref(),
            Some("Bound"),
            "a too small volume must not bind"
        );
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_claim_with_a_storage_class_gets_a_provisioned_volume() -> TestResult {
        let (_server, client, _node) = cluster().await?;
        let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
        let created = claims
            .create(&PostParams::default(), &claim("fast", "2Gi", "fast", None))
            .await?;
        let claim = eventually("the claim bound", || bound(&claims, "fast")).await;
        let name = format!("pvc-{}", created.uid().expect("uid"));
        assert_eq!(claim.spec.and_then(|s| s.volume_name), Some(name.clone()));

        let pv = Api::<PersistentVolume>::all(client).get(&name).await?;
        assert_eq!(pv.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
        let spec = pv.spec.expect("spec");
        assert_eq!(spec.capacity.expect("capacity")["storage"].0, "2Gi");
        assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
        assert_eq!(
            spec.persistent_volume_reclaim_policy.as_deref(),
            Some("Delete")
        );
        assert_eq!(spec.claim_ref.and_then(|r| r.uid), created.uid());
        let path = spec.host_path.expect("hostPath").path;
        assert!(std::path::Path::new(&path).is_dir(), "{path} is made");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_deployment_becomes_available_and_then_is_left_alone() -> TestResult {
        let (server, client, _node) = cluster().await?;
        let pp = PostParams::default();
        let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
        let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
        Api::<Secret>::default_namespaced(client.clone())
            .create(&pp, &secret("db", "password"))
            .await?;
        Api::<PersistentVolume>::all(client)
            .create(&pp, &volume("data", "1Gi", "data"))
            .await?;
        claims
            .create(&pp, &claim("data", "1Gi", "", Some("data")))
            .await?;
        deployments
            .create(&pp, &deployment("mysql", "db", Some("data")))
            .await?;

        let d = eventually("available", || available(&deployments, "mysql", "True")).await;
        let status = d.status.clone().expect("status");
        assert_eq!(status.observed_generation, d.metadata.generation);
        for count in [
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas,
        ] {
            assert_eq!(count, Some(1));
        }
        let conditions = status.conditions.expect("conditions");
        let reason = |kind: &str| {
            conditions
                .iter()
                .find(|c| c.type_ == kind)
                .and_then(|c| c.reason.clone())
        };
        assert_eq!(
            reason("Available").as_deref(),
            Some("MinimumReplicasAvailable")
        );
        assert_eq!(
            reason("Progressing").as_deref(),
            Some("NewReplicaSetAvailable")
        );

        // Status went through /status, as the real controllers write it.
        let requests = server.requests();
        let status_of = |resource: &str| {
            requests
                .iter()
                .any(|r| r.verb == "patch" && r.resource == resource && r.subresource == "status")
        };
        assert!(status_of("deployments") && status_of("persistentvolumeclaims"));

        // Converged: no writes at all, so nothing's resourceVersion moves.
        let versions = || async {
            let d = deployments.get("mysql").await.ok()?;
            let c = claims.get("data").await.ok()?;
            Some((d.resource_version(), c.resource_version()))
        };
        let before = versions().await;
        server.clear_requests();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(versions().await, before);
        let writes: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.is_write())
            .collect();
        assert!(writes.is_empty(), "writes once converged: {writes:?}");

        // A scale is a new generation: observed and counted.
        let scale = json!({"spec": {"replicas": 2}});
        deployments
            .patch("mysql", &PatchParams::default(), &Patch::Merge(scale))
            .await?;
        eventually("two replicas", || async {
            let d = deployments.get("mysql").await.ok()?;
            let s = d.status?;
            (s.available_replicas == Some(2) && s.observed_generation == d.metadata.generation)
                .then_some(())
        })
        .await;
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_deployment_waits_for_its_secret() -> TestResult {
        let (_server, client, _node) = cluster().await?;
        let pp = PostParams::default();
        let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
        deployments
            .create(&pp, &deployment("mysql", "later", None))
            .await?;
        let d = eventually("unavailable", || available(&deployments, "mysql", "False")).await;
        let status = d.status.expect("status");
        assert_eq!(status.available_replicas.unwrap_or(0), 0);
        assert_eq!(status.unavailable_replicas, Some(1));
        let conditions = status.conditions.expect("conditions");
        let a = conditions
            .iter()
            .find(|c| c.type_ == "Available")
            .expect("Available");
        assert_eq!(a.reason.as_deref(), Some("MinimumReplicasUnavailable"));

        Api::<Secret>::default_namespaced(client)
            .create(&pp, &secret("later", "password"))
            .await?;
        let d = eventually("available", || available(&deployments, "mysql", "True")).await;
        assert_eq!(d.status.and_then(|s| s.available_replicas), Some(1));
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn hold_keeps_a_deployment_unready_until_released() -> TestResult {
        let (_server, client, node) = cluster().await?;
        let pp = PostParams::default();
        let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
        Api::<Secret>::default_namespaced(client)
            .create(&pp, &secret("db", "password"))
            .await?;
        node.hold("default", "mysql");
        deployments
            .create(&pp, &deployment("mysql", "db", None))
            .await?;
        eventually("held unavailable", || {
            available(&deployments, "mysql", "False")
        })
        .await;
        node.release("default", "mysql");
        eventually("available once released", || {
            available(&deployments, "mysql", "True")
        })
        .await;
        // Level-triggered: holding an available one makes it unready again.
        node.hold("default", "mysql");
        eventually("unavailable when held again", || {
            available(&deployments, "mysql", "False")
        })
        .await;
        Ok(())
    }
}
