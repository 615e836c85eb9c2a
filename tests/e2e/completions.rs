//! `kubectl mysql <TAB>` through the real kubectl: a PATH holding `kubectl-mysql` and the
//! `kubectl_complete-mysql` shim from `completions/`, kubectl's hidden `__complete` asking
//! the plugin, the test API server (or `MYSQL_E2E_KUBECONFIG`) answering the names. Names
//! start with `completions_` so `cargo test completions` selects them. kubectl and the
//! binary block a worker thread while the in-process server answers on the other: these
//! tests need the multi-threaded runtime.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::config::Kubeconfig;
use kube::{Api, Client};
use kubectl_mysql::backup::BackupEntry;
use kubectl_mysql::cli::complete;
use kubectl_mysql::crd::MySQL;
use kubectl_mysql::reconcile::catalogue::CATALOGUE_KEY;
use kubectl_mysql::resources::Names;

use crate::cli::{Run, repo};
use crate::cluster::{Cluster, install_crd, seed_cr};

/// A PATH entry holding the plugin and its completion shim, as a user installs them.
struct Plugin {
    dir: tempfile::TempDir,
}

impl Plugin {
    fn install() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let shim = repo().join("completions/kubectl_complete-mysql");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&shim)
                .expect("the shim exists")
                .permissions(),
        );
        assert!(mode & 0o111 != 0, "{} is not executable", shim.display());
        std::os::unix::fs::symlink(&shim, dir.path().join("kubectl_complete-mysql"))
            .expect("shim linked");
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_kubectl-mysql"),
            dir.path().join("kubectl-mysql"),
        )
        .expect("plugin linked");
        Self { dir }
    }

    /// `kubectl __complete mysql WORDS...` with `kubeconfig` as $KUBECONFIG.
    fn complete(&self, kubeconfig: &Path, words: &[&str]) -> Run {
        let path = std::env::join_paths(std::iter::once(self.dir.path().to_path_buf()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .expect("PATH");
        Command::new("kubectl")
            .args(["__complete", "mysql"])
            .args(words)
            .env("PATH", path)
            .env("KUBECONFIG", kubeconfig)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs")
            .into()
    }
}

/// The candidates of an answer (the words before any TAB), after checking it ends with
/// the `:4` directive line.
fn candidates(run: &Run) -> Vec<String> {
    assert_eq!(
        run.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines.pop(),
        Some(complete::NO_FILE_COMPLETION),
        "no :4 line at the end of:\n{}",
        run.stdout
    );
    lines
        .into_iter()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

/// What kubectl itself writes on stderr for `__complete` (its debug lines and the
/// directive it read); anything else came from the plugin.
fn plugin_stderr(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.starts_with("[Debug]") && !l.starts_with("Completion ended with directive"))
        .collect()
}

/// The cluster's kubeconfig with the test namespace as its context's namespace, so a
/// completion without `-n` looks there.
fn kubeconfig_in_namespace(cluster: &Cluster, dir: &Path) -> PathBuf {
    let mut config = Kubeconfig::read_from(&cluster.kubeconfig).expect("kubeconfig");
    for named in &mut config.contexts {
        if let Some(context) = named.context.as_mut() {
            context.namespace = Some(cluster.namespace.clone());
        }
    }
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        serde_json::to_string(&config).expect("kubeconfig JSON"),
    )
    .expect("kubeconfig written");
    path
}

async fn create_instance(client: &Client, namespace: &str, name: &str) {
    let mut cr = seed_cr();
    cr.metadata.name = Some(name.to_string());
    Api::<MySQL>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &cr)
        .await
        .expect("MySQL created");
}

/// A kubeconfig naming a server at `port` on this machine.
fn kubeconfig_for_port(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join(format!("kubeconfig-{port}"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: default\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n"
        ),
    )
    .expect("kubeconfig written");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_kubectl_lists_the_subcommands_and_ends_with_no_file_completion() {
    let plugin = Plugin::install();
    // No cluster is needed for the command tree.
    let missing = plugin.dir.path().join("no-such-kubeconfig");
    let run = plugin.complete(&missing, &[""]);
    let expected: Vec<String> = complete::tree()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    assert_eq!(candidates(&run), expected);
    for command in [
        "create",
        "delete",
        "backup",
        "restore",
        "status",
        "run-operator",
        "completions",
        "help",
    ] {
        assert!(
            expected.iter().any(|e| e == command),
            "{command} missing: {expected:?}"
        );
    }
    assert!(
        !run.stdout.contains("__complete") && !run.stdout.contains("crd"),
        "{}",
        run.stdout
    );
    // Each with what it does, after a TAB.
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("backup\tBack up an instance now")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with("\n:4\n"), "{:?}", run.stdout);
    assert!(plugin_stderr(&run.stderr).is_empty(), "{}", run.stderr);

    assert_eq!(candidates(&plugin.complete(&missing, &["re"])), ["restore"]);
    assert_eq!(
        candidates(&plugin.complete(&missing, &["completions", ""])),
        ["bash", "zsh", "fish"]
    );
    eprintln!("kubectl __complete mysql '':\n{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_kubectl_completes_flags_and_their_values() {
    let plugin = Plugin::install();
    let missing = plugin.dir.path().join("no-such-kubeconfig");

    let flags = candidates(&plugin.complete(&missing, &["status", "--"]));
    for flag in [
        "--namespace",
        "--context",
        "--kubeconfig",
        "--all-namespaces",
        "--timeout",
        "--help",
    ] {
        assert!(flags.iter().any(|f| f == flag), "{flag} missing: {flags:?}");
    }
    assert!(flags.iter().all(|f| f.starts_with("--")), "{flags:?}");

    // `status --o`: whatever of status's flags start with it, as the tree says.
    let tree = complete::tree();
    let status = tree.find_subcommand("status").expect("status");
    let expected: Vec<String> = status
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .filter(|l| l.starts_with('o'))
        .map(|l| format!("--{l}"))
        .collect();
    assert_eq!(
        candidates(&plugin.complete(&missing, &["status", "--o"])),
        expected
    );

    assert_eq!(
        candidates(&plugin.complete(&missing, &["backup", "x", "--w"])),
        ["--wait"]
    );
    assert_eq!(
        candidates(&plugin.complete(&missing, &["create", "db", "-o", ""])),
        ["yaml", "json", "name"]
    );
    assert_eq!(
        candidates(&plugin.complete(&missing, &["create", "db", "--output=j"])),
        ["--output=json"]
    );
    // A leading flag reaches the plugin raw, not parsed by clap.
    let root = candidates(&plugin.complete(&missing, &["--"]));
    assert!(root.iter().any(|f| f == "--namespace"), "{root:?}");
    assert!(root.iter().all(|f| f.starts_with("--")), "{root:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_kubectl_completes_instance_names_from_the_cluster() {
    let cluster = Cluster::new("completions-names").await;
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    create_instance(&cluster.client, &ns, "mysql-instance").await;
    create_instance(&cluster.client, &ns, "shop-db").await;
    let plugin = Plugin::install();
    let kubeconfig = kubeconfig_in_namespace(&cluster, plugin.dir.path());

    let run = plugin.complete(&kubeconfig, &["backup", ""]);
    assert_eq!(candidates(&run), ["mysql-instance", "shop-db"]);
    assert!(plugin_stderr(&run.stderr).is_empty(), "{}", run.stderr);
    eprintln!("kubectl __complete mysql backup '':\n{}", run.stdout);
    assert_eq!(
        candidates(&plugin.complete(&kubeconfig, &["delete", "sh"])),
        ["shop-db"]
    );
    // create makes a new name: nothing to offer.
    assert!(candidates(&plugin.complete(&kubeconfig, &["create", ""])).is_empty());

    // The namespace from the words, in every spelling, over the kubeconfig's.
    let elsewhere = cluster.kubeconfig.clone();
    for words in [
        vec!["status", "-n", ns.as_str(), ""],
        vec!["backup", "--namespace", ns.as_str(), ""],
        vec!["-n", ns.as_str(), "restore", ""],
    ] {
        let namespace_flag = format!("--namespace={ns}");
        let mut with_equals = words.clone();
        if with_equals[0] != "-n" {
            with_equals.splice(1..3, [namespace_flag.as_str()]);
        }
        for words in [words, with_equals] {
            assert_eq!(
                candidates(&plugin.complete(&elsewhere, &words)),
                ["mysql-instance", "shop-db"],
                "{words:?}"
            );
        }
    }
    // The kubeconfig's default namespace holds none of them.
    assert!(candidates(&plugin.complete(&elsewhere, &["backup", ""])).is_empty());

    // Namespaces themselves.
    let namespaces = candidates(&plugin.complete(&kubeconfig, &["status", "-n", ""]));
    assert!(namespaces.contains(&ns), "{namespaces:?}");
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_kubectl_completes_backup_names_from_the_catalogue() {
    let cluster = Cluster::new("completions-backups").await;
    install_crd(&cluster.client).await;
    let ns = cluster.namespace.clone();
    create_instance(&cluster.client, &ns, "mysql-instance").await;
    let entries: Vec<BackupEntry> = ["20261123T101500Z", "20261122T101500Z"]
        .iter()
        .enumerate()
        .map(|(i, stamp)| BackupEntry {
            name: format!("{stamp}.sql.gz"),
            size: 1024 * 1024 + i as u64,
            sha256: "0".repeat(64),
            verified: i == 0,
            database: "otus-database".into(),
            created: format!(
                "{}-{}-{}T10:15:00Z",
                &stamp[0..4],
                &stamp[4..6],
                &stamp[6..8]
            ),
            binlog: None,
        })
        .collect();
    let map: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": Names::of(&ns, "mysql-instance").catalogue()},
        "data": BTreeMap::from([(CATALOGUE_KEY, serde_json::to_string(&entries).unwrap())]),
    }))
    .expect("ConfigMap");
    Api::<ConfigMap>::namespaced(cluster.client.clone(), &ns)
        .create(&PostParams::default(), &map)
        .await
        .expect("catalogue written");
    let plugin = Plugin::install();
    let kubeconfig = kubeconfig_in_namespace(&cluster, plugin.dir.path());

    let run = plugin.complete(&kubeconfig, &["restore", "mysql-instance", "--backup", ""]);
    assert_eq!(
        candidates(&run),
        ["20261123T101500Z.sql.gz", "20261122T101500Z.sql.gz"]
    );
    assert!(
        run.stdout
            .contains("20261122T101500Z.sql.gz\t2026-11-22T10:15:00Z, 1.0 MiB, not verified"),
        "{}",
        run.stdout
    );
    assert_eq!(
        candidates(&plugin.complete(
            &kubeconfig,
            &["restore", "mysql-instance", "--backup=20261123"]
        )),
        ["--backup=20261123T101500Z.sql.gz"]
    );
    // An instance without a catalogue has no backups to offer.
    assert!(
        candidates(&plugin.complete(&kubeconfig, &["restore", "other", "--backup", ""])).is_empty()
    );
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_without_a_cluster_answer_only_the_directive_quickly_and_quietly() {
    let plugin = Plugin::install();
    // A closed port: the connection is refused.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let closed = kubeconfig_for_port(plugin.dir.path(), closed);
    // A server that takes the connection and never answers.
    let silent_server = TcpListener::bind("127.0.0.1:0").expect("listener");
    let silent = kubeconfig_for_port(
        plugin.dir.path(),
        silent_server.local_addr().expect("address").port(),
    );
    let missing = plugin.dir.path().join("no-such-kubeconfig");
    let word_lists = [
        &["backup", ""][..],
        &["-n", ""],
        &["restore", "mysql-instance", "--backup", ""],
    ];

    // The binary as the shim runs it: only `:4`, nothing on stderr, and no hang (the
    // bound is the lookup's timeout plus slack for a loaded machine, not a speed target).
    // Each word list against the silent server waits the whole timeout: one is enough.
    let cases = [&closed, &missing]
        .into_iter()
        .flat_map(|k| word_lists.iter().map(move |w| (k, *w)))
        .chain([(&silent, word_lists[0])]);
    for (kubeconfig, words) in cases {
        let started = Instant::now();
        let run = Command::new(env!("CARGO_BIN_EXE_kubectl-mysql"))
            .arg("__complete")
            .args(words)
            .env("KUBECONFIG", kubeconfig)
            .env("HOME", plugin.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("the binary runs");
        let took = started.elapsed();
        let what = format!("{words:?} with {}", kubeconfig.display());
        assert_eq!(String::from_utf8_lossy(&run.stdout), ":4\n", "{what}");
        assert!(
            run.stderr.is_empty(),
            "{what}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(run.status.success(), "{what}");
        assert!(
            took < complete::TIMEOUT + Duration::from_secs(3),
            "{what} took {took:?}"
        );
    }

    // Through kubectl: the same answer, and nothing from the plugin on stderr.
    for kubeconfig in [&closed, &missing] {
        for words in word_lists {
            let started = Instant::now();
            let run = plugin.complete(kubeconfig, words);
            let took = started.elapsed();
            let what = format!("{words:?} with {}", kubeconfig.display());
            assert_eq!(run.stdout, ":4\n", "{what}");
            assert!(
                plugin_stderr(&run.stderr).is_empty(),
                "{what}: {}",
                run.stderr
            );
            assert!(
                took < complete::TIMEOUT + Duration::from_secs(3),
                "{what} took {took:?}"
            );
        }
    }
    // Against a server that never answers, kubectl itself waits some seconds before it
    // asks the plugin: not timed, once.
    let run = plugin.complete(&silent, &["backup", ""]);
    assert_eq!(run.stdout, ":4\n");
    assert!(plugin_stderr(&run.stderr).is_empty(), "{}", run.stderr);
    drop(silent_server);
}

#[test]
fn completions_the_binary_takes_flags_among_the_words_raw() {
    // clap would read `--help` and a value-less `-n` as its own; the shim's words are not
    // for clap.
    for (words, expected) in [
        (&["--help"][..], "--help\t"),
        (&["-n"], "-n\t"),
        (&["--version"], "--version\t"),
    ] {
        let run = crate::cli::kubectl_mysql(&[&["__complete"][..], words].concat(), "");
        assert_eq!(run.code, Some(0), "{words:?}: {}", run.stderr);
        assert!(
            run.stdout.starts_with(expected),
            "{words:?}: {}",
            run.stdout
        );
        assert!(run.stdout.ends_with("\n:4\n"), "{words:?}: {}", run.stdout);
        assert!(run.stderr.is_empty(), "{words:?}: {}", run.stderr);
    }
}
