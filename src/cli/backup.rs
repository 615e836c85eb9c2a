//! `kubectl mysql backup NAME`: an on-demand backup, with progress; prints the backup's
//! name and size.

use std::time::Duration;

use clap::Args;

use super::progress::Progress;
use super::{CLI_REPORTER, Failure, GlobalArgs, follow, instance, kubeconfig};
use crate::backup::JobReport;
use crate::reconcile::Context;
use crate::reconcile::ondemand::{self, Operation, Start};
use crate::reconcile::pool::DEFAULT_MAX_CONCURRENT_BACKUPS;

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
    /// Backup Jobs that may run at once in the namespace; with all taken, --wait waits for one
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONCURRENT_BACKUPS, value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent_backups: u16,
}

pub async fn run(global: &GlobalArgs, args: BackupArgs) -> anyhow::Result<()> {
    let (client, namespace) = kubeconfig::client(global, Some(Duration::from_secs(30))).await?;
    let (mysql, instance) = instance::load(&client, &namespace, &args.name).await?;
    let mut ctx = Context::new(client.clone(), CLI_REPORTER);
    ctx.max_concurrent_backups = usize::from(args.max_concurrent_backups);
    let limit = args.max_concurrent_backups;
    let deadline = tokio::time::Instant::now() + args.timeout;
    let mut waiting: Option<Progress> = None;
    let job = loop {
        match ondemand::start(&ctx, &instance, &Operation::Backup).await? {
            Start::Started(job) => break job,
            Start::Busy(job) => {
                return Err(Failure::new(
                    format!("Job {job} of {} is still running", args.name),
                    "a backup and a restore never run at once: wait for it (`kubectl mysql status NAME`) and try again",
                )
                .into());
            }
            Start::NoSlot(running) if args.wait && tokio::time::Instant::now() < deadline => {
                let step = format!(
                    "{}: waiting for a backup slot ({running} of {limit} backups running in {namespace})",
                    args.name
                );
                waiting
                    .get_or_insert_with(|| Progress::start(&step))
                    .step(&step);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Start::NoSlot(running) => {
                return Err(Failure::new(
                    format!("{running} backups are running in namespace {namespace:?}, the limit is {limit} (--max-concurrent-backups)"),
                    "wait for one to finish (`kubectl mysql status`), or add --wait to wait for a slot",
                )
                .into());
            }
        }
    };
    if let Some(progress) = waiting {
        progress.finish(&format!("{}: a backup slot is free", args.name));
    }
    if !args.wait {
        println!("job.batch/{job} started");
        return Ok(());
    }
    let report = follow::job(&ctx, &mysql, &instance, &job, args.timeout).await?;
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
