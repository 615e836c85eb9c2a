//! The operator is quiet and event-driven on a server that stores objects as
//! kube-apiserver does: a converged or waiting instance costs no write, creating one
//! costs a bounded number of requests, every request names the product, a server that
//! says "too many requests" is waited for, and backups take turns in a bounded pool.
//!
//! The test API server only: its request log is what is counted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use kubectl_mysql::crd::{MySQL, Phase};
use kubectl_mysql::operator::Settings;
use kubectl_mysql::reconcile::{Context, reconcile};
use testkit::apiserver::TestApiServer;
use testkit::apiserver::store::RequestRecord;
use testkit::node::NodeStandIn;

use crate::cluster::{Cluster, install_crd, seed_cr, wait_for_phase, wait_until_deleted};
use crate::operator::RunningOperator;

/// Who the operator is in the request log.
const OPERATOR: &str = "system:serviceaccount:kubectl-mysql-system:kubectl-mysql";

fn by(server: &TestApiServer, user: &str) -> Vec<RequestRecord> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.user == user)
        .collect()
}

/// Wait until `user` has sent nothing for `quiet` (at most 30 s).
async fn settled(server: &TestApiServer, user: &str, quiet: Duration) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = by(server, user).len();
    let mut since = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = by(server, user).len();
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() >= quiet {
            return;
        }
    }
    panic!("{user} never went quiet");
}

fn named(name: &str) -> MySQL {
    let mut mysql = seed_cr();
    mysql.metadata.name = Some(name.into());
    mysql
}

/// The seconds of the idle window: 60, or `QUIET_WINDOW_SECS`.
fn idle_window() -> Duration {
    let seconds = std::env::var("QUIET_WINDOW_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_instance_and_one_that_cannot_get_ready_cost_no_write_while_idle() {
    let cluster = Cluster::new("quiet-idle").await;
    let Some(server) = cluster.server() else {
        return; // the request log is the test server's
    };
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    let node = NodeStandIn::start(cluster.client.clone());
    // No node for this one: its server never gets an available replica.
    node.hold(&ns, "waiting");
    let operator_client = cluster.client_as(OPERATOR).await.expect("test server");
    let running = RunningOperator::start_with(operator_client, &ns, Settings::default());
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &ns);
    for name in ["ready", "waiting"] {
        mysqls
            .create(&PostParams::default(), &named(name))
            .await
            .expect("created");
    }
    wait_for_phase(&mysqls, "ready", Phase::Ready, None).await;
    wait_for_phase(&mysqls, "waiting", Phase::Provisioning, None).await;
    settled(server, OPERATOR, Duration::from_secs(2)).await;

    server.clear_requests();
    let window = idle_window();
    tokio::time::sleep(window).await;
    let requests = by(server, OPERATOR);
    let writes: Vec<&RequestRecord> = requests.iter().filter(|r| r.is_write()).collect();
    let reads = requests.len() - writes.len();
    println!(
        "idle {}s, one Ready and one waiting instance: {} writes, {reads} reads",
        window.as_secs(),
        writes.len()
    );
    assert!(
        writes.is_empty(),
        "the operator wrote while idle: {writes:?}"
    );
    assert!(
        requests.iter().all(|r| r.verb == "watch"),
        "only watches may be re-opened while idle: {requests:?}"
    );
    let status = mysqls
        .get("waiting")
        .await
        .expect("get")
        .status
        .expect("status");
    assert_eq!(status.phase, Some(Phase::Provisioning));
    running.stop().await;
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_an_instance_costs_at_most_twelve_requests_and_a_second_pass_writes_nothing() {
    const INSTANCES: usize = 10;
    let cluster = Cluster::new("quiet-create").await;
    let Some(server) = cluster.server() else {
        return;
    };
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    let _node = NodeStandIn::start(cluster.client.clone());
    let operator_client = cluster.client_as(OPERATOR).await.expect("test server");
    let running = RunningOperator::start_with(operator_client, &ns, Settings::default());
    // The operator's lists and watches are its own cost, not an instance's.
    let ready = running.telemetry.clone();
    crate::cluster::eventually("the operator's caches are filled", || {
        let ready = ready.clone();
        async move { ready.is_ready() }
    })
    .await;
    settled(server, OPERATOR, Duration::from_millis(500)).await;
    server.clear_requests();

    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &ns);
    for i in 0..INSTANCES {
        mysqls
            .create(&PostParams::default(), &named(&format!("db-{i}")))
            .await
            .expect("created");
    }
    for i in 0..INSTANCES {
        wait_for_phase(&mysqls, &format!("db-{i}"), Phase::Ready, None).await;
    }
    settled(server, OPERATOR, Duration::from_secs(1)).await;
    let requests: Vec<RequestRecord> = by(server, OPERATOR)
        .into_iter()
        .filter(|r| r.verb != "watch")
        .collect();
    let writes = requests.iter().filter(|r| r.is_write()).count();
    let reads = requests.len() - writes;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        *kinds
            .entry(format!(
                "{} {}{}",
                r.verb,
                r.resource,
                if r.subresource.is_empty() {
                    String::new()
                } else {
                    format!("/{}", r.subresource)
                }
            ))
            .or_default() += 1;
    }
    let per_instance = requests.len() as f64 / INSTANCES as f64;
    println!(
        "{INSTANCES} instances to Ready: {reads} reads, {writes} writes, {per_instance:.1} per instance: {kinds:?}"
    );
    assert!(
        per_instance <= 12.0,
        "{per_instance:.1} requests per created instance: {kinds:?}"
    );

    // A second pass of one of them, by hand, writes nothing: every child is converged.
    server.clear_requests();
    let ctx = Context::new(cluster.client.clone(), "test");
    let current = mysqls.get("db-0").await.expect("get");
    let outcome = reconcile(&current, &ctx).await.expect("reconcile");
    assert_eq!((outcome.applied, outcome.status_written), (0, false));
    let writes: Vec<RequestRecord> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_write())
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    running.stop().await;
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_of_the_binary_names_the_product_and_its_command() {
    let cluster = Cluster::new("quiet-agent").await;
    let Some(server) = cluster.server() else {
        return;
    };
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    let kubeconfig = cluster.kubeconfig_as("cli").expect("test server");
    let kubeconfig = kubeconfig.display().to_string();
    for command in [
        vec!["create", "-f", "deploy/cr.yaml"],
        vec!["status"],
        vec!["status", "mysql-instance", "-o", "json"],
    ] {
        let mut args = vec!["--kubeconfig", kubeconfig.as_str(), "-n", ns.as_str()];
        args.extend(command.iter().copied());
        let run = crate::cli::kubectl_mysql(&args, "");
        assert_eq!(run.code, Some(0), "{command:?}: {}", run.stderr);
        let sent = by(server, "cli");
        assert!(!sent.is_empty());
        let platform = format!(
            "{}/{}",
            std::env::consts::OS,
            match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                other => other,
            }
        );
        let expected = format!(
            "kubectl-mysql/{} ({platform}) {}",
            env!("CARGO_PKG_VERSION"),
            command[0]
        );
        for request in &sent {
            assert_eq!(request.user_agent, expected, "{request:?}");
        }
        server.clear_requests();
    }
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_saying_too_many_requests_is_waited_for_not_failed() {
    let cluster = Cluster::new("quiet-429").await;
    let Some(server) = cluster.server() else {
        return;
    };
    install_crd(&cluster.client).await;
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let created = mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("created");
    let ctx = Context::new(cluster.client.clone(), "test");
    server.clear_requests();
    server.throttle(2, 1);
    let started = Instant::now();
    let outcome = reconcile(&created, &ctx)
        .await
        .expect("retried, not failed");
    assert!(outcome.applied > 0);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "each 429 waits its Retry-After (1 s): {:?}",
        started.elapsed()
    );
    let requests = server.requests();
    let first = &requests[0];
    assert_eq!(
        (&requests[1].verb, &requests[1].resource, &requests[2].verb),
        (&first.verb, &first.resource, &first.verb),
        "the refused request was sent again: {requests:?}"
    );
    cluster.cleanup().await;
}

/// Deleting many instances at once runs their delete-backups through the pool: never
/// more Jobs than `--max-concurrent-backups`, the others waiting in turn and saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_backups_take_turns_in_a_bounded_pool() {
    const INSTANCES: usize = 5;
    const SLOTS: usize = 2;
    let cluster = Cluster::new("quiet-pool").await;
    if cluster.server().is_none() {
        return;
    }
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    let _node =
        NodeStandIn::start_simulating_jobs(cluster.client.clone(), Duration::from_millis(700));
    let settings = Settings {
        max_concurrent_backups: SLOTS,
        ..Settings::default()
    };
    let running = RunningOperator::start_with(cluster.client.clone(), &ns, settings);
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &ns);
    for i in 0..INSTANCES {
        mysqls
            .create(&PostParams::default(), &named(&format!("db-{i}")))
            .await
            .expect("created");
    }
    for i in 0..INSTANCES {
        wait_for_phase(&mysqls, &format!("db-{i}"), Phase::Ready, None).await;
    }
    for i in 0..INSTANCES {
        mysqls
            .delete(&format!("db-{i}"), &DeleteParams::default())
            .await
            .expect("delete accepted");
    }
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let (mut most, mut waited) = (0, false);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let alive = jobs
            .list(&ListParams::default().labels("app.kubernetes.io/component=backup"))
            .await
            .expect("jobs")
            .items
            .iter()
            .filter(|j| kubectl_mysql::reconcile::pool::holds_slot(j))
            .count();
        most = most.max(alive);
        let left = mysqls
            .list(&ListParams::default())
            .await
            .expect("list")
            .items;
        waited |= left.iter().any(|m| {
            m.status
                .as_ref()
                .and_then(|s| s.message.as_deref())
                .is_some_and(|msg| msg.starts_with("waiting for a backup slot"))
        });
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "not all deleted: {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("{INSTANCES} delete-backups through {SLOTS} slots: at most {most} Jobs at once");
    assert!(most <= SLOTS, "{most} backup Jobs ran at once");
    assert!(most >= 1);
    assert!(waited, "some instance said it waits for a slot");
    for i in 0..INSTANCES {
        wait_until_deleted(&mysqls, &format!("db-{i}")).await;
        let catalogue =
            kubectl_mysql::reconcile::catalogue::read(&cluster.client, &ns, &format!("db-{i}"))
                .await
                .expect("catalogue");
        assert_eq!(catalogue.len(), 1, "db-{i} was backed up once");
    }
    running.stop().await;
    cluster.cleanup().await;
}
