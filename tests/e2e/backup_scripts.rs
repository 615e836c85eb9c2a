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
        self.sql(
            r#"CREATE TABLE texts (
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
               CREATE PROCEDURE count_texts() SELECT COUNT(*) FROM texts;"#,
        );
    }

    /// 100,000 rows in one statement (a cross join of digits: no recursion limits).
    fn fill_big(&self) {
        const DIGITS: &str = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
        self.sql(&format!(
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
        ));
        assert_eq!(self.sql("SELECT COUNT(*) FROM big").trim(), "100000");
    }

    /// Everything a restore must bring back: per table its row count and checksum, the
    /// text columns as bytes, and the views, triggers and routines.
    fn snapshot(&self) -> BTreeMap<String, String> {
        let mut snap = BTreeMap::new();
        let tables = self.sql(&format!(
            "SELECT table_name FROM information_schema.tables
             WHERE table_schema = '{}' AND table_type = 'BASE TABLE' ORDER BY table_name",
            self.name
        ));
        for table in tables.lines() {
            let count = self.sql(&format!("SELECT COUNT(*) FROM `{table}`"));
            let checksum = self.sql(&format!("CHECKSUM TABLE `{table}`"));
            let checksum = checksum.split('\t').nth(1).unwrap_or_default().trim();
            snap.insert(
                format!("table {table}"),
                format!("{} rows, checksum {checksum}", count.trim()),
            );
        }
        if tables.lines().any(|t| t == "texts") {
            snap.insert(
                "texts as bytes".into(),
                self.sql(
                    "SELECT id, HEX(title), HEX(body), HEX(raw), amount, at FROM texts ORDER BY id",
                ),
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
            snap.insert(kind.into(), self.sql(&query.replace("{}", &self.name)));
        }
        snap
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = self
            .server
            .query(&format!("DROP DATABASE IF EXISTS `{}`", self.name));
    }
}

/// A backup volume (a temp dir) and where the termination message goes.
struct Volume {
    _root: tempfile::TempDir,
    dir: PathBuf,
    termination_log: PathBuf,
}

impl Volume {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("backup");
        std::fs::create_dir(&dir).expect("backup dir");
        let termination_log = root.path().join("termination-log");
        Volume {
            dir,
            termination_log,
            _root: root,
        }
    }

    /// The file names in the backup directory, sorted.
    fn files(&self) -> Vec<String> {
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
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    termination: String,
}

impl Run {
    fn report(&self) -> JobReport {
        catalogue::parse_report(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}\nstdout: {}\nstderr: {}", self.stdout, self.stderr))
    }

    fn backup(&self) -> catalogue::BackupReport {
        assert_eq!(self.code, Some(0), "backup failed: {}", self.stderr);
        match self.report() {
            JobReport::Backup(report) => report,
            other => panic!("not a backup report: {other:?}"),
        }
    }

    fn restore(&self) -> catalogue::RestoreReport {
        assert_eq!(self.code, Some(0), "restore failed: {}", self.stderr);
        match self.report() {
            JobReport::Restore(report) => report,
            other => panic!("not a restore report: {other:?}"),
        }
    }

    /// The failure's cause, checked to be the same on stderr and in the termination log.
    fn failure(&self, op: JobKind) -> String {
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
        .env_remove("MYSQL_PWD")
        .env_remove("BACKUP_NAME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

fn finish(child: Child, volume: &Volume) -> Run {
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

impl Drop for User {
    fn drop(&mut self) {
        let _ = self
            .server
            .query(&format!("DROP USER IF EXISTS '{}'@'%'", self.name));
    }
}

#[test]
fn the_password_is_not_in_the_process_list_while_the_dump_runs() {
    let Some(server) = require_mariadb!() else {
        return;
    };
    let db = Database::create(server, "secret");
    db.fill_texts();
    db.fill_big();
    let user = User {
        server,
        name: format!("backup_{}_{}", std::process::id(), rand::random::<u32>()),
    };
    let password = format!(
        "Pw-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    server
        .query(&format!(
            "CREATE USER '{0}'@'%' IDENTIFIED BY '{password}';
             GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES, EVENT ON `{1}`.* TO '{0}'@'%';",
            user.name, db.name
        ))
        .expect("backup account");
    let volume = Volume::new();

    let child = job(
        BACKUP_SCRIPT,
        &db,
        &volume,
        &[("MYSQL_USER", &user.name), ("MYSQL_PWD", &password)],
    )
    .spawn()
    .expect("sh starts");
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
                dump_seen = true;
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
    let error =
        run(BACKUP_SCRIPT, &db, &volume, &[("MYSQL_PORT", &closed)]).failure(JobKind::Backup);
    assert!(
        error.starts_with("mysqldump exited with status 2: "),
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
