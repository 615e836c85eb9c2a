//! `kubectl-mysql status` run as a process against the test API server (or the cluster
//! named by `MYSQL_E2E_KUBECONFIG`). Names start with `status_` so `cargo test status`
//! selects them. The binary blocks a worker thread while the in-process server answers on
//! the other: these tests need the multi-threaded runtime.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Namespace};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use kubectl_mysql::crd::MySQL;
use serde_json::json;

use crate::cli::Run;
use crate::cluster::{Cluster, install_crd, seed_cr};

/// The seed's password: it must never be printed.
const SEED_PASSWORD: &str = "0tusP@ssword";

/// Run the binary against the cluster of `kubeconfig`, with `args` after `--kubeconfig`.
fn status(kubeconfig: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_kubectl-mysql"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("HOME")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The seed's CR under another name.
fn seed_named(name: &str) -> MySQL {
    let mut cr = seed_cr();
    cr.metadata.name = Some(name.to_string());
    cr
}

async fn create(client: &Client, namespace: &str, cr: &MySQL) -> MySQL {
    Api::<MySQL>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), cr)
        .await
        .expect("MySQL created")
}

async fn create_namespace(client: &Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let object: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
    namespaces
        .create(&PostParams::default(), &object)
        .await
        .expect("namespace created");
}

/// The row of `name` in a table, split into cells.
fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.contains(&name))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{table}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_table_lists_instances_and_all_namespaces() {
    let cluster = Cluster::new("status-table").await;
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    let kubeconfig = cluster.kubeconfig.clone();

    let empty = status(&kubeconfig, &["-n", &ns, "status"]);
    assert_eq!(empty.code, Some(0), "{}", empty.stderr);
    assert_eq!(
        empty.stderr.trim(),
        format!("No MySQL instances found in namespace {ns}.")
    );
    assert!(empty.stdout.is_empty(), "{}", empty.stdout);

    create(&cluster.client, &ns, &seed_named("alpha")).await;
    create(&cluster.client, &ns, &seed_named("beta")).await;
    Api::<MySQL>::namespaced(cluster.client.clone(), &ns)
        .patch_status(
            "beta",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready", "message": "beta created without restore-job"}})),
        )
        .await
        .expect("status patched");

    let listed = status(&kubeconfig, &["status", "-n", &ns]);
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "PHASE", "DATABASE", "STORAGE", "AGE"],
        "{}",
        listed.stdout
    );
    assert_eq!(lines.len(), 3, "{}", listed.stdout);
    let alpha = row(&listed.stdout, "alpha");
    assert_eq!(alpha[..4], ["alpha", "Pending", "otus-database", "1Gi"]);
    assert!(alpha[4].ends_with('s'), "a fresh age in seconds: {alpha:?}");
    assert_eq!(
        row(&listed.stdout, "beta")[..4],
        ["beta", "Ready", "otus-database", "1Gi"]
    );
    assert!(!listed.stdout.contains(SEED_PASSWORD));

    // -A: a NAMESPACE column first, instances of every namespace.
    let other = format!("{ns}-b");
    create_namespace(&cluster.client, &other).await;
    create(&cluster.client, &other, &seed_named("alpha")).await;
    let all = status(&kubeconfig, &["status", "-A"]);
    assert_eq!(all.code, Some(0), "{}", all.stderr);
    let header: Vec<&str> = all
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAMESPACE", "NAME", "PHASE", "DATABASE", "STORAGE", "AGE"]
    );
    let rows: Vec<Vec<&str>> = all
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for (namespace, name, phase) in [
        (ns.as_str(), "alpha", "Pending"),
        (ns.as_str(), "beta", "Ready"),
        (other.as_str(), "alpha", "Pending"),
    ] {
        assert!(
            rows.iter().any(|r| r[..3] == [namespace, name, phase]),
            "{namespace}/{name} {phase} missing from:\n{}",
            all.stdout
        );
    }

    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let _ = namespaces.delete(&other, &DeleteParams::default()).await;
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_detail_shows_children_conditions_and_events() {
    let cluster = Cluster::new("status-detail").await;
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    let object = create(&cluster.client, &ns, &seed_named("shop")).await;

    // Two children exist (the Secret with the password, and the Service); the rest do not.
    let instance = kubectl_mysql::validate::instance(&object, &ns).expect("a valid instance");
    let children = kubectl_mysql::resources::children(&instance);
    Api::namespaced(cluster.client.clone(), &ns)
        .create(
            &PostParams::default(),
            &children.secret.expect("an inline password has a Secret"),
        )
        .await
        .expect("Secret created");
    Api::namespaced(cluster.client.clone(), &ns)
        .create(&PostParams::default(), &children.service)
        .await
        .expect("Service created");

    Api::<MySQL>::namespaced(cluster.client.clone(), &ns)
        .patch_status(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "phase": "Provisioning",
                "message": "creating the children of shop",
                "observedGeneration": 1,
                "conditions": [{
                    "type": "Ready", "status": "False", "reason": "DeploymentUnavailable",
                    "message": "the server is not ready yet",
                    "lastTransitionTime": "2024-01-01T00:00:00Z", "observedGeneration": 1,
                }],
            }})),
        )
        .await
        .expect("status patched");

    let events: Api<Event> = Api::namespaced(cluster.client.clone(), &ns);
    let event: Event = serde_json::from_value(json!({
        "metadata": {"name": "shop.provisioning", "namespace": ns},
        "involvedObject": {"apiVersion": "otus.homework/v1", "kind": "MySQL", "name": "shop",
                           "namespace": ns, "uid": object.metadata.uid},
        "reason": "Provisioning", "message": "applied the Service of shop", "type": "Normal",
        "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:00:00Z",
        "count": 1, "source": {"component": "kubectl-mysql"},
    }))
    .expect("event");
    events
        .create(&PostParams::default(), &event)
        .await
        .expect("event created");

    let shown = status(&cluster.kubeconfig, &["-n", &ns, "status", "shop"]);
    assert_eq!(shown.code, Some(0), "{}", shown.stderr);
    let out = &shown.stdout;
    for expected in [
        "Name:               shop",
        &format!("Namespace:          {ns}"),
        "Phase:              Provisioning",
        "Message:            creating the children of shop",
        "Image:              mysql:latest",
        "Database:           otus-database",
        "Storage:            1Gi, hostPath volume",
        "Generation:         1, observed 1",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
    let cells = |name: &str, kind: &str| -> Vec<String> {
        out.lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|c| c.len() > 2 && c[0] == kind && c[1] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in:\n{out}"))
    };
    assert_eq!(cells("shop-credentials", "Secret")[2], "present");
    assert!(
        cells("shop", "Service")[2].starts_with("ClusterIP"),
        "{out}"
    );
    assert_eq!(cells("shop", "Deployment")[2], "missing");
    assert_eq!(cells("shop-pvc", "PersistentVolumeClaim")[2], "missing");
    assert_eq!(
        cells(&format!("{ns}.shop-pv"), "PersistentVolume")[2],
        "missing"
    );
    assert_eq!(
        cells("backup-shop-pvc", "PersistentVolumeClaim")[2],
        "missing"
    );

    let conditions = out
        .split("Conditions:")
        .nth(1)
        .expect("a Conditions section");
    let ready = row(conditions, "DeploymentUnavailable");
    assert_eq!(ready[..3], ["Ready", "False", "DeploymentUnavailable"]);
    assert!(conditions.contains("the server is not ready yet"), "{out}");
    let events = out.split("Events:").nth(1).expect("an Events section");
    let provisioning = row(events, "Provisioning");
    assert_eq!(provisioning[..2], ["Normal", "Provisioning"]);
    assert!(events.contains("applied the Service of shop"), "{out}");
    assert!(!out.contains("Errors:"), "{out}");
    assert!(!out.contains(SEED_PASSWORD), "the password leaked:\n{out}");
    assert!(!shown.stderr.contains(SEED_PASSWORD));
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_a_missing_instance_is_one_line_and_a_hint() {
    let cluster = Cluster::new("status-missing").await;
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    let run = status(&cluster.kubeconfig, &["-n", &ns, "status", "nope"]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!(r#"error: MySQL "nope" not found in namespace "{ns}""#),
            format!(
                "hint: `kubectl mysql status -n {ns}` lists the instances in that namespace (-A: in every namespace)"
            ),
        ]
    );
    cluster.cleanup().await;
}

/// A kubeconfig for a port on 127.0.0.1 that nothing listens on.
fn closed_port_kubeconfig(dir: &Path) -> std::path::PathBuf {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: gone\n    namespace: default\ncurrent-context: gone\nusers:\n- name: gone\n  user: {{}}\n"
    );
    crate::cli::temp_file(dir, "kubeconfig", &text)
}

#[test]
fn status_against_an_unreachable_server_fails_fast_and_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = closed_port_kubeconfig(dir.path());
    for args in [
        &["status", "--timeout", "3s"][..],
        &["status", "shop", "--timeout", "3s"][..],
        &["status", "-A", "--timeout", "3s"][..],
    ] {
        let started = Instant::now();
        let run = status(&kubeconfig, args);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(6), "{args:?} took {took:?}");
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stdout);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {}", run.stderr);
        assert!(
            lines[0]
                .starts_with("error: cannot reach the Kubernetes API server at http://127.0.0.1:"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(lines[1].starts_with("hint: "), "{}", run.stderr);
    }
}

#[test]
fn status_against_a_server_that_never_answers_stops_at_the_timeout() {
    // Accepts connections and never answers: only the timeout ends the wait.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: mute\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: mute\n  context:\n    cluster: mute\n    user: mute\ncurrent-context: mute\nusers:\n- name: mute\n  user: {{}}\n"
    );
    let kubeconfig = crate::cli::temp_file(dir.path(), "kubeconfig", &text);
    for args in [
        &["status", "--timeout", "1s"][..],
        &["status", "shop", "--timeout", "1s"][..],
    ] {
        let started = Instant::now();
        let run = status(&kubeconfig, args);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(5),
            "{args:?} took {took:?}"
        );
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stdout);
        assert_eq!(
            run.stderr.lines().next(),
            Some(
                format!(
                    "error: the Kubernetes API server at http://127.0.0.1:{port} did not answer within 1s"
                )
                .as_str()
            ),
            "{args:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_without_the_crd_says_to_install_it() {
    if crate::cluster::real_cluster().is_some() {
        return; // the real cluster may well have the CRD
    }
    let cluster = Cluster::new("status-nocrd").await;
    for args in [&["status"][..], &["status", "shop"][..]] {
        let run = status(&cluster.kubeconfig, args);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stdout);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(
            lines,
            [
                "error: the server doesn't have a resource type \"mysqls\": the MySQL CRD is not installed",
                "hint: install it with `kubectl mysql crd | kubectl apply -f -`",
            ],
            "{args:?}"
        );
    }
    cluster.cleanup().await;
}
