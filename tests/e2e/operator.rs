//! The reconcile library and the operator, end to end on the test API server with the
//! node stand-in playing the cluster's controllers.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Event as CoreEvent, PersistentVolume, PersistentVolumeClaim, Secret, Service,
};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use kubectl_mysql::crd::{MySQL, Phase};
use std::sync::Arc;

use kubectl_mysql::operator::{self, Scope, Settings, Telemetry};
use kubectl_mysql::reconcile::{Context, reconcile};
use serde_json::json;
use testkit::node::NodeStandIn;
use tokio::sync::oneshot;

use crate::cluster::{Cluster, eventually, install_crd, seed_cr, wait_for_phase};

/// An operator running in-process over one namespace; stopped (gracefully) on drop.
pub(crate) struct RunningOperator {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    pub(crate) telemetry: Arc<Telemetry>,
}

impl RunningOperator {
    pub(crate) fn start(client: Client, namespace: &str) -> Self {
        Self::start_with(client, namespace, Settings::default())
    }

    pub(crate) fn start_with(client: Client, namespace: &str, settings: Settings) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let telemetry = Arc::new(Telemetry::new());
        let task = tokio::spawn(operator::run(
            client,
            Scope::Namespace(namespace.to_string()),
            "test-operator",
            telemetry.clone(),
            settings,
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            stop: Some(stop),
            task,
            telemetry,
        }
    }

    /// Wait until the operator has reconciled `n` times in all.
    pub(crate) async fn reconciled(&self, n: u64) {
        let telemetry = self.telemetry.clone();
        eventually(&format!("the operator reconciled {n} times"), || {
            let telemetry = telemetry.clone();
            async move { telemetry.reconciliations() >= n }
        })
        .await;
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), &mut self.task).await;
    }
}

impl Drop for RunningOperator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether `name` exists (a failed read counts as absent: the caller polls).
async fn exists<K>(api: &Api<K>, name: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.ok().flatten().is_some()
}

/// Every object the seed's instance gets, by kind and name.
async fn children_present(client: &Client, ns: &str) -> Vec<String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let data_pv = format!("{ns}.mysql-instance-pv");
    let backup_pv = format!("{ns}.backup-mysql-instance-pv");
    let present = [
        (
            "Secret",
            "mysql-instance-credentials",
            exists(&secrets, "mysql-instance-credentials").await,
        ),
        (
            "PersistentVolume",
            data_pv.as_str(),
            exists(&pvs, &data_pv).await,
        ),
        (
            "PersistentVolumeClaim",
            "mysql-instance-pvc",
            exists(&pvcs, "mysql-instance-pvc").await,
        ),
        (
            "Service",
            "mysql-instance",
            exists(&services, "mysql-instance").await,
        ),
        (
            "Deployment",
            "mysql-instance",
            exists(&deployments, "mysql-instance").await,
        ),
        (
            "PersistentVolume",
            backup_pv.as_str(),
            exists(&pvs, &backup_pv).await,
        ),
        (
            "PersistentVolumeClaim",
            "backup-mysql-instance-pvc",
            exists(&pvcs, "backup-mysql-instance-pvc").await,
        ),
    ];
    present
        .into_iter()
        .filter(|(_, _, here)| *here)
        .map(|(kind, name, _)| format!("{kind}/{name}"))
        .collect()
}

fn all_children(ns: &str) -> Vec<String> {
    vec![
        "Secret/mysql-instance-credentials".to_string(),
        format!("PersistentVolume/{ns}.mysql-instance-pv"),
        "PersistentVolumeClaim/mysql-instance-pvc".into(),
        "Service/mysql-instance".into(),
        "Deployment/mysql-instance".into(),
        format!("PersistentVolume/{ns}.backup-mysql-instance-pv"),
        "PersistentVolumeClaim/backup-mysql-instance-pvc".into(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_turns_the_seed_cr_into_a_ready_instance() {
    let cluster = Cluster::new("op-seed").await;
    install_crd(&cluster.client).await;
    let _node = NodeStandIn::start(cluster.client.clone());
    let running = RunningOperator::start(cluster.client.clone(), &cluster.namespace);
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("the seed CR");

    wait_for_phase(&mysqls, "mysql-instance", Phase::Ready, None).await;
    let object = mysqls.get("mysql-instance").await.expect("get");
    let status = object.status.expect("status");
    assert_eq!(
        status.message.as_deref(),
        Some("mysql-instance created without restore-job")
    );
    assert_eq!(status.observed_generation, object.metadata.generation);
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready condition");
    assert_eq!(ready.status, "True");
    assert_eq!(
        children_present(&cluster.client, &cluster.namespace).await,
        all_children(&cluster.namespace)
    );

    // Events for each step, none of them with the password.
    let events: Api<CoreEvent> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let listed = events
        .list(&ListParams::default().fields("involvedObject.name=mysql-instance"))
        .await
        .expect("events");
    let reasons: Vec<String> = listed
        .items
        .iter()
        .filter_map(|e| e.reason.clone())
        .collect();
    assert!(
        reasons.contains(&"Applied".to_string()) && reasons.contains(&"Ready".to_string()),
        "{reasons:?}"
    );
    let rendered = serde_json::to_string(&listed.items).expect("json");
    assert!(!rendered.contains("0tusP@ssword"));
    let status_text = serde_json::to_string(&status).expect("json");
    assert!(!status_text.contains("0tusP@ssword"));
    running.stop().await;
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_create_by_hand_then_the_operator_writes_nothing() {
    let cluster = Cluster::new("op-cli").await;
    install_crd(&cluster.client).await;
    let _node = NodeStandIn::start(cluster.client.clone());
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let run = crate::cli::kubectl_mysql(
        &[
            "--kubeconfig",
            &kubeconfig,
            "-n",
            &cluster.namespace,
            "create",
            "-f",
            "deploy/cr.yaml",
            "--wait",
            "--timeout",
            "60s",
        ],
        "",
    );
    assert_eq!(
        run.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout
            .contains("mysql.otus.homework/mysql-instance created"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("mysql-instance is Ready"),
        "{}",
        run.stderr
    );
    assert_eq!(
        children_present(&cluster.client, &cluster.namespace).await,
        all_children(&cluster.namespace)
    );

    let server = cluster
        .server()
        .expect("counting requests needs the test API server");
    server.clear_requests();
    let operator = "system:serviceaccount:kubectl-mysql-system:kubectl-mysql";
    let operator_client = cluster.client_as(operator).await.expect("test server");
    let running = RunningOperator::start(operator_client, &cluster.namespace);
    running.reconciled(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    running.stop().await;
    let writes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.user == operator && r.is_write())
        .collect();
    assert!(
        writes.is_empty(),
        "the operator wrote to a converged instance: {writes:?}"
    );
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reconcile_of_a_converged_instance_only_reads() {
    let cluster = Cluster::new("op-count").await;
    install_crd(&cluster.client).await;
    let _node = NodeStandIn::start(cluster.client.clone());
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("create");
    let ctx = Context::new(cluster.client.clone(), "test");
    // Converge by hand (the CLI's way): reconcile until Ready.
    for _ in 0..100 {
        let current = mysqls.get("mysql-instance").await.expect("get");
        if reconcile(&current, &ctx).await.expect("reconcile").phase == Phase::Ready {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let current = mysqls.get("mysql-instance").await.expect("get");
    let server = cluster.server().expect("test API server");
    server.clear_requests();
    let outcome = reconcile(&current, &ctx).await.expect("reconcile");
    assert_eq!(outcome.phase, Phase::Ready);
    assert_eq!((outcome.applied, outcome.status_written), (0, false));
    let requests = server.requests();
    let writes = requests.iter().filter(|r| r.is_write()).count();
    let reads = requests.len() - writes;
    println!("one converged reconcile: {reads} reads, {writes} writes: {requests:?}");
    assert_eq!(writes, 0);
    // One GET per child (the Deployment's also answers "is spec.image what it runs?"),
    // one LIST of the server's pods (the image it runs, by digest), one GET of the
    // backup CronJob, which must not exist without a schedule, and one GET of the
    // on-demand backup Job (how the last one went: the BackedUp condition). The
    // operator reads the last two from its caches.
    assert_eq!(
        reads, 10,
        "one GET per child, the pods, the CronJob, the backup Job"
    );
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_repaired_and_delete_collects_the_owned_children() {
    let cluster = Cluster::new("op-drift").await;
    install_crd(&cluster.client).await;
    let _node = NodeStandIn::start(cluster.client.clone());
    let running = RunningOperator::start(cluster.client.clone(), &cluster.namespace);
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("create");
    wait_for_phase(&mysqls, "mysql-instance", Phase::Ready, None).await;

    // A Service deleted by hand comes back.
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    services
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete svc");
    let svc = services.clone();
    eventually("the Service is recreated", move || {
        let svc = svc.clone();
        async move { svc.get_opt("mysql-instance").await.ok().flatten().is_some() }
    })
    .await;

    // An image changed by hand (another field manager) is put back.
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let by_hand = json!({"spec": {"template": {"spec": {"containers": [{"name": "mysql", "image": "mysql:5.7"}]}}}});
    deployments
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Strategic(by_hand),
        )
        .await
        .expect("image changed by hand");
    let deps = deployments.clone();
    eventually("the image is restored", move || {
        let deps = deps.clone();
        async move {
            deps.get("mysql-instance")
                .await
                .ok()
                .and_then(|d| d.spec)
                .and_then(|s| s.template.spec)
                .map(|p| p.containers[0].image.clone())
                == Some(Some("mysql:latest".into()))
        }
    })
    .await;

    // Deleting the instance without a backup (--skip-backup): the finalizer removes the
    // data volume, the garbage collector the owned children; the backups stay.
    mysqls
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"otus.homework/skip-backup": "true"}}}),
            ),
        )
        .await
        .expect("skip the backup");
    mysqls
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete");
    let client = cluster.client.clone();
    let ns = cluster.namespace.clone();
    eventually("only the backup volume and claim are left", move || {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            children_present(&client, &ns).await
                == [
                    format!("PersistentVolume/{ns}.backup-mysql-instance-pv"),
                    "PersistentVolumeClaim/backup-mysql-instance-pvc".to_string(),
                ]
        }
    })
    .await;
    assert!(
        mysqls
            .get_opt("mysql-instance")
            .await
            .expect("get")
            .is_none(),
        "the finalizer was released"
    );
    running.stop().await;
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_name_in_two_namespaces_never_collides() {
    let first = Cluster::new("op-ns-a").await;
    install_crd(&first.client).await;
    let second_ns = format!("{}-b", first.namespace);
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(first.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": second_ns}})).expect("ns"),
        )
        .await
        .expect("second namespace");
    let _node = NodeStandIn::start(first.client.clone());
    let running_a = RunningOperator::start(first.client.clone(), &first.namespace);
    let running_b = RunningOperator::start(first.client.clone(), &second_ns);
    for ns in [&first.namespace, &second_ns] {
        let mysqls: Api<MySQL> = Api::namespaced(first.client.clone(), ns);
        mysqls
            .create(&PostParams::default(), &seed_cr())
            .await
            .expect("create");
    }
    for ns in [&first.namespace, &second_ns] {
        let mysqls: Api<MySQL> = Api::namespaced(first.client.clone(), ns);
        wait_for_phase(&mysqls, "mysql-instance", Phase::Ready, None).await;
        assert_eq!(children_present(&first.client, ns).await, all_children(ns));
    }
    let pvs: Api<PersistentVolume> = Api::all(first.client.clone());
    let a = pvs
        .get(&format!("{}.mysql-instance-pv", first.namespace))
        .await
        .expect("pv a");
    let b = pvs
        .get(&format!("{second_ns}.mysql-instance-pv"))
        .await
        .expect("pv b");
    let path = |pv: &PersistentVolume| {
        pv.spec
            .as_ref()
            .and_then(|s| s.host_path.as_ref())
            .map(|h| h.path.clone())
    };
    assert_ne!(path(&a), path(&b));
    running_a.stop().await;
    running_b.stop().await;
    let _ = namespaces
        .delete(&second_ns, &DeleteParams::default())
        .await;
    first.cleanup().await;
}

/// The seed's instance with its password in Secret `secret`, key `key`, created; then
/// its Degraded condition once it is Failed.
async fn failed_with_password_secret(
    mysqls: &Api<MySQL>,
    secret: &str,
    key: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    let mut object = seed_cr();
    object.spec.password = None;
    object.spec.password_secret = Some(kubectl_mysql::crd::SecretKeyReference {
        name: secret.into(),
        key: key.into(),
    });
    mysqls
        .create(&PostParams::default(), &object)
        .await
        .expect("create");
    wait_for_phase(mysqls, "mysql-instance", Phase::Failed, None).await;
    let status = mysqls
        .get("mysql-instance")
        .await
        .expect("get")
        .status
        .expect("status");
    let degraded = status
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded");
    assert_eq!(degraded.status, "True");
    degraded
}

/// A Secret `name` with `key: value`.
fn secret_with(name: &str, key: &str, value: &str) -> Secret {
    serde_json::from_value(json!({"metadata": {"name": name}, "stringData": {key: value}}))
        .expect("secret")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_password_secret_fails_cleanly_and_heals_when_created() {
    let cluster = Cluster::new("op-secret").await;
    install_crd(&cluster.client).await;
    let _node = NodeStandIn::start(cluster.client.clone());
    let running = RunningOperator::start(cluster.client.clone(), &cluster.namespace);
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let degraded = failed_with_password_secret(&mysqls, "db-root", "password").await;
    assert_eq!(degraded.reason, "SecretNotFound");
    assert!(degraded.message.contains("db-root"), "{}", degraded.message);
    // No crash loop: the operator waits for a change instead of hammering the API.
    let server = cluster.server().expect("test API server");
    server.clear_requests();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let writes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_write())
        .collect();
    assert!(
        writes.len() <= 1,
        "a Failed instance is not retried in a loop: {writes:?}"
    );
    assert!(writes.iter().all(|w| w.resource == "events"), "{writes:?}");

    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    secrets
        .create(
            &PostParams::default(),
            &secret_with("db-root", "password", "s3cret"),
        )
        .await
        .expect("secret");
    wait_for_phase(&mysqls, "mysql-instance", Phase::Ready, None).await;
    running.stop().await;
    cluster.cleanup().await;
}

/// A referenced Secret whose password the official mysql image cannot take fails the
/// instance (Degraded, UnsafePassword) with a message that names the Secret and key, never
/// the value; a fixed Secret heals it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsafe_password_in_a_secret_fails_the_instance_without_showing_it() {
    let cluster = Cluster::new("op-unsafe").await;
    install_crd(&cluster.client).await;
    let _node = NodeStandIn::start(cluster.client.clone());
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    secrets
        .create(
            &PostParams::default(),
            &secret_with("db-root", "root", "0tus'P@ss\\word"),
        )
        .await
        .expect("secret");
    let running = RunningOperator::start(cluster.client.clone(), &cluster.namespace);
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let degraded = failed_with_password_secret(&mysqls, "db-root", "root").await;
    assert_eq!(degraded.reason, "UnsafePassword");
    assert!(
        degraded.message.contains(r#"Secret "db-root", key "root""#),
        "{}",
        degraded.message
    );
    // Nothing was made that would start a server with it.
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    assert!(
        deployments
            .get_opt("mysql-instance")
            .await
            .expect("get")
            .is_none()
    );
    // The value is in no status and no Event.
    let stored = serde_json::to_string(&mysqls.list(&ListParams::default()).await.expect("list"))
        .expect("json");
    assert!(
        !stored.contains("0tus'P@ss"),
        "the password is in a stored MySQL object"
    );
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let events = serde_json::to_string(&events.list(&ListParams::default()).await.expect("list"))
        .expect("json");
    assert!(events.contains("UnsafePassword"), "{events}");
    assert!(!events.contains("0tus'P@ss"), "the password is in an Event");

    secrets
        .replace(
            "db-root",
            &PostParams::default(),
            &secret_with("db-root", "root", "0tusP@ssword"),
        )
        .await
        .expect("fixed");
    wait_for_phase(&mysqls, "mysql-instance", Phase::Ready, None).await;
    running.stop().await;
    cluster.cleanup().await;
}

#[test]
fn conflicting_operator_flags_are_refused() {
    let run = crate::cli::kubectl_mysql(&["run-operator", "-A", "-n", "x"], "");
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
}

/// A namespace-scoped operator reads the CRD first (all its install grants cluster-wide
/// besides volumes): without it, it stops with one line and a hint instead of retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_scoped_operator_without_the_crd_says_so_and_stops() {
    use std::process::{Command, Stdio};

    let cluster = Cluster::new("op-nocrd").await;
    if cluster.server().is_none() {
        return; // a real cluster has the CRD installed by the suite
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-mysql"))
        .args(["--kubeconfig", &cluster.kubeconfig.display().to_string()])
        .args(["run-operator", "--watch-namespace", &cluster.namespace])
        .args(["--watch-namespace", "default"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the operator starts");
    let started = std::time::Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the operator kept running without its CRD");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    use std::io::Read;
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: ") || l.starts_with("hint: "))
        .collect();
    assert_eq!(
        errors,
        [
            "error: the CustomResourceDefinition mysqls.otus.homework is not installed",
            "hint: install it first: kubectl mysql crd | kubectl apply -f -"
        ],
        "{stderr}"
    );
    cluster.cleanup().await;
}

/// `-n NS` may run under the cluster-wide install's rules, which grant no read of the CRD:
/// refused that read, the operator says so and watches anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_refused_the_crd_read_watches_anyway() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let cluster = Cluster::new("op-crd403").await;
    let Some(server) = cluster.server() else {
        return;
    };
    install_crd(&cluster.client).await;
    server.forbid(
        "get",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        None,
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-mysql"))
        .args(["--kubeconfig", &cluster.kubeconfig.display().to_string()])
        .args([
            "-n",
            &cluster.namespace,
            "run-operator",
            "--log-format",
            "json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the operator starts");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut messages = Vec::new();
    while let Ok(line) = lines_rx.recv_timeout(std::time::Duration::from_secs(20)) {
        let parsed: serde_json::Value = serde_json::from_str(&line).expect("JSON logs");
        let message = parsed["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        messages.push(message.clone());
        if message == "operator started" {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        messages,
        ["cannot check the CRD: watching anyway", "operator started"]
    );
    cluster.cleanup().await;
}

/// The operator as a process: JSON logs, and SIGTERM ends it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_operator_process_logs_json_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let cluster = Cluster::new("op-proc").await;
    install_crd(&cluster.client).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-mysql"))
        .args([
            "--kubeconfig",
            &cluster.kubeconfig.display().to_string(),
            "-n",
            &cluster.namespace,
        ])
        .args(["run-operator", "--log-format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the operator starts");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let started = lines_rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a first log line");
    let parsed: serde_json::Value = serde_json::from_str(&started).expect("JSON logs");
    assert_eq!(parsed["fields"]["message"], "operator started", "{started}");

    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("create");
    wait_for_phase(&mysqls, "mysql-instance", Phase::Provisioning, None).await;

    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the operator did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    // Every line, up to the end of the output (the reader ends at EOF, after the exit).
    let rest: Vec<String> = lines_rx.iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("operator stopped")),
        "{rest:?}"
    );
    assert!(
        !rest.iter().any(|l| l.contains("0tusP@ssword")),
        "no password in the logs"
    );
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_operator_on_a_taken_metrics_port_fails_at_once_with_a_hint() {
    let cluster = Cluster::new("metrics-port").await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().expect("its address").to_string();
    let out = tokio::task::spawn_blocking({
        let kubeconfig = cluster.kubeconfig.clone();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-mysql"))
                .args(["run-operator", "--metrics-addr", &addr])
                .env("KUBECONFIG", kubeconfig)
                .output()
                .expect("the binary runs")
        }
    })
    .await
    .expect("joined");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last: Vec<&str> = stderr.lines().rev().take(2).collect();
    assert!(
        last[1].starts_with("error: cannot serve metrics on 127.0.0.1:"),
        "{stderr}"
    );
    assert!(last[0].starts_with("hint: pick a free address"), "{stderr}");
    drop(taken);
    cluster.cleanup().await;
}
