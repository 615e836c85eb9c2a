//! Reading the kubeconfig the way kubectl does, for the parts that need no cluster.

use kube::config::Kubeconfig;

use super::GlobalArgs;

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
