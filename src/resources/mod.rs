//! Pure builders of every object the operator creates for one instance: no client, no
//! clock, no randomness. The reconcile applies what they return; `create --dry-run`
//! prints it.

mod deployment;
mod jobs;
mod secret;
mod security;
mod service;
mod storage;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::Value;

use crate::crd::{GROUP, VERSION};
use crate::validate::Instance;

pub use deployment::{
    ALIVE_SCRIPT, ARCHIVE_CONTAINER, MYSQL_PORT, PITR_SERVER_ARGS, READY_SCRIPT, SERVER_CONTAINER,
    deployment,
};
pub use jobs::{
    BACKUP_SOURCE, BackupSource, JOB_RETRIES, SCHEDULED, backup_cron_job, backup_job, restore_job,
    restore_job_to,
};
pub use secret::{credentials_secret, password_secret};
pub use service::service;
pub use storage::{Volume, persistent_volume, persistent_volume_claim};

/// Field manager of every write the product makes (CLI and operator alike).
pub const FIELD_MANAGER: &str = "kubectl-mysql";
/// Label holding the namespace of the instance that cluster-scoped PVs belong to.
pub const NAMESPACE_LABEL: &str = "otus.homework/namespace";
/// Where hostPath volumes live on the node when no storage class is given.
pub const HOST_PATH_ROOT: &str = "/var/lib/kubectl-mysql";

/// The names of an instance's objects, in one place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    namespace: String,
    name: String,
}

impl Names {
    pub fn new(instance: &Instance) -> Self {
        Self::of(&instance.namespace, &instance.name)
    }
    /// Names of an instance that is not validated yet (e.g. while building it from flags).
    pub fn of(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
    /// The Service and the Deployment carry the instance's own name, as in the seed.
    pub fn server(&self) -> String {
        self.name.clone()
    }
    /// The Secret the operator keeps an inline password in (and `create` generates into).
    pub fn credentials_secret(&self) -> String {
        format!("{}-credentials", self.name)
    }
    pub fn data_pvc(&self) -> String {
        format!("{}-pvc", self.name)
    }
    pub fn backup_pvc(&self) -> String {
        format!("backup-{}-pvc", self.name)
    }
    /// PVs are cluster-scoped: the namespace goes first, and a namespace has no dots,
    /// so `<namespace>.<...>` can never collide across namespaces.
    pub fn data_pv(&self) -> String {
        format!("{}.{}-pv", self.namespace, self.name)
    }
    pub fn backup_pv(&self) -> String {
        format!("{}.backup-{}-pv", self.namespace, self.name)
    }
    pub fn backup_job(&self) -> String {
        format!("backup-{}-job", self.name)
    }
    /// The CronJob of scheduled backups; its Jobs are `backup-<name>-cron-<minutes>`.
    pub fn backup_cron(&self) -> String {
        format!("backup-{}-cron", self.name)
    }
    pub fn restore_job(&self) -> String {
        format!("restore-{}-job", self.name)
    }
    /// The ConfigMap recording the backup catalogue; it outlives the instance.
    pub fn catalogue(&self) -> String {
        format!("{}-backups", self.name)
    }
    /// hostPath directories, one tree per namespace and instance.
    pub fn data_host_path(&self) -> String {
        format!("{HOST_PATH_ROOT}/{}/{}/data", self.namespace, self.name)
    }
    pub fn backup_host_path(&self) -> String {
        format!("{HOST_PATH_ROOT}/{}/{}/backup", self.namespace, self.name)
    }
}

/// What a child is for, as the `app.kubernetes.io/component` label says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Database,
    Credentials,
    Data,
    Backup,
    Restore,
}

impl Component {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Component::Database => "database",
            Component::Credentials => "credentials",
            Component::Data => "data",
            Component::Backup => "backup",
            Component::Restore => "restore",
        }
    }
}

/// Resource quantities from `(name, value)` pairs.
pub(crate) fn quantities(
    pairs: &[(&str, &str)],
) -> BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity> {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                k8s_openapi::apimachinery::pkg::api::resource::Quantity(v.to_string()),
            )
        })
        .collect()
}

/// Labels that select the server's pods (and only them: a backup or restore Job's pods
/// share the instance label, and must never receive the Service's traffic). Immutable
/// once a Deployment exists.
pub fn selector_labels(instance: &Instance) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "mysql".to_string()),
        (
            "app.kubernetes.io/instance".to_string(),
            instance.name.clone(),
        ),
        (
            "app.kubernetes.io/component".to_string(),
            Component::Database.label().to_string(),
        ),
    ])
}

/// Recommended labels of every child, plus the instance's namespace for cluster-scoped ones.
pub fn labels(instance: &Instance, component: Component) -> BTreeMap<String, String> {
    let mut labels = selector_labels(instance);
    labels.insert(
        "app.kubernetes.io/component".into(),
        component.label().into(),
    );
    labels.insert("app.kubernetes.io/managed-by".into(), FIELD_MANAGER.into());
    labels.insert(NAMESPACE_LABEL.into(), instance.namespace.clone());
    labels
}

/// The controller owner reference to the instance, once it has a uid.
pub fn owner_reference(instance: &Instance) -> Option<OwnerReference> {
    instance.uid.as_ref().map(|uid| OwnerReference {
        api_version: format!("{GROUP}/{VERSION}"),
        kind: "MySQL".into(),
        name: instance.name.clone(),
        uid: uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// Metadata of a child. `owned` children are garbage-collected with the instance; the
/// rest (volumes, backups) are removed by the finalizer or outlive it on purpose.
fn metadata(instance: &Instance, name: String, component: Component, owned: bool) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        labels: Some(labels(instance, component)),
        owner_references: owned
            .then(|| owner_reference(instance))
            .flatten()
            .map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

fn namespaced(instance: &Instance, name: String, component: Component, owned: bool) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(instance.namespace.clone()),
        ..metadata(instance, name, component, owned)
    }
}

/// Every object an instance needs, in the order they are applied. Its `Debug` names the
/// objects only: the Secret's data never reaches a log line.
#[derive(Clone, PartialEq)]
pub struct Children {
    /// Present when the spec carries an inline password.
    pub secret: Option<Secret>,
    /// Present without a storage class (hostPath, bound to the claim by hand).
    pub data_pv: Option<PersistentVolume>,
    pub data_pvc: PersistentVolumeClaim,
    pub service: Service,
    pub deployment: Deployment,
    pub backup_pv: Option<PersistentVolume>,
    pub backup_pvc: PersistentVolumeClaim,
    /// The scheduled backups; with no schedule, none may exist.
    pub backup_cron: Wanted<CronJob>,
}

/// A child that exists only for some specs.
#[derive(Clone, Debug, PartialEq)]
pub enum Wanted<K> {
    Present(K),
    /// This name must not hold one (the spec stopped asking for it).
    Absent(String),
    /// Wanted, but not yet: neither made nor removed.
    Later,
}

/// Build every child of an instance.
pub fn children(instance: &Instance) -> Children {
    let storage_class = instance.storage_class.is_some();
    Children {
        secret: credentials_secret(instance),
        data_pv: (!storage_class).then(|| persistent_volume(instance, Volume::Data)),
        data_pvc: persistent_volume_claim(instance, Volume::Data),
        service: service(instance),
        deployment: deployment(instance),
        backup_pv: (!storage_class).then(|| persistent_volume(instance, Volume::Backup)),
        backup_pvc: persistent_volume_claim(instance, Volume::Backup),
        backup_cron: match backup_cron_job(instance) {
            Some(cron) => Wanted::Present(cron),
            None => Wanted::Absent(Names::new(instance).backup_cron()),
        },
    }
}

impl std::fmt::Debug for Children {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .to_values()
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap_or("?"),
                    o["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect();
        f.debug_tuple("Children").field(&names).finish()
    }
}

impl Children {
    /// The children as JSON documents, in apply order.
    pub fn to_values(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut push = |v: Result<Value, serde_json::Error>| {
            if let Ok(v) = v {
                out.push(v);
            }
        };
        if let Some(s) = &self.secret {
            push(serde_json::to_value(s));
        }
        if let Some(pv) = &self.data_pv {
            push(serde_json::to_value(pv));
        }
        push(serde_json::to_value(&self.data_pvc));
        push(serde_json::to_value(&self.service));
        push(serde_json::to_value(&self.deployment));
        if let Some(pv) = &self.backup_pv {
            push(serde_json::to_value(pv));
        }
        push(serde_json::to_value(&self.backup_pvc));
        if let Wanted::Present(cron) = &self.backup_cron {
            push(serde_json::to_value(cron));
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::crd::SecretKeyReference;
    use crate::validate::PasswordSource;

    /// A stand-in for the seed's password, so tests can look for leaks.
    pub const FIXTURE_PASSWORD: &str = "fixture-Pa55word";

    /// The seed's example as a validated instance, already created (it has a uid).
    pub fn seed_instance() -> Instance {
        Instance {
            name: "mysql-instance".into(),
            namespace: "default".into(),
            uid: Some("9d1c3e51-0000-4000-8000-000000000001".into()),
            image: "mysql:latest".into(),
            database: "otus-database".into(),
            password: PasswordSource::Inline(FIXTURE_PASSWORD.into()),
            storage_size: "1Gi".into(),
            storage_class: None,
            backup_retention: 7,
            pod_security: None,
            backup_schedule: None,
            pitr: None,
            server_image: None,
        }
    }

    /// The seed's instance with the binary-log archive, flushing every 300 s.
    pub fn with_pitr() -> Instance {
        Instance {
            pitr: Some(crate::validate::Pitr { flush_seconds: 300 }),
            ..seed_instance()
        }
    }

    pub fn with_storage_class(class: &str) -> Instance {
        Instance {
            storage_class: Some(class.into()),
            password: PasswordSource::Secret(SecretKeyReference {
                name: "db-root".into(),
                key: "root-password".into(),
            }),
            ..seed_instance()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn names_follow_the_seed_and_keep_namespaces_apart() {
        let a = Names::new(&seed_instance());
        let b = Names::new(&Instance {
            namespace: "staging".into(),
            ..seed_instance()
        });
        assert_eq!(a.server(), "mysql-instance");
        assert_eq!(a.data_pvc(), "mysql-instance-pvc");
        assert_eq!(a.backup_job(), "backup-mysql-instance-job");
        assert_eq!(a.restore_job(), "restore-mysql-instance-job");
        assert_eq!(a.data_pv(), "default.mysql-instance-pv");
        assert_ne!(a.data_pv(), b.data_pv());
        assert_ne!(a.backup_pv(), b.backup_pv());
        assert_ne!(a.data_host_path(), b.data_host_path());
        assert_ne!(a.data_host_path(), a.backup_host_path());
    }

    #[test]
    fn hostpath_instance_gets_all_seven_objects() {
        let docs = children(&seed_instance()).to_values();
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "Secret",
                "PersistentVolume",
                "PersistentVolumeClaim",
                "Service",
                "Deployment",
                "PersistentVolume",
                "PersistentVolumeClaim"
            ]
        );
        for doc in &docs {
            assert!(doc["apiVersion"].is_string(), "{doc}");
            assert_eq!(
                doc["metadata"]["labels"]["app.kubernetes.io/instance"],
                "mysql-instance"
            );
        }
    }

    #[test]
    fn storage_class_means_no_hand_made_volumes_and_no_secret_of_ours() {
        let c = children(&with_storage_class("fast"));
        assert!(c.data_pv.is_none() && c.backup_pv.is_none());
        assert!(c.secret.is_none());
        let spec = c.data_pvc.spec.as_ref().expect("pvc spec");
        assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
        assert!(spec.volume_name.is_none());
    }

    #[test]
    fn only_the_secret_service_and_deployment_are_owned() {
        let c = children(&seed_instance());
        let owned = |m: &ObjectMeta| m.owner_references.as_ref().is_some_and(|o| o.len() == 1);
        assert!(owned(&c.secret.as_ref().expect("secret").metadata));
        assert!(owned(&c.service.metadata));
        assert!(owned(&c.deployment.metadata));
        // The delete-backup reads the data volume after the garbage collector ran, and
        // backups outlive the instance: none of the volumes is owned.
        assert!(!owned(&c.data_pvc.metadata));
        assert!(!owned(&c.backup_pvc.metadata));
        assert!(!owned(&c.data_pv.as_ref().expect("pv").metadata));
        assert!(!owned(&c.backup_pv.as_ref().expect("pv").metadata));
        let reference = &c.service.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(reference.api_version, "otus.homework/v1");
        assert_eq!(reference.kind, "MySQL");
        assert_eq!(reference.controller, Some(true));
    }

    #[test]
    fn before_creation_there_is_no_owner_to_reference() {
        let c = children(&Instance {
            uid: None,
            ..seed_instance()
        });
        assert!(c.service.metadata.owner_references.is_none());
        assert!(c.deployment.metadata.owner_references.is_none());
    }

    #[test]
    fn debug_output_names_objects_but_never_the_password() {
        let shown = format!("{:?}", children(&seed_instance()));
        assert!(
            shown.contains("Secret/mysql-instance-credentials"),
            "{shown}"
        );
        assert!(!shown.contains(FIXTURE_PASSWORD));
        let spec = crate::crd::MySQLSpec {
            image: "mysql:8.4".into(),
            database: "db".into(),
            password: Some(FIXTURE_PASSWORD.into()),
            password_secret: None,
            storage_size: "1Gi".into(),
            storage_class: None,
            backup_retention: 7,
            pod_security: None,
            backup_schedule: None,
            backup_timezone: None,
            pitr: None,
            pitr_flush_seconds: None,
        };
        assert!(!format!("{spec:?}").contains(FIXTURE_PASSWORD));
    }

    #[test]
    fn job_pods_never_match_the_server_selector() {
        let selector = selector_labels(&seed_instance());
        let job_pods = labels(&seed_instance(), Component::Backup);
        assert!(selector.iter().any(|(k, v)| job_pods.get(k) != Some(v)));
        let server_pods = labels(&seed_instance(), Component::Database);
        assert!(selector.iter().all(|(k, v)| server_pods.get(k) == Some(v)));
    }

    #[test]
    fn cluster_scoped_volumes_name_their_namespace() {
        let c = children(&seed_instance());
        let pv = c.data_pv.expect("pv");
        assert!(pv.metadata.namespace.is_none());
        assert_eq!(
            pv.metadata.labels.as_ref().expect("labels")[NAMESPACE_LABEL],
            "default"
        );
    }
}
