//! The CronJob controller (kube-controller-manager's cronjob controller v2), where Jobs
//! run, on the wall clock.
//!
//! For each CronJob neither suspended nor being deleted, the latest scheduled time that
//! has come since its `status.lastScheduleTime` (or its creation), and is no more than
//! `startingDeadlineSeconds` ago, gets a Job `<name>-<scheduled time in unix minutes>`:
//! the Job template's labels, annotations and spec, the annotation
//! `batch.kubernetes.io/cronjob-scheduled-timestamp` and the CronJob as controller.
//! `Forbid` leaves a due time alone while a run is active (it starts once that run has
//! finished, if still within the deadline, as the real controller does); `Replace`
//! deletes the active runs first. The status lists the active runs (as the controller
//! recorded them when it made them), the last scheduled time and the last completion;
//! finished runs beyond the history limits are deleted, oldest first. The stand-in's loop
//! wakes at the next scheduled time of any CronJob ([`Cluster::next_cron_run`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PostParams};
use kube::runtime::reflector::Store;
use kubectl_mysql::schedule::Schedule;
use serde_json::{Value, json};

use super::{Cluster, Outcome, as_controller, lock};

/// The annotation a CronJob's Job carries: the time it was scheduled for (RFC 3339, in
/// the CronJob's time zone).
pub(super) const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// The real controller syncs a CronJob this long after its scheduled time (a clock read
/// a moment early must not see the time as still to come).
const WAKE_DELAY: SignedDuration = SignedDuration::from_millis(100);

/// A CronJob's `schedule` and `timeZone`.
type ScheduleKey = (String, Option<String>);

/// The CronJobs' cache, and their parsed schedules (`None`: invalid): a pass looks at
/// every CronJob.
pub(super) struct CronJobs {
    pub(super) cache: Store<CronJob>,
    schedules: Mutex<HashMap<ScheduleKey, Option<Schedule>>>,
}

impl CronJobs {
    pub(super) fn new(cache: Store<CronJob>) -> CronJobs {
        CronJobs {
            cache,
            schedules: Mutex::default(),
        }
    }

    /// The CronJob's schedule in its time zone, if both are valid.
    fn schedule(&self, cron_job: &CronJob) -> Option<Schedule> {
        let spec = cron_job.spec.as_ref()?;
        let key = (spec.schedule.clone(), spec.time_zone.clone());
        lock(&self.schedules)
            .entry(key)
            .or_insert_with(|| Schedule::parse(&spec.schedule, spec.time_zone.as_deref()).ok())
            .clone()
    }

    /// The schedule of a CronJob that may start runs now: not suspended, not being deleted.
    fn running_schedule(&self, cron_job: &CronJob) -> Option<Schedule> {
        let suspended = cron_job.spec.as_ref().and_then(|s| s.suspend) == Some(true);
        if suspended || cron_job.metadata.deletion_timestamp.is_some() {
            return None;
        }
        self.schedule(cron_job)
    }
}

/// How a Job ended, if it has.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Finish {
    Complete,
    Failed,
}

fn finish(job: &Job) -> Option<Finish> {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_ref());
    (conditions.into_iter().flatten())
        .filter(|c| c.status == "True")
        .find_map(|c| match c.type_.as_str() {
            "Complete" => Some(Finish::Complete),
            "Failed" => Some(Finish::Failed),
            _ => None,
        })
}

/// The uid of the CronJob that controls the Job, if one does.
fn cron_job_of(job: &Job) -> Option<String> {
    (job.owner_references().iter())
        .find(|o| o.controller == Some(true) && o.kind == "CronJob")
        .map(|o| o.uid.clone())
}

/// The real controller's Job name: the scheduled time in minutes since the epoch.
fn run_name(cron_job: &CronJob, scheduled: Timestamp) -> String {
    format!("{}-{}", cron_job.name_any(), scheduled.as_second() / 60)
}

/// When a run was scheduled for (else made): the order the history is pruned in.
fn scheduled_at(job: &Job) -> Option<Timestamp> {
    let annotated = job.annotations().get(SCHEDULED_TIMESTAMP);
    annotated
        .and_then(|t| t.parse().ok())
        .or(job.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// An RFC 3339 time in the zone's offset (`Z` for UTC), as Go's `time.RFC3339` writes it.
fn rfc3339_in(time: Timestamp, zone: Option<&str>) -> String {
    let zone = zone
        .and_then(|z| jiff::tz::db().get(z).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let zoned = time.to_zoned(zone);
    if zoned.offset().seconds() == 0 {
        zoned.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

fn api_time(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The latest scheduled time after `since` and at or before `now`, if any.
fn latest_due(schedule: &Schedule, since: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let mut due = None;
    let mut next = schedule.next_after(since);
    while let Some(time) = next.filter(|t| *t <= now) {
        due = Some(time);
        next = schedule.next_after(time);
    }
    due
}

/// The Job the CronJob starts for `scheduled`.
fn run_for(cron_job: &CronJob, scheduled: Timestamp) -> Job {
    let spec = cron_job.spec.clone().unwrap_or_default();
    let template = spec.job_template;
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP.into(),
        rfc3339_in(scheduled, spec.time_zone.as_deref()),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(run_name(cron_job, scheduled)),
            namespace: cron_job.namespace(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: cron_job.name_any(),
                uid: cron_job.uid().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// How `status.active` names a Job (`reference.GetReference`).
fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

fn not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.is_not_found())
}

impl Cluster {
    /// One pass of the CronJob controller over every CronJob.
    pub(super) async fn run_cron_jobs(&self, cron_jobs: &CronJobs, jobs: &Store<Job>) -> Outcome {
        let mut runs: HashMap<String, Vec<Arc<Job>>> = HashMap::new();
        for job in jobs.state() {
            if let Some(owner) = cron_job_of(&job) {
                runs.entry(owner).or_default().push(job);
            }
        }
        let mut outcome = Ok(());
        for cron_job in cron_jobs.cache.state() {
            let owned = (cron_job.uid())
                .and_then(|uid| runs.remove(&uid))
                .unwrap_or_default();
            let synced = self.sync_cron_job(cron_jobs, &cron_job, &owned).await;
            outcome = outcome.and(synced.map_err(Into::into));
        }
        outcome
    }

    /// When the loop must wake next for a CronJob: just after the earliest next
    /// scheduled time of any that may start runs.
    pub(super) fn next_cron_run(&self, cron_jobs: &CronJobs) -> Option<Timestamp> {
        let now = Timestamp::now();
        (cron_jobs.cache.state().iter())
            .filter_map(|c| cron_jobs.running_schedule(c)?.next_after(now))
            .min()
            .map(|t| t + WAKE_DELAY)
    }

    /// `syncCronJob` for one CronJob whose Jobs (from the cache) are `runs`: its history
    /// pruned, its active runs checked, a due run started, the status written if it
    /// changed.
    async fn sync_cron_job(
        &self,
        cron_jobs: &CronJobs,
        cached: &Arc<CronJob>,
        runs: &[Arc<Job>],
    ) -> kube::Result<()> {
        let namespace = cached.namespace().unwrap_or_default();
        let api: Api<CronJob> = Api::namespaced(self.client.clone(), &namespace);
        let job_api: Api<Job> = Api::namespaced(self.client.clone(), &namespace);
        // A running Job the cached status does not list may be one this controller just
        // made: the CronJob's own status is read afresh, as the real controller does.
        let listed = |c: &CronJob, uid: &Option<String>| {
            (c.status.iter().flat_map(|s| s.active.iter().flatten())).any(|r| r.uid == *uid)
        };
        let unlisted =
            (runs.iter()).any(|j| finish(j).is_none() && !listed(cached, &j.metadata.uid));
        let cron_job = if unlisted {
            Arc::new(api.get(&cached.name_any()).await?)
        } else {
            cached.clone()
        };
        let spec = cron_job.spec.clone().unwrap_or_default();
        let before = cron_job.status.clone().unwrap_or_default();
        let mut active = before.active.clone().unwrap_or_default();
        let mut last_success = before.last_successful_time.as_ref().map(|t| t.0);

        self.prune_history(&job_api, &spec, runs, &mut active)
            .await?;
        for job in runs.iter().filter(|j| finish(j) == Some(Finish::Complete)) {
            let completed = job.status.as_ref().and_then(|s| s.completion_time.as_ref());
            last_success = last_success.max(completed.map(|t| t.0));
        }
        // Finished runs leave the list; so do listed ones that are gone (asked of the
        // API server: the cache may lag behind a Job just made).
        let finished: Vec<&Option<String>> = (runs.iter())
            .filter(|j| finish(j).is_some())
            .map(|j| &j.metadata.uid)
            .collect();
        active.retain(|r| !finished.contains(&&r.uid));
        let mut kept = Vec::with_capacity(active.len());
        for entry in active {
            let cached_run = runs.iter().any(|j| j.metadata.uid == entry.uid);
            let name = entry.name.clone().unwrap_or_default();
            if cached_run {
                kept.push(entry);
                continue;
            }
            match job_api.get(&name).await {
                Ok(_) => kept.push(entry),
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let mut status = CronJobStatus {
            active: Some(kept),
            last_schedule_time: before.last_schedule_time.clone(),
            last_successful_time: last_success.map(Time),
        };
        let started = match cron_jobs.running_schedule(&cron_job) {
            Some(schedule) => {
                self.start_due_run(&cron_job, &schedule, &job_api, &mut status)
                    .await
            }
            None => Ok(()),
        };
        // What changed is written even when starting a run failed.
        self.write_cron_job_status(&api, &cron_job, &before, &status)
            .await?;
        started
    }

    /// Delete the oldest finished runs beyond the history limits (with their pods).
    async fn prune_history(
        &self,
        job_api: &Api<Job>,
        spec: &CronJobSpec,
        runs: &[Arc<Job>],
        active: &mut Vec<ObjectReference>,
    ) -> kube::Result<()> {
        let limits = [
            (Finish::Complete, spec.successful_jobs_history_limit),
            (Finish::Failed, spec.failed_jobs_history_limit),
        ];
        for (how, limit) in limits {
            let Some(limit) = limit else { continue };
            // Runs already being deleted are on their way out: not asked again.
            let mut ended: Vec<&Arc<Job>> = (runs.iter())
                .filter(|j| finish(j) == Some(how) && j.metadata.deletion_timestamp.is_none())
                .collect();
            let excess = ended.len().saturating_sub(limit.max(0) as usize);
            ended.sort_by_key(|j| (scheduled_at(j), j.name_any()));
            for job in ended.into_iter().take(excess) {
                match job_api
                    .delete(&job.name_any(), &DeleteParams::background())
                    .await
                {
                    Ok(_) => {}
                    Err(e) if not_found(&e) => {}
                    Err(e) => return Err(e),
                }
                active.retain(|r| r.uid != job.metadata.uid);
            }
        }
        Ok(())
    }

    /// Start the run of the latest due scheduled time, unless it is too late, already
    /// started, or the concurrency policy says to wait.
    async fn start_due_run(
        &self,
        cron_job: &CronJob,
        schedule: &Schedule,
        job_api: &Api<Job>,
        status: &mut CronJobStatus,
    ) -> kube::Result<()> {
        let spec = cron_job.spec.clone().unwrap_or_default();
        let now = Timestamp::now();
        let created = cron_job.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let last = status.last_schedule_time.as_ref().map(|t| t.0);
        let Some(mut since) = last.or(created) else {
            return Ok(());
        };
        // Nothing older than the starting deadline is looked at.
        let deadline = spec
            .starting_deadline_seconds
            .map(SignedDuration::from_secs);
        if let Some(deadline) = deadline {
            since = since.max(now - deadline);
        }
        let Some(due) = latest_due(schedule, since, now) else {
            return Ok(());
        };
        if deadline.is_some_and(|d| due + d < now) {
            return Ok(()); // missed
        }
        let name = run_name(cron_job, due);
        let active = status.active.get_or_insert_with(Vec::new);
        if active
            .iter()
            .any(|r| r.name.as_deref() == Some(name.as_str()))
            || last == Some(due)
        {
            return Ok(());
        }
        match spec.concurrency_policy.as_deref() {
            Some("Forbid") if !active.is_empty() => return Ok(()),
            Some("Replace") => {
                for entry in active.clone() {
                    let running = entry.name.as_deref().unwrap_or_default();
                    match job_api.delete(running, &DeleteParams::background()).await {
                        Ok(_) => {}
                        Err(e) if not_found(&e) => {}
                        Err(e) => return Err(e),
                    }
                    active.retain(|r| r.uid != entry.uid);
                }
            }
            _ => {}
        }
        let params = PostParams {
            field_manager: Some("kube-controller-manager".into()),
            ..PostParams::default()
        };
        let run = match job_api.create(&params, &run_for(cron_job, due)).await {
            Ok(run) => run,
            // Made on an earlier pass whose status write did not land: listed now, if
            // it is this CronJob's.
            Err(kube::Error::Api(s)) if s.is_already_exists() => {
                let run = job_api.get(&name).await?;
                if cron_job_of(&run) != cron_job.uid()
                    || active.iter().any(|r| r.uid == run.metadata.uid)
                {
                    return Ok(());
                }
                run
            }
            Err(e) => return Err(e),
        };
        active.push(reference(&run));
        status.last_schedule_time = Some(Time(due));
        Ok(())
    }

    /// A merge patch of the status fields that changed, through `/status`.
    async fn write_cron_job_status(
        &self,
        api: &Api<CronJob>,
        cron_job: &CronJob,
        before: &CronJobStatus,
        after: &CronJobStatus,
    ) -> kube::Result<()> {
        let listed = |s: &CronJobStatus| s.active.clone().unwrap_or_default();
        let time = |t: &Option<Time>| t.as_ref().map_or(Value::Null, |t| json!(api_time(t.0)));
        let mut changes = serde_json::Map::new();
        if listed(before) != listed(after) {
            let active = listed(after);
            let value = if active.is_empty() {
                Value::Null
            } else {
                serde_json::to_value(active).unwrap_or_default()
            };
            changes.insert("active".into(), value);
        }
        if before.last_schedule_time != after.last_schedule_time {
            changes.insert("lastScheduleTime".into(), time(&after.last_schedule_time));
        }
        if before.last_successful_time != after.last_successful_time {
            changes.insert(
                "lastSuccessfulTime".into(),
                time(&after.last_successful_time),
            );
        }
        if changes.is_empty() {
            return Ok(());
        }
        let patch = json!({ "status": changes });
        match api
            .patch_status(&cron_job.name_any(), &as_controller(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => Ok(()),
            // Deleted meanwhile: nothing left to say.
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn the_latest_due_time_is_the_last_one_not_after_now() {
        let every_five = Schedule::parse("*/5 * * * *", None).expect("valid");
        let since = at("2026-12-05T10:00:00Z");
        assert_eq!(
            latest_due(&every_five, since, at("2026-12-05T10:04:59Z")),
            None
        );
        assert_eq!(
            latest_due(&every_five, since, at("2026-12-05T10:05:00Z")),
            Some(at("2026-12-05T10:05:00Z")),
            "at the time itself"
        );
        assert_eq!(
            latest_due(&every_five, since, at("2026-12-05T10:17:00Z")),
            Some(at("2026-12-05T10:15:00Z")),
            "missed times are not made up"
        );
    }

    #[test]
    fn a_run_is_named_after_its_minute_and_stamped_in_the_cron_jobs_zone() {
        let cron_job: CronJob = serde_json::from_value(json!({
            "metadata": {"name": "backup-shop-cron", "namespace": "shop", "uid": "u-1"},
            "spec": {"schedule": "0 3 * * *", "timeZone": "Europe/Moscow", "jobTemplate": {
                "metadata": {"labels": {"app": "shop"}, "annotations": {"note": "kept"}},
                "spec": {"backoffLimit": 0, "template": {"spec": {"containers": []}}},
            }},
        }))
        .expect("a CronJob");
        let run = run_for(&cron_job, at("2026-12-05T00:00:00Z"));
        assert_eq!(run.name_any(), "backup-shop-cron-29940480");
        assert_eq!(run.namespace().as_deref(), Some("shop"));
        assert_eq!(run.labels().get("app").map(String::as_str), Some("shop"));
        assert_eq!(
            run.annotations()
                .get(SCHEDULED_TIMESTAMP)
                .map(String::as_str),
            Some("2026-12-05T03:00:00+03:00")
        );
        assert_eq!(
            run.annotations().get("note").map(String::as_str),
            Some("kept")
        );
        let owner = &run.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("CronJob", "u-1", Some(true))
        );
        assert_eq!(run.spec.and_then(|s| s.backoff_limit), Some(0));
        assert_eq!(
            rfc3339_in(at("2026-12-05T00:00:00Z"), None),
            "2026-12-05T00:00:00Z"
        );
    }
}
