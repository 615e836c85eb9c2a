//! Conformance of the test API server. Every test runs against a fresh test server, or,
//! with `MYSQL_E2E_KUBECONFIG` set, against that real cluster: the same assertions must
//! hold on both. Names start with `conformance_` so `cargo test conformance` selects them.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};
use kubectl_mysql::crd::{MySQL, MySQLStatus, Phase};
use serde_json::{Value, json};

use crate::cluster::{Cluster, eventually, install_crd, seed_cr, text};

fn error_code<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn config_map(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"a": "1"}}),
    )
    .expect("configmap")
}

#[tokio::test]
async fn conformance_crud_conflicts_and_patches() {
    let cluster = Cluster::new("conf-crud").await;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let cm = config_map("cm1", json!({"app": "a"}));
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

    // JSON patch with a failing test op is refused and changes nothing.
    let failing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/a", "value": "nope"},
        {"op": "replace", "path": "/data/a", "value": "9"}
    ]))
    .expect("patch");
    assert_eq!(
        error_code(
            maps.patch("cm1", &PatchParams::default(), &Patch::<()>::Json(failing))
                .await
        )
        .0,
        422
    );
    assert_eq!(
        maps.get("cm1").await.expect("get").data.expect("data")["a"],
        "1"
    );

    let listed = maps
        .list(&ListParams::default().labels("app=a"))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    let none = maps
        .list(&ListParams::default().labels("app in (b,c)"))
        .await
        .expect("list");
    assert!(none.items.is_empty());
    let by_name = maps
        .list(&ListParams::default().fields("metadata.name=cm1"))
        .await
        .expect("field selector");
    assert_eq!(by_name.items.len(), 1);

    maps.delete("cm1", &DeleteParams::default())
        .await
        .expect("delete");
    assert_eq!(error_code(maps.get("cm1").await), (404, "NotFound".into()));
    let elsewhere: Api<ConfigMap> =
        Api::namespaced(cluster.client.clone(), "conf-no-such-namespace");
    assert_eq!(
        error_code(elsewhere.create(&PostParams::default(), &cm).await).0,
        404
    );
    cluster.cleanup().await;
}

#[tokio::test]
async fn conformance_pagination() {
    let cluster = Cluster::new("conf-page").await;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    for i in 0..5 {
        maps.create(
            &PostParams::default(),
            &config_map(&format!("page-{i}"), json!({"page": "yes"})),
        )
        .await
        .expect("create");
    }
    let params = ListParams::default().labels("page=yes").limit(2);
    let first = maps.list(&params).await.expect("page 1");
    assert_eq!(first.items.len(), 2);
    // Through a selector the server cannot count the rest; without one it does. (The
    // namespace may hold ConfigMaps of the cluster's own, like kube-root-ca.crt.)
    assert_eq!(first.metadata.remaining_item_count, None);
    let all = maps
        .list(&ListParams::default())
        .await
        .expect("all")
        .items
        .len();
    let unselected = maps
        .list(&ListParams::default().limit(1))
        .await
        .expect("a page without a selector");
    assert_eq!(
        unselected.metadata.remaining_item_count,
        Some(all as i64 - 1)
    );
    let token = first.metadata.continue_.clone().expect("continue token");
    let mut names: Vec<String> = first.items.iter().map(|c| c.name_any()).collect();
    let mut next = Some(token);
    while let Some(token) = next.filter(|t| !t.is_empty()) {
        let page = maps
            .list(&params.clone().continue_token(&token))
            .await
            .expect("page");
        names.extend(page.items.iter().map(|c| c.name_any()));
        next = page.metadata.continue_;
    }
    assert_eq!(names, ["page-0", "page-1", "page-2", "page-3", "page-4"]);
    let bad = maps
        .list(&ListParams::default().continue_token("not-a-token"))
        .await;
    assert_eq!(error_code(bad).0, 400);
    cluster.cleanup().await;
}

#[tokio::test]
async fn conformance_crd_status_subresource_and_finalizers() {
    let cluster = Cluster::new("conf-crd").await;
    install_crd(&cluster.client).await;
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let created = mysqls
        .create(&PostParams::default(), &seed_cr())
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
    assert_eq!(
        marked.metadata.generation,
        Some(3),
        "deletion bumps generation"
    );
    // No new finalizers on a terminating object.
    let refused = mysqls
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": ["otus.homework/backup", "x.io/other"]}}),
            ),
        )
        .await;
    assert_eq!(error_code(refused).0, 422);
    mysqls
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("release");
    assert_eq!(error_code(mysqls.get("mysql-instance").await).0, 404);
    cluster.cleanup().await;
}

#[tokio::test]
async fn conformance_custom_resources_are_validated() {
    let cluster = Cluster::new("conf-valid").await;
    install_crd(&cluster.client).await;
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &cluster.namespace,
        &kube::api::ApiResource::erase::<MySQL>(&()),
    );
    let post = |body: Value| {
        let raw = raw.clone();
        async move {
            let object: kube::api::DynamicObject = serde_json::from_value(body).expect("object");
            raw.create(&PostParams::default(), &object).await
        }
    };
    let base = json!({"apiVersion": "otus.homework/v1", "kind": "MySQL", "metadata": {"name": "v"},
        "spec": {"database": "db", "password": "pw", "storage_size": "1Gi"}});

    let mut missing = base.clone();
    missing["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("database");
    match post(missing).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert!(
                s.message.contains("spec.database: Required value"),
                "{}",
                s.message
            );
        }
        other => panic!("expected 422, got {other:?}"),
    }
    let mut both = base.clone();
    both["spec"]["password_secret"] = json!({"name": "s"});
    match post(both).await {
        Err(kube::Error::Api(s)) => assert!(
            s.message
                .contains("exactly one of spec.password or spec.password_secret must be set"),
            "{}",
            s.message
        ),
        other => panic!("expected 422, got {other:?}"),
    }
    let mut pattern = base.clone();
    pattern["spec"]["storage_size"] = json!("1 GB");
    assert_eq!(error_code(post(pattern).await).0, 422);

    // Without fieldValidation (kube-rs sends none) unknown fields are dropped.
    let mut unknown = base.clone();
    unknown["spec"]["usless_data"] = json!("x");
    let created = post(unknown)
        .await
        .expect("created with the unknown field pruned");
    assert!(created.data["spec"].get("usless_data").is_none());
    assert_eq!(
        created.data["spec"]["image"], "mysql:8.4",
        "schema default applied"
    );

    // Transition rules: the database is immutable.
    let moved = mysqls
        .patch(
            "v",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"database": "other"}})),
        )
        .await;
    assert_eq!(error_code(moved).0, 422);
    cluster.cleanup().await;
}

#[tokio::test]
async fn conformance_watch_resume_and_gone() {
    let cluster = Cluster::new("conf-watch").await;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let start = maps.list(&ListParams::default()).await.expect("list");
    let from = start.metadata.resource_version.clone().expect("list rv");
    maps.create(&PostParams::default(), &config_map("w1", json!({"w": "1"})))
        .await
        .expect("create");
    maps.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"b": "2"}})),
    )
    .await
    .expect("patch");
    maps.delete("w1", &DeleteParams::default())
        .await
        .expect("delete");

    // Resuming from the list's resourceVersion replays what happened since (selected by
    // label: the cluster may add its own ConfigMaps to a new namespace meanwhile).
    let stream = maps
        .watch(&WatchParams::default().labels("w=1").timeout(2), &from)
        .await
        .expect("watch");
    let kinds: Vec<String> = stream
        .take(3)
        .map(|e| match e.expect("event") {
            WatchEvent::Added(c) => format!("ADDED {}", c.name_any()),
            WatchEvent::Modified(c) => format!("MODIFIED {}", c.name_any()),
            WatchEvent::Deleted(c) => format!("DELETED {}", c.name_any()),
            other => format!("{other:?}"),
        })
        .collect()
        .await;
    assert_eq!(kinds, ["ADDED w1", "MODIFIED w1", "DELETED w1"]);

    // A resourceVersion that is no longer kept ends in a 410 Gone event.
    let mut stream = Box::pin(
        maps.watch(&WatchParams::default().timeout(2), "1")
            .await
            .expect("watch"),
    );
    match stream.next().await {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 event, got {other:?}"),
    }
    cluster.cleanup().await;
}

#[tokio::test]
async fn conformance_watcher_and_controller_see_changes() {
    let cluster = Cluster::new("conf-ctrl").await;
    install_crd(&cluster.client).await;
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &cluster.namespace);

    // A Controller that owns ConfigMaps: each reconcile records the object's generation.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, Option<i64>)>::new()));
    let recorder = seen.clone();
    let controller = Controller::new(mysqls.clone(), watcher::Config::default())
        .owns(maps.clone(), watcher::Config::default())
        .run(
            move |object: std::sync::Arc<MySQL>, _ctx: std::sync::Arc<()>| {
                let recorder = recorder.clone();
                async move {
                    recorder
                        .lock()
                        .expect("lock")
                        .push((object.name_any(), object.metadata.generation));
                    Ok::<_, kube::Error>(kube::runtime::controller::Action::await_change())
                }
            },
            |_, _, _| kube::runtime::controller::Action::await_change(),
            std::sync::Arc::new(()),
        )
        .for_each(|_| async {});
    let running = tokio::spawn(controller);

    let created = mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("create");
    let seen_has = |generation: i64| {
        let seen = seen.clone();
        move || {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .expect("lock")
                    .iter()
                    .any(|(_, g)| *g == Some(generation))
            }
        }
    };
    eventually("the controller reconciled the new object", seen_has(1)).await;
    mysqls
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"image": "mysql:8.4"}})),
        )
        .await
        .expect("spec change");
    eventually("the controller saw the spec change", seen_has(2)).await;

    // A change to an owned child triggers the owner's reconcile.
    let before = seen.lock().expect("lock").len();
    let owner = created.controller_owner_ref(&()).expect("owner ref");
    let mut child = config_map("child", json!({}));
    child.metadata.owner_references = Some(vec![owner]);
    maps.create(&PostParams::default(), &child)
        .await
        .expect("child");
    let seen_more = seen.clone();
    eventually("the owned child's creation reached the owner", move || {
        let seen = seen_more.clone();
        async move { seen.lock().expect("lock").len() > before }
    })
    .await;
    running.abort();

    // A watcher whose streams the server closes every second resumes from where it was,
    // and sees a change made after the first close, then the deletion.
    let mut events = Box::pin(watcher(
        mysqls.clone(),
        watcher::Config::default().timeout(1),
    ));
    let mut next = async || {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), events.try_next())
                .await
                .expect("the watcher answers")
                .expect("no watch error")
                .expect("the stream goes on");
            match event {
                watcher::Event::Apply(m) => return format!("Apply {}", m.spec.image),
                watcher::Event::Delete(m) => return format!("Delete {}", m.name_any()),
                _ => {}
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), next()).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    mysqls
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"image": "mysql:9.1"}})),
        )
        .await
        .expect("change after the server closed the first stream");
    assert_eq!(next().await, "Apply mysql:9.1");
    mysqls
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete");
    assert_eq!(next().await, "Delete mysql-instance");
    cluster.cleanup().await;
}

#[tokio::test]
async fn conformance_garbage_collection() {
    let cluster = Cluster::new("conf-gc").await;
    install_crd(&cluster.client).await;
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let owned_child = |owner: &MySQL, name: &str| {
        let mut child = config_map(name, json!({}));
        child.metadata.owner_references =
            Some(vec![owner.controller_owner_ref(&()).expect("owner")]);
        child
    };
    let gone = |name: &'static str| {
        let maps = maps.clone();
        move || {
            let maps = maps.clone();
            async move { maps.get_opt(name).await.expect("get").is_none() }
        }
    };

    // Background: the owner goes at once, the garbage collector removes the child.
    let owner = mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("owner");
    maps.create(&PostParams::default(), &owned_child(&owner, "bg-child"))
        .await
        .expect("child");
    mysqls
        .delete("mysql-instance", &DeleteParams::background())
        .await
        .expect("delete");
    eventually("the background child is collected", gone("bg-child")).await;

    // Foreground: the owner waits (foregroundDeletion) until its children are gone.
    let owner = mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("owner");
    maps.create(&PostParams::default(), &owned_child(&owner, "fg-child"))
        .await
        .expect("child");
    let marked = mysqls
        .delete("mysql-instance", &DeleteParams::foreground())
        .await
        .expect("delete")
        .left()
        .expect("a foreground delete returns the object");
    assert!(
        marked
            .finalizers()
            .iter()
            .any(|f| f == "foregroundDeletion")
    );
    eventually("the foreground child is collected", gone("fg-child")).await;
    let mysqls_gone = mysqls.clone();
    eventually("the foreground owner goes after its child", move || {
        let mysqls = mysqls_gone.clone();
        async move {
            mysqls
                .get_opt("mysql-instance")
                .await
                .expect("get")
                .is_none()
        }
    })
    .await;

    // Orphan: the child stays, without the owner reference.
    let owner = mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("owner");
    maps.create(&PostParams::default(), &owned_child(&owner, "orphan-child"))
        .await
        .expect("child");
    mysqls
        .delete("mysql-instance", &DeleteParams::orphan())
        .await
        .expect("delete");
    let maps_orphan = maps.clone();
    eventually("the orphan loses its owner reference", move || {
        let maps = maps_orphan.clone();
        async move {
            maps.get_opt("orphan-child")
                .await
                .expect("get")
                .is_some_and(|c| c.metadata.owner_references.is_none_or(|o| o.is_empty()))
        }
    })
    .await;
    cluster.cleanup().await;
}

#[tokio::test]
async fn conformance_namespace_deletion_cascades() {
    let cluster = Cluster::new("conf-ns").await;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    maps.create(&PostParams::default(), &config_map("inside", json!({})))
        .await
        .expect("create");
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    namespaces
        .delete(&cluster.namespace, &DeleteParams::default())
        .await
        .expect("delete namespace");
    let name = cluster.namespace.clone();
    let watched = namespaces.clone();
    eventually("the namespace and its objects are gone", move || {
        let namespaces = watched.clone();
        let name = name.clone();
        async move { namespaces.get_opt(&name).await.expect("get").is_none() }
    })
    .await;
    assert!(maps.get_opt("inside").await.expect("get").is_none());
}

// kubectl runs as a blocking child process: the in-process server needs another thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kubectl_against_the_crd() {
    let cluster = Cluster::new("conf-kubectl").await;
    let ns = cluster.namespace.clone();
    let kubectl = |args: &[&str], stdin: Option<&str>| {
        let mut all = vec!["-n", ns.as_str()];
        all.extend_from_slice(args);
        cluster.kubectl(&all, stdin)
    };
    let repo = crate::cli::repo();
    let crd = repo.join("deploy/crd.yaml").display().to_string();
    let cr = std::fs::read_to_string(repo.join("deploy/cr.yaml")).expect("cr");

    let out = kubectl(&["apply", "-f", &crd], None);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = kubectl(
        &[
            "wait",
            "--for=condition=Established",
            "crd/mysqls.otus.homework",
            "--timeout=20s",
        ],
        None,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let out = kubectl(&["apply", "-f", "-"], Some(&cr));
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        text(&out)
            .0
            .contains("mysql.otus.homework/mysql-instance created")
    );

    let out = kubectl(&["get", "mysqls.otus.homework"], None);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let header: Vec<&str> = stdout
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "PHASE", "DATABASE", "STORAGE", "AGE"]);
    assert!(
        stdout.contains("otus-database") && stdout.contains("1Gi"),
        "{stdout}"
    );
    let out = kubectl(&["get", "ms", "-o", "wide"], None);
    assert!(
        text(&out)
            .0
            .lines()
            .next()
            .unwrap_or_default()
            .contains("MESSAGE")
    );

    let out = kubectl(&["describe", "mysql", "mysql-instance"], None);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("Database:") && stdout.contains("otus-database"),
        "{stdout}"
    );

    // The seed's unknown-field error, word for word.
    let bad = cr.replace(
        "storage_size: 1Gi",
        "storage_size: 1Gi\n  usless_data: \"useless info\"",
    );
    let out = kubectl(&["apply", "-f", "-"], Some(&bad));
    assert!(!out.status.success());
    assert!(
        text(&out)
            .1
            .contains(r#"strict decoding error: unknown field "spec.usless_data""#),
        "{:?}",
        text(&out)
    );

    // delete waits while a finalizer holds the object, then gives up with kubectl's words.
    let out = kubectl(
        &[
            "patch",
            "ms",
            "mysql-instance",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["otus.homework/backup"]}}"#,
        ],
        None,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let out = kubectl(&["delete", "ms", "mysql-instance", "--timeout=2s"], None);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("timed out waiting for the condition"),
        "{:?}",
        text(&out)
    );
    let out = kubectl(
        &[
            "patch",
            "ms",
            "mysql-instance",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
        None,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let out = kubectl(&["get", "ms", "mysql-instance"], None);
    assert!(
        text(&out).1.contains("NotFound") || text(&out).1.contains("not found"),
        "{:?}",
        text(&out)
    );
    cluster.cleanup().await;
}

#[test]
fn conformance_kubectl_reads_discovery_and_lists() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let cluster = runtime.block_on(Cluster::new("conf-disc"));
    let out = cluster.kubectl(&["get", "namespaces", "-o", "name"], None);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        text(&out).0.lines().any(|l| l == "namespace/default"),
        "{:?}",
        text(&out)
    );
    let out = cluster.kubectl(&["api-resources", "--api-group=apps", "-o", "name"], None);
    assert!(text(&out).0.contains("deployments.apps"));
    runtime.block_on(cluster.cleanup());
}

// kubectl runs as a blocking child process: the in-process server needs another thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_events_are_one_store_with_two_views() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};

    let cluster = Cluster::new("conf-events").await;
    install_crd(&cluster.client).await;
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let object = mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("create");
    let recorder = Recorder::new(
        cluster.client.clone(),
        Reporter {
            controller: "kubectl-mysql".into(),
            instance: None,
        },
    );
    let event = Event {
        type_: EventType::Normal,
        reason: "Provisioning".into(),
        note: Some("creating children of mysql-instance".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    let reference = object.object_ref(&());
    recorder
        .publish(&event, &reference)
        .await
        .expect("published");
    recorder
        .publish(&event, &reference)
        .await
        .expect("published again (a series)");

    // The core/v1 view, selected the way kubectl describe selects it.
    let core: Api<CoreEvent> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let selector = format!(
        "involvedObject.name=mysql-instance,involvedObject.namespace={},involvedObject.kind=MySQL",
        cluster.namespace
    );
    let listed = core
        .list(&ListParams::default().fields(&selector))
        .await
        .expect("core events");
    assert_eq!(listed.items.len(), 1, "one event with a series, not two");
    let e = &listed.items[0];
    assert_eq!(e.reason.as_deref(), Some("Provisioning"));
    assert_eq!(
        e.message.as_deref(),
        Some("creating children of mysql-instance")
    );
    assert_eq!(e.reporting_component.as_deref(), Some("kubectl-mysql"));

    // events.k8s.io/v1 refuses the core field names.
    let v1: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let refused = v1
        .list(&ListParams::default().fields("involvedObject.name=mysql-instance"))
        .await;
    assert_eq!(error_code(refused).0, 400);
    let by_regarding = v1
        .list(&ListParams::default().fields("regarding.name=mysql-instance"))
        .await
        .expect("events.k8s.io list");
    assert_eq!(
        by_regarding.items[0].series.as_ref().map(|s| s.count),
        Some(2)
    );

    let out = cluster.kubectl(
        &[
            "-n",
            &cluster.namespace,
            "describe",
            "mysql",
            "mysql-instance",
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("Provisioning") && stdout.contains("creating children of mysql-instance"),
        "{stdout}"
    );
    cluster.cleanup().await;
}

#[tokio::test]
async fn conformance_server_side_apply() {
    let cluster = Cluster::new("conf-ssa").await;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let applied = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": data});
    let by = |manager: &str| PatchParams::apply(manager);

    // Create by apply, then an identical apply writes nothing.
    let first = maps
        .patch(
            "ssa",
            &by("mgr-a"),
            &Patch::Apply(applied(json!({"a": "1", "b": "2"}))),
        )
        .await
        .expect("apply creates");
    let again = maps
        .patch(
            "ssa",
            &by("mgr-a"),
            &Patch::Apply(applied(json!({"a": "1", "b": "2"}))),
        )
        .await
        .expect("identical apply");
    assert_eq!(
        first.metadata.resource_version,
        again.metadata.resource_version
    );
    let managers: Vec<String> = again
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, ["mgr-a"]);

    // Another manager changing a field it does not own is a conflict, unless forced.
    let conflict = maps
        .patch(
            "ssa",
            &by("mgr-b"),
            &Patch::Apply(applied(json!({"a": "9"}))),
        )
        .await;
    match conflict {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 409);
            assert_eq!(
                s.message,
                r#"Apply failed with 1 conflict: conflict with "mgr-a": .data.a"#
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let forced = maps
        .patch(
            "ssa",
            &by("mgr-b").force(),
            &Patch::Apply(applied(json!({"a": "9"}))),
        )
        .await
        .expect("forced apply");
    assert_eq!(forced.data.as_ref().expect("data")["a"], "9");

    // A manager that stops applying a field it alone owns removes it.
    let pruned = maps
        .patch("ssa", &by("mgr-a"), &Patch::Apply(applied(json!({}))))
        .await
        .expect("partial apply");
    let data = pruned.data.unwrap_or_default();
    assert!(!data.contains_key("b"), "b was mgr-a's alone: {data:?}");
    assert_eq!(
        data.get("a").map(String::as_str),
        Some("9"),
        "a now belongs to mgr-b"
    );

    // An apply without a field manager is refused.
    let nameless = maps
        .patch(
            "ssa",
            &PatchParams::apply(""),
            &Patch::Apply(applied(json!({}))),
        )
        .await;
    assert_eq!(error_code(nameless).0, 422);
    cluster.cleanup().await;
}

// kubectl runs as a blocking child process: the in-process server needs another thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kubectl_server_side_apply() {
    let cluster = Cluster::new("conf-kssa").await;
    install_crd(&cluster.client).await;
    let cr = std::fs::read_to_string(crate::cli::repo().join("deploy/cr.yaml")).expect("cr");
    let ns = cluster.namespace.clone();
    let apply = |body: &str| {
        cluster.kubectl(
            &["-n", &ns, "apply", "--server-side", "-f", "-"],
            Some(body),
        )
    };
    let out = apply(&cr);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        text(&out).0.contains("serverside-applied"),
        "{:?}",
        text(&out)
    );
    let out = apply(&cr.replace("1Gi", "2Gi"));
    assert!(out.status.success(), "{:?}", text(&out));
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let object = mysqls.get("mysql-instance").await.expect("get");
    assert_eq!(object.spec.storage_size, "2Gi");
    assert_eq!(object.metadata.generation, Some(2));
    let owner = object
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|m| m.operation.as_deref() == Some("Apply"))
        .and_then(|m| m.manager.clone());
    assert_eq!(owner.as_deref(), Some("kubectl"));
    cluster.cleanup().await;
}

/// What a server stores of zero values and quantities (findings 52-54): plain fields with
/// `omitempty` lose their zero values, pointers keep them, quantities turn canonical,
/// defaults fill in. Written with server-side apply, as the product writes.
#[tokio::test]
async fn conformance_zero_values_and_quantities_are_stored_as_kube_apiserver_does() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret, Service};

    let cluster = Cluster::new("conf-zero").await;
    let ns = cluster.namespace.clone();
    let apply = PatchParams::apply("conformance").force();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(cluster.client.clone(), &ns);
    let claim = claims
        .patch("zero", &apply, &Patch::Apply(json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "zero"},
            "spec": {"storageClassName": "", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1.5Gi"}}}
        })))
        .await
        .expect("claim applied");
    let claim = serde_json::to_value(claim).expect("json");
    assert_eq!(
        claim["spec"]["storageClassName"], "",
        "a pointer keeps \"\""
    );
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1536Mi");
    assert_eq!(claim["spec"]["volumeMode"], "Filesystem");

    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &ns);
    services
        .patch("zero", &apply, &Patch::Apply(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "zero"},
            "spec": {"selector": {"app": "zero"}, "publishNotReadyAddresses": false, "sessionAffinity": "",
                "ports": [{"name": "db", "port": 3306, "protocol": "TCP", "nodePort": 0}]}
        })))
        .await
        .expect("service applied");
    let service = serde_json::to_value(services.get("zero").await.expect("get")).expect("json");
    let spec = &service["spec"];
    assert!(spec.get("publishNotReadyAddresses").is_none(), "{spec}");
    assert!(spec["ports"][0].get("nodePort").is_none(), "{spec}");
    assert_eq!(spec["ports"][0]["targetPort"], 3306);
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["type"], "ClusterIP");
    assert!(spec["clusterIP"].as_str().is_some_and(|ip| !ip.is_empty()));

    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    let config = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "zero"},
        "spec": {
            "replicas": 0, "paused": false, "minReadySeconds": 0,
            "selector": {"matchLabels": {"app": "zero"}}, "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": {"app": "zero"}}, "spec": {
                "enableServiceLinks": false, "hostNetwork": false, "serviceAccountName": "",
                "containers": [{"name": "db", "image": "mysql:8.4", "args": [], "stdin": false, "workingDir": "",
                    "env": [{"name": "EMPTY", "value": ""}],
                    "resources": {"requests": {"memory": "0.5Gi"}, "limits": {"memory": "1024Mi"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": false, "subPath": ""}]}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "zero", "readOnly": false}},
                    {"name": "tmp", "emptyDir": {"medium": ""}}]
            }}
        }
    });
    deployments
        .patch("zero", &apply, &Patch::Apply(config.clone()))
        .await
        .expect("deployment applied");
    let stored = serde_json::to_value(deployments.get("zero").await.expect("get")).expect("json");
    let spec = &stored["spec"];
    assert_eq!(spec["replicas"], 0, "a pointer keeps 0");
    assert!(
        spec.get("paused").is_none() && spec.get("minReadySeconds").is_none(),
        "{spec}"
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["enableServiceLinks"], false, "a pointer keeps false");
    assert!(
        pod.get("hostNetwork").is_none() && pod.get("serviceAccountName").is_none(),
        "{pod}"
    );
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["securityContext"], json!({}));
    let container = &pod["containers"][0];
    for dropped in ["args", "stdin", "workingDir"] {
        assert!(container.get(dropped).is_none(), "{dropped}: {container}");
    }
    assert_eq!(container["env"][0], json!({"name": "EMPTY"}));
    assert_eq!(container["resources"]["requests"]["memory"], "512Mi");
    assert_eq!(container["resources"]["limits"]["memory"], "1Gi");
    assert_eq!(
        container["volumeMounts"][0],
        json!({"name": "data", "mountPath": "/data"})
    );
    assert_eq!(container["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"],
        json!({"claimName": "zero"})
    );
    assert_eq!(pod["volumes"][1]["emptyDir"], json!({}));

    // The same apply again writes nothing, though the server dropped some of what it says.
    let before = stored["metadata"]["resourceVersion"].clone();
    let again = deployments
        .patch("zero", &apply, &Patch::Apply(config))
        .await
        .expect("applied again");
    assert_eq!(
        serde_json::to_value(&again.metadata.resource_version).expect("json"),
        before,
        "an identical apply writes nothing"
    );

    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let map = maps
        .patch("zero", &apply, &Patch::Apply(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "zero"}, "immutable": false, "data": {}
        })))
        .await
        .expect("configmap applied");
    assert_eq!(map.immutable, Some(false));
    assert_eq!(map.data, None, "an empty map is not stored");

    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns);
    let secret = secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "zero"}, "stringData": {"k": "v"}
            }))
            .expect("secret"),
        )
        .await
        .expect("secret created");
    assert!(secret.string_data.is_none());
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    assert_eq!(
        secret.data.expect("data")["k"].0,
        b"v".to_vec(),
        "stringData lands in data"
    );
    cluster.cleanup().await;
}
