//! The apply step: server-side apply of each child under one field manager, skipped when
//! the cluster already holds what we would apply, so a converged instance costs reads only.

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::Error;
use crate::resources::{Children, FIELD_MANAGER};

/// Whether `current` already holds everything in `desired`: every field of `desired` is
/// in `current` with the same value (lists item by item). Fields the server or other
/// managers added are ignored.
pub fn contains(current: &Value, desired: &Value) -> bool {
    match (current, desired) {
        (Value::Object(c), Value::Object(d)) => d
            .iter()
            .all(|(k, v)| c.get(k).is_some_and(|cv| contains(cv, v))),
        (Value::Array(c), Value::Array(d)) => {
            c.len() == d.len() && c.iter().zip(d).all(|(cv, dv)| contains(cv, dv))
        }
        (c, d) => c == d,
    }
}

/// How many children one pass looked at and wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyCount {
    pub total: usize,
    pub written: usize,
    /// `Kind/name` of each written child.
    pub names: Vec<String>,
}

/// Applies the children of one instance.
pub struct Applier {
    client: Client,
    namespace: String,
    pub count: ApplyCount,
    /// The Deployment as the cluster has it after the pass (its status tells readiness).
    pub deployment: Option<Deployment>,
}

impl Applier {
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_string(),
            count: ApplyCount::default(),
            deployment: None,
        }
    }

    /// Apply every child that differs, in dependency order.
    pub async fn converge(&mut self, children: &Children) -> Result<(), Error> {
        let ns = self.namespace.clone();
        if let Some(secret) = &children.secret {
            self.ensure(Api::namespaced(self.client.clone(), &ns), secret)
                .await?;
        }
        if let Some(pv) = &children.data_pv {
            self.ensure_volume(pv).await?;
        }
        self.ensure(
            Api::namespaced(self.client.clone(), &ns),
            &children.data_pvc,
        )
        .await?;
        if let Some(pv) = &children.backup_pv {
            self.ensure_volume(pv).await?;
        }
        self.ensure(
            Api::namespaced(self.client.clone(), &ns),
            &children.backup_pvc,
        )
        .await?;
        self.ensure(Api::namespaced(self.client.clone(), &ns), &children.service)
            .await?;
        let deployment = self
            .ensure(
                Api::namespaced(self.client.clone(), &ns),
                &children.deployment,
            )
            .await?;
        self.deployment = Some(deployment);
        Ok(())
    }

    /// A PersistentVolume: once bound, its claimRef (an atomic object) also carries the
    /// claim's uid, set by the binder; applying ours without it would take that away.
    async fn ensure_volume(
        &mut self,
        desired: &PersistentVolume,
    ) -> Result<PersistentVolume, Error> {
        let api: Api<PersistentVolume> = Api::all(self.client.clone());
        self.ensure_with(api, desired, |current, desired| {
            let bound = current.spec.as_ref().and_then(|s| s.claim_ref.clone());
            if let (Some(bound), Some(spec)) = (bound, desired.spec.as_mut())
                && let Some(ours) = &spec.claim_ref
                && bound.name == ours.name
                && bound.namespace == ours.namespace
            {
                spec.claim_ref = Some(bound);
            }
        })
        .await
    }

    async fn ensure<K>(&mut self, api: Api<K>, desired: &K) -> Result<K, Error>
    where
        K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
    {
        self.ensure_with(api, desired, |_, _| {}).await
    }

    /// Read one child; apply it only when it is missing or differs from `desired`
    /// (after `keep` has carried over what others own in the current object).
    async fn ensure_with<K>(
        &mut self,
        api: Api<K>,
        desired: &K,
        keep: impl FnOnce(&K, &mut K),
    ) -> Result<K, Error>
    where
        K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
    {
        let name = desired.name_any();
        let what = format!("{}/{name}", K::kind(&()));
        self.count.total += 1;
        let current = api
            .get_opt(&name)
            .await
            .map_err(|e| Error::api(format!("read {what}"), e))?;
        let mut desired = desired.clone();
        if let Some(current) = &current {
            keep(current, &mut desired);
        }
        let wanted = serde_json::to_value(&desired).map_err(|e| Error::BadValue(e.to_string()))?;
        if let Some(current) = current {
            let have =
                serde_json::to_value(&current).map_err(|e| Error::BadValue(e.to_string()))?;
            if contains(&have, &wanted) {
                return Ok(current);
            }
        }
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let applied = api
            .patch(&name, &params, &Patch::Apply(&desired))
            .await
            .map_err(|e| Error::api(format!("apply {what}"), e))?;
        tracing::info!(object = %what, "applied");
        self.count.written += 1;
        self.count.names.push(what);
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::contains;
    use serde_json::json;

    #[test]
    fn contains_ignores_what_others_added_but_not_what_differs() {
        let current = json!({"spec": {"replicas": 1, "revisionHistoryLimit": 10, "ports": [{"port": 3306, "targetPort": 3306}]}, "status": {}});
        assert!(contains(
            &current,
            &json!({"spec": {"replicas": 1, "ports": [{"port": 3306}]}})
        ));
        assert!(!contains(&current, &json!({"spec": {"replicas": 2}})));
        assert!(
            !contains(&current, &json!({"spec": {"ports": []}})),
            "list length differs"
        );
        assert!(
            !contains(&current, &json!({"spec": {"paused": true}})),
            "missing field"
        );
    }
}
