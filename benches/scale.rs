//! The scale benchmark: the operator as a process (`kubectl-mysql run-operator -A`, as the
//! in-cluster Deployment runs it) against the test API server, with 100 and 1,000 copies
//! of the seed's instance in one namespace.
//!
//! Run: `cargo bench --bench scale` (results are written down in docs/benchmarks.md).
//! `SCALE_INSTANCES=100,1000` (the sizes), `SCALE_IDLE_SECS=60` (each idle window),
//! `SCALE_JOB_MS=200` (how long a simulated backup Job runs).
//!
//! Measured, per size:
//! - the time until every instance has its 7 children and a status, next to the time
//!   it took to create the CRs;
//! - the operator's requests per created instance, reads and writes apart;
//! - its writes (and requests) in an idle window while no instance can get Ready (no
//!   node), then again once a node stand-in made every instance Ready;
//! - its peak RSS;
//! - deleting every instance with the node stand-in running the delete-backups (Jobs
//!   simulated: no database): the time, the most backup Jobs alive at once, and the
//!   operator's requests per second meanwhile.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use kubectl_mysql::crd::MySQL;
use serde_json::{Value, json};
use testkit::apiserver::TestApiServer;
use testkit::apiserver::store::RequestRecord;
use testkit::node::NodeStandIn;

const OPERATOR: &str = "system:serviceaccount:kubectl-mysql-system:kubectl-mysql";
const NAMESPACE: &str = "scale";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn client_for(kubeconfig: &str) -> Client {
    let loaded = Kubeconfig::from_yaml(kubeconfig).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(loaded, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

/// The operator process; killed on drop.
struct Operator {
    child: Child,
}

impl Operator {
    fn start(kubeconfig: &std::path::Path, metrics: u16) -> Self {
        // SCALE_WRAP runs it under a profiler, e.g. "valgrind --tool=massif".
        let wrap: Vec<String> = std::env::var("SCALE_WRAP")
            .map(|w| w.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let mut command = match wrap.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_kubectl-mysql"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_kubectl-mysql")),
        };
        let child = command
            .args(["--kubeconfig"])
            .arg(kubeconfig)
            .args(["run-operator", "-A", "--log-format", "json"])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
            .env(
                "RUST_LOG",
                std::env::var("SCALE_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(match std::env::var_os("SCALE_LOG") {
                Some(path) => std::fs::File::create(path).map_or(Stdio::null(), Stdio::from),
                None => Stdio::null(),
            })
            .spawn()
            .expect("the operator starts");
        Self { child }
    }

    /// Peak resident memory so far (VmHWM), in MB.
    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

fn operator_requests(server: &TestApiServer) -> Vec<RequestRecord> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.user == OPERATOR)
        .collect()
}

/// Wait until the operator has sent nothing for `quiet`.
async fn settled(server: &TestApiServer, quiet: Duration) {
    let mut seen = operator_requests(server).len();
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = operator_requests(server).len();
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

/// How many objects of `group/version/plural` the store holds.
fn count(
    server: &TestApiServer,
    group: &str,
    version: &str,
    plural: &str,
    ok: impl Fn(&Value) -> bool,
) -> usize {
    let store = server.store();
    let Some(kind) = store.registry.find(group, version, plural).cloned() else {
        return 0;
    };
    store.count(&kind, None, ok)
}

fn phase_count(server: &TestApiServer, phase: Option<&str>) -> usize {
    count(server, "otus.homework", "v1", "mysqls", |m| match phase {
        Some(p) => m["status"]["phase"] == p,
        None => m["status"]["phase"].is_string(),
    })
}

fn managed(o: &Value) -> bool {
    o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubectl-mysql"
}

fn children_complete(server: &TestApiServer, n: usize) -> bool {
    count(server, "apps", "v1", "deployments", managed) >= n
        && count(server, "", "v1", "services", managed) >= n
        && count(server, "", "v1", "persistentvolumeclaims", managed) >= 2 * n
        && count(server, "", "v1", "persistentvolumes", managed) >= 2 * n
        && count(server, "", "v1", "secrets", managed) >= n
        && phase_count(server, None) >= n
}

fn split(requests: &[RequestRecord]) -> (usize, usize) {
    let writes = requests.iter().filter(|r| r.is_write()).count();
    (requests.len() - writes, writes)
}

struct Figures {
    instances: usize,
    create: Duration,
    children_after_crs: Duration,
    reads: f64,
    writes: f64,
    idle_waiting: (usize, f64),
    idle_ready: (usize, f64),
    rss_mb: f64,
    delete: Duration,
    most_jobs: usize,
    delete_rps: f64,
    delete_per_instance: f64,
    to_ready: f64,
    ready_after: Duration,
}

async fn run(n: usize, idle: Duration, job: Duration) -> Figures {
    let server = TestApiServer::start().await.expect("server");
    let admin = client_for(&server.kubeconfig()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let operator_kubeconfig = dir.path().join("operator");
    std::fs::write(&operator_kubeconfig, server.kubeconfig_as(OPERATOR)).expect("kubeconfig");

    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(admin.clone());
    crds.create(&PostParams::default(), &kubectl_mysql::crd::crd())
        .await
        .expect("CRD");
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).expect("ns"),
        )
        .await
        .expect("namespace");

    let metrics = testkit::mariadb::free_port().expect("a free port");
    let operator = Operator::start(&operator_kubeconfig, metrics);
    let deadline = Instant::now() + Duration::from_secs(300);
    while http_status(metrics, "/readyz") != Some(200) {
        assert!(Instant::now() < deadline, "the operator never got ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    settled(&server, Duration::from_millis(500)).await;
    server.clear_requests();

    // Create the CRs, 32 at a time, as a burst of `kubectl apply` would.
    let mysqls: Api<MySQL> = Api::namespaced(admin.clone(), NAMESPACE);
    let seed: MySQL = serde_saphyr::from_str(include_str!("../deploy/cr.yaml")).expect("cr");
    let started = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let mut mysql = seed.clone();
            mysql.metadata.name = Some(format!("mysql-{i:04}"));
            let api = mysqls.clone();
            async move {
                api.create(&PostParams::default(), &mysql)
                    .await
                    .expect("created");
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    let create = started.elapsed();
    while !children_complete(&server, n) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let children_after_crs = started.elapsed().saturating_sub(create);
    if std::env::var_os("SCALE_DEBUG").is_some() {
        let mut stream = TcpStream::connect(("127.0.0.1", metrics)).expect("metrics");
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        eprintln!("{text}");
    }
    settled(&server, Duration::from_secs(2)).await;
    let made: Vec<RequestRecord> = operator_requests(&server)
        .into_iter()
        .filter(|r| r.verb != "watch")
        .collect();
    let (reads, writes) = split(&made);

    // Idle with no node: nothing can get Ready.
    server.clear_requests();
    tokio::time::sleep(idle).await;
    let waiting = operator_requests(&server);
    let idle_waiting = (
        split(&waiting).1,
        waiting.len() as f64 / n as f64 / idle.as_secs_f64() * 60.0,
    );

    if std::env::var_os("SCALE_CREATE_ONLY").is_some() {
        // A quick look at creation alone (while tuning): the rest is left out.
        println!(
            "created {n}: children after the CRs {:.2} s, {:.1} requests per instance, RSS peak {:.1} MB",
            children_after_crs.as_secs_f64(),
            (reads + writes) as f64 / n as f64,
            operator.peak_rss_mb()
        );
        std::process::exit(0);
    }
    // A node: every instance gets Ready; idle again.
    server.clear_requests();
    let node = NodeStandIn::start_simulating_jobs(admin.clone(), job);
    let became_ready = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(600);
    while phase_count(&server, Some("Ready")) < n {
        assert!(Instant::now() < deadline, "not all Ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready_after = became_ready.elapsed();
    if std::env::var_os("SCALE_DEBUG").is_some() {
        eprintln!("peak RSS once all Ready: {:.1} MB", operator.peak_rss_mb());
    }
    settled(&server, Duration::from_secs(2)).await;
    let to_ready = operator_requests(&server)
        .iter()
        .filter(|r| r.verb != "watch")
        .count() as f64
        / n as f64;
    server.clear_requests();
    tokio::time::sleep(idle).await;
    let ready = operator_requests(&server);
    let idle_ready = (
        split(&ready).1,
        ready.len() as f64 / n as f64 / idle.as_secs_f64() * 60.0,
    );

    // Delete them all: the delete-backups run through the pool.
    server.clear_requests();
    let started = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let api = mysqls.clone();
            async move {
                api.delete(&format!("mysql-{i:04}"), &DeleteParams::default())
                    .await
                    .expect("deleted");
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    let mut most_jobs = 0;
    let deadline = Instant::now() + Duration::from_secs(3600);
    while count(&server, "otus.homework", "v1", "mysqls", |_| true) > 0 {
        let alive = count(&server, "batch", "v1", "jobs", |j| {
            j["metadata"]["labels"]["app.kubernetes.io/component"] == "backup"
                && !j["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter().any(|c| {
                        c["status"] == "True" && (c["type"] == "Complete" || c["type"] == "Failed")
                    })
                })
        });
        most_jobs = most_jobs.max(alive);
        assert!(Instant::now() < deadline, "not all deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delete = started.elapsed();
    let deleting = operator_requests(&server).len();
    let delete_rps = deleting as f64 / delete.as_secs_f64();
    let delete_per_instance = deleting as f64 / n as f64;
    let rss_mb = operator.peak_rss_mb();
    drop(node);
    drop(operator);
    Figures {
        instances: n,
        create,
        children_after_crs,
        reads: reads as f64 / n as f64,
        writes: writes as f64 / n as f64,
        idle_waiting,
        idle_ready,
        rss_mb,
        delete,
        most_jobs,
        delete_rps,
        delete_per_instance,
        to_ready,
        ready_after,
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("SCALE_INSTANCES")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let idle = Duration::from_secs(env_or("SCALE_IDLE_SECS", 60));
    let job = Duration::from_millis(env_or("SCALE_JOB_MS", 200));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _ = rustls::crypto::ring::default_provider().install_default();
    println!(
        "| instances | create CRs | all children + status after the CRs | requests per instance (reads + writes), then to Ready | idle {0}s, waiting: writes, requests/instance/min | idle {0}s, Ready: writes, requests/instance/min | peak RSS | delete all | most backup Jobs at once | requests while deleting: per second, per instance |",
        idle.as_secs()
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for n in sizes {
        let f = runtime.block_on(run(n, idle, job));
        println!(
            "| {} | {:.2} s | {:.2} s | {:.1} ({:.1} + {:.1}), +{:.1} in {:.1} s | {}, {:.2} | {}, {:.2} | {:.1} MB | {:.1} s | {} | {:.0}, {:.1} |",
            f.instances,
            f.create.as_secs_f64(),
            f.children_after_crs.as_secs_f64(),
            f.reads + f.writes,
            f.reads,
            f.writes,
            f.to_ready,
            f.ready_after.as_secs_f64(),
            f.idle_waiting.0,
            f.idle_waiting.1,
            f.idle_ready.0,
            f.idle_ready.1,
            f.rss_mb,
            f.delete.as_secs_f64(),
            f.most_jobs,
            f.delete_rps,
            f.delete_per_instance,
        );
    }
}
