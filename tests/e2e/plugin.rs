//! Every command through the real kubectl: `kubectl-mysql` on PATH as a plugin (a temp dir
//! put first on PATH), `KUBECONFIG` pointing at a test API server, and `kubectl mysql ...`
//! run as a person runs it. The node stand-in plays the cluster, with a real MariaDB for
//! each instance and the backup and restore Jobs run as local processes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;
use kubectl_mysql::crd::MySQL;
use testkit::node::NodeStandIn;

use crate::cli::{Run, output_with_stdin};
use crate::cluster::{Cluster, install_crd};
use crate::walkthrough::{
    EXPECTED, ROWS, only_backups_remain, port_of, rows_of, seed_password, sql,
};

/// A person's shell: `kubectl-mysql` first on PATH, a kubeconfig of its own, a HOME of its
/// own (kubectl's cache goes there).
pub struct Plugin {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Plugin {
    /// The plugin on PATH. With a cluster, the kubeconfig is a copy of the cluster's whose
    /// context namespace is set (with `kubectl config set-context`, as a person would), so
    /// no command needs `-n`; without one, it names a file that does not exist.
    pub fn new(cluster: Option<&Cluster>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("plugin-path-")
            .tempdir()
            .expect("tempdir");
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_kubectl-mysql"),
            dir.path().join("kubectl-mysql"),
        )
        .expect("kubectl-mysql linked into the PATH dir");
        let kubeconfig = dir.path().join("kubeconfig");
        let plugin = Self { dir, kubeconfig };
        if let Some(cluster) = cluster {
            std::fs::copy(&cluster.kubeconfig, &plugin.kubeconfig).expect("kubeconfig copied");
            plugin.ok(
                &[
                    "config",
                    "set-context",
                    "--current",
                    "--namespace",
                    &cluster.namespace,
                ],
                "",
            );
        }
        plugin
    }

    /// The directory on PATH that holds `kubectl-mysql`.
    pub fn bin_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// PATH with the plugin's directory first.
    pub fn path_env(&self) -> OsString {
        let rest = std::env::var_os("PATH").unwrap_or_default();
        std::env::join_paths(
            std::iter::once(self.bin_dir().to_path_buf()).chain(std::env::split_paths(&rest)),
        )
        .expect("PATH joins")
    }

    /// Run the real `kubectl` with `args` and `stdin`.
    pub fn kubectl(&self, args: &[&str], stdin: &str) -> Run {
        let mut command = Command::new("kubectl");
        command
            .args(args)
            .current_dir(crate::cli::repo())
            .env("PATH", self.path_env())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path());
        let run = Run::from(output_with_stdin(&mut command, stdin));
        let password = seed_password();
        assert!(
            !run.stdout.contains(&password) && !run.stderr.contains(&password),
            "kubectl {args:?} printed the password"
        );
        run
    }

    /// [`Plugin::kubectl`] that must succeed.
    pub fn ok(&self, args: &[&str], stdin: &str) -> Run {
        let run = self.kubectl(args, stdin);
        assert_eq!(
            run.code,
            Some(0),
            "kubectl {args:?}\nstdout: {}\nstderr: {}",
            run.stdout,
            run.stderr
        );
        run
    }
}

/// The lines of a text, trailing blanks trimmed.
fn lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim_end).collect()
}

/// A `--wait` run's last line on stderr: the step it ended with.
fn assert_final_step(run: &Run, expected: &str) {
    assert_eq!(
        lines(&run.stderr).last().copied(),
        Some(expected),
        "{}",
        run.stderr
    );
}

#[test]
fn kubectl_plugin_list_shows_the_plugin_on_path() {
    let plugin = Plugin::new(None);
    let run = plugin.ok(&["plugin", "list"], "");
    let ours = plugin.bin_dir().join("kubectl-mysql").display().to_string();
    assert!(
        lines(&run.stdout).contains(&ours.as_str()),
        "{}",
        run.stdout
    );
    // kubectl warns about a plugin it cannot run or one another plugin overshadows.
    assert!(
        !run.stderr.lines().any(|l| l.contains(&ours)),
        "{}",
        run.stderr
    );
}

#[test]
fn kubectl_mysql_help_and_version() {
    let plugin = Plugin::new(None);
    let version = plugin.ok(&["mysql", "--version"], "");
    assert_eq!(
        version.stdout,
        format!("kubectl-mysql {}\n", env!("CARGO_PKG_VERSION"))
    );
    let help = plugin.ok(&["mysql", "--help"], "");
    assert!(
        help.stdout
            .contains("Usage: kubectl mysql [OPTIONS] <COMMAND>"),
        "{}",
        help.stdout
    );
    for name in visible_commands() {
        assert!(
            help.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} "))),
            "`kubectl mysql --help` does not list {name}:\n{}",
            help.stdout
        );
    }
}

/// The commands a person sees in `kubectl mysql --help` (walked from the CLI's definition,
/// so a new command is covered as soon as it exists).
fn visible_commands() -> Vec<String> {
    let cli = kubectl_mysql::cli::Cli::command();
    let names: Vec<String> = cli
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect();
    for expected in ["create", "status", "backup", "restore", "delete"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    names
}

#[test]
fn every_command_s_help_has_examples_from_real_use() {
    let plugin = Plugin::new(None);
    for name in visible_commands() {
        let help = plugin.ok(&["mysql", &name, "--help"], "").stdout;
        let examples = help
            .split_once("Examples:\n")
            .map(|(_, after)| after)
            .unwrap_or_else(|| panic!("`kubectl mysql {name} --help` has no Examples:\n{help}"));
        let invocation = format!("kubectl mysql {name}");
        assert!(
            examples.lines().any(|l| {
                let l = l.trim_start();
                l == invocation || l.starts_with(&format!("{invocation} "))
            }),
            "no example in `kubectl mysql {name} --help` starts with `{invocation}`:\n{examples}"
        );
    }
}

/// `create NAME ... --password-stdin --wait`, status, backup, restore, delete, and create
/// again (the seed's restore-on-create), each through `kubectl mysql`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_through_kubectl_mysql() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let cluster = Cluster::new("plugin").await;
    install_crd(&cluster.client).await;
    let node = NodeStandIn::start_with_mysql(cluster.client.clone());
    let ns = cluster.namespace.clone();
    let plugin = Plugin::new(Some(&cluster));
    // The seed's password, on stdin only; `Plugin::kubectl` checks it is never printed.
    let password = format!("{}\n", seed_password());
    let create = [
        "mysql",
        "create",
        "mysql-instance",
        "--database",
        "otus-database",
        "--storage-size",
        "1Gi",
        "--password-stdin",
        "--wait",
        "--timeout",
        "60s",
    ];

    let created = plugin.ok(&create, &password);
    assert!(
        created
            .stdout
            .starts_with("mysql.otus.homework/mysql-instance created ("),
        "{}",
        created.stdout
    );
    assert_final_step(
        &created,
        "mysql-instance is Ready: mysql-instance created without restore-job",
    );
    // The server was initialised with the password typed on stdin.
    let port = port_of(&node, &ns).await;
    sql(port, "otus-database", ROWS);

    let table = plugin.ok(&["mysql", "status"], "").stdout;
    let table = lines(&table);
    let header: Vec<&str> = table[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "DATABASE", "STORAGE", "AGE"],
        "{table:?}"
    );
    let row: Vec<&str> = table[1].split_whitespace().collect();
    assert_eq!(
        row[..4],
        ["mysql-instance", "Ready", "otus-database", "1Gi"],
        "{table:?}"
    );
    assert_eq!(table.len(), 2, "{table:?}");

    // backup --wait prints `backup <name> (<size> bytes, sha256 <hex>)`.
    let backup = plugin
        .ok(
            &[
                "mysql",
                "backup",
                "mysql-instance",
                "--wait",
                "--timeout",
                "60s",
            ],
            "",
        )
        .stdout;
    let words: Vec<&str> = backup.split_whitespace().collect();
    assert!(
        words.len() == 6 && words[0] == "backup" && words[4] == "sha256",
        "{backup}"
    );
    let name = words[1].to_string();
    assert!(
        name.ends_with(".sql.gz") && name.len() == "20261123T101500Z.sql.gz".len(),
        "{name}"
    );
    let size: u64 = words[2]
        .trim_start_matches('(')
        .parse()
        .expect("a size in bytes");
    assert!(size > 0, "{backup}");

    // status NAME shows the instance and lists the backup with its size.
    let detail = plugin.ok(&["mysql", "status", "mysql-instance"], "").stdout;
    let detail = lines(&detail);
    assert!(
        detail.contains(&"Name:               mysql-instance")
            && detail.contains(&"Phase:              Ready"),
        "{detail:#?}"
    );
    let listed = detail
        .iter()
        .skip_while(|l| *l != &"Backups:")
        .find(|l| l.trim_start().starts_with(&name))
        .unwrap_or_else(|| panic!("{name} is not under Backups:\n{detail:#?}"));
    assert!(listed.contains("yes"), "not verified: {listed}");

    // restore of that backup by name brings deleted rows back.
    sql(port, "otus-database", "DELETE FROM test");
    let restored = plugin.ok(
        &[
            "mysql",
            "restore",
            "mysql-instance",
            "--backup",
            &name,
            "--wait",
            "--timeout",
            "60s",
        ],
        "",
    );
    assert_eq!(
        restored.stdout,
        format!("restored {name} into database \"otus-database\"\n")
    );
    assert_eq!(rows_of(port), EXPECTED);

    // delete --wait: backed up, the data volume gone, the backups kept.
    let deleted = plugin.ok(
        &[
            "mysql",
            "delete",
            "mysql-instance",
            "--wait",
            "--timeout",
            "60s",
        ],
        "",
    );
    assert_eq!(
        deleted.stdout,
        "mysql.otus.homework/mysql-instance deleted\n"
    );
    assert_final_step(&deleted, "mysql-instance: backed up, data volume removed");
    let gone = plugin.kubectl(&["get", "mysql", "mysql-instance"], "");
    assert_eq!(gone.code, Some(1));
    assert!(gone.stderr.contains("NotFound"), "{}", gone.stderr);
    only_backups_remain(&cluster.client, &ns).await;

    // Created again, the instance gets its rows back: the seed's restore-job.
    let again = plugin.ok(&create, &password);
    assert_final_step(
        &again,
        "mysql-instance is Ready: mysql-instance created with restore-job",
    );
    let port = port_of(&node, &ns).await;
    assert_eq!(rows_of(port), EXPECTED);
    drop(node);
    cluster.cleanup().await;
}

/// No MySQL object and no Secret in the cluster's namespace: refused input left nothing.
async fn nothing_created(cluster: &Cluster) {
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let listed = mysqls.list(&ListParams::default()).await.expect("list");
    assert!(
        listed.items.is_empty(),
        "MySQL objects made: {}",
        listed.items.len()
    );
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let names: Vec<String> = secrets
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(|s| s.metadata.name.clone().unwrap_or_default())
        .collect();
    assert!(names.is_empty(), "Secrets made: {names:?}");
}

/// Bad input through kubectl: one error line and a hint, exit code 1, nothing created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_through_kubectl_is_one_line_and_a_hint() {
    let cluster = Cluster::new("plugin-bad").await;
    install_crd(&cluster.client).await;
    let plugin = Plugin::new(Some(&cluster));

    let bad = plugin.kubectl(
        &[
            "mysql",
            "create",
            "bad_name",
            "--database",
            "otus-database",
            "--storage-size",
            "1Gi",
            "--generate-password",
        ],
        "",
    );
    assert_eq!(bad.code, Some(1), "{}", bad.stderr);
    assert_eq!(bad.stdout, "");
    let said = lines(&bad.stderr);
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(
        said[0].starts_with("error: ") && said[0].contains("bad_name"),
        "{}",
        said[0]
    );
    assert!(said[1].starts_with("hint: "), "{}", said[1]);
    nothing_created(&cluster).await;

    // An instance that does not exist: the same shape, and the hint says where to look.
    let missing = plugin.kubectl(&["mysql", "backup", "no-such-instance", "--wait"], "");
    assert_eq!(missing.code, Some(1), "{}", missing.stderr);
    let said = lines(&missing.stderr);
    assert_eq!(said.len(), 2, "{said:#?}");
    assert_eq!(
        said[0],
        format!(
            "error: MySQL \"no-such-instance\" not found in namespace {:?}",
            cluster.namespace
        )
    );
    assert!(said[1].contains("kubectl mysql status"), "{}", said[1]);
    cluster.cleanup().await;
}

/// A root password with ' " or \ (which the official mysql image's entrypoint cannot
/// take) is refused by the API server's CEL rule through `kubectl apply`, and by the plugin
/// before it calls the API; nothing is created either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsafe_password_is_refused_by_kubectl_and_by_the_plugin() {
    let cluster = Cluster::new("plugin-pw").await;
    install_crd(&cluster.client).await;
    let plugin = Plugin::new(Some(&cluster));
    let seed = std::fs::read_to_string(crate::cli::repo().join("deploy/cr.yaml")).expect("cr");
    let why =
        "spec.password must not contain ' \" or \\: the official mysql image's entrypoint pastes";
    for bad in ["0tus'P@ss", "0tus\\\"P@ss\"", "0tus\\\\P@ss"] {
        let cr = seed.replace("password: 0tusP@ssword", &format!("password: {bad}"));
        assert_ne!(cr, seed);
        let applied = plugin.kubectl(&["apply", "-f", "-"], &cr);
        assert_ne!(applied.code, Some(0), "{}", applied.stdout);
        assert!(applied.stderr.contains(why), "{}", applied.stderr);

        let server = cluster.server().expect("test API server");
        server.clear_requests();
        let created = plugin.kubectl(&["mysql", "create", "-f", "-"], &cr);
        assert_eq!(created.code, Some(1), "{}", created.stderr);
        let said = lines(&created.stderr);
        assert_eq!(said.len(), 2, "{said:#?}");
        assert!(
            said[0].starts_with("error: ") && said[0].contains(why),
            "{}",
            said[0]
        );
        assert!(said[1].starts_with("hint: "), "{}", said[1]);
        let writes: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.is_write())
            .collect();
        assert!(writes.is_empty(), "refused before any write: {writes:?}");
    }

    let stdin = plugin.kubectl(
        &[
            "mysql",
            "create",
            "mysql-instance",
            "--database",
            "otus-database",
            "--storage-size",
            "1Gi",
            "--password-stdin",
        ],
        "it's\n",
    );
    assert_eq!(stdin.code, Some(1), "{}", stdin.stderr);
    let said = lines(&stdin.stderr);
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(
        said[0].contains("--password-stdin got a password with '"),
        "{}",
        said[0]
    );
    assert!(
        !said[0].contains("it's"),
        "the password is never shown: {}",
        said[0]
    );
    assert!(said[1].starts_with("hint: "), "{}", said[1]);

    nothing_created(&cluster).await;
    cluster.cleanup().await;
}

/// `kubectl mysql install | kubectl apply -f -` installs the CRD, the operator's namespace,
/// RBAC and Deployment; applying again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_piped_into_kubectl_apply() {
    let cluster = Cluster::new("plugin-install").await;
    let plugin = Plugin::new(Some(&cluster));
    let manifests = plugin.ok(&["mysql", "install"], "").stdout;

    let applied = plugin.ok(&["apply", "-f", "-"], &manifests);
    let created = lines(&applied.stdout);
    for expected in [
        "customresourcedefinition.apiextensions.k8s.io/mysqls.otus.homework created",
        "namespace/kubectl-mysql-system created",
        "serviceaccount/kubectl-mysql created",
        "deployment.apps/kubectl-mysql created",
    ] {
        assert!(created.contains(&expected), "{created:#?}");
    }
    for kind in ["clusterrole", "clusterrolebinding"] {
        assert!(
            created.iter().any(|l| {
                l.starts_with(&format!("{kind}.rbac.authorization.k8s.io/"))
                    && l.ends_with(" created")
            }),
            "no {kind}: {created:#?}"
        );
    }
    let again = plugin.ok(&["apply", "-f", "-"], &manifests);
    assert!(
        lines(&again.stdout)
            .iter()
            .all(|l| l.ends_with(" unchanged")),
        "{}",
        again.stdout
    );
    assert_eq!(lines(&again.stdout).len(), created.len());

    // The CRD is served: MySQL objects can be listed, and the seed's cr.yaml is accepted.
    let listed = plugin.ok(&["get", "mysqls", "-A"], "");
    assert!(
        listed.stderr.contains("No resources found"),
        "{}",
        listed.stderr
    );
    let cr = plugin.ok(&["apply", "-f", "deploy/cr.yaml"], "");
    assert_eq!(
        cr.stdout, "mysql.otus.homework/mysql-instance created\n",
        "{}",
        cr.stderr
    );
    let deployment = plugin.ok(
        &[
            "get",
            "deployment",
            "kubectl-mysql",
            "-n",
            "kubectl-mysql-system",
            "-o",
            "jsonpath={.spec.template.spec.serviceAccountName}",
        ],
        "",
    );
    assert_eq!(deployment.stdout, "kubectl-mysql");
    cluster.cleanup().await;
}
