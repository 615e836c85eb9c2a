//! The operator SIGKILLed in the middle of a delete-backup and of a restore on create,
//! then started again: the Job it left running is followed, not started a second time.

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kubectl_mysql::crd::{MySQL, Phase};
use testkit::apiserver::TestApiServer;
use testkit::node::NodeStandIn;

use super::OperatorProcess;
use crate::cluster::{Cluster, install_crd, seed_cr, wait_for_phase, wait_until_deleted};
use crate::walkthrough::{EXPECTED, ROWS, port_of, rows_of, sql};

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

/// The `.sql.gz` files on the instance's backup volume.
fn dumps(node: &NodeStandIn, ns: &str) -> Vec<String> {
    let volume = node.local_path(&format!(
        "/var/lib/kubectl-mysql/{ns}/mysql-instance/backup"
    ));
    let mut names: Vec<String> = std::fs::read_dir(volume)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql.gz"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A SIGKILL while the delete-backup runs: the operator started again follows the Job it
/// left (no second delete-backup), records the one backup, removes the data volume only
/// then, and lets the object go. The instance created again has every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_delete_backup_the_backup_runs_once_and_the_object_goes() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let cluster = Cluster::new("fault-kill-del").await;
    let Some(server) = cluster.server() else {
        return; // counts the Jobs created through the test API server's request log
    };
    install_crd(&cluster.client).await;
    let node = NodeStandIn::start_with_mysql(cluster.client.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let first = OperatorProcess::start(&cluster, dir.path(), "first");
    let ns = cluster.namespace.clone();
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &ns);
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("create");
    wait_for_phase(&mysqls, "mysql-instance", Phase::Ready, None).await;
    sql(port_of(&node, &ns).await, "otus-database", ROWS);
    assert!(dumps(&node, &ns).is_empty());
    let jobs_before = jobs_created(server, &ns);

    mysqls
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete");
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let finished_at_kill = job_appears(&jobs, "backup-mysql-instance-job").await;
    first.kill();
    eprintln!(
        "fault measure: operator SIGKILLed with the delete-backup {}",
        if finished_at_kill {
            "already finished"
        } else {
            "running"
        }
    );

    let second = OperatorProcess::start(&cluster, dir.path(), "second");
    wait_until_deleted(&mysqls, "mysql-instance").await;
    assert_eq!(
        jobs_created(server, &ns) - jobs_before,
        1,
        "one delete-backup, not two:\n{}",
        second.log()
    );
    assert_eq!(dumps(&node, &ns).len(), 1, "one backup on the volume");
    crate::walkthrough::only_backups_remain(&cluster.client, &ns).await;

    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("created again");
    wait_for_phase(
        &mysqls,
        "mysql-instance",
        Phase::Ready,
        Some("created with restore-job"),
    )
    .await;
    assert_eq!(rows_of(port_of(&node, &ns).await), EXPECTED, "no row lost");
    second.kill();
    drop(node);
    cluster.cleanup().await;
}

/// A SIGKILL while the restore on create runs: the operator started again follows the
/// restore Job it left (the backup is loaded once, not again on top of itself), and the
/// status says which backup was restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_restore_on_create_the_restore_runs_once_and_says_so() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let cluster = Cluster::new("fault-kill-res").await;
    let Some(server) = cluster.server() else {
        return; // counts the Jobs created through the test API server's request log
    };
    install_crd(&cluster.client).await;
    let node = NodeStandIn::start_with_mysql(cluster.client.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let first = OperatorProcess::start(&cluster, dir.path(), "first");
    let ns = cluster.namespace.clone();
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &ns);
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("create");
    wait_for_phase(&mysqls, "mysql-instance", Phase::Ready, None).await;
    sql(port_of(&node, &ns).await, "otus-database", ROWS);
    mysqls
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete");
    wait_until_deleted(&mysqls, "mysql-instance").await;
    let backup = dumps(&node, &ns).pop().expect("the delete-backup");

    let jobs_before = jobs_created(server, &ns);
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("created again");
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let finished_at_kill = job_appears(&jobs, "restore-mysql-instance-job").await;
    first.kill();
    eprintln!(
        "fault measure: operator SIGKILLed with the restore {}",
        if finished_at_kill {
            "already finished"
        } else {
            "running"
        }
    );

    let second = OperatorProcess::start(&cluster, dir.path(), "second");
    wait_for_phase(
        &mysqls,
        "mysql-instance",
        Phase::Ready,
        Some("created with restore-job"),
    )
    .await;
    assert_eq!(
        jobs_created(server, &ns) - jobs_before,
        1,
        "one restore, not two:\n{}",
        second.log()
    );
    let status = mysqls
        .get("mysql-instance")
        .await
        .expect("get")
        .status
        .expect("status");
    assert_eq!(status.last_restore.as_deref(), Some(backup.as_str()));
    assert_eq!(rows_of(port_of(&node, &ns).await), EXPECTED, "no row lost");
    second.kill();
    drop(node);
    cluster.cleanup().await;
}
