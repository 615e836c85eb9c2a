//! Local MySQL servers in place of the MySQL Deployments' pods (MySQL mode).
//!
//! A Deployment whose pod template has a container reading `MYSQL_ROOT_PASSWORD` gets a
//! real `mariadbd` on the local directory of the volume mounted at `/var/lib/mysql`,
//! listening on a free 127.0.0.1 port, reporting the version of its pod's image. A first
//! start on a datadir without system tables does what the official mysql image's
//! entrypoint does, faults included (`entrypoint.rs`). A datadir holding data starts as
//! it is, which is how data survives a re-created Deployment; one a newer MySQL release
//! series wrote refuses to boot (`images.rs`). The server is stopped cleanly
//! (SIGTERM, then waited for) when its Deployment is deleted, replaced or scaled to 0, so a
//! later Job may use the datadir, and when the stand-in is dropped.
//!
//! The server container's `args` that begin with `-` are server options, as the official
//! image's entrypoint appends them to mysqld's command line: the server and the
//! entrypoint's temporary server get them (`--log-bin=binlog` writes `binlog.000001` in
//! the datadir). The pod's other containers run beside the server (`sidecars.rs`): they
//! start when the server process is spawned and stop with it, and the server's volumes
//! are free (see [`leaving`]) only once all of them have exited.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::pods::{self, NotReady};
use super::replicas::{pod_identity, template_hash};
use super::sidecars::{self, Launch, Observed, Sidecar};
use super::{Cluster, Key, Node, entrypoint, images, lock};
use crate::mariadb::{self, Programs, ServerProcess};

/// Where the official images keep their data.
const DATA_DIR: &str = "/var/lib/mysql";
/// A first start (system tables, InnoDB files) may take a while on a busy machine.
const START_LIMIT: Duration = Duration::from_secs(60);

/// The local servers, by Deployment.
#[derive(Default)]
pub(super) struct Servers {
    /// Set when the stand-in is dropped: nothing starts afterwards.
    closed: bool,
    map: HashMap<Key, Server>,
    /// The other containers of each Deployment's latest server pod, with the pod's
    /// identity: kept after the pod stops, for their logs and restart counts.
    pods: HashMap<Key, (String, Vec<Arc<Sidecar>>)>,
}

struct Server {
    /// The Deployment's uid and template hash: a re-created Deployment, or a new template
    /// (a new image), gets a new server (on the same data).
    identity: String,
    datadir: PathBuf,
    state: State,
    /// Kept here, not in the task, so that dropping the stand-in can stop it.
    process: Option<ServerProcess>,
    /// The pod's other containers, stopped with the server.
    sidecars: Vec<Arc<Sidecar>>,
    /// How many times the server container was restarted after its process died.
    restarts: u32,
    /// The port of a server being restarted: a Service still routes there (refused until
    /// it listens again), as the pod keeps its IP across a container restart.
    restarting_on: Option<u16>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    Starting,
    Ready(u16),
    Failed(String),
    Stopping,
}

impl Server {
    fn begin_stop(&mut self) {
        if self.state != State::Stopping {
            self.state = State::Stopping;
            let _ = self.stop.send(true);
        }
    }
}

/// The container of a MySQL Deployment: the one reading `MYSQL_ROOT_PASSWORD`.
fn mysql_container(deployment: &Deployment) -> Option<&Container> {
    let pod = deployment.spec.as_ref()?.template.spec.as_ref()?;
    (pod.containers.iter()).find(|c| reads_root_password(c))
}

fn reads_root_password(container: &Container) -> bool {
    (container.env.iter().flatten()).any(|e| e.name == "MYSQL_ROOT_PASSWORD")
}

/// The container a pod is about: the MySQL server's, else the first.
pub(super) fn main_container(pod: &PodSpec) -> Option<&Container> {
    (pod.containers.iter())
        .find(|c| reads_root_password(c))
        .or_else(|| pod.containers.first())
}

/// The server options among the container's `args`: the official image's entrypoint
/// runs `mysqld "$@"` when they begin with `-`.
fn server_options(container: &Container) -> Vec<String> {
    (container.args.iter().flatten())
        .filter(|arg| arg.starts_with('-'))
        .cloned()
        .collect()
}

pub(super) fn is_mysql(deployment: &Deployment) -> bool {
    mysql_container(deployment).is_some()
}

/// The port of a Deployment's server once it answers.
pub(super) fn ready_port(node: &Node, key: &Key) -> Option<u16> {
    match lock(&node.servers).map.get(key)?.state {
        State::Ready(port) => Some(port),
        _ => None,
    }
}

/// The port a Service backed by the Deployment's server reaches: the ready server's, or
/// that of one being restarted in place (nothing answers there until it is back).
pub(super) fn service_port(node: &Node, key: &Key) -> Option<u16> {
    let servers = lock(&node.servers);
    let server = servers.map.get(key)?;
    match server.state {
        State::Ready(port) => Some(port),
        State::Starting => server.restarting_on,
        _ => None,
    }
}

/// A container the stand-in runs beside the Deployment's latest server.
pub(super) fn sidecar(node: &Node, key: &Key, name: &str) -> Option<Arc<Sidecar>> {
    let servers = lock(&node.servers);
    let (_, sidecars) = servers.pods.get(key)?;
    sidecars.iter().find(|s| s.name == name).cloned()
}

/// The containers run beside the server of the pod `identity`, by name; `None` until
/// that pod's server is made.
pub(super) fn observed(
    node: &Node,
    key: &Key,
    identity: &str,
) -> Option<HashMap<String, Observed>> {
    let servers = lock(&node.servers);
    let (pod, sidecars) = servers.pods.get(key)?;
    (pod == identity).then(|| {
        (sidecars.iter())
            .map(|s| (s.name.clone(), s.observed()))
            .collect()
    })
}

/// SIGKILL a Deployment's server process (see [`ServerProcess::kill_server`]); the
/// lifecycle restarts it. Whether one was running.
pub(super) fn kill(node: &Node, key: &Key) -> bool {
    let mut servers = lock(&node.servers);
    let Some(server) = servers.map.get_mut(key) else {
        return false;
    };
    matches!(server.state, State::Ready(_))
        && server
            .process
            .as_mut()
            .is_some_and(ServerProcess::kill_server)
}

/// How many times a Deployment's server was restarted after it died.
pub(super) fn restarts(node: &Node, key: &Key) -> Option<u32> {
    lock(&node.servers).map.get(key).map(|s| s.restarts)
}

/// Why a Deployment's server failed to start or stopped, if it did.
pub(super) fn failure(node: &Node, key: &Key) -> Option<String> {
    match &lock(&node.servers).map.get(key)?.state {
        State::Failed(why) => Some(why.clone()),
        _ => None,
    }
}

/// Servers on any of `dirs` that are going away: stopping, or their Deployment is gone,
/// replaced or scaled to 0 (`still_wanted` says, from the API). A Job mounting one of
/// these waits, as a pod waits for the volume to be detached. Matched by the datadir
/// only: the backup volume the pod's other containers mount is shared with Jobs (one
/// node: ReadWriteOnce allows it), a running server never holds it up.
pub(super) fn leaving(node: &Node, dirs: &[PathBuf]) -> Vec<(Key, String, bool)> {
    let servers = lock(&node.servers);
    (servers.map.iter())
        .filter(|(_, s)| {
            dirs.iter()
                .any(|d| d.starts_with(&s.datadir) || s.datadir.starts_with(d))
        })
        .map(|(key, s)| (key.clone(), s.identity.clone(), s.state == State::Stopping))
        .collect()
}

/// Stop every server and its pod's other containers at once, then wait for all of them.
/// Nothing starts afterwards.
pub(super) fn close(node: &Node) {
    let servers = {
        let mut servers = lock(&node.servers);
        servers.closed = true;
        std::mem::take(&mut servers.map)
    };
    let mut processes = Vec::new();
    let mut containers = Vec::new();
    for (_, mut server) in servers {
        server.task.abort();
        if let Some(mut process) = server.process.take() {
            process.terminate();
            processes.push(process);
        }
        sidecars::terminate(&server.sidecars);
        containers.extend(server.sidecars);
    }
    drop(processes); // each drop waits for its server's exit
    sidecars::stop_blocking(&containers);
}

impl Cluster {
    /// Start, keep or stop a MySQL Deployment's server, as MySQL `version` (the image its
    /// pod pulled; `None` while it cannot start); whether it answers.
    pub(super) async fn serve(&self, deployment: &Deployment, version: Option<String>) -> bool {
        let Some(namespace) = deployment.namespace() else {
            return false;
        };
        let identity = pod_identity(deployment);
        let key = (namespace.clone(), deployment.name_any());
        let replicas = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let wanted = deployment.metadata.deletion_timestamp.is_none() && replicas > 0;
        {
            let mut servers = lock(&self.node.servers);
            if let Some(server) = servers.map.get_mut(&key) {
                if server.identity == identity && wanted {
                    return matches!(server.state, State::Ready(_));
                }
                server.begin_stop();
                return false;
            }
            if !wanted || servers.closed {
                return false;
            }
        }
        let Some(version) = version else {
            return false;
        };
        let (Some(pod), Some(container)) = (
            deployment
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref()),
            mysql_container(deployment),
        ) else {
            return false;
        };
        if !self.pod_can_start(&namespace, pod) {
            return false;
        }
        let pod_name = format!("{}-{}", key.1, template_hash(deployment));
        let scratch = self.node.root.join("pods").join(&namespace).join(&pod_name);
        // A new pod's emptyDir volumes start empty (no earlier pod of this name runs now).
        let _ = std::fs::remove_dir_all(scratch.join("volumes"));
        let mounts = pods::mounts(
            &self.client,
            &self.node,
            &namespace,
            pod,
            container,
            &scratch,
        )
        .await;
        let datadir = match mounts {
            Ok(mounts) => pods::mounted(&mounts, DATA_DIR)
                .map(Path::to_path_buf)
                // No data volume: the container's own filesystem, lost with it.
                .unwrap_or_else(|| scratch.join("data")),
            Err(NotReady::Pending(_)) => return false,
            Err(NotReady::Config(why)) => {
                eprintln!(
                    "node stand-in: the MySQL pod of {}/{} cannot start: {why}",
                    key.0, key.1
                );
                return false;
            }
        };
        let env = match pods::env(&self.client, &namespace, &pod_name, container).await {
            Ok(env) => env,
            Err(_) => return false, // the Secret is not readable yet: CreateContainerConfigError
        };
        let prepared = sidecars::prepare(
            &self.client,
            &self.node,
            &namespace,
            &pod_name,
            pod,
            container,
            &scratch,
        );
        let sidecars = match prepared.await {
            Ok(sidecars) => sidecars,
            Err(NotReady::Pending(_)) => return false,
            Err(NotReady::Config(why)) => {
                eprintln!(
                    "node stand-in: a container of the MySQL pod of {}/{} cannot start: {why}",
                    key.0, key.1
                );
                return false;
            }
        };
        let value = |name: &str| {
            (env.iter())
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let start = Start {
            datadir: datadir.clone(),
            run_dir: scratch.join("run"),
            password: value("MYSQL_ROOT_PASSWORD").unwrap_or_default(),
            database: value("MYSQL_DATABASE").unwrap_or_default(),
            root_host: value("MYSQL_ROOT_HOST").unwrap_or_else(|| "%".into()),
            version,
            server_options: server_options(container),
        };
        let containers: Vec<Arc<Sidecar>> = sidecars.iter().map(|(s, _)| s.clone()).collect();
        let mut servers = lock(&self.node.servers);
        if servers.closed || servers.map.contains_key(&key) {
            return false;
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(lifecycle(
            self.node.clone(),
            key.clone(),
            start,
            sidecars,
            stopped,
        ));
        servers
            .pods
            .insert(key.clone(), (identity.clone(), containers.clone()));
        let server = Server {
            identity,
            datadir,
            state: State::Starting,
            process: None,
            sidecars: containers,
            restarts: 0,
            restarting_on: None,
            stop,
            task,
        };
        servers.map.insert(key, server);
        false
    }

    /// Stop the servers whose Deployment is gone.
    pub(super) fn stop_orphaned_servers(&self) {
        let mut servers = lock(&self.node.servers);
        for ((namespace, name), server) in servers.map.iter_mut() {
            let exists = self
                .deployments
                .get(&ObjectRef::new(name).within(namespace));
            if exists.is_none_or(|d| pod_identity(&d) != server.identity) {
                server.begin_stop();
            }
        }
    }
}

/// A server's life: start it (and the pod's other containers with it), watch it, stop it
/// when told, then forget it.
async fn lifecycle(
    node: Arc<Node>,
    key: Key,
    start: Start,
    sidecars: Vec<(Arc<Sidecar>, Launch)>,
    mut stop: watch::Receiver<bool>,
) {
    let start = Arc::new(start);
    let spawned = {
        let (node, key, start) = (node.clone(), key.clone(), start.clone());
        tokio::task::spawn_blocking(move || start.spawn(&node, &key)).await
    };
    let started = match spawned {
        Ok(Ok(port)) => {
            start_sidecars(&node, &key, sidecars, port);
            let (node, key, start) = (node.clone(), key.clone(), start.clone());
            tokio::task::spawn_blocking(move || start.wait_until_answering(&node, &key, port)).await
        }
        failed => failed,
    };
    let state = match started {
        Ok(Ok(port)) => State::Ready(port),
        Ok(Err(why)) => State::Failed(why),
        Err(e) => State::Failed(e.to_string()),
    };
    if let State::Failed(why) = &state {
        eprintln!(
            "node stand-in: the MySQL server of {}/{} did not start: {why}",
            key.0, key.1
        );
    }
    set_state(&node, &key, state);
    // Until told to stop; a server that dies makes its Deployment unavailable until it is
    // restarted in place (restartPolicy Always: same pod, same data, same port).
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let Some(port) = check_alive(&node, &key) else {
            continue;
        };
        let (n, k, s) = (node.clone(), key.clone(), start.clone());
        let state = match tokio::task::spawn_blocking(move || s.restart(&n, &k, port)).await {
            Ok(Ok(port)) => State::Ready(port),
            Ok(Err(why)) => State::Failed(why),
            Err(e) => State::Failed(e.to_string()),
        };
        set_state(&node, &key, state);
    }
    // Stopped in place (not taken out of the map), so a stand-in dropped meanwhile waits too;
    // the pod's containers all at once, as the kubelet stops them.
    let containers = match lock(&node.servers).map.get_mut(&key) {
        Some(server) => {
            server.process.iter_mut().for_each(ServerProcess::terminate);
            sidecars::terminate(&server.sidecars);
            server.sidecars.clone()
        }
        None => Vec::new(),
    };
    let grace_ends = Instant::now() + sidecars::grace(&containers);
    loop {
        let running = (lock(&node.servers).map.get_mut(&key))
            .and_then(|s| s.process.as_mut())
            .is_some_and(ServerProcess::is_running);
        let exited = sidecars::all_exited(&containers);
        if !exited && Instant::now() >= grace_ends {
            sidecars::kill(&containers);
        }
        if !running && exited {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lock(&node.servers).map.remove(&key);
    node.wake.notify_one();
}

/// Start the pod's other containers, the server now spawned on `port`, unless the pod is
/// stopping already.
fn start_sidecars(node: &Arc<Node>, key: &Key, sidecars: Vec<(Arc<Sidecar>, Launch)>, port: u16) {
    let servers = lock(&node.servers);
    let starting =
        !servers.closed && (servers.map.get(key)).is_some_and(|s| s.state != State::Stopping);
    if !starting {
        return;
    }
    for (sidecar, launch) in sidecars {
        tokio::spawn(sidecars::supervise(
            node.clone(),
            sidecar,
            launch.on_port(port),
        ));
    }
}

/// A state change, unless a stop was asked for meanwhile.
fn set_state(node: &Node, key: &Key, state: State) {
    if let Some(server) = lock(&node.servers).map.get_mut(key)
        && server.state != State::Stopping
    {
        server.state = state;
    }
    node.wake.notify_one();
}

/// Whether a ready server died: then it is unavailable (Starting) until restarted, and
/// its port, for the restart.
fn check_alive(node: &Node, key: &Key) -> Option<u16> {
    let mut servers = lock(&node.servers);
    let server = servers.map.get_mut(key)?;
    let State::Ready(port) = server.state else {
        return None;
    };
    let process = server.process.as_mut()?;
    if process.is_running() {
        return None;
    }
    eprintln!(
        "node stand-in: the MySQL server of {}/{} stopped, restarting it: {}",
        key.0,
        key.1,
        process.error_log_tail()
    );
    server.state = State::Starting;
    server.restarts += 1;
    server.restarting_on = Some(port);
    node.wake.notify_one();
    Some(port)
}

/// The version a server reports: three numbers, as every real server's (`mariadb:11` runs
/// some 11.x.y). MariaDB cannot write a binary log under a version without them.
fn reported_version(version: &str) -> String {
    let mut reported = version.to_string();
    for _ in version.split('.').count()..3 {
        reported.push_str(".0");
    }
    reported
}

/// What a server starts with, resolved from the pod template.
struct Start {
    datadir: PathBuf,
    run_dir: PathBuf,
    password: String,
    database: String,
    /// `MYSQL_ROOT_HOST`: the host of the root account the entrypoint adds (`%`).
    root_host: String,
    /// The MySQL version of the pod's image: what the server reports, and what decides
    /// whether it may boot on the datadir.
    version: String,
    /// The container's args that are server options.
    server_options: Vec<String>,
}

impl Start {
    /// Blocking: initialise the datadir if it is new, then spawn the server. Its port.
    fn spawn(&self, node: &Node, key: &Key) -> Result<u16, String> {
        let programs = Programs::find()?;
        let made = |e: std::io::Error| format!("cannot make {}: {e}", self.datadir.display());
        std::fs::create_dir_all(&self.datadir).map_err(made)?;
        std::fs::create_dir_all(&self.run_dir).map_err(made)?;
        // ServerProcess's own options set no binary log either way: the pod's decide.
        let extra = self.options();
        // The official entrypoint's test: no `mysql` schema directory means a new datadir.
        if !self.datadir.join("mysql").is_dir() {
            let env = entrypoint::Environment {
                password: self.password.clone(),
                database: self.database.clone(),
                root_host: self.root_host.clone(),
            };
            entrypoint::first_start(&programs, &self.datadir, &self.run_dir, &env, &extra)?;
        }
        images::boot(&self.datadir, &self.version)?;
        let port = mariadb::free_port()?;
        let process =
            ServerProcess::spawn(&programs.server, &self.datadir, &self.run_dir, port, &extra)?;
        {
            let mut servers = lock(&node.servers);
            let Servers { closed, map, .. } = &mut *servers;
            match map.get_mut(key) {
                Some(server) if !*closed => server.process = Some(process),
                // The stand-in went away meanwhile: `process` is stopped as it drops.
                _ => return Err("the node stand-in stopped".into()),
            }
        }
        Ok(port)
    }

    /// The options beyond ServerProcess's own: the reported version, the pod's options.
    fn options(&self) -> Vec<String> {
        let mut extra = vec![format!("--version={}", reported_version(&self.version))];
        extra.extend(self.server_options.iter().cloned());
        extra
    }

    /// Blocking: start the server again on its datadir and `port` after it died (InnoDB
    /// recovers), then wait until it answers. Its port.
    fn restart(&self, node: &Node, key: &Key, port: u16) -> Result<u16, String> {
        let programs = Programs::find()?;
        let process = ServerProcess::spawn(
            &programs.server,
            &self.datadir,
            &self.run_dir,
            port,
            &self.options(),
        )?;
        {
            let mut servers = lock(&node.servers);
            let Servers { closed, map, .. } = &mut *servers;
            match map.get_mut(key) {
                Some(server) if !*closed && server.state != State::Stopping => {
                    server.process = Some(process)
                }
                // Stopping meanwhile: `process` is stopped as it drops.
                _ => return Err("the server pod is stopping".into()),
            }
        }
        self.wait_until_answering(node, key, port)
    }

    /// Blocking: wait until the server answers `SELECT 1` over TCP with the password. The
    /// port once it does.
    fn wait_until_answering(&self, node: &Node, key: &Key, port: u16) -> Result<u16, String> {
        let programs = Programs::find()?;
        let started = Instant::now();
        loop {
            let answer = mariadb::query_tcp(
                &programs.client,
                port,
                "root",
                &self.password,
                None,
                "SELECT 1",
            );
            if answer.as_deref().is_ok_and(|out| out.trim() == "1") {
                return Ok(port);
            }
            let running = (lock(&node.servers).map.get_mut(key))
                .and_then(|s| s.process.as_mut())
                .is_some_and(ServerProcess::is_running);
            if !running {
                let log =
                    std::fs::read_to_string(self.run_dir.join("error.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(format!("mariadbd exited: {}", tail.join("\n")));
            }
            if started.elapsed() > START_LIMIT {
                return Err(format!(
                    "no answer within {START_LIMIT:?}: {}",
                    answer.err().unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_reports_a_version_of_three_numbers() {
        assert_eq!(reported_version("11"), "11.0.0");
        assert_eq!(reported_version("8.4"), "8.4.0");
        assert_eq!(reported_version("9.7.0"), "9.7.0");
    }

    #[test]
    fn only_args_that_are_options_reach_the_server() {
        let container: Container = serde_json::from_value(serde_json::json!({
            "name": "mysql",
            "args": ["mysqld", "--log-bin=binlog", "--server-id=1"],
        }))
        .expect("a container");
        assert_eq!(
            server_options(&container),
            ["--log-bin=binlog", "--server-id=1"]
        );
    }
}
