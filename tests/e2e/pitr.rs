//! Point-in-time restore in a cluster: the server's pod runs the binlog-archive container
//! (the node stand-in runs it next to the real MariaDB), and `kubectl mysql restore --to`
//! loads the newest backup before the time and replays the archive, with the operator and
//! without it.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use kubectl_mysql::backup::point::utc_rfc3339;
use kubectl_mysql::resources::{ARCHIVE_CONTAINER, PITR_SERVER_ARGS};
use testkit::node::NodeStandIn;

use crate::cluster::{Cluster, install_crd, seed_cr};
use crate::plugin::Plugin;
use crate::walkthrough::{EXPECTED, ROWS, Scene, port_of, rows_of, seed_password, sql};

/// A second boundary after everything so far, as RFC 3339: every event logged before it
/// has an earlier time, every one after it this second or later.
fn mark() -> String {
    std::thread::sleep(Duration::from_millis(1100));
    utc_rfc3339(jiff::Timestamp::now())
}

/// The archive container's output so far, once it has archived a file: once it runs (it
/// has marked where its archive starts), a write of its own, which the next flush closes.
async fn archived(node: &NodeStandIn, ns: &str, port: u16) -> String {
    let horizon = node.local_path(&format!(
        "/var/lib/kubectl-mysql/{ns}/mysql-instance/backup/binlog/horizon"
    ));
    for _ in 0..300 {
        if horizon.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(horizon.exists(), "the archive container did not start");
    sql(
        port,
        "otus-database",
        "CREATE TABLE IF NOT EXISTS archived (at DATETIME); INSERT INTO archived VALUES (NOW())",
    );
    for _ in 0..300 {
        if let Some(logs) = node.container_logs(ns, "mysql-instance", ARCHIVE_CONTAINER)
            && logs.contains(r#""op":"archive","ok":true"#)
        {
            return logs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the archive container archived nothing: {:?}",
        node.container_logs(ns, "mysql-instance", ARCHIVE_CONTAINER)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_to_a_time_through_kubectl_with_the_operator() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let mut cr = seed_cr();
    cr.spec.pitr = Some(true);
    cr.spec.pitr_flush_seconds = Some(10);
    let scene = Scene::with_rows_from("pitr-op", cr).await;
    let ns = scene.cluster.namespace.clone();
    let plugin = Plugin::new(Some(&scene.cluster));
    let port = scene.port().await;

    // The Deployment the operator made: the server's binlog options and the archive.
    let deployments: Api<Deployment> = Api::namespaced(scene.cluster.client.clone(), &ns);
    let deployment = deployments.get("mysql-instance").await.expect("deployment");
    let pod = deployment.spec.and_then(|s| s.template.spec).expect("pod");
    let server = &pod.containers[0];
    let args: Vec<&str> = server.args.iter().flatten().map(String::as_str).collect();
    assert_eq!(args, PITR_SERVER_ARGS);
    assert!(pod.containers.iter().any(|c| c.name == ARCHIVE_CONTAINER));
    assert_eq!(
        sql(port, "otus-database", "SELECT @@log_bin, @@binlog_format"),
        "1\tROW\n"
    );
    archived(&scene.node, &ns, port).await;
    // Stored as a real server stores it (defaults filled, zero values dropped), the
    // Deployment with its second container is what the builder sends: a pass over the
    // converged instance writes nothing.
    let ctx = kubectl_mysql::reconcile::Context::new(scene.cluster.client.clone(), "test");
    let current = scene.mysqls.get("mysql-instance").await.expect("get");
    let outcome = kubectl_mysql::reconcile::reconcile(&current, &ctx)
        .await
        .expect("reconcile");
    assert_eq!((outcome.applied, outcome.status_written), (0, false));

    let backup = plugin.ok(&["mysql", "backup", "mysql-instance", "--wait"], "");
    assert!(backup.stdout.starts_with("backup "), "{}", backup.stdout);
    sql(
        port,
        "otus-database",
        "INSERT INTO test (name) VALUES ('after the backup')",
    );
    let before_the_mistake = mark();
    sql(port, "otus-database", "DELETE FROM test");

    let restored = plugin.ok(
        &[
            "mysql",
            "restore",
            "mysql-instance",
            "--to",
            &before_the_mistake,
            "--wait",
        ],
        "",
    );
    assert!(
        restored.stdout.contains(" binlog file") && restored.stdout.contains(&before_the_mistake),
        "{}",
        restored.stdout
    );
    let expected = format!("{EXPECTED}4\tafter the backup\n");
    assert_eq!(rows_of(port), expected);

    // Status and Events say what was used, and what can be reached.
    let shown = plugin.ok(&["mysql", "status", "mysql-instance"], "").stdout;
    assert!(
        shown.contains("Point in time:") && shown.contains("restorable from "),
        "{shown}"
    );
    assert!(shown.contains(" binlog file"), "the last restore: {shown}");
    let events: Api<Event> = Api::namespaced(scene.cluster.client.clone(), &ns);
    let events = events.list(&ListParams::default()).await.expect("events");
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("RestoredToPoint")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains(&before_the_mistake))),
        "{:?}",
        events.items.iter().map(|e| &e.message).collect::<Vec<_>>()
    );

    // Before the first backup: one line saying what is available, and nothing changed.
    let early = plugin.kubectl(
        &[
            "mysql",
            "restore",
            "mysql-instance",
            "--to",
            "2020-01-01T00:00:00Z",
            "--wait",
        ],
        "",
    );
    assert_eq!(early.code, Some(1), "{}", early.stderr);
    assert!(
        early
            .stderr
            .contains("refusing to restore to 2020-01-01T00:00:00Z")
            && early.stderr.contains("restorable from "),
        "{}",
        early.stderr
    );
    assert_eq!(rows_of(port), expected);
    scene.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_to_a_time_by_hand_with_the_cli() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let cluster = Cluster::new("pitr-cli").await;
    install_crd(&cluster.client).await;
    let node = NodeStandIn::start_with_mysql(cluster.client.clone());
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let ns = cluster.namespace.clone();
    let cli = |args: &[&str], stdin: &str| {
        let mut all = vec!["--kubeconfig", kubeconfig.as_str(), "-n", ns.as_str()];
        all.extend_from_slice(args);
        crate::cli::kubectl_mysql(&all, stdin)
    };
    let ok = |args: &[&str], stdin: &str| {
        let run = cli(args, stdin);
        assert_eq!(
            run.code,
            Some(0),
            "{args:?}\n{}\n{}",
            run.stdout,
            run.stderr
        );
        run.stdout
    };

    // An instance without the archive cannot be restored to a point, and says how to get it.
    ok(
        &[
            "create",
            "plain",
            "--database",
            "db",
            "--storage-size",
            "1Gi",
        ],
        "",
    );
    let refused = cli(&["restore", "plain", "--to", "2026-01-01T00:00:00Z"], "");
    assert_eq!(refused.code, Some(1));
    assert!(
        refused
            .stderr
            .contains("MySQL plain does not archive its binary log")
            && refused.stderr.contains("spec.pitr: true"),
        "{}",
        refused.stderr
    );
    let bad = cli(&["restore", "plain", "--to", "yesterday"], "");
    assert_eq!(bad.code, Some(1));
    assert!(
        bad.stderr.contains("is not an RFC 3339 time") && bad.stderr.contains("hint: "),
        "{}",
        bad.stderr
    );
    assert_eq!(
        bad.stderr.lines().count(),
        2,
        "one line and a hint: {}",
        bad.stderr
    );

    ok(
        &[
            "create",
            "mysql-instance",
            "--database",
            "otus-database",
            "--storage-size",
            "1Gi",
            "--pitr",
            "--pitr-flush-seconds",
            "10",
            "--password-stdin",
            "--wait",
            "--timeout",
            "90s",
        ],
        &seed_password(),
    );
    let port = port_of(&node, &ns).await;
    sql(port, "otus-database", ROWS);
    archived(&node, &ns, port).await;
    ok(
        &["backup", "mysql-instance", "--wait", "--timeout", "60s"],
        "",
    );
    sql(
        port,
        "otus-database",
        "UPDATE test SET name = 'renamed' WHERE id = 2",
    );
    let renamed = mark();
    sql(port, "otus-database", "DROP TABLE test");

    let restored = ok(
        &[
            "restore",
            "mysql-instance",
            "--to",
            &renamed,
            "--wait",
            "--timeout",
            "60s",
        ],
        "",
    );
    assert!(restored.contains("binlog file"), "{restored}");
    assert_eq!(
        rows_of(port),
        EXPECTED.replace("some data-2", "renamed"),
        "the table is back, with the rows of that time"
    );
    drop(node);
    cluster.cleanup().await;
}
