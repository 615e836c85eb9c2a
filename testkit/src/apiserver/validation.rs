//! What kube-apiserver's validation of built-in kinds refuses (`pkg/apis/<group>/validation`),
//! beyond the object name every kind checks: for the kinds where a real cluster refuses
//! what the product could write. Runs after defaulting, as on the real server, so a
//! defaulted value (a pod template's `restartPolicy: Always`) is judged too.
//!
//! Modelled: CronJob (`ValidateCronJobCreate`/`ValidateCronJobUpdate`, v1.32).

use kubectl_mysql::schedule::{Schedule, ScheduleError};
use serde_json::Value;

use super::registry::Kind;

/// One cause of a 422: (reason, field, message), as [`super::status::invalid`] takes it.
pub type Cause = (String, String, String);

/// A CronJob's name leaves room for the `-<unix minutes>` (11 characters) its Jobs get.
const CRON_JOB_NAME_MAX: usize = 52;

/// Why `object` (defaulted, in its stored form) cannot be stored: none when it can.
/// `current` is the stored object on an update (`None`: a create); status writes are not
/// validated here, as the status strategies check nothing this models.
pub fn causes(kind: &Kind, object: &Value, current: Option<&Value>) -> Vec<Cause> {
    match (kind.custom, kind.group.as_str(), kind.kind.as_str()) {
        (false, "batch", "CronJob") => cron_job(object, current),
        _ => Vec::new(),
    }
}

fn cron_job(object: &Value, current: Option<&Value>) -> Vec<Cause> {
    let spec = &object["spec"];
    let current_spec = current.map(|c| &c["spec"]);
    let mut causes = Vec::new();
    let time_zone = spec.get("timeZone").filter(|z| !z.is_null());
    match spec["schedule"].as_str().unwrap_or_default() {
        "" => causes.push(required("spec.schedule")),
        schedule => {
            if let Some(why) = schedule_problem(schedule) {
                causes.push(invalid_text("spec.schedule", schedule, &why));
            }
            // Only a schedule that already had one may keep a TZ (older servers took it).
            let had_tz = current_spec
                .and_then(|s| s["schedule"].as_str())
                .is_some_and(|s| s.contains("TZ"));
            if schedule.contains("TZ") {
                let why = if !had_tz {
                    Some("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
                } else if time_zone.is_some() {
                    Some("cannot use both timeZone field and TZ or CRON_TZ in schedule")
                } else {
                    None
                };
                if let Some(why) = why {
                    causes.push(invalid_text("spec.schedule", schedule, why));
                }
            }
        }
    }
    non_negative(&mut causes, spec, "spec", "startingDeadlineSeconds");
    // An unchanged zone is not judged again (the zone database may have lost it).
    if let Some(zone) = time_zone
        && current_spec.is_none_or(|s| s.get("timeZone") != Some(zone))
    {
        let name = zone.as_str().unwrap_or_default();
        if let Some(why) = time_zone_problem(name) {
            causes.push(invalid_text("spec.timeZone", name, &why));
        }
    }
    let policy = spec["concurrencyPolicy"].as_str().unwrap_or_default();
    match policy {
        "Allow" | "Forbid" | "Replace" => {}
        "" => causes.push(required("spec.concurrencyPolicy")),
        other => causes.push(not_supported(
            "spec.concurrencyPolicy",
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let job_spec = &spec["jobTemplate"]["spec"];
    for field in ["parallelism", "completions", "activeDeadlineSeconds"] {
        non_negative(&mut causes, job_spec, "spec.jobTemplate.spec", field);
    }
    let restart = job_spec["template"]["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or_default();
    if !matches!(restart, "OnFailure" | "Never") {
        causes.push(not_supported(
            "spec.jobTemplate.spec.template.spec.restartPolicy",
            restart,
            &["OnFailure", "Never"],
        ));
    }
    for field in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        non_negative(&mut causes, spec, "spec", field);
    }
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    // On create only: older CronJobs with longer names can still be updated and deleted.
    if current.is_none() && name.len() > CRON_JOB_NAME_MAX {
        causes.push(invalid_text(
            "metadata.name",
            name,
            "must be no more than 52 characters",
        ));
    }
    causes
}

/// What robfig/cron's `ParseStandard` would say of `schedule` (as the API server quotes
/// it), judged by the product's parser; `None` when it is a schedule.
fn schedule_problem(schedule: &str) -> Option<String> {
    // A legacy `TZ=` / `CRON_TZ=` prefix is judged apart; the fields after it here.
    let fields: Vec<&str> = schedule
        .split_whitespace()
        .skip_while(|f| f.starts_with("TZ=") || f.starts_with("CRON_TZ="))
        .collect();
    let expression = fields.join(" ");
    if !expression.starts_with('@') && fields.len() != 5 {
        return Some(format!(
            "expected exactly 5 fields, found {}: [{expression}]",
            fields.len()
        ));
    }
    match Schedule::parse(&expression, None) {
        Ok(_) => None,
        Err(ScheduleError::Expression(_, why)) => Some(why),
        Err(other) => Some(other.to_string()),
    }
}

/// Why a CronJob's `timeZone` is refused: `validateTimeZone`'s words.
fn time_zone_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("timeZone must be nil or non-empty string".into());
    }
    if name.eq_ignore_ascii_case("local") {
        let why =
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones";
        return Some(why.into());
    }
    // Go's time.LoadLocation: "unknown time zone X" for a name the database lacks.
    Schedule::parse("* * * * *", Some(name))
        .err()
        .map(|_| format!("unknown time zone {name}"))
}

/// `ValidateNonnegativeField` of an optional integer at `parent.field`.
fn non_negative(causes: &mut Vec<Cause>, parent: &Value, path: &str, field: &str) {
    if let Some(n) = parent[field].as_i64()
        && n < 0
    {
        causes.push((
            "FieldValueInvalid".into(),
            format!("{path}.{field}"),
            format!("Invalid value: {n}: must be greater than or equal to 0"),
        ));
    }
}

fn required(field: &str) -> Cause {
    (
        "FieldValueRequired".into(),
        field.into(),
        "Required value".into(),
    )
}

fn invalid_text(field: &str, value: &str, why: &str) -> Cause {
    (
        "FieldValueInvalid".into(),
        field.into(),
        format!("Invalid value: {value:?}: {why}"),
    )
}

fn not_supported(field: &str, value: &str, supported: &[&str]) -> Cause {
    let supported: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    (
        "FieldValueNotSupported".into(),
        field.into(),
        format!(
            "Unsupported value: {value:?}: supported values: {}",
            supported.join(", ")
        ),
    )
}
