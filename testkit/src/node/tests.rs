//! The binder, provisioner and Deployment controller of the stand-in.

use super::*;
use crate::apiserver::TestApiServer;
use std::future::Future;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A test API server, a client of it and the node stand-in `start` makes on it.
pub(super) async fn cluster_with(
    start: fn(Client) -> NodeStandIn,
) -> Result<(TestApiServer, Client, NodeStandIn), Box<dyn std::error::Error>> {
    let server = TestApiServer::start().await?;
    let client = Client::try_from(kube::Config::new(server.url().parse()?))?;
    let node = start(client.clone());
    Ok((server, client, node))
}

async fn cluster() -> Result<(TestApiServer, Client, NodeStandIn), Box<dyn std::error::Error>> {
    cluster_with(NodeStandIn::start).await
}

/// Poll `probe` until it gives a value, for at most 60 s (a loaded CI machine).
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, probe: impl FnMut() -> F) -> T {
    eventually_within(what, Duration::from_secs(60), probe).await
}

/// Poll `probe` until it gives a value, for at most `limit`.
pub(super) async fn eventually_within<T, F: Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn from<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid object")
}

fn volume(name: &str, size: &str, claim: &str) -> PersistentVolume {
    from(json!({
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": format!("/tmp/{name}")},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "default", "name": claim},
        },
    }))
}

fn claim(name: &str, size: &str, class: &str, volume: Option<&str>) -> PersistentVolumeClaim {
    from(json!({
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
            "storageClassName": class,
            "volumeName": volume,
        },
    }))
}

fn secret(name: &str, key: &str) -> Secret {
    from(json!({"metadata": {"name": name}, "data": {key: "c2VjcmV0"}}))
}

/// A one-replica Deployment reading `secret`'s `password` and mounting `claim`, if any.
fn deployment(name: &str, secret: &str, claim: Option<&str>) -> Deployment {
    let volumes: Vec<Value> = claim
        .map(|c| json!({"name": "data", "persistentVolumeClaim": {"claimName": c}}))
        .into_iter()
        .collect();
    from(json!({
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{
                        "name": "mysql",
                        "image": "mysql:8.0",
                        "env": [{"name": "MYSQL_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}],
                    }],
                    "volumes": volumes,
                },
            },
        },
    }))
}

async fn bound(api: &Api<PersistentVolumeClaim>, name: &str) -> Option<PersistentVolumeClaim> {
    let claim = api.get(name).await.ok()?;
    (claim.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(claim)
}

/// The Deployment once its Available condition has this status.
async fn available(api: &Api<Deployment>, name: &str, status: &str) -> Option<Deployment> {
    let d = api.get(name).await.ok()?;
    let conditions = d.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .any(|c| c.type_ == "Available" && c.status == status)
        .then_some(d)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pre_bound_claim_and_its_volume_become_bound() -> TestResult {
    let (_server, client, _node) = cluster().await?;
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(client);
    let pp = PostParams::default();
    // Too small for its claim: must stay Pending. Created first, so a pass that sees
    // the good pair below sees these too (each cache is one ordered watch).
    pvs.create(&pp, &volume("small", "1Gi", "big")).await?;
    claims
        .create(&pp, &claim("big", "2Gi", "", Some("small")))
        .await?;
    pvs.create(&pp, &volume("data", "1Gi", "data")).await?;
    claims
        .create(&pp, &claim("data", "1Gi", "", Some("data")))
        .await?;

    let claim = eventually("the claim bound", || bound(&claims, "data")).await;
    let status = claim.status.expect("status");
    assert_eq!(status.access_modes, Some(vec!["ReadWriteOnce".to_string()]));
    assert_eq!(status.capacity.expect("capacity")["storage"].0, "1Gi");
    let pv = eventually("the volume bound", || async {
        let pv = pvs.get("data").await.ok()?;
        (pv.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(pv)
    })
    .await;
    let claim_ref = pv.spec.and_then(|s| s.claim_ref).expect("claimRef");
    assert_eq!(claim_ref.uid, claim.metadata.uid);

    let big = claims.get("big").await?;
    let phase = big.status.and_then(|s| s.phase);
    assert_ne!(
        phase.as_deref(),
        Some("Bound"),
        "a too small volume must not bind"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_with_a_storage_class_gets_a_provisioned_volume() -> TestResult {
    let (_server, client, _node) = cluster().await?;
    let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
    let created = claims
        .create(&PostParams::default(), &claim("fast", "2Gi", "fast", None))
        .await?;
    let claim = eventually("the claim bound", || bound(&claims, "fast")).await;
    let name = format!("pvc-{}", created.uid().expect("uid"));
    assert_eq!(claim.spec.and_then(|s| s.volume_name), Some(name.clone()));

    let pv = Api::<PersistentVolume>::all(client).get(&name).await?;
    assert_eq!(pv.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
    let spec = pv.spec.expect("spec");
    assert_eq!(spec.capacity.expect("capacity")["storage"].0, "2Gi");
    assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
    assert_eq!(
        spec.persistent_volume_reclaim_policy.as_deref(),
        Some("Delete")
    );
    assert_eq!(spec.claim_ref.and_then(|r| r.uid), created.uid());
    let path = spec.host_path.expect("hostPath").path;
    assert!(std::path::Path::new(&path).is_dir(), "{path} is made");
    Ok(())
}

/// The volume's phase once it is `phase`.
async fn volume_in(
    api: &Api<PersistentVolume>,
    name: &str,
    phase: &str,
) -> Option<PersistentVolume> {
    let pv = api.get(name).await.ok()?;
    (pv.status.as_ref()?.phase.as_deref() == Some(phase)).then_some(pv)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_volume_whose_claim_is_gone_is_released_or_deleted_by_its_policy() -> TestResult {
    let (_server, client, _node) = cluster().await?;
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    pvs.create(&pp, &volume("kept", "1Gi", "kept")).await?;
    let old = claims
        .create(&pp, &claim("kept", "1Gi", "", Some("kept")))
        .await?;
    let fast = claims
        .create(&pp, &claim("fast", "1Gi", "fast", None))
        .await?;
    eventually("the claims bound", || async {
        bound(&claims, "kept").await?;
        bound(&claims, "fast").await
    })
    .await;
    let provisioned = format!("pvc-{}", fast.uid().expect("uid"));
    let path = pvs
        .get(&provisioned)
        .await?
        .spec
        .and_then(|s| s.host_path)
        .expect("hostPath")
        .path;

    // Retain: Released, the old claim's uid kept, the data left alone.
    claims.delete("kept", &Default::default()).await?;
    let released = eventually("the volume released", || {
        volume_in(&pvs, "kept", "Released")
    })
    .await;
    let claim_ref = released
        .spec
        .and_then(|s| s.claim_ref)
        .expect("claimRef kept");
    assert_eq!(claim_ref.uid, old.uid(), "the old claim's uid stays");
    // A new claim of the same name does not bind it while that uid is there.
    claims
        .create(&pp, &claim("kept", "1Gi", "", Some("kept")))
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bound(&claims, "kept").await.map(|c| c.name_any()), None);
    let pv = pvs.get("kept").await?;
    assert_eq!(pv.status.and_then(|s| s.phase).as_deref(), Some("Released"));
    // Cleared by hand (the standard procedure): bound to the new claim.
    let clear = json!({"spec": {"claimRef": {"uid": null, "resourceVersion": null}}});
    pvs.patch("kept", &PatchParams::default(), &Patch::Merge(clear))
        .await?;
    let new = eventually("the new claim bound", || bound(&claims, "kept")).await;
    let pv = eventually("the volume bound again", || {
        volume_in(&pvs, "kept", "Bound")
    })
    .await;
    assert_eq!(
        pv.spec.and_then(|s| s.claim_ref).and_then(|r| r.uid),
        new.uid()
    );

    // Delete: the volume goes, and the provisioned directory with it.
    claims.delete("fast", &Default::default()).await?;
    eventually("the provisioned volume deleted", || async {
        pvs.get_opt(&provisioned)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(!std::path::Path::new(&path).exists(), "{path} is removed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_becomes_available_and_then_is_left_alone() -> TestResult {
    let (server, client, _node) = cluster().await?;
    let pp = PostParams::default();
    let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    Api::<Secret>::default_namespaced(client.clone())
        .create(&pp, &secret("db", "password"))
        .await?;
    Api::<PersistentVolume>::all(client.clone())
        .create(&pp, &volume("data", "1Gi", "data"))
        .await?;
    claims
        .create(&pp, &claim("data", "1Gi", "", Some("data")))
        .await?;
    deployments
        .create(&pp, &deployment("mysql", "db", Some("data")))
        .await?;

    let d = eventually("available", || available(&deployments, "mysql", "True")).await;
    let status = d.status.clone().expect("status");
    assert_eq!(status.observed_generation, d.metadata.generation);
    for count in [
        status.replicas,
        status.updated_replicas,
        status.ready_replicas,
        status.available_replicas,
    ] {
        assert_eq!(count, Some(1));
    }
    let conditions = status.conditions.expect("conditions");
    let reason = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == kind)
            .and_then(|c| c.reason.clone())
    };
    assert_eq!(
        reason("Available").as_deref(),
        Some("MinimumReplicasAvailable")
    );
    assert_eq!(
        reason("Progressing").as_deref(),
        Some("NewReplicaSetAvailable")
    );

    // Status went through /status, as the real controllers write it.
    let requests = server.requests();
    let status_of = |resource: &str| {
        requests
            .iter()
            .any(|r| r.verb == "patch" && r.resource == resource && r.subresource == "status")
    };
    assert!(status_of("deployments") && status_of("persistentvolumeclaims"));

    // Converged once the root CA publisher has reached every namespace too (the system
    // namespaces as well): then no writes at all, so nothing's resourceVersion moves.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    eventually("kube-root-ca.crt in every namespace", || async {
        for ns in namespaces.list(&Default::default()).await.ok()?.items {
            let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name_any());
            maps.get_opt("kube-root-ca.crt").await.ok()??;
        }
        Some(())
    })
    .await;
    let versions = || async {
        let d = deployments.get("mysql").await.ok()?;
        let c = claims.get("data").await.ok()?;
        Some((d.resource_version(), c.resource_version()))
    };
    let before = versions().await;
    server.clear_requests();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(versions().await, before);
    let writes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_write())
        .collect();
    assert!(writes.is_empty(), "writes once converged: {writes:?}");

    // A scale is a new generation: observed and counted.
    let scale = json!({"spec": {"replicas": 2}});
    deployments
        .patch("mysql", &PatchParams::default(), &Patch::Merge(scale))
        .await?;
    eventually("two replicas", || async {
        let d = deployments.get("mysql").await.ok()?;
        let s = d.status?;
        (s.available_replicas == Some(2) && s.observed_generation == d.metadata.generation)
            .then_some(())
    })
    .await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_waits_for_its_secret() -> TestResult {
    let (_server, client, _node) = cluster().await?;
    let pp = PostParams::default();
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    deployments
        .create(&pp, &deployment("mysql", "later", None))
        .await?;
    let d = eventually("unavailable", || available(&deployments, "mysql", "False")).await;
    let status = d.status.expect("status");
    assert_eq!(status.available_replicas.unwrap_or(0), 0);
    assert_eq!(status.unavailable_replicas, Some(1));
    let conditions = status.conditions.expect("conditions");
    let a = conditions
        .iter()
        .find(|c| c.type_ == "Available")
        .expect("Available");
    assert_eq!(a.reason.as_deref(), Some("MinimumReplicasUnavailable"));

    Api::<Secret>::default_namespaced(client)
        .create(&pp, &secret("later", "password"))
        .await?;
    let d = eventually("available", || available(&deployments, "mysql", "True")).await;
    assert_eq!(d.status.and_then(|s| s.available_replicas), Some(1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn hold_keeps_a_deployment_unready_until_released() -> TestResult {
    let (_server, client, node) = cluster().await?;
    let pp = PostParams::default();
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    Api::<Secret>::default_namespaced(client)
        .create(&pp, &secret("db", "password"))
        .await?;
    node.hold("default", "mysql");
    deployments
        .create(&pp, &deployment("mysql", "db", None))
        .await?;
    eventually("held unavailable", || {
        available(&deployments, "mysql", "False")
    })
    .await;
    node.release("default", "mysql");
    eventually("available once released", || {
        available(&deployments, "mysql", "True")
    })
    .await;
    // Level-triggered: holding an available one makes it unready again.
    node.hold("default", "mysql");
    eventually("unavailable when held again", || {
        available(&deployments, "mysql", "False")
    })
    .await;
    Ok(())
}

/// The Deployment's one pod, once it is Ready.
async fn ready_pod(client: &Client, app: &str) -> Option<k8s_openapi::api::core::v1::Pod> {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::default_namespaced(client.clone());
    let list = pods
        .list(&kube::api::ListParams::default().labels(&format!("app={app}")))
        .await
        .ok()?;
    let [pod] = list.items.as_slice() else {
        return None;
    };
    let ready = pod.status.as_ref()?.conditions.as_ref()?;
    ready
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
        .then(|| pod.clone())
}

fn image_id(pod: &k8s_openapi::api::core::v1::Pod) -> String {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone());
    statuses.unwrap_or_default()[0].image_id.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_runs_one_pod_that_keeps_the_digest_it_pulled() -> TestResult {
    let (_server, client, node) = cluster().await?;
    let pp = PostParams::default();
    Api::<Secret>::default_namespaced(client.clone())
        .create(&pp, &secret("db", "password"))
        .await?;
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let mut latest = deployment("mysql", "db", None);
    latest
        .spec
        .as_mut()
        .expect("spec")
        .template
        .spec
        .as_mut()
        .expect("pod")
        .containers[0]
        .image = Some("mysql:latest".into());
    deployments.create(&pp, &latest).await?;

    let pod = eventually("a ready pod", || ready_pod(&client, "mysql")).await;
    let labels = pod.labels();
    let hash = labels
        .get("pod-template-hash")
        .expect("pod-template-hash")
        .clone();
    assert!(
        pod.name_any().starts_with(&format!("mysql-{hash}-")),
        "{}",
        pod.name_any()
    );
    let owner = &pod.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("Deployment", Some(true))
    );
    let status = pod.status.clone().expect("status");
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let container = &status.container_statuses.expect("container statuses")[0];
    assert_eq!(container.image, "docker.io/library/mysql:latest");
    let pulled = container.image_id.clone();
    assert!(
        pulled.starts_with("docker.io/library/mysql@sha256:") && pulled.len() == 95,
        "{pulled}"
    );

    // `latest` moves: the running pod keeps its digest; a new pod pulls the new one.
    node.retag("mysql:latest", "9.6.0");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let same = eventually("the pod", || ready_pod(&client, "mysql")).await;
    assert_eq!(
        (same.name_any(), image_id(&same)),
        (pod.name_any(), pulled.clone())
    );

    // A new template (here an annotation) replaces the pod: Recreate, one at a time.
    let patch =
        json!({"spec": {"template": {"metadata": {"annotations": {"restartedAt": "now"}}}}});
    deployments
        .patch("mysql", &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    let replaced = eventually("a new ready pod", || async {
        ready_pod(&client, "mysql")
            .await
            .filter(|p| p.name_any() != pod.name_any())
    })
    .await;
    assert_ne!(replaced.labels().get("pod-template-hash"), Some(&hash));
    assert_ne!(
        image_id(&replaced),
        pulled,
        "the new pod pulled what latest is now"
    );

    // Deleted, the Deployment takes its pod with it.
    deployments.delete("mysql", &Default::default()).await?;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::default_namespaced(client.clone());
    eventually("no pod", || async {
        let list = pods.list(&Default::default()).await.ok()?;
        list.items.is_empty().then_some(())
    })
    .await;
    Ok(())
}

/// A second pod of the Deployment's current template (two passes that both created one,
/// before the pod cache showed the first) is scaled away; the ready one stays.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_pod_of_the_same_template_is_removed() -> TestResult {
    let (_server, client, _node) = cluster().await?;
    let pp = PostParams::default();
    Api::<Secret>::default_namespaced(client.clone())
        .create(&pp, &secret("db", "password"))
        .await?;
    Api::<Deployment>::default_namespaced(client.clone())
        .create(&pp, &deployment("mysql", "db", None))
        .await?;
    let first = eventually("a ready pod", || ready_pod(&client, "mysql")).await;

    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::default_namespaced(client.clone());
    let mut twin = first.clone();
    twin.metadata = kube::api::ObjectMeta {
        generate_name: first.metadata.generate_name.clone(),
        labels: first.metadata.labels.clone(),
        owner_references: first.metadata.owner_references.clone(),
        ..Default::default()
    };
    twin.status = None;
    let twin = pods.create(&pp, &twin).await?;
    eventually("the twin gone", || async {
        let list = pods.list(&Default::default()).await.ok()?;
        let names: Vec<String> = list.items.iter().map(|p| p.name_any()).collect();
        (names == [first.name_any()]).then_some(())
    })
    .await;
    assert_ne!(twin.name_any(), first.name_any());
    Ok(())
}
