//! On-demand backups and restores (the `backup` and `restore` commands): start the Job,
//! follow it, and record what it did. Backup and restore of one instance never run at
//! once: a Job of either kind still running makes the other wait.

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use serde_json::json;

use super::jobs::{JobState, create_job, delete_job, job_state};
use super::lifecycle::BACKUP_SOURCE;
use super::{Context, catalogue, pool, publish, scheduled};
use crate::backup::{JobReport, RestorePoint};
use crate::crd::MySQL;
use crate::error::Error;
use crate::resources::{BackupSource, Names, backup_job, restore_job, restore_job_to};
use crate::validate::Instance;

/// Which on-demand operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    Backup,
    /// Restore this backup, or the latest verified one.
    Restore(Option<String>),
    /// Restore to a point: the newest backup before it, then the archived binary log up
    /// to it (`spec.pitr`).
    RestoreTo(RestorePoint),
}

/// Whether a start went through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    Started(String),
    /// The named Job of this instance is still running.
    Busy(String),
    /// Every backup slot of the namespace is taken: this many backups run.
    NoSlot(usize),
}

/// Start a backup or restore Job, replacing a finished one of the same name. A backup
/// needs a free slot of the backup pool.
pub async fn start(
    ctx: &Context,
    instance: &Instance,
    operation: &Operation,
) -> Result<Start, Error> {
    let names = Names::new(instance);
    let mut finished = Vec::new();
    for running in [names.backup_job(), names.restore_job()] {
        match job_state(ctx, &instance.namespace, &running).await? {
            (JobState::Running, _) => return Ok(Start::Busy(running)),
            (_, Some(old)) => finished.push(old),
            (_, None) => {}
        }
    }
    // A run of the backup schedule holds the backup volume as much as these do.
    if let Some(run) = scheduled::running(ctx, instance).await? {
        return Ok(Start::Busy(run));
    }
    let job: Job = match operation {
        Operation::Backup => {
            let mut job = backup_job(instance, BackupSource::Server, instance.backup_retention);
            job.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(BACKUP_SOURCE.into(), "server".into());
            job
        }
        Operation::Restore(backup) => restore_job(instance, backup.as_deref()),
        Operation::RestoreTo(point) => restore_job_to(instance, None, Some(point)),
    };
    let name = job.name_any();
    if *operation == Operation::Backup {
        let running = pool::running(ctx, &instance.namespace).await?;
        if running >= ctx.max_concurrent_backups.max(1) {
            return Ok(Start::NoSlot(running));
        }
    }
    // Only the finished Job read above is replaced (its uid a precondition): a Job another
    // caller started meanwhile under the same name is never deleted.
    let Some(old) = finished.into_iter().find(|j| j.name_any() == name) else {
        return Ok(match create_job(ctx, &job).await? {
            true => Start::Started(name),
            false => Start::Busy(name),
        });
    };
    delete_job(ctx, &old).await?;
    // The old Job may take a moment to go; its name is free once it is gone.
    for _ in 0..50 {
        if create_job(ctx, &job).await? {
            return Ok(Start::Started(name));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(Start::Busy(name))
}

/// How a started Job ended, once it has; the backup is recorded in the catalogue and the
/// instance's status.
pub async fn outcome(
    ctx: &Context,
    mysql: &MySQL,
    instance: &Instance,
    job: &str,
) -> Result<Option<Result<JobReport, String>>, Error> {
    let (state, _) = job_state(ctx, &instance.namespace, job).await?;
    let report = match state {
        JobState::Missing | JobState::Running => return Ok(None),
        JobState::Failed(cause) => return Ok(Some(Err(cause))),
        JobState::Succeeded(report) => report,
    };
    let field = match &report {
        JobReport::Backup(b) => {
            catalogue::record(ctx, instance, b).await?;
            Some(("lastBackup", b.backup.clone()))
        }
        JobReport::Restore(r) => {
            if let Some(to) = &r.to {
                let note = format!(
                    "restored to {to}: loaded {}, then replayed {} archived binlog file(s) from {} to {}",
                    r.backup,
                    r.binlogs.unwrap_or_default(),
                    r.from_position.as_deref().unwrap_or("its position"),
                    r.last_binlog.as_deref().unwrap_or("the target"),
                );
                publish(
                    ctx,
                    mysql,
                    EventType::Normal,
                    "RestoredToPoint",
                    "Restore",
                    note,
                )
                .await;
            }
            Some(("lastRestore", r.summary()))
        }
        JobReport::Failed(_) => None,
    };
    if let Some((key, value)) = field {
        // A merge patch of one field: an apply of a partial status by the operator's
        // field manager would drop the rest of its status.
        let api: Api<MySQL> = Api::namespaced(ctx.client.clone(), &instance.namespace);
        api.patch_status(
            &mysql.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {key: value}})),
        )
        .await
        .map_err(|e| Error::api(format!("record {key} of MySQL {}", mysql.name_any()), e))?;
    }
    Ok(Some(Ok(report)))
}

/// How the last on-demand backup went, once its Job has ended: the backup, or why it
/// failed. Read on every pass while the Job is kept (the `BackedUp` condition follows it,
/// whatever pass writes the status); recorded once (the Job is marked as scheduled runs
/// are): the catalogue, or a Warning Event. The CLI may be gone (`backup` without
/// `--wait`), so the operator says it.
pub async fn record_finished(
    ctx: &Context,
    mysql: &MySQL,
    instance: &Instance,
) -> Result<Option<Result<String, String>>, Error> {
    let name = Names::new(instance).backup_job();
    let (state, job) = job_state(ctx, &instance.namespace, &name).await?;
    let Some(job) =
        job.filter(|j| j.annotations().get(BACKUP_SOURCE).map(String::as_str) == Some("server"))
    else {
        return Ok(None);
    };
    let recorded = job.annotations().contains_key(scheduled::RECORDED);
    let outcome = match state {
        JobState::Missing | JobState::Running => return Ok(None),
        JobState::Succeeded(JobReport::Backup(report)) => {
            if !recorded {
                catalogue::record(ctx, instance, &report).await?;
            }
            Ok(report.backup)
        }
        JobState::Succeeded(other) => Err(format!("Job {name} reported something else: {other:?}")),
        JobState::Failed(cause) => Err(cause),
    };
    if recorded {
        return Ok(Some(outcome));
    }
    if let Err(cause) = &outcome {
        let note = format!(
            "backup Job {name} failed: {cause}; the earlier backups are kept (`kubectl mysql backup {}` tries again)",
            instance.name
        );
        publish(
            ctx,
            mysql,
            EventType::Warning,
            "BackupFailed",
            "Backup",
            note,
        )
        .await;
    }
    let mark = outcome.clone().unwrap_or_else(|_| "failed".into());
    scheduled::mark_recorded(ctx, &job, &mark).await?;
    Ok(Some(outcome))
}
