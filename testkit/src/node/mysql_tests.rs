//! MySQL mode: real local servers for MySQL Deployments, Jobs run as local processes.
//! These need Debian's MariaDB: they skip without it, and fail in CI.

use std::path::Path;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{DeleteParams, ListParams};
use kubectl_mysql::crd::MySQL;
use kubectl_mysql::resources::{BackupSource, Names, backup_job, children, restore_job};
use kubectl_mysql::validate::Instance;

use super::tests::{cluster_with, eventually_within};
use super::*;
use crate::apiserver::TestApiServer;
use crate::mariadb::{Programs, query_tcp};

pub(super) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// With the characters the official image's entrypoint can take (not ' " or \\).
pub(super) const PASSWORD: &str = "s3cret p@ss#w0rd! $ Pa55";

pub(super) async fn cluster()
-> Result<(TestApiServer, Client, NodeStandIn), Box<dyn std::error::Error>> {
    cluster_with(NodeStandIn::start_with_mysql).await
}

/// A first start installs the system tables: give it time on a busy machine.
const SERVER_START: Duration = Duration::from_secs(90);

/// A validated instance, built the way the product builds one from a `MySQL` object.
pub(super) fn instance(name: &str) -> Instance {
    instance_with(name, PASSWORD)
}

/// [`instance`] with another root password (the CRD's rules are not applied here).
fn instance_with(name: &str, password: &str) -> Instance {
    let object: MySQL = from(json!({
        "apiVersion": "otus.homework/v1",
        "kind": "MySQL",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"image": "mariadb:11", "database": "shop", "password": password, "storage_size": "1Gi"},
    }));
    kubectl_mysql::validate::instance(&object, "default").expect("a valid instance")
}

/// Everything the operator would create for `instance`, created as it is built.
async fn create_children(client: &Client, instance: &Instance) -> TestResult {
    create_children_with(client, instance, |_| {}).await
}

/// [`create_children`], the Deployment changed by `edit` first.
pub(super) async fn create_children_with(
    client: &Client,
    instance: &Instance,
    edit: impl FnOnce(&mut Deployment),
) -> TestResult {
    let pp = PostParams::default();
    let mut c = children(instance);
    edit(&mut c.deployment);
    let ns = &instance.namespace;
    if let Some(secret) = &c.secret {
        Api::<Secret>::namespaced(client.clone(), ns)
            .create(&pp, secret)
            .await?;
    }
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    for pv in [&c.data_pv, &c.backup_pv].into_iter().flatten() {
        pvs.create(&pp, pv).await?;
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    claims.create(&pp, &c.data_pvc).await?;
    claims.create(&pp, &c.backup_pvc).await?;
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&pp, &c.service)
        .await?;
    Api::<Deployment>::namespaced(client.clone(), ns)
        .create(&pp, &c.deployment)
        .await?;
    Ok(())
}

/// The server's port once its Deployment is available.
pub(super) async fn serving(client: &Client, node: &NodeStandIn, name: &str) -> u16 {
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    eventually_within(
        "the server and its Deployment available",
        SERVER_START,
        || async {
            let d = deployments.get(name).await.ok()?;
            let available = (d.status?.conditions?.iter())
                .any(|c| c.type_ == "Available" && c.status == "True");
            available
                .then(|| node.server_port("default", name))
                .flatten()
        },
    )
    .await
}

pub(super) fn sql(port: u16, password: &str, sql: &str) -> Result<String, String> {
    let programs = Programs::find()?;
    query_tcp(&programs.client, port, "root", password, Some("shop"), sql)
}

fn job(name: &str, script: &str, backoff_limit: i32, deadline: Option<i64>) -> Job {
    from(json!({
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "activeDeadlineSeconds": deadline,
            "template": {
                "metadata": {"labels": {"app": "test"}},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 5,
                    "containers": [{
                        "name": "work",
                        "image": "busybox",
                        "command": ["sh", "-c", script],
                        "terminationMessagePolicy": "FallbackToLogsOnError",
                    }],
                },
            },
        },
    }))
}

pub(super) fn from<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid object")
}

/// The Job's final condition (type, reason, message) once it has one.
pub(super) async fn finished(jobs: &Api<Job>, name: &str) -> Option<(String, String, String)> {
    let job = jobs.get(name).await.ok()?;
    let conditions = job.status?.conditions?;
    let c = (conditions.into_iter())
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")?;
    Some((
        c.type_,
        c.reason.unwrap_or_default(),
        c.message.unwrap_or_default(),
    ))
}

/// The Job's pods, oldest first.
async fn pods_of(client: &Client, job: &str) -> Result<Vec<Pod>, kube::Error> {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let mut list = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await?
        .items;
    list.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    Ok(list)
}

/// containerStatuses[0].state.terminated of a pod: (exit code, reason, message).
fn terminated(pod: &Pod) -> Option<(i32, String, String)> {
    let status = pod.status.as_ref()?.container_statuses.as_ref()?.first()?;
    let t = status.state.as_ref()?.terminated.as_ref()?;
    Some((
        t.exit_code,
        t.reason.clone().unwrap_or_default(),
        t.message.clone().unwrap_or_default(),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mysql_deployment_is_a_real_server_whose_data_survives_re_creation() -> TestResult {
    let Some(_) = crate::mariadb::shared() else {
        return Ok(());
    };
    let (_server, client, node) = cluster().await?;
    let instance = instance("shop");
    create_children(&client, &instance).await?;
    let port = serving(&client, &node, "shop").await;

    let denied = sql(port, "", "SELECT 1").expect_err("root needs the password");
    assert!(denied.contains("Access denied"), "{denied}");
    sql(
        port,
        PASSWORD,
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))",
    )?;
    sql(
        port,
        PASSWORD,
        "INSERT INTO items VALUES (1, 'ünïcödé'), (2, NULL)",
    )?;
    // The server's datadir is the data PV's local directory.
    let datadir = node.local_path(&Names::new(&instance).data_host_path());
    assert!(
        datadir.join("shop").is_dir(),
        "{} holds the database",
        datadir.display()
    );

    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let deployment = deployments.get("shop").await?;
    deployments.delete("shop", &DeleteParams::default()).await?;
    eventually_within("the server stopped", Duration::from_secs(30), || async {
        let gone = node.server_port("default", "shop").is_none()
            && sql(port, PASSWORD, "SELECT 1").is_err();
        gone.then_some(())
    })
    .await;

    // Re-created on the same volume: the same data, the same password.
    let again = children(&instance).deployment;
    assert_eq!(again.metadata.name, deployment.metadata.name);
    deployments.create(&PostParams::default(), &again).await?;
    let port = serving(&client, &node, "shop").await;
    let rows = sql(
        port,
        PASSWORD,
        "SELECT id, IFNULL(name, 'NULL') FROM items ORDER BY id",
    )?;
    assert_eq!(rows, "1\tünïcödé\n2\tNULL\n");

    // Scaled to 0, the server stops too.
    let scale = json!({"spec": {"replicas": 0}});
    deployments
        .patch("shop", &PatchParams::default(), &Patch::Merge(scale))
        .await?;
    eventually_within(
        "the server stopped at 0 replicas",
        Duration::from_secs(30),
        || async {
            (node.server_port("default", "shop").is_none()
                && sql(port, PASSWORD, "SELECT 1").is_err())
            .then_some(())
        },
    )
    .await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_server_is_restarted_in_place_with_its_data() -> TestResult {
    let Some(_) = crate::mariadb::shared() else {
        return Ok(());
    };
    let (_server, client, node) = cluster().await?;
    let instance = instance("crashy");
    create_children(&client, &instance).await?;
    let port = serving(&client, &node, "crashy").await;
    sql(
        port,
        PASSWORD,
        "CREATE TABLE items (id INT PRIMARY KEY); INSERT INTO items VALUES (1), (2)",
    )?;
    assert_eq!(node.server_restarts("default", "crashy"), Some(0));
    assert!(node.kill_server("default", "crashy"));
    // Seen dead and restarted, then back on the same port with its rows.
    eventually_within("the restart", Duration::from_secs(30), || async {
        (node.server_restarts("default", "crashy") == Some(1)).then_some(())
    })
    .await;
    let back = serving(&client, &node, "crashy").await;
    assert_eq!(back, port, "the same pod: the same port");
    assert_eq!(
        sql(port, PASSWORD, "SELECT COUNT(*) FROM items")?.trim(),
        "2"
    );
    assert_eq!(node.server_restarts("default", "crashy"), Some(1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_completes_and_its_pod_reports_the_termination_message() -> TestResult {
    let Some(_) = crate::mariadb::shared() else {
        return Ok(());
    };
    let (_server, client, node) = cluster().await?;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let script = r#"echo working; echo '{"ok":true}' > "$TERMINATION_LOG"; exit 0"#;
    jobs.create(&PostParams::default(), &job("hello", script, 2, Some(60)))
        .await?;

    let (kind, reason, _) = eventually_within("the Job finished", Duration::from_secs(20), || {
        finished(&jobs, "hello")
    })
    .await;
    assert_eq!(
        (kind.as_str(), reason.as_str()),
        ("Complete", "CompletionsReached")
    );
    let status = jobs.get("hello").await?.status.expect("status");
    assert_eq!(status.succeeded, Some(1));
    assert_eq!(status.failed, None);
    assert_eq!(status.active, None);
    assert!(status.start_time.is_some() && status.completion_time.is_some());

    let pods = pods_of(&client, "hello").await?;
    assert_eq!(pods.len(), 1, "one attempt");
    let pod = &pods[0];
    let name = pod.name_any();
    assert!(
        name.starts_with("hello-") && name.len() == "hello-".len() + 5,
        "{name}"
    );
    let labels = pod.labels();
    assert_eq!(
        labels
            .get("batch.kubernetes.io/job-name")
            .map(String::as_str),
        Some("hello")
    );
    assert_eq!(labels.get("job-name").map(String::as_str), Some("hello"));
    let owner = &pod.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Job", "hello", Some(true))
    );
    assert_eq!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded")
    );
    assert_eq!(
        terminated(pod),
        Some((0, "Completed".into(), "{\"ok\":true}\n".into()))
    );
    assert_eq!(node.logs("default", &name).as_deref(), Some("working\n"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_job_is_retried_backoff_limit_times_then_failed() -> TestResult {
    let Some(_) = crate::mariadb::shared() else {
        return Ok(());
    };
    let (_server, client, _node) = cluster().await?;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let script = "echo first line; echo 'the cause' >&2; exit 3";
    jobs.create(&PostParams::default(), &job("flaky", script, 2, Some(60)))
        .await?;

    let (kind, reason, message) =
        eventually_within("the Job failed", Duration::from_secs(20), || {
            finished(&jobs, "flaky")
        })
        .await;
    assert_eq!(
        (kind.as_str(), reason.as_str()),
        ("Failed", "BackoffLimitExceeded")
    );
    assert_eq!(message, "Job has reached the specified backoff limit");
    let status = jobs.get("flaky").await?.status.expect("status");
    assert_eq!(
        (status.failed, status.succeeded, status.active),
        (Some(3), None, None)
    );
    assert!(
        status.completion_time.is_none(),
        "a failed Job has no completionTime"
    );

    let pods = pods_of(&client, "flaky").await?;
    assert_eq!(pods.len(), 3, "backoffLimit 2: three attempts");
    for pod in &pods {
        // Nothing in the termination log: FallbackToLogsOnError gives the output's end.
        let (code, reason, message) = terminated(pod).expect("terminated");
        assert_eq!((code, reason.as_str()), (3, "Error"));
        assert_eq!(message, "first line\nthe cause");
        assert_eq!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Failed")
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_reading_a_missing_secret_fails_with_the_kubelets_message() -> TestResult {
    let Some(_) = crate::mariadb::shared() else {
        return Ok(());
    };
    let (_server, client, _node) = cluster().await?;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let mut missing = job("no-secret", "exit 0", 0, Some(60));
    let container = &mut missing
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
        .expect("pod")
        .containers[0];
    container.env = Some(vec![from(json!({"name": "MYSQL_PWD",
        "valueFrom": {"secretKeyRef": {"name": "absent", "key": "password"}}}))]);
    jobs.create(&PostParams::default(), &missing).await?;

    let (kind, reason, _) = eventually_within("the Job failed", Duration::from_secs(20), || {
        finished(&jobs, "no-secret")
    })
    .await;
    assert_eq!(
        (kind.as_str(), reason.as_str()),
        ("Failed", "BackoffLimitExceeded")
    );
    let pods = pods_of(&client, "no-secret").await?;
    let (_, reason, message) = terminated(&pods[0]).expect("terminated");
    assert_eq!(reason, "CreateContainerConfigError");
    assert_eq!(message, "secret \"absent\" not found");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_past_its_deadline_is_killed_and_failed() -> TestResult {
    let Some(_) = crate::mariadb::shared() else {
        return Ok(());
    };
    let (_server, client, node) = cluster().await?;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let started = std::time::Instant::now();
    jobs.create(
        &PostParams::default(),
        &job("sleepy", "echo pid $$; exec sleep 300", 3, Some(1)),
    )
    .await?;

    // The process is up: its pid from the live log.
    let pid = eventually_within("the process running", Duration::from_secs(10), || async {
        let pods = pods_of(&client, "sleepy").await.ok()?;
        let log = node.logs("default", &pods.first()?.name_any())?;
        log.strip_prefix("pid ")?.trim().parse::<u32>().ok()
    })
    .await;
    let (kind, reason, message) =
        eventually_within("the Job failed", Duration::from_secs(15), || {
            finished(&jobs, "sleepy")
        })
        .await;
    assert_eq!(
        (kind.as_str(), reason.as_str()),
        ("Failed", "DeadlineExceeded")
    );
    assert_eq!(message, "Job was active longer than specified deadline");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "killed at the deadline, not retried"
    );
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the process is gone"
    );
    let status = jobs.get("sleepy").await?.status.expect("status");
    assert_eq!((status.failed, status.active), (Some(1), None));
    // The controller deletes the pods of a Job past its deadline.
    eventually_within("the pod deleted", Duration::from_secs(5), || async {
        pods_of(&client, "sleepy")
            .await
            .ok()?
            .is_empty()
            .then_some(())
    })
    .await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_deleted_while_running_has_its_process_killed() -> TestResult {
    let Some(_) = crate::mariadb::shared() else {
        return Ok(());
    };
    let (_server, client, node) = cluster().await?;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    jobs.create(
        &PostParams::default(),
        &job("doomed", "echo pid $$; exec sleep 300", 0, None),
    )
    .await?;
    let pid = eventually_within("the process running", Duration::from_secs(10), || async {
        let pods = pods_of(&client, "doomed").await.ok()?;
        let log = node.logs("default", &pods.first()?.name_any())?;
        log.strip_prefix("pid ")?.trim().parse::<u32>().ok()
    })
    .await;
    jobs.delete("doomed", &DeleteParams::default()).await?;
    eventually_within("the process killed", Duration::from_secs(10), || async {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    })
    .await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_products_backup_and_restore_jobs_run_against_the_local_server() -> TestResult {
    let Some(_) = crate::mariadb::shared() else {
        return Ok(());
    };
    let (_server, client, node) = cluster().await?;
    let instance = instance("store");
    create_children(&client, &instance).await?;
    let port = serving(&client, &node, "store").await;
    sql(
        port,
        PASSWORD,
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))",
    )?;
    sql(
        port,
        PASSWORD,
        "INSERT INTO items VALUES (1, 'ünïcödé'), (2, NULL)",
    )?;

    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let backup = backup_job(&instance, BackupSource::Server, 3);
    jobs.create(&PostParams::default(), &backup).await?;
    let name = backup.metadata.name.clone().expect("name");
    let done = eventually_within("the backup Job finished", Duration::from_secs(60), || {
        finished(&jobs, &name)
    })
    .await;
    let pods = pods_of(&client, &name).await?;
    let pod = pods.last().expect("a pod");
    let logs = node.logs("default", &pod.name_any()).unwrap_or_default();
    assert_eq!(done.0, "Complete", "{done:?}\n{logs}");
    let (_, _, message) = terminated(pod).expect("terminated");
    let report: Value = serde_json::from_str(message.trim())?;
    assert_eq!(report["ok"], json!(true), "{message}");
    let file = report["backup"].as_str().expect("backup name").to_string();
    let backups = node.local_path(&Names::new(&instance).backup_host_path());
    assert!(
        file.ends_with(".sql.gz") && backups.join(&file).is_file(),
        "{file} in {}",
        backups.display()
    );

    // The restore Job loads it back.
    sql(port, PASSWORD, "DROP TABLE items")?;
    let restore = restore_job(&instance, None);
    jobs.create(&PostParams::default(), &restore).await?;
    let name = restore.metadata.name.clone().expect("name");
    let done = eventually_within("the restore Job finished", Duration::from_secs(60), || {
        finished(&jobs, &name)
    })
    .await;
    assert_eq!(done.0, "Complete", "{done:?}");
    let rows = sql(
        port,
        PASSWORD,
        "SELECT id, IFNULL(name, 'NULL') FROM items ORDER BY id",
    )?;
    assert_eq!(rows, "1\tünïcödé\n2\tNULL\n");
    Ok(())
}

/// Every file under `dir` that holds `needle` (the stand-in's volumes and pods' scratch).
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if std::fs::read(&path)
            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        {
            found.push(path);
        }
    }
    found
}

/// SQL through a server's socket as root without a password.
fn sql_as_root_on_socket(socket: &Path, sql: &str) -> Result<String, String> {
    let programs = Programs::find()?;
    let out = std::process::Command::new(&programs.client)
        .args(["--no-defaults", "--batch", "--skip-column-names", "-uroot"])
        .arg(format!("--socket={}", socket.display()))
        .args(["-e", sql])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The official entrypoint's first start: root@localhost and root@'%' (MYSQL_ROOT_HOST's
/// default) with the password and no other account, the database in utf8mb4 as MySQL 8's
/// default, and no file left holding the password; MYSQL_ROOT_HOST names the other host.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_start_sets_up_root_and_the_database_as_the_official_entrypoint_does() -> TestResult
{
    let Some(_) = crate::mariadb::shared() else {
        return Ok(());
    };
    let (_server, client, node) = cluster().await?;
    let shop = instance("shop");
    create_children(&client, &shop).await?;
    let local = instance("local");
    create_children_with(&client, &local, |deployment| {
        let pod = deployment
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut());
        let container = &mut pod.expect("pod").containers[0];
        container.env.get_or_insert_with(Vec::new).push(from(
            json!({"name": "MYSQL_ROOT_HOST", "value": "127.0.0.1"}),
        ));
    })
    .await?;

    let port = serving(&client, &node, "shop").await;
    let accounts = "SELECT CONCAT(User, '@', Host) FROM mysql.user ORDER BY User, Host";
    assert_eq!(
        sql(port, PASSWORD, accounts)?,
        "mariadb.sys@localhost\nroot@%\nroot@localhost\n"
    );
    let charset = "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop'";
    assert_eq!(sql(port, PASSWORD, charset)?, "utf8mb4\n");
    let port = serving(&client, &node, "local").await;
    assert_eq!(
        sql(port, PASSWORD, accounts)?,
        "mariadb.sys@localhost\nroot@127.0.0.1\nroot@localhost\n"
    );
    let holding = files_holding(&node.node.root, PASSWORD.as_bytes());
    assert!(
        holding.is_empty(),
        "files holding the password: {holding:?}"
    );
    Ok(())
}

/// A `'` in the password: the entrypoint's setup breaks half-way, as in the official
/// image, and the data directory is left initialised but without the password, without
/// root@'%' and without the database, so no later start can fix it (the CRD and the
/// operator refuse such a password for this reason).
#[tokio::test(flavor = "multi_thread")]
async fn a_quote_in_the_password_breaks_the_first_start_for_good() -> TestResult {
    let Some(_) = crate::mariadb::shared() else {
        return Ok(());
    };
    let (_server, client, node) = cluster().await?;
    let broken = instance_with("broken", "it's-broken");
    create_children(&client, &broken).await?;
    let why = eventually_within("the first start failed", SERVER_START, || async {
        node.server_failure("default", "broken")
    })
    .await;
    assert!(why.contains("ERROR 1064 (42000) at line 4"), "{why}");
    assert!(
        !why.contains("it's-broken"),
        "the password is never shown: {why}"
    );
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    assert!(
        (deployments.get("broken").await?.status)
            .and_then(|s| s.available_replicas)
            .is_none(),
        "never available"
    );

    // What the next start finds: initialised, so the entrypoint skips its setup.
    deployments
        .delete("broken", &DeleteParams::default())
        .await?;
    eventually_within("the server gone", SERVER_START, || async {
        node.server_failure("default", "broken")
            .is_none()
            .then_some(())
    })
    .await;
    let datadir = node.local_path(&Names::new(&broken).data_host_path());
    assert!(datadir.join("mysql").is_dir(), "the system tables exist");
    let programs = Programs::find()?;
    let run = tempfile::tempdir()?;
    let _server = crate::mariadb::ServerProcess::spawn(
        &programs.server,
        &datadir,
        run.path(),
        0,
        &["--skip-networking".into()],
    )?;
    let socket = run.path().join("mysqld.sock");
    let accounts = eventually_within("the server on the socket", SERVER_START, || async {
        sql_as_root_on_socket(
            &socket,
            "SELECT CONCAT(User, '@', Host) FROM mysql.user ORDER BY User, Host",
        )
        .ok()
    })
    .await;
    assert_eq!(
        accounts, "mariadb.sys@localhost\nroot@localhost\n",
        "root without a password, no root@'%'"
    );
    let databases = sql_as_root_on_socket(&socket, "SHOW DATABASES LIKE 'shop'")?;
    assert_eq!(databases, "", "no database");
    Ok(())
}
