//! The backup and restore Job scripts, run exactly as the Jobs run them (`sh -c SCRIPT`,
//! everything in the environment) as local processes against the real test MariaDB, with
//! a temp dir as the backup volume.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kubectl_mysql::backup::catalogue::{self, BackupEntry, JobKind, JobReport};
use kubectl_mysql::backup::{BACKUP_SCRIPT, RESTORE_SCRIPT};
use testkit::mariadb::MariaDb;
use testkit::require_mariadb;

/// A name no other test (or test binary) uses, with a hyphen and a `$` as database names
/// may have: the scripts must quote them.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}${}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A database of the shared server, dropped when the test ends, however it ends.
struct Database {
    server: &'static MariaDb,
    name: String,
}

impl Database {
    fn create(server: &'static MariaDb, prefix: &str) -> Self {
        let db = Database {
            server,
            name: unique(prefix),
        };
        db.recreate_empty();
        db
    }

    /// What the restore Job meets after a re-create: the database, empty.
    fn recreate_empty(&self) {
        self.server
            .query(&format!(
                "DROP DATABASE IF EXISTS `{0}`; CREATE DATABASE `{0}` CHARACTER SET utf8mb4",
                self.name
            ))
            .expect("database created");
    }

    /// SQL in this database over a utf8mb4 connection.
    fn sql(&self, sql: &str) -> String {
        self.server
            .query_in(&self.name, &format!("SET NAMES utf8mb4; {sql}"))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A table with non-ASCII text, emoji, NULLs, quotes, control characters and binary.
    fn fill_texts(&self) {
        self.sql(TEXTS_SQL);
    }

    /// 100,000 rows in one statement (a cross join of digits: no recursion limits).
    fn fill_big(&self) {
        self.sql(&big_sql());
        assert_eq!(self.sql("SELECT COUNT(*) FROM big").trim(), "100000");
    }

    /// Everything a restore must bring back (see [`snapshot_of`]).
    fn snapshot(&self) -> BTreeMap<String, String> {
        snapshot_of(&self.name, |sql| self.sql(sql))
    }
}

/// A table with non-ASCII text, emoji, NULLs, quotes, control characters and binary, a
/// trigger and a procedure.
const TEXTS_SQL: &str = r#"CREATE TABLE texts (
                 id INT PRIMARY KEY,
                 title VARCHAR(100) NOT NULL,
                 body TEXT NULL,
                 amount DECIMAL(12,2) NULL,
                 at DATETIME NULL,
                 raw VARBINARY(64) NULL
               ) DEFAULT CHARSET=utf8mb4;
               INSERT INTO texts VALUES
                 (1, 'Привет, мир', 'Съешь же ещё этих мягких французских булок', 10.50, '2026-11-23 10:15:00', X'00FF10'),
                 (2, 'emoji 😀🎉👍🏽', '🐬', NULL, NULL, NULL),
                 (3, 'quotes '' " \\ and `ticks`', 'line1\nline2\ttab\r\n', -0.01, NULL, X''),
                 (4, 'NULLs', NULL, NULL, NULL, NULL),
                 (5, '中文 日本語 한국어', '', 0, '1970-01-01 00:00:01', X'0D0A00');
               CREATE TRIGGER texts_trim BEFORE INSERT ON texts FOR EACH ROW SET NEW.title = TRIM(NEW.title);
               CREATE PROCEDURE count_texts() SELECT COUNT(*) FROM texts;"#;

/// 100,000 rows in one statement (a cross join of digits: no recursion limits), and a view.
fn big_sql() -> String {
    const DIGITS: &str = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
    format!(
        "CREATE TABLE big (
           id INT PRIMARY KEY,
           name VARCHAR(64) NOT NULL,
           hash CHAR(32) NOT NULL,
           val DOUBLE NULL,
           note VARCHAR(40) NULL,
           KEY (hash)
         ) DEFAULT CHARSET=utf8mb4;
         INSERT INTO big
           SELECT n, CONCAT('ряд-', n), MD5(n), n * 1.5, IF(n % 7 = 0, NULL, SHA1(n))
           FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 1 AS n
                 FROM {DIGITS} a CROSS JOIN {DIGITS} b CROSS JOIN {DIGITS} c
                      CROSS JOIN {DIGITS} e CROSS JOIN {DIGITS} f) s;
         CREATE VIEW big_sevens AS SELECT id FROM big WHERE note IS NULL;"
    )
}

/// Everything a restore must bring back: per table its row count and checksum, the
/// text columns as bytes, and the views, triggers and routines.
fn snapshot_of(database: &str, sql: impl Fn(&str) -> String) -> BTreeMap<String, String> {
    let mut snap = BTreeMap::new();
    let tables = sql(&format!(
        "SELECT table_name FROM information_schema.tables
         WHERE table_schema = '{}' AND table_type = 'BASE TABLE' ORDER BY table_name",
        database
    ));
    for table in tables.lines() {
        let count = sql(&format!("SELECT COUNT(*) FROM `{table}`"));
        let checksum = sql(&format!("CHECKSUM TABLE `{table}`"));
        let checksum = checksum.split('\t').nth(1).unwrap_or_default().trim();
        snap.insert(
            format!("table {table}"),
            format!("{} rows, checksum {checksum}", count.trim()),
        );
    }
    if tables.lines().any(|t| t == "texts") {
        snap.insert(
            "texts as bytes".into(),
            sql("SELECT id, HEX(title), HEX(body), HEX(raw), amount, at FROM texts ORDER BY id"),
        );
    }
    for (kind, query) in [
        (
            "views",
            "SELECT table_name FROM information_schema.views WHERE table_schema = '{}' ORDER BY 1",
        ),
        (
            "triggers",
            "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = '{}' ORDER BY 1",
        ),
        (
            "routines",
            "SELECT routine_name FROM information_schema.routines WHERE routine_schema = '{}' ORDER BY 1",
        ),
    ] {
        snap.insert(kind.into(), sql(&query.replace("{}", database)));
    }
    snap
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = self
            .server
            .query(&format!("DROP DATABASE IF EXISTS `{}`", self.name));
    }
}

/// A backup volume (a temp dir) and where the termination message goes.
pub(crate) struct Volume {
    _root: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    pub(crate) termination_log: PathBuf,
    /// The Job's memory-backed directory for the clients' option file (`CLIENT_DIR`).
    pub(crate) client_dir: PathBuf,
}

impl Volume {
    pub(crate) fn new() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("backup");
        std::fs::create_dir(&dir).expect("backup dir");
        let termination_log = root.path().join("termination-log");
        let client_dir = root.path().join("client");
        std::fs::create_dir(&client_dir).expect("client dir");
        Volume {
            dir,
            termination_log,
            client_dir,
            _root: root,
        }
    }

    /// The file names in the backup directory, sorted.
    pub(crate) fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .expect("backup dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn entry(&self, backup: &str) -> BackupEntry {
        let sidecar = catalogue::sidecar_name(backup).expect("backup name");
        BackupEntry::parse(&std::fs::read_to_string(self.path(&sidecar)).expect("sidecar"))
            .expect("sidecar parses")
    }
}

/// What a Job run printed.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    termination: String,
}

impl Run {
    pub(crate) fn report(&self) -> JobReport {
        catalogue::parse_report(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}\nstdout: {}\nstderr: {}", self.stdout, self.stderr))
    }

    pub(crate) fn backup(&self) -> catalogue::BackupReport {
        assert_eq!(self.code, Some(0), "backup failed: {}", self.stderr);
        match self.report() {
            JobReport::Backup(report) => report,
            other => panic!("not a backup report: {other:?}"),
        }
    }

    pub(crate) fn restore(&self) -> catalogue::RestoreReport {
        assert_eq!(self.code, Some(0), "restore failed: {}", self.stderr);
        match self.report() {
            JobReport::Restore(report) => report,
            other => panic!("not a restore report: {other:?}"),
        }
    }

    /// The failure's cause, checked to be the same on stderr and in the termination log.
    pub(crate) fn failure(&self, op: JobKind) -> String {
        assert_eq!(self.code, Some(1), "expected a failure: {self:?}");
        let JobReport::Failed(failure) = self.report() else {
            panic!("not a failure: {self:?}")
        };
        assert_eq!(failure.op, op);
        assert!(
            self.stderr
                .contains(&format!("{op} failed: {}", failure.error)),
            "{self:?}"
        );
        failure.error
    }
}

/// The environment a Job's pod template gives the container, for `db` as root.
fn job(script: &str, db: &Database, volume: &Volume, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", script])
        .env("MYSQL_HOST", &db.server.host)
        .env("MYSQL_PORT", db.server.port.to_string())
        .env("MYSQL_USER", "root")
        .env("MYSQL_DATABASE", &db.name)
        .env("BACKUP_DIR", &volume.dir)
        .env("RETENTION", "7")
        .env("TERMINATION_LOG", &volume.termination_log)
        .env("CLIENT_DIR", &volume.client_dir)
        .env_remove("CLIENT_PASSWORD")
        .env_remove("BACKUP_NAME")
        .env_remove("MYSQL_DATADIR")
        .env_remove("WIPE_DATADIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

pub(crate) fn finish(child: Child, volume: &Volume) -> Run {
    let out = child.wait_with_output().expect("the script ends");
    let termination = std::fs::read_to_string(&volume.termination_log).unwrap_or_default();
    let _ = std::fs::remove_file(&volume.termination_log);
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        termination,
    };
    // The operator reads the same line back from the termination message.
    assert_eq!(
        run.stdout.lines().last().unwrap_or_default(),
        run.termination.trim_end(),
        "{run:?}"
    );
    assert_eq!(run.stdout.lines().count(), 1, "one line on stdout: {run:?}");
    run
}

fn run(script: &str, db: &Database, volume: &Volume, env: &[(&str, &str)]) -> Run {
    let child = job(script, db, volume, env).spawn().expect("sh starts");
    finish(child, volume)
}

fn backup(db: &Database, volume: &Volume) -> catalogue::BackupReport {
    run(BACKUP_SCRIPT, db, volume, &[]).backup()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    pipe("gzip -c", data)
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    pipe("gzip -dc", data)
}

fn sha256(data: &[u8]) -> String {
    let out = pipe("sha256sum", data);
    String::from_utf8_lossy(&out)[..64].to_string()
}

fn pipe(command: &str, input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("ends");
    writer.join().expect("writer");
    assert!(out.status.success(), "{command} failed");
    out.stdout
}

/// Replace a backup's content and make its sidecar match it, so only the content is wrong.
fn replace_content(volume: &Volume, backup: &str, content: &[u8]) {
    let path = volume.path(backup);
    std::fs::write(&path, content).expect("dump rewritten");
    let mut entry = volume.entry(backup);
    entry.size = content.len() as u64;
    entry.sha256 = sha256(content);
    let sidecar = volume.path(&catalogue::sidecar_name(backup).unwrap());
    std::fs::write(sidecar, serde_json::to_string(&entry).unwrap()).expect("sidecar rewritten");
}

#[test]
fn backup_then_restore_into_an_empty_database_brings_back_identical_data() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let db = Database::create(server, "roundtrip");
    db.fill_texts();
    db.fill_big();
    let before = db.snapshot();
    assert_eq!(
        before["texts as bytes"]
            .lines()
            .next()
            .unwrap()
            .split('\t')
            .nth(1),
        Some(hex("Привет, мир").as_str())
    );
    assert!(before["texts as bytes"].contains(&hex("emoji 😀🎉👍🏽")));

    let volume = Volume::new();
    let report = backup(&db, &volume);
    let stamp = report.backup.strip_suffix(".sql.gz").unwrap();
    assert_eq!(
        catalogue::normalize_backup_name(&report.backup).unwrap(),
        report.backup
    );
    assert_eq!(
        volume.files(),
        [format!("{stamp}.json"), report.backup.clone()]
    );
    assert_eq!(volume.entry(&report.backup), report.entry());
    assert_eq!((report.retained, report.pruned.len()), (1, 0));
    assert_eq!(report.database, db.name);
    let created = humantime::parse_rfc3339(&report.created).expect("created is RFC 3339");
    assert_eq!(catalogue::backup_name(created), report.backup);
    let dump = std::fs::read(volume.path(&report.backup)).unwrap();
    assert_eq!(report.size, dump.len() as u64);
    assert_eq!(report.sha256, sha256(&dump));
    // One database, loaded into whichever database the restore names: no CREATE DATABASE/USE.
    let sql = String::from_utf8(gunzip(&dump)).expect("the dump is UTF-8");
    assert!(!sql.contains("CREATE DATABASE"));
    assert!(!sql.lines().any(|l| l.starts_with("USE ")));
    assert!(
        sql.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("-- Dump completed")
    );

    server
        .query(&format!("DROP DATABASE `{}`", db.name))
        .expect("dropped");
    db.recreate_empty();
    assert_ne!(db.snapshot(), before);

    let restored = run(RESTORE_SCRIPT, &db, &volume, &[]).restore();
    assert_eq!(restored.backup, report.backup);
    assert_eq!(restored.sha256, report.sha256);
    assert_eq!(restored.database, db.name);
    assert!(restored.skipped.is_empty());
    assert_eq!(db.snapshot(), before);
    // The restore only reads the volume.
    assert_eq!(
        volume.files(),
        [format!("{stamp}.json"), report.backup.clone()]
    );

    // A named restore (with or without the suffix) over the live data works the same.
    db.sql("DELETE FROM big WHERE id > 50000; UPDATE texts SET body = NULL");
    let named = run(RESTORE_SCRIPT, &db, &volume, &[("BACKUP_NAME", stamp)]).restore();
    assert_eq!(named.backup, report.backup);
    assert_eq!(db.snapshot(), before);
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn a_truncated_dump_fails_verification_and_restore_refuses_it_leaving_the_database_untouched() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let db = Database::create(server, "truncated");
    db.fill_texts();
    let volume = Volume::new();
    let good = backup(&db, &volume);
    let original = std::fs::read(volume.path(&good.backup)).unwrap();

    // Changes after the backup that a restore would undo: they must survive every refusal.
    db.sql("INSERT INTO texts VALUES (6, 'after the backup', NULL, NULL, NULL, NULL)");
    let before = db.snapshot();
    let name = good.backup.as_str();
    let stamp = name.strip_suffix(".sql.gz").unwrap();

    type Damage<'a> = Box<dyn Fn() + 'a>;
    let refusals: Vec<(&str, Damage, &str)> = vec![
        (
            "the SQL cut in half and re-compressed, the sidecar fixed",
            Box::new(|| {
                let sql = gunzip(&original);
                replace_content(&volume, name, &gzip(&sql[..sql.len() / 2]));
            }),
            "mysqldump's completion marker '-- Dump completed' is missing: the dump is incomplete",
        ),
        (
            "the .sql.gz cut in half, the sidecar fixed",
            Box::new(|| replace_content(&volume, name, &original[..original.len() / 2])),
            "it does not decompress (truncated or corrupt)",
        ),
        (
            "the .sql.gz cut in half, the sidecar as it was",
            Box::new(|| {
                replace_content(&volume, name, &original);
                std::fs::write(volume.path(name), &original[..original.len() / 2]).unwrap();
            }),
            "differs from the one recorded when it was made",
        ),
        (
            "no sidecar (an interrupted backup)",
            Box::new(|| {
                std::fs::write(volume.path(name), &original).unwrap();
                std::fs::remove_file(volume.path(&format!("{stamp}.json"))).unwrap();
            }),
            "has no catalogue entry",
        ),
    ];
    for (what, damage, reason) in refusals {
        damage();
        let named = run(RESTORE_SCRIPT, &db, &volume, &[("BACKUP_NAME", name)]);
        let error = named.failure(JobKind::Restore);
        assert!(
            error.starts_with(&format!("refusing to restore {name}: ")),
            "{what}: {error}"
        );
        assert!(error.contains(reason), "{what}: {error}");
        assert!(
            error.ends_with("the database was not touched"),
            "{what}: {error}"
        );
        let latest = run(RESTORE_SCRIPT, &db, &volume, &[]);
        let error = latest.failure(JobKind::Restore);
        assert!(
            error.starts_with("no verified backup in"),
            "{what}: {error}"
        );
        assert!(
            latest
                .stderr
                .contains(&format!("restore: skipping {name}: ")),
            "{what}: {latest:?}"
        );
        assert_eq!(db.snapshot(), before, "{what}: the database changed");
    }

    // A partial file is never a backup, even when named.
    let partial = format!(".{name}.partial");
    std::fs::write(volume.path(&partial), &original).unwrap();
    let error =
        run(RESTORE_SCRIPT, &db, &volume, &[("BACKUP_NAME", &partial)]).failure(JobKind::Restore);
    assert!(error.contains("not a backup name"), "{error}");
    assert_eq!(db.snapshot(), before);
}

#[test]
fn a_dump_without_the_completion_marker_is_never_kept() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let db = Database::create(server, "cut");
    let volume = Volume::new();
    // A mysqldump that stops half-way through and still says it succeeded.
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("mysqldump");
    std::fs::write(
        &fake,
        "#!/bin/sh\n[ \"$1\" = --help ] && exit 0\nprintf '%s\\n' '-- MySQL dump' 'CREATE TABLE t (a INT);' 'INSERT INTO t VALUES (1'\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let failed = run(BACKUP_SCRIPT, &db, &volume, &[("PATH", &path)]);
    let error = failed.failure(JobKind::Backup);
    assert_eq!(
        error,
        "the new dump failed verification: mysqldump's completion marker '-- Dump completed' is missing: the dump is incomplete"
    );
    assert!(volume.files().is_empty(), "{:?}", volume.files());
}

#[test]
fn restore_of_the_latest_passes_over_a_damaged_newer_backup_and_says_so() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let db = Database::create(server, "fallback");
    db.fill_texts();
    let volume = Volume::new();
    let older = backup(&db, &volume);
    let at_older = db.snapshot();
    db.sql("DELETE FROM texts WHERE id > 2");
    let newer = backup(&db, &volume);
    assert!(newer.backup > older.backup, "{newer:?} after {older:?}");
    let sql = gunzip(&std::fs::read(volume.path(&newer.backup)).unwrap());
    replace_content(&volume, &newer.backup, &gzip(&sql[..sql.len() - 100]));

    db.recreate_empty();
    let restored = run(RESTORE_SCRIPT, &db, &volume, &[]);
    let report = restored.restore();
    assert_eq!(report.backup, older.backup);
    assert_eq!(report.skipped, std::slice::from_ref(&newer.backup));
    assert!(
        restored.stderr.contains(&format!(
            "restore: skipping {}: mysqldump's completion marker",
            newer.backup
        )),
        "{restored:?}"
    );
    assert_eq!(db.snapshot(), at_older);
}

#[test]
fn retention_keeps_the_newest_verified_backups_and_prunes_the_rest() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let db = Database::create(server, "retention");
    db.sql("CREATE TABLE t (a INT); INSERT INTO t VALUES (1)");
    let volume = Volume::new();
    // An older catalogue: verified backups, an unverified one, a dump without a sidecar,
    // a sidecar without a dump, and a leftover partial file of a killed run.
    let seed = |stamp: &str, dump: bool, sidecar: Option<bool>| {
        if dump {
            std::fs::write(volume.path(&format!("{stamp}.sql.gz")), gzip(b"x")).unwrap();
        }
        if let Some(verified) = sidecar {
            let entry = BackupEntry {
                name: format!("{stamp}.sql.gz"),
                size: 21,
                sha256: "0".repeat(64),
                verified,
                database: db.name.clone(),
                created: "2020-01-01T00:00:00Z".into(),
                binlog: None,
            };
            std::fs::write(
                volume.path(&format!("{stamp}.json")),
                serde_json::to_string(&entry).unwrap(),
            )
            .unwrap();
        }
    };
    seed("20200101T000000Z", true, Some(true));
    seed("20200102T000000Z", true, Some(true));
    seed("20200103T000000Z", true, Some(true));
    seed("20200104T000000Z", true, None);
    seed("20200105T000000Z", true, Some(true));
    seed("20200106T000000Z", true, Some(false));
    seed("20191231T000000Z", false, Some(true));
    std::fs::write(volume.path(".20200107T000000Z.sql.gz.partial"), b"half").unwrap();

    let report = run(BACKUP_SCRIPT, &db, &volume, &[("RETENTION", "3")]).backup();

    // What the Rust side predicts from the catalogue (a dump with no sidecar is unverified;
    // a sidecar with no dump cannot be restored, so the script does not count it).
    let mut entries: Vec<BackupEntry> = [
        ("20191231T000000Z", false),
        ("20200101T000000Z", true),
        ("20200102T000000Z", true),
        ("20200103T000000Z", true),
        ("20200104T000000Z", false),
        ("20200105T000000Z", true),
        ("20200106T000000Z", false),
    ]
    .iter()
    .map(|(stamp, verified)| BackupEntry {
        name: format!("{stamp}.sql.gz"),
        size: 0,
        sha256: String::new(),
        verified: *verified,
        database: db.name.clone(),
        created: String::new(),
        binlog: None,
    })
    .collect();
    entries.push(report.entry());
    let predicted: Vec<String> = catalogue::to_prune(&entries, 3)
        .into_iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(
        predicted,
        [
            "20200102T000000Z.sql.gz",
            "20200101T000000Z.sql.gz",
            "20191231T000000Z.sql.gz"
        ]
    );
    assert_eq!(report.pruned, predicted);
    assert_eq!(report.retained, 3);
    let stamp = report.backup.strip_suffix(".sql.gz").unwrap();
    assert_eq!(
        volume.files(),
        [
            "20200103T000000Z.json",
            "20200103T000000Z.sql.gz",
            "20200104T000000Z.sql.gz",
            "20200105T000000Z.json",
            "20200105T000000Z.sql.gz",
            "20200106T000000Z.json",
            "20200106T000000Z.sql.gz",
            &format!("{stamp}.json"),
            &report.backup,
        ]
    );

    // Retention 1: only the newest backup stays.
    let last = run(BACKUP_SCRIPT, &db, &volume, &[("RETENTION", "1")]).backup();
    assert_eq!(last.retained, 1);
    assert_eq!(last.pruned.len(), 5, "{:?}", last.pruned);
    let stamp = last.backup.strip_suffix(".sql.gz").unwrap();
    assert_eq!(
        volume.files(),
        [format!("{stamp}.json"), last.backup.clone()]
    );
}

/// A MariaDB account for the test, dropped at the end.
struct User {
    server: &'static MariaDb,
    name: String,
}

impl User {
    /// A new account with `password` and what a backup of `db` needs.
    fn for_backups(server: &'static MariaDb, db: &Database, password: &str) -> Self {
        let user = User {
            server,
            name: format!("backup_{}_{}", std::process::id(), rand::random::<u32>()),
        };
        let literal = password.replace('\\', "\\\\").replace('\'', "\\'");
        server
            .query(&format!(
                "CREATE USER '{0}'@'%' IDENTIFIED BY '{literal}';
                 GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES, EVENT ON `{1}`.* TO '{0}'@'%';",
                user.name, db.name
            ))
            .expect("backup account");
        user
    }

    /// The backup script started as this account, `password` in its Job's environment.
    fn backs_up(&self, db: &Database, volume: &Volume, password: &str) -> Child {
        job(
            BACKUP_SCRIPT,
            db,
            volume,
            &[("MYSQL_USER", &self.name), ("CLIENT_PASSWORD", password)],
        )
        .spawn()
        .expect("sh starts")
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = self
            .server
            .query(&format!("DROP USER IF EXISTS '{}'@'%'", self.name));
    }
}

/// The option file escapes `\\` and `"` as the clients read them: an account whose
/// password has both backs up. (The product refuses such root passwords; the scripts do
/// not depend on that.)
#[test]
fn a_password_with_quote_and_backslash_reaches_the_tools_intact() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let db = Database::create(server, "escaped");
    db.sql("CREATE TABLE t (a INT); INSERT INTO t VALUES (1)");
    let password = format!(r#"Pw"q\b\\{:08x}$x`y"#, rand::random::<u32>());
    let user = User::for_backups(server, &db, &password);
    let volume = Volume::new();
    let child = user.backs_up(&db, &volume, &password);
    let run = finish(child, &volume);
    assert_eq!(run.code, Some(0), "{run:?}");
    run.backup();
    // The wrong password is refused: the file is what the tools log in with.
    let child = user.backs_up(&db, &volume, "not-it");
    let error = finish(child, &volume).failure(JobKind::Backup);
    assert!(error.contains("Access denied"), "{error}");
}

#[test]
fn the_password_is_not_in_the_process_list_while_the_dump_runs() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let db = Database::create(server, "secret");
    db.fill_texts();
    db.fill_big();
    let password = format!(
        "Pw-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    let user = User::for_backups(server, &db, &password);
    let volume = Volume::new();

    let child = user.backs_up(&db, &volume, &password);
    let mut child = child;
    let (mut scans, mut dump_seen, mut exposed) = (0, false, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("child").is_none() && Instant::now() < deadline {
        scans += 1;
        for (pid, cmdline) in command_lines() {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&password) {
                exposed.push(format!("{pid}: {cmdline}"));
            }
            if (cmdline.contains("mysqldump") || cmdline.contains("mariadb-dump"))
                && cmdline.contains(&db.name)
            {
                // The running tool: neither its arguments nor its environment hold the
                // password (no MYSQL_PWD, no CLIENT_PASSWORD); its first option names
                // the option file.
                let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
                    continue; // it ended meanwhile
                };
                dump_seen = true;
                let environ = String::from_utf8_lossy(&environ);
                if environ.contains(&password) {
                    exposed.push(format!("{pid}: environment of {cmdline}"));
                }
                assert!(!environ.contains("MYSQL_PWD="), "{cmdline}");
                let first = cmdline.split(' ').nth(1).unwrap_or_default();
                assert!(first.starts_with("--defaults-extra-file="), "{cmdline}");
            }
        }
    }
    let run = finish(child, &volume);
    let report = run.backup();
    assert!(exposed.is_empty(), "the password is visible: {exposed:?}");
    assert!(
        dump_seen,
        "the dump finished before any of {scans} scans saw it"
    );
    for text in [&run.stdout, &run.stderr, &run.termination] {
        assert!(!text.contains(&password));
    }
    // The option file: the owner's alone, in the Job's memory-backed directory.
    let option_file = volume.client_dir.join("client.cnf");
    let mode = std::fs::metadata(&option_file)
        .expect("option file")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_to_string(&option_file).expect("option file"),
        format!("[client]\npassword=\"{password}\"\n")
    );
    let sidecar =
        std::fs::read_to_string(volume.path(&catalogue::sidecar_name(&report.backup).unwrap()))
            .unwrap();
    assert!(!sidecar.contains(&password));
    // The account really needed its password: without it the dump is refused.
    let denied = run_without_password(&db, &volume, &user.name);
    assert!(denied.contains("Access denied"), "{denied}");
}

fn run_without_password(db: &Database, volume: &Volume, user: &str) -> String {
    let child = job(BACKUP_SCRIPT, db, volume, &[("MYSQL_USER", user)])
        .spawn()
        .expect("sh starts");
    finish(child, volume).failure(JobKind::Backup)
}

/// `/proc/<pid>/cmdline` of every process we can see.
fn command_lines() -> Vec<(u32, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((pid, std::fs::read(e.path().join("cmdline")).ok()?))
        })
        .collect()
}

#[test]
fn failures_are_one_clear_line_and_leave_nothing_behind() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let db = Database::create(server, "failures");
    db.sql("CREATE TABLE t (a INT); INSERT INTO t VALUES (1)");
    let volume = Volume::new();

    // The server unreachable: a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    // (It is waited for, SERVER_WAIT seconds, as a server restarting after a crash is.)
    let error = run(
        BACKUP_SCRIPT,
        &db,
        &volume,
        &[("MYSQL_PORT", &closed), ("SERVER_WAIT", "1")],
    )
    .failure(JobKind::Backup);
    assert!(
        error.starts_with(&format!(
            "the server at 127.0.0.1:{closed} does not take connections after 1 s: "
        )),
        "{error}"
    );
    assert!(error.contains("Can't connect"), "{error}");
    assert!(volume.files().is_empty(), "{:?}", volume.files());

    // A database that does not exist.
    let missing = Database {
        server,
        name: unique("missing"),
    };
    let error = run(BACKUP_SCRIPT, &missing, &volume, &[]).failure(JobKind::Backup);
    assert!(error.contains("Unknown database"), "{error}");
    assert!(volume.files().is_empty(), "{:?}", volume.files());

    // Settings the operator must give.
    for (env, expected) in [
        (
            ("RETENTION", ""),
            "RETENTION must be a number of backups to keep, at least 1, not ''",
        ),
        (("RETENTION", "0"), "RETENTION must be at least 1"),
        (
            ("MYSQL_DATABASE", "a;b"),
            "MYSQL_DATABASE must match ^[A-Za-z0-9_$-]{1,64}$",
        ),
        (
            ("MYSQL_DATABASE", "mysql`"),
            "MYSQL_DATABASE must match ^[A-Za-z0-9_$-]{1,64}$",
        ),
        (
            ("MYSQL_PORT", "33o6"),
            "MYSQL_PORT must be a port number, not '33o6'",
        ),
        (
            ("BACKUP_DIR", "/nonexistent/backup"),
            "the backup directory /nonexistent/backup does not exist",
        ),
    ] {
        let error = run(BACKUP_SCRIPT, &db, &volume, &[env]).failure(JobKind::Backup);
        assert_eq!(error, expected);
    }

    // Nothing to restore.
    let error = run(RESTORE_SCRIPT, &db, &volume, &[]).failure(JobKind::Restore);
    assert_eq!(
        error,
        format!(
            "no verified backup in {} to restore; the database was not touched",
            volume.dir.display()
        )
    );
    let error = run(
        RESTORE_SCRIPT,
        &db,
        &volume,
        &[("BACKUP_NAME", "20261123T101500Z")],
    )
    .failure(JobKind::Restore);
    assert!(
        error.contains("20261123T101500Z.sql.gz does not exist"),
        "{error}"
    );

    // A restore into a database that is not there fails, and says why.
    let good = backup(&db, &volume);
    let error = run(RESTORE_SCRIPT, &missing, &volume, &[]).failure(JobKind::Restore);
    assert!(
        error.starts_with(&format!(
            "mysql exited with status 1 loading {}: ",
            good.backup
        )),
        "{error}"
    );
    assert!(error.contains("Unknown database"), "{error}");
    assert_eq!(db.sql("SELECT a FROM t"), "1\n");
}

#[test]
fn a_backup_stopped_by_sigterm_says_so_and_leaves_no_partial_file() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let db = Database::create(server, "stopped");
    db.fill_big();
    let volume = Volume::new();
    let child = job(BACKUP_SCRIPT, &db, &volume, &[])
        .spawn()
        .expect("sh starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !volume.files().iter().any(|f| f.ends_with(".partial")) {
        assert!(Instant::now() < deadline, "no partial file appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    // What the kubelet sends at the Job's deadline or when the Job is deleted.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let error = finish(child, &volume).failure(JobKind::Backup);
    assert_eq!(
        error,
        "stopped by SIGTERM (the Job was deleted or ran past its deadline)"
    );
    assert!(volume.files().is_empty(), "{:?}", volume.files());
}

/// Seconds of one run of `command` (`sh -c`), which must succeed.
fn timed(mut command: Command) -> f64 {
    let started = Instant::now();
    let out = command.output().expect("runs");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Benchmark, not a test: `cargo test --test e2e backup_throughput -- --ignored --nocapture`.
#[test]
#[ignore = "a timed measurement: run with --ignored --nocapture"]
fn backup_throughput_vs_raw_mysqldump() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    const RUNS: usize = 5;
    let db = Database::create(server, "throughput");
    db.fill_big();
    let before = db.snapshot();
    let raw_dir = tempfile::tempdir().unwrap();
    let raw_file = raw_dir.path().join("raw.sql.gz");
    let raw_env = |command: &str| {
        let mut c = Command::new("sh");
        c.args(["-c", command])
            .env("H", &server.host)
            .env("P", server.port.to_string())
            .env("D", &db.name)
            .env("F", &raw_file);
        c
    };

    let raw_backup = median(
        (0..RUNS)
            .map(|_| {
                timed(raw_env(
                    r#"mysqldump --host="$H" --port="$P" --protocol=TCP --user=root "$D" | gzip > "$F""#,
                ))
            })
            .collect(),
    );
    let mut last_volume = None;
    let script_backup = median(
        (0..RUNS)
            .map(|_| {
                let volume = Volume::new();
                let secs = timed(job(BACKUP_SCRIPT, &db, &volume, &[]));
                last_volume = Some(volume);
                secs
            })
            .collect(),
    );
    let volume = last_volume.unwrap();
    let backup_name = volume
        .files()
        .into_iter()
        .find(|f| f.ends_with(".sql.gz"))
        .unwrap();
    let compressed = std::fs::metadata(volume.path(&backup_name)).unwrap().len();
    let sql_bytes = gunzip(&std::fs::read(volume.path(&backup_name)).unwrap()).len() as f64;

    let raw_restore = median(
        (0..RUNS)
            .map(|_| {
                db.recreate_empty();
                timed(raw_env(
                    r#"gzip -dc "$F" | mysql --host="$H" --port="$P" --protocol=TCP --user=root "$D""#,
                ))
            })
            .collect(),
    );
    assert_eq!(db.snapshot(), before);
    let script_restore = median(
        (0..RUNS)
            .map(|_| {
                db.recreate_empty();
                let mut c = job(RESTORE_SCRIPT, &db, &volume, &[]);
                c.stdout(Stdio::null());
                timed(c)
            })
            .collect(),
    );
    assert_eq!(db.snapshot(), before);

    let mb = sql_bytes / 1e6;
    println!(
        "\n100,000-row table: {mb:.1} MB of SQL, {:.1} MB gzipped; median of {RUNS} runs",
        compressed as f64 / 1e6
    );
    println!("{:<42} {:>8} {:>10}", "", "seconds", "MB/s (SQL)");
    for (what, secs) in [
        ("raw `mysqldump db | gzip > file`", raw_backup),
        ("backup script (dump+verify+sha256+prune)", script_backup),
        ("raw `gzip -dc file | mysql db`", raw_restore),
        ("restore script (verify+load)", script_restore),
    ] {
        println!("{what:<42} {secs:>8.3} {:>10.1}", mb / secs);
    }
    println!(
        "backup script / raw: {:.2}x the time; restore script / raw: {:.2}x the time",
        script_backup / raw_backup,
        script_restore / raw_restore
    );
}

// The delete-backup: from the data volume, with a temporary server the script starts on it
// (the Deployment and the password Secret may already be gone).

/// A MariaDB program, found where testkit finds the shared server's.
fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed"))
}

/// An instance's data volume: a data directory of its own, and the temp dir (`TMPDIR`) the
/// Job's script gets, to check it leaves nothing there.
struct DataVolume {
    _root: tempfile::TempDir,
    /// The volume's mount path, `MYSQL_DATADIR`.
    dir: PathBuf,
    tmp: PathBuf,
    /// For the throwaway server that puts data in.
    run: PathBuf,
}

impl DataVolume {
    /// An empty data volume.
    fn empty() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let (dir, tmp, run) = (
            root.path().join("data"),
            root.path().join("tmp"),
            root.path().join("run"),
        );
        for d in [&dir, &tmp, &run] {
            std::fs::create_dir(d).expect("dir");
        }
        DataVolume {
            _root: root,
            dir,
            tmp,
            run,
        }
    }

    /// What the instance's server leaves on its volume: a MariaDB data directory with
    /// `database` in it, filled by `fill` through a throwaway server that is then shut down.
    /// Returns the database's snapshot as that server saw it.
    fn initialised(database: &str, fill: &[&str]) -> (Self, BTreeMap<String, String>) {
        let volume = DataVolume::empty();
        let install = Command::new(program("mariadb-install-db"))
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", volume.dir.display()))
            .output()
            .expect("mariadb-install-db runs");
        assert!(
            install.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        let server = Throwaway::start(&volume);
        server.sql(
            None,
            &format!("CREATE DATABASE `{database}` CHARACTER SET utf8mb4"),
        );
        for sql in fill {
            server.sql(Some(database), sql);
        }
        let snapshot = snapshot_of(database, |sql| server.sql(Some(database), sql));
        server.stop();
        (volume, snapshot)
    }

    /// The names in the data directory, sorted.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .expect("the data directory is still there")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The command lines of the servers running on this data directory.
    fn servers(&self) -> Vec<String> {
        let datadir = format!("--datadir={}", self.dir.display());
        command_lines()
            .into_iter()
            .filter(|(_, cmdline)| {
                cmdline
                    .split(|b| *b == 0)
                    .any(|arg| arg == datadir.as_bytes())
            })
            .map(|(pid, cmdline)| {
                format!(
                    "{pid}: {}",
                    String::from_utf8_lossy(&cmdline).replace('\0', " ")
                )
            })
            .collect()
    }

    /// After a run: no server left on the directory, nothing left in the temp dir.
    fn assert_left_clean(&self) {
        assert_eq!(self.servers(), Vec::<String>::new(), "a server is left");
        let left: Vec<_> = std::fs::read_dir(&self.tmp)
            .expect("tmp")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    }

    /// The delete-backup Job's container: the data volume, the backup volume, no server
    /// address, no account, no password.
    fn job(&self, database: &str, volume: &Volume, env: &[(&str, &str)]) -> Command {
        let mut command = Command::new("sh");
        command
            .args(["-c", BACKUP_SCRIPT])
            .env("MYSQL_DATADIR", &self.dir)
            .env("MYSQL_DATABASE", database)
            .env("BACKUP_DIR", &volume.dir)
            .env("RETENTION", "7")
            .env("TERMINATION_LOG", &volume.termination_log)
            .env("CLIENT_DIR", &volume.client_dir)
            .env("TMPDIR", &self.tmp)
            .env("SERVER_TIMEOUT", "60")
            .env_remove("WIPE_DATADIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in [
            "MYSQL_HOST",
            "MYSQL_PORT",
            "MYSQL_USER",
            "CLIENT_PASSWORD",
            "BACKUP_NAME",
        ] {
            command.env_remove(var);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    fn run(&self, database: &str, volume: &Volume, env: &[(&str, &str)]) -> Run {
        let child = self.job(database, volume, env).spawn().expect("sh starts");
        finish(child, volume)
    }
}

/// A server the test starts on a data volume to put data in, as the instance's would:
/// no network, root without a password over its socket.
struct Throwaway {
    child: Child,
    socket: PathBuf,
}

impl Throwaway {
    fn start(volume: &DataVolume) -> Self {
        let socket = volume.run.join("fill.sock");
        let child = Command::new(program("mariadbd"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", volume.dir.display()))
            .args(["--user=root", "--skip-networking"])
            .arg(format!("--socket={}", socket.display()))
            .arg(format!(
                "--pid-file={}",
                volume.run.join("fill.pid").display()
            ))
            .arg(format!(
                "--log-error={}",
                volume.run.join("fill.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts");
        let mut server = Throwaway { child, socket };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.try_sql(None, "SELECT 1").is_err() {
            assert!(
                server.child.try_wait().expect("child").is_none(),
                "mariadbd exited: {}",
                std::fs::read_to_string(volume.run.join("fill.log")).unwrap_or_default()
            );
            assert!(Instant::now() < deadline, "mariadbd did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn try_sql(&self, database: Option<&str>, sql: &str) -> Result<String, String> {
        let mut command = Command::new(program("mariadb"));
        command
            .args(["--no-defaults", "--batch", "--skip-column-names", "-uroot"])
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-e", &format!("SET NAMES utf8mb4; {sql}")]);
        if let Some(db) = database {
            command.arg(format!("--database={db}"));
        }
        let out = command.output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    fn sql(&self, database: Option<&str>, sql: &str) -> String {
        self.try_sql(database, sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A clean shutdown, waited for: the data directory is consistent on disk.
    fn stop(mut self) {
        let out = Command::new(program("mariadb-admin"))
            .args(["--no-defaults", "-uroot"])
            .arg(format!("--socket={}", self.socket.display()))
            .arg("shutdown")
            .output()
            .expect("mariadb-admin runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status = self.child.wait().expect("mariadbd ends");
        assert!(status.success(), "mariadbd: {status}");
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn the_delete_backup_dumps_the_data_volume_with_a_temporary_server_then_empties_it() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let name = unique("datadir");
    let big = big_sql();
    let (data, before) = DataVolume::initialised(&name, &[TEXTS_SQL, &big]);
    assert!(before["texts as bytes"].contains(&hex("Привет, мир")));
    assert_eq!(before["table big"].split(' ').next(), Some("100000"));
    let volume = Volume::new();

    // A failed run first (a database the directory does not have): nothing is wiped, the
    // temporary server is stopped, and the directory stays usable (the next run dumps it).
    let error = data
        .run(&unique("absent"), &volume, &[("WIPE_DATADIR", "true")])
        .failure(JobKind::Backup);
    assert!(
        error.starts_with("mysqldump exited with status 2: "),
        "{error}"
    );
    assert!(error.contains("Unknown database"), "{error}");
    assert!(volume.files().is_empty(), "{:?}", volume.files());
    let files = data.files();
    assert!(
        ["ibdata1", "mysql"]
            .iter()
            .all(|f| files.iter().any(|x| x == f)),
        "{files:?}"
    );
    data.assert_left_clean();

    // The delete-backup, watched: a private server (no network, no grant tables, no option
    // files) runs on the directory while it dumps, and is gone when the script ends.
    let mut child = data
        .job(&name, &volume, &[("WIPE_DATADIR", "true")])
        .spawn()
        .expect("sh starts");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("child").is_none() && Instant::now() < deadline {
        for server in data.servers() {
            if !seen.contains(&server) {
                seen.push(server);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = finish(child, &volume);
    let report = run.backup();
    assert_eq!(seen.len(), 1, "one temporary server: {seen:?}");
    // In the Job it runs as the data directory's owner (mysql); here that is whoever ran
    // mariadb-install-db, and root must say so (mariadbd refuses root otherwise).
    let as_root = String::from_utf8_lossy(&Command::new("id").arg("-u").output().unwrap().stdout)
        .trim()
        == "0";
    let user = if as_root {
        " --user=root "
    } else {
        " --no-defaults "
    };
    for option in [
        " --no-defaults ",
        " --skip-networking ",
        " --skip-grant-tables ",
        user,
    ] {
        assert!(seen[0].contains(option), "{option}: {seen:?}");
    }
    assert!(!seen[0].contains("--port"), "{seen:?}");
    assert_eq!(report.source, catalogue::DumpSource::Datadir);
    assert!(report.wiped, "{run:?}");
    assert!(run.stdout.contains(r#","source":"datadir","wiped":true}"#));
    assert_eq!(report.database, name);
    assert_eq!((report.retained, report.pruned.len()), (1, 0));
    let stamp = report.backup.strip_suffix(".sql.gz").unwrap();
    assert_eq!(
        volume.files(),
        [format!("{stamp}.json"), report.backup.clone()]
    );
    // The same catalogue entry as a backup from the running server.
    assert_eq!(volume.entry(&report.backup), report.entry());
    let dump = std::fs::read(volume.path(&report.backup)).unwrap();
    assert_eq!(report.sha256, sha256(&dump));
    let sql = String::from_utf8(gunzip(&dump)).expect("the dump is UTF-8");
    assert!(!sql.contains("CREATE DATABASE"));

    // Emptied, the directory itself kept (it is the volume's mount point); nothing left.
    assert!(data.dir.is_dir());
    assert_eq!(data.files(), Vec::<String>::new());
    data.assert_left_clean();

    // The re-created instance's restore (from the running server, over the network) brings
    // back identical data.
    let db = Database {
        server,
        name: name.clone(),
    };
    db.recreate_empty();
    let restored = run_restore(&db, &volume);
    assert_eq!(restored.backup, report.backup);
    assert_eq!(db.snapshot(), before);
}

fn run_restore(db: &Database, volume: &Volume) -> catalogue::RestoreReport {
    run(RESTORE_SCRIPT, db, volume, &[]).restore()
}

#[test]
fn a_delete_backup_stopped_by_sigterm_stops_its_server_and_wipes_nothing() {
    let Some(_server) = require_mariadb!() else {
        return;
    };
    let name = unique("datadir-term");
    let big = big_sql();
    let (data, before) = DataVolume::initialised(&name, &[&big]);
    let volume = Volume::new();
    let child = data
        .job(&name, &volume, &[("WIPE_DATADIR", "true")])
        .spawn()
        .expect("sh starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !volume.files().iter().any(|f| f.ends_with(".partial")) {
        assert!(Instant::now() < deadline, "no partial file appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let error = finish(child, &volume).failure(JobKind::Backup);
    assert_eq!(
        error,
        "stopped by SIGTERM (the Job was deleted or ran past its deadline)"
    );
    assert!(volume.files().is_empty(), "{:?}", volume.files());
    data.assert_left_clean();
    // Not wiped, and shut down cleanly: a second run, without wiping, dumps the same data
    // and leaves the directory as it was.
    let again = data.run(&name, &volume, &[]).backup();
    assert_eq!(
        (again.source, again.wiped),
        (catalogue::DumpSource::Datadir, false)
    );
    assert!(data.files().iter().any(|f| f == "ibdata1"));
    data.assert_left_clean();
    let server = Throwaway::start(&data);
    assert_eq!(
        snapshot_of(&name, |sql| server.sql(Some(&name), sql)),
        before
    );
    server.stop();
}

#[test]
fn a_delete_backup_of_an_empty_or_foreign_data_directory_fails_clearly_and_touches_nothing() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let volume = Volume::new();
    let database = "otus-database";

    // Empty: no server ever initialised it.
    let data = DataVolume::empty();
    let error = data
        .run(database, &volume, &[("WIPE_DATADIR", "true")])
        .failure(JobKind::Backup);
    assert_eq!(
        error,
        format!(
            "the data directory {} is empty: no server ever initialised it, there is nothing to back up",
            data.dir.display()
        )
    );
    assert!(data.dir.is_dir());
    data.assert_left_clean();

    // Something else's files.
    std::fs::write(data.dir.join("notes.txt"), "not a database").unwrap();
    let error = data
        .run(database, &volume, &[("WIPE_DATADIR", "true")])
        .failure(JobKind::Backup);
    assert_eq!(
        error,
        format!(
            "{} is not a MySQL data directory: it has no mysql system schema",
            data.dir.display()
        )
    );
    assert_eq!(data.files(), ["notes.txt"]);
    data.assert_left_clean();

    // Garbage that looks like a data directory: the temporary server cannot start, says why,
    // and the files are all still there, unchanged.
    std::fs::create_dir(data.dir.join("mysql")).unwrap();
    let garbage: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(data.dir.join("ibdata1"), &garbage).unwrap();
    let error = data
        .run(database, &volume, &[("WIPE_DATADIR", "true")])
        .failure(JobKind::Backup);
    assert!(
        error.starts_with(&format!(
            "the temporary server on {} did not start (exit status ",
            data.dir.display()
        )),
        "{error}"
    );
    assert!(error.contains("InnoDB"), "{error}");
    assert_eq!(std::fs::read(data.dir.join("ibdata1")).unwrap(), garbage);
    assert_eq!(
        std::fs::read_to_string(data.dir.join("notes.txt")).unwrap(),
        "not a database"
    );
    assert!(data.dir.join("mysql").is_dir());
    assert!(volume.files().is_empty(), "{:?}", volume.files());
    data.assert_left_clean();

    // Settings the operator must get right.
    let missing = data.dir.join("absent");
    for (env, expected) in [
        (
            ("WIPE_DATADIR", "yes"),
            "WIPE_DATADIR must be true or false, not 'yes'".to_string(),
        ),
        (
            ("MYSQL_DATADIR", "var/lib/mysql"),
            "MYSQL_DATADIR must be an absolute path below /, not 'var/lib/mysql'".to_string(),
        ),
        (
            ("MYSQL_DATADIR", "/"),
            "MYSQL_DATADIR must be an absolute path below /, not '/'".to_string(),
        ),
        (
            ("MYSQL_DATADIR", missing.to_str().unwrap()),
            format!(
                "the data directory {} does not exist (is the data volume mounted?)",
                missing.display()
            ),
        ),
        (
            ("SERVER_TIMEOUT", "1m"),
            "SERVER_TIMEOUT must be a number of seconds, not '1m'".to_string(),
        ),
    ] {
        let error = data.run(database, &volume, &[env]).failure(JobKind::Backup);
        assert_eq!(error, expected);
    }
    // Only a backup from the data directory may empty it.
    let db = Database::create(server, "nowipe");
    let error =
        run(BACKUP_SCRIPT, &db, &volume, &[("WIPE_DATADIR", "true")]).failure(JobKind::Backup);
    assert_eq!(
        error,
        "WIPE_DATADIR=true needs MYSQL_DATADIR: only a backup from the data directory may empty it"
    );
    assert!(volume.files().is_empty(), "{:?}", volume.files());
    // From the running server the result line has no source fields, and says the
    // server's version (from the dump's header).
    let network = run(BACKUP_SCRIPT, &db, &volume, &[]);
    let report = network.backup();
    assert_eq!(
        (report.source, report.wiped),
        (catalogue::DumpSource::Server, false)
    );
    assert!(!network.stdout.contains("\"source\""), "{network:?}");
    let version = report.server_version.expect("the server's version");
    assert!(version.contains("MariaDB"), "{version}");
}

/// Backups and restores of one instance take turns on its backup volume, whoever started
/// them (on demand, the schedule, the deletion): a run that finds another holding it fails
/// at once, names the holder, and touches nothing, not even the holder's partial file. A
/// lock left by a holder killed outright (SIGKILL, a lost node) is taken over once it is
/// older than any Job may run.
#[test]
fn one_job_at_a_time_holds_the_backup_volume() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let db = Database::create(server, "turns");
    db.fill_big();
    let volume = Volume::new();
    let holder = job(
        BACKUP_SCRIPT,
        &db,
        &volume,
        &[("HOSTNAME", "backup-db-cron-29420100-x7k2p")],
    )
    .spawn()
    .expect("sh starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !volume.files().iter().any(|f| f.ends_with(".partial")) {
        assert!(Instant::now() < deadline, "no partial file appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    let during = volume.files();
    for (script, op) in [
        (BACKUP_SCRIPT, JobKind::Backup),
        (RESTORE_SCRIPT, JobKind::Restore),
    ] {
        let error = run(script, &db, &volume, &[]).failure(op);
        assert!(
            error.starts_with("the backup volume is busy: backup by pod backup-db-cron-29420100-x7k2p has held it for "),
            "{error}"
        );
        assert!(error.contains("try again once it ends"), "{error}");
        assert_eq!(volume.files(), during, "the busy run touched nothing");
    }
    let made = finish(holder, &volume).backup();
    assert_eq!(
        volume.files(),
        [
            catalogue::sidecar_name(&made.backup).expect("sidecar"),
            made.backup.clone()
        ],
        "the holder's lock went with it"
    );

    // Killed outright, a holder leaves its lock. A fresh one still holds...
    let lock = volume.path(".lock");
    std::fs::create_dir(&lock).expect("lock");
    std::fs::write(lock.join("holder"), "restore by pod restore-db-job-q8z4w\n").expect("holder");
    let error = run(BACKUP_SCRIPT, &db, &volume, &[]).failure(JobKind::Backup);
    assert!(
        error.starts_with("the backup volume is busy: restore by pod restore-db-job-q8z4w"),
        "{error}"
    );
    // ...one older than the longest Job deadline and its grace period is taken over.
    let aged = Command::new("touch")
        .args(["-d", "62 minutes ago"])
        .arg(&lock)
        .status()
        .expect("touch runs");
    assert!(aged.success());
    let taken = run(BACKUP_SCRIPT, &db, &volume, &[]);
    taken.backup();
    assert!(
        taken
            .stderr
            .contains("backup: taking over a stale lock of restore by pod restore-db-job-q8z4w ("),
        "{}",
        taken.stderr
    );
    assert!(!lock.exists(), "released after the run");
}
