//! Backups and restores of an instance's database: the Job scripts (shell text the
//! operator puts in the Job containers, byte for byte) and the catalogue they keep on the
//! backup volume (timestamped, verified, checksummed dumps with a retention count). A
//! backup reads the running server, or (the delete-backup) the data volume through a
//! temporary server, and may then empty the data directory.
//!
//! No Kubernetes client here: the Jobs that run the scripts and the record of the
//! catalogue in the cluster are built on top of this.

pub mod catalogue;
pub mod options;
pub mod point;
pub mod scripts;

pub use catalogue::{
    ArchiveReport, BackupEntry, BackupReport, BinlogPosition, CatalogueError, DumpSource,
    JobFailure, JobKind, JobReport, RestoreReport, backup_name, latest_verified,
    normalize_backup_name, parse_report, to_prune,
};
pub use point::{PointError, RestorePoint};
pub use scripts::{ARCHIVE_SCRIPT, BACKUP_SCRIPT, RESTORE_SCRIPT};
