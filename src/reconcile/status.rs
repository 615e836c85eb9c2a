//! The status step: phase, standard conditions and the seed's message, derived from what
//! was observed; written through the status subresource only when it changed.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::Context;
use crate::crd::{MySQL, MySQLStatus, Phase};
use crate::error::Error;
use crate::resources::FIELD_MANAGER;
use crate::validate::Instance;

/// A reason the instance cannot be reconciled, for the Failed phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub message: String,
}

/// What one pass observed, before it becomes a status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub phase: Phase,
    pub failure: Option<Failure>,
    /// Why the instance is not ready yet, when it is not.
    pub waiting_for: Option<String>,
    /// Whether a backup was loaded into the new server (decided once, after it is up).
    pub restore: RestoreState,
    /// A backup made by this pass (kept in the status until the next one).
    pub new_backup: Option<String>,
    /// How an on-demand backup that ended in this pass went: the backup, or why it failed.
    /// Kept in the `BackedUp` condition until the next one.
    pub backup_outcome: Option<Result<String, String>>,
    /// The image the server runs, by digest, seen with the Deployment available (so it is
    /// written with the Ready status, not in a write of its own).
    pub image: Option<String>,
}

/// The restore-on-create decision, kept in the `Restored` condition.
/// The Restored condition's reason while a restore runs, and its message's start.
const RESTORE_RUNNING: &str = "RestoreRunning";
const LOADING_BACKUP: &str = "loading backup ";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreState {
    /// Not decided yet: the server is not up.
    Undecided,
    /// The restore Job for this backup runs.
    Running(String),
    /// This backup was loaded: `<name> created with restore-job`.
    Done(String),
    /// There was no backup: `<name> created without restore-job`.
    NotNeeded,
}

impl RestoreState {
    /// The decision recorded in a status.
    pub fn recorded(status: &MySQLStatus) -> Self {
        match status.conditions.iter().find(|c| c.type_ == "Restored") {
            Some(c) if c.status == "True" => {
                RestoreState::Done(status.last_restore.clone().unwrap_or_default())
            }
            Some(c) if c.status == "False" && c.reason == "NoBackup" => RestoreState::NotNeeded,
            // A restore this instance started: its Job's end is this instance's result (a
            // pass that forgot it would take the finished Job for an earlier instance's,
            // delete it and load the backup a second time).
            Some(c) if c.status == "False" && c.reason == RESTORE_RUNNING => RestoreState::Running(
                c.message
                    .strip_prefix(LOADING_BACKUP)
                    .unwrap_or_default()
                    .to_string(),
            ),
            _ => RestoreState::Undecided,
        }
    }
}

impl Observed {
    pub fn failed(reason: &str, message: &str) -> Self {
        Self {
            phase: Phase::Failed,
            failure: Some(Failure {
                reason: reason.into(),
                message: message.into(),
            }),
            waiting_for: None,
            restore: RestoreState::Undecided,
            new_backup: None,
            backup_outcome: None,
            image: None,
        }
    }

    /// Ready once the Deployment reports an available replica for its current generation.
    pub fn from_deployment(instance: &Instance, deployment: Option<&Deployment>) -> Self {
        let ready = deployment.is_some_and(|d| {
            let status = d.status.clone().unwrap_or_default();
            status.available_replicas.unwrap_or(0) >= 1
                && status.observed_generation >= d.metadata.generation
        });
        Self {
            phase: if ready {
                Phase::Ready
            } else {
                Phase::Provisioning
            },
            failure: None,
            waiting_for: (!ready).then(|| {
                format!(
                    "waiting for Deployment {:?} to have an available replica",
                    instance.name
                )
            }),
            restore: RestoreState::Undecided,
            new_backup: None,
            backup_outcome: None,
            image: None,
        }
    }
}

/// Now, for lastTransitionTime.
pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// The status this observation calls for. A condition keeps its lastTransitionTime while
/// its status stays the same.
pub fn desired_status(
    mysql: &MySQL,
    current: &MySQLStatus,
    observed: &Observed,
    now: &Time,
) -> MySQLStatus {
    let name = mysql.name_any();
    let generation = mysql.metadata.generation;
    let message = match (&observed.failure, &observed.restore) {
        (Some(f), _) => f.message.clone(),
        (None, RestoreState::Done(_)) => format!("{name} created with restore-job"),
        (None, RestoreState::NotNeeded) => format!("{name} created without restore-job"),
        (None, RestoreState::Running(backup)) if backup.is_empty() => {
            format!("{name} restoring the newest verified backup")
        }
        (None, RestoreState::Running(backup)) => format!("{name} restoring {backup}"),
        (None, RestoreState::Undecided)
            if observed.phase == Phase::Deleting || observed.phase == Phase::BackingUp =>
        {
            observed.waiting_for.clone().unwrap_or_default()
        }
        (None, RestoreState::Undecided) => current
            .message
            .clone()
            .unwrap_or_else(|| format!("{name} being created")),
    };
    let restored = match &observed.restore {
        RestoreState::Done(backup) => Some(condition(
            "Restored",
            true,
            "RestoreCompleted",
            &format!("loaded backup {backup}"),
            generation,
            now,
        )),
        RestoreState::NotNeeded => Some(condition(
            "Restored",
            false,
            "NoBackup",
            "there was no backup to restore",
            generation,
            now,
        )),
        RestoreState::Running(backup) => Some(condition(
            "Restored",
            false,
            RESTORE_RUNNING,
            &format!("{LOADING_BACKUP}{backup}"),
            generation,
            now,
        )),
        RestoreState::Undecided => current
            .conditions
            .iter()
            .find(|c| c.type_ == "Restored")
            .cloned(),
    };
    let (ready, progressing, degraded) = match (&observed.failure, observed.phase) {
        (Some(f), _) => (
            condition("Ready", false, &f.reason, &f.message, generation, now),
            condition("Progressing", false, &f.reason, &f.message, generation, now),
            condition("Degraded", true, &f.reason, &f.message, generation, now),
        ),
        (None, Phase::Ready) => (
            condition(
                "Ready",
                true,
                "Available",
                &format!("{name} is ready"),
                generation,
                now,
            ),
            condition(
                "Progressing",
                false,
                "Available",
                "every object is in place",
                generation,
                now,
            ),
            condition("Degraded", false, "AsExpected", "", generation, now),
        ),
        (None, _) => {
            let waiting = observed.waiting_for.clone().unwrap_or_default();
            (
                condition("Ready", false, "Provisioning", &waiting, generation, now),
                condition(
                    "Progressing",
                    true,
                    "Provisioning",
                    &waiting,
                    generation,
                    now,
                ),
                condition("Degraded", false, "AsExpected", "", generation, now),
            )
        }
    };
    let backed_up = match &observed.backup_outcome {
        Some(Ok(backup)) => Some(condition(
            "BackedUp",
            true,
            "BackupVerified",
            &format!("backup {backup} verified"),
            generation,
            now,
        )),
        Some(Err(cause)) => Some(condition(
            "BackedUp",
            false,
            "BackupFailed",
            &format!("the last backup failed: {cause}"),
            generation,
            now,
        )),
        None => current
            .conditions
            .iter()
            .find(|c| c.type_ == "BackedUp")
            .cloned(),
    };
    let conditions = [
        Some(ready),
        Some(progressing),
        Some(degraded),
        restored,
        backed_up,
    ]
    .into_iter()
    .flatten()
    .map(|mut c| {
        if let Some(old) = current.conditions.iter().find(|o| o.type_ == c.type_)
            && old.status == c.status
        {
            c.last_transition_time = old.last_transition_time.clone();
        }
        c
    })
    .collect();
    MySQLStatus {
        phase: Some(observed.phase),
        conditions,
        message: Some(message),
        observed_generation: generation,
        last_backup: observed
            .new_backup
            .clone()
            .or_else(|| current.last_backup.clone()),
        last_restore: match &observed.restore {
            RestoreState::Done(backup) => Some(backup.clone()),
            _ => current.last_restore.clone(),
        },
        image: observed.image.clone().or_else(|| current.image.clone()),
    }
}

/// Whether two statuses differ in anything but the conditions' transition times.
pub fn differs(a: &MySQLStatus, b: &MySQLStatus) -> bool {
    let strip = |s: &MySQLStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_transition_time = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        }
        s
    };
    strip(a) != strip(b)
}

/// Server-side apply of the status subresource, under the one field manager.
pub async fn write(ctx: &Context, mysql: &MySQL, status: &MySQLStatus) -> Result<(), Error> {
    let namespace = mysql.namespace().unwrap_or_default();
    let api: Api<MySQL> = Api::namespaced(ctx.client.clone(), &namespace);
    let body = json!({
        "apiVersion": "otus.homework/v1",
        "kind": "MySQL",
        "status": status,
    });
    let written = api
        .patch_status(
            &mysql.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|e| Error::api(format!("write the status of MySQL {}", mysql.name_any()), e))?;
    ctx.observer.wrote_object(Some(mysql), &written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mysql() -> MySQL {
        let mut m: MySQL = serde_json::from_value(json!({
            "apiVersion": "otus.homework/v1", "kind": "MySQL",
            "metadata": {"name": "mysql-instance", "namespace": "default", "generation": 3},
            "spec": {"database": "d", "password_secret": {"name": "s"}, "storage_size": "1Gi"}
        }))
        .expect("mysql");
        m.status = None;
        m
    }

    #[test]
    fn ready_status_says_the_seed_words_and_keeps_transition_times() {
        let t1 = Time(k8s_openapi::jiff::Timestamp::from_second(1).expect("t"));
        let t2 = Time(k8s_openapi::jiff::Timestamp::from_second(2).expect("t"));
        let observed = Observed {
            phase: Phase::Ready,
            failure: None,
            waiting_for: None,
            restore: RestoreState::NotNeeded,
            new_backup: None,
            backup_outcome: None,
            image: None,
        };
        let first = desired_status(&mysql(), &MySQLStatus::default(), &observed, &t1);
        assert_eq!(
            first.message.as_deref(),
            Some("mysql-instance created without restore-job")
        );
        assert_eq!(first.observed_generation, Some(3));
        let again = desired_status(&mysql(), &first, &observed, &t2);
        assert!(!differs(&first, &again));
        assert_eq!(
            again.conditions[0].last_transition_time, t1,
            "unchanged condition keeps its time"
        );
        let ready = &again.conditions[0];
        assert_eq!(
            (ready.type_.as_str(), ready.status.as_str()),
            ("Ready", "True")
        );
    }

    /// Every restore decision written to a status is read back the same by the next pass,
    /// by this process or another (a restore running when the operator restarted too).
    #[test]
    fn a_restore_decision_reads_back_as_written() {
        let t = Time(k8s_openapi::jiff::Timestamp::from_second(1).expect("t"));
        for restore in [
            RestoreState::Running(String::new()),
            RestoreState::Running("20261205T101500Z.sql.gz".into()),
            RestoreState::Done("20261205T101500Z.sql.gz".into()),
            RestoreState::NotNeeded,
        ] {
            let observed = Observed {
                phase: Phase::Restoring,
                failure: None,
                waiting_for: None,
                restore: restore.clone(),
                new_backup: None,
                image: None,
                backup_outcome: None,
            };
            let status = desired_status(&mysql(), &MySQLStatus::default(), &observed, &t);
            assert_eq!(RestoreState::recorded(&status), restore);
        }
        assert_eq!(
            RestoreState::recorded(&MySQLStatus::default()),
            RestoreState::Undecided
        );
    }

    #[test]
    fn failures_set_degraded_with_the_reason() {
        let observed = Observed::failed("SecretNotFound", "Secret \"s\" does not exist");
        let status = desired_status(&mysql(), &MySQLStatus::default(), &observed, &now());
        assert_eq!(status.phase, Some(Phase::Failed));
        let degraded = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Degraded")
            .expect("degraded");
        assert_eq!(
            (degraded.status.as_str(), degraded.reason.as_str()),
            ("True", "SecretNotFound")
        );
        assert!(differs(&MySQLStatus::default(), &status));
    }

    #[test]
    fn the_last_backup_s_outcome_is_a_condition_kept_until_the_next() {
        let mut observed = Observed {
            phase: Phase::Ready,
            failure: None,
            waiting_for: None,
            restore: RestoreState::NotNeeded,
            new_backup: None,
            backup_outcome: None,
            image: None,
        };
        observed.backup_outcome = Some(Err("gzip: stdout: No space left on device".into()));
        let failed = desired_status(&mysql(), &MySQLStatus::default(), &observed, &now());
        let backed_up = |s: &MySQLStatus| {
            let c = (s.conditions.iter())
                .find(|c| c.type_ == "BackedUp")
                .expect("BackedUp");
            (c.status.clone(), c.reason.clone(), c.message.clone())
        };
        assert_eq!(
            backed_up(&failed),
            (
                "False".into(),
                "BackupFailed".into(),
                "the last backup failed: gzip: stdout: No space left on device".into()
            )
        );
        // A pass without a finished backup keeps it.
        observed.backup_outcome = None;
        let kept = desired_status(&mysql(), &failed, &observed, &now());
        assert_eq!(backed_up(&kept), backed_up(&failed));
        observed.backup_outcome = Some(Ok("20260101T000000Z.sql.gz".into()));
        let verified = desired_status(&mysql(), &kept, &observed, &now());
        assert_eq!(
            backed_up(&verified),
            (
                "True".into(),
                "BackupVerified".into(),
                "backup 20260101T000000Z.sql.gz verified".into()
            )
        );
    }
}
