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
//! - `containerStatuses` lists every container of the template, sorted by name as the
//!   kubelet sorts them. The main one (the MySQL server's, else the first) is ready as the
//!   Deployment's readiness says; one the stand-in runs beside a server (`sidecars.rs`)
//!   as its process does, with its restarts; any other as the main one. The pod is Ready
//!   when all are.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

use super::images::Pulled;
use super::servers::main_container;
use super::sidecars::{self, Observed};
use super::{Cluster, as_controller, lock, now};

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

    /// What the kubelet pulled for `pod`'s main container: the digest it reported
    /// already, or a pull now.
    pub(super) fn pulled(&self, pod: &Pod) -> Pulled {
        self.pulled_for(pod, pod.spec.as_ref().and_then(main_container))
    }

    /// What the kubelet pulled for one container of `pod`.
    fn pulled_for(&self, pod: &Pod, container: Option<&Container>) -> Pulled {
        let name = container.map(|c| c.name.as_str());
        let status = (pod.status.as_ref())
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|all| all.iter().find(|c| Some(c.name.as_str()) == name));
        let mut registry = lock(&self.node.registry);
        match status.filter(|c| !c.image_id.is_empty()) {
            Some(reported) => Pulled {
                image: reported.image.clone(),
                ..registry.pull(&reported.image_id)
            },
            None => {
                let image = container.and_then(|c| c.image.clone()).unwrap_or_default();
                registry.pull(&image)
            }
        }
    }

    /// The status of each container of a started pod, sorted by name; the main one's
    /// image is `pulled`, its readiness `ready`.
    fn container_statuses(
        &self,
        pod: &Pod,
        pulled: &Pulled,
        ready: bool,
        beside: &Beside,
        current: &Value,
    ) -> Vec<Value> {
        let Some(spec) = pod.spec.as_ref() else {
            return Vec::new();
        };
        let main = main_container(spec).map(|c| c.name.as_str());
        let mut statuses: Vec<Value> = (spec.containers.iter())
            .map(|container| {
                let started_at = reported(current, &container.name)
                    .and_then(|c| c.pointer("/state/running/startedAt"))
                    .cloned()
                    .unwrap_or_else(|| json!(now()));
                let pulled = if Some(container.name.as_str()) == main {
                    pulled.clone()
                } else {
                    self.pulled_for(pod, Some(container))
                };
                let status = json!({
                    "name": container.name, "image": pulled.image, "imageID": pulled.image_id,
                    "ready": ready, "started": true, "restartCount": 0,
                    "state": {"running": {"startedAt": started_at}},
                });
                match beside {
                    Beside::Played(run)
                        if Some(container.name.as_str()) != main
                            && sidecars::is_played(container) =>
                    {
                        played_status(status, run.get(&container.name))
                    }
                    _ => status,
                }
            })
            .collect();
        statuses.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        statuses
    }

    /// The kubelet's status of the pod: Pending until its containers can start, then
    /// Running with the pulled images (`started`, the main container's) and each
    /// container's readiness (see the module docs). Written only when it changes. Whether
    /// the pod is Ready.
    pub(super) async fn report(
        &self,
        pod: &Pod,
        started: Option<&Pulled>,
        ready: bool,
        beside: &Beside,
    ) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
        let current = serde_json::to_value(&pod.status)?;
        let said = |path: &str| current.pointer(path).cloned().unwrap_or(Value::Null);
        let statuses =
            started.map(|pulled| self.container_statuses(pod, pulled, ready, beside, &current));
        let pod_ready = statuses
            .as_ref()
            .is_some_and(|all| all.iter().all(|c| c["ready"] == json!(true)));
        let desired = match statuses {
            None => json!({"phase": "Pending"}),
            Some(statuses) => json!({"phase": "Running", "containerStatuses": statuses}),
        };
        let fingerprints = |status: &Value| {
            (status["containerStatuses"].as_array().into_iter().flatten())
                .map(fingerprint)
                .collect::<Vec<_>>()
        };
        // A pod back to Pending keeps the statuses a merge patch cannot remove: its phase
        // alone says it (else every pass would write again).
        let pending = desired["containerStatuses"].is_null();
        if said("/phase") == desired["phase"]
            && (pending || fingerprints(&current) == fingerprints(&desired))
        {
            return Ok(pod_ready);
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
            condition("ContainersReady", pod_ready),
            condition("Ready", pod_ready),
        ]);
        if started.is_some() {
            status["podIP"] = json!("127.0.0.1");
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
            Err(kube::Error::Api(s)) if s.is_not_found() => Ok(pod_ready),
            other => other.map(|_| pod_ready).map_err(Into::into),
        }
    }
}

/// What runs a pod's containers besides the main one.
pub(super) enum Beside {
    /// Nothing: they say what the main container says.
    Mirrored,
    /// Those with a command run as processes beside a MySQL server: as their processes
    /// say (by name; empty until the server is made).
    Played(HashMap<String, Observed>),
}

/// The status of a container the stand-in runs beside a server (`status`, as if it were
/// the main one, gives the name and image): running, or waiting to (re)start.
fn played_status(mut status: Value, observed: Option<&Observed>) -> Value {
    let Some(observed) = observed else {
        status["ready"] = json!(false);
        status["started"] = json!(false);
        status["state"] = json!({"waiting": {"reason": "ContainerCreating"}});
        return status;
    };
    status["ready"] = json!(observed.running);
    status["started"] = json!(observed.running);
    status["restartCount"] = json!(observed.restarts);
    status["state"] = if observed.running {
        json!({"running": {"startedAt": observed.started_at}})
    } else {
        json!({"waiting": {"reason": "CrashLoopBackOff"}})
    };
    if let Some((code, started, finished)) = &observed.last_exit {
        let reason = if *code == 0 { "Completed" } else { "Error" };
        status["lastState"] = json!({"terminated": {
            "exitCode": code, "reason": reason, "startedAt": started, "finishedAt": finished,
        }});
    }
    status
}

/// The status of the container `name` in a pod's status.
fn reported<'a>(status: &'a Value, name: &str) -> Option<&'a Value> {
    let all = status["containerStatuses"].as_array();
    all.into_iter().flatten().find(|c| c["name"] == name)
}

/// What a container status says, timestamps aside: a change here is worth a write.
fn fingerprint(status: &Value) -> Value {
    let state = (status["state"].as_object()).and_then(|s| s.keys().next().cloned());
    json!([
        status["name"],
        status["imageID"],
        status["ready"],
        status["restartCount"],
        state,
        status["state"]["waiting"]["reason"],
        status["lastState"]["terminated"]["exitCode"],
    ])
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
