//! The operator SIGKILLed in the middle of a delete-backup and of a restore on create,
//! then started again: the Job it left running is followed, not started a second time.

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::DeleteParams;
use kubectl_mysql::crd::Phase;
use testkit::apiserver::TestApiServer;

use super::{Rig, dumps};
use crate::cluster::{seed_cr, wait_for_phase, wait_until_deleted};
use crate::walkthrough::{EXPECTED, rows_of};

/// Jobs created in `namespace` so far, by anyone.
fn jobs_created(server: &TestApiServer, namespace: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.verb == "create" && r.resource == "jobs" && r.namespace == namespace)
        .count()
}

/// Wait until Job `name` exists; whether it had already finished when seen.
async fn job_appears(jobs: &Api<Job>, name: &str) -> bool {
    let started = Instant::now();
    loop {
        if let Ok(Some(job)) = jobs.get_opt(name).await {
            let status = job.status.unwrap_or_default();
            return status.succeeded.unwrap_or(0) > 0 || status.failed.unwrap_or(0) > 0;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no Job {name} appeared"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A SIGKILL while the delete-backup runs: the operator started again follows the Job it
/// left (no second delete-backup), records the one backup, removes the data volume only
/// then, and lets the object go. The instance created again has every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_delete_backup_the_backup_runs_once_and_the_object_goes() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let mut rig = Rig::with_rows("fault-kill-del", seed_cr()).await;
    let Some(server) = rig.cluster.server() else {
        return; // counts the Jobs created through the test API server's request log
    };
    let ns = rig.ns.clone();
    assert!(dumps(&rig.node, &ns).is_empty());
    let jobs_before = jobs_created(server, &ns);

    rig.mysqls
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete");
    let jobs: Api<Job> = Api::namespaced(rig.cluster.client.clone(), &ns);
    let finished_at_kill = job_appears(&jobs, "backup-mysql-instance-job").await;
    rig.replace_operator("second");
    eprintln!(
        "fault measure: operator SIGKILLed with the delete-backup {}",
        if finished_at_kill {
            "already finished"
        } else {
            "running"
        }
    );
    wait_until_deleted(&rig.mysqls, "mysql-instance").await;
    let server = rig.cluster.server().expect("test API server");
    assert_eq!(
        jobs_created(server, &ns) - jobs_before,
        1,
        "one delete-backup, not two:\n{}",
        rig.operator.log()
    );
    assert_eq!(dumps(&rig.node, &ns).len(), 1, "one backup on the volume");
    crate::walkthrough::only_backups_remain(&rig.cluster.client, &ns).await;
    rig.created_again_has_every_row().await;
    rig.finish().await;
}

/// A SIGKILL while the restore on create runs: the operator started again follows the
/// restore Job it left (the backup is loaded once, not again on top of itself), and the
/// status says which backup was restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_restore_on_create_the_restore_runs_once_and_says_so() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let mut rig = Rig::with_rows("fault-kill-res", seed_cr()).await;
    if rig.cluster.server().is_none() {
        return; // counts the Jobs created through the test API server's request log
    }
    let ns = rig.ns.clone();
    rig.mysqls
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete");
    wait_until_deleted(&rig.mysqls, "mysql-instance").await;
    let backup = dumps(&rig.node, &ns).pop().expect("the delete-backup");

    let jobs_before = jobs_created(rig.cluster.server().expect("server"), &ns);
    rig.create(&seed_cr()).await;
    let jobs: Api<Job> = Api::namespaced(rig.cluster.client.clone(), &ns);
    let finished_at_kill = job_appears(&jobs, "restore-mysql-instance-job").await;
    rig.replace_operator("second");
    eprintln!(
        "fault measure: operator SIGKILLed with the restore {}",
        if finished_at_kill {
            "already finished"
        } else {
            "running"
        }
    );
    wait_for_phase(
        &rig.mysqls,
        "mysql-instance",
        Phase::Ready,
        Some("created with restore-job"),
    )
    .await;
    assert_eq!(
        jobs_created(rig.cluster.server().expect("server"), &ns) - jobs_before,
        1,
        "one restore, not two:\n{}",
        rig.operator.log()
    );
    let status = (rig.mysqls.get("mysql-instance").await)
        .expect("get")
        .status
        .expect("status");
    assert_eq!(status.last_restore.as_deref(), Some(backup.as_str()));
    assert_eq!(rows_of(rig.port().await), EXPECTED, "no row lost");
    rig.finish().await;
}
