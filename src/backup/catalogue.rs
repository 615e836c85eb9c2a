//! The backup catalogue as data: backup names, the sidecar each verified backup gets, the
//! result line the Job scripts end with, and the choices the scripts make (latest verified
//! backup, what retention prunes), so the operator and the CLI agree with the volume.
//!
//! Pure: no clock (times are passed in), no I/O.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// How a dump's file name ends.
pub const DUMP_SUFFIX: &str = ".sql.gz";
/// How its sidecar's file name ends.
pub const SIDECAR_SUFFIX: &str = ".json";
/// Length of a stamp, `YYYYMMDDTHHMMSSZ`.
const STAMP_LEN: usize = 16;

/// What cannot be read as part of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error(
        "{0:?} is not a backup name: expected YYYYMMDDTHHMMSSZ.sql.gz (UTC), e.g. 20261123T101500Z.sql.gz"
    )]
    BadName(String),
    #[error("{what} is not a catalogue entry: {reason}")]
    BadEntry { what: String, reason: String },
    #[error("the Job printed no result line")]
    NoReport,
    #[error("the Job's result line is not understood: {0}")]
    BadReport(String),
}

/// The stamp of a backup made at `time`: UTC `YYYYMMDDTHHMMSSZ`, so names sort by time.
/// (Times before 1970 or after 9999 are not backup times.)
pub fn stamp(time: SystemTime) -> String {
    created(time).replace(['-', ':'], "")
}

/// The file name of a backup made at `time`: `<stamp>.sql.gz`.
pub fn backup_name(time: SystemTime) -> String {
    format!("{}{DUMP_SUFFIX}", stamp(time))
}

/// The `created` field of a backup made at `time`: RFC 3339, UTC, seconds.
pub fn created(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// The time a stamp (`YYYYMMDDTHHMMSSZ`) stands for, if it is one.
pub fn parse_stamp(stamp: &str) -> Option<SystemTime> {
    let b = stamp.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    if b.len() != STAMP_LEN || !digits(0..8) || b[8] != b'T' || !digits(9..15) || b[15] != b'Z' {
        return None;
    }
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15]
    );
    humantime::parse_rfc3339(&rfc).ok()
}

/// The canonical name of a backup the user named as `<stamp>` or `<stamp>.sql.gz`
/// (`restore --backup B`).
pub fn normalize_backup_name(input: &str) -> Result<String, CatalogueError> {
    let stamp = input.strip_suffix(DUMP_SUFFIX).unwrap_or(input);
    match parse_stamp(stamp) {
        Some(_) => Ok(format!("{stamp}{DUMP_SUFFIX}")),
        None => Err(CatalogueError::BadName(input.to_string())),
    }
}

/// The sidecar of a backup: `<stamp>.json` next to `<stamp>.sql.gz`.
pub fn sidecar_name(backup: &str) -> Result<String, CatalogueError> {
    let name = normalize_backup_name(backup)?;
    Ok(format!(
        "{}{SIDECAR_SUFFIX}",
        &name[..name.len() - DUMP_SUFFIX.len()]
    ))
}

/// One backup of the catalogue, as its sidecar `<stamp>.json` records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupEntry {
    /// `<stamp>.sql.gz`
    pub name: String,
    /// Bytes of the compressed dump.
    pub size: u64,
    /// sha256 of the compressed dump, lowercase hex.
    pub sha256: String,
    /// The dump decompressed and ended with mysqldump's completion marker when it was made.
    pub verified: bool,
    /// The database it is a dump of.
    pub database: String,
    /// When it was made, RFC 3339 UTC.
    pub created: String,
    /// With `spec.pitr`: where the binary log stood at the dump's snapshot, the point a
    /// restore to a later time replays from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog: Option<BinlogPosition>,
}

/// A dump's place in the binary log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinlogPosition {
    /// The binlog file (`binlog.000042`).
    pub file: String,
    /// The position in it: the first event not in the dump.
    pub pos: u64,
    /// Seconds since the epoch, once the dump was complete: its snapshot is older, so a
    /// restore to any later second may start from it.
    pub at: i64,
    /// The binlog history the position is in: a server that numbers its files from 1
    /// again (a new data directory) starts another, where the same names are other files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<String>,
}

/// The binary-log archive as a backup Job saw it, after its retention pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveReport {
    /// The oldest time a restore can reach (the oldest kept backup with a position),
    /// seconds since the epoch; `None` before such a backup exists.
    pub from: Option<i64>,
    /// The end of the newest archived binlog file: when it was closed.
    pub to: Option<i64>,
    /// Archived files.
    pub files: u32,
    /// Archived files this backup's retention removed.
    #[serde(default)]
    pub pruned: u32,
}

impl BackupEntry {
    /// Read a sidecar.
    pub fn parse(json: &str) -> Result<Self, CatalogueError> {
        let entry: Self = serde_json::from_str(json).map_err(|e| CatalogueError::BadEntry {
            what: json.trim().chars().take(200).collect(),
            reason: e.to_string(),
        })?;
        normalize_backup_name(&entry.name)?;
        Ok(entry)
    }

    /// `<stamp>` of `<stamp>.sql.gz`.
    pub fn stamp(&self) -> &str {
        self.name.strip_suffix(DUMP_SUFFIX).unwrap_or(&self.name)
    }

    /// The time the name stands for.
    pub fn time(&self) -> Option<SystemTime> {
        parse_stamp(self.stamp())
    }

    /// Whether a restore may consider it at all (the script re-checks the file itself).
    pub fn restorable(&self) -> bool {
        self.verified && self.time().is_some()
    }
}

/// The entries, newest first (names sort by time).
pub fn newest_first(entries: &[BackupEntry]) -> Vec<&BackupEntry> {
    let mut sorted: Vec<&BackupEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| b.name.cmp(&a.name));
    sorted
}

/// The backup a restore without `--backup` loads: the newest verified one. (The script
/// also skips one whose file no longer matches its sha256, and says so.)
pub fn latest_verified(entries: &[BackupEntry]) -> Option<&BackupEntry> {
    newest_first(entries)
        .into_iter()
        .find(|entry| entry.restorable())
}

/// What a backup's retention pass removes, as the script does it: going from the newest,
/// everything older than the `retention`-th verified backup (unverified entries newer than
/// that are left alone). `retention` is at least 1: the backup just made is always kept.
pub fn to_prune(entries: &[BackupEntry], retention: u32) -> Vec<&BackupEntry> {
    let retention = retention.max(1);
    let mut kept = 0;
    let mut pruned = Vec::new();
    for entry in newest_first(entries) {
        if kept >= retention {
            pruned.push(entry);
        } else if entry.restorable() {
            kept += 1;
        }
    }
    pruned
}

/// Which Job printed a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Backup,
    Restore,
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
        })
    }
}

/// Where a backup read the database from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpSource {
    /// The running server, over the network (a result line without `source`).
    #[default]
    Server,
    /// The data volume, through a temporary server the Job started on it (the delete-backup).
    Datadir,
}

/// A backup Job's result: the new catalogue entry and what retention removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupReport {
    pub backup: String,
    pub size: u64,
    pub sha256: String,
    pub verified: bool,
    pub database: String,
    pub created: String,
    /// Verified backups on the volume after pruning, this one included.
    pub retained: u32,
    /// Names removed by retention.
    #[serde(default)]
    pub pruned: Vec<String>,
    /// Where the dump came from.
    #[serde(default)]
    pub source: DumpSource,
    /// From the data directory with `WIPE_DATADIR=true`: it was emptied after the verified
    /// dump (a re-created instance starts from this backup, never from stale files).
    #[serde(default)]
    pub wiped: bool,
    /// The server's version, as the dump's header says (`9.7.0`, `10.11.6-MariaDB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// With `spec.pitr`: the dump's binlog position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog: Option<BinlogPosition>,
    /// With `spec.pitr`: the archive after this backup's retention pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pitr: Option<ArchiveReport>,
}

impl BackupReport {
    /// The catalogue entry of the new backup (what its sidecar says).
    pub fn entry(&self) -> BackupEntry {
        BackupEntry {
            name: self.backup.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            verified: self.verified,
            database: self.database.clone(),
            created: self.created.clone(),
            binlog: self.binlog.clone(),
        }
    }
}

/// A restore Job's result: which backup was loaded into which database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    pub backup: String,
    pub size: u64,
    pub sha256: String,
    pub database: String,
    /// Newer backups that failed verification and were passed over (worth an Event).
    #[serde(default)]
    pub skipped: Vec<String>,
    /// A restore to a point: the point (RFC 3339 UTC, or `FILE:POS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// A restore to a point: the archived binlog files replayed after the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlogs: Option<u32>,
    /// A restore to a point: where the replay started (the backup's position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_position: Option<String>,
    /// A restore to a point: the last file replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_binlog: Option<String>,
}

impl RestoreReport {
    /// In words: `20261205T030000Z.sql.gz` or `20261205T030000Z.sql.gz and 3 binlog files
    /// up to 2026-12-05T10:15:00Z`.
    pub fn summary(&self) -> String {
        match (&self.to, self.binlogs) {
            (Some(to), Some(files)) => format!(
                "{} and {files} binlog file{} up to {to}",
                self.backup,
                if files == 1 { "" } else { "s" }
            ),
            _ => self.backup.clone(),
        }
    }
}

/// A failed Job's one-line cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    pub op: JobKind,
    pub error: String,
}

/// What a Job's last line (its termination message) says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobReport {
    Backup(BackupReport),
    Restore(RestoreReport),
    Failed(JobFailure),
}

#[derive(Deserialize)]
struct Head {
    op: JobKind,
    ok: bool,
}

/// Read a Job's result from its termination message or its whole stdout: the last line
/// that is a JSON object with an `op`.
pub fn parse_report(output: &str) -> Result<JobReport, CatalogueError> {
    let line = output
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| line.starts_with('{') && line.contains("\"op\""))
        .ok_or(CatalogueError::NoReport)?;
    let bad = |e: serde_json::Error| CatalogueError::BadReport(format!("{e}: {line}"));
    let head: Head = serde_json::from_str(line).map_err(bad)?;
    Ok(match (head.ok, head.op) {
        (false, _) => JobReport::Failed(serde_json::from_str(line).map_err(bad)?),
        (true, JobKind::Backup) => JobReport::Backup(serde_json::from_str(line).map_err(bad)?),
        (true, JobKind::Restore) => JobReport::Restore(serde_json::from_str(line).map_err(bad)?),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// 2026-11-23T10:15:00Z
    const T: u64 = 1_795_428_900;

    fn entry(stamp: &str, verified: bool) -> BackupEntry {
        BackupEntry {
            name: format!("{stamp}.sql.gz"),
            size: 1234,
            sha256: "ab".repeat(32),
            verified,
            database: "otus-database".into(),
            created: "2026-11-23T10:15:00Z".into(),
            binlog: None,
        }
    }

    fn names<'a>(entries: impl IntoIterator<Item = &'a BackupEntry>) -> Vec<&'a str> {
        entries.into_iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn names_are_utc_stamps_that_sort_by_time() {
        assert_eq!(created(at(T)), "2026-11-23T10:15:00Z");
        assert_eq!(stamp(at(T)), "20261123T101500Z");
        assert_eq!(backup_name(at(T)), "20261123T101500Z.sql.gz");
        // Sub-second parts are dropped, not rounded.
        assert_eq!(
            backup_name(at(T) + Duration::from_millis(999)),
            "20261123T101500Z.sql.gz"
        );
        let times = [at(0), at(T - 86_400), at(T - 1), at(T), at(T + 3_600)];
        let mut by_name: Vec<String> = times.iter().map(|t| backup_name(*t)).collect();
        by_name.sort();
        let by_time: Vec<String> = times.iter().map(|t| backup_name(*t)).collect();
        assert_eq!(by_name, by_time);
        assert_eq!(backup_name(at(0)), "19700101T000000Z.sql.gz");
    }

    #[test]
    fn stamps_parse_back_to_their_time() {
        for t in [at(0), at(T), at(T + 59), at(4_102_444_799)] {
            assert_eq!(parse_stamp(&stamp(t)), Some(t));
        }
        for bad in [
            "",
            "20261123T101500",
            "20261123T101500z",
            "20261123 101500Z",
            "2026112T1015000Z",
            "20261323T101500Z",
            "20261123T251500Z",
            "20261123T10150٠Z",
            "../../etc/passwdZ",
        ] {
            assert_eq!(parse_stamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_user_may_name_a_backup_with_or_without_its_suffix() {
        assert_eq!(
            normalize_backup_name("20261123T101500Z").unwrap(),
            "20261123T101500Z.sql.gz"
        );
        assert_eq!(
            normalize_backup_name("20261123T101500Z.sql.gz").unwrap(),
            "20261123T101500Z.sql.gz"
        );
        for bad in [
            ".20261123T101500Z.sql.gz.partial",
            "20261123T101500Z.json",
            "latest",
            "../20261123T101500Z.sql.gz",
        ] {
            let err = normalize_backup_name(bad).unwrap_err();
            assert_eq!(err, CatalogueError::BadName(bad.into()));
            assert!(err.to_string().contains("YYYYMMDDTHHMMSSZ.sql.gz"), "{err}");
        }
        assert_eq!(
            sidecar_name("20261123T101500Z.sql.gz").unwrap(),
            "20261123T101500Z.json"
        );
    }

    #[test]
    fn a_sidecar_reads_as_an_entry() {
        let json = r#"{"name":"20261123T101500Z.sql.gz","size":1234,"sha256":"abababababababababababababababababababababababababababababababab","verified":true,"database":"otus-database","created":"2026-11-23T10:15:00Z"}"#;
        let e = BackupEntry::parse(json).unwrap();
        assert_eq!(e, entry("20261123T101500Z", true));
        assert_eq!(e.stamp(), "20261123T101500Z");
        assert_eq!(e.time(), Some(at(T)));
        assert_eq!(serde_json::to_string(&e).unwrap(), json);
        assert!(matches!(
            BackupEntry::parse(
                r#"{"name":"x.sql.gz","size":1,"sha256":"","verified":true,"database":"d","created":""}"#
            ),
            Err(CatalogueError::BadName(_))
        ));
        assert!(matches!(
            BackupEntry::parse(r#"{"name":"20261123T101500Z.sql.gz"}"#),
            Err(CatalogueError::BadEntry { .. })
        ));
    }

    #[test]
    fn the_latest_verified_backup_is_chosen() {
        let entries = vec![
            entry("20261121T000000Z", true),
            entry("20261123T000000Z", false),
            entry("20261122T000000Z", true),
            entry("20261120T000000Z", true),
        ];
        assert_eq!(
            latest_verified(&entries).map(|e| e.name.as_str()),
            Some("20261122T000000Z.sql.gz")
        );
        assert_eq!(
            names(newest_first(&entries)),
            [
                "20261123T000000Z.sql.gz",
                "20261122T000000Z.sql.gz",
                "20261121T000000Z.sql.gz",
                "20261120T000000Z.sql.gz"
            ]
        );
        assert_eq!(latest_verified(&[entry("20261123T000000Z", false)]), None);
        assert_eq!(latest_verified(&[]), None);
    }

    #[test]
    fn retention_keeps_the_newest_verified_backups() {
        let entries = vec![
            entry("20261120T000000Z", true),
            entry("20261121T000000Z", true),
            entry("20261122T000000Z", false),
            entry("20261123T000000Z", true),
            entry("20261124T000000Z", true),
            entry("20261119T000000Z", false),
        ];
        assert_eq!(
            names(to_prune(&entries, 2)),
            [
                // The unverified 20261122 is older than the 2nd newest verified one.
                "20261122T000000Z.sql.gz",
                "20261121T000000Z.sql.gz",
                "20261120T000000Z.sql.gz",
                "20261119T000000Z.sql.gz"
            ]
        );
        assert_eq!(
            names(to_prune(&entries, 3)),
            ["20261120T000000Z.sql.gz", "20261119T000000Z.sql.gz"]
        );
        assert_eq!(names(to_prune(&entries, 4)), ["20261119T000000Z.sql.gz"]);
        assert!(to_prune(&entries, 5).is_empty());
        // Zero would remove the backup just made: it means 1.
        assert_eq!(to_prune(&entries, 0), to_prune(&entries, 1));
        assert_eq!(to_prune(&entries, 1).len(), 5);
    }

    #[test]
    fn result_lines_parse() {
        let out = "some log line\n{\"op\":\"backup\",\"ok\":true,\"backup\":\"20261123T101500Z.sql.gz\",\"size\":1234,\"sha256\":\"abababababababababababababababababababababababababababababababab\",\"verified\":true,\"database\":\"otus-database\",\"created\":\"2026-11-23T10:15:00Z\",\"retained\":3,\"pruned\":[\"20261120T000000Z.sql.gz\"]}\n\n";
        let JobReport::Backup(report) = parse_report(out).unwrap() else {
            panic!("a backup report")
        };
        assert_eq!(report.retained, 3);
        assert_eq!(report.pruned, ["20261120T000000Z.sql.gz"]);
        assert_eq!(report.entry(), entry("20261123T101500Z", true));
        assert_eq!((report.source, report.wiped), (DumpSource::Server, false));

        // The delete-backup, from the data volume, says so and whether it emptied it.
        let out = "{\"op\":\"backup\",\"ok\":true,\"backup\":\"20261123T101500Z.sql.gz\",\"size\":1234,\"sha256\":\"abababababababababababababababababababababababababababababababab\",\"verified\":true,\"database\":\"otus-database\",\"created\":\"2026-11-23T10:15:00Z\",\"retained\":1,\"pruned\":[],\"source\":\"datadir\",\"wiped\":true}";
        let JobReport::Backup(report) = parse_report(out).unwrap() else {
            panic!("a backup report")
        };
        assert_eq!((report.source, report.wiped), (DumpSource::Datadir, true));
        assert_eq!(report.entry(), entry("20261123T101500Z", true));
        assert!(matches!(
            parse_report(&out.replace("datadir", "tape")),
            Err(CatalogueError::BadReport(_))
        ));

        let out = r#"{"op":"restore","ok":true,"backup":"20261123T101500Z.sql.gz","size":5,"sha256":"00","database":"d","skipped":[]}"#;
        assert_eq!(
            parse_report(out).unwrap(),
            JobReport::Restore(RestoreReport {
                backup: "20261123T101500Z.sql.gz".into(),
                size: 5,
                sha256: "00".into(),
                database: "d".into(),
                skipped: vec![],
                to: None,
                binlogs: None,
                from_position: None,
                last_binlog: None,
            })
        );

        // A restore to a point says what it replayed.
        let out = r#"{"op":"restore","ok":true,"backup":"20261123T101500Z.sql.gz","size":5,"sha256":"00","database":"d","skipped":[],"to":"2026-11-23T11:00:00Z","binlogs":3,"from_position":"binlog.000002:1019","last_binlog":"binlog.000004"}"#;
        let JobReport::Restore(report) = parse_report(out).unwrap() else {
            panic!("a restore")
        };
        assert_eq!(
            report.summary(),
            "20261123T101500Z.sql.gz and 3 binlog files up to 2026-11-23T11:00:00Z"
        );
        assert_eq!(report.from_position.as_deref(), Some("binlog.000002:1019"));

        let out = r#"{"op":"restore","ok":false,"error":"no verified backup in /backup to restore; the database was not touched"}"#;
        let JobReport::Failed(failure) = parse_report(out).unwrap() else {
            panic!("a failure")
        };
        assert_eq!(failure.op, JobKind::Restore);
        assert!(failure.error.starts_with("no verified backup"));

        assert_eq!(parse_report(""), Err(CatalogueError::NoReport));
        assert_eq!(
            parse_report("mysqldump: Got error\n"),
            Err(CatalogueError::NoReport)
        );
        assert!(matches!(
            parse_report(r#"{"op":"backup","ok":true}"#),
            Err(CatalogueError::BadReport(_))
        ));
        assert!(matches!(
            parse_report(r#"{"op":"upgrade","ok":true}"#),
            Err(CatalogueError::BadReport(_))
        ));
    }
}
