//! One server version per instance: the Jobs run the exact image the server runs
//! (`status.image`, its pod's digest), whatever a tag or a node's cache says by then; a
//! new `spec.image` is backed up before it rolls; an older release series is refused.
//! The node stand-in plays the registry (tags a test moves) and mysqld's refusal to boot
//! on a data directory a newer release series wrote.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use kubectl_mysql::crd::{MySQL, MySQLStatus, Phase};
use serde_json::json;

use crate::cluster::wait_until_deleted;
use crate::walkthrough::{EXPECTED, Scene, only_backups_remain};

/// The image of the Job's container.
fn job_image(job: &Job) -> Option<String> {
    let pod = job.spec.as_ref()?.template.spec.as_ref()?;
    pod.containers.first()?.image.clone()
}

/// The server pulled `mysql:latest` as 9.7; by the time the instance is deleted, the node
/// that runs the delete-backup has 9.6 as `latest` (a stale cache, or the tag moved back).
/// A Job on `mysql:latest` would boot 9.6 on 9.7 data: "Downgrade is not supported", the
/// backup fails and the instance stays Failed. On the server's digest it backs up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delete_backup_runs_the_servers_digest_whatever_latest_is_now() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let scene = Scene::with_rows_on("skew", Some("mysql:latest")).await;
    let status = (scene.mysqls.get("mysql-instance").await)
        .expect("get")
        .status
        .expect("status");
    let running = status.image.expect("status.image once Ready");
    assert!(
        running.starts_with("docker.io/library/mysql@sha256:") && running.len() == 95,
        "{running}"
    );

    scene.node.retag("mysql:latest", "9.6.0");
    scene
        .mysqls
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete");
    let jobs: Api<Job> = Api::namespaced(scene.cluster.client.clone(), &scene.cluster.namespace);
    let mut seen = None;
    for _ in 0..3000 {
        if let Ok(Some(job)) = jobs.get_opt("backup-mysql-instance-job").await {
            seen = job_image(&job);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    wait_until_deleted(&scene.mysqls, "mysql-instance").await;
    only_backups_remain(&scene.cluster.client, &scene.cluster.namespace).await;
    assert_eq!(
        seen.as_deref(),
        Some(running.as_str()),
        "the delete-backup's image"
    );
    scene.finish().await;
}

/// The instance's status once `done` says it is what the test waits for.
async fn status_when(
    mysqls: &Api<MySQL>,
    what: &str,
    done: impl Fn(&MySQLStatus) -> bool,
) -> MySQLStatus {
    for _ in 0..900 {
        let status = (mysqls.get("mysql-instance").await.ok())
            .and_then(|m| m.status)
            .unwrap_or_default();
        if done(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = mysqls
        .get("mysql-instance")
        .await
        .ok()
        .and_then(|m| m.status);
    panic!("timed out waiting for {what}; last status {last:?}");
}

async fn set_image(mysqls: &Api<MySQL>, image: &str) -> Result<MySQL, kube::Error> {
    let patch = json!({"spec": {"image": image}});
    mysqls
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
}

/// The image of the server's Deployment.
async fn deployed(scene: &Scene) -> String {
    let deployments: Api<Deployment> =
        Api::namespaced(scene.cluster.client.clone(), &scene.cluster.namespace);
    let deployment = deployments.get("mysql-instance").await.expect("Deployment");
    let pod = deployment
        .spec
        .and_then(|s| s.template.spec)
        .expect("pod template");
    pod.containers[0].image.clone().expect("image")
}

/// The notes of the instance's Events with `reason`, oldest first.
async fn events(scene: &Scene, reason: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(scene.cluster.client.clone(), &scene.cluster.namespace);
    let mut list = api.list(&Default::default()).await.expect("events").items;
    list.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
    list.into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.note)
        .collect()
}

/// 8.4 → 9.7: a verified backup from the 8.4 server first, then the roll; the data is
/// upgraded in place and the Jobs follow the new digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_image_is_backed_up_from_the_old_server_then_rolled() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let scene = Scene::with_rows_on("upgrade", Some("mysql:8.4")).await;
    let before = status_when(&scene.mysqls, "the 8.4 image", |s| s.image.is_some()).await;
    let old_image = before.image.clone().expect("image");
    let names = kubectl_mysql::resources::Names::of(&scene.cluster.namespace, "mysql-instance");
    let datadir = scene.node.local_path(&names.data_host_path());
    assert_eq!(
        scene.node.data_version(&datadir).as_deref(),
        Some("8.4.8"),
        "{}",
        datadir.display()
    );

    set_image(&scene.mysqls, "mysql:9.7")
        .await
        .expect("an upgrade is admitted");
    let after = status_when(&scene.mysqls, "Ready on the new image", |s| {
        s.phase == Some(Phase::Ready) && s.image.as_ref().is_some_and(|i| *i != old_image)
    })
    .await;
    assert_eq!(deployed(&scene).await, "mysql:9.7");
    let backup = after
        .last_backup
        .clone()
        .expect("the pre-upgrade backup is the last backup");
    assert_ne!(before.last_backup, after.last_backup);
    let notes = events(&scene, "Upgrading").await;
    assert_eq!(
        notes,
        [
            "backing up before the upgrade from mysql:8.4 to mysql:9.7".to_string(),
            format!("backed up to {backup}; rolling the server from mysql:8.4 to mysql:9.7"),
        ]
    );
    assert_eq!(scene.rows().await, EXPECTED, "the data is still there");
    assert_eq!(scene.node.data_version(&datadir).as_deref(), Some("9.7.0"));
    scene.finish().await;
}

/// Downgrades: refused at admission where the tags say so; where they do not
/// (`latest`, which runs 9.7), refused by the operator from the server's own version,
/// with the server left on its image and its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_release_series_is_refused_and_nothing_is_lost() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let scene = Scene::with_rows_on("downgrade", Some("mysql:9.7")).await;
    let refused = set_image(&scene.mysqls, "mysql:8.4")
        .await
        .expect_err("refused");
    match refused {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 422);
            assert!(
                status
                    .message
                    .contains("spec.image goes back to an older MySQL release series"),
                "{}",
                status.message
            );
        }
        other => panic!("expected a 422, got {other}"),
    }
    assert_eq!(deployed(&scene).await, "mysql:9.7");

    // `latest` names no version: admitted, then the operator backs up and finds 9.7.0.
    set_image(&scene.mysqls, "mysql:latest")
        .await
        .expect("latest is 9.7 too");
    status_when(&scene.mysqls, "Ready on latest", |s| {
        s.phase == Some(Phase::Ready)
    })
    .await;
    let ready = status_when(&scene.mysqls, "Ready on latest", |s| {
        s.phase == Some(Phase::Ready) && s.last_backup.is_some()
    })
    .await;
    assert_eq!(deployed(&scene).await, "mysql:latest");
    set_image(&scene.mysqls, "mysql:8.4")
        .await
        .expect("latest -> 8.4 is not readable from tags");
    let failed = status_when(&scene.mysqls, "the refusal", |s| {
        s.phase == Some(Phase::Failed)
    })
    .await;
    let degraded = (failed.conditions.iter())
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded");
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "DowngradeRefused")
    );
    assert!(
        degraded.message.starts_with(
            "spec.image mysql:8.4 is an older MySQL release series (8.4) than the server runs 9.7.0"
        ),
        "{}",
        degraded.message
    );
    assert_eq!(
        deployed(&scene).await,
        "mysql:latest",
        "the server keeps its image"
    );
    assert_eq!(failed.image, ready.image);
    assert_eq!(scene.rows().await, EXPECTED);

    // Back to the running image: Ready again, with no new backup needed.
    set_image(&scene.mysqls, "mysql:latest")
        .await
        .expect("back");
    status_when(&scene.mysqls, "Ready again", |s| {
        s.phase == Some(Phase::Ready)
    })
    .await;
    assert_eq!(scene.rows().await, EXPECTED);
    scene.finish().await;
}
