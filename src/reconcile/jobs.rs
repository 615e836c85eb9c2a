//! Backup and restore Jobs as the reconcile sees them: start one (replacing a finished
//! Job of the same name, never two at once) and read back how it ended, from the Job's
//! conditions and its pod's termination message.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams, Preconditions, PropagationPolicy};

use super::Context;
use crate::backup::{JobReport, parse_report};
use crate::error::Error;
use crate::resources::FIELD_MANAGER;

/// The label the Job controller puts on a Job's pods.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// Whether a Job has ended (Complete or Failed).
pub fn finished(job: &Job) -> bool {
    condition(job, "Complete").is_some() || condition(job, "Failed").is_some()
}

/// Where a Job is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per Job read, matched at once and never kept in bulk"
)]
pub enum JobState {
    Missing,
    Running,
    Succeeded(JobReport),
    /// The one-line cause (the script's error, or the Job controller's reason).
    Failed(String),
}

fn condition<'a>(
    job: &'a Job,
    type_: &str,
) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// What the Job's pods say of how it ended.
enum Ending {
    /// The termination message.
    Message(String),
    /// Not ended yet as far as the cache shows: the Job's status can arrive before its
    /// pod's (two watches), so this is "not yet", not "no result".
    NotYet,
    /// No pod, or one that ended without a message.
    Unknown,
}

/// How the Job ended, by its pods: the pod that succeeded when `succeeded` (a Complete
/// Job's report is its successful pod's: a failed attempt created in the same second,
/// the timestamps' resolution, may sort after it), else the newest.
async fn ending(
    ctx: &Context,
    namespace: &str,
    job: &str,
    succeeded: bool,
) -> Result<Ending, Error> {
    let selector = BTreeMap::from([(JOB_NAME_LABEL.to_string(), job.to_string())]);
    let mut items: Vec<Pod> = ctx.observer.list(&ctx.client, namespace, &selector).await?;
    items.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    let terminated = |p: &Pod| {
        p.status
            .as_ref()?
            .container_statuses
            .as_ref()?
            .first()?
            .state
            .as_ref()?
            .terminated
            .clone()
    };
    let ended = |t: k8s_openapi::api::core::v1::ContainerStateTerminated| match t.message {
        Some(message) => Ending::Message(message),
        None => Ending::Unknown,
    };
    if succeeded {
        if let Some(t) = (items.iter().rev())
            .filter_map(terminated)
            .find(|t| t.exit_code == 0)
        {
            return Ok(ended(t));
        }
        let running = items.iter().any(|p| terminated(p).is_none());
        return Ok(if running {
            Ending::NotYet
        } else {
            Ending::Unknown
        });
    }
    Ok(match items.last() {
        None => Ending::Unknown,
        Some(newest) => terminated(newest).map_or(Ending::NotYet, ended),
    })
}

/// The termination message of the Job's pods, if it ended with one (see [`ending`]).
async fn termination_message(
    ctx: &Context,
    namespace: &str,
    job: &str,
    succeeded: bool,
) -> Result<Option<String>, Error> {
    Ok(match ending(ctx, namespace, job, succeeded).await? {
        Ending::Message(message) => Some(message),
        Ending::NotYet | Ending::Unknown => None,
    })
}

/// The state of Job `name`, and the Job itself when it exists.
pub async fn job_state(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<(JobState, Option<Job>), Error> {
    let Some(job) = ctx
        .observer
        .get::<Job>(&ctx.client, Some(namespace), name)
        .await?
    else {
        return Ok((JobState::Missing, None));
    };
    if job.metadata.deletion_timestamp.is_some() {
        return Ok((JobState::Running, Some(job)));
    }
    let state = if condition(&job, "Complete").is_some() {
        let message = match ending(ctx, namespace, name, true).await? {
            Ending::Message(message) => message,
            // Read again when the pod's status arrives (its change wakes the instance).
            Ending::NotYet => return Ok((JobState::Running, Some(job))),
            Ending::Unknown => String::new(),
        };
        match parse_report(&message) {
            Ok(JobReport::Failed(f)) => JobState::Failed(f.error),
            Ok(report) => JobState::Succeeded(report),
            Err(e) => JobState::Failed(format!(
                "Job {name} completed without a readable result: {e}"
            )),
        }
    } else if let Some(failed) = condition(&job, "Failed") {
        let message = termination_message(ctx, namespace, name, false)
            .await?
            .unwrap_or_default();
        match parse_report(&message) {
            Ok(JobReport::Failed(f)) => JobState::Failed(f.error),
            _ => JobState::Failed(format!(
                "Job {name} failed: {} {}",
                failed.reason.clone().unwrap_or_default(),
                failed.message.clone().unwrap_or_default()
            )),
        }
    } else {
        JobState::Running
    };
    Ok((state, Some(job)))
}

/// Delete this Job and its pods (e.g. a finished one, before a new run of the same
/// name), unless it is gone already or the name now holds another Job (its uid a
/// precondition).
pub async fn delete_job(ctx: &Context, job: &Job) -> Result<(), Error> {
    let name = job.name_any();
    let namespace = job.namespace().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(Preconditions {
            uid: job.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match jobs.delete(&name, &params).await {
        Ok(_) => {
            ctx.observer
                .wrote::<Job>(Some(&namespace), &name, job.resource_version(), None);
            Ok(())
        }
        // 404: gone already; 409: the name now holds another caller's Job.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(Error::api(format!("delete Job {name}"), e)),
    }
}

/// Create `job`; false when a Job of that name still exists (running, or being deleted).
pub async fn create_job(ctx: &Context, job: &Job) -> Result<bool, Error> {
    let namespace = job.namespace().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    match jobs.create(&params, job).await {
        Ok(created) => {
            ctx.observer.wrote_object(None, &created);
            Ok(true)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(Error::api(format!("create Job {}", job.name_any()), e)),
    }
}
