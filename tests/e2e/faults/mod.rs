//! Faults the product survives, each produced for real: the operator as a process that
//! is SIGKILLed, an API server that goes away, a Secret or the CRD deleted under a
//! running instance. Each test ends with the rows counted. docs/reliability.md lists them.

mod backups;
mod namespace;
mod operator_killed;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use kubectl_mysql::crd::{MySQL, Phase, SecretKeyReference};
use serde_json::Value;
use testkit::apiserver::TestApiServer;
use testkit::node::NodeStandIn;

use crate::cluster::{Cluster, eventually, install_crd, seed_cr, wait_for_phase};
use crate::walkthrough::{EXPECTED, ROWS, port_of, rows_of, sql};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-mysql");

/// The operator as the binary run as a process over one namespace, logging JSON to a
/// file; killed (SIGKILL) when dropped.
pub(crate) struct OperatorProcess {
    child: Child,
    log: PathBuf,
}

impl OperatorProcess {
    /// `run-operator -n NS`, serving /readyz on a free port. `name` names its log file.
    pub(crate) fn start(cluster: &Cluster, dir: &Path, name: &str) -> Self {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(BIN)
            .args(["--kubeconfig", &cluster.kubeconfig.display().to_string()])
            .args(["-n", &cluster.namespace])
            .args(["run-operator", "--log-format", "json"])
            .args(["--metrics-addr", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("run-operator starts");
        Self { child, log }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log lines whose message contains `what`.
    pub(crate) fn lines(&self, what: &str) -> Vec<Value> {
        self.log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| {
                e["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(what))
            })
            .collect()
    }

    /// The first log line whose message contains `what`, within `limit`.
    pub(crate) async fn logged(&self, what: &str, limit: Duration) -> Value {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(line) = self.lines(what).into_iter().next() {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no {what:?} in the operator's log:\n{}", self.log());
    }

    /// The address of its /healthz, /readyz and /metrics.
    pub(crate) async fn endpoint(&self) -> String {
        let serving = self
            .logged("serving /healthz", Duration::from_secs(20))
            .await;
        serving["fields"]["addr"]
            .as_str()
            .expect("the endpoint's address is logged")
            .to_string()
    }

    /// Whether the process still runs (it was never restarted: the same process).
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, as the kernel's OOM killer or a node loss ends a pod: no clean-up runs.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cluster with the CRD, the node stand-in running real servers, and the operator as a
/// process over the test's namespace.
pub(crate) struct Rig {
    pub(crate) cluster: Cluster,
    pub(crate) node: NodeStandIn,
    pub(crate) operator: OperatorProcess,
    pub(crate) mysqls: Api<MySQL>,
    pub(crate) ns: String,
    dir: tempfile::TempDir,
}

impl Rig {
    pub(crate) async fn start(prefix: &str) -> Self {
        let cluster = Cluster::new(prefix).await;
        install_crd(&cluster.client).await;
        let node = NodeStandIn::start_with_mysql(cluster.client.clone());
        let dir = tempfile::tempdir().expect("tempdir");
        let operator = OperatorProcess::start(&cluster, dir.path(), "operator");
        let ns = cluster.namespace.clone();
        let mysqls = Api::namespaced(cluster.client.clone(), &ns);
        Self {
            cluster,
            node,
            operator,
            mysqls,
            ns,
            dir,
        }
    }

    /// [`Rig::start`], then `cr` (named as the seed's) Ready with the walkthrough's rows.
    pub(crate) async fn with_rows(prefix: &str, cr: MySQL) -> Self {
        let rig = Self::start(prefix).await;
        rig.create(&cr).await;
        wait_for_phase(&rig.mysqls, "mysql-instance", Phase::Ready, None).await;
        sql(rig.port().await, "otus-database", ROWS);
        rig
    }

    pub(crate) async fn create(&self, cr: &MySQL) {
        self.mysqls
            .create(&PostParams::default(), cr)
            .await
            .expect("MySQL created");
    }

    /// The seed's instance created again comes up from its backup with every row.
    pub(crate) async fn created_again_has_every_row(&self) {
        self.create(&seed_cr()).await;
        wait_for_phase(
            &self.mysqls,
            "mysql-instance",
            Phase::Ready,
            Some("created with restore-job"),
        )
        .await;
        assert_eq!(rows_of(self.port().await), EXPECTED, "no row lost");
    }

    pub(crate) async fn port(&self) -> u16 {
        port_of(&self.node, &self.ns).await
    }

    /// SIGKILL the operator and start another in its place (`name` names its log).
    pub(crate) fn replace_operator(&mut self, name: &str) {
        // Gone before the next starts: never two operators at once.
        let _ = self.operator.child.kill();
        let _ = self.operator.child.wait();
        self.operator = OperatorProcess::start(&self.cluster, self.dir.path(), name);
    }

    /// A Degraded condition's reason and message.
    pub(crate) async fn degraded(&self) -> (String, String) {
        let status = (self.mysqls.get("mysql-instance").await)
            .expect("get")
            .status
            .unwrap_or_default();
        let degraded = (status.conditions.into_iter())
            .find(|c| c.type_ == "Degraded" && c.status == "True")
            .expect("Degraded");
        (degraded.reason, degraded.message)
    }

    pub(crate) async fn finish(self) {
        self.operator.kill();
        drop(self.node);
        self.cluster.cleanup().await;
    }
}

/// The status code of a GET of `path` on `addr` (0 when nothing answers).
pub(crate) fn http_status(addr: &str, path: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Wait until an outage of the test API server is over.
async fn outage_over(server: &TestApiServer) {
    while server.in_outage() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The number of rows of the walkthrough's table.
fn row_count(port: u16) -> usize {
    rows_of(port).lines().count()
}

/// The API server is unreachable for 20 s twice: while the operator (a process) brings an
/// instance up, and while `backup --wait` waits. The operator's watches come back without
/// a restart (a Service deleted afterwards is re-created), the CLI keeps trying within
/// its --timeout and ends with the backup, and no row is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_away_for_20_s_during_a_reconcile_and_during_a_wait() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let mut rig = Rig::start("fault-outage").await;
    let Some(server) = rig.cluster.server() else {
        return; // an outage is produced by the test API server
    };
    rig.operator
        .logged("operator started", Duration::from_secs(20))
        .await;
    rig.create(&seed_cr()).await;
    // In the middle of bringing it up: the operator has started on it.
    wait_for_phase(&rig.mysqls, "mysql-instance", Phase::Provisioning, None).await;
    server.outage(Duration::from_secs(20));
    outage_over(server).await;
    let back = Instant::now();
    wait_for_phase(&rig.mysqls, "mysql-instance", Phase::Ready, None).await;
    eprintln!(
        "fault measure: Ready {:.1} s after a 20 s outage during provisioning",
        back.elapsed().as_secs_f64()
    );
    let port = rig.port().await;
    sql(port, "otus-database", ROWS);
    let (cluster, ns) = (&rig.cluster, rig.ns.clone());

    // A backup the CLI waits for, cut off while it waits.
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let args = [
        "--kubeconfig",
        &kubeconfig,
        "-n",
        &ns,
        "backup",
        "mysql-instance",
        "--wait",
        "--timeout",
        "120s",
    ]
    .map(str::to_string);
    let cli = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::cli::kubectl_mysql(&args, "")
    });
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    eventually("the backup Job is created", || async {
        jobs.list(&ListParams::default())
            .await
            .is_ok_and(|l| !l.items.is_empty())
    })
    .await;
    server.outage(Duration::from_secs(20));
    let cut_at = Instant::now();
    let run = cli.await.expect("the CLI ran");
    eprintln!(
        "fault measure: backup --wait ended {:.1} s after a 20 s outage began",
        cut_at.elapsed().as_secs_f64()
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        cut_at.elapsed() >= Duration::from_secs(19),
        "the backup ended only once the API server was back"
    );
    assert!(
        run.stderr.contains("the API server does not answer")
            && run.stderr.contains("trying again"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains(".sql.gz"), "{}", run.stdout);

    // The watches are back, in the same process: drift is repaired again.
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &ns);
    services
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("Service deleted");
    let deleted = Instant::now();
    for _ in 0..600 {
        if services
            .get_opt("mysql-instance")
            .await
            .ok()
            .flatten()
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "fault measure: Service re-created {:.1} s after its delete, after the outages",
        deleted.elapsed().as_secs_f64()
    );
    assert!(
        services
            .get_opt("mysql-instance")
            .await
            .expect("get")
            .is_some(),
        "the operator re-created the Service after the outages:\n{}",
        rig.operator.log()
    );
    assert!(
        rig.operator.running(),
        "never restarted:\n{}",
        rig.operator.log()
    );
    assert_eq!(rig.operator.lines("operator started").len(), 1);
    assert_eq!(rows_of(port), EXPECTED, "no row lost");
    assert_eq!(row_count(port), 3);
    rig.finish().await;
}

/// The password Secret is deleted under a running instance: the instance turns Failed
/// (SecretNotFound) and says which Secret, the server keeps running with every row, and
/// creating the Secret again heals it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_secret_deleted_under_a_running_instance_fails_it_and_heals_on_re_create() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let password = crate::walkthrough::seed_password();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "db-root"},
        "stringData": {"password": password},
    }))
    .expect("Secret");
    let mut cr = seed_cr();
    cr.spec.password = None;
    cr.spec.password_secret = Some(SecretKeyReference {
        name: "db-root".into(),
        key: "password".into(),
    });
    let rig = Rig::start("fault-secret").await;
    let secrets: Api<Secret> = Api::namespaced(rig.cluster.client.clone(), &rig.ns);
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("the user's Secret");
    rig.create(&cr).await;
    wait_for_phase(&rig.mysqls, "mysql-instance", Phase::Ready, None).await;
    let port = rig.port().await;
    sql(port, "otus-database", ROWS);

    secrets
        .delete("db-root", &DeleteParams::default())
        .await
        .expect("Secret deleted");
    wait_for_phase(&rig.mysqls, "mysql-instance", Phase::Failed, None).await;
    let (reason, message) = rig.degraded().await;
    assert_eq!(reason, "SecretNotFound");
    assert!(message.contains("\"db-root\""), "{message}");
    // The server was left alone: same server, every row.
    assert_eq!(rig.node.server_port(&rig.ns, "mysql-instance"), Some(port));
    assert_eq!(rows_of(port), EXPECTED);

    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("the Secret again");
    wait_for_phase(&rig.mysqls, "mysql-instance", Phase::Ready, None).await;
    assert_eq!(rig.node.server_port(&rig.ns, "mysql-instance"), Some(port));
    assert_eq!(row_count(port), 3, "no row lost");
    assert!(
        !rig.operator.log().contains(&password),
        "no password in the logs"
    );
    rig.finish().await;
}

/// The CRD is deleted while the operator runs: as on a real cluster every instance goes
/// with it, each through its finalizer (backed up first), and then the CRD. The operator
/// says so once, stays alive and healthy but not ready, and when the CRD is installed
/// again it is ready again; the instance created again restores its rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crd_deleted_under_a_running_operator_backs_every_instance_up_and_resumes() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let rig = Rig::with_rows("fault-crd", seed_cr()).await;
    if rig.cluster.server().is_none() {
        return; // the CRD is shared by everything on a real cluster
    }
    let endpoint = rig.operator.endpoint().await;
    assert_eq!(http_status(&endpoint, "/readyz"), 200);
    let (cluster, mysqls, operator) = (&rig.cluster, &rig.mysqls, &rig.operator);

    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    crds.delete(kubectl_mysql::install::CRD_NAME, &DeleteParams::default())
        .await
        .expect("CRD delete accepted");
    // Creating an instance now is refused, as the apiextensions-apiserver refuses it.
    let refused = mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect_err("no instance can be created while the CRD goes");
    assert!(
        matches!(&refused, kube::Error::Api(s) if s.code == 405
            && s.message == "create not allowed while custom resource definition is terminating"),
        "{refused:?}"
    );
    let started = Instant::now();
    while crds
        .get_opt(kubectl_mysql::install::CRD_NAME)
        .await
        .expect("get CRD")
        .is_some()
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the CRD waits for its instances' finalizers:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "fault measure: the CRD and its instance went {:.1} s after the delete (the backup first)",
        started.elapsed().as_secs_f64()
    );
    operator
        .logged("CustomResourceDefinition is gone", Duration::from_secs(60))
        .await;
    for _ in 0..50 {
        if http_status(&endpoint, "/readyz") != 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        http_status(&endpoint, "/readyz"),
        503,
        "not ready without the CRD"
    );
    assert_eq!(http_status(&endpoint, "/healthz"), 200, "alive and healthy");
    crate::walkthrough::only_backups_remain(&cluster.client, &rig.ns).await;

    install_crd(&cluster.client).await;
    operator
        .logged("CustomResourceDefinition is back", Duration::from_secs(60))
        .await;
    eventually("the operator is ready again", || async {
        http_status(&endpoint, "/readyz") == 200
    })
    .await;
    rig.created_again_has_every_row().await;
    assert_eq!(operator.lines("CustomResourceDefinition is gone").len(), 1);
    let mut rig = rig;
    assert!(rig.operator.running(), "never restarted");
    rig.finish().await;
}
