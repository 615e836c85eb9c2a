//! `kubectl mysql restore NAME [--backup B | --to TIME | --to-position FILE:POS]`: load
//! the latest verified backup, or a named one, into the instance's database; or, with
//! `spec.pitr`, the newest backup before a point and the archived binary log up to it.

use std::time::Duration;

use clap::Args;

use super::{CLI_REPORTER, Failure, GlobalArgs, follow, instance, kubeconfig};
use jiff::Timestamp;

use crate::backup::{JobReport, RestorePoint, normalize_backup_name};
use crate::reconcile::Context;
use crate::reconcile::ondemand::{self, Operation, Start};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # Load the latest verified backup of the seed's instance
  kubectl mysql restore mysql-instance --wait

  # Load one backup (names as `kubectl mysql status mysql-instance` lists them; the
  # .sql.gz may be left off)
  kubectl mysql restore mysql-instance --backup 20261123T101500Z.sql.gz --wait

  # With spec.pitr: the database as it was just before 10:15:00 UTC (`status` shows the
  # restorable window)
  kubectl mysql restore mysql-instance --to 2026-12-05T10:15:00Z --wait

  # Up to a binlog position, e.g. just before a bad statement `mysqlbinlog` shows at 1234
  kubectl mysql restore mysql-instance --to-position binlog.000042:1234 --wait")]
pub struct RestoreArgs {
    /// The instance to restore into
    name: String,
    /// The backup to load (default: the latest verified one)
    #[arg(long, value_name = "BACKUP", conflicts_with_all = ["to", "to_position"])]
    backup: Option<String>,
    /// Restore to this time (RFC 3339, e.g. 2026-12-05T10:15:00Z): the newest backup
    /// before it, then the archived binary log up to it; events of that second are left out
    #[arg(long, value_name = "TIME", conflicts_with = "to_position")]
    to: Option<String>,
    /// Restore up to this binlog position, FILE:POS (the event at POS is left out)
    #[arg(long, value_name = "POSITION")]
    to_position: Option<String>,
    /// Wait until the restore is done
    #[arg(long)]
    wait: bool,
    /// How long --wait waits, e.g. 90s or 1h
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

pub async fn run(global: &GlobalArgs, args: RestoreArgs) -> anyhow::Result<()> {
    let backup = match &args.backup {
        Some(b) => Some(normalize_backup_name(b).map_err(|e| {
            Failure::new(
                format!("--backup {e}"),
                "use a name from `kubectl mysql status NAME`, e.g. 20261123T101500Z",
            )
        })?),
        None => None,
    };
    let point = match (&args.to, &args.to_position) {
        (Some(time), _) => Some(RestorePoint::time(time, Timestamp::now()).map_err(|e| {
            Failure::new(
                format!("invalid --to: {e}"),
                "`kubectl mysql status NAME` shows the restorable window",
            )
        })?),
        (None, Some(position)) => Some(RestorePoint::position(position).map_err(|e| {
            Failure::new(
                format!("invalid --to-position: {e}"),
                "`kubectl mysql status NAME` shows the restorable window",
            )
        })?),
        (None, None) => None,
    };
    let (client, namespace) = kubeconfig::client(global, Some(Duration::from_secs(30))).await?;
    let (mysql, instance) = instance::load(&client, &namespace, &args.name).await?;
    let operation = match point {
        Some(_) if instance.pitr.is_none() => {
            return Err(Failure::new(
                format!(
                    "MySQL {} does not archive its binary log, so it cannot be restored to a point",
                    args.name
                ),
                format!(
                    "set spec.pitr: true (`kubectl patch mysql {} --type merge -p '{{\"spec\":{{\"pitr\":true}}}}'`), then take a backup; restores can reach any time after it",
                    args.name
                ),
            )
            .into());
        }
        Some(point) => Operation::RestoreTo(point),
        None => {
            check_catalogued(&client, &namespace, &args.name, backup.as_deref()).await?;
            Operation::Restore(backup)
        }
    };
    let ctx = Context::new(client.clone(), CLI_REPORTER);
    let job = match ondemand::start(&ctx, &instance, &operation).await? {
        Start::Started(job) => job,
        Start::Busy(job) => {
            return Err(Failure::new(
                format!("Job {job} of {} is still running", args.name),
                "a backup and a restore never run at once: wait for it and try again",
            )
            .into());
        }
        // Only a backup needs a slot of the backup pool.
        Start::NoSlot(running) => {
            return Err(Failure::new(
                format!("{running} backups are running"),
                "wait for one to finish and try again",
            )
            .into());
        }
    };
    if !args.wait {
        println!("job.batch/{job} started");
        return Ok(());
    }
    match follow::job(&ctx, &mysql, &instance, &job, args.timeout).await? {
        JobReport::Restore(r) => {
            println!("restored {} into database {:?}", r.summary(), r.database);
            if !r.skipped.is_empty() {
                eprintln!(
                    "skipped newer backups that failed verification: {}",
                    r.skipped.join(", ")
                );
            }
            Ok(())
        }
        other => Err(Failure::new(
            format!("unexpected result of {job}: {other:?}"),
            "see `kubectl mysql status`",
        )
        .into()),
    }
}

/// The backup to load is in the instance's catalogue and verified (a named one, or any
/// for the latest), so no Job starts for a backup that is not there or that a restore
/// must never load. The catalogue is what the operator's restore-on-create goes by too.
async fn check_catalogued(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    backup: Option<&str>,
) -> anyhow::Result<()> {
    let entries = crate::reconcile::catalogue::read(client, namespace, name).await?;
    let hint = format!(
        "`kubectl mysql status {name}` lists its backups; leave --backup out to load the latest verified one"
    );
    let take_one = format!("take one first: `kubectl mysql backup {name} --wait`");
    let Some(backup) = backup else {
        return match crate::backup::latest_verified(&entries) {
            Some(_) => Ok(()),
            None => Err(Failure::new(
                format!(
                    "MySQL {name:?} has no verified backup to restore ({} backups)",
                    entries.len()
                ),
                take_one,
            )
            .into()),
        };
    };
    match entries.iter().find(|e| e.name == backup) {
        Some(entry) if entry.restorable() => Ok(()),
        Some(_) => Err(Failure::new(
            format!(
                "backup {backup} of MySQL {name:?} did not pass verification, so it is never loaded"
            ),
            hint,
        )
        .into()),
        None if entries.is_empty() => Err(Failure::new(
            format!("MySQL {name:?} has no backups, so there is no {backup} to restore"),
            take_one,
        )
        .into()),
        None => Err(Failure::new(
            format!(
                "MySQL {name:?} has no backup {backup} ({} backups, the newest {})",
                entries.len(),
                crate::backup::catalogue::newest_first(&entries)
                    .first()
                    .map(|e| e.name.as_str())
                    .unwrap_or_default()
            ),
            hint,
        )
        .into()),
    }
}
