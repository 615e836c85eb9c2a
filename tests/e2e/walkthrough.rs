//! The seed's walkthrough end to end: create, rows in, delete (backup before anything
//! goes), create again (restore), rows back — by the operator and by hand with the CLI.
//! The node stand-in runs each MySQL Deployment as a real MariaDB on its data volume and
//! each Job's script as a local process.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use kubectl_mysql::crd::{MySQL, Phase};
use kubectl_mysql::reconcile::Context;
use testkit::node::NodeStandIn;

use crate::cluster::{
    Cluster, eventually, install_crd, seed_cr, wait_for_phase, wait_until_deleted,
};

/// The seed's password, as deploy/cr.yaml carries it.
pub(crate) fn seed_password() -> String {
    seed_cr()
        .spec
        .password
        .expect("the seed CR has an inline password")
}

/// The MariaDB command-line client.
pub(crate) fn mariadb_client() -> &'static str {
    ["/usr/bin/mariadb", "/usr/local/bin/mariadb"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("mariadb")
}

/// Run SQL against an instance's server as root (password through MYSQL_PWD).
pub(crate) fn sql(port: u16, database: &str, statement: &str) -> String {
    let out = Command::new(mariadb_client())
        .args([
            "--no-defaults",
            "--protocol=TCP",
            "-h127.0.0.1",
            "--batch",
            "--skip-column-names",
            "-uroot",
        ])
        .arg(format!("-P{port}"))
        .arg(format!("--database={database}"))
        .args(["-e", statement])
        .env("MYSQL_PWD", seed_password())
        .output()
        .expect("the mariadb client runs");
    assert!(
        out.status.success(),
        "{statement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The server container's readiness probe, run as the kubelet runs it (`sh -c`, the
/// container's environment), against the instance's server: it passes with the root
/// password, fails with another, and leaves no option file behind.
fn readiness_probe_logs_in_through_an_option_file(port: u16) {
    let probe = |password: &str| {
        Command::new("sh")
            .args(["-c", kubectl_mysql::resources::READY_SCRIPT])
            .env("MYSQL_ROOT_PASSWORD", password)
            // The clients' default port: the probe itself says 127.0.0.1 and no port.
            .env("MYSQL_TCP_PORT", port.to_string())
            .env_remove("MYSQL_PWD")
            .output()
            .expect("sh runs")
    };
    let left_behind = || {
        std::fs::read_dir("/dev/shm")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("mysql-ready."))
                    .count()
            })
            .unwrap_or(0)
    };
    let before = left_behind();
    let ready = probe(&seed_password());
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    let wrong = probe("not-the-password");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("Access denied"));
    assert_eq!(left_behind(), before, "the probe removes its option file");
}

pub(crate) const ROWS: &str = "CREATE TABLE test (id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT, name VARCHAR(20) NOT NULL, PRIMARY KEY (id)); INSERT INTO test (name) VALUES ('some data'), ('some data-2'), ('Привет');";
pub(crate) const EXPECTED: &str = "1\tsome data\n2\tsome data-2\n3\tПривет\n";

/// The walkthrough's table, as the server at `port` has it (compare with [`EXPECTED`]).
pub(crate) fn rows_of(port: u16) -> String {
    sql(
        port,
        "otus-database",
        "SELECT id, name FROM test ORDER BY id",
    )
}

pub(crate) async fn port_of(node: &NodeStandIn, ns: &str) -> u16 {
    for _ in 0..200 {
        if let Some(port) = node.server_port(ns, "mysql-instance") {
            return port;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no server for mysql-instance");
}

/// After the delete: the data volume is gone, the backups and the catalogue remain.
pub(crate) async fn only_backups_remain(client: &Client, ns: &str) {
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    assert!(
        pvcs.get_opt("mysql-instance-pvc")
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        pvs.get_opt(&format!("{ns}.mysql-instance-pv"))
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        pvcs.get_opt("backup-mysql-instance-pvc")
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        pvs.get_opt(&format!("{ns}.backup-mysql-instance-pv"))
            .await
            .expect("get")
            .is_some()
    );
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let catalogue = maps
        .get("mysql-instance-backups")
        .await
        .expect("the catalogue outlives the instance");
    let text = catalogue
        .data
        .unwrap_or_default()
        .remove("catalogue.json")
        .unwrap_or_default();
    assert!(
        text.contains(".sql.gz") && text.contains("\"verified\": true"),
        "{text}"
    );
}

/// A cluster with the CRD, the node stand-in running real servers, and (optionally) the
/// operator; the seed's instance created, Ready, with the walkthrough's rows in it.
pub(crate) struct Scene {
    pub(crate) cluster: Cluster,
    pub(crate) node: NodeStandIn,
    pub(crate) operator: Option<crate::operator::RunningOperator>,
    pub(crate) mysqls: Api<MySQL>,
}

impl Scene {
    pub(crate) async fn with_rows(prefix: &str) -> Self {
        Self::with_rows_on(prefix, None).await
    }

    /// [`Scene::with_rows`], the seed's instance running `image` (the seed's own if `None`).
    pub(crate) async fn with_rows_on(prefix: &str, image: Option<&str>) -> Self {
        let mut cr = seed_cr();
        if let Some(image) = image {
            cr.spec.image = image.to_string();
        }
        Self::with_rows_from(prefix, cr).await
    }

    /// [`Scene::with_rows`] for the instance `cr` (named as the seed's).
    pub(crate) async fn with_rows_from(prefix: &str, cr: MySQL) -> Self {
        let cluster = Cluster::new(prefix).await;
        install_crd(&cluster.client).await;
        let node = NodeStandIn::start_with_mysql(cluster.client.clone());
        let operator = Some(crate::operator::RunningOperator::start(
            cluster.client.clone(),
            &cluster.namespace,
        ));
        let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        let scene = Self {
            cluster,
            node,
            operator,
            mysqls,
        };
        scene.create_ready_from(cr).await;
        sql(scene.port().await, "otus-database", ROWS);
        scene
    }

    /// Apply deploy/cr.yaml and wait until the instance is Ready.
    async fn create_ready(&self) {
        self.create_ready_from(seed_cr()).await;
    }

    async fn create_ready_from(&self, cr: MySQL) {
        self.mysqls
            .create(&PostParams::default(), &cr)
            .await
            .expect("apply deploy/cr.yaml");
        wait_for_phase(&self.mysqls, "mysql-instance", Phase::Ready, None).await;
    }

    pub(crate) async fn port(&self) -> u16 {
        port_of(&self.node, &self.cluster.namespace).await
    }

    /// The walkthrough's table, as the current server has it.
    pub(crate) async fn rows(&self) -> String {
        rows_of(self.port().await)
    }

    pub(crate) async fn finish(mut self) {
        if let Some(operator) = self.operator.take() {
            operator.stop().await;
        }
        drop(self.node);
        self.cluster.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_walkthrough_with_the_operator() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let scene = Scene::with_rows("walk-op").await;
    assert_eq!(scene.rows().await, EXPECTED);

    scene
        .mysqls
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete");
    wait_until_deleted(&scene.mysqls, "mysql-instance").await;
    only_backups_remain(&scene.cluster.client, &scene.cluster.namespace).await;

    scene.create_ready().await;
    let status = scene
        .mysqls
        .get("mysql-instance")
        .await
        .expect("get")
        .status
        .expect("status");
    assert_eq!(
        status.message.as_deref(),
        Some("mysql-instance created with restore-job")
    );
    assert_eq!(scene.rows().await, EXPECTED);
    scene.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_walkthrough_by_hand_with_the_cli() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let cluster = Cluster::new("walk-cli").await;
    install_crd(&cluster.client).await;
    let node = NodeStandIn::start_with_mysql(cluster.client.clone());
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let ns = cluster.namespace.clone();
    let cli = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", kubeconfig.as_str(), "-n", ns.as_str()];
        all.extend_from_slice(args);
        let run = crate::cli::kubectl_mysql(&all, "");
        assert_eq!(
            run.code,
            Some(0),
            "{args:?}\nstdout: {}\nstderr: {}",
            run.stdout,
            run.stderr
        );
        assert!(!run.stdout.contains(&seed_password()) && !run.stderr.contains(&seed_password()));
        run.stdout
    };
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);

    cli(&[
        "create",
        "-f",
        "deploy/cr.yaml",
        "--wait",
        "--timeout",
        "60s",
    ]);
    let port = port_of(&node, &ns).await;
    readiness_probe_logs_in_through_an_option_file(port);
    sql(port, "otus-database", ROWS);
    let backup = cli(&["backup", "mysql-instance", "--wait", "--timeout", "60s"]);
    assert!(
        backup.starts_with("backup ") && backup.contains(".sql.gz") && backup.contains("bytes"),
        "{backup}"
    );

    // `status NAME` lists the catalogue.
    let name = backup
        .split_whitespace()
        .nth(1)
        .expect("backup name")
        .to_string();
    let shown = cli(&["status", "mysql-instance"]);
    assert!(
        shown.contains("Backups:") && shown.contains(&name),
        "{shown}"
    );

    cli(&["delete", "mysql-instance", "--wait", "--timeout", "60s"]);
    assert!(
        mysqls
            .get_opt("mysql-instance")
            .await
            .expect("get")
            .is_none()
    );
    only_backups_remain(&cluster.client, &ns).await;

    cli(&[
        "create",
        "-f",
        "deploy/cr.yaml",
        "--wait",
        "--timeout",
        "60s",
    ]);
    let status = mysqls
        .get("mysql-instance")
        .await
        .expect("get")
        .status
        .expect("status");
    assert_eq!(
        status.message.as_deref(),
        Some("mysql-instance created with restore-job")
    );
    let port = port_of(&node, &ns).await;
    assert_eq!(rows_of(port), EXPECTED);

    // An explicit restore of the latest backup loads the same rows again.
    sql(port, "otus-database", "DELETE FROM test");
    let restored = cli(&["restore", "mysql-instance", "--wait", "--timeout", "60s"]);
    assert!(restored.starts_with("restored "), "{restored}");
    assert_eq!(rows_of(port), EXPECTED);
    drop(node);
    cluster.cleanup().await;
}

/// `kubectl delete --cascade=foreground`: the garbage collector removes the owned children
/// (Deployment, Secret) before the finalizer runs; the backup still reads the data volume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_cascade_still_backs_up_and_restores() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let scene = Scene::with_rows("walk-fg").await;
    let ns = scene.cluster.namespace.clone();
    let out = scene.cluster.kubectl(
        &[
            "-n",
            &ns,
            "delete",
            "mysql",
            "mysql-instance",
            "--cascade=foreground",
            "--wait=false",
        ],
        None,
    );
    assert!(out.status.success(), "{:?}", crate::cluster::text(&out));
    wait_until_deleted(&scene.mysqls, "mysql-instance").await;
    only_backups_remain(&scene.cluster.client, &ns).await;

    scene.create_ready().await;
    assert_eq!(scene.rows().await, EXPECTED);
    scene.finish().await;
}

/// The newest backup damaged on the volume (after it was verified and catalogued): the
/// restore on create passes over it, loads the newest one that still verifies, and says
/// so in an Event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_on_create_passes_over_a_damaged_newest_backup_and_says_so() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let scene = Scene::with_rows("walk-damaged").await;
    let ns = scene.cluster.namespace.clone();
    let plugin = crate::plugin::Plugin::new(Some(&scene.cluster));
    let first = plugin.ok(&["mysql", "backup", "mysql-instance", "--wait"], "");
    let first = (first.stdout.split_whitespace().nth(1))
        .expect("backup NAME")
        .to_string();
    sql(
        scene.port().await,
        "otus-database",
        "INSERT INTO test (name) VALUES ('after backup 1')",
    );
    // The delete-backup is the newest, with the extra row.
    scene
        .mysqls
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete");
    wait_until_deleted(&scene.mysqls, "mysql-instance").await;
    let volume = scene.node.local_path(&format!(
        "/var/lib/kubectl-mysql/{ns}/mysql-instance/backup"
    ));
    let mut dumps: Vec<String> = std::fs::read_dir(&volume)
        .expect("the backup volume")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql.gz"))
        .collect();
    dumps.sort();
    let newest = dumps.last().expect("the delete-backup").clone();
    assert!(newest > first, "{dumps:?}");
    // Damaged on disk: the bytes change, the catalogue still says verified.
    std::fs::write(volume.join(&newest), b"not a dump any more").expect("damage");

    scene.create_ready().await;
    assert_eq!(
        scene.rows().await,
        EXPECTED,
        "the first backup, without the extra row"
    );
    let status = scene
        .mysqls
        .get("mysql-instance")
        .await
        .expect("get")
        .status
        .expect("status");
    assert_eq!(
        status.message.as_deref(),
        Some("mysql-instance created with restore-job")
    );
    assert_eq!(status.last_restore.as_deref(), Some(first.as_str()));
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(scene.cluster.client.clone(), &ns);
    let events = events
        .list(&kube::api::ListParams::default())
        .await
        .expect("events");
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("BackupSkipped")
                && e.message.as_deref().is_some_and(|m| m.contains(&newest))),
        "{:?}",
        events.items.iter().map(|e| &e.message).collect::<Vec<_>>()
    );
    scene.finish().await;
}

/// A delete-backup that cannot succeed keeps everything (Failed, with the reason) until
/// `kubectl mysql delete --skip-backup`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_delete_backup_keeps_everything_until_skip_backup() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let mut scene = Scene::with_rows("walk-fail").await;
    // The database the backup dumps is gone: mysqldump cannot succeed.
    sql(scene.port().await, "mysql", "DROP DATABASE `otus-database`");
    scene
        .mysqls
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for_phase(&scene.mysqls, "mysql-instance", Phase::Failed, None).await;
    let status = scene
        .mysqls
        .get("mysql-instance")
        .await
        .expect("the object stays")
        .status
        .expect("status");
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded");
    assert_eq!(degraded.reason, "BackupFailed");
    assert!(
        degraded.message.contains("--skip-backup"),
        "{}",
        degraded.message
    );
    let ns = scene.cluster.namespace.clone();
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(scene.cluster.client.clone(), &ns);
    assert!(
        pvcs.get_opt("mysql-instance-pvc")
            .await
            .expect("get")
            .is_some(),
        "no data is dropped"
    );

    // Without the operator, the CLI drives the finalizer itself.
    if let Some(operator) = scene.operator.take() {
        operator.stop().await;
    }
    let kubeconfig = scene.cluster.kubeconfig.display().to_string();
    let run = crate::cli::kubectl_mysql(
        &[
            "--kubeconfig",
            &kubeconfig,
            "-n",
            &ns,
            "delete",
            "mysql-instance",
            "--skip-backup",
            "--wait",
            "--timeout",
            "60s",
        ],
        "",
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("skipping the backup"), "{}", run.stderr);
    assert!(
        scene
            .mysqls
            .get_opt("mysql-instance")
            .await
            .expect("get")
            .is_none()
    );
    // The claim goes once the pvc-protection controller lets it (no pod uses it).
    eventually("the data claim is gone", || async {
        pvcs.get_opt("mysql-instance-pvc")
            .await
            .is_ok_and(|c| c.is_none())
    })
    .await;
    scene.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_backup_or_restore_waits_for_the_running_one() {
    use kubectl_mysql::reconcile::ondemand::{Operation, Start, start};

    let cluster = Cluster::new("walk-busy").await;
    install_crd(&cluster.client).await;
    // No node stand-in: the first Job stays running.
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let created = mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("create");
    let instance = kubectl_mysql::validate::instance(&created, &cluster.namespace).expect("valid");
    let ctx = Context::new(cluster.client.clone(), "test");
    let (first, second) = tokio::join!(
        start(&ctx, &instance, &Operation::Backup),
        start(&ctx, &instance, &Operation::Backup)
    );
    let outcomes = [first.expect("first"), second.expect("second")];
    let started = outcomes
        .iter()
        .filter(|o| matches!(o, Start::Started(_)))
        .count();
    assert_eq!(started, 1, "{outcomes:?}");
    let restore = start(&ctx, &instance, &Operation::Restore(None))
        .await
        .expect("restore");
    assert_eq!(restore, Start::Busy("backup-mysql-instance-job".into()));
    cluster.cleanup().await;
}

/// A Job past its deadline is reported as failed (the commands' --wait ends with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_deadline_is_reported_not_waited_on() {
    use kubectl_mysql::reconcile::jobs::create_job;
    use kubectl_mysql::reconcile::ondemand::outcome;
    use kubectl_mysql::resources::{BackupSource, backup_job};

    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let cluster = Cluster::new("walk-deadline").await;
    install_crd(&cluster.client).await;
    let _node = NodeStandIn::start_with_mysql(cluster.client.clone());
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let created = mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("create");
    let instance = kubectl_mysql::validate::instance(&created, &cluster.namespace).expect("valid");
    // The product's backup Job with a script that hangs and a 1 s deadline.
    let mut job = backup_job(&instance, BackupSource::Server, 7);
    let spec = job.spec.as_mut().expect("spec");
    spec.active_deadline_seconds = Some(1);
    spec.template.spec.as_mut().expect("pod").containers[0].command =
        Some(vec!["sh".into(), "-c".into(), "sleep 60".into()]);
    let ctx = Context::new(cluster.client.clone(), "test");
    assert!(create_job(&ctx, &job).await.expect("create the Job"));
    let started = std::time::Instant::now();
    let result = loop {
        if let Some(result) = outcome(&ctx, &created, &instance, "backup-mysql-instance-job")
            .await
            .expect("read the Job")
        {
            break result;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the deadline was not enforced"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let cause = result.expect_err("a Job past its deadline failed");
    assert!(cause.contains("DeadlineExceeded"), "{cause}");
    cluster.cleanup().await;
}

/// The CLI and the operator add the finalizer at once: whoever comes second, with a copy
/// read before the first one's patch, finds it there instead of failing on the stale list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_the_finalizer_from_a_stale_copy_is_not_an_error() {
    use kubectl_mysql::reconcile::lifecycle::{FINALIZER, ensure_finalizer};

    let cluster = Cluster::new("walk-finalizer").await;
    install_crd(&cluster.client).await;
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let stale = mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("create");
    let ctx = Context::new(cluster.client.clone(), "test");
    assert!(
        ensure_finalizer(&ctx, &stale)
            .await
            .expect("the first adds it")
    );
    assert!(
        !ensure_finalizer(&ctx, &stale)
            .await
            .expect("the second, from the stale copy, finds it")
    );
    let finalizers = mysqls
        .get("mysql-instance")
        .await
        .expect("get")
        .metadata
        .finalizers
        .unwrap_or_default();
    assert_eq!(finalizers, [FINALIZER]);
    cluster.cleanup().await;
}
