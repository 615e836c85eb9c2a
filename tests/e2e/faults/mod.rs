//! Faults the product survives, each produced for real: the operator as a process that
//! is SIGKILLed, an API server that goes away, a Secret or the CRD deleted under a
//! running instance. Each test ends with the rows counted. docs/reliability.md lists them.

mod backups;
mod namespace;
mod operator_killed;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Secret, Service};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kubectl_mysql::crd::{MySQL, Phase, SecretKeyReference};

use testkit::apiserver::TestApiServer;
use testkit::node::NodeStandIn;

use crate::cluster::{Cluster, eventually, install_crd, seed_cr, wait_for_phase};
pub(crate) use crate::operator_process::{OperatorProcess, http_status};
use crate::walkthrough::{EXPECTED, ROWS, port_of, rows_of, sql};

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
        self.operator.kill_in_place();
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

/// `kubectl mysql ARGS` against the cluster, in its namespace, off the async runtime (the
/// future owns what it needs, so it can be spawned while the test goes on).
pub(crate) fn plugin(
    cluster: &Cluster,
    args: &[&str],
) -> impl std::future::Future<Output = crate::cli::Run> + Send + 'static {
    let mut all = vec![
        "--kubeconfig".to_string(),
        cluster.kubeconfig.display().to_string(),
        "-n".into(),
        cluster.namespace.clone(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    async move {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            crate::cli::kubectl_mysql(&args, "")
        })
        .await
        .expect("the CLI ran")
    }
}

/// The `.sql.gz` files on the backup volume of the seed's instance in `ns`, sorted.
pub(crate) fn dumps(node: &NodeStandIn, ns: &str) -> Vec<String> {
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

/// Generous: a loaded CI machine starts servers and runs dumps slowly.
const LIMIT: Duration = Duration::from_secs(120);

/// Poll `check` every 100 ms until it gives a value, within [`LIMIT`].
pub(crate) async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < LIMIT, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A session holding `table` write-locked, until [`LockHolder::release`] or its server
/// goes: a dump that reaches the table waits for it, in the middle of its work, for as
/// long as the test needs.
pub(crate) struct LockHolder {
    client: std::process::Child,
    port: u16,
}

/// The session holding the lock, in the server's process list.
const HOLDER: &str = "FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(3600)%'";

/// Lock `table` of the walkthrough's database in a session of its own; returns once the
/// lock is held.
pub(crate) async fn hold_write_lock(port: u16, table: &str) -> LockHolder {
    let client = std::process::Command::new(crate::walkthrough::mariadb_client())
        .args(["--no-defaults", "--protocol=TCP", "-h127.0.0.1", "-uroot"])
        .arg(format!("-P{port}"))
        .arg("--database=otus-database")
        .args([
            "-e",
            &format!("LOCK TABLES {table} WRITE; SELECT SLEEP(3600)"),
        ])
        .env("MYSQL_PWD", crate::walkthrough::seed_password())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the mariadb client runs");
    let count = format!("SELECT COUNT(*) {HOLDER}");
    until("the lock is held", || async {
        (sql(port, "otus-database", &count).trim() == "1").then_some(())
    })
    .await;
    LockHolder { client, port }
}

impl LockHolder {
    /// Release the lock: the session is killed on the server (a client that goes away
    /// in the middle of `SLEEP` is noticed only when the sleep ends).
    pub(crate) fn release(mut self) {
        let id = sql(self.port, "otus-database", &format!("SELECT ID {HOLDER}"));
        sql(self.port, "otus-database", &format!("KILL {}", id.trim()));
        let _ = self.client.wait();
    }

    /// Wait for the client to end (its connection went with the server).
    pub(crate) fn wait(&mut self) {
        let _ = self.client.wait();
    }
}

/// Whether a dump waits on a table locked by [`hold_write_lock`].
pub(crate) fn dump_waits_on_the_lock(port: u16) -> bool {
    let waiting = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for table metadata lock'";
    sql(port, "otus-database", waiting).trim() == "1"
}

/// Wait until an outage of the test API server is over.
async fn outage_over(server: &TestApiServer) {
    let since = Instant::now();
    while server.in_outage() {
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "the test API server is not back a minute after its outage began"
        );
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

    // A backup the CLI waits for, cut off while it waits: the dump is held on a locked
    // table until the outage has begun, so the backup cannot end before it.
    let holder = hold_write_lock(port, "test").await;
    let cli = tokio::spawn(plugin(
        cluster,
        &["backup", "mysql-instance", "--wait", "--timeout", "120s"],
    ));
    until("the dump waits on the locked table", || async {
        dump_waits_on_the_lock(port).then_some(())
    })
    .await;
    server.outage(Duration::from_secs(20));
    let cut_at = Instant::now();
    holder.release();
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
