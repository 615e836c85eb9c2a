//! The backup side of the lifecycle: the finalizer that backs up before anything goes,
//! and the restore of the latest verified backup into a new server.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::apply::RECLAIMED_FROM;
use super::jobs::{JobState, create_job, delete_job, job_state};
use super::observe::Cached;
use super::status::{Observed, RestoreState};
use super::{Context, catalogue, pool, scheduled};
use crate::backup::{JobReport, latest_verified};
use crate::crd::{MySQL, Phase};
use crate::error::Error;
use crate::resources::{BackupSource, Names, backup_job, restore_job, selector_labels};
use crate::validate::Instance;

/// Held on every instance until its delete-backup is done (or explicitly skipped).
pub const FINALIZER: &str = "otus.homework/backup";
/// `true` on a MySQL object: delete without the backup (`kubectl mysql delete --skip-backup`).
pub const SKIP_BACKUP: &str = "otus.homework/skip-backup";
/// What a deleting instance says while its delete-backup runs.
pub const BACKING_UP: &str = "backing up the data volume";
pub use crate::resources::BACKUP_SOURCE;

/// Replace the finalizer list with a JSON patch whose `test` fails if someone changed the
/// list meanwhile (the way kube-rs's finalizer helper does it).
async fn set_finalizers(
    ctx: &Context,
    mysql: &MySQL,
    wanted: Vec<String>,
    what: &str,
) -> Result<(), Error> {
    let current = mysql.metadata.finalizers.clone();
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": current},
        {"op": if current.is_some() { "replace" } else { "add" }, "path": "/metadata/finalizers", "value": wanted},
    ]))
    .map_err(|e| Error::BadValue(e.to_string()))?;
    let api: Api<MySQL> =
        Api::namespaced(ctx.client.clone(), &mysql.namespace().unwrap_or_default());
    let patched = api
        .patch(
            &mysql.name_any(),
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await
        .map_err(|e| Error::api(format!("{what} of MySQL {}", mysql.name_any()), e))?;
    ctx.observer.wrote_object(Some(mysql), &patched);
    Ok(())
}

/// Add the finalizer; false when it is there already. The CLI and the operator may both
/// add it at once: when the list changed under the patch (its `test` fails), look again.
pub async fn ensure_finalizer(ctx: &Context, mysql: &MySQL) -> Result<bool, Error> {
    let mut current = mysql.clone();
    let mut attempts = 0;
    loop {
        let mut wanted = current.metadata.finalizers.clone().unwrap_or_default();
        if wanted.iter().any(|f| f == FINALIZER) {
            return Ok(false);
        }
        wanted.push(FINALIZER.to_string());
        match set_finalizers(ctx, &current, wanted, "add the finalizer").await {
            Ok(()) => return Ok(true),
            Err(Error::Api {
                source: kube::Error::Api(s),
                ..
            }) if (s.code == 422 || s.code == 409) && attempts < 3 => {
                attempts += 1;
                let api: Api<MySQL> =
                    Api::namespaced(ctx.client.clone(), &mysql.namespace().unwrap_or_default());
                current = api
                    .get(&mysql.name_any())
                    .await
                    .map_err(|e| Error::api(format!("read MySQL {}", mysql.name_any()), e))?;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn remove_finalizer(ctx: &Context, mysql: &MySQL) -> Result<(), Error> {
    let wanted = mysql
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    match set_finalizers(ctx, mysql, wanted, "remove the finalizer").await {
        // Another caller (the operator beside `delete --wait`) released it first and the
        // object went: what this pass was to do is done.
        Err(Error::Api {
            source: kube::Error::Api(s),
            ..
        }) if s.code == 404 => Ok(()),
        other => other,
    }
}

/// What one pass of the deletion did.
pub enum Deletion {
    /// Still working (stopping the server, backing up): look again soon.
    InProgress(Observed),
    /// The backup failed: the finalizer stays and nothing is deleted.
    Blocked(Observed),
    /// Backed up (or skipped), volumes removed, finalizer released.
    Done { backup: Option<String> },
}

fn progress(message: &str, phase: Phase) -> Observed {
    Observed {
        phase,
        failure: None,
        waiting_for: Some(message.into()),
        restore: RestoreState::Undecided,
        new_backup: None,
        backup_outcome: None,
        image: None,
    }
}

/// Delete `current` (read a moment ago); gone already is fine.
async fn delete_ignoring_absent<K: Cached>(ctx: &Context, current: &K) -> Result<(), Error> {
    let name = current.name_any();
    let namespace = current.namespace();
    let api = K::api(&ctx.client, namespace.as_deref());
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {
            ctx.observer.wrote::<K>(
                namespace.as_deref(),
                &name,
                current.resource_version(),
                None,
            );
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::api(format!("delete {} {name}", K::kind(&())), e)),
    }
}

/// The condition reason of an instance whose delete-backup cannot run because its
/// namespace is being deleted.
pub const NAMESPACE_TERMINATING: &str = "NamespaceTerminating";

/// The finalizer: stop the server (one writer on the data volume), back the database up
/// from the data volume (when a backup slot is free), record the backup, remove the data
/// volume, release.
///
/// In a namespace being deleted the API server refuses every create (finding 57), the
/// delete-backup Job's included, and the namespace controller takes the data claim away.
/// The backup cannot run there, and releasing the finalizer anyway would lose the rows
/// written since the last backup without anyone having said so. So the finalizer stays:
/// the namespace waits, Terminating, on it (NamespaceFinalizersRemaining), the instance
/// says why and how to let it go (`delete --skip-backup`), and the data stays on its
/// volume (Retain) meanwhile. A namespace never stops terminating, so once the status
/// says so no pass tries a create again: the instance costs no request until it changes.
pub async fn finalize(
    ctx: &Context,
    mysql: &MySQL,
    instance: &Instance,
) -> Result<Deletion, Error> {
    if !skips_backup(mysql) && refused_for_terminating_namespace(mysql) {
        return Ok(Deletion::Blocked(namespace_terminating(instance)));
    }
    match finalize_steps(ctx, mysql, instance).await {
        Err(e) if e.is_namespace_terminating() => {
            tracing::warn!(
                instance = %instance.name,
                namespace = %instance.namespace,
                error = %e,
                "the namespace is being deleted: the delete-backup cannot run, the finalizer stays"
            );
            Ok(Deletion::Blocked(namespace_terminating(instance)))
        }
        other => other,
    }
}

/// Whether the status already says that the namespace refused the delete-backup.
fn refused_for_terminating_namespace(mysql: &MySQL) -> bool {
    mysql.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.reason == NAMESPACE_TERMINATING && c.status == "True")
    })
}

/// What the instance says when its namespace is being deleted under it.
fn namespace_terminating(instance: &Instance) -> Observed {
    let names = Names::new(instance);
    let (name, ns) = (&instance.name, &instance.namespace);
    let data = match instance.storage_class {
        None => format!("PersistentVolume {}", names.data_pv()),
        Some(_) => format!("the volume of claim {}", names.data_pvc()),
    };
    // A provisioned volume follows its class's reclaim policy (Delete by default): only
    // the hostPath volumes the product makes are surely kept.
    let backups = match &instance.storage_class {
        None => format!("on PersistentVolume {}, which is kept", names.backup_pv()),
        Some(class) => format!(
            "on the backup volume only if storage class {class} retains volumes (reclaimPolicy Retain)"
        ),
    };
    Observed::failed(
        NAMESPACE_TERMINATING,
        &format!(
            "namespace {ns} is being deleted: the delete-backup cannot run there (a namespace being deleted refuses new Jobs), so nothing was deleted and the data stays on {data}; `kubectl mysql delete {name} -n {ns} --skip-backup` lets the namespace go without a new backup (the backups already taken stay {backups})"
        ),
    )
}

async fn finalize_steps(
    ctx: &Context,
    mysql: &MySQL,
    instance: &Instance,
) -> Result<Deletion, Error> {
    let ns = instance.namespace.clone();
    let names = Names::new(instance);
    let client = &ctx.client;
    let observer = &ctx.observer;
    let mut backup = None;
    // No scheduled run may start from now on; one already going ends first, while the
    // server it reads from still runs.
    scheduled::suspend(ctx, instance).await?;
    if !skips_backup(mysql) {
        if let Some(run) = scheduled::running(ctx, instance).await? {
            return Ok(Deletion::InProgress(progress(
                &format!("waiting for the scheduled backup {run} to end"),
                Phase::Deleting,
            )));
        }
        let deployment: Option<Deployment> =
            observer.get(client, Some(&ns), &names.server()).await?;
        if let Some(d) = deployment {
            if d.metadata.deletion_timestamp.is_none() {
                delete_ignoring_absent(ctx, &d).await?;
            }
            return Ok(Deletion::InProgress(progress(
                "stopping the server before the backup",
                Phase::Deleting,
            )));
        }
        let running: Vec<Pod> = observer
            .list(client, &ns, &selector_labels(instance))
            .await?;
        if !running.is_empty() {
            return Ok(Deletion::InProgress(progress(
                "waiting for the server's pod to stop",
                Phase::Deleting,
            )));
        }
        let (state, job) = job_state(ctx, &ns, &names.backup_job()).await?;
        let from_volume = job.as_ref().is_some_and(|j| {
            j.annotations()
                .get(BACKUP_SOURCE)
                .is_some_and(|s| s == "data-volume")
        });
        match state {
            JobState::Missing => {
                let job = delete_backup_job(instance);
                return Ok(match pool::start(ctx, mysql, &job).await? {
                    pool::Slot::Taken => {
                        Deletion::InProgress(progress(BACKING_UP, Phase::BackingUp))
                    }
                    pool::Slot::Wait { ahead, running } => Deletion::InProgress(progress(
                        &pool::waiting_message(ahead, running, ctx.max_concurrent_backups),
                        Phase::Deleting,
                    )),
                });
            }
            // A finished on-demand backup of the same name: replace it with the delete-backup.
            JobState::Succeeded(_) | JobState::Failed(_) if !from_volume => {
                if let Some(old) = &job {
                    delete_job(ctx, old).await?;
                }
                return Ok(Deletion::InProgress(progress(
                    "replacing a finished backup Job",
                    Phase::BackingUp,
                )));
            }
            JobState::Running => {
                return Ok(Deletion::InProgress(progress(BACKING_UP, Phase::BackingUp)));
            }
            JobState::Failed(cause) => {
                return Ok(Deletion::Blocked(Observed::failed(
                    "BackupFailed",
                    &format!(
                        "the delete-backup failed, nothing was deleted: {cause}; fix the cause, or `kubectl mysql delete {} --skip-backup` to delete without a backup",
                        instance.name
                    ),
                )));
            }
            JobState::Succeeded(JobReport::Backup(report)) => {
                catalogue::record(ctx, instance, &report).await?;
                backup = Some(report.backup);
            }
            JobState::Succeeded(other) => {
                return Ok(Deletion::Blocked(Observed::failed(
                    "BackupFailed",
                    &format!("the backup Job reported something else: {other:?}"),
                )));
            }
        }
        if let Some(done) = &job {
            delete_job(ctx, done).await?;
        }
    }
    // The data volume goes only now, after a verified backup (or an explicit skip).
    let claim: Option<PersistentVolumeClaim> =
        observer.get(client, Some(&ns), &names.data_pvc()).await?;
    if let Some(claim) = claim.filter(|c| c.metadata.deletion_timestamp.is_none()) {
        delete_ignoring_absent(ctx, &claim).await?;
    }
    if instance.storage_class.is_none() {
        let volume: Option<PersistentVolume> = observer.get(client, None, &names.data_pv()).await?;
        if let Some(volume) = volume.filter(|v| v.metadata.deletion_timestamp.is_none()) {
            delete_ignoring_absent(ctx, &volume).await?;
        }
    }
    remove_finalizer(ctx, mysql).await?;
    Ok(Deletion::Done { backup })
}

/// The delete-backup: from the data volume (the server stopped), which it empties once
/// the dump is verified.
pub fn delete_backup_job(instance: &Instance) -> k8s_openapi::api::batch::v1::Job {
    let mut job = backup_job(
        instance,
        BackupSource::DataVolume,
        instance.backup_retention,
    );
    job.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(BACKUP_SOURCE.into(), "data-volume".into());
    job
}

/// Whether the instance is to be deleted without a backup (`delete --skip-backup`).
pub fn skips_backup(mysql: &MySQL) -> bool {
    mysql
        .annotations()
        .get(SKIP_BACKUP)
        .is_some_and(|v| v == "true")
}

/// Restore on create: once the server is up, load the latest verified backup (if any)
/// exactly once. The Job picks it on the volume itself: a newer backup that no longer
/// passes verification (damaged on disk since) is passed over and named in `skipped`,
/// not the end of the restore. Returns the decision, why the restore failed if it did,
/// and what was passed over.
pub async fn restore_step(
    ctx: &Context,
    instance: &Instance,
    recorded: RestoreState,
) -> Result<(RestoreState, Option<String>, Vec<String>), Error> {
    if matches!(recorded, RestoreState::Done(_) | RestoreState::NotNeeded) {
        return Ok((recorded, None, Vec::new()));
    }
    let names = Names::new(instance);
    let (state, job) = job_state(ctx, &instance.namespace, &names.restore_job()).await?;
    let job_backup = job
        .as_ref()
        .and_then(|j| j.spec.as_ref())
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.env.as_ref())
        .and_then(|env| env.iter().find(|e| e.name == "BACKUP_NAME"))
        .and_then(|e| e.value.clone())
        .unwrap_or_default();
    match state {
        JobState::Running => Ok((RestoreState::Running(job_backup), None, Vec::new())),
        JobState::Succeeded(JobReport::Restore(report)) => {
            // Restored from a reclaimed volume without a catalogue: the catalogue starts
            // again with the backup the restore verified and loaded.
            let entries = catalogue::read_in(ctx, &instance.namespace, &instance.name).await?;
            if !entries.iter().any(|e| e.name == report.backup) {
                catalogue::record_restored(ctx, instance, &report).await?;
            }
            Ok((RestoreState::Done(report.backup), None, report.skipped))
        }
        JobState::Succeeded(_) => Ok((
            RestoreState::Undecided,
            Some("the restore Job reported no restore".into()),
            Vec::new(),
        )),
        // The restore of a reclaimed volume that held no verified backup after all: there
        // was nothing to restore, which is no failure.
        JobState::Failed(cause)
            if cause.contains(NOTHING_TO_RESTORE)
                && reclaimed_without_catalogue(ctx, instance).await? =>
        {
            if let Some(old) = &job {
                delete_job(ctx, old).await?;
            }
            Ok((RestoreState::NotNeeded, None, Vec::new()))
        }
        JobState::Failed(cause) if matches!(recorded, RestoreState::Running(_)) => {
            Ok((RestoreState::Undecided, Some(cause), Vec::new()))
        }
        // A finished Job from an earlier instance of the same name: not ours to read.
        JobState::Failed(_) => {
            if let Some(old) = &job {
                delete_job(ctx, old).await?;
            }
            Ok((RestoreState::Undecided, None, Vec::new()))
        }
        // The data volume itself came back (its finalizer was bypassed, and the operator
        // made it bindable again): the server runs on the newest data there is, which no
        // backup may overwrite.
        JobState::Missing if reclaimed(ctx, &Names::new(instance).data_pv(), instance).await? => {
            Ok((RestoreState::NotNeeded, None, Vec::new()))
        }
        JobState::Missing => {
            let entries = catalogue::read_in(ctx, &instance.namespace, &instance.name).await?;
            match latest_verified(&entries) {
                // The catalogue went with its namespace, but the backup volume is one the
                // operator made bindable again (it held this instance's backups before):
                // the restore Job looks on the volume itself for the newest verified one.
                None if entries.is_empty()
                    && reclaimed_without_catalogue(ctx, instance).await? =>
                {
                    create_job(ctx, &restore_job(instance, None)).await?;
                    Ok((RestoreState::Running(String::new()), None, Vec::new()))
                }
                None => Ok((RestoreState::NotNeeded, None, Vec::new())),
                Some(_) => {
                    // No name: the script verifies on the volume, newest first.
                    create_job(ctx, &restore_job(instance, None)).await?;
                    Ok((RestoreState::Running(String::new()), None, Vec::new()))
                }
            }
        }
    }
}

/// What the restore script says when the volume holds no verified backup.
const NOTHING_TO_RESTORE: &str = "no verified backup in";

/// Whether the instance's backup volume was reclaimed by the operator (a Released volume
/// made bindable again, [`RECLAIMED_FROM`]) and no catalogue lists its backups: the rule
/// for restoring from the volume alone. A new volume, or one whose catalogue survived,
/// takes the ordinary way.
async fn reclaimed_without_catalogue(ctx: &Context, instance: &Instance) -> Result<bool, Error> {
    if instance.storage_class.is_some() {
        return Ok(false);
    }
    let entries = catalogue::read_in(ctx, &instance.namespace, &instance.name).await?;
    if !entries.is_empty() {
        return Ok(false);
    }
    reclaimed(ctx, &Names::new(instance).backup_pv(), instance).await
}

/// Whether the instance's hostPath volume `name` is one the operator made bindable again.
async fn reclaimed(ctx: &Context, name: &str, instance: &Instance) -> Result<bool, Error> {
    if instance.storage_class.is_some() {
        return Ok(false);
    }
    let volume: Option<PersistentVolume> = ctx.observer.get(&ctx.client, None, name).await?;
    Ok(volume.is_some_and(|v| v.annotations().contains_key(RECLAIMED_FROM)))
}

#[cfg(test)]
mod tests {
    use super::{NAMESPACE_TERMINATING, namespace_terminating};
    use crate::resources::fixtures::{seed_instance, with_storage_class};

    #[test]
    fn a_terminating_namespace_names_the_volumes_and_the_way_out() {
        let failure = namespace_terminating(&seed_instance())
            .failure
            .expect("a failure");
        assert_eq!(failure.reason, NAMESPACE_TERMINATING);
        for said in [
            "namespace default is being deleted",
            "the data stays on PersistentVolume default.mysql-instance-pv",
            "`kubectl mysql delete mysql-instance -n default --skip-backup`",
            "stay on PersistentVolume default.backup-mysql-instance-pv, which is kept",
        ] {
            assert!(
                failure.message.contains(said),
                "{said:?} in {}",
                failure.message
            );
        }
        // A provisioned backup volume is kept only if its class retains volumes.
        let failure = namespace_terminating(&with_storage_class("standard"))
            .failure
            .expect("a failure");
        assert!(
            failure
                .message
                .contains("only if storage class standard retains volumes"),
            "{}",
            failure.message
        );
    }
}
