//! Backup and restore Jobs as the reconcile sees them: start one (replacing a finished
//! Job of the same name, never two at once) and read back how it ended, from the Job's
//! conditions and its pod's termination message.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams, PropagationPolicy};
use kube::{Client, ResourceExt};

use crate::backup::{JobReport, parse_report};
use crate::error::Error;
use crate::resources::FIELD_MANAGER;

/// Where a Job is.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// The newest termination message of the Job's pods.
async fn termination_message(
    client: &Client,
    namespace: &str,
    job: &str,
) -> Result<Option<String>, Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let listed = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await
        .map_err(|e| Error::api(format!("list the pods of Job {job}"), e))?;
    let mut items = listed.items;
    items.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    Ok(items.iter().rev().find_map(|p| {
        p.status
            .as_ref()?
            .container_statuses
            .as_ref()?
            .first()?
            .state
            .as_ref()?
            .terminated
            .as_ref()?
            .message
            .clone()
    }))
}

/// The state of Job `name`, and the Job itself when it exists.
pub async fn job_state(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<(JobState, Option<Job>), Error> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let Some(job) = jobs
        .get_opt(name)
        .await
        .map_err(|e| Error::api(format!("read Job {name}"), e))?
    else {
        return Ok((JobState::Missing, None));
    };
    if job.metadata.deletion_timestamp.is_some() {
        return Ok((JobState::Running, Some(job)));
    }
    let state = if condition(&job, "Complete").is_some() {
        let message = termination_message(client, namespace, name)
            .await?
            .unwrap_or_default();
        match parse_report(&message) {
            Ok(JobReport::Failed(f)) => JobState::Failed(f.error),
            Ok(report) => JobState::Succeeded(report),
            Err(e) => JobState::Failed(format!(
                "Job {name} completed without a readable result: {e}"
            )),
        }
    } else if let Some(failed) = condition(&job, "Failed") {
        let message = termination_message(client, namespace, name)
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

/// Delete a Job and its pods (e.g. a finished one, before a new run of the same name).
pub async fn delete_job(client: &Client, namespace: &str, name: &str) -> Result<(), Error> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match jobs.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::api(format!("delete Job {name}"), e)),
    }
}

/// Create `job`; false when a Job of that name still exists (running, or being deleted).
pub async fn create_job(client: &Client, job: &Job) -> Result<bool, Error> {
    let namespace = job.namespace().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    match jobs.create(&params, job).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(Error::api(format!("create Job {}", job.name_any()), e)),
    }
}
