//! Faults during a backup: mysqld killed while it dumps, the backup volume full.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod};
use kube::Api;
use kube::api::{ListParams, PostParams};
use kubectl_mysql::crd::{MySQL, Phase};
use testkit::node::NodeStandIn;

use super::{Rig, dump_waits_on_the_lock, hold_write_lock, plugin, row_count, until};
use crate::cli::Run;
use crate::cluster::{Cluster, install_crd, seed_cr, wait_for_phase};
use crate::walkthrough::{EXPECTED, ROWS, port_of, rows_of, sql};

/// The walkthrough's rows deleted, then `restore --wait` brings them back from `backup`
/// (the newest verified one).
async fn rows_deleted_then_restored_from(cluster: &Cluster, port: u16, backup: &str) {
    sql(port, "otus-database", "DELETE FROM test");
    let restored = plugin(
        cluster,
        &["restore", "mysql-instance", "--wait", "--timeout", "240s"],
    )
    .await;
    assert_eq!(
        restored.code,
        Some(0),
        "{}\n{}",
        restored.stdout,
        restored.stderr
    );
    assert!(restored.stdout.contains(backup), "{}", restored.stdout);
}

/// The backup NAME of `backup NAME (N bytes ...)`.
fn backup_name(run: &Run) -> String {
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    run.stdout
        .split_whitespace()
        .nth(1)
        .filter(|n| n.ends_with(".sql.gz"))
        .unwrap_or_else(|| panic!("no backup name in {:?}", run.stdout))
        .to_string()
}

/// Every file on the backup volume (top level) with its bytes.
fn files(volume: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(volume)
        .expect("the backup volume")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).expect("readable"))
        })
        .collect()
}

/// The earlier backups are byte for byte what they were.
fn untouched(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>) {
    for (name, bytes) in before {
        assert!(
            after.get(name) == Some(bytes),
            "{name} changed or went: {:?}",
            after.keys()
        );
    }
}

fn partials(files: &BTreeMap<String, Vec<u8>>) -> Vec<&String> {
    files.keys().filter(|n| n.ends_with(".partial")).collect()
}

fn catalogue_text(map: Option<ConfigMap>) -> String {
    map.and_then(|m| m.data)
        .and_then(|mut d| d.remove("catalogue.json"))
        .unwrap_or_default()
}

/// The on-demand backup Job (the operator names it; the CLI starts it).
async fn backup_job(jobs: &Api<Job>) -> Option<Job> {
    let list = jobs.list(&ListParams::default()).await.ok()?;
    list.items.into_iter().find(|j| {
        j.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(kubectl_mysql::resources::BACKUP_SOURCE))
            .is_some_and(|s| s == "server")
    })
}

fn failed_pods(job: &Job) -> i32 {
    job.status.as_ref().and_then(|s| s.failed).unwrap_or(0)
}

/// mysqld is SIGKILLed while an on-demand backup dumps (deterministically: the dump waits on
/// a locked table). The attempt fails and leaves no partial file; the server is restarted
/// in place; the Job's retry waits for it and makes a verified backup, which enters the
/// catalogue. The earlier backup is untouched, every row is there, and a restore of the
/// newest backup gives them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysqld_killed_during_a_backup_the_retry_backs_up_and_nothing_partial_is_kept() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let rig = Rig::with_rows("fault-dump-kill", seed_cr()).await;
    if rig.cluster.server().is_none() {
        return; // the server is killed through the node stand-in
    }
    let (cluster, node, mysqls, ns) = (&rig.cluster, &rig.node, &rig.mysqls, &rig.ns);
    let port = rig.port().await;
    sql(
        port,
        "otus-database",
        "CREATE TABLE locked (id INT PRIMARY KEY); INSERT INTO locked VALUES (1), (2)",
    );
    let first = backup_name(&plugin(cluster, &["backup", "mysql-instance", "--wait"]).await);
    let volume = node.local_path(&format!(
        "/var/lib/kubectl-mysql/{ns}/mysql-instance/backup"
    ));
    let before = files(&volume);
    let stamp = first.trim_end_matches(".sql.gz");
    assert!(
        before.contains_key(&first) && before.contains_key(&format!("{stamp}.json")),
        "{:?}",
        before.keys()
    );

    let mut holder = hold_write_lock(port, "locked").await;
    let cli = tokio::spawn(plugin(
        cluster,
        &["backup", "mysql-instance", "--wait", "--timeout", "240s"],
    ));
    let asked = Instant::now();
    // The explicit signal: the dump waits on the locked table, its partial file open.
    let partial = until("the dump is under way", || async {
        let dumping = dump_waits_on_the_lock(port);
        let partial = partials(&files(&volume)).first().map(|p| p.to_string());
        partial.filter(|_| dumping)
    })
    .await;
    eprintln!(
        "fault measure: the dump was under way ({partial} open) {:.1} s after `backup --wait`",
        asked.elapsed().as_secs_f64()
    );
    assert!(node.kill_server(ns, "mysql-instance"), "a server to kill");
    let killed = Instant::now();
    holder.wait(); // its connection went with the server

    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    until(
        "the attempt the kill cut short is counted failed",
        || async {
            backup_job(&jobs)
                .await
                .filter(|j| failed_pods(j) >= 1)
                .map(|_| ())
        },
    )
    .await;
    eprintln!(
        "fault measure: the Job counted the failed attempt {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    let run = cli.await.expect("the CLI ran");
    eprintln!(
        "fault measure: the retry's backup was verified {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    let second = backup_name(&run);
    assert!(second > first, "{second} after {first}");
    let job = backup_job(&jobs).await.expect("the backup Job");
    let status = job.status.clone().unwrap_or_default();
    assert_eq!(
        (status.failed, status.succeeded),
        (Some(1), Some(1)),
        "one attempt failed, the retry succeeded: {status:?}"
    );
    let limit = job.spec.as_ref().and_then(|s| s.backoff_limit);
    assert_eq!(limit, Some(kubectl_mysql::resources::JOB_RETRIES));
    // The attempt the kill cut short said why, in its pod's termination message.
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let cut_short: Vec<String> = (pods.list(&ListParams::default()).await.expect("pods").items)
        .into_iter()
        .filter_map(|p| {
            let state = p.status?.container_statuses?.first()?.state.clone()?;
            let terminated = state.terminated?;
            (terminated.exit_code != 0).then(|| terminated.message.unwrap_or_default())
        })
        .collect();
    assert_eq!(cut_short.len(), 1, "{cut_short:?}");
    assert!(
        cut_short[0].contains("\"ok\":false") && cut_short[0].contains("mysqldump exited"),
        "{}",
        cut_short[0]
    );
    eprintln!(
        "fault measure: the cut-short attempt reported {}",
        cut_short[0].trim()
    );
    assert_eq!(node.server_restarts(ns, "mysql-instance"), Some(1));
    assert_eq!(
        node.server_port(ns, "mysql-instance"),
        Some(port),
        "restarted in place"
    );

    // On the volume: the earlier backup byte for byte, the new one with its sidecar, no
    // partial file.
    let after = files(&volume);
    untouched(&before, &after);
    assert!(partials(&after).is_empty(), "{:?}", after.keys());
    let new_stamp = second.trim_end_matches(".sql.gz");
    let mut expected: Vec<String> = before.keys().cloned().collect();
    expected.extend([second.clone(), format!("{new_stamp}.json")]);
    expected.sort();
    assert_eq!(after.keys().cloned().collect::<Vec<_>>(), expected);
    eprintln!(
        "fault measure: {} bytes on the backup volume after the kill and the retry ({} before)",
        after.values().map(Vec::len).sum::<usize>(),
        before.values().map(Vec::len).sum::<usize>()
    );
    // In the catalogue: both, verified; the partial never.
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), ns);
    let catalogue = catalogue_text(maps.get_opt("mysql-instance-backups").await.expect("get"));
    assert!(
        catalogue.contains(&first)
            && catalogue.contains(&second)
            && !catalogue.contains(".partial"),
        "{catalogue}"
    );
    // The operator says so too.
    let condition = until("the BackedUp condition", || async {
        let status = mysqls.get("mysql-instance").await.ok()?.status?;
        status
            .conditions
            .into_iter()
            .find(|c| c.type_ == "BackedUp" && c.message.contains(&second))
    })
    .await;
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("True", "BackupVerified")
    );

    // Rows: all there; and the newest backup gives them back.
    assert_eq!(rows_of(port), EXPECTED, "no row lost");
    assert_eq!(row_count(port), 3);
    rows_deleted_then_restored_from(cluster, port, &second).await;
    assert_eq!(rows_of(port), EXPECTED, "the newest backup has every row");
    rig.finish().await;
}

/// A size-limited tmpfs mounted over a directory, unmounted when dropped (a panic too).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (the test skipped) when it cannot be mounted outside CI; in CI (root) a
    /// failure to mount fails the test.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("the mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        let why = match out {
            Ok(out) if out.status.success() => return Some(Tmpfs(dir.to_path_buf())),
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        let message = format!(
            "cannot mount a {size} tmpfs on {} ({why}): the full-volume fault needs root",
            dir.display()
        );
        if std::env::var_os("CI").is_some() {
            panic!("{message}");
        }
        eprintln!("skipped: {message}");
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let done = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !done {
            // Still busy (a process of the stand-in's): detach it now, freed once closed.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// The backup volume fills up (a 128 KiB tmpfs: the first small backup fits, the next,
/// after incompressible rows, does not). The Job fails after its retries with "No space
/// left on device" in the CLI's error, the instance's BackedUp condition and a Warning
/// Event; the earlier backup and its sidecar are byte for byte untouched, no partial file
/// stays, the catalogue is unchanged, and the earlier backup restores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backup_volume_fails_the_backup_with_the_reason_and_keeps_the_earlier_one() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let cluster = Cluster::new("fault-full").await;
    if cluster.server().is_none() {
        return; // the volume is a local directory of the node stand-in
    }
    install_crd(&cluster.client).await;
    let node = NodeStandIn::start_with_mysql(cluster.client.clone());
    let ns = cluster.namespace.clone();
    let volume = node.local_path(&format!(
        "/var/lib/kubectl-mysql/{ns}/mysql-instance/backup"
    ));
    // Declared after the stand-in: dropped (unmounted) before its directories go.
    let Some(_tmpfs) = Tmpfs::mount(&volume, "128k") else {
        return;
    };
    let operator = crate::operator::RunningOperator::start(cluster.client.clone(), &ns);
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &ns);
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("create");
    wait_for_phase(&mysqls, "mysql-instance", Phase::Ready, None).await;
    let port = port_of(&node, &ns).await;
    sql(port, "otus-database", ROWS);
    let first = backup_name(&plugin(&cluster, &["backup", "mysql-instance", "--wait"]).await);
    let before = files(&volume);
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let catalogue_before =
        catalogue_text(maps.get_opt("mysql-instance-backups").await.expect("get"));
    assert!(catalogue_before.contains(&first), "{catalogue_before}");

    // About 400 KB of random hex: some 200 KB gzipped, more than the volume has left.
    sql(
        port,
        "otus-database",
        "SET SESSION max_recursive_iterations = 10000; \
         CREATE TABLE filler (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(128) NOT NULL); \
         INSERT INTO filler (pad) SELECT CONCAT(MD5(RAND()), MD5(RAND()), MD5(RAND()), MD5(RAND())) \
         FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
         SELECT i FROM n) AS numbers",
    );
    let asked = Instant::now();
    let run = plugin(
        &cluster,
        &["backup", "mysql-instance", "--wait", "--timeout", "240s"],
    )
    .await;
    eprintln!(
        "fault measure: `backup --wait` on a full volume failed after {:.1} s",
        asked.elapsed().as_secs_f64()
    );
    assert_ne!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("No space left on device"),
        "the CLI says why:\n{}",
        run.stderr
    );
    eprintln!("fault measure: the CLI said: {}", run.stderr.trim());

    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &ns);
    let job = backup_job(&jobs).await.expect("the backup Job");
    let status = job.status.clone().unwrap_or_default();
    let failed = (status.conditions.iter().flatten())
        .find(|c| c.type_ == "Failed" && c.status == "True")
        .unwrap_or_else(|| panic!("the Job failed: {status:?}"));
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(
        status.failed,
        Some(kubectl_mysql::resources::JOB_RETRIES + 1),
        "every attempt was made"
    );

    // The instance's status and a Warning Event say why.
    let condition = until("the BackedUp condition says the backup failed", || async {
        let status = mysqls.get("mysql-instance").await.ok()?.status?;
        status
            .conditions
            .into_iter()
            .find(|c| c.type_ == "BackedUp" && c.status == "False")
    })
    .await;
    assert_eq!(condition.reason, "BackupFailed");
    assert!(
        condition.message.contains("No space left on device")
            && condition.message.contains("is full"),
        "{}",
        condition.message
    );
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), &ns);
    let event = until("a Warning Event says the backup failed", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("BackupFailed"))
    })
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let note = event.message.unwrap_or_default();
    assert!(note.contains("No space left on device"), "{note}");
    // The instance itself stays Ready: a failed backup does not take the server down.
    assert_eq!(
        mysqls
            .get("mysql-instance")
            .await
            .expect("get")
            .status
            .and_then(|s| s.phase),
        Some(Phase::Ready)
    );

    // The volume: the earlier backup and its sidecar byte for byte, nothing else.
    let after = files(&volume);
    eprintln!(
        "fault measure: {} bytes on the 128 KiB backup volume after the failed backup ({} before)",
        after.values().map(Vec::len).sum::<usize>(),
        before.values().map(Vec::len).sum::<usize>()
    );
    untouched(&before, &after);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "no partial or unverified file left behind"
    );
    let catalogue_after =
        catalogue_text(maps.get_opt("mysql-instance-backups").await.expect("get"));
    assert_eq!(catalogue_after, catalogue_before, "the catalogue unchanged");

    // Rows: every one in the server; the earlier backup restores the walkthrough's.
    assert_eq!(rows_of(port), EXPECTED, "no row lost");
    assert_eq!(
        sql(port, "otus-database", "SELECT COUNT(*) FROM filler").trim(),
        "3000"
    );
    rows_deleted_then_restored_from(&cluster, port, &first).await;
    assert_eq!(row_count(port), 3);
    assert_eq!(rows_of(port), EXPECTED);
    operator.stop().await;
    drop(_tmpfs);
    drop(node);
    cluster.cleanup().await;
}
