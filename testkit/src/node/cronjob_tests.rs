//! The stand-in's CronJob controller on the wall clock, with simulated Jobs (1 s each).
//! The CronJobs of one test share a cluster and the same two scheduled minutes, so the
//! whole takes about two minutes.

use k8s_openapi::api::batch::v1::CronJobStatus;
use kube::api::ListParams;

use super::cronjobs::SCHEDULED_TIMESTAMP;
use super::tests::{cluster_with, eventually_within};
use super::*;
use crate::apiserver::TestApiServer;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Long enough for a scheduled minute to come on a loaded CI machine.
const A_MINUTE_AND_SLACK: Duration = Duration::from_secs(150);

fn simulating(client: Client) -> NodeStandIn {
    NodeStandIn::start_simulating_jobs(client, Duration::from_secs(1))
}

async fn cluster() -> Result<(TestApiServer, Client, NodeStandIn), Box<dyn std::error::Error>> {
    cluster_with(simulating).await
}

/// A CronJob running every minute: `template` for its Jobs (labelled `app: <name>`),
/// `extra` merged into its spec.
fn cron_job(name: &str, template: Value, extra: Value) -> CronJob {
    let mut spec = json!({
        "schedule": "* * * * *",
        "jobTemplate": {
            "metadata": {"labels": {"app": name}},
            "spec": {"backoffLimit": 0, "template": template},
        },
    });
    json_patch::merge(&mut spec, &extra);
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec}))
        .expect("a valid CronJob")
}

/// A pod that runs (for the simulated second) and succeeds.
fn quick() -> Value {
    json!({"spec": {"restartPolicy": "Never", "containers": [
        {"name": "run", "image": "busybox:1.36", "command": ["true"]}]}})
}

/// A pod that never starts (its claim is never made): its Job stays active.
fn stuck() -> Value {
    json!({"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "run", "image": "busybox:1.36", "command": ["true"],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "never-made"}}],
    }})
}

/// The Jobs a CronJob controls, oldest scheduled first.
async fn runs_of(jobs: &Api<Job>, cron_job: &CronJob) -> Vec<Job> {
    let mut runs: Vec<Job> = match jobs.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(_) => return Vec::new(),
    };
    runs.retain(|j| {
        (j.owner_references().iter())
            .any(|o| o.controller == Some(true) && Some(&o.uid) == cron_job.metadata.uid.as_ref())
    });
    runs.sort_by_key(|j| j.name_any());
    runs
}

fn scheduled_time(job: &Job) -> jiff::Timestamp {
    let stamp = job
        .annotations()
        .get(SCHEDULED_TIMESTAMP)
        .expect("the scheduled time");
    stamp.parse().expect("RFC 3339")
}

fn completed(job: &Job) -> bool {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_ref());
    (conditions.into_iter().flatten()).any(|c| c.type_ == "Complete" && c.status == "True")
}

async fn status_of(cron_jobs: &Api<CronJob>, name: &str) -> Option<CronJobStatus> {
    cron_jobs.get(name).await.ok()?.status
}

fn last_scheduled(status: &CronJobStatus) -> Option<jiff::Timestamp> {
    status.last_schedule_time.as_ref().map(|t| t.0)
}

fn active_names(status: &CronJobStatus) -> Vec<String> {
    (status.active.iter().flatten())
        .filter_map(|r| r.name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn cron_jobs_start_runs_each_minute_by_their_policies() -> TestResult {
    let (_server, client, _node) = cluster().await?;
    let cron_jobs: Api<CronJob> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    let history = json!({"successfulJobsHistoryLimit": 1});
    let history = cron_jobs
        .create(&pp, &cron_job("history", quick(), history))
        .await?;
    let suspended = json!({"suspend": true});
    let suspended = (cron_jobs.create(&pp, &cron_job("suspended", quick(), suspended))).await?;
    let forbid = json!({"concurrencyPolicy": "Forbid"});
    let forbid = cron_jobs
        .create(&pp, &cron_job("forbid", stuck(), forbid))
        .await?;
    let replace = json!({"concurrencyPolicy": "Replace"});
    let replace = cron_jobs
        .create(&pp, &cron_job("replace", stuck(), replace))
        .await?;

    tokio::try_join!(
        runs_are_made_then_pruned_to_the_history_limit(&client, &history),
        forbid_waits_and_replace_replaces(&client, &forbid, &replace),
    )?;

    // Two scheduled minutes have passed since it was made: a suspended CronJob started
    // nothing, and nothing was written to it.
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    assert!(runs_of(&jobs, &suspended).await.is_empty());
    let now = cron_jobs.get("suspended").await?;
    assert_eq!(now.resource_version(), suspended.resource_version());
    assert_eq!(
        status_of(&cron_jobs, "suspended")
            .await
            .and_then(|s| s.last_schedule_time),
        None
    );

    // The garbage collector takes a deleted CronJob's runs.
    let left = runs_of(&jobs, &history).await;
    assert!(!left.is_empty());
    cron_jobs.delete("history", &Default::default()).await?;
    eventually_within(
        "the runs of a deleted CronJob to go",
        A_MINUTE_AND_SLACK,
        || async { runs_of(&jobs, &history).await.is_empty().then_some(()) },
    )
    .await;
    Ok(())
}

/// Two runs, each named after its minute, owned and labelled; the status follows them;
/// with a history limit of 1 only the second stays.
async fn runs_are_made_then_pruned_to_the_history_limit(
    client: &Client,
    cron_job: &CronJob,
) -> TestResult {
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let cron_jobs: Api<CronJob> = Api::default_namespaced(client.clone());
    let first = eventually_within("the first run", A_MINUTE_AND_SLACK, || async {
        runs_of(&jobs, cron_job).await.into_iter().next()
    })
    .await;
    let scheduled = scheduled_time(&first);
    let created = cron_job.creation_timestamp().expect("created").0;
    assert!(
        scheduled > created && scheduled.as_second() % 60 == 0,
        "{scheduled} after {created}"
    );
    assert_eq!(
        first.name_any(),
        format!("history-{}", scheduled.as_second() / 60)
    );
    assert_eq!(
        first.labels().get("app").map(String::as_str),
        Some("history")
    );
    let owner = &first.owner_references()[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str()
        ),
        ("batch/v1", "CronJob", "history")
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    assert_eq!(first.spec.as_ref().and_then(|s| s.backoff_limit), Some(0));

    let status = eventually_within(
        "lastSuccessfulTime after the first run",
        A_MINUTE_AND_SLACK,
        || async {
            status_of(&cron_jobs, "history")
                .await
                .filter(|s| s.last_successful_time.is_some())
        },
    )
    .await;
    assert_eq!(last_scheduled(&status), Some(scheduled));
    assert!(
        active_names(&status).is_empty(),
        "a finished run is not active"
    );

    let second = eventually_within("the second run, completed", A_MINUTE_AND_SLACK, || async {
        let runs = runs_of(&jobs, cron_job).await;
        runs.into_iter()
            .find(|j| j.name_any() != first.name_any() && completed(j))
    })
    .await;
    assert_eq!(
        scheduled_time(&second),
        scheduled + jiff::SignedDuration::from_mins(1)
    );
    eventually_within("the first run pruned", A_MINUTE_AND_SLACK, || async {
        let names: Vec<String> = runs_of(&jobs, cron_job)
            .await
            .iter()
            .map(|j| j.name_any())
            .collect();
        (names == [second.name_any()]).then_some(())
    })
    .await;
    let finished = second
        .status
        .as_ref()
        .and_then(|s| s.completion_time.clone());
    eventually_within(
        "lastSuccessfulTime of the second run",
        A_MINUTE_AND_SLACK,
        || async {
            let status = status_of(&cron_jobs, "history").await?;
            (status.last_successful_time == finished).then_some(())
        },
    )
    .await;
    Ok(())
}

/// Runs that never finish: at the next minute Forbid starts nothing, Replace deletes its
/// run and starts another.
async fn forbid_waits_and_replace_replaces(
    client: &Client,
    forbid: &CronJob,
    replace: &CronJob,
) -> TestResult {
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let cron_jobs: Api<CronJob> = Api::default_namespaced(client.clone());
    let forbidden_run = eventually_within(
        "Forbid's first run, listed active",
        A_MINUTE_AND_SLACK,
        || async {
            let run = runs_of(&jobs, forbid).await.into_iter().next()?;
            let status = status_of(&cron_jobs, "forbid").await?;
            (active_names(&status) == [run.name_any()]).then_some((run, status))
        },
    )
    .await;
    let (run, status) = forbidden_run;
    let listed = &status.active.as_deref().unwrap_or_default()[0];
    assert_eq!(listed.api_version.as_deref(), Some("batch/v1"));
    assert_eq!(listed.kind.as_deref(), Some("Job"));
    assert_eq!(listed.namespace.as_deref(), Some("default"));
    assert_eq!(listed.uid, run.metadata.uid);
    assert!(listed.resource_version.is_some());
    let scheduled = scheduled_time(&run);

    let first_replaced = eventually_within("Replace's first run", A_MINUTE_AND_SLACK, || async {
        runs_of(&jobs, replace).await.into_iter().next()
    })
    .await;
    // Replace's next run shows the next minute has been handled.
    let second = eventually_within(
        "Replace's second run, alone",
        A_MINUTE_AND_SLACK,
        || async {
            let runs = runs_of(&jobs, replace).await;
            let status = status_of(&cron_jobs, "replace").await?;
            match runs.as_slice() {
                [only]
                    if only.name_any() != first_replaced.name_any()
                        && active_names(&status) == [only.name_any()] =>
                {
                    Some(only.clone())
                }
                _ => None,
            }
        },
    )
    .await;
    let next_minute = scheduled_time(&second);
    assert!(next_minute > scheduled_time(&first_replaced));

    // Forbid has passed that minute by: still its one run, listed alone.
    for _ in 0..10 {
        let runs: Vec<String> = runs_of(&jobs, forbid)
            .await
            .iter()
            .map(|j| j.name_any())
            .collect();
        assert_eq!(
            runs,
            [run.name_any()],
            "Forbid starts nothing while a run is active"
        );
        let status = status_of(&cron_jobs, "forbid").await.unwrap_or_default();
        assert_eq!(active_names(&status), [run.name_any()]);
        assert_eq!(last_scheduled(&status), Some(scheduled));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}
