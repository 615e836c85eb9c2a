//! Conformance of the test API server: the same assertions hold against a real cluster.
//! Names start with `conformance_` so `cargo test conformance` selects them all.

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Config};
use kubectl_mysql::crd::{MySQL, MySQLStatus, Phase};
use serde_json::json;
use testkit::apiserver::TestApiServer;

async fn client(server: &TestApiServer) -> Client {
    let config = Config::new(server.url().parse().expect("url"));
    Client::try_from(config).expect("client")
}

fn error_code<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn conformance_crud_conflicts_and_patches() {
    let server = TestApiServer::start().await.expect("server");
    let client = client(&server).await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "cm1", "labels": {"app": "a"}}, "data": {"a": "1"}
    }))
    .expect("cm");
    let created = maps
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let rv = created.metadata.resource_version.clone().expect("rv");
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    assert_eq!(
        error_code(maps.create(&PostParams::default(), &cm).await),
        (409, "AlreadyExists".into())
    );

    let patched = maps
        .patch(
            "cm1",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"b": "2"}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(patched.data.as_ref().map(|d| d.len()), Some(2));
    assert_ne!(
        patched.metadata.resource_version.as_deref(),
        Some(rv.as_str())
    );

    // A replace with the old resourceVersion is a conflict.
    let mut stale = created.clone();
    stale.data = Some([("c".to_string(), "3".to_string())].into());
    assert_eq!(
        error_code(maps.replace("cm1", &PostParams::default(), &stale).await),
        (409, "Conflict".into())
    );

    let listed = maps
        .list(&ListParams::default().labels("app=a"))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    assert!(
        maps.list(&ListParams::default().labels("app=b"))
            .await
            .expect("list")
            .items
            .is_empty()
    );

    maps.delete("cm1", &DeleteParams::default())
        .await
        .expect("delete");
    assert_eq!(error_code(maps.get("cm1").await), (404, "NotFound".into()));
    let elsewhere: Api<ConfigMap> = Api::namespaced(client, "no-such-namespace");
    assert_eq!(
        error_code(elsewhere.create(&PostParams::default(), &cm).await).0,
        404
    );
}

#[tokio::test]
async fn conformance_crd_status_subresource_and_finalizers() {
    let server = TestApiServer::start().await.expect("server");
    let client = client(&server).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &kubectl_mysql::crd::crd())
        .await
        .expect("crd");
    let mysqls: Api<MySQL> = Api::namespaced(client.clone(), "default");
    let object: MySQL = serde_saphyr::from_str(include_str!("../../deploy/cr.yaml")).expect("cr");
    let created = mysqls
        .create(&PostParams::default(), &object)
        .await
        .expect("create the seed CR");
    assert_eq!(created.metadata.generation, Some(1));

    // A status write leaves spec and generation alone.
    let status =
        json!({"status": MySQLStatus { phase: Some(Phase::Ready), ..MySQLStatus::default() }});
    let after = mysqls
        .patch_status(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(status),
        )
        .await
        .expect("status patch");
    assert_eq!(after.status.and_then(|s| s.phase), Some(Phase::Ready));
    assert_eq!(after.metadata.generation, Some(1));

    // A spec change bumps generation; status in a main-resource write is ignored.
    let changed = mysqls
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"image": "mysql:8.4"}, "status": {"phase": "Failed"}})),
        )
        .await
        .expect("spec patch");
    assert_eq!(changed.metadata.generation, Some(2));
    assert_eq!(changed.status.and_then(|s| s.phase), Some(Phase::Ready));

    // With a finalizer, delete only marks the object; removing the finalizer deletes it.
    mysqls
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["otus.homework/backup"]}})),
        )
        .await
        .expect("finalizer");
    let marked = mysqls
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete");
    let marked = marked
        .left()
        .expect("the object comes back while a finalizer holds it");
    assert!(marked.metadata.deletion_timestamp.is_some());
    mysqls
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("release");
    assert_eq!(error_code(mysqls.get("mysql-instance").await).0, 404);
}

#[test]
fn conformance_kubectl_reads_discovery_and_lists() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(TestApiServer::start()).expect("server");
    let dir = tempfile::tempdir().expect("tmp");
    let kubeconfig = server
        .write_kubeconfig(&dir.path().join("config"))
        .expect("kubeconfig");
    let kubectl = |args: &[&str]| {
        std::process::Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", dir.path())
            .output()
            .expect("kubectl runs")
    };
    let out = kubectl(&["get", "namespaces", "-o", "name"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = String::from_utf8_lossy(&out.stdout);
    assert!(names.lines().any(|l| l == "namespace/default"), "{names}");
    let out = kubectl(&["api-resources", "--api-group=apps", "-o", "name"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("deployments.apps"));
}
