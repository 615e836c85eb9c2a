//! A node stand-in: the controllers and kubelet the product relies on, played as a
//! separate client of the test API server (SPEC §5), never as code inside it.
//!
//! - **PersistentVolume binder and provisioner**: a claim naming a volume is bound to it;
//!   a claim with a storage class and no volume gets a hostPath volume `pvc-<claim uid>`
//!   under a temp dir the stand-in owns, then is bound. A volume that does not satisfy
//!   the claim (size, access modes, class, claimed by another claim) leaves it Pending,
//!   as on a real cluster. **Reclaiming**: a Bound volume whose claim is gone (or whose
//!   claimRef names a claim of another uid, one re-created under the same name) becomes
//!   Released with the Retain policy, claimRef and data kept, so no claim binds it until
//!   someone clears the claimRef's uid; with the Delete policy it is deleted (a
//!   provisioned volume's directory too).
//! - **Deployment controller and kubelet**: a Deployment is marked available once its pod
//!   could start: every claim it mounts is Bound and every `secretKeyRef` it reads exists.
//!   [`NodeStandIn::hold`] keeps one unready for a test.
//! - With [`NodeStandIn::start_with_mysql`] only:
//!   - **MySQL pods** (`servers.rs`): a Deployment whose container reads
//!     `MYSQL_ROOT_PASSWORD` gets a real local `mariadbd` on its data volume, with the
//!     container's `args` that begin with `-` as server options (as the official image's
//!     entrypoint passes them to mysqld), and is available only once that server answers
//!     with the password and the pod's other containers run.
//!   - **The pod's other containers** (`sidecars.rs`): each with a `command` runs as a
//!     local process beside the server, as a Job's does, and is restarted when it exits
//!     (restartPolicy Always); in the pod's one network namespace a `MYSQL_HOST` of
//!     `127.0.0.1` or `localhost` is the local server, on its port (`MYSQL_PORT`). They
//!     stop with the server (SIGTERM, a short grace, SIGKILL).
//!     [`NodeStandIn::kill_container`], [`NodeStandIn::container_logs`] and
//!     [`NodeStandIn::container_restarts`] reach them.
//!   - **Job controller and kubelet** (`jobs.rs`): each Job's container command runs as a
//!     local process, recorded as a Pod; the Job's status is written as the controller does.
//!   - **CronJob controller** (`cronjobs.rs`): Jobs made from each CronJob's template at
//!     its scheduled times (wall clock), its concurrency policy, status and history.
//!
//!   With [`NodeStandIn::start_simulating_jobs`], Jobs and CronJobs are played the same way,
//!   but a Job's process only waits and prints a made-up report.
//!
//! Volumes are local directories: a hostPath `/x/y` is `<root>/x/y` under the stand-in's
//! temp root ([`NodeStandIn::local_path`]); provisioned volumes live under the root already.
//!
//! - **Root CA publisher**: each namespace gets the ConfigMap `kube-root-ca.crt`, as
//!   kube-controller-manager puts it there (so no test can assume an empty namespace).
//!
//! Level-triggered: reflectors cache claims, volumes, Deployments and Secrets (and Jobs
//! and CronJobs); any change wakes one loop that reconciles every object from the caches
//! and writes only what differs, so a converged cluster gets no writes. The loop also
//! wakes at the next scheduled time of a CronJob, which no change announces. Writes are
//! merge patches (status through `/status`) under the manager `kube-controller-manager`,
//! as the real controllers'.

#[cfg(test)]
mod cronjob_tests;
mod cronjobs;
mod entrypoint;
mod images;
mod jobs;
#[cfg(test)]
mod mysql_tests;
mod pods;
mod replicas;
mod servers;
#[cfg(test)]
mod sidecar_tests;
mod sidecars;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolume, PersistentVolumeClaim, Pod, PodSpec, PodTemplateSpec,
    Secret,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use kubectl_mysql::operator::resilient_watcher;
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

/// The pod a controller (`owner`, as an owner reference's apiVersion, kind, name, uid)
/// creates from its pod template, on the stand-in's node; `labels` are added to the
/// template's and the API server completes the name from `generate_name`.
fn controlled_pod(
    template: Option<&PodTemplateSpec>,
    generate_name: String,
    namespace: Option<String>,
    labels: &[(&str, &str)],
    owner: [&str; 4],
) -> Pod {
    let template = template.cloned().unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut all_labels = meta.labels.unwrap_or_default();
    for (key, value) in labels {
        all_labels.insert(key.to_string(), value.to_string());
    }
    let mut spec = serde_json::to_value(template.spec.unwrap_or_default()).unwrap_or_default();
    spec["nodeName"] = json!(jobs::NODE_NAME);
    let [api_version, kind, name, uid] = owner;
    serde_json::from_value(json!({
        "metadata": {
            "generateName": generate_name,
            "namespace": namespace,
            "labels": all_labels,
            "annotations": meta.annotations,
            "ownerReferences": [{
                "apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
    }))
    .unwrap_or_default()
}

/// The ConfigMap kube-controller-manager puts into every namespace.
const ROOT_CA: &str = "kube-root-ca.crt";
/// A namespaced object: (namespace, name).
type Key = (String, String);

/// A lock that a panicked holder did not poison for the others.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the handle, the loop and the tasks the loop starts share.
struct Node {
    /// The stand-in's temp root: provisioned volumes, mapped hostPaths, scratch dirs.
    root: PathBuf,
    wake: Notify,
    held: Mutex<HashSet<Key>>,
    servers: Mutex<servers::Servers>,
    jobs: Mutex<jobs::Runs>,
    /// What a tag pulls now.
    registry: Mutex<images::Registry>,
    /// The ReplicaSet controller's expectations: the pod created for a Deployment's pod
    /// identity that the pod cache may not show yet.
    created: Mutex<HashMap<String, String>>,
    /// Jobs run a made-up report after this long instead of their script.
    simulated_jobs: Option<Duration>,
}

impl Node {
    /// The local directory of a hostPath: `/x/y` is `<root>/x/y`, except paths the stand-in
    /// made under its root (provisioned volumes).
    fn local_path(&self, host_path: &str) -> PathBuf {
        let path = Path::new(host_path);
        if path.starts_with(&self.root) {
            path.to_path_buf()
        } else {
            self.root.join(host_path.trim_start_matches('/'))
        }
    }

    /// Stop everything that runs: servers cleanly (all told at once, then waited for), Job
    /// processes killed. Nothing starts afterwards.
    fn close(&self) {
        jobs::close(self);
        servers::close(self);
    }
}

/// What the stand-in plays besides volumes and Deployments.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Plain,
    /// Real local servers for MySQL Deployments; Jobs run their scripts.
    Mysql,
    /// Jobs end after this long with a made-up report; no servers.
    SimulatedJobs(Duration),
}

/// The stand-in; its tasks, servers and processes stop when it is dropped.
pub struct NodeStandIn {
    node: Arc<Node>,
    tasks: Vec<JoinHandle<()>>,
    /// The root's directories are removed on drop, after everything has stopped.
    _root: tempfile::TempDir,
}

impl NodeStandIn {
    /// Start reacting to the cluster `client` talks to (all namespaces): volumes are
    /// bound, Deployments marked available, Jobs left alone. Needs a Tokio runtime.
    pub fn start(client: Client) -> NodeStandIn {
        Self::launch(client, Mode::Plain)
    }

    /// [`NodeStandIn::start`], plus a real local MariaDB server for each MySQL Deployment
    /// and Jobs run as local processes (see the module docs). Needs Debian's MariaDB.
    pub fn start_with_mysql(client: Client) -> NodeStandIn {
        Self::launch(client, Mode::Mysql)
    }

    /// [`NodeStandIn::start`], plus Jobs that end `runtime` after they start with the
    /// report their script would give (a made-up backup), with no database anywhere: for
    /// many instances at once (the scale benchmark, the backup pool's tests).
    pub fn start_simulating_jobs(client: Client, runtime: Duration) -> NodeStandIn {
        Self::launch(client, Mode::SimulatedJobs(runtime))
    }

    fn launch(client: Client, mode: Mode) -> NodeStandIn {
        let dir = tempfile::Builder::new()
            .prefix("node-stand-in-")
            .tempdir()
            .expect("a temp dir for the stand-in's volumes");
        let node = Arc::new(Node {
            root: dir.path().to_path_buf(),
            wake: Notify::new(),
            held: Mutex::default(),
            servers: Mutex::default(),
            jobs: Mutex::default(),
            registry: Mutex::default(),
            created: Mutex::default(),
            simulated_jobs: match mode {
                Mode::SimulatedJobs(runtime) => Some(runtime),
                _ => None,
            },
        });
        let (claims, t1) = cache(Api::all(client.clone()), &node);
        let (volumes, t2) = cache(Api::all(client.clone()), &node);
        let (deployments, t3) = cache(Api::all(client.clone()), &node);
        let (secrets, t4) = cache(Api::all(client.clone()), &node);
        let (namespaces, t5) = cache(Api::all(client.clone()), &node);
        let (root_cas, t6) = cache_selected(Api::all(client.clone()), &node, ROOT_CA);
        let replicated = watcher::Config::default().labels(replicas::TEMPLATE_HASH);
        let (server_pods, t7) = cache_with(Api::all(client.clone()), &node, replicated);
        let mut tasks = vec![t1, t2, t3, t4, t5, t6, t7];
        let (jobs, cron_jobs) = if mode == Mode::Plain {
            (None, None)
        } else {
            let (jobs, jobs_task) = cache(Api::all(client.clone()), &node);
            let (cron_jobs, cron_jobs_task) = cache::<CronJob>(Api::all(client.clone()), &node);
            tasks.extend([jobs_task, cron_jobs_task]);
            (Some(jobs), Some(cronjobs::CronJobs::new(cron_jobs)))
        };
        let cluster = Cluster {
            client,
            claims,
            volumes,
            deployments,
            secrets,
            namespaces,
            root_cas,
            server_pods,
            jobs,
            cron_jobs,
            servers: mode == Mode::Mysql,
            node: node.clone(),
        };
        tasks.push(tokio::spawn(cluster.run()));
        NodeStandIn {
            node,
            tasks,
            _root: dir,
        }
    }

    /// Keep a Deployment's pod unready (as if its readiness probe failed) until released.
    pub fn hold(&self, namespace: &str, deployment: &str) {
        lock(&self.node.held).insert((namespace.into(), deployment.into()));
        self.node.wake.notify_one();
    }

    /// Let a held Deployment become available again.
    pub fn release(&self, namespace: &str, deployment: &str) {
        lock(&self.node.held).remove(&(namespace.to_string(), deployment.to_string()));
        self.node.wake.notify_one();
    }

    /// The 127.0.0.1 port of the local server of a MySQL Deployment, once it answers
    /// (`start_with_mysql` only). Connect as root with the Deployment's password.
    pub fn server_port(&self, namespace: &str, deployment: &str) -> Option<u16> {
        servers::ready_port(&self.node, &(namespace.into(), deployment.into()))
    }

    /// Why the local server of a MySQL Deployment failed (`start_with_mysql` only): as a
    /// pod's last state would say, without the password.
    pub fn server_failure(&self, namespace: &str, deployment: &str) -> Option<String> {
        servers::failure(&self.node, &(namespace.into(), deployment.into()))
    }

    /// The local directory standing in for a hostPath volume's `path`.
    pub fn local_path(&self, host_path: &str) -> PathBuf {
        self.node.local_path(host_path)
    }

    /// Point the tag `image` at MySQL `version` from now on (`mysql:latest` moves, or a
    /// node's cache lags): pods that start later pull it; running ones keep their digest.
    pub fn retag(&self, image: &str, version: &str) {
        lock(&self.node.registry).retag(image, version);
    }

    /// The MySQL version that last ran on a local data directory (see `images.rs`).
    pub fn data_version(&self, datadir: &Path) -> Option<String> {
        images::built_by(datadir)
    }

    /// The output (stdout and stderr) of a Job pod's process so far, as `kubectl logs`
    /// would show it; `None` for a pod the stand-in did not run.
    pub fn logs(&self, namespace: &str, pod: &str) -> Option<String> {
        jobs::logs(&self.node, &(namespace.into(), pod.into()))
    }

    /// SIGKILL the server process (mysqld) of a MySQL Deployment (`start_with_mysql`
    /// only), as a crash or the OOM killer ends it: the Deployment is unavailable until the
    /// kubelet has restarted the container in place (same data, same port), as
    /// restartPolicy Always says. Whether a ready server was running.
    pub fn kill_server(&self, namespace: &str, deployment: &str) -> bool {
        servers::kill(&self.node, &(namespace.into(), deployment.into()))
    }

    /// How many times the server of a MySQL Deployment was restarted after it died (its
    /// container's `restartCount`); `None` when it has no server.
    pub fn server_restarts(&self, namespace: &str, deployment: &str) -> Option<u32> {
        servers::restarts(&self.node, &(namespace.into(), deployment.into()))
    }

    /// SIGKILL the processes of `container`, run beside the local server of a MySQL
    /// Deployment (`start_with_mysql` only), as if it were OOM-killed or crashed: it is
    /// restarted after the back-off, as restartPolicy Always says. Whether a process of
    /// it was running.
    pub fn kill_container(&self, namespace: &str, deployment: &str, container: &str) -> bool {
        let key = (namespace.into(), deployment.into());
        servers::sidecar(&self.node, &key, container).is_some_and(|c| c.kill())
    }

    /// The output (stdout and stderr) so far of `container`, run beside the local server
    /// of a MySQL Deployment, across its restarts (`kubectl logs` shows one run only). The
    /// Deployment's latest server pod's, kept after it stops until another one starts;
    /// `None` for a container the stand-in does not run (the server's own included).
    pub fn container_logs(
        &self,
        namespace: &str,
        deployment: &str,
        container: &str,
    ) -> Option<String> {
        let key = (namespace.into(), deployment.into());
        servers::sidecar(&self.node, &key, container).map(|c| c.log())
    }

    /// How many times `container`, run beside the local server of a MySQL Deployment, was
    /// restarted (its status's `restartCount`); `None` as for [`NodeStandIn::container_logs`].
    pub fn container_restarts(
        &self,
        namespace: &str,
        deployment: &str,
        container: &str,
    ) -> Option<u32> {
        let key = (namespace.into(), deployment.into());
        servers::sidecar(&self.node, &key, container).map(|c| c.restarts())
    }
}

impl Drop for NodeStandIn {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.node.close();
    }
}

/// A reflector over all objects of one kind; every event wakes the reconcile loop.
fn cache<K>(api: Api<K>, node: &Arc<Node>) -> (Store<K>, JoinHandle<()>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K: Resource<DynamicType = ()>,
{
    cache_with(api, node, watcher::Config::default())
}

/// A reflector over the objects of one kind named `name`.
fn cache_selected<K>(api: Api<K>, node: &Arc<Node>, name: &str) -> (Store<K>, JoinHandle<()>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K: Resource<DynamicType = ()>,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    cache_with(api, node, config)
}

fn cache_with<K>(
    api: Api<K>,
    node: &Arc<Node>,
    config: watcher::Config,
) -> (Store<K>, JoinHandle<()>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K: Resource<DynamicType = ()>,
{
    let (store, writer) = reflector::store();
    let node = node.clone();
    // As client-go's reflectors do, a watch whose connection was reset starts afresh (the
    // product's own wrapper: kube-rs alone would retry the broken body for ever).
    let events = reflector::reflector(writer, resilient_watcher(api, config))
        .default_backoff()
        .for_each(move |_| {
            node.wake.notify_one();
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
    namespaces: Store<Namespace>,
    /// The `kube-root-ca.crt` ConfigMaps.
    root_cas: Store<ConfigMap>,
    /// The Deployments' pods (labelled `pod-template-hash`).
    server_pods: Store<Pod>,
    /// Present where Jobs are run.
    jobs: Option<Store<Job>>,
    /// Present where Jobs are run: CronJobs start them.
    cron_jobs: Option<cronjobs::CronJobs>,
    /// MySQL Deployments get real local servers.
    servers: bool,
    node: Arc<Node>,
}

impl Cluster {
    async fn run(self) {
        // Act on complete caches only: a half-listed cache looks like missing objects.
        let _ = self.claims.wait_until_ready().await;
        let _ = self.volumes.wait_until_ready().await;
        let _ = self.deployments.wait_until_ready().await;
        let _ = self.secrets.wait_until_ready().await;
        let _ = self.namespaces.wait_until_ready().await;
        let _ = self.root_cas.wait_until_ready().await;
        let _ = self.server_pods.wait_until_ready().await;
        if let Some(jobs) = &self.jobs {
            let _ = jobs.wait_until_ready().await;
        }
        if let Some(cron_jobs) = &self.cron_jobs {
            let _ = cron_jobs.cache.wait_until_ready().await;
        }
        let retry = Duration::from_millis(500);
        loop {
            let outcome = self.reconcile_all().await;
            // No change announces a CronJob's scheduled time: the loop wakes for it.
            let next_run = (self.cron_jobs.as_ref())
                .and_then(|c| self.next_cron_run(c))
                .map(|t| {
                    let wait = t.duration_since(jiff::Timestamp::now());
                    Duration::try_from(wait).unwrap_or_default()
                });
            let wait_at_most = match outcome {
                Ok(()) => next_run,
                Err(e) => {
                    eprintln!("node stand-in: {e} (retrying)");
                    Some(next_run.map_or(retry, |t| t.min(retry)))
                }
            };
            let woken = self.node.wake.notified();
            match wait_at_most {
                Some(limit) => {
                    let _ = tokio::time::timeout(limit, woken).await;
                }
                None => woken.await,
            }
        }
    }

    /// One pass over everything; an error on one object does not stop the others.
    async fn reconcile_all(&self) -> Outcome {
        let mut outcome = Ok(());
        for namespace in self.namespaces.state() {
            outcome = outcome.and(self.publish_root_ca(&namespace).await);
        }
        for claim in self.claims.state() {
            outcome = outcome.and(self.bind(&claim).await);
        }
        for volume in self.volumes.state() {
            outcome = outcome.and(self.reclaim(&volume).await);
        }
        for deployment in self.deployments.state() {
            outcome = outcome.and(self.roll_out(&deployment).await);
        }
        if self.servers {
            self.stop_orphaned_servers();
        }
        if let Some(jobs) = &self.jobs {
            self.run_jobs(&jobs.state());
            if let Some(cron_jobs) = &self.cron_jobs {
                outcome = outcome.and(self.run_cron_jobs(cron_jobs, jobs).await);
            }
        }
        outcome
    }

    /// kube-controller-manager's root CA publisher: every namespace gets a ConfigMap
    /// `kube-root-ca.crt` with the cluster's CA (a placeholder here).
    async fn publish_root_ca(&self, namespace: &Namespace) -> Outcome {
        let name = namespace.name_any();
        if namespace.metadata.deletion_timestamp.is_some()
            || self
                .root_cas
                .get(&ObjectRef::new(ROOT_CA).within(&name))
                .is_some()
        {
            return Ok(());
        }
        let map: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": ROOT_CA, "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\ntestkit node stand-in: no real CA\n-----END CERTIFICATE-----\n"},
        }))?;
        let params = PostParams {
            field_manager: Some("kube-controller-manager".into()),
            ..PostParams::default()
        };
        match Api::<ConfigMap>::namespaced(self.client.clone(), &name)
            .create(&params, &map)
            .await
        {
            // Made on an earlier pass that the cache has not seen yet, or the namespace
            // began terminating meanwhile.
            Err(kube::Error::Api(s)) if s.is_already_exists() || s.code == 403 => Ok(()),
            other => other.map(|_| ()).map_err(Into::into),
        }
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
        // Bound both ways already: nothing to do (most passes, with many claims).
        let phase = |p: Option<&str>| p == Some("Bound");
        if phase(claim.status.as_ref().and_then(|s| s.phase.as_deref()))
            && phase(volume.status.as_ref().and_then(|s| s.phase.as_deref()))
            && volume
                .spec
                .as_ref()
                .and_then(|s| s.claim_ref.as_ref())
                .and_then(|r| r.uid.as_ref())
                == Some(&uid)
            && spec.volume_name.as_deref() == Some(volume_name.as_str())
        {
            return Ok(());
        }
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

    /// The PV controller's reclaim: a Bound volume whose claim is gone becomes Released
    /// (Retain: the claimRef keeps the old claim's uid, so a new claim of that name does not
    /// bind it) or is deleted (Delete). The claim is looked up on the API server before
    /// (the real controller does too): a lagging cache must not release a bound volume.
    async fn reclaim(&self, volume: &PersistentVolume) -> Outcome {
        if volume.metadata.deletion_timestamp.is_some()
            || volume.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound")
        {
            return Ok(());
        }
        let Some(spec) = volume.spec.as_ref() else {
            return Ok(());
        };
        let Some((namespace, name, uid)) = spec
            .claim_ref
            .as_ref()
            .and_then(|r| Some((r.namespace.clone()?, r.name.clone()?, r.uid.clone()?)))
        else {
            return Ok(());
        };
        let key = ObjectRef::new(&name).within(&namespace);
        if self.claims.get(&key).and_then(|c| c.uid()) == Some(uid.clone()) {
            return Ok(());
        }
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &namespace);
        if claims.get_opt(&name).await?.and_then(|c| c.uid()) == Some(uid) {
            return Ok(());
        }
        let pvs: Api<PersistentVolume> = Api::all(self.client.clone());
        let volume_name = volume.name_any();
        if spec.persistent_volume_reclaim_policy.as_deref() == Some("Delete") {
            // The provisioner deletes the storage, then the volume.
            if let Some(path) = spec.host_path.as_ref().map(|h| PathBuf::from(&h.path))
                && path.starts_with(&self.node.root)
            {
                let _ = std::fs::remove_dir_all(&path);
            }
            return match pvs
                .delete(&volume_name, &kube::api::DeleteParams::default())
                .await
            {
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                other => other.map(|_| ()).map_err(Into::into),
            };
        }
        let released = json!({"status": {"phase": "Released"}});
        pvs.patch_status(&volume_name, &as_controller(), &Patch::Merge(released))
            .await?;
        Ok(())
    }

    /// The provisioner: a hostPath volume of the requested size, pre-bound to the claim.
    async fn provision(&self, claim: &PersistentVolumeClaim, name: &str) -> Outcome {
        let spec = claim.spec.clone().unwrap_or_default();
        let path = self.node.root.join(name);
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

    /// The Deployment controller, with its pod's (see `replicas.rs`): the status it writes
    /// once the pod is ready (or not).
    async fn roll_out(&self, deployment: &Deployment) -> Outcome {
        let (Some(namespace), Some(spec)) = (deployment.namespace(), deployment.spec.as_ref())
        else {
            return Ok(());
        };
        let pod = self.replicate(deployment).await?;
        let template = spec.template.spec.as_ref();
        let can_start = pod.is_some() && template.is_none_or(|p| self.pod_can_start(&namespace, p));
        let pulled = pod.as_ref().filter(|_| can_start).map(|p| self.pulled(p));
        // Before the deletion check: a deleted MySQL Deployment's server is stopped there.
        let serving = self.servers && servers::is_mysql(deployment);
        let version = pulled.as_ref().and_then(|p| p.version.clone());
        let server_ready = serving && self.serve(deployment, version).await;
        if deployment.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let name = deployment.name_any();
        let wanted = spec.replicas.unwrap_or(1);
        let key = (namespace.clone(), name.clone());
        let held = lock(&self.node.held).contains(&key);
        let ready = !held && can_start && (!serving || server_ready);
        // The pod says it first, as the kubelet does before the controllers see it; it is
        // Ready when its other containers are too.
        let ready = match &pod {
            Some(pod) => {
                let beside = if serving {
                    let identity = replicas::pod_identity(deployment);
                    let run = servers::observed(&self.node, &key, &identity);
                    replicas::Beside::Played(run.unwrap_or_default())
                } else {
                    replicas::Beside::Mirrored
                };
                self.report(pod, pulled.as_ref(), ready, &beside).await?
            }
            None => ready,
        };
        let ready = if ready { wanted } else { 0 };
        // Already says so: nothing to write (most passes, with many Deployments).
        let status = deployment.status.as_ref();
        if status.and_then(|s| s.observed_generation) == deployment.metadata.generation
            && status.and_then(|s| s.available_replicas).unwrap_or(0) == ready
            && status.and_then(|s| s.replicas).unwrap_or(0) == wanted
        {
            return Ok(());
        }
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

/// Now, as API timestamps are written.
fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `desired` with condition timestamps: kept while a condition says the same, else now.
fn stamped(current: &Value, mut desired: Value) -> Value {
    let now = now();
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
