//! The backup pool: at most `max_concurrent_backups` backup Jobs run at once, delete-backups
//! and on-demand backups alike, so deleting 1,000 instances does not start 1,000 Jobs.
//!
//! Delete-backups wait in a queue ordered by deletion time (then namespace and name), read
//! from the operator's caches; each waiting instance says in its status how many wait
//! ahead of it. The CLI, which has no caches, counts the running backup Jobs of the
//! namespace it works in and waits for one to end.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::Context;
use super::jobs::{create_job, finished};
use super::lifecycle::{FINALIZER, skips_backup};
use super::observe::Compact;
use crate::crd::MySQL;
use crate::error::Error;
use crate::resources::{Component, FIELD_MANAGER};

/// The default of `--max-concurrent-backups`.
pub const DEFAULT_MAX_CONCURRENT_BACKUPS: u16 = 4;

/// Whether a backup could start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The Job was created (or one of that name already runs).
    Taken,
    /// Every slot is busy: `running` backup Jobs, `ahead` instances queued before this one.
    Wait { ahead: usize, running: usize },
}

/// How every waiting instance's message starts.
pub const WAITING_PREFIX: &str = "waiting for a backup slot";

/// What a waiting instance says.
pub fn waiting_message(ahead: usize, running: usize, limit: usize) -> String {
    format!("{WAITING_PREFIX}, {ahead} ahead ({running} of {limit} backups running)")
}

/// The labels of every backup Job the product starts.
fn backup_job_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/component".to_string(),
            Component::Backup.label().to_string(),
        ),
        (
            "app.kubernetes.io/managed-by".to_string(),
            FIELD_MANAGER.to_string(),
        ),
    ])
}

/// Whether a Job is one of ours, a backup, and still holds a slot (running, or being
/// deleted while its pod may still run).
pub fn holds_slot(job: &Job) -> bool {
    backup_job_labels()
        .iter()
        .all(|(k, v)| job.labels().get(k) == Some(v))
        && !finished(job)
}

/// The instances waiting for a slot, in queue order: being deleted with the finalizer,
/// not skipping the backup, their server stopped, no backup Job yet.
pub fn queue(ctx: &Context) -> Vec<ObjectRef<MySQL>> {
    let Some(caches) = ctx.observer.caches() else {
        return Vec::new();
    };
    let mut waiting: Vec<_> = caches
        .mysqls
        .state()
        .into_iter()
        .filter(|m| {
            m.metadata.deletion_timestamp.is_some()
                && m.finalizers().iter().any(|f| f == FINALIZER)
                && !skips_backup(m)
        })
        .filter(|m| {
            let ns = m.namespace().unwrap_or_default();
            let name = m.name_any();
            let server = ObjectRef::<Compact<Deployment>>::new(&name).within(&ns);
            let job = ObjectRef::<Compact<Job>>::new(&format!("backup-{name}-job")).within(&ns);
            caches.deployments.get(&server).is_none() && caches.jobs.get(&job).is_none()
        })
        .collect();
    waiting.sort_by_key(|m| {
        (
            m.metadata.deletion_timestamp.clone().map(|t| t.0),
            m.namespace(),
            m.name_any(),
        )
    });
    waiting.iter().map(|m| ObjectRef::from_obj(&**m)).collect()
}

/// How many backup Jobs hold a slot: the operator's cache, or the API in `namespace`.
pub async fn running(ctx: &Context, namespace: &str) -> Result<usize, Error> {
    if let Some(caches) = ctx.observer.caches() {
        let backup = backup_job_labels();
        return Ok(caches
            .jobs
            .state()
            .iter()
            .filter(|j| backup.iter().all(|(k, v)| j.label(k) == Some(v.as_str())))
            .filter_map(|j| j.object())
            .filter(holds_slot)
            .count());
    }
    let jobs: Vec<Job> = ctx
        .observer
        .list(&ctx.client, namespace, &backup_job_labels())
        .await?;
    Ok(jobs.iter().filter(|j| holds_slot(j)).count())
}

/// Start `job` (a backup of `mysql`) if a slot is free and no instance queued before this
/// one is waiting for it.
pub async fn start(ctx: &Context, mysql: &MySQL, job: &Job) -> Result<Slot, Error> {
    let limit = ctx.max_concurrent_backups.max(1);
    let namespace = job.namespace().unwrap_or_default();
    // One pass at a time counts and takes a slot; the Job is in the cache before the next.
    let _turn = match ctx.observer.caches() {
        Some(caches) => Some(caches.backup_pool.lock().await),
        None => None,
    };
    let running = running(ctx, &namespace).await?;
    let free = limit.saturating_sub(running);
    let me = ObjectRef::from_obj(mysql);
    let ahead = queue(ctx).iter().position(|m| *m == me).unwrap_or_default();
    if ahead >= free {
        return Ok(Slot::Wait { ahead, running });
    }
    create_job(ctx, job).await?;
    ctx.observer
        .caught_up(std::time::Duration::from_secs(2))
        .await;
    Ok(Slot::Taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(labels: serde_json::Value, conditions: serde_json::Value) -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": "backup-a-job", "namespace": "ns", "labels": labels},
            "status": {"conditions": conditions},
        }))
        .expect("job")
    }

    #[test]
    fn only_our_unfinished_backup_jobs_hold_a_slot() {
        let ours = json!({"app.kubernetes.io/component": "backup", "app.kubernetes.io/managed-by": "kubectl-mysql"});
        assert!(holds_slot(&job(ours.clone(), json!([]))));
        assert!(!holds_slot(&job(
            ours.clone(),
            json!([{"type": "Complete", "status": "True"}])
        )));
        assert!(!holds_slot(&job(
            ours,
            json!([{"type": "Failed", "status": "True"}])
        )));
        let restore = json!({"app.kubernetes.io/component": "restore", "app.kubernetes.io/managed-by": "kubectl-mysql"});
        assert!(!holds_slot(&job(restore, json!([]))));
        assert!(!holds_slot(&job(
            json!({"app.kubernetes.io/component": "backup"}),
            json!([])
        )));
    }

    #[test]
    fn the_waiting_message_says_how_many_are_ahead() {
        assert_eq!(
            waiting_message(3, 4, 4),
            "waiting for a backup slot, 3 ahead (4 of 4 backups running)"
        );
    }
}
