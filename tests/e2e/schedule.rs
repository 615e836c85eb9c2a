//! Scheduled backups: the instance's CronJob, kept by the cluster's CronJob controller
//! (the node stand-in plays it, on the wall clock), runs the backup script against the
//! real MariaDB server; the operator records each run into the catalogue and the status,
//! and retention applies to them as to any backup.

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use kubectl_mysql::backup::BackupEntry;
use kubectl_mysql::reconcile::catalogue::CATALOGUE_KEY;
use kubectl_mysql::reconcile::scheduled::RECORDED;
use serde_json::json;

use crate::cluster::seed_cr;
use crate::plugin::Plugin;
use crate::walkthrough::Scene;

/// The catalogue as the cluster records it, newest first.
async fn catalogue(maps: &Api<ConfigMap>) -> Vec<BackupEntry> {
    let map = maps.get_opt("mysql-instance-backups").await.ok().flatten();
    map.and_then(|m| m.data)
        .and_then(|d| d.get(CATALOGUE_KEY).cloned())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Whether the CronJob `name` exists (`present`) or not, within 30 s.
pub(crate) async fn cron_job_is(crons: &Api<CronJob>, name: &str, present: bool) -> bool {
    for _ in 0..300 {
        if crons.get_opt(name).await.expect("get").is_some() == present {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_enter_the_catalogue_and_retention_prunes_them() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let mut cr = seed_cr();
    cr.spec.backup_schedule = Some("* * * * *".into());
    cr.spec.backup_retention = 2;
    let scene = Scene::with_rows_from("sched", cr).await;
    let ns = scene.cluster.namespace.clone();
    let client = scene.cluster.client.clone();
    let plugin = Plugin::new(Some(&scene.cluster));

    // An on-demand backup first; a scheduled run may hold the volume at that moment, and
    // then the CLI says so and is tried again.
    let mut on_demand = None;
    for _ in 0..60 {
        let run = plugin.kubectl(&["mysql", "backup", "mysql-instance", "--wait"], "");
        if run.code == Some(0) {
            on_demand = Some(run.stdout);
            break;
        }
        assert!(
            run.stderr.contains("is still running"),
            "only a running scheduled backup may hold it up: {}",
            run.stderr
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let on_demand = on_demand.expect("an on-demand backup");
    let on_demand = on_demand
        .split_whitespace()
        .nth(1)
        .expect("backup NAME (...)")
        .to_string();

    // Two scheduled runs after it: with retention 2 the on-demand one is pruned.
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let entries = loop {
        let entries = catalogue(&maps).await;
        if entries.len() == 2 && entries.iter().all(|e| e.name > on_demand) {
            break entries;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "two scheduled backups after {on_demand}: {entries:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(entries.iter().all(|e| e.verified));

    // Each run was recorded once (the Job is marked after the catalogue and the status
    // are written, so the mark may come a moment later), and the status names the newest
    // backup.
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let mut recorded = Vec::new();
    for _ in 0..300 {
        let runs = jobs.list(&ListParams::default()).await.expect("jobs").items;
        recorded = (runs.iter())
            .filter(|j| {
                (j.metadata.name.as_deref())
                    .is_some_and(|n| n.starts_with("backup-mysql-instance-cron-"))
            })
            .filter_map(|j| j.metadata.annotations.as_ref()?.get(RECORDED).cloned())
            .collect();
        if entries.iter().all(|e| recorded.contains(&e.name)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for entry in &entries {
        assert!(
            recorded.contains(&entry.name),
            "{} in {recorded:?}",
            entry.name
        );
    }
    let newest = entries[0].name.clone();
    let mut last_backup = None;
    for _ in 0..100 {
        let status = scene
            .mysqls
            .get("mysql-instance")
            .await
            .expect("get")
            .status;
        last_backup = status.and_then(|s| s.last_backup);
        if last_backup.as_deref() >= Some(newest.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        last_backup.as_deref() >= Some(newest.as_str()),
        "{last_backup:?}"
    );

    // What a person sees: the schedule, the next run and the last one; LAST BACKUP in -o wide.
    let status = plugin.ok(&["mysql", "status", "mysql-instance"], "").stdout;
    assert!(
        status.contains(
            "Backup schedule:    * * * * * (Etc/UTC), CronJob backup-mysql-instance-cron"
        ),
        "{status}"
    );
    assert!(status.contains("Next backup:"), "{status}");
    assert!(
        status.contains("Last scheduled:     backup-mysql-instance-cron-"),
        "{status}"
    );
    let wide = plugin.ok(&["get", "mysqls", "-o", "wide"], "").stdout;
    assert!(
        wide.lines()
            .next()
            .is_some_and(|h| h.contains("LAST BACKUP")),
        "{wide}"
    );

    // Without the schedule, the CronJob goes.
    scene
        .mysqls
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"backup_schedule": null}})),
        )
        .await
        .expect("patch");
    let crons: Api<CronJob> = Api::namespaced(client.clone(), &ns);
    assert!(
        cron_job_is(&crons, "backup-mysql-instance-cron", false).await,
        "the CronJob is removed with the schedule"
    );
    scene.finish().await;
}

/// Deleting an instance suspends its CronJob before the delete-backup starts, so no
/// scheduled run starts on a server being stopped; then the CronJob goes with the instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_scheduled_instance_suspends_its_cron_job_first() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let mut cr = seed_cr();
    // New Year only: no run starts while the test runs.
    cr.spec.backup_schedule = Some("0 0 1 1 *".into());
    let scene = Scene::with_rows_from("sched-del", cr).await;
    let ns = scene.cluster.namespace.clone();
    let client = scene.cluster.client.clone();
    let server = scene.cluster.server().expect("the test API server");
    let crons: Api<CronJob> = Api::namespaced(client.clone(), &ns);
    assert!(
        crons
            .get_opt("backup-mysql-instance-cron")
            .await
            .expect("get")
            .is_some()
    );
    // The CronJob as the server stored it (defaults filled, zero values dropped) holds
    // what the builder sends: a pass over the converged instance writes nothing.
    let ctx = kubectl_mysql::reconcile::Context::new(client.clone(), "test");
    let current = scene.mysqls.get("mysql-instance").await.expect("get");
    let outcome = kubectl_mysql::reconcile::reconcile(&current, &ctx)
        .await
        .expect("reconcile");
    assert_eq!((outcome.applied, outcome.status_written), (0, false));
    server.clear_requests();
    scene
        .mysqls
        .delete("mysql-instance", &Default::default())
        .await
        .expect("delete");
    crate::cluster::wait_until_deleted(&scene.mysqls, "mysql-instance").await;
    let requests = server.requests();
    let position = |verb: &str, resource: &str, name: &str| {
        requests
            .iter()
            .position(|r| r.verb == verb && r.resource == resource && r.name == name)
    };
    let suspended = position("patch", "cronjobs", "backup-mysql-instance-cron")
        .expect("the CronJob was patched (suspended)");
    let delete_backup = (requests.iter())
        .position(|r| r.verb == "create" && r.resource == "jobs")
        .expect("the delete-backup was created");
    assert!(suspended < delete_backup, "suspended first: {requests:?}");
    assert!(
        cron_job_is(&crons, "backup-mysql-instance-cron", false).await,
        "the CronJob goes with its owner"
    );

    // Made again, the instance restores its backup first; only then does its schedule
    // start (a run before would back up the empty database and hold the volume).
    server.clear_requests();
    let mut again = seed_cr();
    again.spec.backup_schedule = Some("0 0 1 1 *".into());
    scene
        .mysqls
        .create(&Default::default(), &again)
        .await
        .expect("create again");
    crate::cluster::wait_for_phase(
        &scene.mysqls,
        "mysql-instance",
        kubectl_mysql::crd::Phase::Ready,
        Some("created with restore-job"),
    )
    .await;
    assert!(
        cron_job_is(&crons, "backup-mysql-instance-cron", true).await,
        "the schedule starts once the instance is Ready"
    );
    let requests = server.requests();
    let scheduled = (requests.iter())
        .position(|r| r.verb == "patch" && r.resource == "cronjobs")
        .expect("the CronJob applied");
    let restore_ended = (requests.iter())
        .rposition(|r| {
            r.resource == "jobs"
                && r.subresource == "status"
                && r.name == "restore-mysql-instance-job"
        })
        .expect("the restore Job's status written");
    assert!(
        restore_ended < scheduled,
        "restored before the schedule: {requests:?}"
    );
    scene.finish().await;
}
