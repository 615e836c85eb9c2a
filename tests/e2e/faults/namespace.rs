//! The namespace deleted with an instance in it, and re-created.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolume, PersistentVolumeClaim};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kubectl_mysql::crd::{MySQL, Phase};
use kubectl_mysql::reconcile::RECLAIMED_FROM;
use kubectl_mysql::reconcile::lifecycle::NAMESPACE_TERMINATING;
use serde_json::json;
use testkit::node::NodeStandIn;

use super::{dumps, plugin, row_count};
use crate::cluster::{Cluster, install_crd, seed_cr, wait_for_phase};
use crate::operator::RunningOperator;
use crate::walkthrough::{EXPECTED, ROWS, port_of, rows_of, sql};

/// Who the in-process operator is to the test API server's request log.
const OPERATOR: &str = "system:serviceaccount:kubectl-mysql-system:kubectl-mysql";
/// Generous: a loaded CI machine starts servers and runs dumps slowly.
const LIMIT: Duration = Duration::from_secs(120);

/// Poll `check` every 200 ms until it holds, for at most [`LIMIT`].
async fn until<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < LIMIT, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    started.elapsed()
}

/// The seed's instance Ready with the walkthrough's rows, backed up, then one row more
/// (the one only the backup does not hold); the server's port.
async fn ready_backed_up_and_a_row_after(
    cluster: &Cluster,
    node: &NodeStandIn,
    mysqls: &Api<MySQL>,
) -> u16 {
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("create");
    wait_for_phase(mysqls, "mysql-instance", Phase::Ready, None).await;
    let port = port_of(node, &cluster.namespace).await;
    sql(port, "otus-database", ROWS);
    let run = plugin(cluster, &["backup", "mysql-instance", "--wait"]).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    sql(
        port,
        "otus-database",
        "INSERT INTO test (name) VALUES ('after the backup')",
    );
    port
}

fn phase(pv: &PersistentVolume) -> Option<String> {
    pv.status.as_ref().and_then(|s| s.phase.clone())
}

fn claim_uid(pv: &PersistentVolume) -> Option<String> {
    pv.spec.as_ref()?.claim_ref.as_ref()?.uid.clone()
}

/// The namespace is deleted with a Ready instance in it (a backup taken, then one more
/// row). A namespace being deleted refuses every create (finding 57), so the finalizer's
/// delete-backup cannot run: the finalizer stays and the namespace waits, Terminating,
/// while the instance says `NamespaceTerminating` with the way out, costing no request
/// until something changes; the data volume and the backups are untouched. `delete
/// --skip-backup` lets the namespace go; the backup volume (Retain) is Released, its
/// claimRef holding the gone claim's uid. The namespace and the instance created again:
/// the operator makes its own Released backup volume bindable again (and no other), the
/// restore Job finds the backup on the volume although the catalogue went with the
/// namespace, and the instance is Ready "created with restore-job" with the backup's
/// three rows. Lost, as the user chose with `--skip-backup`: exactly the row written
/// after the last backup (id 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_deleted_with_an_instance_waits_for_skip_backup_and_restores_when_re_created() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let cluster = Cluster::new("fault-ns").await;
    let Some(server) = cluster.server() else {
        return; // deletes a namespace and counts requests: the test API server's
    };
    install_crd(&cluster.client).await;
    let node = NodeStandIn::start_with_mysql(cluster.client.clone());
    let operator_client = cluster.client_as(OPERATOR).await.expect("test server");
    let operator = RunningOperator::start(operator_client, &cluster.namespace);
    let ns = cluster.namespace.clone();
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &ns);
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let pvs: Api<PersistentVolume> = Api::all(cluster.client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(cluster.client.clone(), &ns);
    let (data_pv, backup_pv) = (
        format!("{ns}.mysql-instance-pv"),
        format!("{ns}.backup-mysql-instance-pv"),
    );

    let port = ready_backed_up_and_a_row_after(&cluster, &node, &mysqls).await;
    assert_eq!(row_count(port), 4);
    let backups = dumps(&node, &ns);
    assert_eq!(backups.len(), 1, "{backups:?}");
    let old_backup_claim = claims
        .get("backup-mysql-instance-pvc")
        .await
        .expect("backup claim")
        .metadata
        .uid
        .expect("uid");

    // Another instance's backup volume, Released in another namespace: never ours to touch.
    let other_ns = format!("{ns}-other");
    let other: PersistentVolume = serde_json::from_value(json!({
        "metadata": {
            "name": format!("{other_ns}.backup-mysql-instance-pv"),
            "labels": {
                "app.kubernetes.io/instance": "mysql-instance",
                "app.kubernetes.io/managed-by": "kubectl-mysql",
                "otus.homework/namespace": other_ns,
            },
        },
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": format!("/var/lib/kubectl-mysql/{other_ns}/mysql-instance/backup")},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": other_ns,
                "name": "backup-mysql-instance-pvc", "uid": "0b5e55ed-0000-4000-8000-000000000000"},
        },
    }))
    .expect("PV");
    let other_name = other.metadata.name.clone().expect("name");
    pvs.create(&PostParams::default(), &other)
        .await
        .expect("the other PV");
    let other = pvs
        .patch_status(
            &other_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Released"}})),
        )
        .await
        .expect("Released");

    // The namespace goes: the instance cannot be backed up, and says so.
    let deleted = Instant::now();
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .expect("namespace delete accepted");
    wait_for_phase(
        &mysqls,
        "mysql-instance",
        Phase::Failed,
        Some("--skip-backup"),
    )
    .await;
    eprintln!(
        "fault measure: NamespaceTerminating said {:.1} s after the namespace delete",
        deleted.elapsed().as_secs_f64()
    );
    let status = mysqls
        .get("mysql-instance")
        .await
        .expect("get")
        .status
        .expect("status");
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded");
    assert_eq!(degraded.reason, NAMESPACE_TERMINATING);
    for said in [
        &format!("namespace {ns} is being deleted"),
        "the delete-backup cannot run",
        &format!("the data stays on PersistentVolume {data_pv}"),
        &format!("`kubectl mysql delete mysql-instance -n {ns} --skip-backup`"),
        &format!("stay on PersistentVolume {backup_pv}"),
    ] {
        assert!(
            degraded.message.contains(said),
            "{said:?} in {}",
            degraded.message
        );
    }
    // The namespace controller took what it could: the server and its claim.
    until(
        "the data claim is gone with the namespace's content",
        || async {
            claims
                .get_opt("mysql-instance-pvc")
                .await
                .is_ok_and(|c| c.is_none())
        },
    )
    .await;
    let namespace = namespaces.get(&ns).await.expect("the namespace waits");
    let namespace_status = namespace.status.unwrap_or_default();
    assert_eq!(namespace_status.phase.as_deref(), Some("Terminating"));
    // What `kubectl describe namespace` shows: the product's finalizer holds it.
    let held = (namespace_status.conditions.iter().flatten())
        .find(|c| c.type_ == "NamespaceFinalizersRemaining")
        .and_then(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        held.contains("otus.homework/backup in 1 resource instances"),
        "{held:?}"
    );
    let data = pvs.get(&data_pv).await.expect("the data volume is kept");
    assert_eq!(data.metadata.deletion_timestamp, None);
    assert_eq!(dumps(&node, &ns), backups, "backups untouched");
    assert!(pvs.get_opt(&backup_pv).await.expect("get").is_some());

    // No hot retry: a pass of the blocked instance (woken by a change) costs no write.
    server.clear_requests();
    let before = operator.telemetry.reconciliations();
    mysqls
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"poke": "1"}}})),
        )
        .await
        .expect("a change");
    operator.reconciled(before + 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests = server.requests();
    let ours: Vec<_> = requests.iter().filter(|r| r.user == OPERATOR).collect();
    let writes: Vec<_> = ours.iter().filter(|r| r.is_write()).collect();
    eprintln!(
        "fault measure: a blocked pass in a Terminating namespace: {} requests, {} writes ({} passes)",
        ours.iter().filter(|r| r.verb != "watch").count(),
        writes.len(),
        operator.telemetry.reconciliations() - before,
    );
    assert!(writes.is_empty(), "no create is tried again: {writes:?}");

    // The CLI says the same, with the way out.
    let run = plugin(&cluster, &["status", "mysql-instance"]).await;
    assert!(
        run.stdout.contains(NAMESPACE_TERMINATING),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let run = plugin(&cluster, &["delete", "mysql-instance", "--wait"]).await;
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr
            .contains(&format!("namespace {ns} is being deleted"))
            && run.stderr.contains(&format!(
                "kubectl mysql delete mysql-instance -n {ns} --skip-backup"
            )),
        "{}",
        run.stderr
    );

    // Let it go: the namespace goes, the backup volume stays, Released.
    let skipped = Instant::now();
    let run = plugin(
        &cluster,
        &["delete", "mysql-instance", "--skip-backup", "--wait"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let gone = until("the namespace is gone", || async {
        namespaces.get_opt(&ns).await.is_ok_and(|n| n.is_none())
    })
    .await;
    eprintln!(
        "fault measure: the namespace went {:.1} s after delete --skip-backup",
        (skipped.elapsed()).as_secs_f64().max(gone.as_secs_f64())
    );
    until("the backup volume is Released", || async {
        pvs.get(&backup_pv)
            .await
            .is_ok_and(|pv| phase(&pv).as_deref() == Some("Released"))
    })
    .await;
    let released = pvs.get(&backup_pv).await.expect("kept");
    assert_eq!(claim_uid(&released), Some(old_backup_claim.clone()));
    assert!(
        pvs.get_opt(&data_pv).await.expect("get").is_none(),
        "the finalizer removed it"
    );
    assert_eq!(dumps(&node, &ns), backups);

    // The namespace and the instance again: restored from the volume.
    let recreated = Instant::now();
    let object: Namespace =
        serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
    namespaces
        .create(&PostParams::default(), &object)
        .await
        .expect("the namespace again");
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("the instance again");
    wait_for_phase(
        &mysqls,
        "mysql-instance",
        Phase::Ready,
        Some("created with restore-job"),
    )
    .await;
    eprintln!(
        "fault measure: re-created and restored from the reclaimed volume in {:.1} s",
        recreated.elapsed().as_secs_f64()
    );
    let claim = claims
        .get("backup-mysql-instance-pvc")
        .await
        .expect("the new backup claim");
    assert_eq!(claim.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
    let rebound = pvs.get(&backup_pv).await.expect("the backup volume");
    assert_eq!(
        claim_uid(&rebound),
        claim.metadata.uid,
        "bound to the new claim"
    );
    assert_eq!(phase(&rebound).as_deref(), Some("Bound"));
    assert_eq!(
        rebound.annotations().get(RECLAIMED_FROM),
        Some(&old_backup_claim)
    );
    let port = port_of(&node, &ns).await;
    assert_eq!(
        rows_of(port),
        EXPECTED,
        "the backup's rows; row 4 was given up"
    );
    // The catalogue starts again with the backup restored.
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let catalogue = maps.get("mysql-instance-backups").await.expect("catalogue");
    let listed = catalogue
        .data
        .and_then(|d| d.get("catalogue.json").cloned())
        .unwrap_or_default();
    assert!(listed.contains(&backups[0]), "{listed}");
    // The other instance's volume: exactly as it was.
    let after = pvs.get(&other_name).await.expect("the other PV");
    assert_eq!(
        after.metadata.resource_version,
        other.metadata.resource_version
    );
    assert_eq!(phase(&after).as_deref(), Some("Released"));
    operator.stop().await;
    drop(node);
    let _ = pvs.delete(&other_name, &DeleteParams::default()).await;
    cluster.cleanup().await;
}

/// The finalizer bypassed by hand (`kubectl patch ... finalizers: null`, the operator
/// stopped): the namespace goes at once, and both volumes (Retain) stay Released with the
/// data. The namespace and the instance created again: the operator makes both of its
/// volumes bindable again, the server starts on its own data volume with every row (the
/// one written after the backup too), and no backup is restored over it ("created
/// without restore-job").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_whose_finalizer_was_bypassed_comes_back_with_its_data_volume() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let cluster = Cluster::new("fault-ns-bypass").await;
    if cluster.server().is_none() {
        return; // deletes a namespace and leaves volumes behind
    }
    install_crd(&cluster.client).await;
    let node = NodeStandIn::start_with_mysql(cluster.client.clone());
    let ns = cluster.namespace.clone();
    let operator = RunningOperator::start(cluster.client.clone(), &ns);
    let mysqls: Api<MySQL> = Api::namespaced(cluster.client.clone(), &ns);
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let pvs: Api<PersistentVolume> = Api::all(cluster.client.clone());
    let data_pv = format!("{ns}.mysql-instance-pv");
    ready_backed_up_and_a_row_after(&cluster, &node, &mysqls).await;
    // The operator stopped, the namespace deleted and the finalizer removed by hand.
    operator.stop().await;
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .expect("namespace delete accepted");
    mysqls
        .patch(
            "mysql-instance",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("finalizer removed by hand");
    until("the namespace is gone", || async {
        namespaces.get_opt(&ns).await.is_ok_and(|n| n.is_none())
    })
    .await;
    until("the data volume is Released", || async {
        pvs.get(&data_pv)
            .await
            .is_ok_and(|pv| phase(&pv).as_deref() == Some("Released"))
    })
    .await;

    let object: Namespace =
        serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
    namespaces
        .create(&PostParams::default(), &object)
        .await
        .expect("the namespace again");
    let operator = RunningOperator::start(cluster.client.clone(), &ns);
    mysqls
        .create(&PostParams::default(), &seed_cr())
        .await
        .expect("the instance again");
    wait_for_phase(
        &mysqls,
        "mysql-instance",
        Phase::Ready,
        Some("created without restore-job"),
    )
    .await;
    let data = pvs.get(&data_pv).await.expect("the data volume");
    assert_eq!(phase(&data).as_deref(), Some("Bound"));
    assert!(data.annotations().contains_key(RECLAIMED_FROM));
    let port = port_of(&node, &ns).await;
    assert_eq!(
        row_count(port),
        4,
        "every row, the one after the backup too"
    );
    operator.stop().await;
    drop(node);
    cluster.cleanup().await;
}
