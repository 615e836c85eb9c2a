//! `kubectl-mysql run-operator`: the watch loop, in a cluster or from a laptop.

use clap::{Args, ValueEnum};

use super::{Failure, GlobalArgs, kubeconfig};
use crate::operator::{self, Scope};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # Watch every namespace (the default), as the in-cluster Deployment does
  kubectl-mysql run-operator

  # Watch one namespace, with JSON logs
  kubectl mysql run-operator -n shop --log-format json")]
pub struct RunOperatorArgs {
    /// Watch every namespace (the default unless -n names one)
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    all_namespaces: bool,

    /// Log format: text for people, json for log collectors
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(
        |_| // Targets match by prefix: "kube" would also silence "kubectl_mysql".
        tracing_subscriber::EnvFilter::new("info,kube_client=warn,kube_runtime=warn"),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Resolves on Ctrl-C or SIGTERM (what a pod gets on shutdown).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing reconciles in flight");
}

pub async fn run(global: &GlobalArgs, args: RunOperatorArgs) -> anyhow::Result<()> {
    init_logs(args.log_format);
    let (client, _) = kubeconfig::client(global, None).await?;
    let scope = match (&global.namespace, args.all_namespaces) {
        (Some(ns), false) => Scope::Namespace(ns.clone()),
        _ => Scope::All,
    };
    // Events name the reporting instance: the pod's name in a cluster.
    let instance = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "kubectl-mysql".into());
    client.apiserver_version().await.map_err(|e| {
        Failure::new(
            format!("the cluster does not answer: {e}"),
            "check the kubeconfig (`kubectl get ns`) or run the operator inside the cluster",
        )
    })?;
    tracing::info!(scope = ?scope, "operator started");
    operator::run(client, scope, &instance, shutdown_signal()).await;
    tracing::info!("operator stopped");
    Ok(())
}
