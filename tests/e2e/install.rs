//! `kubectl mysql install` and `deploy/`: the same objects, and RBAC that grants the
//! operator exactly what it calls — proven by recording every request the operator's
//! ServiceAccount sends through a whole lifecycle, with two replicas electing a leader.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::rbac::v1::PolicyRule;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kubectl_mysql::crd::{MySQL, Phase};
use kubectl_mysql::install;
use serde_json::Value;
use testkit::apiserver::store::RequestRecord;
use testkit::node::NodeStandIn;

use crate::cli::{kubectl_mysql, repo};
use crate::cluster::{Cluster, seed_cr, text, wait_for_phase, wait_until_deleted};
use crate::operator_process::{OperatorProcess, http_get};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-mysql");

fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .expect("a YAML stream")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn by_kind_and_name(mut objects: Vec<Value>) -> Vec<Value> {
    objects.sort_by_key(|o| {
        (
            o["kind"].as_str().unwrap_or_default().to_string(),
            o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    });
    objects
}

/// kustomize writes `1000` of a schema as `1000.0`: the same number to the API server.
fn same_numbers_as_floats(value: &Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().map(Value::from).unwrap_or(Value::Null),
        Value::Array(items) => items.iter().map(same_numbers_as_floats).collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), same_numbers_as_floats(v)))
            .collect(),
        other => other.clone(),
    }
}

/// The objects `kubectl mysql install ARGS` prints; it must succeed.
fn installed(args: &[&str]) -> Vec<Value> {
    let run = kubectl_mysql(&[&["install"][..], args].concat(), "");
    assert_eq!(run.code, Some(0), "install {args:?}: {}", run.stderr);
    documents(&run.stdout)
}

#[test]
fn install_prints_what_deploy_holds_and_kustomize_builds_the_same() {
    let printed = installed(&[]);
    let kinds: Vec<&str> = printed
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        [
            "CustomResourceDefinition",
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment"
        ]
    );

    let deploy = repo().join("deploy");
    let built = Command::new("kubectl")
        .args(["kustomize"])
        .arg(&deploy)
        .output()
        .expect("kubectl runs");
    let (yaml, stderr) = text(&built);
    assert!(built.status.success(), "kubectl kustomize deploy: {stderr}");
    let built = by_kind_and_name(documents(&yaml));
    let expected = by_kind_and_name(printed.clone());
    assert_eq!(built.len(), expected.len());
    for (b, e) in built.iter().zip(&expected) {
        assert!(
            same_numbers_as_floats(b) == same_numbers_as_floats(e),
            "`kubectl kustomize deploy` and `kubectl mysql install` differ in {} {}:\n{}\n---\n{}",
            e["kind"],
            e["metadata"]["name"],
            serde_json::to_string_pretty(b).unwrap_or_default(),
            serde_json::to_string_pretty(e).unwrap_or_default()
        );
    }

    let moved = installed(&["-n", "ops", "--image", "registry.test/op:2"]);
    let deployment = moved.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(deployment["metadata"]["namespace"], "ops");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.test/op:2"
    );
}

#[test]
fn install_refuses_a_bad_namespace_with_one_line_and_a_hint() {
    for args in [
        &["install", "-n", "Not_A_Namespace"][..],
        &[
            "install",
            "--watch-namespace",
            "shop",
            "--watch-namespace",
            "Not_A_Namespace",
        ],
    ] {
        refused_with_one_line_and_a_hint(args);
    }
}

fn refused_with_one_line_and_a_hint(args: &[&str]) {
    let run = kubectl_mysql(args, "");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "nothing printed to apply: {}",
        run.stdout
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].starts_with("error: invalid namespace"),
        "{}",
        run.stderr
    );
    assert!(lines[1].starts_with("hint: "), "{}", run.stderr);
}

/// The ServiceAccount `install` creates, as the API server names its user.
fn operator_user() -> String {
    format!(
        "system:serviceaccount:{}:{}",
        install::DEFAULT_NAMESPACE,
        install::NAME
    )
}

/// `(verb, group, resource[/subresource], namespace)` of a call; `namespace` is empty for
/// cluster-wide calls and cluster-scoped resources.
type Permission = (String, String, String, String);

fn permission(r: &RequestRecord) -> Permission {
    let resource = if r.subresource.is_empty() {
        r.resource.clone()
    } else {
        format!("{}/{}", r.resource, r.subresource)
    };
    (
        r.verb.clone(),
        r.group.clone(),
        resource,
        r.namespace.clone(),
    )
}

/// What a rule grants, expanded: `(verb, group, resource)` triples.
fn expand(rules: &[PolicyRule]) -> BTreeSet<(String, String, String)> {
    let mut granted = BTreeSet::new();
    for rule in rules {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    granted.insert((verb.clone(), group.clone(), resource.clone()));
                }
            }
        }
    }
    granted
}

/// Granted but never sent on purpose: the API server's OwnerReferencesPermissionEnforcement
/// admission checks it when the operator sets `blockOwnerDeletion` on the children.
fn required_by_admission() -> BTreeSet<(String, String, String)> {
    BTreeSet::from([(
        "update".to_string(),
        "otus.homework".to_string(),
        "mysqls/finalizers".to_string(),
    )])
}

/// What both RBAC proofs drive the operator (`leader`) through in `ns`: create, converge,
/// drift repair, back up and restore by hand, delete (the finalizer's backup), re-create
/// (restore on create), then an instance whose password is in the user's Secret, with a
/// scheduled backup recorded and dropped, deleted without a backup.
async fn lifecycle(cluster: &Cluster, ns: &str, leader: &OperatorProcess) {
    let ns = ns.to_string();
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &ns);
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("seed CR created");
    wait_for_phase(&mysqls, "mysql-instance", Phase::Ready, None).await;
    // Drift repair, twice alike: the second "Applied" event repeats the first (a patch).
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &ns);
    for _ in 0..2 {
        services
            .delete("mysql-instance", &DeleteParams::default())
            .await
            .expect("Service deleted");
        let mut back = false;
        for _ in 0..300 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if services
                .get_opt("mysql-instance")
                .await
                .expect("get")
                .is_some()
            {
                back = true;
                break;
            }
        }
        assert!(
            back,
            "the operator re-created the Service:\n{}",
            leader.log()
        );
    }
    for step in [["backup", "mysql-instance"], ["restore", "mysql-instance"]] {
        let out = Command::new(BIN)
            .args(step)
            .args(["--wait", "-n", &ns])
            .env("KUBECONFIG", &cluster.kubeconfig)
            .output()
            .expect("the CLI runs");
        assert!(out.status.success(), "{step:?}: {:?}", text(&out));
    }
    wait_for_phase(&mysqls, "mysql-instance", Phase::Ready, None).await;
    mysqls
        .delete("mysql-instance", &DeleteParams::default())
        .await
        .expect("delete accepted");
    // The finalizer's backup runs, then the instance goes.
    wait_until_deleted(&mysqls, "mysql-instance").await;
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("seed CR re-created");
    wait_for_phase(
        &mysqls,
        "mysql-instance",
        Phase::Ready,
        Some("created with restore-job"),
    )
    .await;

    // An instance whose password is in a Secret of the user's: the operator reads that
    // Secret (it caches only its own). Deleted without a backup.
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns);
    let user_secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "db-root"},
        "stringData": {"root-password": "rbac-Test-pw1"},
    }))
    .expect("Secret");
    secrets
        .create(&PostParams::default(), &user_secret)
        .await
        .expect("the user's Secret");
    let mut referencing = seed_cr();
    referencing.metadata.name = Some("ref-instance".into());
    referencing.spec.password = None;
    referencing.spec.password_secret = Some(kubectl_mysql::crd::SecretKeyReference {
        name: "db-root".into(),
        key: "root-password".into(),
    });
    referencing.metadata.annotations = Some(
        [(
            kubectl_mysql::reconcile::SKIP_BACKUP.to_string(),
            "true".to_string(),
        )]
        .into(),
    );
    // It backs up every minute: a run is recorded (its Job marked), then the schedule is
    // dropped and the CronJob goes.
    referencing.spec.backup_schedule = Some("* * * * *".into());
    mysqls
        .create(&PostParams::default(), &referencing)
        .await
        .expect("an instance with password_secret");
    wait_for_phase(&mysqls, "ref-instance", Phase::Ready, None).await;
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(cluster.client.clone(), &ns);
    let mut recorded = false;
    for _ in 0..900 {
        let list = jobs.list(&Default::default()).await.expect("jobs");
        recorded = list.items.iter().any(|j| {
            j.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("backup-ref-instance-cron-"))
                && j.metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key(kubectl_mysql::reconcile::scheduled::RECORDED))
        });
        if recorded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recorded,
        "a scheduled backup was recorded:\n{}",
        leader.log()
    );
    mysqls
        .patch(
            "ref-instance",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"backup_schedule": null}})),
        )
        .await
        .expect("the schedule dropped");
    let crons: Api<k8s_openapi::api::batch::v1::CronJob> =
        Api::namespaced(cluster.client.clone(), &ns);
    assert!(
        crate::schedule::cron_job_is(&crons, "backup-ref-instance-cron", false).await,
        "the CronJob went with the schedule"
    );
    mysqls
        .delete("ref-instance", &DeleteParams::default())
        .await
        .expect("delete accepted");
    wait_until_deleted(&mysqls, "ref-instance").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_grants_exactly_what_the_operator_uses() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let cluster = Cluster::new("rbac").await;
    let Some(server) = cluster.server() else {
        return; // a real cluster has its own authorizer: nothing to record here
    };
    let dir = tempfile::tempdir().expect("tempdir");

    // Install as a person would, minus the Deployment: the replicas below play its pods.
    let without_deployment: Vec<Value> = installed(&[])
        .into_iter()
        .filter(|o| o["kind"] != "Deployment")
        .collect();
    let applied = cluster.kubectl(
        &["apply", "-f", "-"],
        Some(&kubectl_mysql::manifest::to_yaml_stream(
            &without_deployment,
        )),
    );
    assert!(applied.status.success(), "{:?}", text(&applied));
    server.clear_requests();

    let operator_kubeconfig = dir.path().join("operator-kubeconfig");
    std::fs::write(&operator_kubeconfig, server.kubeconfig_as(&operator_user()))
        .expect("kubeconfig written");
    let node = NodeStandIn::start_with_mysql(cluster.client.clone());
    let first = OperatorProcess::replica(
        &operator_kubeconfig,
        "kubectl-mysql-5d8f-first",
        dir.path(),
        &[],
    );
    first
        .logged("elected leader", Duration::from_secs(20))
        .await;
    let second = OperatorProcess::replica(
        &operator_kubeconfig,
        "kubectl-mysql-5d8f-second",
        dir.path(),
        &[],
    );
    second
        .logged("waiting to lead", Duration::from_secs(20))
        .await;

    let serving = first
        .logged("serving /healthz", Duration::from_secs(5))
        .await;
    let addr = serving["fields"]["addr"]
        .as_str()
        .expect("the endpoint's address is logged")
        .to_string();

    let ns = cluster.namespace.clone();
    lifecycle(&cluster, &ns, &first).await;
    let (code, _) = http_get(&addr, "/readyz");
    assert_eq!(code, 200, "the leader is ready once its caches are synced");

    let (code, metrics) = http_get(&addr, "/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("kubectl_mysql_leader 1"), "{metrics}");
    let reconciles: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kubectl_mysql_reconciliations_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(reconciles >= 4, "{metrics}");
    assert_eq!(http_get(&addr, "/healthz").0, 200);

    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    let owners = deployments
        .get("mysql-instance")
        .await
        .expect("the server's Deployment")
        .metadata
        .owner_references
        .unwrap_or_default();
    assert!(
        owners.iter().any(|o| o.block_owner_deletion == Some(true)),
        "children carry blockOwnerDeletion, which is why mysqls/finalizers is granted"
    );
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), install::DEFAULT_NAMESPACE);
    let holder = |lease: Lease| lease.spec.and_then(|s| s.holder_identity);
    assert_eq!(
        holder(leases.get("kubectl-mysql-operator").await.expect("lease")).as_deref(),
        Some("kubectl-mysql-5d8f-first")
    );
    // The standby reconciled nothing while the first replica led.
    assert!(
        !second.log().contains("reconciled"),
        "the standby reconciled:\n{}",
        second.log()
    );

    // The leader stops (a rollout): it hands the lease over, and the standby leads.
    assert!(first.terminate().await.success());
    second
        .logged("elected leader", Duration::from_secs(30))
        .await;
    assert!(second.terminate().await.success());
    assert_eq!(
        holder(leases.get("kubectl-mysql-operator").await.expect("lease")),
        None,
        "the last replica released the lease"
    );
    drop(node);

    let used: BTreeSet<Permission> = server
        .requests()
        .iter()
        .filter(|r| r.user == operator_user())
        .map(permission)
        .collect();

    let cluster_granted = expand(&install::cluster_rules());
    let leader_granted = expand(&install::leader_election_rules());
    let in_operator_namespace = |ns: &str| ns == install::DEFAULT_NAMESPACE;
    let missing: Vec<&Permission> = used
        .iter()
        .filter(|(verb, group, resource, ns)| {
            let key = (verb.clone(), group.clone(), resource.clone());
            !(cluster_granted.contains(&key)
                || (in_operator_namespace(ns) && leader_granted.contains(&key)))
        })
        .collect();
    let used_triples: BTreeSet<(String, String, String)> = used
        .iter()
        .map(|(v, g, r, _)| (v.clone(), g.clone(), r.clone()))
        .collect();
    let unused_cluster: Vec<_> = cluster_granted
        .difference(&used_triples)
        .filter(|p| !required_by_admission().contains(*p))
        .collect();
    let used_in_operator_namespace: BTreeSet<(String, String, String)> = used
        .iter()
        .filter(|(_, _, _, ns)| in_operator_namespace(ns))
        .map(|(v, g, r, _)| (v.clone(), g.clone(), r.clone()))
        .collect();
    let unused_leader: Vec<_> = leader_granted
        .difference(&used_in_operator_namespace)
        .collect();
    assert!(
        missing.is_empty() && unused_cluster.is_empty() && unused_leader.is_empty(),
        "RBAC in deploy/ differs from what the operator calls:\n  missing: {missing:#?}\n  granted, never used (ClusterRole): {unused_cluster:#?}\n  granted, never used (Role): {unused_leader:#?}"
    );
    cluster.cleanup().await;
}

/// A grant or a call: `(verb, group, resource[/subresource], name)`; a grant's name is ""
/// when its rule names no resourceNames (any object).
type Named = (String, String, String, String);

fn named_call(r: &RequestRecord) -> Named {
    let (verb, group, resource, _) = permission(r);
    (verb, group, resource, r.name.clone())
}

/// What the rules of an installed (Cluster)Role grant, expanded with their resourceNames.
fn named_grants(role: &Value) -> BTreeSet<Named> {
    let rules: Vec<PolicyRule> =
        serde_json::from_value(role["rules"].clone()).expect("a role's rules");
    let mut granted = BTreeSet::new();
    for rule in &rules {
        let names = rule
            .resource_names
            .clone()
            .unwrap_or_else(|| vec![String::new()]);
        for (verb, group, resource) in expand(std::slice::from_ref(rule)) {
            for name in &names {
                granted.insert((verb.clone(), group.clone(), resource.clone(), name.clone()));
            }
        }
    }
    granted
}

/// Whether a grant covers a call: same verb, group and resource, and any object or the
/// call's own.
fn covers(grant: &Named, call: &Named) -> bool {
    grant.0 == call.0
        && grant.1 == call.1
        && grant.2 == call.2
        && (grant.3.is_empty() || grant.3 == call.3)
}

/// The grants no call used.
fn unused<'a>(grants: &'a BTreeSet<Named>, calls: &[Named]) -> Vec<&'a Named> {
    grants
        .iter()
        .filter(|g| !calls.iter().any(|c| covers(g, c)))
        .filter(|(v, g, r, _)| {
            !required_by_admission().contains(&(v.clone(), g.clone(), r.clone()))
        })
        .collect()
}

/// A namespace-scoped install (`install --watch-namespace`), enforced: the test API server
/// authorizes the operator's ServiceAccount by the installed Roles and ClusterRole. Its
/// Secrets are readable in a watched namespace and refused (403) in another; the operator
/// converges and goes through the whole lifecycle in one watched namespace while watching
/// an empty second one; and every call it sent is compared with the installed rules, both
/// ways (nothing missing, nothing granted unused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_of_a_namespace_scoped_install_grants_exactly_what_the_operator_uses_and_no_more() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let cluster = Cluster::new("rbac-ns").await;
    let Some(server) = cluster.server() else {
        return; // a real cluster has its own authorizer: nothing to record here
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let watched = cluster.namespace.clone();
    // Watched, with nothing in it: a second controller of the same process.
    let quiet = "rbac-quiet";
    // Not watched: the operator must not read anything here.
    let elsewhere = "rbac-elsewhere";
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client.clone());
    for name in [quiet, elsewhere] {
        let object = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
            .expect("namespace object");
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .expect("namespace created");
    }

    let objects = installed(&["--watch-namespace", &watched, "--watch-namespace", quiet]);
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("the operator's Deployment");
    // The replica runs with the Deployment's own watch arguments.
    let watch_args: Vec<String> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|a| a.starts_with("--watch-namespace="))
        .map(str::to_string)
        .collect();
    assert_eq!(watch_args.len(), 2, "{deployment}");
    let without_deployment: Vec<Value> = objects
        .iter()
        .filter(|o| o["kind"] != "Deployment")
        .cloned()
        .collect();
    let applied = cluster.kubectl(
        &["apply", "-f", "-"],
        Some(&kubectl_mysql::manifest::to_yaml_stream(
            &without_deployment,
        )),
    );
    assert!(applied.status.success(), "{:?}", text(&applied));
    let role_of = |kind: &str, namespace: Option<&str>| -> &Value {
        objects
            .iter()
            .find(|o| {
                o["kind"] == kind
                    && o["metadata"]["name"] == install::NAME
                    && o["metadata"]["namespace"].as_str() == namespace
            })
            .unwrap_or_else(|| panic!("{kind} {namespace:?} installed"))
    };
    let cluster_granted = named_grants(role_of("ClusterRole", None));
    let watched_granted = named_grants(role_of("Role", Some(&watched)));
    assert_eq!(
        watched_granted,
        named_grants(role_of("Role", Some(quiet))),
        "every watched namespace gets the same Role"
    );
    let leader_granted = named_grants(
        objects
            .iter()
            .find(|o| o["kind"] == "Role" && o["metadata"]["name"] == install::LEADER_ELECTION)
            .expect("leader election's Role"),
    );

    // A Secret in each of a watched and an unwatched namespace.
    for namespace in [watched.as_str(), elsewhere] {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "probe"},
            "stringData": {"token": namespace},
        }))
        .expect("Secret");
        Api::<Secret>::namespaced(cluster.client.clone(), namespace)
            .create(&PostParams::default(), &secret)
            .await
            .expect("Secret created");
    }
    server.enforce_rbac_for(&operator_user());
    let as_operator = cluster
        .client_as(&operator_user())
        .await
        .expect("a client of the test API server");
    let readable = Api::<Secret>::namespaced(as_operator.clone(), &watched)
        .get("probe")
        .await
        .expect("the operator reads a Secret where it watches");
    assert_eq!(
        readable
            .data
            .and_then(|d| d.get("token").cloned())
            .map(|b| b.0),
        Some(watched.as_bytes().to_vec())
    );
    for (refused, what) in [
        (
            Api::<Secret>::namespaced(as_operator.clone(), elsewhere)
                .get("probe")
                .await
                .map(|_| ()),
            format!(
                "secrets \"probe\" is forbidden: User \"{}\" cannot get resource \"secrets\" in API group \"\" in the namespace \"{elsewhere}\"",
                operator_user()
            ),
        ),
        (
            Api::<Secret>::all(as_operator.clone())
                .list(&Default::default())
                .await
                .map(|_| ()),
            format!(
                "secrets is forbidden: User \"{}\" cannot list resource \"secrets\" in API group \"\" at the cluster scope",
                operator_user()
            ),
        ),
    ] {
        match refused {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 403, "{status:?}");
                assert_eq!(status.reason, "Forbidden", "{status:?}");
                assert_eq!(status.message, what);
            }
            other => panic!("expected 403 {what:?}, got {other:?}"),
        }
    }
    // Only the operator's own calls count below.
    server.clear_requests();

    let operator_kubeconfig = dir.path().join("operator-kubeconfig");
    std::fs::write(&operator_kubeconfig, server.kubeconfig_as(&operator_user()))
        .expect("kubeconfig written");
    let node = NodeStandIn::start_with_mysql(cluster.client.clone());
    let replica = OperatorProcess::replica(
        &operator_kubeconfig,
        "kubectl-mysql-5d8f-scoped",
        dir.path(),
        &watch_args,
    );
    replica
        .logged("elected leader", Duration::from_secs(20))
        .await;
    let serving = replica
        .logged("serving /healthz", Duration::from_secs(5))
        .await;
    let addr = serving["fields"]["addr"]
        .as_str()
        .expect("the endpoint's address is logged")
        .to_string();
    lifecycle(&cluster, &watched, &replica).await;
    assert_eq!(
        http_get(&addr, "/readyz").0,
        200,
        "ready: both namespaces' caches are synced"
    );
    assert!(replica.terminate().await.success());
    drop(node);

    let requests: Vec<RequestRecord> = server
        .requests()
        .into_iter()
        .filter(|r| r.user == operator_user())
        .collect();
    // Enforced: a call no rule allows was refused, so the operator could not have got here
    // on it; the server's authorizer says so for each call as well.
    let refused: Vec<&RequestRecord> = requests
        .iter()
        .filter(|r| !testkit::apiserver::rbac::allows(&server.store(), r))
        .collect();
    assert!(refused.is_empty(), "refused calls: {refused:#?}");
    let calls_in = |namespace: &dyn Fn(&str) -> bool| -> Vec<Named> {
        requests
            .iter()
            .filter(|r| namespace(&r.namespace))
            .map(named_call)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let is_watched = |ns: &str| ns == watched || ns == quiet;
    let cluster_calls = calls_in(&|ns: &str| ns.is_empty());
    let watched_calls = calls_in(&is_watched);
    let leader_calls = calls_in(&|ns: &str| ns == install::DEFAULT_NAMESPACE);
    let stray =
        calls_in(&|ns: &str| !ns.is_empty() && !is_watched(ns) && ns != install::DEFAULT_NAMESPACE);
    let missing = |calls: &[Named], grants: &BTreeSet<Named>| -> Vec<Named> {
        calls
            .iter()
            .filter(|c| !grants.iter().any(|g| covers(g, c)))
            .cloned()
            .collect()
    };
    let missing_cluster = missing(&cluster_calls, &cluster_granted);
    let missing_watched = missing(&watched_calls, &watched_granted);
    let missing_leader = missing(&leader_calls, &leader_granted);
    let unused_cluster = unused(&cluster_granted, &cluster_calls);
    let unused_watched = unused(&watched_granted, &watched_calls);
    let unused_leader = unused(&leader_granted, &leader_calls);
    assert!(
        stray.is_empty()
            && missing_cluster.is_empty()
            && missing_watched.is_empty()
            && missing_leader.is_empty()
            && unused_cluster.is_empty()
            && unused_watched.is_empty()
            && unused_leader.is_empty(),
        "the namespace-scoped RBAC differs from what the operator calls:\n  outside its namespaces: {stray:#?}\n  missing (ClusterRole): {missing_cluster:#?}\n  missing (watched namespaces' Role): {missing_watched:#?}\n  missing (leader Role): {missing_leader:#?}\n  granted, never used (ClusterRole): {unused_cluster:#?}\n  granted, never used (watched namespaces' Role): {unused_watched:#?}\n  granted, never used (leader Role): {unused_leader:#?}"
    );
    // The quiet namespace was watched too, by its own controller.
    assert!(
        requests
            .iter()
            .any(|r| r.namespace == quiet && r.verb == "watch" && r.resource == "mysqls"),
        "no watch of MySQLs in {quiet}"
    );
    eprintln!(
        "namespace-scoped RBAC: {} distinct calls compared with {} grants ({} ClusterRole, {} per watched Role, {} leader Role)",
        cluster_calls.len() + watched_calls.len() + leader_calls.len(),
        cluster_granted.len() + watched_granted.len() + leader_granted.len(),
        cluster_granted.len(),
        watched_granted.len(),
        leader_granted.len()
    );
    cluster.cleanup().await;
}

/// A leader cut off from the API server cannot renew its lease, and a standby takes the
/// lease once it expires: the leader must stop reconciling before that (self-fencing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_api_server_stops_before_its_lease_expires() {
    let server = testkit::apiserver::TestApiServer::start()
        .await
        .expect("test API server starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = dir.path().join("admin-kubeconfig");
    server.write_kubeconfig(&admin).expect("kubeconfig written");
    let without_deployment: Vec<Value> = installed(&[])
        .into_iter()
        .filter(|o| o["kind"] != "Deployment")
        .collect();
    let mut apply = Command::new("kubectl");
    apply
        .args(["apply", "-f", "-"])
        .env("KUBECONFIG", &admin)
        .env("HOME", dir.path());
    let applied = crate::cli::output_with_stdin(
        &mut apply,
        &kubectl_mysql::manifest::to_yaml_stream(&without_deployment),
    );
    assert!(applied.status.success(), "{:?}", text(&applied));
    let kubeconfig = dir.path().join("operator-kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig_as(&operator_user())).expect("written");
    let mut leader =
        OperatorProcess::replica(&kubeconfig, "kubectl-mysql-5d8f-alone", dir.path(), &[]);
    leader
        .logged("elected leader", Duration::from_secs(20))
        .await;

    let cut_off = Instant::now();
    drop(server);
    let status = loop {
        if let Some(status) = leader.exited() {
            break status;
        }
        assert!(
            cut_off.elapsed() < Duration::from_secs(30),
            "the leader kept running without its API server:\n{}",
            leader.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stopped_after = cut_off.elapsed();
    let log = leader.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains(
            "error: lost the leader lease while reconciling: the lease could not be confirmed"
        ),
        "{log}"
    );
    // The lease lasts 15 s from its last renewal, which came before the cut.
    assert!(
        stopped_after < Duration::from_secs(15),
        "stopped {stopped_after:?} after the cut: a standby could have led by then\n{log}"
    );
}
