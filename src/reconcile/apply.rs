//! The apply step: server-side apply of each child under one field manager, skipped when
//! the cluster already holds what we would apply, so a converged instance costs reads only.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::PersistentVolume;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions, PropagationPolicy};
use serde::Serialize;
use serde_json::{Value, json};

use super::Context;
use super::observe::Cached;

use crate::error::Error;
use crate::quantity;
use crate::resources::{Children, FIELD_MANAGER, NAMESPACE_LABEL, Wanted};

/// Whether `current` already holds everything in `desired`: every field of `desired` is
/// in `current` with the same value (lists item by item, quantities by value: the server
/// stores `1.5Gi` as `1536Mi`). Fields the server or other managers added are ignored.
pub fn contains(current: &Value, desired: &Value) -> bool {
    contains_at(current, desired, None)
}

/// Maps whose values are quantities, and fields that hold one.
const QUANTITY_MAPS: &[&str] = &["capacity", "requests", "limits"];
const QUANTITY_FIELDS: &[&str] = &["sizeLimit"];

fn contains_at(current: &Value, desired: &Value, parent: Option<&str>) -> bool {
    match (current, desired) {
        (Value::Object(c), Value::Object(d)) => d.iter().all(|(k, v)| {
            c.get(k).is_some_and(|cv| {
                let quantity = parent.is_some_and(|p| QUANTITY_MAPS.contains(&p))
                    || QUANTITY_FIELDS.contains(&k.as_str());
                match (cv, v) {
                    (Value::String(a), Value::String(b)) if quantity => quantity::same(a, b),
                    _ => contains_at(cv, v, Some(k)),
                }
            })
        }),
        (Value::Array(c), Value::Array(d)) => {
            c.len() == d.len() && c.iter().zip(d).all(|(cv, dv)| contains_at(cv, dv, None))
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
    ctx: Context,
    namespace: String,
    pub count: ApplyCount,
    /// The Deployment as the cluster has it after the pass (its status tells readiness).
    pub deployment: Option<Deployment>,
    /// Children read earlier in this pass (`Kind/name` to the object, or `None`: absent):
    /// not read again.
    read: std::collections::HashMap<String, Option<Value>>,
}

/// On a PersistentVolume the product made bindable again: the uid of the claim it was
/// bound to before (gone with its namespace). It also tells restore-on-create that the
/// volume holds an earlier instance's backups while the catalogue went with the namespace.
pub const RECLAIMED_FROM: &str = "otus.homework/reclaimed-from";

/// The uid of the claim a Released volume still names: its claim is gone, and the PV
/// controller binds no claim to it while its claimRef carries that uid (a new claim of the
/// same name has another uid).
pub fn stale_claim(volume: &PersistentVolume) -> Option<String> {
    let released = volume.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released");
    let claim_ref = volume.spec.as_ref()?.claim_ref.as_ref()?;
    claim_ref.uid.clone().filter(|_| released)
}

/// A PersistentVolume, once bound, carries the claim's uid and resourceVersion in its
/// claimRef (an atomic object the binder set); ours without them would take that away.
/// Not a Released volume's: that uid names a claim that is gone.
pub fn keep_claim_binding(current: &PersistentVolume, desired: &mut PersistentVolume) {
    let bound = current
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.clone())
        .filter(|_| stale_claim(current).is_none());
    if let (Some(bound), Some(spec)) = (bound, desired.spec.as_mut())
        && let Some(ours) = &spec.claim_ref
        && bound.name == ours.name
        && bound.namespace == ours.namespace
    {
        spec.claim_ref = Some(bound);
    }
}

impl Applier {
    pub fn new(ctx: &Context, namespace: &str) -> Self {
        Self {
            ctx: ctx.clone(),
            namespace: namespace.to_string(),
            count: ApplyCount::default(),
            deployment: None,
            read: Default::default(),
        }
    }

    /// Apply every child that differs, in dependency order.
    pub async fn converge(&mut self, children: &Children) -> Result<(), Error> {
        if let Some(secret) = &children.secret {
            self.ensure(secret, |_, _| {}).await?;
        }
        if let Some(pv) = &children.data_pv {
            let current = self.ensure(pv, keep_claim_binding).await?;
            self.rebind_released(&current, pv).await?;
        }
        self.ensure(&children.data_pvc, |_, _| {}).await?;
        if let Some(pv) = &children.backup_pv {
            let current = self.ensure(pv, keep_claim_binding).await?;
            self.rebind_released(&current, pv).await?;
        }
        self.ensure(&children.backup_pvc, |_, _| {}).await?;
        self.ensure(&children.service, |_, _| {}).await?;
        let deployment = self.ensure(&children.deployment, |_, _| {}).await?;
        self.deployment = Some(deployment);
        match &children.backup_cron {
            Wanted::Present(cron) => {
                self.ensure(cron, |_, _| {}).await?;
            }
            Wanted::Absent(name) => self.remove::<CronJob>(name).await?,
            Wanted::Later => {}
        }
        Ok(())
    }

    /// Make our own Released volume bindable again, the standard manual procedure: its
    /// claimRef loses the gone claim's uid and resourceVersion, so it stays pre-bound by
    /// name to the instance's claim (re-created with the namespace) and to nothing else.
    /// A namespace deleted with the instance deletes the backup claim, and the volume,
    /// Retain, keeps the backups but would never bind again. Only a volume that is the
    /// instance's in every respect is touched: its labels name this instance and namespace
    /// and its claimRef names this namespace and claim; anything else is left as it is.
    /// The write is conditional on the resourceVersion read, so a binder or a person that
    /// changed the volume meanwhile wins.
    async fn rebind_released(
        &mut self,
        current: &PersistentVolume,
        desired: &PersistentVolume,
    ) -> Result<(), Error> {
        let Some(stale) = stale_claim(current) else {
            return Ok(());
        };
        let label = |pv: &PersistentVolume, key: &str| pv.labels().get(key).cloned();
        let ours = [
            "app.kubernetes.io/instance",
            NAMESPACE_LABEL,
            "app.kubernetes.io/managed-by",
        ]
        .iter()
        .all(|key| label(current, key).is_some() && label(current, key) == label(desired, key));
        let claim = |pv: &PersistentVolume| {
            let r = pv.spec.as_ref()?.claim_ref.as_ref()?;
            Some((r.namespace.clone()?, r.name.clone()?))
        };
        let name = current.name_any();
        if !ours || claim(current).is_none() || claim(current) != claim(desired) {
            tracing::warn!(volume = %name, "a Released volume of this name is not this instance's: left alone");
            return Ok(());
        }
        let patch = json!({
            "metadata": {
                "resourceVersion": current.resource_version(),
                "annotations": {RECLAIMED_FROM: stale},
            },
            "spec": {"claimRef": {"uid": null, "resourceVersion": null}},
        });
        let api: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
        let patched = match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(patched) => patched,
            // Changed meanwhile: the next pass looks again.
            Err(kube::Error::Api(e)) if e.code == 409 => return Ok(()),
            Err(e) => {
                return Err(Error::api(
                    format!("make Released PersistentVolume {name} bindable again"),
                    e,
                ));
            }
        };
        self.ctx.observer.wrote_object(Some(current), &patched);
        tracing::info!(volume = %name, old_claim = %stale, "a Released volume made bindable again");
        self.count.written += 1;
        self.count
            .names
            .push(format!("PersistentVolume/{name} (rebound)"));
        Ok(())
    }

    /// `current` is what the cluster holds for the child `desired` names, read earlier in
    /// this pass: the apply step starts from it instead of reading it again.
    pub fn read_already<K: Cached + Serialize>(&mut self, desired: &K, current: Option<K>) {
        let key = format!("{}/{}", K::kind(&()), desired.name_any());
        let value = current.and_then(|c| serde_json::to_value(c).ok());
        self.read.insert(key, value);
    }

    /// Apply one more child (made later than the rest: the backup CronJob waits for the
    /// restore-on-create), if it differs.
    pub async fn apply<K: Cached + Serialize>(&mut self, desired: &K) -> Result<(), Error> {
        self.ensure(desired, |_, _| {}).await.map(|_| ())
    }

    /// Delete the product's object `name` of kind `K` if there is one (with what it made:
    /// a CronJob's finished Jobs). Another manager's object of that name is left alone.
    async fn remove<K: Cached>(&mut self, name: &str) -> Result<(), Error> {
        let namespace = Some(self.namespace.as_str());
        let observer = &self.ctx.observer;
        let current: Option<K> = observer.get(&self.ctx.client, namespace, name).await?;
        let Some(current) = current.filter(|c| {
            c.meta().deletion_timestamp.is_none()
                && c.labels()
                    .get("app.kubernetes.io/managed-by")
                    .map(String::as_str)
                    == Some(FIELD_MANAGER)
        }) else {
            return Ok(());
        };
        let what = format!("{}/{name}", K::kind(&()));
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            preconditions: Some(Preconditions {
                uid: current.uid(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match K::api(&self.ctx.client, namespace)
            .delete(name, &params)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => return Ok(()),
            Err(e) => return Err(Error::api(format!("delete {what}"), e)),
        }
        observer.wrote::<K>(namespace, name, current.resource_version(), None);
        tracing::info!(object = %what, "deleted");
        self.count.written += 1;
        self.count.names.push(format!("-{what}"));
        Ok(())
    }

    /// Read one child; apply it only when it is missing or differs from `desired`
    /// (after `keep` has carried over what others own in the current object).
    async fn ensure<K>(&mut self, desired: &K, keep: impl FnOnce(&K, &mut K)) -> Result<K, Error>
    where
        K: Cached + Serialize,
    {
        let name = desired.name_any();
        let what = format!("{}/{name}", K::kind(&()));
        let namespace = desired
            .meta()
            .namespace
            .as_ref()
            .map(|_| self.namespace.as_str());
        self.count.total += 1;
        let observer = &self.ctx.observer;
        let current: Option<K> = match self.read.remove(&what) {
            Some(read) => read.and_then(|v| serde_json::from_value(v).ok()),
            None => observer.get(&self.ctx.client, namespace, &name).await?,
        };
        let mut desired = desired.clone();
        if let Some(current) = &current {
            keep(current, &mut desired);
        }
        let wanted = serde_json::to_value(&desired).map_err(|e| Error::BadValue(e.to_string()))?;
        if let Some(current) = &current {
            let have = serde_json::to_value(current).map_err(|e| Error::BadValue(e.to_string()))?;
            if contains(&have, &wanted) {
                return Ok(current.clone());
            }
        }
        let api = K::api(&self.ctx.client, namespace);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let applied = api
            .patch(&name, &params, &Patch::Apply(&desired))
            .await
            .map_err(|e| Error::api(format!("apply {what}"), e))?;
        observer.wrote_object(current.as_ref(), &applied);
        tracing::info!(object = %what, "applied");
        self.count.written += 1;
        self.count.names.push(what);
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::{contains, keep_claim_binding, stale_claim};
    use k8s_openapi::api::core::v1::PersistentVolume;
    use serde_json::json;

    fn volume(phase: &str, uid: Option<&str>) -> PersistentVolume {
        serde_json::from_value(json!({
            "metadata": {"name": "ns.backup-db-pv"},
            "spec": {"claimRef": {"kind": "PersistentVolumeClaim", "namespace": "ns",
                "name": "backup-db-pvc", "uid": uid, "resourceVersion": uid.map(|_| "7")}},
            "status": {"phase": phase},
        }))
        .expect("a PV")
    }

    #[test]
    fn a_bound_claim_ref_is_kept_a_released_volumes_stale_one_is_not() {
        let ours = volume("Pending", None);
        let mut desired = ours.clone();
        keep_claim_binding(&volume("Bound", Some("u1")), &mut desired);
        let kept = desired.spec.and_then(|s| s.claim_ref).expect("claimRef");
        assert_eq!(kept.uid.as_deref(), Some("u1"));
        assert_eq!(stale_claim(&volume("Bound", Some("u1"))), None);

        let released = volume("Released", Some("gone"));
        assert_eq!(stale_claim(&released).as_deref(), Some("gone"));
        let mut desired = ours.clone();
        keep_claim_binding(&released, &mut desired);
        let claim_ref = desired.spec.and_then(|s| s.claim_ref).expect("claimRef");
        assert_eq!((claim_ref.uid, claim_ref.resource_version), (None, None));
        assert_eq!(
            stale_claim(&volume("Released", None)),
            None,
            "cleared already"
        );
    }

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

    #[test]
    fn quantities_compare_by_value_other_strings_by_text() {
        let stored = json!({"spec": {"capacity": {"storage": "1536Mi"}, "resources": {"requests": {"memory": "512Mi"}, "limits": {"cpu": "1"}}},
            "volumes": [{"emptyDir": {"sizeLimit": "1Gi"}}], "image": "1Gi"});
        assert!(contains(
            &stored,
            &json!({"spec": {"capacity": {"storage": "1.5Gi"}, "resources": {"requests": {"memory": "0.5Gi"}, "limits": {"cpu": "1000m"}}},
                "volumes": [{"emptyDir": {"sizeLimit": "1024Mi"}}]})
        ));
        assert!(!contains(
            &stored,
            &json!({"spec": {"capacity": {"storage": "2Gi"}}})
        ));
        assert!(
            !contains(&stored, &json!({"image": "1024Mi"})),
            "only quantity fields compare by value"
        );
    }
}

/// The real server's stored children of the seed's instance (transcript 14, its last step)
/// count as converged: a reconcile there writes nothing.
#[cfg(test)]
mod real_server {
    use std::path::PathBuf;

    use k8s_openapi::api::core::v1::PersistentVolume;
    use serde_json::Value;

    use super::{contains, keep_claim_binding};
    use crate::crd::MySQL;
    use crate::resources::children;

    fn transcript() -> Option<Vec<Value>> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/api-transcripts/14-product-lifecycle.jsonl");
        let Ok(text) = std::fs::read_to_string(&path) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set and {} is missing",
                path.display()
            );
            eprintln!("*** SKIPPING: no {} ***", path.display());
            return None;
        };
        Some(
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
        )
    }

    #[test]
    fn every_child_a_real_server_stored_counts_as_converged() {
        let Some(lines) = transcript() else { return };
        // The instance as last read, then every object listed after "get of every child".
        let is_get_of = |l: &Value, suffix: &str| {
            l["method"] == "GET"
                && l["status"] == 200
                && l["path"].as_str().is_some_and(|p| p.ends_with(suffix))
        };
        let last_step = lines
            .iter()
            .rposition(|l| {
                l["note"]["step"]
                    .as_str()
                    .is_some_and(|s| s.contains("get of every child"))
            })
            .expect("the transcript ends with a get of every child");
        let mysql: MySQL = lines[..last_step]
            .iter()
            .rev()
            .find(|l| is_get_of(l, "/mysqls/mysql-instance"))
            .map(|l| serde_json::from_value(l["resp_body"].clone()).expect("a MySQL"))
            .expect("the instance was read");
        // (kind, object): list items carry no kind (finding 25); their list's kind says it.
        let stored: Vec<(String, Value)> = lines[last_step..]
            .iter()
            .filter(|l| l["method"] == "GET" && l["status"] == 200 && l.get("watch").is_none())
            .flat_map(|l| {
                let kind = l["resp_body"]["kind"].as_str().unwrap_or_default();
                let kind = kind.strip_suffix("List").unwrap_or(kind).to_string();
                let items = l["resp_body"]["items"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                items.into_iter().map(move |i| (kind.clone(), i))
            })
            .collect();
        let namespace = mysql.metadata.namespace.clone().expect("namespace");
        let instance = crate::validate::instance(&mysql, &namespace).expect("a valid instance");
        let desired = children(&instance);
        let mut checked = Vec::new();
        for mut wanted in desired.to_values() {
            let (kind, name) = (
                wanted["kind"].as_str().unwrap_or_default().to_string(),
                wanted["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            let mut have = stored
                .iter()
                .find(|(k, o)| *k == kind && o["metadata"]["name"] == name.as_str())
                .map(|(_, o)| o.clone())
                .unwrap_or_else(|| panic!("{kind}/{name} is not in the recording"));
            // List items come without them (finding 25); a typed read has them.
            have["apiVersion"] = wanted["apiVersion"].clone();
            have["kind"] = wanted["kind"].clone();
            if kind == "PersistentVolume" {
                let current: PersistentVolume = serde_json::from_value(have.clone()).expect("a PV");
                let mut ours: PersistentVolume = serde_json::from_value(wanted).expect("a PV");
                keep_claim_binding(&current, &mut ours);
                wanted = serde_json::to_value(ours).expect("json");
            }
            if kind == "Deployment" {
                // The recording predates the probes that hand the password over in an option
                // file (issue 12; an upgrade re-applies the Deployment once): its probe
                // commands become this version's, every other field is compared as stored.
                for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                    let path = format!("/spec/template/spec/containers/0/{probe}/exec/command");
                    let ours = wanted.pointer(&path).cloned().expect("our probe");
                    *have.pointer_mut(&path).expect("a stored probe") = ours;
                }
            }
            if kind == "Secret" {
                // The recording redacts Secret data; the rest of the Secret is compared.
                assert_eq!(have["data"]["password"], "<REDACTED>");
                wanted.as_object_mut().map(|o| o.remove("data"));
            }
            assert!(
                contains(&have, &wanted),
                "{kind}/{name} would be re-applied:\nstored  {have}\nwanted  {wanted}"
            );
            checked.push(format!("{kind}/{name}"));
        }
        assert_eq!(checked.len(), 7, "{checked:?}");
    }
}
