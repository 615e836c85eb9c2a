//! What a kubelet does before a container starts: the environment resolved from the pod
//! template and the volumes mapped to local directories. Reads go to the API server, not
//! the caches: a Secret created just before a Job must be seen, as the real kubelet sees it.

use std::collections::BTreeMap;
use std::io::{PipeReader, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, PersistentVolume, PersistentVolumeClaim, PodSpec, Secret,
};
use kube::api::Api;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::{Node, lock};

/// A container's output, stdout and stderr in the order it was written.
pub(super) type Log = Arc<Mutex<Vec<u8>>>;

/// Why a container cannot start yet.
#[derive(Debug)]
pub(super) enum NotReady {
    /// The pod would stay Pending (a claim not bound yet): look again later.
    Pending(String),
    /// The container cannot be made (the kubelet's CreateContainerConfigError).
    Config(String),
}

/// A container's volume mount and the local directory standing in for it.
#[derive(Clone, Debug)]
pub(super) struct Mount {
    pub path: String,
    pub local: PathBuf,
}

/// The local directory mounted at `path`, if any.
pub(super) fn mounted<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Path> {
    let path = path.trim_end_matches('/');
    (mounts.iter())
        .find(|m| m.path == path)
        .map(|m| m.local.as_path())
}

/// `value` with a leading mount path replaced by its local directory (the longest match).
pub(super) fn localize(value: &str, mounts: &[Mount]) -> String {
    let within = |m: &&Mount| {
        value
            .strip_prefix(m.path.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    match mounts.iter().filter(within).max_by_key(|m| m.path.len()) {
        Some(m) => format!("{}{}", m.local.display(), &value[m.path.len()..]),
        None => value.to_string(),
    }
}

/// The local directories of `container`'s volume mounts (made if missing, as hostPath's
/// DirectoryOrCreate does). Claims map through their bound volume's hostPath; emptyDir
/// volumes live in `scratch`.
pub(super) async fn mounts(
    client: &Client,
    node: &Node,
    namespace: &str,
    pod: &PodSpec,
    container: &Container,
    scratch: &Path,
) -> Result<Vec<Mount>, NotReady> {
    let mut mounts = Vec::new();
    for mount in container.volume_mounts.iter().flatten() {
        let volume = (pod.volumes.iter().flatten())
            .find(|v| v.name == mount.name)
            .ok_or_else(|| {
                NotReady::Config(format!("volume {:?} is not defined in the pod", mount.name))
            })?;
        let dir = if let Some(source) = &volume.persistent_volume_claim {
            claim_dir(client, node, namespace, &source.claim_name).await?
        } else if let Some(source) = &volume.host_path {
            node.local_path(&source.path)
        } else if volume.empty_dir.is_some() {
            scratch.join("volumes").join(&volume.name)
        } else {
            return Err(NotReady::Config(format!(
                "volume {:?}: the node stand-in plays persistentVolumeClaim, hostPath and emptyDir volumes only",
                volume.name
            )));
        };
        let dir = match mount.sub_path.as_deref() {
            Some(sub) if !sub.is_empty() => dir.join(sub),
            _ => dir,
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| NotReady::Config(format!("cannot make {}: {e}", dir.display())))?;
        let path = mount.mount_path.trim_end_matches('/').to_string();
        mounts.push(Mount { path, local: dir });
    }
    Ok(mounts)
}

/// The local directory of a claim's bound volume.
async fn claim_dir(
    client: &Client,
    node: &Node,
    namespace: &str,
    claim: &str,
) -> Result<PathBuf, NotReady> {
    let pending = |e: kube::Error| NotReady::Pending(e.to_string());
    let found: Option<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace)
        .get_opt(claim)
        .await
        .map_err(pending)?;
    let Some(found) = found else {
        return Err(NotReady::Pending(format!(
            "persistentvolumeclaim {claim:?} not found"
        )));
    };
    let bound = found.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    let volume = found
        .spec
        .and_then(|s| s.volume_name)
        .filter(|v| bound && !v.is_empty());
    let Some(volume) = volume else {
        return Err(NotReady::Pending(format!(
            "persistentvolumeclaim {claim:?} is not bound"
        )));
    };
    let pv: Option<PersistentVolume> = Api::all(client.clone())
        .get_opt(&volume)
        .await
        .map_err(pending)?;
    match pv.and_then(|pv| pv.spec?.host_path) {
        Some(host_path) => Ok(node.local_path(&host_path.path)),
        None => Err(NotReady::Config(format!(
            "persistentvolume {volume:?} has no hostPath, the only kind the node stand-in mounts"
        ))),
    }
}

/// The container's environment as the kubelet makes it: `envFrom`, then `env` (values with
/// `$(VAR)` references expanded, `secretKeyRef`, `configMapKeyRef`, a few `fieldRef`s).
/// A missing Secret, ConfigMap or key that is not optional is the kubelet's message.
pub(super) async fn env(
    client: &Client,
    namespace: &str,
    pod: &str,
    container: &Container,
) -> Result<Vec<(String, String)>, String> {
    let mut env: Vec<(String, String)> = Vec::new();
    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.clone().unwrap_or_default();
        let data = if let Some(r) = &source.secret_ref {
            (secret_data(client, namespace, &r.name).await?)
                .ok_or_else(|| format!("secret {:?} not found", r.name))
                .or_else(|e| {
                    if r.optional == Some(true) {
                        Ok(BTreeMap::new())
                    } else {
                        Err(e)
                    }
                })?
        } else if let Some(r) = &source.config_map_ref {
            (config_map_data(client, namespace, &r.name).await?)
                .ok_or_else(|| format!("configmap {:?} not found", r.name))
                .or_else(|e| {
                    if r.optional == Some(true) {
                        Ok(BTreeMap::new())
                    } else {
                        Err(e)
                    }
                })?
        } else {
            BTreeMap::new()
        };
        for (key, value) in data {
            set(&mut env, format!("{prefix}{key}"), value);
        }
    }
    for var in container.env.iter().flatten() {
        let Some(from) = &var.value_from else {
            let value = expand(var.value.as_deref().unwrap_or_default(), &env);
            set(&mut env, var.name.clone(), value);
            continue;
        };
        let value = if let Some(r) = &from.secret_key_ref {
            let data = secret_data(client, namespace, &r.name).await?;
            key_of(data, "Secret", namespace, &r.name, &r.key, r.optional)?
        } else if let Some(r) = &from.config_map_key_ref {
            let data = config_map_data(client, namespace, &r.name).await?;
            key_of(data, "ConfigMap", namespace, &r.name, &r.key, r.optional)?
        } else if let Some(r) = &from.field_ref {
            Some(match r.field_path.as_str() {
                "metadata.name" => pod.to_string(),
                "metadata.namespace" => namespace.to_string(),
                "spec.nodeName" => super::jobs::NODE_NAME.to_string(),
                "status.podIP" | "status.hostIP" => "127.0.0.1".to_string(),
                other => {
                    return Err(format!(
                        "env {}: fieldRef {other:?} is not played by the node stand-in",
                        var.name
                    ));
                }
            })
        } else {
            return Err(format!(
                "env {}: resourceFieldRef is not played by the node stand-in",
                var.name
            ));
        };
        if let Some(value) = value {
            set(&mut env, var.name.clone(), value);
        }
    }
    Ok(env)
}

/// Set a variable; a later definition wins, as in a container.
fn set(env: &mut Vec<(String, String)>, name: String, value: String) {
    match env.iter_mut().find(|(n, _)| *n == name) {
        Some(existing) => existing.1 = value,
        None => env.push((name, value)),
    }
}

/// Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` escapes a `$`,
/// anything else is kept as written.
fn expand(value: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|a| a.split_once(')')) {
            match env.iter().find(|(n, _)| n == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&rest[at..at + name.len() + 3]),
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// One key of a Secret's or ConfigMap's data, with the kubelet's messages when missing.
fn key_of(
    data: Option<BTreeMap<String, String>>,
    kind: &str,
    namespace: &str,
    name: &str,
    key: &str,
    optional: Option<bool>,
) -> Result<Option<String>, String> {
    let optional = optional == Some(true);
    match data {
        None if optional => Ok(None),
        None => Err(format!("{} {name:?} not found", kind.to_lowercase())),
        Some(mut data) => match data.remove(key) {
            Some(value) => Ok(Some(value)),
            None if optional => Ok(None),
            None => Err(format!(
                "couldn't find key {key} in {kind} {namespace}/{name}"
            )),
        },
    }
}

async fn get<K>(client: &Client, namespace: &str, name: &str) -> Result<Option<K>, String>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.get_opt(name)
        .await
        .map_err(|e| format!("cannot read {name:?}: {e}"))
}

async fn secret_data(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, String> {
    let secret: Option<Secret> = get(client, namespace, name).await?;
    Ok(secret.map(|s| {
        (s.data.into_iter().flatten())
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect()
    }))
}

async fn config_map_data(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, String> {
    let config_map: Option<ConfigMap> = get(client, namespace, name).await?;
    Ok(config_map.map(|c| {
        let binary = (c.binary_data.into_iter().flatten())
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()));
        c.data.into_iter().flatten().chain(binary).collect()
    }))
}

/// The test process's PATH, with the sbin directories mariadbd lives in.
pub(super) fn search_path() -> String {
    let mut path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    for dir in ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
        if !path.split(':').any(|d| d == dir) {
            path = format!("{path}:{dir}");
        }
    }
    path
}

/// Wire a container's process as a runtime does: no stdin, stdout and stderr on one pipe
/// (the log keeps the order the process wrote in), a process group of its own (its
/// processes are signalled as a whole). The read end; `command` holds the write ends
/// until it is dropped, so drop it once spawned: EOF comes when the process's ends close.
pub(super) fn wire(command: &mut std::process::Command) -> std::io::Result<PipeReader> {
    use std::os::unix::process::CommandExt;
    let (output, writer) = std::io::pipe()?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .process_group(0);
    Ok(output)
}

/// Append the output to the log as it comes (blocking, until EOF).
pub(super) fn collect(mut output: PipeReader, log: &Log) {
    let mut buffer = [0u8; 8192];
    while let Ok(n) = output.read(&mut buffer) {
        if n == 0 {
            break;
        }
        lock(log).extend_from_slice(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_expand_and_escapes_stay_literal() {
        let env = vec![("A".to_string(), "x".to_string())];
        assert_eq!(expand("$(A)/$(B)/$$(A)/$", &env), "x/$(B)/$(A)/$");
    }

    #[test]
    fn mount_paths_map_at_path_boundaries_only() {
        let mounts = [
            Mount {
                path: "/backup".into(),
                local: "/tmp/b".into(),
            },
            Mount {
                path: "/backup/deep".into(),
                local: "/tmp/d".into(),
            },
        ];
        assert_eq!(localize("/backup", &mounts), "/tmp/b");
        assert_eq!(localize("/backup/x.sql", &mounts), "/tmp/b/x.sql");
        assert_eq!(localize("/backup/deep/y", &mounts), "/tmp/d/y");
        assert_eq!(localize("/backups", &mounts), "/backups");
    }
}
