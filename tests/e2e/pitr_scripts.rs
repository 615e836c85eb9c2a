//! Point-in-time restore, script by script, as the pods run them (`sh -c SCRIPT`,
//! everything in the environment): a MariaDB of the test's own with the binary log on (the
//! options the Deployment gives the server with `spec.pitr`), the binlog-archive script as
//! its sidecar, the backup script with `PITR=true`, the restore script with a target.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kubectl_mysql::backup::catalogue::{JobKind, JobReport};
use kubectl_mysql::backup::{ARCHIVE_SCRIPT, BACKUP_SCRIPT, RESTORE_SCRIPT, RestorePoint};
use kubectl_mysql::resources::PITR_SERVER_ARGS;
use testkit::mariadb::{self, Programs, ServerProcess};
use testkit::require_mariadb;

use crate::backup_scripts::{Run, Volume, finish};

/// The database the instance's scripts work on (with a hyphen, as the seed's).
const DB: &str = "app-db";

/// A MariaDB with the binary log on, on a data directory of its own.
struct LoggingServer {
    _root: tempfile::TempDir,
    datadir: PathBuf,
    client: PathBuf,
    process: ServerProcess,
}

impl LoggingServer {
    fn start() -> Self {
        let programs = Programs::find().expect("MariaDB is installed");
        let root = tempfile::tempdir().expect("temp dir");
        let datadir = root.path().join("data");
        mariadb::install_db(&programs.install_db, &datadir).expect("install db");
        let port = mariadb::free_port().expect("port");
        let args: Vec<String> = PITR_SERVER_ARGS.iter().map(|a| a.to_string()).collect();
        let process = ServerProcess::spawn(
            &programs.server,
            &datadir,
            &root.path().join("run"),
            port,
            &args,
        )
        .expect("mariadbd starts");
        let server = LoggingServer {
            _root: root,
            datadir,
            client: programs.client,
            process,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.try_sql(None, "SELECT 1").is_err() {
            assert!(Instant::now() < deadline, "mariadbd did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            server.sql(None, "SELECT @@log_bin, @@binlog_format"),
            "1\tROW\n"
        );
        server.sql(
            None,
            &format!("CREATE DATABASE `{DB}` CHARACTER SET utf8mb4"),
        );
        server
    }

    fn port(&self) -> u16 {
        self.process.port()
    }

    fn try_sql(&self, database: Option<&str>, sql: &str) -> Result<String, String> {
        mariadb::query_tcp(&self.client, self.port(), "root", "", database, sql)
    }

    fn sql(&self, database: Option<&str>, sql: &str) -> String {
        self.try_sql(database, sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn app(&self, sql: &str) -> String {
        self.sql(Some(DB), sql)
    }

    /// `id:v` of every row of table `t`, or `no table t`.
    fn rows(&self) -> String {
        match self.try_sql(Some(DB), "SELECT CONCAT(id, ':', v) FROM t ORDER BY id") {
            Ok(rows) => rows.lines().collect::<Vec<_>>().join(" "),
            Err(e) if e.contains("doesn't exist") => "no table t".into(),
            Err(e) => panic!("{e}"),
        }
    }

    fn tables(&self) -> String {
        self.app("SHOW TABLES")
            .lines()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Where the server writes now: `FILE:POS`.
    fn position(&self) -> String {
        let status = self.sql(None, "SHOW MASTER STATUS");
        let mut fields = status.split('\t');
        format!(
            "{}:{}",
            fields.next().expect("file"),
            fields.next().expect("pos")
        )
    }

    /// The binlog file the server writes now.
    fn current_file(&self) -> String {
        let position = self.position();
        position.split(':').next().expect("file").to_string()
    }

    /// Close the file the server writes and wait until the archive holds it.
    fn close_and_wait_for_archive(&self, volume: &Volume, limit: Duration) {
        let file = self.current_file();
        self.sql(None, "FLUSH BINARY LOGS");
        let entry = archive(volume).join(format!("{file}.json"));
        eventually("the closed file archived", limit, || entry.exists());
    }

    fn command(&self, script: &str, volume: &Volume) -> Command {
        script_command(script, self.port(), volume)
    }

    fn backup(&self, volume: &Volume) -> kubectl_mysql::backup::BackupReport {
        let child = self
            .command(BACKUP_SCRIPT, volume)
            .spawn()
            .expect("sh starts");
        finish(child, volume).backup()
    }

    fn restore(&self, volume: &Volume, point: &RestorePoint, env: &[(&str, &str)]) -> Run {
        let mut command = self.command(RESTORE_SCRIPT, volume);
        command.envs(point.env());
        command.envs(env.iter().copied());
        finish(command.spawn().expect("sh starts"), volume)
    }
}

/// The environment every script gets for the server on 127.0.0.1:`port`, with `volume` as
/// the backup volume, for the instance's database, with `PITR=true`.
fn script_command(script: &str, port: u16, volume: &Volume) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", script])
        .env("MYSQL_HOST", "127.0.0.1")
        .env("MYSQL_PORT", port.to_string())
        .env("MYSQL_USER", "root")
        .env("MYSQL_DATABASE", DB)
        .env("BACKUP_DIR", &volume.dir)
        .env("RETENTION", "7")
        .env("PITR", "true")
        .env("TERMINATION_LOG", &volume.termination_log)
        .env("CLIENT_DIR", &volume.client_dir)
        .env("ARCHIVE_WAIT", "30")
        .env_remove("CLIENT_PASSWORD")
        .env_remove("BACKUP_NAME")
        .env_remove("MYSQL_DATADIR")
        .env_remove("TARGET_TIME")
        .env_remove("TARGET_EPOCH")
        .env_remove("TARGET_POSITION")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The binlog-archive container: [`ARCHIVE_SCRIPT`] in a process group of its own, killed
/// with it (SIGKILL) when dropped.
struct Sidecar {
    child: Child,
    log: PathBuf,
}

impl Sidecar {
    fn start(server: &LoggingServer, volume: &Volume, path: Option<&Path>) -> Self {
        let log = volume.client_dir.with_file_name(format!(
            "archive-{}.log",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_nanos()
        ));
        let mut command = server.command(ARCHIVE_SCRIPT, volume);
        command
            .env("MYSQL_DATADIR", &server.datadir)
            .env("FLUSH_SECONDS", "3600")
            .env_remove("TERMINATION_LOG")
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(std::fs::File::create(log.with_extension("err")).expect("log"))
            .process_group(0);
        if let Some(dir) = path {
            let search = format!(
                "{}:{}",
                dir.display(),
                std::env::var("PATH").unwrap_or_default()
            );
            command.env("PATH", search);
        }
        let sidecar = Sidecar {
            child: command.spawn().expect("sh starts"),
            log,
        };
        sidecar.wait_until_running(volume);
        sidecar
    }

    /// Until it has looked at the server once: it marks where its archive starts.
    fn wait_until_running(&self, volume: &Volume) {
        let horizon = archive(volume).join("horizon");
        eventually("the archive to start", Duration::from_secs(30), || {
            horizon.exists()
        });
    }

    /// SIGKILL to the whole container, as an OOM kill or a lost node does.
    fn kill(&mut self) {
        mariadb::send_signal(-i64::from(self.child.id()), "KILL");
        let _ = self.child.wait();
    }

    /// CPU seconds the container has used: its shell and every command it waited for.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("the archive runs");
        // After the command name in parentheses: utime, stime, cutime, cstime are fields
        // 14-17 of the whole line.
        let rest = &stat[stat.rfind(')').expect("stat") + 2..];
        let fields: Vec<f64> = rest
            .split_whitespace()
            .skip(11)
            .take(4)
            .map(|f| f.parse().expect("ticks"))
            .collect();
        fields.iter().sum::<f64>() / 100.0
    }

    fn archived(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What it said on stderr.
    fn said(&self) -> String {
        std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.kill();
    }
}

fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A second boundary after everything so far: every event logged before has an earlier
/// time, every event after it this time or later. (The log records whole seconds.)
fn mark() -> RestorePoint {
    std::thread::sleep(Duration::from_millis(1100));
    let now = jiff::Timestamp::now();
    RestorePoint::time(&kubectl_mysql::backup::point::utc_rfc3339(now), now)
        .expect("now is a point")
}

fn archive(volume: &Volume) -> PathBuf {
    volume.dir.join("binlog")
}

fn archived_files(volume: &Volume) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(archive(volume))
        .map(|dir| {
            dir.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_restore_to_a_time_or_position_brings_back_exactly_that_state_across_a_rotation_and_a_backup() {
    let Some(_) = require_mariadb!() else { return };
    let server = LoggingServer::start();
    let volume = Volume::new();
    let sidecar = Sidecar::start(&server, &volume, None);

    server.app(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40)); INSERT INTO t VALUES (0, 'base')",
    );
    let first = server.backup(&volume);
    let position = first
        .binlog
        .clone()
        .expect("the dump records its binlog position");
    assert!(position.file.starts_with("binlog."), "{position:?}");

    server.app("INSERT INTO t VALUES (1, 'T1'), (2, 'T1')");
    server.sql(None, "FLUSH BINARY LOGS");
    server.app("INSERT INTO t VALUES (3, 'Привет')");
    let t1 = mark();
    server.sql(None, "FLUSH BINARY LOGS");
    let second = server.backup(&volume);
    server.app("INSERT INTO t VALUES (4, 'T2'); UPDATE t SET v = 'T2 changed' WHERE id = 1");
    let t2 = mark();
    server.app("CREATE TABLE u (id INT); INSERT INTO u VALUES (7)");
    let before_drop = RestorePoint::position(&server.position()).expect("position");
    server.app("DROP TABLE t");
    let t3 = mark();
    assert_eq!(server.rows(), "no table t");

    let at_t2 = "0:base 1:T2 changed 2:T1 3:Привет 4:T2";
    // The newest backup before T2 (the second), and the log after it.
    let report = server.restore(&volume, &t2, &[]).restore();
    assert_eq!(server.rows(), at_t2);
    assert_eq!(server.tables(), "t", "u was made after T2");
    assert_eq!(report.backup, second.backup);
    assert_eq!(report.to.as_deref(), Some(t2.to_string().as_str()));
    assert!(report.binlogs.is_some_and(|n| n >= 1), "{report:?}");

    // Before the second backup: the first one, replayed across the rotation.
    let report = server.restore(&volume, &t1, &[]).restore();
    assert_eq!(server.rows(), "0:base 1:T1 2:T1 3:Привет");
    assert_eq!(report.backup, first.backup);
    assert!(
        report.binlogs.is_some_and(|n| n >= 2),
        "across the rotation: {report:?}"
    );

    // Up to the DROP's position: u is there, t has the rows of T2.
    server.restore(&volume, &before_drop, &[]).restore();
    assert_eq!(server.rows(), at_t2);
    assert_eq!(server.tables(), "t u");

    // After the drop, as it is now (a restore is logged too, so history stays whole).
    server.restore(&volume, &t3, &[]).restore();
    assert_eq!(server.rows(), "no table t");
    assert_eq!(server.tables(), "u");
    assert!(sidecar.archived().contains(r#""op":"archive","ok":true"#));
}

#[test]
fn times_outside_the_window_and_gaps_are_refused_and_change_nothing() {
    let Some(_) = require_mariadb!() else { return };
    let server = LoggingServer::start();
    let volume = Volume::new();
    let mut sidecar = Sidecar::start(&server, &volume, None);

    let too_early = mark();
    server.app(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40)); INSERT INTO t VALUES (0, 'base')",
    );
    server.backup(&volume);
    server.app("INSERT INTO t VALUES (1, 'a')");
    server.sql(None, "FLUSH BINARY LOGS");
    server.app("INSERT INTO t VALUES (2, 'b')");
    server.sql(None, "FLUSH BINARY LOGS");
    server.app("INSERT INTO t VALUES (3, 'c')");
    let late = mark();
    server.close_and_wait_for_archive(&volume, Duration::from_secs(30));
    assert!(
        archived_files(&volume).len() >= 6,
        "{:?}: {}",
        archived_files(&volume),
        sidecar.said()
    );
    let now = "0:base 1:a 2:b 3:c";
    assert_eq!(server.rows(), now);

    // Before the oldest backup with a position.
    let refused = server
        .restore(&volume, &too_early, &[])
        .failure(JobKind::Restore);
    assert!(
        refused
            .contains("no verified backup of this binlog history with a position is older than it")
            && refused.contains("restorable from ")
            && refused.ends_with("the database was not touched"),
        "{refused}"
    );
    assert_eq!(server.rows(), now);

    // After the last archived event: the archive stopped, and the restore's own flush is
    // never archived.
    sidecar.kill();
    server.app("INSERT INTO t VALUES (4, 'after the archive stopped')");
    let after = mark();
    let refused = server
        .restore(&volume, &after, &[("ARCHIVE_WAIT", "2")])
        .failure(JobKind::Restore);
    assert!(
        refused.contains("it is after the last archived event (restorable from "),
        "{refused}"
    );
    let now = "0:base 1:a 2:b 3:c 4:after the archive stopped";
    assert_eq!(server.rows(), now);

    // A file missing in the middle of the archive: named, nothing changed.
    let names = archived_files(&volume);
    let missing = names
        .iter()
        .filter(|n| n.ends_with(".json"))
        .nth(1)
        .expect("archived files")
        .trim_end_matches(".json")
        .to_string();
    std::fs::remove_file(archive(&volume).join(&missing)).expect("remove");
    std::fs::remove_file(archive(&volume).join(format!("{missing}.json"))).expect("remove");
    let refused = server
        .restore(&volume, &late, &[])
        .failure(JobKind::Restore);
    assert!(
        refused.contains(&format!("the archive has a gap: {missing} is missing")),
        "{refused}"
    );
    assert_eq!(server.rows(), now);

    // A damaged archived file is refused the same way.
    let names = archived_files(&volume);
    let damaged = names
        .iter()
        .rfind(|n| n.ends_with(".json"))
        .expect("archived files")
        .trim_end_matches(".json")
        .to_string();
    std::fs::write(archive(&volume).join(&damaged), b"not a binlog").expect("write");
    let position = RestorePoint::position(&format!("{damaged}:4")).expect("position");
    let refused = server
        .restore(&volume, &position, &[])
        .failure(JobKind::Restore);
    assert!(
        refused.contains("the archive has a gap") || refused.contains("does not match the sha256"),
        "{refused}"
    );
    assert_eq!(server.rows(), now);
}

#[test]
fn an_archive_killed_mid_copy_leaves_nothing_a_restore_would_use_and_copies_again() {
    let Some(_) = require_mariadb!() else { return };
    let server = LoggingServer::start();
    let volume = Volume::new();
    // A cp that writes part of the file, then hangs: the kill comes mid-copy.
    let bin = tempfile::tempdir().expect("bin");
    let slow_cp = bin.path().join("cp");
    std::fs::write(
        &slow_cp,
        "#!/bin/sh\nhead -c 4096 \"$1\" >\"$2\"\nsleep 60\n",
    )
    .expect("cp shim");
    std::fs::set_permissions(
        &slow_cp,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let mut sidecar = Sidecar::start(&server, &volume, Some(bin.path()));

    server.app("CREATE TABLE big (id INT PRIMARY KEY, v TEXT)");
    server.app("INSERT INTO big SELECT seq, REPEAT('x', 1000) FROM seq_1_to_2000");
    server.sql(None, "FLUSH BINARY LOGS");
    let partial_copy = || {
        archived_files(&volume)
            .into_iter()
            .find(|n| n.starts_with(".binlog.") && n.ends_with(".partial"))
    };
    eventually("the copy to start", Duration::from_secs(30), || {
        partial_copy().is_some()
    });
    sidecar.kill();
    let partial = partial_copy().expect("a partial copy");
    let closed = partial
        .trim_start_matches('.')
        .trim_end_matches(".partial")
        .to_string();
    let partial = archive(&volume).join(partial);
    // Killed mid-copy: no entry, so nothing a restore would read.
    assert!(
        !archive(&volume).join(format!("{closed}.json")).exists(),
        "{:?}",
        archived_files(&volume)
    );

    let sidecar = Sidecar::start(&server, &volume, None);
    let entry = archive(&volume).join(format!("{closed}.json"));
    eventually("the copy to be redone", Duration::from_secs(30), || {
        entry.exists()
    });
    assert!(!partial.exists(), "the partial copy is removed");
    let original = std::fs::read(server.datadir.join(&closed)).expect("original");
    let copy = std::fs::read(archive(&volume).join(&closed)).expect("copy");
    assert_eq!(copy.len(), original.len());
    assert!(
        copy == original,
        "the archived copy is the file, byte for byte"
    );
    let json = std::fs::read_to_string(&entry).expect("entry");
    let sha = Command::new("sha256sum")
        .arg(archive(&volume).join(&closed))
        .output()
        .expect("sha256sum");
    let sha = String::from_utf8_lossy(&sha.stdout);
    assert!(
        json.contains(&format!(
            "\"sha256\":\"{}\"",
            sha.split(' ').next().unwrap_or("?")
        )),
        "{json}"
    );
    assert!(
        sidecar
            .archived()
            .contains(&format!("\"binlog\":\"{closed}\""))
    );
}

#[test]
fn retention_keeps_the_binlogs_the_oldest_kept_backup_needs_and_no_more() {
    let Some(_) = require_mariadb!() else { return };
    let server = LoggingServer::start();
    let volume = Volume::new();
    let _sidecar = Sidecar::start(&server, &volume, None);
    server.app("CREATE TABLE t (id INT)");
    for i in 0..3 {
        server.app(&format!("INSERT INTO t VALUES ({i})"));
        server.sql(None, "FLUSH BINARY LOGS");
    }
    eventually("three files archived", Duration::from_secs(30), || {
        archived_files(&volume)
            .iter()
            .filter(|n| n.ends_with(".json"))
            .count()
            >= 3
    });
    let mut command = server.command(BACKUP_SCRIPT, &volume);
    command.env("RETENTION", "1");
    let report = finish(command.spawn().expect("sh"), &volume).backup();
    let position = report.binlog.clone().expect("position");
    let kept_from = position.file;
    let pitr = report.pitr.expect("the archive's window");
    assert!(pitr.pruned >= 3, "{pitr:?}");
    assert_eq!(
        pitr.from,
        Some(position.at + 1),
        "the second after the only kept backup starts the window"
    );
    let left: Vec<String> = archived_files(&volume)
        .into_iter()
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert!(
        left.iter()
            .all(|n| n.trim_end_matches(".json") >= kept_from.as_str()),
        "{left:?} before {kept_from}"
    );
    // The server still has the pruned files; the archive never copies them again.
    server.sql(None, "FLUSH BINARY LOGS");
    std::thread::sleep(Duration::from_secs(3));
    let again: Vec<String> = archived_files(&volume)
        .into_iter()
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert!(
        again
            .iter()
            .all(|n| n.trim_end_matches(".json") >= kept_from.as_str()),
        "{again:?}"
    );
    assert!(
        std::fs::read_to_string(archive(&volume).join("horizon"))
            .expect("horizon")
            .trim()
            == kept_from
    );
    assert!(matches!(
        finish(
            server.command(BACKUP_SCRIPT, &volume).spawn().expect("sh"),
            &volume
        )
        .report(),
        JobReport::Backup(_)
    ));
}

/// Seconds `f` takes.
fn timed(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64()
}

#[test]
#[ignore = "a timed measurement: run with --ignored --nocapture (docs/benchmarks.md)"]
fn replay_throughput_vs_mysqlbinlog_piped_by_hand() {
    let Some(_) = require_mariadb!() else { return };
    const RUNS: usize = 3;
    let server = LoggingServer::start();
    let volume = Volume::new();
    let sidecar = Sidecar::start(&server, &volume, None);
    server.app("CREATE TABLE big (id INT PRIMARY KEY, v TEXT)");
    let base = server.backup(&volume);
    // Idle: one stat of the binlog index a second, nothing to copy.
    let idle_from = sidecar.cpu_seconds();
    std::thread::sleep(Duration::from_secs(30));
    let idle = sidecar.cpu_seconds() - idle_from;
    let busy_from = sidecar.cpu_seconds();
    let start = base.binlog.expect("position");
    // About 100 MB of row events over several files, as a busy day's log would be.
    for batch in 0..10 {
        server.app(&format!(
            "INSERT INTO big SELECT seq, REPEAT(MD5(seq), 31) FROM seq_{}_to_{}",
            batch * 10_000 + 1,
            (batch + 1) * 10_000
        ));
        server.sql(None, "FLUSH BINARY LOGS");
    }
    let target = mark();
    let last = server.current_file();
    server.close_and_wait_for_archive(&volume, Duration::from_secs(120));
    let busy = sidecar.cpu_seconds() - busy_from;
    server.app("ANALYZE TABLE big");
    let table_bytes = server.sql(
        None,
        &format!(
            "SELECT DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{DB}' AND TABLE_NAME = 'big'"
        ),
    );
    let files: Vec<PathBuf> = archived_files(&volume)
        .into_iter()
        .filter(|n| n.starts_with("binlog.") && !n.ends_with(".json"))
        .filter(|n| n.as_str() >= start.file.as_str() && n.as_str() <= last.as_str())
        .map(|n| archive(&volume).join(n))
        .collect();
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).expect("file").len())
        .sum();
    let expected = server.app("SELECT COUNT(*), SUM(CRC32(v)) FROM big");

    let mut product = Vec::new();
    let mut by_hand = Vec::new();
    for _ in 0..RUNS {
        product.push(timed(|| {
            let report = server.restore(&volume, &target, &[]).restore();
            assert_eq!(report.backup, base.backup);
        }));
        assert_eq!(
            server.app("SELECT COUNT(*), SUM(CRC32(v)) FROM big"),
            expected
        );
        // By hand: the same dump into an emptied database, then the log piped into the client.
        let dump = volume.dir.join(&base.backup);
        by_hand.push(timed(|| {
            server.sql(
                None,
                &format!("DROP DATABASE `{DB}`; CREATE DATABASE `{DB}` CHARACTER SET utf8mb4"),
            );
            let script = r#"gzip -dc "$DUMP" | mariadb --no-defaults -h127.0.0.1 -P"$PORT" -uroot "$DB" &&
                TZ=UTC0 mariadb-binlog --database="$DB" --start-position="$POS" --stop-datetime="$STOP" "$@" |
                mariadb --no-defaults -h127.0.0.1 -P"$PORT" -uroot --binary-mode "$DB""#;
            let status = Command::new("sh")
                .args(["-c", script, "sh"])
                .args(&files)
                .env("DUMP", &dump)
                .env("PORT", server.port().to_string())
                .env("DB", DB)
                .env("POS", start.pos.to_string())
                .env("STOP", &target.env()[0].1)
                .status()
                .expect("sh");
            assert!(status.success());
        }));
        assert_eq!(
            server.app("SELECT COUNT(*), SUM(CRC32(v)) FROM big"),
            expected
        );
    }
    product.sort_by(f64::total_cmp);
    by_hand.sort_by(f64::total_cmp);
    let (product, by_hand) = (product[RUNS / 2], by_hand[RUNS / 2]);
    println!(
        "archive CPU: idle {idle:.2} s in 30 s; {busy:.2} s for {:.1} MB of binlog (table: {:.1} MB on disk)",
        bytes as f64 / 1e6,
        table_bytes.trim().parse::<f64>().unwrap_or_default() / 1e6
    );
    println!(
        "replay of {} binlog files, {:.1} MB: restore --to {:.2} s ({:.1} MB/s), by hand {:.2} s ({:.1} MB/s), ratio {:.2}",
        files.len(),
        bytes as f64 / 1e6,
        product,
        bytes as f64 / 1e6 / product,
        by_hand,
        bytes as f64 / 1e6 / by_hand,
        product / by_hand
    );
}

#[test]
#[ignore = "a timed measurement: run with --ignored --nocapture (docs/pitr.md)"]
fn how_long_a_write_waits_to_be_archived() {
    let Some(_) = require_mariadb!() else { return };
    const FLUSH: u64 = 10;
    let server = LoggingServer::start();
    let volume = Volume::new();
    let mut command = server.command(ARCHIVE_SCRIPT, &volume);
    command
        .env("MYSQL_DATADIR", &server.datadir)
        .env("FLUSH_SECONDS", FLUSH.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let sidecar = Sidecar {
        child: command.spawn().expect("sh"),
        log: volume.client_dir.with_file_name("lag.log"),
    };
    sidecar.wait_until_running(&volume);
    server.app("CREATE TABLE t (id INT)");
    let mut lags = Vec::new();
    for i in 0..6u64 {
        // Writes at different points of the flush period.
        std::thread::sleep(Duration::from_millis(1700 * i % (FLUSH * 1000)));
        server.app(&format!("INSERT INTO t VALUES ({i})"));
        let written = Instant::now();
        let file = server.current_file();
        let entry = archive(&volume).join(format!("{file}.json"));
        eventually(
            "the write's file archived",
            Duration::from_secs(FLUSH * 3),
            || entry.exists(),
        );
        lags.push(written.elapsed().as_secs_f64());
    }
    drop(sidecar);
    lags.sort_by(f64::total_cmp);
    println!(
        "seconds from a write to its archived copy, flush every {FLUSH} s: min {:.1}, median {:.1}, max {:.1}",
        lags[0],
        lags[lags.len() / 2],
        lags[lags.len() - 1]
    );
}

#[test]
fn a_server_that_numbers_its_binlogs_afresh_starts_a_new_history() {
    let Some(_) = require_mariadb!() else { return };
    let server = LoggingServer::start();
    let volume = Volume::new();
    let sidecar = Sidecar::start(&server, &volume, None);
    server
        .app("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40)); INSERT INTO t VALUES (0, 'old')");
    let old = server.backup(&volume);
    let old_history = old
        .binlog
        .clone()
        .and_then(|b| b.history)
        .expect("a history");
    server.app("INSERT INTO t VALUES (1, 'old history')");
    let in_old_history = mark();
    server.sql(None, "FLUSH BINARY LOGS");
    server.sql(None, "FLUSH BINARY LOGS");
    eventually("the old history archived", Duration::from_secs(30), || {
        archived_files(&volume)
            .iter()
            .filter(|n| n.ends_with(".json"))
            .count()
            >= 2
    });

    // As a new data directory would: the server's files are numbered from 1 again, and the
    // old names are other files now.
    server.sql(None, "RESET MASTER");
    server.app("INSERT INTO t VALUES (2, 'new history')");
    server.sql(None, "FLUSH BINARY LOGS");
    let retired = volume.dir.join(format!("binlog.{old_history}"));
    eventually("the old archive set aside", Duration::from_secs(30), || {
        retired.is_dir()
    });
    assert!(sidecar.said().contains("new history"), "{}", sidecar.said());

    // A restore into the old history finds no backup of the archive's history.
    let refused = server
        .restore(&volume, &in_old_history, &[])
        .failure(JobKind::Restore);
    assert!(
        refused
            .contains("no verified backup of this binlog history with a position is older than it"),
        "{refused}"
    );
    assert_eq!(server.rows(), "0:old 1:old history 2:new history");

    // The new history works on its own, and retention removes the old archive once no
    // kept backup is of it.
    let new = server.backup(&volume);
    let new_history = new
        .binlog
        .clone()
        .and_then(|b| b.history)
        .expect("a history");
    assert_ne!(new_history, old_history);
    server.app("INSERT INTO t VALUES (3, 'after the new backup')");
    let now = mark();
    server.app("DELETE FROM t");
    server.restore(&volume, &now, &[]).restore();
    assert_eq!(
        server.rows(),
        "0:old 1:old history 2:new history 3:after the new backup"
    );
    let mut command = server.command(BACKUP_SCRIPT, &volume);
    command.env("RETENTION", "1");
    finish(command.spawn().expect("sh"), &volume).backup();
    assert!(!retired.exists(), "no kept backup is of the old history");
}

#[test]
fn a_backup_of_a_server_that_does_not_log_yet_is_kept_without_a_position() {
    // The shared test server runs without a binary log, as a pod still rolling out to the
    // pitr options would.
    let Some(shared) = require_mariadb!() else {
        return;
    };
    let name = format!("nolog-{}", std::process::id());
    shared
        .query(&format!(
            "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.t (id INT)"
        ))
        .expect("database");
    let volume = Volume::new();
    assert_eq!(shared.host, "127.0.0.1");
    let child = script_command(BACKUP_SCRIPT, shared.port, &volume)
        .env("MYSQL_DATABASE", &name)
        .spawn()
        .expect("sh");
    let run = finish(child, &volume);
    let _ = shared.query(&format!("DROP DATABASE `{name}`"));
    let report = run.backup();
    assert!(report.verified && report.binlog.is_none(), "{report:?}");
    assert!(
        run.stderr
            .contains("the server does not log its changes yet"),
        "{}",
        run.stderr
    );
}
