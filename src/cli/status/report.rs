//! What `status` reads, as data: the one model behind the text view and `-o json|yaml`.
//!
//! The text view is rendered from these structs only ([`super::render`]), so everything it
//! shows is in the JSON and YAML too. Nothing here holds a password or Secret data.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::backup::BackupEntry;
use crate::crd::{DEFAULT_PASSWORD_KEY, MySQL, Phase};
use crate::resources::Names;

/// The state shown for an object whose read failed.
pub const UNKNOWN: &str = "unknown (see Errors)";

/// `status -o json|yaml` without NAME: the instances, as the table lists them and more.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceList {
    pub items: Vec<InstanceReport>,
}

/// One instance: a row of the table, and the first part of the detail view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceReport {
    pub name: String,
    pub namespace: String,
    /// Lifecycle phase; `Pending` until the operator writes one.
    pub phase: String,
    /// What the operator last did.
    pub message: Option<String>,
    pub database: String,
    /// `spec.image`: what the server should run.
    pub image: String,
    /// `status.image`: what it runs, by digest; `null` before it has run.
    pub running_image: Option<String>,
    pub storage_size: String,
    /// `null`: hostPath volumes made by hand (no storage class).
    pub storage_class: Option<String>,
    /// Where the root password is kept (never the password itself).
    pub password: PasswordReport,
    pub backup_retention: u32,
    pub last_backup: Option<String>,
    pub last_restore: Option<String>,
    pub generation: Option<i64>,
    pub observed_generation: Option<i64>,
    /// RFC 3339; the text view shows it as an age.
    pub creation_timestamp: Option<String>,
    /// Set once deletion was requested (the finalizer backs up first).
    pub deletion_timestamp: Option<String>,
}

/// Where the password lives: the spec inline (kept in the operator's Secret) or a Secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordReport {
    /// `inline` or `secret`
    pub source: String,
    /// The Secret holding it.
    pub secret: String,
    /// Its key in that Secret.
    pub key: String,
}

/// `status NAME`: everything read about one instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub instance: InstanceReport,
    /// The credentials Secret, the Service and the Deployment.
    pub children: Vec<ChildReport>,
    /// The data and backup volumes: PersistentVolumes (hostPath only) and claims.
    pub volumes: Vec<VolumeReport>,
    /// The backup catalogue, newest first.
    pub backups: Vec<BackupEntry>,
    /// The backup and restore Jobs that exist (scheduled runs too).
    pub jobs: Vec<JobReport>,
    /// Scheduled backups; `null` without `spec.backup_schedule`.
    #[serde(default)]
    pub schedule: Option<ScheduleReport>,
    /// The binary-log archive; `null` without `spec.pitr`.
    #[serde(default)]
    pub point_in_time: Option<PointInTimeReport>,
    pub conditions: Vec<Condition>,
    /// The newest events of the instance, oldest first.
    pub events: Vec<EventReport>,
    /// The reads that failed; everything else above is complete.
    pub errors: Vec<ErrorReport>,
}

/// Point-in-time restore (`spec.pitr`): what `restore --to` can reach.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PointInTimeReport {
    /// Seconds between closes of the current binlog file: at most this much of the log is
    /// only on the data volume.
    pub flush_seconds: u32,
    /// The oldest time a restore can reach (RFC 3339): the oldest kept backup with a
    /// binlog position. `null` before one exists.
    pub restorable_from: Option<String>,
    /// The end of the archive when `as_of` was taken (RFC 3339); the archive container
    /// adds to it every `flushSeconds`, and a restore closes the current file itself.
    pub archived_until: Option<String>,
    /// Archived binlog files then.
    pub archived_files: Option<u32>,
    /// The backup that last looked at the archive.
    pub as_of: Option<String>,
}

/// A child object of the instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChildReport {
    pub kind: String,
    pub name: String,
    /// `null` when it could not be read.
    pub exists: Option<bool>,
    /// In words, e.g. `1/1 ready, available`, `missing`.
    pub state: String,
}

/// A PersistentVolume or PersistentVolumeClaim of the instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeReport {
    pub kind: String,
    pub name: String,
    /// `data` or `backup`
    pub purpose: String,
    pub exists: Option<bool>,
    /// Pending, Bound, Released, ...
    pub phase: Option<String>,
    /// The claim a volume is bound to, or the volume a claim is bound to.
    pub bound_to: Option<String>,
    pub capacity: Option<String>,
    /// In words, e.g. `Bound to shop-pvc`, `Bound, 1Gi`, `missing`.
    pub state: String,
}

/// A backup or restore Job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobReport {
    pub name: String,
    /// `backup` or `restore`
    pub purpose: String,
    /// pending, running, succeeded, failed, or unknown when it could not be read
    pub state: String,
    /// Why it failed (e.g. `DeadlineExceeded`, `BackoffLimitExceeded`).
    pub reason: Option<String>,
    pub message: Option<String>,
    pub start_time: Option<String>,
    pub completion_time: Option<String>,
}

/// The backup schedule: when it runs next and how its last run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleReport {
    /// The cron expression.
    pub schedule: String,
    pub time_zone: String,
    /// The CronJob that keeps it; `cronJobExists` false while the operator has not made it.
    pub cron_job: String,
    pub cron_job_exists: Option<bool>,
    /// Set when the deletion suspended it.
    pub suspended: bool,
    /// RFC 3339; `null` when suspended.
    pub next_run: Option<String>,
    /// The newest run, with the backup it recorded (once the operator has).
    pub last_run: Option<JobReport>,
    pub last_backup: Option<String>,
}

/// An event of the instance (repeats folded into `count`, as the API server does).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventReport {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub count: i32,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    /// The component that reported it.
    pub source: Option<String>,
}

/// A read that failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReport {
    /// What was being read, e.g. `Job backup-shop-job`, `Events`.
    pub about: String,
    /// The API server's reason (`Forbidden`, ...), or `Timeout`, `Unreachable`, `Invalid`.
    pub reason: String,
    pub message: String,
}

/// RFC 3339, as the API server writes times.
pub fn rfc3339(time: &Time) -> String {
    serde_json::to_value(time)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| time.0.to_string())
}

/// A time written by [`rfc3339`] (or by the backup scripts), for ages.
pub fn parse_time(text: Option<&str>) -> Option<Timestamp> {
    text.and_then(|t| t.parse().ok())
}

impl InstanceReport {
    pub fn of(m: &MySQL) -> Self {
        let name = m.metadata.name.clone().unwrap_or_default();
        let namespace = m.metadata.namespace.clone().unwrap_or_default();
        let spec = &m.spec;
        let status = m.status.clone().unwrap_or_default();
        let password = match &spec.password_secret {
            Some(r) => PasswordReport {
                source: "secret".into(),
                secret: r.name.clone(),
                key: r.key.clone(),
            },
            None => PasswordReport {
                source: "inline".into(),
                secret: Names::of(&namespace, &name).credentials_secret(),
                key: DEFAULT_PASSWORD_KEY.into(),
            },
        };
        Self {
            phase: phase_name(status.phase.unwrap_or(Phase::Pending)),
            message: status.message,
            database: spec.database.clone(),
            image: spec.image.clone(),
            running_image: status.image,
            storage_size: spec.storage_size.clone(),
            storage_class: spec.storage_class.clone(),
            password,
            backup_retention: spec.backup_retention,
            last_backup: status.last_backup,
            last_restore: status.last_restore,
            generation: m.metadata.generation,
            observed_generation: status.observed_generation,
            creation_timestamp: m.metadata.creation_timestamp.as_ref().map(rfc3339),
            deletion_timestamp: m.metadata.deletion_timestamp.as_ref().map(rfc3339),
            name,
            namespace,
        }
    }
}

/// A phase as the CRD spells it.
pub fn phase_name(phase: Phase) -> String {
    serde_json::to_value(phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{phase:?}"))
}

impl ChildReport {
    /// A child read as `Ok(Some(state))`, `Ok(None)` (missing) or failed.
    pub fn new(kind: &str, name: &str, read: Result<Option<String>, ()>) -> Self {
        let (exists, state) = match read {
            Ok(Some(state)) => (Some(true), state),
            Ok(None) => (Some(false), "missing".to_string()),
            Err(()) => (None, UNKNOWN.to_string()),
        };
        Self {
            kind: kind.into(),
            name: name.into(),
            exists,
            state,
        }
    }
}

impl VolumeReport {
    fn empty(kind: &str, name: &str, purpose: &str) -> Self {
        Self {
            kind: kind.into(),
            name: name.into(),
            purpose: purpose.into(),
            exists: Some(false),
            phase: None,
            bound_to: None,
            capacity: None,
            state: "missing".into(),
        }
    }

    /// A volume or claim whose read failed.
    pub fn unknown(kind: &str, name: &str, purpose: &str) -> Self {
        Self {
            exists: None,
            state: UNKNOWN.into(),
            ..Self::empty(kind, name, purpose)
        }
    }

    pub fn of_pv(name: &str, purpose: &str, pv: Option<&PersistentVolume>) -> Self {
        let mut report = Self::empty("PersistentVolume", name, purpose);
        let Some(pv) = pv else { return report };
        report.exists = Some(true);
        report.phase = pv.status.as_ref().and_then(|s| s.phase.clone());
        report.bound_to = pv
            .spec
            .as_ref()
            .and_then(|s| s.claim_ref.as_ref())
            .and_then(|c| c.name.clone());
        report.capacity = pv
            .spec
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
            .map(|q| q.0.clone());
        report.state = match (report.phase.as_deref(), report.bound_to.as_deref()) {
            (Some("Bound"), Some(claim)) => format!("Bound to {claim}"),
            (Some(phase), _) => phase.to_string(),
            (None, _) => "present (no status)".into(),
        };
        report
    }

    /// With a storage class the volume's name is the provisioner's: the state shows it.
    pub fn of_pvc(
        name: &str,
        purpose: &str,
        pvc: Option<&PersistentVolumeClaim>,
        hostpath: bool,
    ) -> Self {
        let mut report = Self::empty("PersistentVolumeClaim", name, purpose);
        let Some(pvc) = pvc else { return report };
        report.exists = Some(true);
        report.phase = Some(
            pvc.status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Pending".into()),
        );
        report.bound_to = pvc.spec.as_ref().and_then(|s| s.volume_name.clone());
        report.capacity = pvc
            .status
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
            .map(|q| q.0.clone());
        let phase = report.phase.clone().unwrap_or_default();
        let mut state = phase.clone();
        if phase == "Bound" {
            if let (false, Some(volume)) = (hostpath, &report.bound_to) {
                state.push_str(&format!(" to {volume}"));
            }
            if let Some(size) = &report.capacity {
                state.push_str(&format!(", {size}"));
            }
        }
        report.state = state;
        report
    }
}

pub fn service_state(service: &Service) -> String {
    let Some(spec) = &service.spec else {
        return "present".into();
    };
    let kind = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
    let ip = spec.cluster_ip.clone().unwrap_or_default();
    let ports: Vec<String> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| p.port.to_string())
        .collect();
    let mut state = kind;
    if !ip.is_empty() {
        state.push(' ');
        state.push_str(&ip);
    }
    if !ports.is_empty() {
        state.push_str(&format!(", port {}", ports.join(",")));
    }
    state
}

pub fn deployment_state(deployment: &Deployment) -> String {
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let status = deployment.status.as_ref();
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let available = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Available"));
    let availability = match available {
        Some(c) if c.status == "True" => "available".to_string(),
        Some(c) => match c.reason.as_deref() {
            Some(reason) => format!("not available ({reason})"),
            None => "not available".to_string(),
        },
        None => "not available".to_string(),
    };
    format!("{ready}/{desired} ready, {availability}")
}

impl JobReport {
    pub fn of(purpose: &str, job: &Job) -> Self {
        let status = job.status.as_ref();
        let finished = status.and_then(|s| s.conditions.as_ref()).and_then(|c| {
            c.iter()
                .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        });
        let state = match finished.map(|c| c.type_.as_str()) {
            Some("Complete") => "succeeded",
            Some(_) => "failed",
            None if status.and_then(|s| s.active).unwrap_or(0) > 0 => "running",
            None => "pending",
        };
        let failed = finished.filter(|c| c.type_ == "Failed");
        Self {
            name: job.metadata.name.clone().unwrap_or_default(),
            purpose: purpose.into(),
            state: state.into(),
            reason: failed.and_then(|c| c.reason.clone()),
            message: failed.and_then(|c| c.message.clone()),
            start_time: status.and_then(|s| s.start_time.as_ref()).map(rfc3339),
            completion_time: status.and_then(|s| s.completion_time.as_ref()).map(rfc3339),
        }
    }

    /// A Job whose read failed.
    pub fn unknown(purpose: &str, name: &str) -> Self {
        Self {
            name: name.into(),
            purpose: purpose.into(),
            state: UNKNOWN.into(),
            reason: None,
            message: None,
            start_time: None,
            completion_time: None,
        }
    }
}

/// When an event last happened, as kubectl describe orders them.
fn event_time(e: &Event) -> Option<Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The `limit` newest events, oldest first.
pub fn newest_events(mut events: Vec<Event>, limit: usize) -> Vec<EventReport> {
    events.sort_by_key(event_time);
    let skip = events.len().saturating_sub(limit);
    events
        .into_iter()
        .skip(skip)
        .map(|e| EventReport::of(&e))
        .collect()
}

impl EventReport {
    fn of(e: &Event) -> Self {
        let time = |t: Option<Timestamp>| {
            t.and_then(|t| serde_json::to_value(Time(t)).ok())
                .and_then(|v| v.as_str().map(str::to_string))
        };
        let last = event_time(e);
        let first = e
            .first_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or(last);
        let source = e
            .reporting_component
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| e.source.as_ref().and_then(|s| s.component.clone()));
        Self {
            type_: e.type_.clone(),
            reason: e.reason.clone(),
            message: e.message.clone(),
            count: e
                .count
                .or_else(|| e.series.as_ref().and_then(|s| s.count))
                .unwrap_or(1),
            first_timestamp: time(first),
            last_timestamp: time(last),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_inline_password_is_reported_by_where_it_is_kept_only() {
        let m: MySQL = serde_json::from_value(json!({
            "apiVersion": "otus.homework/v1", "kind": "MySQL",
            "metadata": {"name": "one", "namespace": "a", "generation": 3},
            "spec": {"database": "shop", "password": "s3cret-Pa55", "storage_size": "1Gi"},
            "status": {"phase": "Ready", "lastBackup": "20240101T000000Z.sql.gz"},
        }))
        .expect("a MySQL");
        let report = InstanceReport::of(&m);
        let text = serde_json::to_string(&report).expect("json");
        assert!(!text.contains("s3cret-Pa55"), "{text}");
        assert_eq!(
            report.password,
            PasswordReport {
                source: "inline".into(),
                secret: "one-credentials".into(),
                key: "password".into()
            }
        );
        assert_eq!(report.phase, "Ready");
        assert_eq!(
            report.last_backup.as_deref(),
            Some("20240101T000000Z.sql.gz")
        );
        assert_eq!(report.generation, Some(3));
        assert_eq!(report.storage_class, None);
    }

    #[test]
    fn jobs_say_why_they_failed() {
        let job: Job = serde_json::from_value(json!({
            "metadata": {"name": "backup-one-job"},
            "status": {"failed": 1, "startTime": "2024-01-01T00:00:00Z", "conditions": [
                {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                 "message": "Job was active longer than specified deadline"}]},
        }))
        .expect("a Job");
        let report = JobReport::of("backup", &job);
        assert_eq!(report.state, "failed");
        assert_eq!(report.reason.as_deref(), Some("DeadlineExceeded"));
        assert_eq!(report.start_time.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(report.completion_time, None);
    }

    #[test]
    fn volumes_show_what_they_are_bound_to() {
        let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "one-pvc"},
            "spec": {"volumeName": "pvc-123"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}},
        }))
        .expect("a claim");
        let provisioned = VolumeReport::of_pvc("one-pvc", "data", Some(&pvc), false);
        assert_eq!(provisioned.state, "Bound to pvc-123, 1Gi");
        assert_eq!(provisioned.bound_to.as_deref(), Some("pvc-123"));
        let by_hand = VolumeReport::of_pvc("one-pvc", "data", Some(&pvc), true);
        assert_eq!(by_hand.state, "Bound, 1Gi");
        let missing = VolumeReport::of_pv("a.one-pv", "data", None);
        assert_eq!(
            (missing.exists, missing.state.as_str()),
            (Some(false), "missing")
        );
    }
}
