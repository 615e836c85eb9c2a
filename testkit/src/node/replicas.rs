//! The ReplicaSet controller and the kubelet's status for a Deployment's pod.
//!
//! - One pod per Deployment that wants replicas, `<deployment>-<template hash>-<5 chars>`,
//!   with the template's labels and `pod-template-hash`. A changed template replaces it
//!   once the old pod is gone (the product's Deployments use Recreate); a deleted or
//!   scaled-to-0 Deployment loses it. Its owner is the Deployment itself: no ReplicaSet
//!   is modelled, and the garbage collector removes the pod with its owner.
//! - The kubelet pulls the image when the container can start (claims bound, Secrets
//!   there) and reports it as containerd does: `image` normalized and `imageID` the
//!   digest it got. The pod keeps that digest for its life, whatever the tag says later.

use std::hash::{Hash, Hasher};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

use super::images::Pulled;
use super::{Cluster, Outcome, as_controller, lock, now};

/// The label the ReplicaSet controller adds to its pods.
pub(super) const TEMPLATE_HASH: &str = "pod-template-hash";

/// A stable hash of the pod template, as the label value (10 characters).
pub(super) fn template_hash(deployment: &Deployment) -> String {
    let template = deployment.spec.as_ref().map(|s| &s.template);
    let text = serde_json::to_string(&template).unwrap_or_default();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    format!("{:016x}", hasher.finish())[..10].to_string()
}

/// The Deployment's pod identity: a new uid or template is a new pod (and a new server).
pub(super) fn pod_identity(deployment: &Deployment) -> String {
    format!(
        "{}/{}",
        deployment.uid().unwrap_or_default(),
        template_hash(deployment)
    )
}

impl Cluster {
    /// The Deployment's pod for its current template, created when missing; pods of an
    /// older template are deleted first. `None` while there is none to run.
    pub(super) async fn replicate(
        &self,
        deployment: &Deployment,
    ) -> Result<Option<Pod>, kube::Error> {
        let (Some(namespace), Some(uid)) = (deployment.namespace(), deployment.uid()) else {
            return Ok(None);
        };
        let replicas = (deployment.spec.as_ref())
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let wanted = deployment.metadata.deletion_timestamp.is_none() && replicas > 0;
        let hash = template_hash(deployment);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let mut owned: Vec<Pod> = (self.server_pods.state().into_iter())
            .filter(|p| p.namespace().as_deref() == Some(namespace.as_str()))
            .filter(|p| p.owner_references().iter().any(|o| o.uid == uid))
            .map(|p| (*p).clone())
            .collect();
        // The one kept is a ready one, then the oldest (the ReplicaSet controller deletes
        // unready and newer pods first).
        owned.sort_by_key(|p| (!is_ready(p), p.creation_timestamp(), p.name_any()));
        let identity = pod_identity(deployment);
        let (mut current, mut leaving) = (None, false);
        for pod in owned {
            // One pod of the current template is kept; any other goes (a second one is
            // the ReplicaSet controller's scale-down).
            if wanted && pod.labels().get(TEMPLATE_HASH) == Some(&hash) && current.is_none() {
                current = Some(pod);
                continue;
            }
            leaving |= pod.labels().get(TEMPLATE_HASH) != Some(&hash) || !wanted;
            if pod.metadata.deletion_timestamp.is_none() {
                match api.delete(&pod.name_any(), &DeleteParams::default()).await {
                    Err(kube::Error::Api(s)) if s.is_not_found() => {}
                    other => {
                        other?;
                    }
                }
            }
        }
        let expected = lock(&self.node.created).get(&identity).cloned();
        if let Some(pod) = &current {
            // The cache shows what was created: the expectation is met.
            if expected.as_deref() == Some(pod.name_any().as_str()) {
                lock(&self.node.created).remove(&identity);
            }
        }
        if current.is_some() || !wanted || leaving {
            return Ok(current);
        }
        // Created on an earlier pass but not in the cache yet: that one, not a second.
        if let Some(name) = expected {
            match api.get_opt(&name).await? {
                Some(pod) => return Ok(Some(pod)),
                None => {
                    lock(&self.node.created).remove(&identity);
                }
            }
        }
        let created = api
            .create(&PostParams::default(), &pod_for(deployment, &hash))
            .await?;
        lock(&self.node.created).insert(identity, created.name_any());
        Ok(Some(created))
    }

    /// What the kubelet pulled for `pod`: the digest it reported already, or a pull now.
    pub(super) fn pulled(&self, pod: &Pod) -> Pulled {
        let status = (pod.status.as_ref())
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.first());
        let mut registry = lock(&self.node.registry);
        match status.filter(|c| !c.image_id.is_empty()) {
            Some(reported) => Pulled {
                image: reported.image.clone(),
                ..registry.pull(&reported.image_id)
            },
            None => {
                let image = (pod.spec.as_ref())
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                registry.pull(&image)
            }
        }
    }

    /// The kubelet's status of the pod: Pending until its container can start, then
    /// Running with the pulled image, Ready as `ready` says. Written only when it changes.
    pub(super) async fn report(&self, pod: &Pod, started: Option<&Pulled>, ready: bool) -> Outcome {
        let container = (pod.spec.as_ref())
            .and_then(|s| s.containers.first())
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let current = serde_json::to_value(&pod.status)?;
        let said = |path: &str| current.pointer(path).cloned().unwrap_or(Value::Null);
        let desired = match started {
            None => json!({"phase": "Pending"}),
            Some(pulled) => json!({"phase": "Running", "containerStatuses": [{
                "name": container, "image": pulled.image, "imageID": pulled.image_id,
                "ready": ready, "started": true, "restartCount": 0,
            }]}),
        };
        let same = said("/phase") == desired["phase"]
            && said("/containerStatuses/0/imageID")
                == desired
                    .pointer("/containerStatuses/0/imageID")
                    .cloned()
                    .unwrap_or(Value::Null)
            && said("/containerStatuses/0/ready")
                == desired
                    .pointer("/containerStatuses/0/ready")
                    .cloned()
                    .unwrap_or(Value::Null);
        if same {
            return Ok(());
        }

        let now = now();
        let condition = |kind: &str, status: bool| json!({"type": kind, "status": if status { "True" } else { "False" }, "lastTransitionTime": now});
        let mut status = desired;
        status["hostIP"] = json!("127.0.0.1");
        status["startTime"] = said("/startTime");
        if status["startTime"].is_null() {
            status["startTime"] = json!(now);
        }
        status["conditions"] = json!([
            condition("PodScheduled", true),
            condition("Initialized", true),
            condition("ContainersReady", ready),
            condition("Ready", ready),
        ]);
        if started.is_some() {
            status["podIP"] = json!("127.0.0.1");
        }
        if let Some(c) = status["containerStatuses"].get_mut(0) {
            let started_at = current
                .pointer("/containerStatuses/0/state/running/startedAt")
                .cloned()
                .unwrap_or_else(|| json!(now));
            c["state"] = json!({"running": {"startedAt": started_at}});
        }
        let params = kube::api::PatchParams {
            field_manager: Some("kubelet".into()),
            ..as_controller()
        };
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let patch = kube::api::Patch::Merge(json!({ "status": status }));
        match api.patch_status(&pod.name_any(), &params, &patch).await {
            // Gone meanwhile (its owner was deleted): nothing to report.
            Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }
}

/// The pod the ReplicaSet controller creates from the template.
fn pod_for(deployment: &Deployment, hash: &str) -> Pod {
    let name = deployment.name_any();
    let uid = deployment.uid().unwrap_or_default();
    super::controlled_pod(
        deployment.spec.as_ref().map(|s| &s.template),
        format!("{name}-{hash}-"),
        deployment.namespace(),
        &[(TEMPLATE_HASH, hash)],
        ["apps/v1", "Deployment", &name, &uid],
    )
}

fn is_ready(pod: &Pod) -> bool {
    (pod.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
