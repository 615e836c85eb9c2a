//! Scheduled backups: the Jobs the backup CronJob starts. The cluster's CronJob controller
//! keeps time; the reconcile records each run once it has ended (a backup enters the
//! catalogue and `status.lastBackup`, a failure is an Event) and marks the Job so that it
//! is read once. Finished Jobs stay for the CronJob's history.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use serde_json::json;

use super::jobs::{JobState, finished, job_state};
use super::{Context, catalogue, publish};
use crate::backup::JobReport;
use crate::crd::MySQL;
use crate::error::Error;
use crate::resources::{BACKUP_SOURCE, Component, FIELD_MANAGER, Names, SCHEDULED, labels};
use crate::validate::Instance;

/// On a finished scheduled Job: the backup it recorded, or `failed`.
pub const RECORDED: &str = "otus.homework/recorded";

/// The Jobs the instance's backup CronJob started, oldest first.
pub async fn runs(ctx: &Context, instance: &Instance) -> Result<Vec<Job>, Error> {
    let selector = labels(instance, Component::Backup);
    let mut jobs: Vec<Job> = (ctx.observer)
        .list(&ctx.client, &instance.namespace, &selector)
        .await?;
    jobs.retain(|j| j.annotations().get(BACKUP_SOURCE).map(String::as_str) == Some(SCHEDULED));
    jobs.sort_by_key(|j| j.creation_timestamp().map(|t| t.0));
    Ok(jobs)
}

/// A scheduled run still going, if any: it holds the backup volume.
pub async fn running(ctx: &Context, instance: &Instance) -> Result<Option<String>, Error> {
    if instance.backup_schedule.is_none() {
        return Ok(None);
    }
    let runs = runs(ctx, instance).await?;
    Ok(runs
        .iter()
        .find(|j| !finished(j) && j.metadata.deletion_timestamp.is_none())
        .map(ResourceExt::name_any))
}

/// Record every finished run not recorded yet; the newest backup recorded, if any.
pub async fn record_finished(
    ctx: &Context,
    mysql: &MySQL,
    instance: &Instance,
) -> Result<Option<String>, Error> {
    if instance.backup_schedule.is_none() {
        return Ok(None);
    }
    let mut newest = None;
    for job in runs(ctx, instance).await? {
        if !finished(&job) || job.annotations().contains_key(RECORDED) {
            continue;
        }
        let name = job.name_any();
        let (state, _) = job_state(ctx, &instance.namespace, &name).await?;
        let mark = match state {
            JobState::Succeeded(JobReport::Backup(report)) => {
                catalogue::record(ctx, instance, &report).await?;
                let note = format!(
                    "scheduled backup {} ({} bytes) by Job {name}",
                    report.backup, report.size
                );
                publish(ctx, mysql, EventType::Normal, "BackedUp", "Backup", note).await;
                newest = newest.max(Some(report.backup.clone()));
                report.backup
            }
            JobState::Succeeded(other) => {
                let note = format!("Job {name} reported something else: {other:?}");
                publish(
                    ctx,
                    mysql,
                    EventType::Warning,
                    "ScheduledBackupFailed",
                    "Backup",
                    note,
                )
                .await;
                "failed".into()
            }
            JobState::Failed(cause) => {
                let note = format!(
                    "scheduled backup Job {name} failed: {cause}; the schedule tries again at its next run"
                );
                publish(
                    ctx,
                    mysql,
                    EventType::Warning,
                    "ScheduledBackupFailed",
                    "Backup",
                    note,
                )
                .await;
                "failed".into()
            }
            JobState::Missing | JobState::Running => continue,
        };
        mark_recorded(ctx, &job, &mark).await?;
    }
    Ok(newest)
}

pub async fn mark_recorded(ctx: &Context, job: &Job, mark: &str) -> Result<(), Error> {
    let patch = json!({"metadata": {"annotations": {RECORDED: mark}}});
    // Gone meanwhile (the CronJob's history limit): recorded all the same.
    merge_patch(ctx, job, &patch, "mark Job {} recorded")
        .await
        .map(|_| ())
}

/// Suspend the instance's backup CronJob (before its delete-backup: no run may start on
/// a server being stopped). False when there is none to suspend.
pub async fn suspend(ctx: &Context, instance: &Instance) -> Result<bool, Error> {
    let name = Names::new(instance).backup_cron();
    let ns = instance.namespace.as_str();
    let cron: Option<CronJob> = ctx.observer.get(&ctx.client, Some(ns), &name).await?;
    let Some(cron) = cron.filter(|c| {
        c.metadata.deletion_timestamp.is_none()
            && c.spec.as_ref().and_then(|s| s.suspend) != Some(true)
    }) else {
        return Ok(false);
    };
    let patch = json!({"spec": {"suspend": true}});
    merge_patch(ctx, &cron, &patch, "suspend CronJob {}").await
}

/// A merge patch of `object` by the product's field manager; false when it is gone.
/// `what` names the step, `{}` standing for the object's name.
async fn merge_patch<K>(
    ctx: &Context,
    object: &K,
    patch: &serde_json::Value,
    what: &str,
) -> Result<bool, Error>
where
    K: super::observe::Cached,
{
    let name = object.name_any();
    let api = K::api(&ctx.client, object.namespace().as_deref());
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    match api.patch(&name, &params, &Patch::Merge(patch)).await {
        Ok(patched) => {
            ctx.observer.wrote_object(Some(object), &patched);
            Ok(true)
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(Error::api(what.replace("{}", &name), e)),
    }
}
