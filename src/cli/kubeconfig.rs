//! Reading the kubeconfig the way kubectl does, for the parts that need no cluster.

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::{Failure, GlobalArgs};

/// A client for the cluster the kubeconfig names (`--kubeconfig`, `--context` as kubectl
/// reads them; in a pod, the service account), with `timeout` on every request, and the
/// namespace commands work in.
pub async fn client(
    global: &GlobalArgs,
    timeout: Option<Duration>,
) -> anyhow::Result<(Client, String)> {
    let options = KubeConfigOptions {
        context: global.context.clone(),
        ..KubeConfigOptions::default()
    };
    let hint = "check --kubeconfig, --context and $KUBECONFIG (`kubectl config view`), or run inside a cluster";
    let loaded = match &global.kubeconfig {
        Some(path) => match Kubeconfig::read_from(path) {
            Ok(file) => Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        },
        None if global.context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| e.to_string()),
        None => Config::infer().await.map_err(|e| e.to_string()),
    };
    let mut config =
        loaded.map_err(|e| Failure::new(format!("no usable cluster configuration: {e}"), hint))?;
    if let Some(timeout) = timeout {
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
    }
    let namespace = global
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config)
        .map_err(|e| Failure::new(format!("cannot make a Kubernetes client: {e}"), hint))?;
    Ok((client, namespace))
}

/// The namespace a command works in: `-n`, else the context's namespace, else `default`.
/// A missing or unreadable kubeconfig is no error here: client-side work needs no cluster.
pub fn default_namespace(global: &GlobalArgs) -> String {
    if let Some(ns) = &global.namespace {
        return ns.clone();
    }
    let config = match &global.kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    };
    config
        .ok()
        .and_then(|config| {
            let context_name = global
                .context
                .clone()
                .or_else(|| config.current_context.clone())?;
            config
                .contexts
                .into_iter()
                .find(|c| c.name == context_name)
                .and_then(|c| c.context)
                .and_then(|c| c.namespace)
        })
        .unwrap_or_else(|| "default".to_string())
}
