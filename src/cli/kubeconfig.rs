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
    // Audit logs and API Priority and Fairness tell the product's requests apart by it.
    let agent = user_agent(global.command);
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(&agent)
            .map_err(|e| Failure::new(format!("invalid User-Agent {agent:?}: {e}"), hint))?,
    ));
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

/// `kubectl-mysql/VERSION (OS/ARCH) COMMAND`, in the words client-go uses for the
/// platform (`linux/amd64`).
pub fn user_agent(command: &str) -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    let command = if command.is_empty() {
        "library"
    } else {
        command
    };
    format!(
        "kubectl-mysql/{} ({}/{arch}) {command}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS
    )
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

#[cfg(test)]
mod tests {
    use super::user_agent;

    #[test]
    fn the_user_agent_names_product_version_platform_and_command() {
        let agent = user_agent("run-operator");
        let expected_prefix = format!("kubectl-mysql/{} (", env!("CARGO_PKG_VERSION"));
        assert!(agent.starts_with(&expected_prefix), "{agent}");
        assert!(agent.ends_with(") run-operator"), "{agent}");
        let platform = &agent[expected_prefix.len()..agent.len() - ") run-operator".len()];
        let (os, arch) = platform.split_once('/').expect("OS/ARCH");
        assert_eq!(os, std::env::consts::OS);
        assert!(
            !arch.is_empty() && arch != "x86_64",
            "client-go's words: {arch}"
        );
    }
}
