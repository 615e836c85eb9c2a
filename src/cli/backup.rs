//! `kubectl mysql backup NAME`: an on-demand backup, with progress; prints the backup's
//! name and size.

use std::time::Duration;

use clap::Args;

use super::{Failure, GlobalArgs, follow, instance, kubeconfig};
use crate::backup::JobReport;
use crate::reconcile::ondemand::{self, Operation, Start};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # Back up the seed's instance and wait for the verified dump; prints its name and size:
  #   backup 20261123T101500Z.sql.gz (520 bytes, sha256 892aae20...)
  kubectl mysql backup mysql-instance --wait

  # Start the backup Job and return; `kubectl mysql status mysql-instance` lists the backups
  kubectl mysql backup mysql-instance")]
pub struct BackupArgs {
    /// The instance to back up
    name: String,
    /// Wait until the backup is verified and recorded
    #[arg(long)]
    wait: bool,
    /// How long --wait waits, e.g. 90s or 30m
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

pub async fn run(global: &GlobalArgs, args: BackupArgs) -> anyhow::Result<()> {
    let (client, namespace) = kubeconfig::client(global, Some(Duration::from_secs(30))).await?;
    let (mysql, instance) = instance::load(&client, &namespace, &args.name).await?;
    let job = match ondemand::start(&client, &instance, &Operation::Backup).await? {
        Start::Started(job) => job,
        Start::Busy(job) => {
            return Err(Failure::new(
                format!("Job {job} of {} is still running", args.name),
                "a backup and a restore never run at once: wait for it (`kubectl mysql status NAME`) and try again",
            )
            .into());
        }
    };
    if !args.wait {
        println!("job.batch/{job} started");
        return Ok(());
    }
    let report = follow::job(&client, &mysql, &instance, &job, args.timeout).await?;
    match report {
        JobReport::Backup(b) => {
            println!(
                "backup {} ({} bytes, sha256 {})",
                b.backup, b.size, b.sha256
            );
            Ok(())
        }
        other => Err(Failure::new(
            format!("unexpected result of {job}: {other:?}"),
            "see `kubectl mysql status`",
        )
        .into()),
    }
}
