//! A change of `spec.image` on a running server: back up first (from the server, on the
//! image it runs), then roll; never to an older MySQL release series, which cannot boot
//! on the data ("Downgrade is not supported"). Until then the Deployment keeps the image
//! it has, so nothing is lost whatever the answer.
//!
//! The CRD refuses a downgrade at admission where both tags name a version; here the
//! server's own version (from the pre-upgrade backup's dump) decides the rest, such as
//! `mysql:latest` → `mysql:8.4`.

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;

use super::jobs::{JobState, delete_job, job_state};
use super::lifecycle::BACKUP_SOURCE;
use super::status::{Observed, RestoreState};
use super::{Context, catalogue, pool};
use crate::backup::JobReport;
use crate::crd::{MySQL, Phase};
use crate::error::Error;
use crate::image::{Series, tag_series, version_series};
use crate::resources::{BackupSource, Names, SERVER_CONTAINER, backup_job};
use crate::validate::Instance;

/// On the pre-upgrade backup Job: the image it clears the way for.
pub const UPGRADE_TO: &str = "otus.homework/upgrade-to";
/// `BACKUP_SOURCE` of a pre-upgrade backup.
const PRE_UPGRADE: &str = "pre-upgrade";

/// What a pass does about the server's image.
#[derive(Debug)]
pub enum Upgrade {
    /// Apply the spec as it is: no server yet, it runs the spec's image, or it is not
    /// running (there is nothing to back up from, and nothing would be lost).
    Apply,
    /// Keep the Deployment on `running` (the backup runs, waits, failed, or the change
    /// is refused); the instance says why.
    Hold { running: String, observed: Observed },
    /// Backed up: roll to the spec's image, then remove `job`.
    Roll {
        from: String,
        backup: String,
        job: Box<k8s_openapi::api::batch::v1::Job>,
    },
}

/// The server container's image in the Deployment.
fn deployed_image(deployment: &Deployment) -> Option<String> {
    let pod = deployment.spec.as_ref()?.template.spec.as_ref()?;
    let container = pod.containers.iter().find(|c| c.name == SERVER_CONTAINER)?;
    container.image.clone()
}

fn available(deployment: &Deployment) -> bool {
    let status = deployment.status.clone().unwrap_or_default();
    status.available_replicas.unwrap_or(0) >= 1
}

/// Why going from `from` (running `version`, when known) to `to` is refused, if it is.
pub fn refusal(from: &str, version: Option<&str>, to: &str) -> Option<String> {
    let target = tag_series(to)?;
    let (current, said): (Series, String) = match version.and_then(version_series) {
        Some(series) => (
            series,
            format!("the server runs {}", version.unwrap_or_default()),
        ),
        None => (tag_series(from)?, format!("the server runs {from}")),
    };
    current.is_downgrade_to(target).then(|| {
        format!(
            "spec.image {to} is an older MySQL release series ({target}) than {said}; MySQL cannot run on data a newer release wrote (\"Downgrade is not supported\"). The server keeps {from}: set spec.image back to it, or restore a backup into a new instance of {to}"
        )
    })
}

fn holding(running: &str, phase: Phase, waiting: String) -> Upgrade {
    Upgrade::Hold {
        running: running.to_string(),
        observed: Observed {
            phase,
            failure: None,
            waiting_for: Some(waiting),
            restore: RestoreState::Undecided,
            new_backup: None,
            backup_outcome: None,
            image: None,
        },
    }
}

fn refused(running: &str, reason: &str, message: String) -> Upgrade {
    Upgrade::Hold {
        running: running.to_string(),
        observed: Observed::failed(reason, &message),
    }
}

/// Decide, and start the pre-upgrade backup when it is time. Also gives the Deployment
/// as it read it, for the apply step to start from (one read a pass).
pub async fn step(
    ctx: &Context,
    mysql: &MySQL,
    instance: &Instance,
) -> Result<(Upgrade, Option<Deployment>), Error> {
    let names = Names::new(instance);
    let deployment: Option<Deployment> = (ctx.observer)
        .get(&ctx.client, Some(&instance.namespace), &names.server())
        .await?;
    let decision = decide(ctx, mysql, instance, deployment.as_ref()).await?;
    Ok((decision, deployment))
}

async fn decide(
    ctx: &Context,
    mysql: &MySQL,
    instance: &Instance,
    deployment: Option<&Deployment>,
) -> Result<Upgrade, Error> {
    let names = Names::new(instance);
    let Some(deployment) = deployment else {
        return Ok(Upgrade::Apply);
    };
    let Some(running) = deployed_image(deployment).filter(|i| *i != instance.image) else {
        return Ok(Upgrade::Apply);
    };
    let to = &instance.image;
    // An object stored before the CRD had its rule, or a server that skipped it.
    if let Some(why) = refusal(&running, None, to) {
        return Ok(refused(&running, "DowngradeRefused", why));
    }
    if !available(deployment) {
        return Ok(Upgrade::Apply);
    }
    let (state, job) = job_state(ctx, &instance.namespace, &names.backup_job()).await?;
    let annotation = |key: &str| {
        job.as_ref()
            .and_then(|j| j.annotations().get(key).cloned())
            .unwrap_or_default()
    };
    let ours = annotation(BACKUP_SOURCE) == PRE_UPGRADE && annotation(UPGRADE_TO) == *to;
    let waiting = format!("backing up before the upgrade from {running} to {to}");
    match state {
        JobState::Missing => {
            let mut job = backup_job(instance, BackupSource::Server, instance.backup_retention);
            let annotations = job
                .metadata
                .annotations
                .get_or_insert_with(Default::default);
            annotations.insert(BACKUP_SOURCE.into(), PRE_UPGRADE.into());
            annotations.insert(UPGRADE_TO.into(), to.clone());
            Ok(match pool::start(ctx, mysql, &job).await? {
                pool::Slot::Taken => holding(&running, Phase::BackingUp, waiting),
                pool::Slot::Wait {
                    ahead,
                    running: busy,
                } => holding(
                    &running,
                    Phase::BackingUp,
                    pool::waiting_message(ahead, busy, ctx.max_concurrent_backups),
                ),
            })
        }
        JobState::Running => Ok(holding(&running, Phase::BackingUp, waiting)),
        // Another backup of this instance finished (on demand, or before another image):
        // make room for this one.
        JobState::Succeeded(_) | JobState::Failed(_) if !ours => {
            if let Some(old) = &job {
                delete_job(ctx, old).await?;
            }
            Ok(holding(&running, Phase::BackingUp, waiting))
        }
        JobState::Failed(cause) => Ok(refused(
            &running,
            "PreUpgradeBackupFailed",
            format!(
                "the backup before the upgrade from {running} to {to} failed, so the server keeps {running}: {cause}; set spec.image back, or delete Job {} to try again",
                names.backup_job()
            ),
        )),
        JobState::Succeeded(JobReport::Backup(report)) => {
            catalogue::record(ctx, instance, &report).await?;
            if let Some(why) = refusal(&running, report.server_version.as_deref(), to) {
                // The Job stays: it is the record of the decision until spec.image changes.
                return Ok(refused(&running, "DowngradeRefused", why));
            }
            Ok(Upgrade::Roll {
                from: running,
                backup: report.backup,
                job: Box::new(job.unwrap_or_default()),
            })
        }
        JobState::Succeeded(other) => Ok(refused(
            &running,
            "PreUpgradeBackupFailed",
            format!("the backup Job reported something else: {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn a_downgrade_is_refused_from_the_tag_or_from_the_servers_own_version() {
        let why = refusal("mysql:9.7", None, "mysql:8.4").expect("refused by the tags");
        assert!(why.starts_with("spec.image mysql:8.4 is an older MySQL release series (8.4) than the server runs mysql:9.7"), "{why}");
        assert!(why.contains("The server keeps mysql:9.7"), "{why}");
        // `latest` says nothing; the server said 9.7.0 in its dump.
        assert_eq!(refusal("mysql:latest", None, "mysql:8.4"), None);
        let why =
            refusal("mysql:latest", Some("9.7.0"), "mysql:8.4").expect("refused by the version");
        assert!(why.contains("than the server runs 9.7.0"), "{why}");
        assert_eq!(refusal("mysql:latest", Some("9.7.0"), "mysql:9.7"), None);
        assert_eq!(
            refusal("mysql:8.4", Some("8.4.8"), "mysql:latest"),
            None,
            "unknown target"
        );
        assert_eq!(refusal("mysql:8.4", Some("8.4.8"), "mysql:9.7"), None);
    }
}
