//! The Job controller for Jobs (MySQL mode); `kubelet.rs` runs their pods.
//!
//! Each Job not yet finished gets a runner: one attempt (Pod) at a time until one
//! succeeds, the failures pass `backoffLimit` or `activeDeadlineSeconds` passes. The Job's
//! status follows the controller: startTime, active, ready, succeeded and failed counts,
//! completionTime, and SuccessCriteriaMet+Complete, or FailureTarget+Failed with
//! BackoffLimitExceeded (after backoffLimit+1 failed pods) or DeadlineExceeded (the running
//! pod is stopped, then deleted). Retries wait 0.2 s, doubling up to 3.2 s, instead of the
//! controller's 10 s; parallelism and completions above 1 are not played. A Job being
//! deleted has its process stopped.

mod kubelet;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, Patch};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::pods::Log;
use super::{Cluster, Key, Node, as_controller, lock, now};

/// The `spec.nodeName` of the pods the stand-in runs.
pub(super) const NODE_NAME: &str = "node-stand-in";

/// The Jobs being run (or already run: a Job is run once per uid), the process groups of
/// running attempts and the output of every pod.
#[derive(Default)]
pub(super) struct Runs {
    closed: bool,
    by_uid: HashMap<String, Run>,
    groups: HashSet<i64>,
    logs: HashMap<Key, Log>,
}

struct Run {
    cancel: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Kill every running Job process; nothing starts afterwards.
pub(super) fn close(node: &Node) {
    let mut runs = lock(&node.jobs);
    runs.closed = true;
    for run in runs.by_uid.values() {
        run.task.abort();
    }
    for group in runs.groups.drain() {
        crate::mariadb::send_signal(-group, "KILL");
    }
}

pub(super) fn logs(node: &Node, key: &Key) -> Option<String> {
    let runs = lock(&node.jobs);
    let log = lock(runs.logs.get(key)?);
    Some(String::from_utf8_lossy(&log).into_owned())
}

impl Cluster {
    /// Start a runner for each new unfinished Job; cancel those whose Job is being deleted.
    pub(super) fn run_jobs(&self, jobs: &[Arc<Job>]) {
        let mut runs = lock(&self.node.jobs);
        if runs.closed {
            return;
        }
        let present: HashSet<String> = jobs.iter().filter_map(|j| j.uid()).collect();
        let live: HashSet<String> = (jobs.iter())
            .filter(|j| j.metadata.deletion_timestamp.is_none())
            .filter_map(|j| j.uid())
            .collect();
        for (uid, run) in &runs.by_uid {
            if !live.contains(uid) {
                let _ = run.cancel.send(true);
            }
        }
        // Forget a Job once it is gone and its runner has ended.
        runs.by_uid
            .retain(|uid, run| present.contains(uid) || !run.task.is_finished());
        for job in jobs {
            let Some(uid) = job.uid() else { continue };
            let suspended = job.spec.as_ref().and_then(|s| s.suspend) == Some(true);
            if !live.contains(&uid) || finished(job) || suspended || runs.by_uid.contains_key(&uid)
            {
                continue;
            }
            let runner = Runner {
                client: self.client.clone(),
                node: self.node.clone(),
                deployments: self.deployments.clone(),
            };
            let (cancel, cancelled) = watch::channel(false);
            let job = job.clone();
            let task = tokio::spawn(async move { runner.run(&job, cancelled).await });
            runs.by_uid.insert(uid, Run { cancel, task });
        }
    }
}

/// A write the controllers and the kubelet must not lose: retried while the API server
/// cannot be reached (as client-go's workqueues retry), returned once it answers, error or
/// not. Without it a status written during an outage was dropped, and the Job ran for ever.
pub(super) async fn until_answered<T, F, Fut>(mut write: F) -> kube::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let give_up = Instant::now() + Duration::from_secs(300);
    loop {
        match write().await {
            Err(kube::Error::Api(s)) => return Err(kube::Error::Api(s)),
            Err(_) if Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

/// Whether the Job has its final condition.
fn finished(job: &Job) -> bool {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_ref());
    (conditions.into_iter().flatten())
        .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
}

/// Why a wait or an attempt ended early.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Interrupt {
    Deadline,
    /// The Job is being deleted (or the stand-in is going away).
    Cancelled,
}

/// How an attempt ended.
enum End {
    Exited(i32),
    Interrupted(Interrupt),
}

/// The Job's counts, as its status holds them.
#[derive(Clone, Copy, Default)]
struct Counts {
    active: i32,
    ready: i32,
    succeeded: i32,
    failed: i32,
}

/// What one Job's runner needs: the controller's and the kubelet's view of the cluster.
struct Runner {
    client: Client,
    node: Arc<Node>,
    deployments: Store<Deployment>,
}

impl Runner {
    async fn run(&self, job: &Job, mut cancel: watch::Receiver<bool>) {
        let name = job.name_any();
        if let Err(e) = self.control(job, &mut cancel).await {
            // A Job deleted meanwhile is no news.
            if !matches!(&e, kube::Error::Api(s) if s.is_not_found()) {
                eprintln!("node stand-in: Job {name}: {e}");
            }
        }
    }

    /// The Job controller's loop for one Job: attempts until one succeeds, the failures
    /// pass backoffLimit or the deadline passes.
    async fn control(&self, job: &Job, cancel: &mut watch::Receiver<bool>) -> kube::Result<()> {
        let spec = job.spec.clone().unwrap_or_default();
        let status = job.status.clone().unwrap_or_default();
        let start = status
            .start_time
            .map(|t| t.0)
            .unwrap_or_else(jiff::Timestamp::now);
        let deadline = spec.active_deadline_seconds.map(|seconds| {
            let elapsed = jiff::Timestamp::now()
                .duration_since(start)
                .as_secs_f64()
                .max(0.0);
            Instant::now() + Duration::from_secs_f64((seconds as f64 - elapsed).max(0.0))
        });
        let limit = spec.backoff_limit.unwrap_or(6);
        let mut counts = Counts {
            succeeded: status.succeeded.unwrap_or(0),
            failed: status.failed.unwrap_or(0),
            ..Counts::default()
        };
        let start = start.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        loop {
            counts.active = 1;
            self.write_status(job, &start, counts, None).await?;
            let end = self
                .attempt(job, &start, deadline, &mut counts, cancel)
                .await?;
            counts.active = 0;
            counts.ready = 0;
            match end {
                End::Interrupted(Interrupt::Cancelled) => return Ok(()),
                End::Exited(0) => {
                    counts.succeeded += 1;
                    return self
                        .write_status(job, &start, counts, Some(Final::Complete))
                        .await;
                }
                End::Exited(_) => counts.failed += 1,
                End::Interrupted(Interrupt::Deadline) => {
                    counts.failed += 1;
                    return self
                        .write_status(job, &start, counts, Some(Final::Deadline))
                        .await;
                }
            }
            if counts.failed > limit {
                return self
                    .write_status(job, &start, counts, Some(Final::Backoff))
                    .await;
            }
            self.write_status(job, &start, counts, None).await?;
            let backoff =
                Duration::from_millis(200) * 2u32.pow((counts.failed - 1).clamp(0, 4) as u32);
            match wait(backoff, deadline, cancel).await {
                Some(Interrupt::Cancelled) => return Ok(()),
                Some(Interrupt::Deadline) => {
                    return self
                        .write_status(job, &start, counts, Some(Final::Deadline))
                        .await;
                }
                None => {}
            }
        }
    }

    /// The Job's status as the controller writes it.
    async fn write_status(
        &self,
        job: &Job,
        start: &str,
        counts: Counts,
        end: Option<Final>,
    ) -> kube::Result<()> {
        let count = |n: i32| if n == 0 { Value::Null } else { json!(n) };
        let now = now();
        let condition = |kind: &str, reason: &str, message: &str| {
            json!({"type": kind, "status": "True", "reason": reason, "message": message,
                   "lastProbeTime": now, "lastTransitionTime": now})
        };
        let conditions = end.map(|end| {
            let (target, last, reason, message) = end.words();
            json!([
                condition(target, reason, message),
                condition(last, reason, message)
            ])
        });
        let completion = (end == Some(Final::Complete)).then(|| now.clone());
        let status = json!({"status": {
            "startTime": start,
            "active": count(counts.active),
            "ready": counts.ready,
            "terminating": 0,
            "succeeded": count(counts.succeeded),
            "failed": count(counts.failed),
            "uncountedTerminatedPods": {},
            "completionTime": completion,
            "conditions": conditions,
        }});
        let api: Api<Job> =
            Api::namespaced(self.client.clone(), &job.namespace().unwrap_or_default());
        let (name, params, patch) = (job.name_any(), as_controller(), Patch::Merge(status));
        until_answered(|| api.patch_status(&name, &params, &patch)).await?;
        Ok(())
    }
}

/// The final conditions the controller writes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Final {
    Complete,
    Backoff,
    Deadline,
}

impl Final {
    /// (interim condition, final condition, reason, message), the controller's words.
    fn words(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Final::Complete => (
                "SuccessCriteriaMet",
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ),
            Final::Backoff => (
                "FailureTarget",
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ),
            Final::Deadline => (
                "FailureTarget",
                "Failed",
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ),
        }
    }
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Once the Job is cancelled (or its runner forgotten).
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    let _ = cancel.wait_for(|c| *c).await;
}

/// Sleep `pause`, unless the deadline or a cancellation comes first.
async fn wait(
    pause: Duration,
    deadline: Option<Instant>,
    cancel: &mut watch::Receiver<bool>,
) -> Option<Interrupt> {
    tokio::select! {
        _ = tokio::time::sleep(pause) => None,
        _ = until(deadline) => Some(Interrupt::Deadline),
        _ = cancelled(cancel) => Some(Interrupt::Cancelled),
    }
}
