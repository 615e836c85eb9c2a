//! Data and backup volumes.
//!
//! Without a storage class: a hostPath PersistentVolume per volume, pre-bound both ways
//! (the claim names the volume, the volume's claimRef names the claim) so no other claim
//! can take it, with an empty storage class so no default provisioner steps in. With a
//! storage class: only the claim, and the provisioner makes the volume.
//! None of them is owned by the instance: the finalizer removes the data volume after
//! the delete-backup, and backups outlive the instance.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, ObjectReference, PersistentVolume, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{Component, Names, metadata, namespaced};
use crate::validate::Instance;

/// Which of an instance's two volumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Volume {
    Data,
    Backup,
}

struct VolumeNames {
    pv: String,
    pvc: String,
    host_path: String,
    component: Component,
}

fn volume_names(instance: &Instance, volume: Volume) -> VolumeNames {
    let names = Names::new(instance);
    match volume {
        Volume::Data => VolumeNames {
            pv: names.data_pv(),
            pvc: names.data_pvc(),
            host_path: names.data_host_path(),
            component: Component::Data,
        },
        Volume::Backup => VolumeNames {
            pv: names.backup_pv(),
            pvc: names.backup_pvc(),
            host_path: names.backup_host_path(),
            component: Component::Backup,
        },
    }
}

fn capacity(instance: &Instance) -> BTreeMap<String, Quantity> {
    BTreeMap::from([(
        "storage".to_string(),
        Quantity(instance.storage_size.clone()),
    )])
}

/// The hostPath volume used when the instance has no storage class.
pub fn persistent_volume(instance: &Instance, volume: Volume) -> PersistentVolume {
    let n = volume_names(instance, volume);
    PersistentVolume {
        metadata: metadata(instance, n.pv, n.component, false),
        spec: Some(PersistentVolumeSpec {
            capacity: Some(capacity(instance)),
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            // Retain: the finalizer decides when data goes, never a reclaimer.
            persistent_volume_reclaim_policy: Some("Retain".into()),
            // No class: a PV's storageClassName is a plain string, so `""` is never stored
            // (the claim's is a pointer, where `""` means "no class" and is kept).
            volume_mode: Some("Filesystem".into()),
            claim_ref: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("PersistentVolumeClaim".into()),
                namespace: Some(instance.namespace.clone()),
                name: Some(n.pvc),
                ..ObjectReference::default()
            }),
            host_path: Some(HostPathVolumeSource {
                path: n.host_path,
                type_: Some("DirectoryOrCreate".into()),
            }),
            ..PersistentVolumeSpec::default()
        }),
        ..PersistentVolume::default()
    }
}

/// The claim the server (data) or the backup Jobs (backup) mount.
pub fn persistent_volume_claim(instance: &Instance, volume: Volume) -> PersistentVolumeClaim {
    let n = volume_names(instance, volume);
    let (storage_class_name, volume_name) = match &instance.storage_class {
        Some(class) => (class.clone(), None),
        None => (String::new(), Some(n.pv)),
    };
    PersistentVolumeClaim {
        metadata: namespaced(instance, n.pvc, n.component, false),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(capacity(instance)),
                ..VolumeResourceRequirements::default()
            }),
            storage_class_name: Some(storage_class_name),
            volume_name,
            volume_mode: Some("Filesystem".into()),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::{seed_instance, with_storage_class};

    #[test]
    fn hostpath_volume_and_claim_are_bound_to_each_other() {
        let i = seed_instance();
        let pv = persistent_volume(&i, Volume::Data);
        let pvc = persistent_volume_claim(&i, Volume::Data);
        let pv_spec = pv.spec.expect("pv spec");
        let pvc_spec = pvc.spec.expect("pvc spec");
        let claim = pv_spec.claim_ref.expect("claimRef");
        assert_eq!(claim.name, pvc.metadata.name);
        assert_eq!(claim.namespace.as_deref(), Some("default"));
        assert_eq!(pvc_spec.volume_name, pv.metadata.name);
        assert_eq!(
            pv_spec.storage_class_name, None,
            "no class, and no \"\" the server drops"
        );
        assert_eq!(pvc_spec.storage_class_name.as_deref(), Some(""));
        assert_eq!(pv_spec.capacity.expect("capacity")["storage"].0, "1Gi");
        assert_eq!(
            pv_spec.host_path.expect("hostPath").path,
            "/var/lib/kubectl-mysql/default/mysql-instance/data"
        );
        assert_eq!(
            pv_spec.persistent_volume_reclaim_policy.as_deref(),
            Some("Retain")
        );
    }

    #[test]
    fn backup_volume_is_separate_from_data() {
        let i = seed_instance();
        let data = persistent_volume(&i, Volume::Data);
        let backup = persistent_volume(&i, Volume::Backup);
        assert_ne!(data.metadata.name, backup.metadata.name);
        assert_eq!(
            backup.metadata.name.as_deref(),
            Some("default.backup-mysql-instance-pv")
        );
        let claim = persistent_volume_claim(&i, Volume::Backup);
        assert_eq!(
            claim.metadata.name.as_deref(),
            Some("backup-mysql-instance-pvc")
        );
    }

    #[test]
    fn storage_class_claims_leave_binding_to_the_provisioner() {
        let pvc = persistent_volume_claim(&with_storage_class("standard"), Volume::Backup);
        let spec = pvc.spec.expect("spec");
        assert_eq!(spec.storage_class_name.as_deref(), Some("standard"));
        assert_eq!(spec.volume_name, None);
    }
}
