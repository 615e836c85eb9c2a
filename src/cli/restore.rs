//! `kubectl mysql restore NAME [--backup B]`: load the latest verified backup, or a named
//! one, into the instance's database.

use std::time::Duration;

use clap::Args;

use super::{CLI_REPORTER, Failure, GlobalArgs, follow, instance, kubeconfig};
use crate::backup::{JobReport, normalize_backup_name};
use crate::reconcile::Context;
use crate::reconcile::ondemand::{self, Operation, Start};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # Load the latest verified backup of the seed's instance
  kubectl mysql restore mysql-instance --wait

  # Load one backup (names as `kubectl mysql status mysql-instance` lists them; the
  # .sql.gz may be left off)
  kubectl mysql restore mysql-instance --backup 20261123T101500Z.sql.gz --wait")]
pub struct RestoreArgs {
    /// The instance to restore into
    name: String,
    /// The backup to load (default: the latest verified one)
    #[arg(long, value_name = "BACKUP")]
    backup: Option<String>,
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
                format!("invalid backup name {b:?}: {e}"),
                "use a name from `kubectl mysql status NAME`, e.g. 20261123T101500Z",
            )
        })?),
        None => None,
    };
    let (client, namespace) = kubeconfig::client(global, Some(Duration::from_secs(30))).await?;
    let (mysql, instance) = instance::load(&client, &namespace, &args.name).await?;
    let ctx = Context::new(client.clone(), CLI_REPORTER);
    let job = match ondemand::start(&ctx, &instance, &Operation::Restore(backup)).await? {
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
            println!("restored {} into database {:?}", r.backup, r.database);
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
