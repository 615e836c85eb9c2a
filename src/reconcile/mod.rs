//! The reconcile library: one level-triggered, idempotent pass that brings an instance's
//! children and status to what its spec asks for. The CLI (`create`) and the operator's
//! watch loop call the same [`reconcile`]; it is never told why it runs.
//!
//! read (the object, its password Secret) -> validate (pure) -> build (pure) -> apply
//! (server-side apply, one field manager, only what differs) -> status (written once,
//! only when it changed) and Events.

mod apply;
pub mod catalogue;
pub mod jobs;
pub mod lifecycle;
pub mod observe;
pub mod ondemand;
pub mod pool;
pub mod scheduled;
mod status;
pub mod upgrade;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::Api;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};

use crate::crd::{MySQL, Phase};
use crate::error::Error;
use crate::image;
use crate::resources::{self, FIELD_MANAGER, Wanted};
use crate::validate::{self, Instance, PasswordSource};

pub use apply::{Applier, ApplyCount, RECLAIMED_FROM, contains, keep_claim_binding, stale_claim};
pub use lifecycle::{FINALIZER, SKIP_BACKUP};
pub use observe::{Caches, Observer};
pub use status::{Observed, RestoreState, desired_status};
pub use upgrade::Upgrade;

/// What one reconcile needs: a client, an Event recorder, where to read the cluster
/// from, and how many backups may run at once.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    reporter: Reporter,
    pub observer: Observer,
    pub max_concurrent_backups: usize,
}

impl Context {
    /// Reads from the API server. `instance` tells Events from the operator (its pod
    /// name) and the CLI apart.
    pub fn new(client: Client, instance: &str) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: Some(instance.into()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter.clone()),
            reporter,
            client,
            observer: Observer::api(),
            max_concurrent_backups: usize::from(pool::DEFAULT_MAX_CONCURRENT_BACKUPS),
        }
    }

    /// The same context for one pass: its own record of writes, and its own Event
    /// recorder. kube's recorder keeps every Event it sent for 6 minutes (about 1.4 KB
    /// each) to turn repeats into a series; shared by the operator, that was 9 MB at
    /// 1,000 instances. A pass publishes only on a change, so a repeat across passes is
    /// a new occurrence and gets an Event of its own.
    pub fn for_pass(&self) -> Self {
        Self {
            observer: self.observer.for_pass(),
            recorder: Recorder::new(self.client.clone(), self.reporter.clone()),
            ..self.clone()
        }
    }
}

/// What a reconcile found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub phase: Phase,
    /// Children written (created or repaired); 0 for a converged instance.
    pub applied: usize,
    /// Whether the status was written.
    pub status_written: bool,
    /// When to look again without a change (a periodic resync catches drift in objects
    /// that are not watched, such as the volumes).
    pub requeue_after: Option<Duration>,
}

/// How long an instance waits for a look without a change: what it waits for is watched,
/// so this is only a safety net (the operator adds jitter).
pub const RESYNC: Duration = Duration::from_secs(300);

/// One pass over one instance.
pub async fn reconcile(mysql: &MySQL, ctx: &Context) -> Result<Outcome, Error> {
    let namespace = mysql
        .namespace()
        .ok_or_else(|| Error::BadValue("a MySQL object without a namespace".into()))?;
    if mysql.metadata.deletion_timestamp.is_some() {
        return delete(mysql, ctx, &namespace).await;
    }
    lifecycle::ensure_finalizer(ctx, mysql).await?;

    // validate (pure): an invalid spec waits for the next change, it is not retried.
    let mut instance = match validate::instance(mysql, &namespace) {
        Ok(instance) => instance,
        Err(e) => {
            let observed = Observed::failed("InvalidSpec", &e.to_string());
            return finish(mysql, ctx, observed, 0).await;
        }
    };
    // read: a referenced Secret must exist with its key.
    if let Some((reason, problem)) = password_problem(&ctx.client, &instance).await? {
        let observed = Observed::failed(reason, &problem);
        return finish(mysql, ctx, observed, 0).await;
    }

    // A new spec.image on a running server: backed up first; until then (or when it is
    // refused) the Deployment keeps the image it runs.
    let (upgrade, deployment_read) = upgrade::step(ctx, mysql, &instance).await?;
    let held = match &upgrade {
        Upgrade::Hold { running, .. } => Some(Instance {
            image: running.clone(),
            ..instance.clone()
        }),
        _ => None,
    };

    // build (pure) and apply what differs.
    let mut children = resources::children(held.as_ref().unwrap_or(&instance));
    // The schedule starts once restore-on-create has decided: a run before it would back
    // up the still empty database and hold the backup volume the restore needs.
    let recorded = RestoreState::recorded(&mysql.status.clone().unwrap_or_default());
    let mut deferred_schedule = None;
    if !matches!(recorded, RestoreState::Done(_) | RestoreState::NotNeeded)
        && let Wanted::Present(cron) = &children.backup_cron
    {
        deferred_schedule = Some(cron.clone());
        children.backup_cron = Wanted::Later;
    }
    let mut applier = Applier::new(ctx, &namespace);
    applier.read_already(&children.deployment, deployment_read);
    applier.converge(&children).await?;
    let mut pre_upgrade_backup = None;
    match upgrade {
        Upgrade::Apply => {}
        Upgrade::Hold { observed, .. } => {
            let before = mysql.status.as_ref().and_then(|s| s.message.clone());
            let step = observed.waiting_for.clone();
            let outcome = finish(mysql, ctx, observed, applier.count.written).await?;
            if outcome.status_written && step.is_some() && before != step {
                let note = step.unwrap_or_default();
                publish(ctx, mysql, EventType::Normal, "Upgrading", "Upgrade", note).await;
            }
            return Ok(outcome);
        }
        Upgrade::Roll { from, backup, job } => {
            jobs::delete_job(ctx, &job).await?;
            let note = format!(
                "backed up to {backup}; rolling the server from {from} to {}",
                instance.image
            );
            publish(ctx, mysql, EventType::Normal, "Upgrading", "Upgrade", note).await;
            pre_upgrade_backup = Some(backup);
        }
    }
    // Scheduled runs that ended since the last pass enter the catalogue.
    let scheduled_backup = scheduled::record_finished(ctx, mysql, &instance).await?;
    let backup_outcome = ondemand::record_finished(ctx, mysql, &instance).await?;
    let deployment: Option<Deployment> = applier.deployment.clone();
    let mut observed = Observed::from_deployment(&instance, deployment.as_ref());
    observed.new_backup = pre_upgrade_backup;
    if observed.phase == Phase::Ready {
        // The image the server runs, pinned: the status records it, the Jobs run it.
        let pods: Vec<Pod> = (ctx.observer)
            .list(
                &ctx.client,
                &namespace,
                &resources::selector_labels(&instance),
            )
            .await?;
        observed.image = image::running_image(&pods, resources::SERVER_CONTAINER);
        if let Some(running) = &observed.image {
            instance.server_image = Some(running.clone());
        }
        let (restore, failure, skipped) =
            lifecycle::restore_step(ctx, &instance, recorded.clone()).await?;
        if let RestoreState::Running(_) = restore {
            observed.phase = Phase::Restoring;
        }
        if let RestoreState::Done(backup) = &restore
            && !matches!(recorded, RestoreState::Done(_))
        {
            publish(
                ctx,
                mysql,
                EventType::Normal,
                "Restored",
                "Restore",
                format!("loaded backup {backup}"),
            )
            .await;
            if !skipped.is_empty() {
                let note = format!(
                    "passed over newer backups that failed verification (damaged or incomplete on the volume): {}; loaded {backup} instead",
                    skipped.join(", ")
                );
                publish(
                    ctx,
                    mysql,
                    EventType::Warning,
                    "BackupSkipped",
                    "Restore",
                    note,
                )
                .await;
            }
        }
        // Decided in this pass: the schedule starts now.
        if matches!(restore, RestoreState::Done(_) | RestoreState::NotNeeded)
            && let Some(cron) = &deferred_schedule
        {
            applier.apply(cron).await?;
        }
        observed.restore = restore;
        if let Some(cause) = failure {
            observed = Observed::failed(
                "RestoreFailed",
                &format!(
                    "the restore failed: {cause}; the server runs without the backup's data (`kubectl mysql restore {}` tries again)",
                    instance.name
                ),
            );
        }
    }
    observed.new_backup = observed.new_backup.max(scheduled_backup);
    observed.backup_outcome = backup_outcome;
    let count = applier.count;
    if count.written > 0 {
        publish(
            ctx,
            mysql,
            EventType::Normal,
            "Applied",
            "Reconcile",
            format!(
                "applied {} of {} objects: {}",
                count.written,
                count.total,
                count.names.join(", ")
            ),
        )
        .await;
    }
    finish(mysql, ctx, observed, count.written).await
}

/// The deletion pipeline behind the finalizer.
async fn delete(mysql: &MySQL, ctx: &Context, namespace: &str) -> Result<Outcome, Error> {
    if !mysql.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Outcome {
            phase: Phase::Deleting,
            applied: 0,
            status_written: false,
            requeue_after: None,
        });
    }
    let instance = match validate::instance(mysql, namespace) {
        Ok(instance) => instance,
        Err(e) => {
            let observed = Observed::failed(
                "InvalidSpec",
                &format!("cannot back up before deleting: {e}"),
            );
            return finish(mysql, ctx, observed, 0).await;
        }
    };
    match lifecycle::finalize(ctx, mysql, &instance).await? {
        lifecycle::Deletion::InProgress(observed) | lifecycle::Deletion::Blocked(observed) => {
            let before = mysql.status.as_ref().and_then(|s| s.message.clone());
            let now = observed.waiting_for.clone();
            let outcome = finish(mysql, ctx, observed, 0).await?;
            // The steps a person waits on are Events: queued for a backup slot (once, not
            // each time its place in the queue moves) and backing up; stopping the
            // server is over in seconds and says so in the status only.
            let waiting = |m: &str| m.starts_with(pool::WAITING_PREFIX);
            let new_step = match (before.as_deref(), now.as_deref()) {
                (_, None) => false,
                (Some(b), Some(n)) => b != n && !(waiting(b) && waiting(n)),
                (None, Some(_)) => true,
            } && now
                .as_deref()
                .is_some_and(|n| waiting(n) || n == lifecycle::BACKING_UP);
            if new_step
                && outcome.status_written
                && let Some(step) = now
            {
                publish(ctx, mysql, EventType::Normal, "Deleting", "Delete", step).await;
            }
            Ok(outcome)
        }
        lifecycle::Deletion::Done { backup } => {
            let note = match &backup {
                Some(b) => format!("backed up to {b}; data volume removed"),
                None => "deleted without a backup (--skip-backup); data volume removed".into(),
            };
            publish(ctx, mysql, EventType::Normal, "Deleted", "Delete", note).await;
            Ok(Outcome {
                phase: Phase::Deleting,
                applied: 0,
                status_written: false,
                requeue_after: None,
            })
        }
    }
}

/// Write the status if it changed, with an Event for each new phase or failure.
async fn finish(
    mysql: &MySQL,
    ctx: &Context,
    observed: Observed,
    applied: usize,
) -> Result<Outcome, Error> {
    let current = mysql.status.clone().unwrap_or_default();
    let desired = desired_status(mysql, &current, &observed, &status::now());
    let changed = status::differs(&current, &desired);
    if changed {
        status::write(ctx, mysql, &desired).await?;
        let phase_changed = current.phase != desired.phase;
        if let Some(failure) = &observed.failure {
            publish(
                ctx,
                mysql,
                EventType::Warning,
                &failure.reason,
                "Reconcile",
                failure.message.clone(),
            )
            .await;
        } else if phase_changed && observed.phase == Phase::Ready {
            let message = desired.message.clone().unwrap_or_default();
            publish(ctx, mysql, EventType::Normal, "Ready", "Reconcile", message).await;
        }
    }
    let requeue_after = Some(RESYNC);
    Ok(Outcome {
        phase: observed.phase,
        applied,
        status_written: changed,
        requeue_after,
    })
}

/// Why the password cannot be read, if it cannot.
pub(crate) async fn password_problem(
    client: &Client,
    instance: &Instance,
) -> Result<Option<(&'static str, String)>, Error> {
    let PasswordSource::Secret(reference) = &instance.password else {
        return Ok(None);
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &instance.namespace);
    let secret = secrets
        .get_opt(&reference.name)
        .await
        .map_err(|e| Error::api(format!("read Secret {}", reference.name), e))?;
    Ok(secret_problem(
        secret.as_ref(),
        &reference.name,
        &reference.key,
        &instance.namespace,
    ))
}

/// What is wrong with the referenced Secret, if anything: the reason and a message that
/// names the Secret and its key, never the value.
fn secret_problem(
    secret: Option<&Secret>,
    name: &str,
    key: &str,
    namespace: &str,
) -> Option<(&'static str, String)> {
    let Some(secret) = secret else {
        return Some((
            "SecretNotFound",
            format!(
                "Secret {name:?} (spec.password_secret) does not exist in namespace {namespace:?}"
            ),
        ));
    };
    let Some(value) = secret.data.as_ref().and_then(|d| d.get(key)) else {
        return Some((
            "SecretNotFound",
            format!("Secret {name:?} has no key {key:?} (spec.password_secret.key)"),
        ));
    };
    if value.0.is_empty() {
        return Some((
            "EmptyPassword",
            format!(
                "the password in Secret {name:?}, key {key:?}, is empty: the mysql image does not start without a root password"
            ),
        ));
    }
    if value.0.iter().any(|b| b.is_ascii_control()) {
        return Some((
            "UnsafePassword",
            format!(
                "the password in Secret {name:?}, key {key:?}, contains a control character (a newline?): the server would take it but the clients' option file ends the password there"
            ),
        ));
    }
    crate::crd::unsafe_password(&value.0).then(|| {
        (
            "UnsafePassword",
            format!(
                "the password in Secret {name:?}, key {key:?}, contains ' \" or \\, which the official mysql image's entrypoint cannot take (it pastes the password unescaped into SQL and an option file); put a password without them into the Secret"
            ),
        )
    })
}

/// Publish an Event on the instance; a failure to record is logged, never fatal.
async fn publish(
    ctx: &Context,
    mysql: &MySQL,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &mysql.object_ref(&())).await {
        tracing::warn!(error = %e, "could not record an event");
    }
}

#[cfg(test)]
mod tests {
    use super::secret_problem;
    use k8s_openapi::api::core::v1::Secret;
    use serde_json::json;

    fn secret(password: &str) -> Secret {
        serde_json::from_value(json!({
            "metadata": {"name": "db-root"},
            "data": {"password": k8s_openapi::ByteString(password.as_bytes().to_vec())}
        }))
        .expect("secret")
    }

    #[test]
    fn a_secret_password_the_official_image_cannot_take_is_named_never_shown() {
        for bad in ["it's", "say \"hi\"", r"back\slash"] {
            let (reason, message) =
                secret_problem(Some(&secret(bad)), "db-root", "password", "default")
                    .expect("refused");
            assert_eq!(reason, "UnsafePassword");
            assert!(
                message.contains(r#"Secret "db-root", key "password""#),
                "{message}"
            );
            assert!(
                !message.contains(bad),
                "the value is never shown: {message}"
            );
        }
        for good in ["s3cret", "p@ss-w0rd!#$%^&*()_+=[]{};:,.<>/?`~|"] {
            assert_eq!(
                secret_problem(Some(&secret(good)), "db-root", "password", "default"),
                None
            );
        }
    }

    #[test]
    fn a_missing_secret_or_key_is_secret_not_found() {
        let (reason, message) = secret_problem(None, "db-root", "password", "default").unwrap();
        assert_eq!(reason, "SecretNotFound");
        assert!(message.contains("does not exist"), "{message}");
        let (reason, message) =
            secret_problem(Some(&secret("x")), "db-root", "other", "default").unwrap();
        assert_eq!(reason, "SecretNotFound");
        assert!(message.contains(r#"no key "other""#), "{message}");
    }

    #[test]
    fn an_empty_password_or_one_with_a_newline_is_refused() {
        let (reason, message) =
            secret_problem(Some(&secret("")), "db-root", "password", "default").unwrap();
        assert_eq!(reason, "EmptyPassword");
        assert!(message.contains("is empty"), "{message}");
        let (reason, message) =
            secret_problem(Some(&secret("s3cret\n")), "db-root", "password", "default").unwrap();
        assert_eq!(reason, "UnsafePassword");
        assert!(message.contains("a newline?"), "{message}");
    }
}
