//! `kubectl-mysql status` run as a process against the test API server (or the cluster
//! named by `MYSQL_E2E_KUBECONFIG`). Names start with `status_` so `cargo test status`
//! selects them. The binary blocks a worker thread while the in-process server answers on
//! the other: these tests need the multi-threaded runtime.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, PersistentVolume, PersistentVolumeClaim,
};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use kubectl_mysql::crd::MySQL;
use serde_json::{Value, json};

use crate::cli::Run;
use crate::cluster::{Cluster, install_crd, seed_cr};

/// The seed's password: it must never be printed.
const SEED_PASSWORD: &str = "0tusP@ssword";

/// Run the binary against the cluster of `kubeconfig`, with `args` after `--kubeconfig`.
fn status(kubeconfig: &Path, args: &[&str]) -> Run {
    Command::new(env!("CARGO_BIN_EXE_kubectl-mysql"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("HOME")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
        .into()
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

/// What the server of an instance runs, by digest (`status.image`).
const RUNNING_IMAGE: &str = "docker.io/library/mysql@sha256:9f1c0a6e1b2d3c4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f";

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
                "image": RUNNING_IMAGE,
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
        &format!("Running image:      {RUNNING_IMAGE}"),
        "Database:           otus-database",
        "Storage:            1Gi, hostPath volume",
        "Generation:         1, observed 1",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
    let view = View::parse(out);
    let state = |section: &str, kind: &str, name: &str| -> String {
        view.table(section)
            .iter()
            .find(|r| r["KIND"] == kind && r["NAME"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in:\n{out}"))["STATE"]
            .clone()
    };
    assert_eq!(state("Children", "Secret", "shop-credentials"), "present");
    assert!(
        state("Children", "Service", "shop").starts_with("ClusterIP"),
        "{out}"
    );
    assert_eq!(state("Children", "Deployment", "shop"), "missing");
    for (kind, name) in [
        ("PersistentVolumeClaim", "shop-pvc".to_string()),
        ("PersistentVolume", format!("{ns}.shop-pv")),
        ("PersistentVolumeClaim", "backup-shop-pvc".to_string()),
        ("PersistentVolume", format!("{ns}.backup-shop-pv")),
    ] {
        assert_eq!(state("Volumes", kind, &name), "missing", "{out}");
    }
    assert_eq!(view.table("Jobs").len(), 0, "no Job exists:\n{out}");

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
                "hint: install it with `kubectl mysql install | kubectl apply -f -`",
            ],
            "{args:?}"
        );
    }
    cluster.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// The detail view as data, and `-o json|yaml|wide`.

/// The detail view read back: its fields, its tables (section -> rows of column -> cell)
/// and its Errors lines.
struct View {
    fields: Vec<(String, String)>,
    tables: BTreeMap<String, Vec<BTreeMap<String, String>>>,
    errors: Vec<String>,
}

impl View {
    fn parse(text: &str) -> Self {
        let mut lines = text.lines().peekable();
        let mut fields = Vec::new();
        for line in lines.by_ref() {
            if line.is_empty() {
                break;
            }
            let (label, value) = line.split_at(20);
            let label = label.trim().strip_suffix(':').expect("a field label");
            fields.push((label.to_string(), value.to_string()));
        }
        let (mut tables, mut errors) = (BTreeMap::new(), Vec::new());
        while let Some(heading) = lines.next() {
            if heading.is_empty() {
                continue;
            }
            let section = heading.strip_suffix(':').expect("a section heading");
            let mut body = Vec::new();
            while let Some(line) = lines.next_if(|l| l.starts_with("  ")) {
                body.push(&line[2..]);
            }
            if section == "Errors" {
                errors = body.iter().map(|l| l.to_string()).collect();
                continue;
            }
            let rows = match body.split_first() {
                Some((&"<none>", [])) => Vec::new(),
                Some((header, rows)) => table_rows(header, rows),
                None => panic!("section {section} is empty:\n{text}"),
            };
            tables.insert(section.to_string(), rows);
        }
        Self {
            fields,
            tables,
            errors,
        }
    }

    fn table(&self, section: &str) -> &[BTreeMap<String, String>] {
        self.tables
            .get(section)
            .unwrap_or_else(|| panic!("no section {section}"))
    }
}

/// Rows of a kubectl-style table, cut at the columns where the header's words start
/// (headers may hold one space, as `STORAGE CLASS`; columns are at least three apart).
fn table_rows(header: &str, rows: &[&str]) -> Vec<BTreeMap<String, String>> {
    let chars: Vec<char> = header.chars().collect();
    let starts: Vec<usize> = (0..chars.len())
        .filter(|&i| {
            chars[i] != ' ' && (i == 0 || (i >= 2 && chars[i - 1] == ' ' && chars[i - 2] == ' '))
        })
        .collect();
    let cut = |line: &str, i: usize| -> String {
        let chars: Vec<char> = line.chars().collect();
        let from = starts[i].min(chars.len());
        let to = starts
            .get(i + 1)
            .copied()
            .unwrap_or(chars.len())
            .min(chars.len());
        chars[from..to]
            .iter()
            .collect::<String>()
            .trim()
            .to_string()
    };
    let names: Vec<String> = (0..starts.len()).map(|i| cut(header, i)).collect();
    rows.iter()
        .map(|row| {
            names
                .iter()
                .enumerate()
                .map(|(i, name)| (name.clone(), cut(row, i)))
                .collect()
        })
        .collect()
}

/// A time `minutes` ago, to the second, as the API server writes times.
fn minutes_ago(minutes: i64) -> String {
    Timestamp::from_second(Timestamp::now().as_second() - minutes * 60)
        .expect("a time")
        .to_string()
}

/// Whether `cell` is the age kubectl prints for `timestamp` (a few seconds of slack, for
/// the time between writing the scene and rendering it).
fn is_age_of(cell: &str, timestamp: &str) -> bool {
    let then: Timestamp = timestamp.parse().expect("an RFC 3339 time");
    let seconds = Timestamp::now().as_second() - then.as_second();
    let ages: Vec<String> = (seconds - 5..=seconds)
        .map(|s| match s {
            s if s < 120 => format!("{}s", s.max(0)),
            s if (600..3 * 3600).contains(&s) => format!("{}m", s / 60),
            s => panic!("the scene's times are under 2 minutes or 10 to 180 minutes old: {s}s"),
        })
        .collect();
    ages.iter()
        .any(|a| cell == a || cell.starts_with(&format!("{a} ")))
}

/// Whether a table cell shows the JSON `value` of `key`: strings as they are.
fn shows(cell: &str, key: &str, value: &Value) -> bool {
    match value {
        Value::String(s) if !is_time(key) && key != "sha256" => cell == s,
        _ => appears(cell, key, value),
    }
}

fn is_time(key: &str) -> bool {
    key.ends_with("Timestamp") || key.ends_with("Time") || key == "created"
}

/// Whether a field's text shows the JSON `value` of `key` (within a sentence).
fn appears(cell: &str, key: &str, value: &Value) -> bool {
    match (key, value) {
        (_, Value::Null) => {
            cell.contains("<none>")
                || (key == "storageClass" && cell.contains("no storage class"))
                || (key == "observedGeneration" && cell.contains("not observed"))
        }
        ("size", Value::Number(n)) => cell == format!("{n} B"),
        ("verified", Value::Bool(b)) => cell == if *b { "yes" } else { "no" },
        ("sha256", Value::String(s)) => cell.len() >= 12 && s.starts_with(cell),
        (key, Value::String(t)) if is_time(key) => is_age_of(cell, t),
        (_, Value::String(s)) => cell.to_lowercase().contains(&s.to_lowercase()),
        (_, Value::Number(n)) => cell
            .split(|c: char| !c.is_ascii_digit())
            .any(|w| w == n.to_string()),
        (_, other) => panic!("{key}: a {other} is not shown as text"),
    }
}

/// Every value of the text view `text` is in the JSON `report`: each field and each
/// column maps to a JSON field (a field without one fails), and shows its value.
fn assert_text_is_in_json(text: &str, report: &Value) {
    let view = View::parse(text);
    let fields: &[(&str, &[&str])] = &[
        ("Name", &["name"]),
        ("Namespace", &["namespace"]),
        ("Phase", &["phase"]),
        ("Message", &["message"]),
        ("Image", &["image"]),
        ("Running image", &["runningImage"]),
        ("Database", &["database"]),
        ("Storage", &["storageSize", "storageClass"]),
        (
            "Password",
            &["password/source", "password/secret", "password/key"],
        ),
        ("Backup retention", &["backupRetention"]),
        ("Last backup", &["lastBackup"]),
        ("Last restore", &["lastRestore"]),
        ("Generation", &["generation", "observedGeneration"]),
        ("Age", &["creationTimestamp"]),
        ("Deleting", &["deletionTimestamp"]),
    ];
    for (label, value) in &view.fields {
        let (_, keys) = fields
            .iter()
            .find(|(l, _)| l == label)
            .unwrap_or_else(|| panic!("the field {label:?} has no counterpart in the JSON"));
        for key in *keys {
            let json = report["instance"]
                .pointer(&format!("/{key}"))
                .unwrap_or_else(|| panic!("instance.{key} is missing from the JSON"));
            assert!(
                appears(value, key.rsplit('/').next().unwrap_or(key), json),
                "{label}: {value:?} does not show instance.{key} = {json}"
            );
        }
    }
    /// Section, the JSON array it shows, and each column's field in its items.
    type Columns<'a> = &'a [(&'a str, &'a str)];
    let tables: &[(&str, &str, Columns)] = &[
        (
            "Children",
            "children",
            &[("KIND", "kind"), ("NAME", "name"), ("STATE", "state")],
        ),
        (
            "Volumes",
            "volumes",
            &[
                ("KIND", "kind"),
                ("NAME", "name"),
                ("PURPOSE", "purpose"),
                ("STATE", "state"),
            ],
        ),
        (
            "Backups",
            "backups",
            &[
                ("NAME", "name"),
                ("SIZE", "size"),
                ("AGE", "created"),
                ("VERIFIED", "verified"),
                ("SHA256", "sha256"),
                ("DATABASE", "database"),
            ],
        ),
        (
            "Jobs",
            "jobs",
            &[
                ("NAME", "name"),
                ("PURPOSE", "purpose"),
                ("STATE", "state"),
                ("REASON", "reason"),
                ("AGE", "startTime"),
                ("COMPLETED", "completionTime"),
                ("MESSAGE", "message"),
            ],
        ),
        (
            "Conditions",
            "conditions",
            &[
                ("TYPE", "type"),
                ("STATUS", "status"),
                ("REASON", "reason"),
                ("AGE", "lastTransitionTime"),
                ("MESSAGE", "message"),
            ],
        ),
        (
            "Events",
            "events",
            &[
                ("TYPE", "type"),
                ("REASON", "reason"),
                ("AGE", "lastTimestamp"),
                ("FROM", "source"),
                ("MESSAGE", "message"),
            ],
        ),
    ];
    for (section, rows) in &view.tables {
        let (_, key, columns) = tables
            .iter()
            .find(|(s, _, _)| s == section)
            .unwrap_or_else(|| panic!("the section {section:?} has no counterpart in the JSON"));
        let items = report[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} is missing from the JSON"));
        assert_eq!(
            rows.len(),
            items.len(),
            "rows of {section} and items of {key}"
        );
        for (row, item) in rows.iter().zip(items) {
            for (column, cell) in row {
                let (_, field) = columns
                    .iter()
                    .find(|(c, _)| c == column)
                    .unwrap_or_else(|| panic!("{section}: column {column} has no JSON field"));
                assert!(
                    shows(cell, field, &item[field]),
                    "{section}/{column}: {cell:?} does not show {key}[].{field} = {}",
                    item[field]
                );
            }
            if *section == "Events" && item["count"].as_i64() > Some(1) {
                let first = item["firstTimestamp"].as_str().expect("firstTimestamp");
                let over = row["AGE"].split(" over ").nth(1).unwrap_or_default();
                assert!(
                    row["AGE"].contains(&format!("(x{} over ", item["count"]))
                        && is_age_of(over.trim_end_matches(')'), first),
                    "{row:?} does not show {item}"
                );
            }
        }
    }
    let errors: Vec<String> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e["about"].as_str().unwrap_or_default(),
                e["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(view.errors, errors);
}

/// An instance with everything the detail view shows: children (some missing), volumes,
/// a catalogue entry, a failed backup Job, conditions and a repeated event.
async fn full_scene(cluster: &Cluster, name: &str) {
    let client = &cluster.client;
    let ns = cluster.namespace.as_str();
    let object = create(client, ns, &seed_named(name)).await;
    let instance = kubectl_mysql::validate::instance(&object, ns).expect("a valid instance");
    let children = kubectl_mysql::resources::children(&instance);
    let pp = PostParams::default();
    let secret = children.secret.expect("an inline password has a Secret");
    Api::namespaced(client.clone(), ns)
        .create(&pp, &secret)
        .await
        .expect("Secret");
    Api::namespaced(client.clone(), ns)
        .create(&pp, &children.service)
        .await
        .expect("Service");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    deployments
        .create(&pp, &children.deployment)
        .await
        .expect("Deployment");
    deployments
        .patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": {
            "replicas": 1, "readyReplicas": 1,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
        }})))
        .await
        .expect("Deployment status");
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv = children.data_pv.expect("a hostPath volume");
    let pv_name = pv.metadata.name.clone().expect("a name");
    pvs.create(&pp, &pv).await.expect("PersistentVolume");
    pvs.patch_status(
        &pv_name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Bound"}})),
    )
    .await
    .expect("PV status");
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    pvcs.create(&pp, &children.data_pvc)
        .await
        .expect("PersistentVolumeClaim");
    pvcs.patch_status(
        &format!("{name}-pvc"),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Bound", "capacity": {"storage": "1Gi"}}})),
    )
    .await
    .expect("PVC status");

    let backup = "20240101T000000Z.sql.gz";
    let catalogue = json!([{
        "name": backup, "size": 73_428, "sha256": "0123456789abcdef".repeat(4),
        "verified": true, "database": "otus-database", "created": minutes_ago(90),
    }]);
    let map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}-backups")},
        "data": {"catalogue.json": catalogue.to_string()},
    }))
    .expect("a ConfigMap");
    Api::namespaced(client.clone(), ns)
        .create(&pp, &map)
        .await
        .expect("catalogue");

    let job = kubectl_mysql::resources::backup_job(
        &instance,
        kubectl_mysql::resources::BackupSource::Server,
        7,
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    jobs.create(&pp, &job).await.expect("Job");
    jobs.patch_status(
        &format!("backup-{name}-job"),
        &PatchParams::default(),
        &Patch::Merge(
            json!({"status": {"failed": 1, "startTime": minutes_ago(12), "conditions": [{
            "type": "Failed", "status": "True", "reason": "DeadlineExceeded",
            "message": "Job was active longer than specified deadline"}]}}),
        ),
    )
    .await
    .expect("Job status");

    Api::<MySQL>::namespaced(client.clone(), ns)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "phase": "Ready", "message": format!("{name} created with restore-job"),
                "observedGeneration": 1, "lastBackup": backup, "lastRestore": backup,
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "Converged",
                     "message": "the server answers", "lastTransitionTime": minutes_ago(15)},
                    {"type": "Degraded", "status": "True", "reason": "BackupFailed",
                     "message": "the last backup failed", "lastTransitionTime": minutes_ago(11)},
                ],
            }})),
        )
        .await
        .expect("MySQL status");

    let event: Event = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}.backup"), "namespace": ns},
        "involvedObject": {"apiVersion": "otus.homework/v1", "kind": "MySQL", "name": name,
                           "namespace": ns, "uid": object.metadata.uid},
        "reason": "BackupFailed", "message": "backup Job failed: DeadlineExceeded", "type": "Warning",
        "firstTimestamp": minutes_ago(40), "lastTimestamp": minutes_ago(20),
        "count": 3, "source": {"component": "kubectl-mysql"},
    }))
    .expect("event");
    Api::<Event>::namespaced(client.clone(), ns)
        .create(&pp, &event)
        .await
        .expect("event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_holds_everything_the_text_shows() {
    let cluster = Cluster::new("status-json").await;
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    full_scene(&cluster, "shop").await;
    let run = |extra: &[&str]| {
        let mut args = vec!["-n", ns.as_str(), "status", "shop"];
        args.extend(extra);
        let run = status(&cluster.kubeconfig, &args);
        assert_eq!(run.code, Some(0), "{extra:?}: {}", run.stderr);
        assert!(
            !run.stdout.contains(SEED_PASSWORD),
            "the password leaked:\n{}",
            run.stdout
        );
        assert!(
            !run.stdout.contains('\x1b'),
            "colour when not on a terminal"
        );
        run.stdout
    };
    let json: Value = serde_json::from_str(&run(&["-o", "json"])).expect("JSON");
    let yaml: Value = serde_saphyr::from_str(&run(&["-o", "yaml"])).expect("YAML");
    assert_eq!(yaml, json, "-o yaml and -o json hold the same");

    // The scene is all there (so the comparison below covers every section).
    assert_eq!(json["instance"]["phase"], "Ready");
    assert_eq!(json["instance"]["password"]["secret"], "shop-credentials");
    assert_eq!(json["backups"][0]["size"], 73_428);
    assert_eq!(json["jobs"][0]["reason"], "DeadlineExceeded");
    assert_eq!(json["conditions"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["events"][0]["count"], 3);
    assert_eq!(json["children"][2]["state"], "1/1 ready, available");
    assert_eq!(json["volumes"][0]["state"], format!("Bound to shop-pvc"));
    assert_eq!(json["volumes"][1]["state"], "Bound, 1Gi");
    assert_eq!(json["volumes"][3]["exists"], false);
    assert_eq!(json["errors"], json!([]));

    for extra in [&[][..], &["-o", "wide"][..]] {
        let text = run(extra);
        assert_text_is_in_json(&text, &json);
    }
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_list_as_json_yaml_and_wide() {
    let cluster = Cluster::new("status-list-o").await;
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    let kubeconfig = cluster.kubeconfig.clone();

    let empty = status(&kubeconfig, &["-n", &ns, "status", "-o", "json"]);
    assert_eq!(empty.code, Some(0), "{}", empty.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&empty.stdout).ok(),
        Some(json!({"items": []}))
    );
    assert!(empty.stderr.is_empty(), "{}", empty.stderr);

    create(&cluster.client, &ns, &seed_named("beta")).await;
    create(&cluster.client, &ns, &seed_named("alpha")).await;
    Api::<MySQL>::namespaced(cluster.client.clone(), &ns)
        .patch_status(
            "alpha",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
            "phase": "Ready", "message": "alpha created without restore-job",
            "lastBackup": "20240101T000000Z.sql.gz"}})),
        )
        .await
        .expect("status patched");

    let listed = status(&kubeconfig, &["-n", &ns, "status", "-o", "json"]);
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    let json: Value = serde_json::from_str(&listed.stdout).expect("JSON");
    let items = json["items"].as_array().expect("items");
    let names: Vec<&str> = items.iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    let alpha = &items[0];
    for (key, value) in [
        ("namespace", json!(ns)),
        ("phase", json!("Ready")),
        ("database", json!("otus-database")),
        ("storageSize", json!("1Gi")),
        ("image", json!("mysql:latest")),
        ("runningImage", Value::Null),
        ("storageClass", Value::Null),
        ("lastBackup", json!("20240101T000000Z.sql.gz")),
        ("message", json!("alpha created without restore-job")),
    ] {
        assert_eq!(alpha[key], value, "{key} of {alpha}");
    }
    assert!(alpha["creationTimestamp"].is_string(), "{alpha}");
    assert_eq!(items[1]["phase"], "Pending");
    assert!(!listed.stdout.contains(SEED_PASSWORD));

    let yaml = status(&kubeconfig, &["-n", &ns, "status", "-o", "yaml"]);
    assert_eq!(yaml.code, Some(0), "{}", yaml.stderr);
    assert_eq!(
        serde_saphyr::from_str::<Value>(&yaml.stdout).expect("YAML"),
        json
    );

    // Every column of the table and of -o wide shows a field of the JSON.
    for (format, columns) in [
        (
            "table",
            &["NAME", "PHASE", "DATABASE", "STORAGE", "AGE"][..],
        ),
        (
            "wide",
            &[
                "NAME",
                "PHASE",
                "DATABASE",
                "STORAGE",
                "AGE",
                "IMAGE",
                "STORAGE CLASS",
                "LAST BACKUP",
                "MESSAGE",
            ][..],
        ),
    ] {
        let shown = status(&kubeconfig, &["-n", &ns, "status", "-o", format]);
        assert_eq!(shown.code, Some(0), "{}", shown.stderr);
        let lines: Vec<&str> = shown.stdout.lines().collect();
        let rows = table_rows(lines[0], &lines[1..]);
        assert_eq!(rows.len(), 2, "{}", shown.stdout);
        for (row, item) in rows.iter().zip(items) {
            assert_eq!(row.keys().count(), columns.len(), "{}", shown.stdout);
            for column in columns {
                let key = match *column {
                    "STORAGE" => "storageSize",
                    "AGE" => "creationTimestamp",
                    "STORAGE CLASS" => "storageClass",
                    "LAST BACKUP" => "lastBackup",
                    other => &other.to_lowercase(),
                };
                assert!(
                    shows(&row[*column], key, &item[key]),
                    "{column}: {row:?} vs {item}"
                );
            }
        }
    }
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_in_a_missing_namespace_says_so() {
    let cluster = Cluster::new("status-nons").await;
    install_crd(&cluster.client).await;
    for args in [
        &["-n", "no-such-ns", "status"][..],
        &["-n", "no-such-ns", "status", "-o", "json"][..],
        &["-n", "no-such-ns", "status", "shop"][..],
    ] {
        let run = status(&cluster.kubeconfig, args);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stdout);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(
            lines,
            [
                r#"error: namespace "no-such-ns" not found"#,
                "hint: `kubectl get namespaces` lists the namespaces; -n picks one",
            ],
            "{args:?}"
        );
    }
    // Without leave to read Namespaces, a missing one cannot be told from an empty one.
    if let Some(server) = cluster.server() {
        server.forbid("get", "", "namespaces", None);
        let run = status(&cluster.kubeconfig, &["-n", "no-such-ns", "status"]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert_eq!(
            run.stderr.trim(),
            "No MySQL instances found in namespace no-such-ns."
        );
    }
    cluster.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// Latency: a measurement, not a check (ignored; see docs/benchmarks.md).

/// Median, fastest and slowest of some durations.
fn summary(times: &mut [Duration]) -> (Duration, Duration, Duration) {
    times.sort();
    let n = times.len();
    let median = if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2
    };
    (median, times[0], times[n - 1])
}

/// `kubectl mysql status -A` (the binary as a kubectl plugin, and on its own) next to
/// `kubectl get mysqls -A`, for 100 instances in 4 namespaces on the test API server.
/// Runs interleaved after a warm-up (kubectl's discovery cache filled). Run with
/// `cargo test --release --test e2e -- --ignored status_latency --nocapture`;
/// `STATUS_LATENCY_RUNS` sets the runs per command (default 15).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand, see docs/benchmarks.md"]
async fn status_latency_against_kubectl_get() {
    if crate::cluster::real_cluster().is_some() {
        return; // the numbers are for the test API server
    }
    const INSTANCES: usize = 100;
    const NAMESPACES: usize = 4;
    let runs: usize = std::env::var("STATUS_LATENCY_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(15);
    let cluster = Cluster::new("status-latency").await;
    install_crd(&cluster.client).await;
    let namespaces: Vec<String> = (0..NAMESPACES)
        .map(|i| format!("{}-{i}", cluster.namespace))
        .collect();
    for ns in &namespaces {
        create_namespace(&cluster.client, ns).await;
    }
    for i in 0..INSTANCES {
        let ns = &namespaces[i % NAMESPACES];
        let name = format!("db-{i:03}");
        create(&cluster.client, ns, &seed_named(&name)).await;
        Api::<MySQL>::namespaced(cluster.client.clone(), ns)
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {
                    "phase": if i % 10 == 0 { "Provisioning" } else { "Ready" },
                    "message": format!("{name} created without restore-job"),
                    "observedGeneration": 1,
                    "lastBackup": "20240101T000000Z.sql.gz",
                    "conditions": [{"type": "Ready", "status": "True", "reason": "Converged",
                                    "message": "the server answers",
                                    "lastTransitionTime": "2024-01-01T00:00:00Z"}],
                }})),
            )
            .await
            .expect("status patched");
    }

    // kubectl finds the plugin on PATH as `kubectl-mysql`.
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_kubectl-mysql"),
        bin.join("kubectl-mysql"),
    )
    .expect("plugin linked");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = dir.path().join("home");
    std::fs::create_dir(&home).expect("home");
    let kubeconfig = cluster.kubeconfig.clone();
    let commands: [(&str, &str, Vec<&str>); 3] = [
        (
            "kubectl mysql status -A",
            "kubectl",
            vec!["mysql", "status", "-A"],
        ),
        (
            "kubectl get mysqls -A",
            "kubectl",
            vec!["get", "mysqls", "-A"],
        ),
        (
            "kubectl-mysql status -A (no kubectl)",
            "kubectl-mysql",
            vec!["status", "-A"],
        ),
    ];
    let times = tokio::task::spawn_blocking(move || {
        let time = |program: &str, args: &[&str]| -> Duration {
            let started = Instant::now();
            let output = Command::new(program)
                .args(args)
                .env("PATH", &path)
                .env("HOME", &home)
                .env("KUBECONFIG", &kubeconfig)
                .stdin(Stdio::null())
                .output()
                .expect("the command runs");
            let took = started.elapsed();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{program} {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert_eq!(
                stdout.lines().count(),
                INSTANCES + 1,
                "{program} {args:?}:\n{stdout}"
            );
            took
        };
        let mut times = vec![Vec::new(); commands.len()];
        for round in 0..runs + 3 {
            for (i, (_, program, args)) in commands.iter().enumerate() {
                let took = time(program, args);
                if round >= 3 {
                    times[i].push(took); // the first three rounds warm caches up
                }
            }
        }
        (commands.map(|(label, _, _)| label), times)
    })
    .await
    .expect("the runs end");

    let (labels, mut times) = times;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{INSTANCES} instances in {NAMESPACES} namespaces, {runs} runs each after 3 warm-up rounds ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let mut medians = Vec::new();
    for (label, times) in labels.iter().zip(times.iter_mut()) {
        let (median, min, max) = summary(times);
        medians.push(median);
        println!(
            "{label:<40} median {:7.1} ms   min {:7.1} ms   max {:7.1} ms",
            ms(median),
            ms(min),
            ms(max)
        );
    }
    println!(
        "ratio of medians, kubectl mysql status -A / kubectl get mysqls -A: {:.2}",
        ms(medians[0]) / ms(medians[1])
    );
    println!(
        "ratio of medians, kubectl-mysql status -A / kubectl get mysqls -A: {:.2}",
        ms(medians[2]) / ms(medians[1])
    );
    for ns in &namespaces {
        let _ = Api::<Namespace>::all(cluster.client.clone())
            .delete(ns, &DeleteParams::default())
            .await;
    }
    cluster.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// Permissions (the test API server refuses what a test forbids, as RBAC would).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_without_permission_is_one_line_and_a_hint() {
    let cluster = Cluster::new("status-forbidden").await;
    let Some(server) = cluster.server() else {
        return; // refusing needs the test API server's hook
    };
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    create(&cluster.client, &ns, &seed_named("shop")).await;
    server.forbid("list", "otus.homework", "mysqls", None);
    server.forbid("get", "otus.homework", "mysqls", Some(&ns));

    // The refusal is the API server's Status, as kube-rs reads it.
    let refused = Api::<MySQL>::namespaced(cluster.client.clone(), &ns)
        .get("shop")
        .await
        .expect_err("refused");
    let kube::Error::Api(refusal) = refused else {
        panic!("not an API error: {refused}")
    };
    assert_eq!((refusal.code, refusal.reason.as_str()), (403, "Forbidden"));
    let details = refusal.details.expect("details");
    assert_eq!(
        (
            details.group.as_str(),
            details.kind.as_str(),
            details.name.as_str()
        ),
        ("otus.homework", "mysqls", "shop")
    );

    let user = "system:anonymous";
    // kubectl takes it for a real refusal.
    let (_, stderr) = crate::cluster::text(&cluster.kubectl(&["get", "mysqls", "-n", &ns], None));
    assert_eq!(
        stderr.trim(),
        format!(
            r#"Error from server (Forbidden): mysqls.otus.homework is forbidden: User "{user}" cannot list resource "mysqls" in API group "otus.homework" in the namespace "{ns}""#
        )
    );
    for (args, lines) in [
        (
            vec!["-n", ns.as_str(), "status"],
            [
                format!(
                    r#"error: mysqls.otus.homework is forbidden: User "{user}" cannot list resource "mysqls" in API group "otus.homework" in the namespace "{ns}""#
                ),
                format!(
                    r#"hint: ask your cluster admin for "list" on mysqls.otus.homework; `kubectl auth can-i list mysqls.otus.homework -n {ns}` checks"#
                ),
            ],
        ),
        (
            vec!["status", "-A", "-o", "json"],
            [
                format!(
                    r#"error: mysqls.otus.homework is forbidden: User "{user}" cannot list resource "mysqls" in API group "otus.homework" at the cluster scope"#
                ),
                r#"hint: ask your cluster admin for "list" on mysqls.otus.homework; `kubectl auth can-i list mysqls.otus.homework -A` checks"#.to_string(),
            ],
        ),
        (
            vec!["-n", ns.as_str(), "status", "shop"],
            [
                format!(
                    r#"error: mysqls.otus.homework "shop" is forbidden: User "{user}" cannot get resource "mysqls" in API group "otus.homework" in the namespace "{ns}""#
                ),
                format!(
                    r#"hint: ask your cluster admin for "get" on mysqls.otus.homework; `kubectl auth can-i get mysqls.otus.homework -n {ns}` checks"#
                ),
            ],
        ),
    ] {
        let run = status(&cluster.kubeconfig, &args);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stdout);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert_eq!(run.stderr.lines().collect::<Vec<_>>(), lines, "{args:?}");
    }
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_what_it_read_and_lists_what_it_could_not() {
    let cluster = Cluster::new("status-partial").await;
    let Some(server) = cluster.server() else {
        return; // refusing needs the test API server's hook
    };
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    full_scene(&cluster, "shop").await;
    server.forbid("get", "batch", "jobs", Some(&ns));
    server.forbid("list", "", "events", Some(&ns));

    let text = status(&cluster.kubeconfig, &["-n", &ns, "status", "shop"]);
    let json = status(
        &cluster.kubeconfig,
        &["-n", &ns, "status", "shop", "-o", "json"],
    );
    for run in [&text, &json] {
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert_eq!(
            run.stderr.lines().collect::<Vec<_>>(),
            [
                r#"error: the status of MySQL "shop" is incomplete: 3 of its reads failed (listed under Errors)"#.to_string(),
                format!(
                    "hint: `kubectl auth can-i --list -n {ns}` shows what you may read; the rest of the view is complete"
                ),
            ]
        );
    }
    let report: Value = serde_json::from_str(&json.stdout).expect("JSON despite the errors");
    assert_text_is_in_json(&text.stdout, &report);

    // Everything readable is there; what was refused is listed, in the API server's words.
    let view = View::parse(&text.stdout);
    assert_eq!(view.table("Backups").len(), 1, "{}", text.stdout);
    assert_eq!(view.table("Conditions").len(), 2, "{}", text.stdout);
    assert_eq!(view.table("Events").len(), 0, "{}", text.stdout);
    let jobs = view.table("Jobs");
    assert_eq!(jobs.len(), 2, "{}", text.stdout);
    assert!(
        jobs.iter().all(|j| j["STATE"] == "unknown (see Errors)"),
        "{jobs:?}"
    );
    let user = "system:anonymous";
    assert_eq!(
        view.errors,
        [
            format!(
                r#"Job backup-shop-job: jobs.batch "backup-shop-job" is forbidden: User "{user}" cannot get resource "jobs" in API group "batch" in the namespace "{ns}""#
            ),
            format!(
                r#"Job restore-shop-job: jobs.batch "restore-shop-job" is forbidden: User "{user}" cannot get resource "jobs" in API group "batch" in the namespace "{ns}""#
            ),
            format!(
                r#"Events: events is forbidden: User "{user}" cannot list resource "events" in API group "" in the namespace "{ns}""#
            ),
        ]
    );
    assert!(
        report["errors"]
            .as_array()
            .is_some_and(|e| e.iter().all(|e| e["reason"] == "Forbidden")),
        "{}",
        report["errors"]
    );
    cluster.cleanup().await;
}
