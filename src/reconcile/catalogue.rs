//! The backup catalogue as the cluster records it: a ConfigMap `<name>-backups` in the
//! instance's namespace, not owned by the instance, so it outlives it (as the backups do).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::Context;
use super::observe::Observer;
use serde::{Deserialize, Serialize};

use crate::backup::catalogue::{created, parse_stamp};
use crate::backup::{ArchiveReport, BackupEntry, BackupReport, RestoreReport};
use crate::error::Error;
use crate::resources::{Component, FIELD_MANAGER, Names, labels};
use crate::validate::Instance;

/// The key holding the catalogue (a JSON list of entries, newest first).
pub const CATALOGUE_KEY: &str = "catalogue.json";
/// With `spec.pitr`: the binary-log archive as the newest backup saw it
/// ([`ArchiveRecord`]).
pub const ARCHIVE_KEY: &str = "archive.json";

/// The binary-log archive, as of a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveRecord {
    /// The backup that saw it.
    pub as_of: String,
    #[serde(flatten)]
    pub archive: ArchiveReport,
}

/// The recorded backups of an instance (empty when none was ever made), read from the
/// API server.
pub async fn read(client: &Client, namespace: &str, name: &str) -> Result<Vec<BackupEntry>, Error> {
    read_with(&Observer::api(), client, namespace, name).await
}

/// The recorded backups, read where the reconcile reads (the operator: its cache).
pub async fn read_in(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Vec<BackupEntry>, Error> {
    read_with(&ctx.observer, &ctx.client, namespace, name).await
}

async fn read_with(
    observer: &Observer,
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<BackupEntry>, Error> {
    let map_name = Names::of(namespace, name).catalogue();
    let map: Option<ConfigMap> = observer.get(client, Some(namespace), &map_name).await?;
    Ok(entries(map.as_ref()))
}

fn entries(map: Option<&ConfigMap>) -> Vec<BackupEntry> {
    map.and_then(|m| m.data.as_ref())
        .and_then(|d| d.get(CATALOGUE_KEY))
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// Add a new backup and drop what its retention pass pruned. The list is read from the
/// API server, never a cache: a stale list would drop a backup another caller recorded.
pub async fn record(
    ctx: &Context,
    instance: &Instance,
    report: &BackupReport,
) -> Result<Vec<BackupEntry>, Error> {
    write_entry(
        ctx,
        instance,
        report.entry(),
        &report.pruned,
        report.pitr.as_ref(),
    )
    .await
}

/// Enter the backup a restore loaded from a volume whose catalogue was lost (it went with
/// its namespace): the restore verified it, and its stamp says when it was made. Older
/// backups on the volume are not listed until a backup Job's retention pass sees them.
pub async fn record_restored(
    ctx: &Context,
    instance: &Instance,
    report: &RestoreReport,
) -> Result<Vec<BackupEntry>, Error> {
    let stamp = report.backup.strip_suffix(".sql.gz").unwrap_or_default();
    let created = parse_stamp(stamp).map(created).unwrap_or_default();
    let entry = BackupEntry {
        name: report.backup.clone(),
        size: report.size,
        sha256: report.sha256.clone(),
        verified: true,
        database: report.database.clone(),
        created,
        binlog: None,
    };
    write_entry(ctx, instance, entry, &[], None).await
}

async fn write_entry(
    ctx: &Context,
    instance: &Instance,
    entry: BackupEntry,
    pruned: &[String],
    pitr: Option<&ArchiveReport>,
) -> Result<Vec<BackupEntry>, Error> {
    let map_name = Names::new(instance).catalogue();
    let before: Option<ConfigMap> = Observer::api()
        .get(&ctx.client, Some(&instance.namespace), &map_name)
        .await?;
    let mut entries = entries(before.as_ref());
    entries.retain(|e| e.name != entry.name && !pruned.contains(&e.name));
    let backup = entry.name.clone();
    entries.push(entry);
    entries.sort_by(|a, b| b.name.cmp(&a.name));
    let text =
        serde_json::to_string_pretty(&entries).map_err(|e| Error::BadValue(e.to_string()))?;
    let mut data = BTreeMap::from([(CATALOGUE_KEY, text)]);
    if let Some(archive) = pitr {
        let record = ArchiveRecord {
            as_of: backup,
            archive: archive.clone(),
        };
        let text = serde_json::to_string(&record).map_err(|e| Error::BadValue(e.to_string()))?;
        data.insert(ARCHIVE_KEY, text);
    }
    let body = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": map_name,
            "namespace": instance.namespace,
            "labels": labels(instance, Component::Backup),
        },
        "data": data,
    });
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &instance.namespace);
    let written = maps
        .patch(
            &map_name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|e| Error::api(format!("record the backup in ConfigMap {map_name}"), e))?;
    ctx.observer.wrote_object(before.as_ref(), &written);
    Ok(entries)
}
