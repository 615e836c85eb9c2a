//! The backup catalogue as the cluster records it: a ConfigMap `<name>-backups` in the
//! instance's namespace, not owned by the instance, so it outlives it (as the backups do).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::backup::{BackupEntry, BackupReport};
use crate::error::Error;
use crate::resources::{Component, FIELD_MANAGER, Names, labels};
use crate::validate::Instance;

/// The key holding the catalogue (a JSON list of entries, newest first).
pub const CATALOGUE_KEY: &str = "catalogue.json";

/// The recorded backups of an instance (empty when none was ever made).
pub async fn read(client: &Client, namespace: &str, name: &str) -> Result<Vec<BackupEntry>, Error> {
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let map_name = Names::of(namespace, name).catalogue();
    let map = maps
        .get_opt(&map_name)
        .await
        .map_err(|e| Error::api(format!("read ConfigMap {map_name}"), e))?;
    Ok(map
        .and_then(|m| m.data)
        .and_then(|d| d.get(CATALOGUE_KEY).cloned())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default())
}

/// Add a new backup and drop what its retention pass pruned.
pub async fn record(
    client: &Client,
    instance: &Instance,
    report: &BackupReport,
) -> Result<Vec<BackupEntry>, Error> {
    let mut entries = read(client, &instance.namespace, &instance.name).await?;
    entries.retain(|e| e.name != report.backup && !report.pruned.contains(&e.name));
    entries.push(report.entry());
    entries.sort_by(|a, b| b.name.cmp(&a.name));
    let map_name = Names::new(instance).catalogue();
    let text =
        serde_json::to_string_pretty(&entries).map_err(|e| Error::BadValue(e.to_string()))?;
    let body = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": map_name,
            "namespace": instance.namespace,
            "labels": labels(instance, Component::Backup),
        },
        "data": BTreeMap::from([(CATALOGUE_KEY, text)]),
    });
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &instance.namespace);
    maps.patch(
        &map_name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|e| Error::api(format!("record the backup in ConfigMap {map_name}"), e))?;
    Ok(entries)
}
