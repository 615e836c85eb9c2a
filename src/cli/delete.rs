//! `kubectl mysql delete NAME [--skip-backup]`: back up, then delete, as the finalizer
//! does; with --wait the CLI drives the finalizer itself, so no operator is needed.

use std::time::Duration;

use clap::Args;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::progress::Progress;
use super::{CLI_REPORTER, Failure, GlobalArgs, follow, kubeconfig};
use crate::crd::{MySQL, Phase};
use crate::reconcile::lifecycle::NAMESPACE_TERMINATING;
use crate::reconcile::{Context, SKIP_BACKUP, reconcile};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # Back up the seed's instance, then delete it and its data volume (backups stay)
  kubectl mysql delete mysql-instance --wait

  # A backup that cannot succeed blocks deletion; delete without it
  kubectl mysql delete mysql-instance --skip-backup --wait")]
pub struct DeleteArgs {
    /// The instance to delete
    name: String,
    /// Delete without the backup (the data volume goes with it)
    #[arg(long)]
    skip_backup: bool,
    /// Wait until the instance is gone
    #[arg(long)]
    wait: bool,
    /// How long --wait waits
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

pub async fn run(global: &GlobalArgs, args: DeleteArgs) -> anyhow::Result<()> {
    let (client, namespace) = kubeconfig::client(global, Some(Duration::from_secs(30))).await?;
    let api: Api<MySQL> = Api::namespaced(client.clone(), &namespace);
    let name = &args.name;
    if api
        .get_opt(name)
        .await
        .map_err(|e| crate::Error::api(format!("read MySQL {name}"), e))?
        .is_none()
    {
        return Err(Failure::new(
            format!("MySQL {name:?} not found in namespace {namespace:?}"),
            format!("`kubectl mysql status -n {namespace}` lists the instances"),
        )
        .into());
    }
    if args.skip_backup {
        eprintln!(
            "skipping the backup: the data volume of {name} is deleted without a new backup (earlier backups stay)"
        );
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {SKIP_BACKUP: "true"}}})),
        )
        .await
        .map_err(|e| crate::Error::api(format!("mark MySQL {name} to skip the backup"), e))?;
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        // Gone meanwhile: the operator may finish a deletion that was already under way
        // (a namespace being deleted) as soon as it sees --skip-backup. Gone is what was asked.
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(crate::Error::api(format!("delete MySQL {name}"), e).into()),
    }
    if !args.wait {
        println!(
            "mysql.otus.homework/{name} deleted (the backup and cleanup run behind the finalizer)"
        );
        return Ok(());
    }
    let ctx = Context::new(client.clone(), CLI_REPORTER);
    let progress = Progress::start(&format!("deleting {name}"));
    let deadline = tokio::time::Instant::now() + args.timeout;
    loop {
        let read = follow::look(&progress, deadline, || async {
            api.get_opt(name)
                .await
                .map_err(|e| crate::Error::api(format!("read MySQL {name}"), e))
        })
        .await?;
        let Some(current) = read else {
            progress.finish(&if args.skip_backup {
                format!("{name}: data volume removed without a backup")
            } else {
                format!("{name}: backed up, data volume removed")
            });
            println!("mysql.otus.homework/{name} deleted");
            return Ok(());
        };
        let outcome = follow::look(&progress, deadline, || reconcile(&current, &ctx)).await?;
        // What this reconcile left in the status (the object read before it still says
        // what the instance was doing before the delete).
        let status = match api.get_opt(name).await {
            // Gone: the next look says so.
            Ok(None) => continue,
            Ok(Some(after)) => after.status.unwrap_or_default(),
            Err(_) => Default::default(),
        };
        let message = status.message.clone().unwrap_or_default();
        let namespace_terminating = status
            .conditions
            .iter()
            .any(|c| c.reason == NAMESPACE_TERMINATING && c.status == "True");
        progress.step(&if message.is_empty() {
            format!("{:?}", outcome.phase)
        } else {
            format!("{:?}: {message}", outcome.phase)
        });
        if outcome.phase == Phase::Failed {
            progress.abandon();
            // The namespace going under it is no cause to fix: only the skip lets it go.
            let hint = if namespace_terminating {
                format!(
                    "namespace {namespace} is being deleted and waits for {name}: `kubectl mysql delete {name} -n {namespace} --skip-backup` lets it go; the rows written since the last backup are then lost"
                )
            } else {
                format!(
                    "nothing was lost; fix the cause, or `kubectl mysql delete {name} --skip-backup`"
                )
            };
            return Err(
                Failure::new(format!("MySQL {name:?} is not deleted: {message}"), hint).into(),
            );
        }
        if tokio::time::Instant::now() >= deadline {
            progress.abandon();
            return Err(Failure::new(
                format!(
                    "MySQL {name:?} is still being deleted after {}",
                    humantime::format_duration(args.timeout)
                ),
                format!("see `kubectl mysql status {name}`"),
            )
            .into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
