//! The other containers of a MySQL pod (MySQL mode): each one with a `command` runs as a
//! local process beside the pod's server, as the kubelet runs a Job's container
//! (`jobs/kubelet.rs`): the template's environment with mount paths mapped to the
//! volumes' local directories, the test process's PATH, `HOME` and `HOSTNAME`, a process
//! group of its own, its output kept as its log (across restarts).
//!
//! - A pod has one network namespace: `MYSQL_HOST` of `127.0.0.1` or `localhost` names
//!   the pod's own server, so `MYSQL_PORT` becomes the port the local server listens on
//!   (set even when the template leaves it out). Other hosts are left as written.
//! - The processes start when the server process is spawned, as the kubelet starts a
//!   pod's containers together: a script waits for the server itself.
//! - restartPolicy Always: a process that exits, or is killed
//!   ([`crate::NodeStandIn::kill_container`]), starts again after a back-off of 1 s,
//!   doubling up to 10 s (the kubelet's: 10 s up to 5 min), and counts as a restart; the
//!   back-off starts over after a run of 10 minutes, as the kubelet's does.
//! - They stop with the server: SIGTERM to each group, SIGKILL after the pod's
//!   `terminationGracePeriodSeconds`, at most [`GRACE_LIMIT`] here.
//! - Not played: `readOnly` mounts (writable here), probes (a running container is
//!   ready), lifecycle hooks, resources, and containers without a `command` (an image's
//!   entrypoint): those are reported running and never run.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, PodSpec};
use kube::Client;

use super::pods::{self, Log, NotReady};
use super::{Node, lock, now};
use crate::mariadb::send_signal;

/// The first back-off before a restart; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A run this long starts the back-off over.
const BACKOFF_RESET: Duration = Duration::from_secs(600);
/// The longest a stopping container gets after SIGTERM, whatever the pod's grace period
/// (60 s for the product's): tests stay short.
const GRACE_LIMIT: Duration = Duration::from_secs(5);
/// How often a supervisor looks at its process.
const POLL: Duration = Duration::from_millis(100);

/// Whether the stand-in runs `container` as a process (it has a command to run).
pub(super) fn is_played(container: &Container) -> bool {
    container.command.as_ref().is_some_and(|c| !c.is_empty())
}

/// One container of a pod run beside its server: its process, restarts and output.
pub(super) struct Sidecar {
    pub(super) name: String,
    log: Log,
    /// How long a stopping process gets between SIGTERM and SIGKILL.
    grace: Duration,
    process: Mutex<Process>,
}

#[derive(Default)]
struct Process {
    child: Option<Child>,
    /// How many processes were started (the first run is not a restart).
    runs: u32,
    /// When the running (or last) process started, as API timestamps are written.
    started_at: String,
    /// The last run's exit code, start and finish.
    last_exit: Option<(i32, String, String)>,
    /// Set once the pod stops: no process starts afterwards.
    stopping: bool,
}

/// What the kubelet's status says of a container the stand-in runs.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Observed {
    pub running: bool,
    pub restarts: u32,
    pub started_at: String,
    /// The previous run's exit code, start and finish: `lastState.terminated`.
    pub last_exit: Option<(i32, String, String)>,
}

/// How a container's process is started, its environment resolved.
pub(super) struct Launch {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    /// The container's own filesystem: its HOME and default working directory.
    home: PathBuf,
    dir: PathBuf,
    hostname: String,
}

/// The containers of `pod` besides `server` that the stand-in runs, with their volumes
/// mounted and their environment resolved (`MYSQL_PORT` is mapped once the server's port
/// is known: [`Launch::on_port`]). `scratch` is the pod's: emptyDir volumes are shared.
pub(super) async fn prepare(
    client: &Client,
    node: &Node,
    namespace: &str,
    pod_name: &str,
    pod: &PodSpec,
    server: &Container,
    scratch: &Path,
) -> Result<Vec<(Arc<Sidecar>, Launch)>, NotReady> {
    let grace = (pod.termination_grace_period_seconds)
        .map_or(Duration::from_secs(30), |s| {
            Duration::from_secs(s.max(0) as u64)
        })
        .min(GRACE_LIMIT);
    let mut prepared = Vec::new();
    for container in &pod.containers {
        if container.name == server.name {
            continue;
        }
        if !is_played(container) {
            eprintln!(
                "node stand-in: container {:?} of {namespace}/{pod_name} has no command: it is reported running, not run",
                container.name
            );
            continue;
        }
        let mounts = pods::mounts(client, node, namespace, pod, container, scratch).await?;
        // The Secret is not readable yet: the kubelet's CreateContainerConfigError, retried.
        let env = pods::env(client, namespace, pod_name, container)
            .await
            .map_err(NotReady::Pending)?;
        let env = (env.into_iter())
            .map(|(name, value)| (name, pods::localize(&value, &mounts)))
            .collect();
        let home = scratch.join("containers").join(&container.name);
        std::fs::create_dir_all(&home)
            .map_err(|e| NotReady::Config(format!("cannot make {}: {e}", home.display())))?;
        let dir = match container.working_dir.as_deref() {
            Some(dir) if !dir.is_empty() => PathBuf::from(pods::localize(dir, &mounts)),
            _ => home.clone(),
        };
        let argv = (container.command.iter().flatten())
            .chain(container.args.iter().flatten())
            .cloned()
            .collect();
        let sidecar = Sidecar {
            name: container.name.clone(),
            log: Log::default(),
            grace,
            process: Mutex::default(),
        };
        let launch = Launch {
            argv,
            env,
            home,
            dir,
            hostname: pod_name.to_string(),
        };
        prepared.push((Arc::new(sidecar), launch));
    }
    Ok(prepared)
}

impl Launch {
    /// The pod's network: a `MYSQL_HOST` on the loopback is this pod's server, listening
    /// on `port` here rather than on 3306.
    pub(super) fn on_port(mut self, port: u16) -> Launch {
        let local = (self.env.iter()).any(|(name, value)| {
            name == "MYSQL_HOST" && matches!(value.as_str(), "127.0.0.1" | "localhost")
        });
        if local {
            self.env.retain(|(name, _)| name != "MYSQL_PORT");
            self.env.push(("MYSQL_PORT".into(), port.to_string()));
        }
        self
    }

    fn spawn(&self, log: &Log) -> std::io::Result<Child> {
        let program = self.argv.first().ok_or(std::io::ErrorKind::InvalidInput)?;
        let mut command = Command::new(program);
        command
            .args(&self.argv[1..])
            .env_clear()
            .env("PATH", pods::search_path())
            .env("HOME", &self.home)
            .env("HOSTNAME", &self.hostname)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .env("TERMINATION_LOG", self.home.join("termination-log"))
            .current_dir(&self.dir);
        let output = pods::wire(&mut command)?;
        let child = command.spawn()?;
        drop(command); // its ends of the pipe close here: EOF comes once the process's do
        // A thread of its own, not the runtime's blocking pool: a process that outlives
        // its group (setsid) must not hold up the runtime's shutdown.
        let log = log.clone();
        std::thread::spawn(move || pods::collect(output, &log));
        Ok(child)
    }
}

impl Sidecar {
    /// SIGKILL to the container's processes, as an OOM kill or a crash; the restart
    /// follows. Whether a process was running.
    pub(super) fn kill(&self) -> bool {
        let process = lock(&self.process);
        match &process.child {
            Some(child) => {
                send_signal(-i64::from(child.id()), "KILL");
                true
            }
            None => false,
        }
    }

    pub(super) fn log(&self) -> String {
        String::from_utf8_lossy(&lock(&self.log)).into_owned()
    }

    pub(super) fn restarts(&self) -> u32 {
        lock(&self.process).runs.saturating_sub(1)
    }

    pub(super) fn observed(&self) -> Observed {
        let process = lock(&self.process);
        Observed {
            running: process.child.is_some(),
            restarts: process.runs.saturating_sub(1),
            started_at: process.started_at.clone(),
            last_exit: process.last_exit.clone(),
        }
    }

    /// Start a process unless the pod is stopping (then false). A process that cannot be
    /// started counts as one that exited at once (the runtime's StartError), and is retried.
    fn start(&self, launch: &Launch) -> bool {
        let mut process = lock(&self.process);
        if process.stopping {
            return false;
        }
        process.runs += 1;
        process.started_at = now();
        match launch.spawn(&self.log) {
            Ok(child) => process.child = Some(child),
            Err(e) => {
                eprintln!(
                    "node stand-in: container {:?} did not start: {}: {e}",
                    self.name,
                    launch.argv.first().map(String::as_str).unwrap_or_default()
                );
                process.last_exit = Some((128, process.started_at.clone(), now()));
            }
        }
        true
    }

    /// Whether no process runs: one that exited is reaped, the rest of its group killed
    /// (a container's processes end with it), its exit kept.
    fn reap(&self) -> bool {
        let mut process = lock(&self.process);
        let Some(child) = process.child.as_mut() else {
            return true;
        };
        let code = match child.try_wait() {
            Ok(None) => return false,
            Ok(Some(status)) => exit_code(status),
            Err(_) => 128 + 9,
        };
        send_signal(-i64::from(child.id()), "KILL");
        process.child = None;
        process.last_exit = Some((code, process.started_at.clone(), now()));
        true
    }

    /// Signal the running process's group.
    fn signal(&self, signal: &str) {
        if let Some(child) = &lock(&self.process).child {
            send_signal(-i64::from(child.id()), signal);
        }
    }
}

/// A shell's exit code: 128 + the signal for a killed process.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(9))
}

/// Run the container until its pod stops: start the process, wait for it to end,
/// restart it after the back-off.
pub(super) async fn supervise(node: Arc<Node>, sidecar: Arc<Sidecar>, launch: Launch) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        if !sidecar.start(&launch) {
            return;
        }
        node.wake.notify_one(); // the pod's status says it
        while !sidecar.reap() {
            tokio::time::sleep(POLL).await;
        }
        node.wake.notify_one();
        if lock(&sidecar.process).stopping {
            return;
        }
        if started.elapsed() >= BACKOFF_RESET {
            backoff = FIRST_BACKOFF;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// SIGTERM to every running process, as the kubelet stops a pod's containers; none
/// starts afterwards.
pub(super) fn terminate(sidecars: &[Arc<Sidecar>]) {
    for sidecar in sidecars {
        lock(&sidecar.process).stopping = true;
        sidecar.signal("TERM");
    }
}

/// Whether every process has exited (and been reaped).
pub(super) fn all_exited(sidecars: &[Arc<Sidecar>]) -> bool {
    // Every one reaped, not only up to the first still running.
    let running = sidecars.iter().filter(|s| !s.reap()).count();
    running == 0
}

/// SIGKILL to every process still running: its grace period is over.
pub(super) fn kill(sidecars: &[Arc<Sidecar>]) {
    for sidecar in sidecars {
        sidecar.signal("KILL");
    }
}

/// The longest grace period of `sidecars`.
pub(super) fn grace(sidecars: &[Arc<Sidecar>]) -> Duration {
    (sidecars.iter().map(|s| s.grace).max()).unwrap_or_default()
}

/// Blocking: stop every process (SIGTERM, the grace period, SIGKILL) and wait until all
/// are gone, as a dropped stand-in must leave none behind.
pub(super) fn stop_blocking(sidecars: &[Arc<Sidecar>]) {
    terminate(sidecars);
    let started = Instant::now();
    let grace = grace(sidecars);
    while !all_exited(sidecars) {
        if started.elapsed() >= grace {
            kill(sidecars);
        }
        // SIGKILLed processes go at once; a process stuck in the kernel is not waited for
        // for ever.
        if started.elapsed() >= grace + Duration::from_secs(5) {
            eprintln!("node stand-in: a container's process did not exit after SIGKILL");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(env: &[(&str, &str)]) -> Launch {
        Launch {
            argv: vec!["true".into()],
            env: (env.iter())
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            home: PathBuf::new(),
            dir: PathBuf::new(),
            hostname: String::new(),
        }
    }

    fn port_of(launch: &Launch) -> Option<&str> {
        (launch.env.iter())
            .find(|(name, _)| name == "MYSQL_PORT")
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn a_loopback_host_is_the_pods_own_server_on_its_local_port() {
        for host in ["127.0.0.1", "localhost"] {
            let mapped = launch(&[("MYSQL_HOST", host), ("MYSQL_PORT", "3306")]).on_port(4321);
            assert_eq!(port_of(&mapped), Some("4321"), "{host}");
            assert_eq!(mapped.env.len(), 2, "{host}: replaced, not added");
        }
        let unset = launch(&[("MYSQL_HOST", "127.0.0.1")]).on_port(4321);
        assert_eq!(port_of(&unset), Some("4321"));
        let elsewhere = launch(&[("MYSQL_HOST", "db.example"), ("MYSQL_PORT", "3306")]);
        assert_eq!(port_of(&elsewhere.on_port(4321)), Some("3306"));
    }
}
