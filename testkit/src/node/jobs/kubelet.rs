//! The kubelet's part of a Job: one attempt, recorded as a Pod `<job>-<5 chars>` (the Job
//! controller's labels and owner reference), runs the first container's `command` + `args`
//! as a local process and ends as the kubelet reports it:
//! `containerStatuses[0].state.terminated` with the exit code, Completed or Error, and the
//! termination message (`$TERMINATION_LOG`, a temp file; with FallbackToLogsOnError, the
//! output's last lines when the file is empty after a failure).
//!
//! The process gets the pod template's environment (values, Secret and ConfigMap keys),
//! with mount paths mapped to the volumes' local directories, and `MYSQL_HOST` naming a
//! Service of the namespace mapped to 127.0.0.1 with `MYSQL_PORT` the port of the local
//! server behind it. It runs in a process group of its own, signalled as a whole as the
//! processes of a container are.

use std::io::PipeReader;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::process::Child;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Counts, End, Interrupt, Log, Runner, wait};
use crate::mariadb::{free_port, send_signal};
use crate::node::pods::{self, Mount, NotReady, search_path};
use crate::node::replicas::pod_identity;
use crate::node::{Node, images, lock, now, servers};

/// The command a simulated Job runs instead of its own: wait, then report.
fn simulated_command() -> Vec<String> {
    let script = r#"sleep "$SIMULATED_SECONDS" && printf '%s\n' "$SIMULATED_REPORT" | tee "$TERMINATION_LOG""#;
    vec!["sh".into(), "-c".into(), script.into()]
}

/// The report a backup or restore script would print for this Job (a made-up backup of
/// one byte, named after the time it "ran").
fn simulated_report(job: &Job, env: &[(String, String)]) -> String {
    use kubectl_mysql::backup::{BackupReport, DumpSource, RestoreReport, backup_name};
    let value = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let restore = job
        .labels()
        .get("app.kubernetes.io/component")
        .is_some_and(|c| c == "restore");
    let now = std::time::SystemTime::now();
    let mut report = if restore {
        let backup = match value("BACKUP_NAME") {
            name if name.is_empty() => backup_name(now),
            name if name.ends_with(".sql.gz") => name,
            name => format!("{name}.sql.gz"),
        };
        as_product_reads::<RestoreReport>(json!({
            "backup": backup,
            "size": 1,
            "sha256": "0".repeat(64),
            "database": value("MYSQL_DATABASE"),
            "skipped": [],
        }))
    } else {
        let source = if value("MYSQL_DATADIR").is_empty() {
            DumpSource::Server
        } else {
            DumpSource::Datadir
        };
        as_product_reads::<BackupReport>(json!({
            "backup": backup_name(now),
            "size": 1,
            "sha256": "0".repeat(64),
            "verified": true,
            "database": value("MYSQL_DATABASE"),
            "created": now_rfc3339(),
            "retained": 1,
            "pruned": [],
            "source": source,
            "wiped": value("WIPE_DATADIR") == "true",
        }))
    };
    report["op"] = json!(if restore { "restore" } else { "backup" });
    report["ok"] = json!(true);
    report.to_string()
}

/// `report` as the product reads it, through its type: what the type leaves optional is
/// filled in (a report made up here names only what every backup has), and a field it
/// requires that is missing shows at once, on stderr.
fn as_product_reads<T: serde::Serialize + serde::de::DeserializeOwned>(report: Value) -> Value {
    serde_json::from_value::<T>(report)
        .and_then(|typed| serde_json::to_value(typed))
        .unwrap_or_else(|e| {
            eprintln!("node stand-in: a made-up Job report the product cannot read: {e}");
            Value::Null
        })
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// What the kubelet keeps of a termination message file.
const MESSAGE_BYTES: usize = 4096;
/// FallbackToLogsOnError: at most this many of the output's last lines, and bytes.
const LOG_LINES: usize = 80;
const LOG_BYTES: usize = 2048;
/// The exit code runtimes report for a container that could not be started.
const NOT_STARTED: i32 = 128;

/// Why a container did not start.
enum Blocked {
    /// It cannot be made: a missing Secret, no command, an unsupported volume.
    Config(String),
    Interrupted(Interrupt),
}

/// A container ready to start.
struct Prepared {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    dir: PathBuf,
    /// The process's PATH.
    path: String,
}

impl Runner {
    /// One pod: created, its volumes and environment prepared, its process run to the end.
    pub(super) async fn attempt(
        &self,
        job: &Job,
        start: &str,
        deadline: Option<Instant>,
        counts: &mut Counts,
        cancel: &mut watch::Receiver<bool>,
    ) -> kube::Result<End> {
        let namespace = job.namespace().unwrap_or_default();
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let (pod, params) = (pod_for(job), PostParams::default());
        let pod_name = super::until_answered(|| pods.create(&params, &pod))
            .await?
            .name_any();
        let log = Log::default();
        let key = (namespace.clone(), pod_name.clone());
        lock(&self.node.jobs).logs.insert(key, log.clone());
        let scratch = self.node.root.join("pods").join(&namespace).join(&pod_name);
        let started = now();
        let pending = json!({"phase": "Pending", "hostIP": "127.0.0.1", "startTime": started});
        pod_status(&pods, &pod_name, pending).await?;
        let ended = |exit_code, reason, message| Terminated {
            exit_code,
            reason,
            message,
            started: started.clone(),
        };

        let prepared = self
            .prepare(job, &pods, &pod_name, &scratch, deadline, cancel)
            .await;
        let Prepared {
            argv,
            env,
            dir,
            path,
        } = match prepared {
            Ok(prepared) => prepared,
            Err(Blocked::Interrupted(interrupt)) => {
                return interrupted(&pods, &pod_name, interrupt).await;
            }
            Err(Blocked::Config(why)) => {
                let terminated = ended(NOT_STARTED, "CreateContainerConfigError", why);
                pod_status(&pods, &pod_name, terminated.status(job)).await?;
                return Ok(End::Exited(NOT_STARTED));
            }
        };
        let termination_log = scratch.join("termination-log");
        let spawned = std::fs::write(&termination_log, "")
            .map_err(|e| format!("cannot make {}: {e}", termination_log.display()))
            .and_then(|()| {
                let mut command = tokio::process::Command::new(&argv[0]);
                command
                    .args(&argv[1..])
                    .env_clear()
                    .env("PATH", path)
                    .env("HOME", &scratch)
                    .env("HOSTNAME", &pod_name)
                    .envs(env)
                    .env("TERMINATION_LOG", &termination_log)
                    .current_dir(dir);
                spawn(command).map_err(|e| format!("{}: {e}", argv[0]))
            });
        let (mut child, output) = match spawned {
            Ok(spawned) => spawned,
            Err(why) => {
                let terminated = ended(NOT_STARTED, "StartError", why);
                pod_status(&pods, &pod_name, terminated.status(job)).await?;
                return Ok(End::Exited(NOT_STARTED));
            }
        };
        // From here on, however this ends, the group is killed.
        let group = ProcessGroup::new(&self.node, child.id().unwrap_or_default());
        let reader = {
            let log = log.clone();
            tokio::task::spawn_blocking(move || pods::collect(output, &log))
        };
        // Best effort: the process runs whatever the API says meanwhile.
        let running = json!({"phase": "Running", "podIP": "127.0.0.1", "containerStatuses": [
            container_status(job, true, json!({"running": {"startedAt": started}}))
        ]});
        let _ = pod_status(&pods, &pod_name, running).await;
        counts.ready = 1;
        let _ = self.write_status(job, start, *counts, None).await;

        let interrupt = tokio::select! {
            _ = child.wait() => None,
            _ = super::until(deadline) => Some(Interrupt::Deadline),
            _ = super::cancelled(cancel) => Some(Interrupt::Cancelled),
        };
        if interrupt.is_some() {
            // As a deleted pod: SIGTERM, the grace period, then SIGKILL (below).
            send_signal(-group.0, "TERM");
            let grace = (job.spec.as_ref())
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|p| p.termination_grace_period_seconds)
                .unwrap_or(30);
            let grace = Duration::from_secs(grace.max(0) as u64);
            let _ = tokio::time::timeout(grace, child.wait()).await;
        }
        // The container is gone, and every process in it.
        drop(group);
        let exit = child.wait().await;
        // A process that left the group may hold the pipe open: not waited for long.
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        let exit_code = match exit {
            Ok(status) => (status.code()).unwrap_or_else(|| 128 + status.signal().unwrap_or(9)),
            Err(_) => 137,
        };
        let message = termination_message(job, &termination_log, exit_code, &log);
        let reason = if exit_code == 0 { "Completed" } else { "Error" };
        let terminated = ended(exit_code, reason, message);
        let patched = pod_status(&pods, &pod_name, terminated.status(job)).await;
        match interrupt {
            Some(interrupt) => interrupted(&pods, &pod_name, interrupt).await,
            None => patched.map(|()| End::Exited(exit_code)),
        }
    }

    /// The command, environment and working directory of the Job's container, once its
    /// claims are bound and no leaving server holds its volumes.
    async fn prepare(
        &self,
        job: &Job,
        pods: &Api<Pod>,
        pod_name: &str,
        scratch: &Path,
        deadline: Option<Instant>,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<Prepared, Blocked> {
        let namespace = job.namespace().unwrap_or_default();
        let pod = job.spec.as_ref().and_then(|s| s.template.spec.as_ref());
        let Some((pod, container)) = pod.and_then(|p| Some((p, p.containers.first()?))) else {
            return Err(Blocked::Config("the pod template has no container".into()));
        };
        if container.command.as_ref().is_none_or(|c| c.is_empty()) {
            let why =
                "the container has no command: the node stand-in cannot run an image's entrypoint";
            return Err(Blocked::Config(why.into()));
        }
        let poll = Duration::from_millis(100);
        let mut said = String::new();
        let mounts = loop {
            let mounts = pods::mounts(
                &self.client,
                &self.node,
                &namespace,
                pod,
                container,
                scratch,
            );
            match mounts.await {
                Ok(mounts) => break mounts,
                Err(NotReady::Config(why)) => return Err(Blocked::Config(why)),
                Err(NotReady::Pending(why)) => {
                    // Pending, saying why as the scheduler would.
                    if why != said {
                        let unschedulable = json!({"conditions": [{"type": "PodScheduled",
                            "status": "False", "reason": "Unschedulable", "message": why,
                            "lastTransitionTime": now()}]});
                        let _ = pod_status(pods, pod_name, unschedulable).await;
                        said = why;
                    }
                }
            }
            if let Some(interrupt) = wait(poll, deadline, cancel).await {
                return Err(Blocked::Interrupted(interrupt));
            }
        };
        let dirs: Vec<PathBuf> = mounts.iter().map(|m| m.local.clone()).collect();
        while self.volumes_busy(&dirs).await {
            if let Some(interrupt) = wait(poll, deadline, cancel).await {
                return Err(Blocked::Interrupted(interrupt));
            }
        }
        let env = pods::env(&self.client, &namespace, pod_name, container).await;
        let env = self
            .localize(&namespace, env.map_err(Blocked::Config)?, &mounts)
            .await;
        let mut argv: Vec<String> = (container.command.iter().flatten())
            .chain(container.args.iter().flatten())
            .cloned()
            .collect();
        let mut env = env;
        if let Some(runtime) = self.node.simulated_jobs {
            // No database behind it: the script's report, made up, after `runtime`.
            argv = simulated_command();
            env.push((
                "SIMULATED_SECONDS".into(),
                format!("{:.3}", runtime.as_secs_f64()),
            ));
            env.push(("SIMULATED_REPORT".into(), simulated_report(job, &env)));
        }
        let dir = match container.working_dir.as_deref() {
            Some(dir) if !dir.is_empty() => PathBuf::from(pods::localize(dir, &mounts)),
            _ => scratch.to_path_buf(),
        };
        std::fs::create_dir_all(scratch).map_err(|e| Blocked::Config(e.to_string()))?;
        let path = self.image_binaries(container, &dirs, scratch)?;
        Ok(Prepared {
            argv,
            env,
            dir,
            path,
        })
    }

    /// The PATH of the container: the local tools, unless the image's mysqld would refuse
    /// a data directory it mounts (one made by a newer MySQL release series, see
    /// `images.rs`); then `mysqld` and `mariadbd` are stand-ins that fail as mysqld does,
    /// writing its error where `--log-error` says. A newer image upgrades the directory.
    fn image_binaries(
        &self,
        container: &k8s_openapi::api::core::v1::Container,
        dirs: &[PathBuf],
        scratch: &Path,
    ) -> Result<String, Blocked> {
        let image = container.image.clone().unwrap_or_default();
        let Some(version) = lock(&self.node.registry).pull(&image).version else {
            return Ok(search_path());
        };
        let datadirs = dirs.iter().filter(|d| d.join("mysql").is_dir());
        let Some(refusal) = datadirs
            .filter_map(|d| images::boot(d, &version).err())
            .next()
        else {
            return Ok(search_path());
        };
        let bin = scratch.join("bin");
        let script = format!(
            "#!/bin/sh\n# mysqld {version}, as the node stand-in plays it: it refuses this data directory.\n\
             log=\nfor arg; do case $arg in --log-error=*) log=${{arg#--log-error=}};; esac; done\n\
             msg='{refusal}'\n\
             if [ -n \"$log\" ]; then printf '%s\\n' \"$msg\" >>\"$log\"; else printf '%s\\n' \"$msg\" >&2; fi\n\
             exit 1\n"
        );
        let made =
            |e: std::io::Error| Blocked::Config(format!("cannot make {}: {e}", bin.display()));
        std::fs::create_dir_all(&bin).map_err(made)?;
        for name in ["mysqld", "mariadbd"] {
            let file = bin.join(name);
            std::fs::write(&file, &script).map_err(made)?;
            std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .map_err(made)?;
        }
        Ok(format!("{}:{}", bin.display(), search_path()))
    }

    /// Whether a local server that is going away (its Deployment deleted, replaced or
    /// scaled to 0) still has one of `dirs`: the volume is not free until it has stopped.
    async fn volumes_busy(&self, dirs: &[PathBuf]) -> bool {
        for ((namespace, name), identity, stopping) in servers::leaving(&self.node, dirs) {
            if stopping {
                return true;
            }
            let api: Api<Deployment> = Api::namespaced(self.client.clone(), &namespace);
            let staying = api.get_opt(&name).await.ok().flatten().is_some_and(|d| {
                let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                pod_identity(&d) == identity
                    && d.metadata.deletion_timestamp.is_none()
                    && replicas > 0
            });
            if !staying {
                return true;
            }
        }
        false
    }

    /// Mount paths mapped to local directories; a `MYSQL_HOST` naming a Service of the
    /// namespace mapped to the local server behind it.
    async fn localize(
        &self,
        namespace: &str,
        env: Vec<(String, String)>,
        mounts: &[Mount],
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = (env.into_iter())
            .map(|(name, value)| (name, pods::localize(&value, mounts)))
            .collect();
        let host =
            (env.iter()).find_map(|(name, value)| (name == "MYSQL_HOST").then(|| value.clone()));
        let port = match host {
            Some(host) => self.port_behind(namespace, &host).await,
            None => None,
        };
        if let Some(port) = port {
            env.retain(|(name, _)| name != "MYSQL_HOST" && name != "MYSQL_PORT");
            env.push(("MYSQL_HOST".into(), "127.0.0.1".into()));
            env.push(("MYSQL_PORT".into(), port.to_string()));
        }
        env
    }

    /// The local port standing for a Service of the namespace: its server's (also while
    /// it is restarted in place), or a closed port when no server backs it (connection refused, as from a Service without
    /// endpoints). `None` when `host` names no Service.
    async fn port_behind(&self, namespace: &str, host: &str) -> Option<u16> {
        let name = [".svc.cluster.local", ".svc", ""]
            .iter()
            .find_map(|suffix| host.strip_suffix(&format!(".{namespace}{suffix}")))
            .unwrap_or(host);
        if name.contains('.') {
            return None;
        }
        let api: Api<Service> = Api::namespaced(self.client.clone(), namespace);
        let service = api.get_opt(name).await.ok().flatten()?;
        let selector = service.spec.and_then(|s| s.selector).unwrap_or_default();
        let backing = self.deployments.state().into_iter().find(|d| {
            let labels = (d.spec.as_ref())
                .and_then(|s| s.template.metadata.as_ref())
                .and_then(|m| m.labels.clone())
                .unwrap_or_default();
            d.namespace().as_deref() == Some(namespace)
                && !selector.is_empty()
                && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        });
        let port = backing
            .and_then(|d| servers::service_port(&self.node, &(namespace.into(), d.name_any())));
        port.or_else(|| free_port().ok())
    }
}

/// A running container's processes; killed (SIGKILL to the group) when dropped, so an
/// attempt that ends early, or a dropped stand-in, leaves none behind.
struct ProcessGroup(i64, Arc<Node>);

impl ProcessGroup {
    fn new(node: &Arc<Node>, leader: u32) -> ProcessGroup {
        let id = i64::from(leader);
        let mut runs = lock(&node.jobs);
        if runs.closed {
            send_signal(-id, "KILL");
        }
        runs.groups.insert(id);
        ProcessGroup(id, node.clone())
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        send_signal(-self.0, "KILL");
        lock(&self.1.jobs).groups.remove(&self.0);
    }
}

/// A status merge patch, as the kubelet writes it.
async fn pod_status(pods: &Api<Pod>, name: &str, status: Value) -> kube::Result<()> {
    let params = PatchParams {
        field_manager: Some("kubelet".into()),
        ..PatchParams::default()
    };
    let patch = Patch::Merge(json!({ "status": status }));
    super::until_answered(|| pods.patch_status(name, &params, &patch))
        .await
        .map(|_| ())
}

/// A pod stopped for its Job's deadline is deleted, as the controller deletes it; a
/// deleted Job's pods go with it (garbage collection).
async fn interrupted(pods: &Api<Pod>, name: &str, interrupt: Interrupt) -> kube::Result<End> {
    if interrupt == Interrupt::Deadline {
        match pods.delete(name, &DeleteParams::default()).await {
            Err(kube::Error::Api(s)) if s.is_not_found() => {}
            other => {
                other?;
            }
        }
    }
    Ok(End::Interrupted(interrupt))
}

/// The container's final state, as the kubelet reports it.
struct Terminated {
    exit_code: i32,
    reason: &'static str,
    message: String,
    started: String,
}

impl Terminated {
    fn status(&self, job: &Job) -> Value {
        let mut terminated = json!({
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started,
            "finishedAt": now(),
        });
        if !self.message.is_empty() {
            terminated["message"] = json!(self.message);
        }
        let phase = if self.exit_code == 0 {
            "Succeeded"
        } else {
            "Failed"
        };
        json!({"phase": phase, "containerStatuses": [
            container_status(job, false, json!({ "terminated": terminated }))
        ]})
    }
}

fn container_status(job: &Job, running: bool, state: Value) -> Value {
    let container = (job.spec.as_ref())
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first());
    json!({
        "name": container.map(|c| c.name.clone()),
        "image": container.and_then(|c| c.image.clone()),
        "imageID": "",
        "ready": running,
        "started": running,
        "restartCount": 0,
        "state": state,
    })
}

/// The pod the Job controller creates for one attempt.
fn pod_for(job: &Job) -> Pod {
    let name = job.name_any();
    let uid = job.uid().unwrap_or_default();
    super::super::controlled_pod(
        job.spec.as_ref().map(|s| &s.template),
        format!("{name}-"),
        job.namespace(),
        &[
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ],
        ["batch/v1", "Job", &name, &uid],
    )
}

/// The file's content, or with FallbackToLogsOnError, after a failure with an empty file,
/// the output's last lines.
fn termination_message(job: &Job, file: &Path, exit_code: i32, log: &Log) -> String {
    let mut message = std::fs::read(file).unwrap_or_default();
    message.truncate(MESSAGE_BYTES);
    let policy = (job.spec.as_ref())
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.termination_message_policy.clone());
    if message.is_empty() && exit_code != 0 && policy.as_deref() == Some("FallbackToLogsOnError") {
        let output = String::from_utf8_lossy(&lock(log)).into_owned();
        let lines: Vec<&str> = output.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_LINES)..].join("\n");
        let cut = tail.len().saturating_sub(LOG_BYTES);
        let cut = (cut..=tail.len())
            .find(|i| tail.is_char_boundary(*i))
            .unwrap_or(tail.len());
        return tail[cut..].to_string();
    }
    String::from_utf8_lossy(&message).into_owned()
}

/// Start the container's process (see [`pods::wire`]).
fn spawn(mut command: tokio::process::Command) -> std::io::Result<(Child, PipeReader)> {
    let output = pods::wire(command.as_std_mut())?;
    // `command` drops here with its ends of the pipe: EOF comes when the process's do.
    Ok((command.spawn()?, output))
}
