//! MySQL mode: the server container's args reach the local server, and the pod's other
//! containers run beside it. These need Debian's MariaDB: they skip without it, and fail
//! in CI.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams};
use kubectl_mysql::resources::Names;

use super::mysql_tests::{
    PASSWORD, TestResult, cluster, create_children_with, finished, from, instance, serving, sql,
};
use super::tests::eventually_within;
use super::*;

/// The container beside the server, as `spec.pitr` adds it.
const SIDECAR: &str = "binlog-archive";

/// Each run: an option file in the memory volume, then (once the server answers) one
/// line into the backup volume saying what the run saw, then sleep.
const SCRIPT: &str = r#"set -eu
umask 077
printf '[client]\nuser=%s\npassword="%s"\n' "$MYSQL_USER" "$CLIENT_PASSWORD" >"$CLIENT_DIR/client.cnf"
until log_bin=$(mysql --defaults-file="$CLIENT_DIR/client.cnf" --protocol=TCP \
    --host="$MYSQL_HOST" --port="$MYSQL_PORT" --batch --skip-column-names \
    -e 'SELECT @@log_bin' 2>/dev/null); do
  sleep 0.1
done
mkdir -p "$BACKUP_DIR/binlog"
printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$$" "$MYSQL_PORT" "$BACKUP_DIR" "$MYSQL_DATADIR" \
  "$CLIENT_DIR" "$log_bin" >>"$BACKUP_DIR/binlog/runs"
echo "run $$ reached the server"
exec sleep 300
"#;

/// The MySQL Deployment with the binary log on and the archiving container beside the
/// server, mounting the data volume read-only and the backup claim.
fn with_sidecar(deployment: &mut Deployment, backup_claim: &str) {
    let pod = (deployment.spec.as_mut())
        .and_then(|s| s.template.spec.as_mut())
        .expect("a pod template");
    let server = (pod.containers.iter_mut())
        .find(|c| c.name == "mysql")
        .expect("the mysql container");
    server.args = Some(
        [
            "--log-bin=binlog",
            "--server-id=1",
            "--loose-binlog-format=ROW",
        ]
        .map(String::from)
        .to_vec(),
    );
    let password = (server.env.iter().flatten())
        .find(|e| e.name == "MYSQL_ROOT_PASSWORD")
        .and_then(|e| e.value_from.clone());
    let image = server.image.clone();
    pod.containers.push(from(json!({
        "name": SIDECAR,
        "image": image,
        "command": ["sh", "-c", SCRIPT],
        "env": [
            {"name": "MYSQL_HOST", "value": "127.0.0.1"},
            {"name": "MYSQL_PORT", "value": "3306"},
            {"name": "MYSQL_USER", "value": "root"},
            {"name": "CLIENT_PASSWORD", "valueFrom": password},
            {"name": "CLIENT_DIR", "value": "/run/mysql-client"},
            {"name": "MYSQL_DATADIR", "value": "/var/lib/mysql"},
            {"name": "BACKUP_DIR", "value": "/backup"},
            {"name": "FLUSH_SECONDS", "value": "300"},
        ],
        "volumeMounts": [
            {"name": "client", "mountPath": "/run/mysql-client"},
            {"name": "data", "mountPath": "/var/lib/mysql", "readOnly": true},
            {"name": "backup", "mountPath": "/backup"},
        ],
    })));
    pod.volumes.get_or_insert_with(Vec::new).extend([
        from(json!({"name": "client", "emptyDir": {"medium": "Memory"}})),
        from(json!({"name": "backup", "persistentVolumeClaim": {"claimName": backup_claim}})),
    ]);
}

/// One run of the script, as it recorded itself.
#[derive(Clone, Debug)]
struct Run {
    pid: u32,
    port: String,
    backup_dir: PathBuf,
    datadir: PathBuf,
    client_dir: PathBuf,
    log_bin: String,
}

fn runs(file: &Path) -> Vec<Run> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    (text.lines())
        .filter_map(|line| {
            let [pid, port, backup_dir, datadir, client_dir, log_bin] =
                line.split('\t').collect::<Vec<_>>().try_into().ok()?;
            Some(Run {
                pid: pid.parse().ok()?,
                port: port.into(),
                backup_dir: backup_dir.into(),
                datadir: datadir.into(),
                client_dir: client_dir.into(),
                log_bin: log_bin.into(),
            })
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The Deployment's pod's container statuses: (name, ready, restartCount, imageID).
async fn container_statuses(client: &Client, app: &str) -> Vec<(String, bool, i32, String)> {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let selector = ListParams::default().labels(&format!("app={app}"));
    let Ok(list) = pods.list(&selector).await else {
        return Vec::new();
    };
    (list.items.iter())
        .filter_map(|p| p.status.as_ref()?.container_statuses.clone())
        .flatten()
        .map(|c| (c.name, c.ready, c.restart_count, c.image_id))
        .collect()
}

/// A Job mounting `claim` at `$VOLUME` (`/mnt`, mapped) that runs `script` once.
fn job_on(name: &str, claim: &str, script: &str) -> Job {
    from(json!({
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 60,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{
                    "name": "work",
                    "image": "busybox",
                    "command": ["sh", "-c", script],
                    "env": [{"name": "VOLUME", "value": "/mnt"}],
                    "volumeMounts": [{"name": "volume", "mountPath": "/mnt"}],
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                }],
                "volumes": [{"name": "volume", "persistentVolumeClaim": {"claimName": claim}}],
            }},
        },
    }))
}

/// The server gets the container's args (the binary log on, in the datadir); the sidecar
/// reaches it on the pod's loopback with its paths mapped, shares the backup volume with a
/// Job, is restarted when killed, and stops with the pod, before a Job may take the data
/// volume.
#[tokio::test(flavor = "multi_thread")]
async fn a_sidecar_runs_beside_the_server_is_restarted_and_stops_with_the_pod() -> TestResult {
    let Some(_) = crate::mariadb::shared() else {
        return Ok(());
    };
    let (_server, client, node) = cluster().await?;
    let instance = instance("pitr");
    let names = Names::new(&instance);
    create_children_with(&client, &instance, |d| with_sidecar(d, &names.backup_pvc())).await?;
    let port = serving(&client, &node, "pitr").await;

    // The args reached mariadbd: the binary log is on, named as asked, in the datadir.
    assert_eq!(
        sql(port, PASSWORD, "SELECT @@log_bin, @@server_id")?,
        "1\t1\n"
    );
    let datadir = node.local_path(&names.data_host_path());
    assert!(
        datadir.join("binlog.000001").is_file(),
        "binlog.000001 in {}",
        datadir.display()
    );

    // The sidecar reached the pod's server on the loopback, its mount paths mapped.
    let backups = node.local_path(&names.backup_host_path());
    let recorded = backups.join("binlog").join("runs");
    let first = eventually_within("the sidecar's first run", Duration::from_secs(30), || {
        let runs = runs(&recorded);
        async move { runs.first().cloned() }
    })
    .await;
    assert_eq!(first.port, port.to_string(), "MYSQL_PORT is the server's");
    assert_eq!(first.log_bin, "1");
    assert_eq!(first.backup_dir, backups);
    assert_eq!(first.datadir, datadir);
    assert!(
        first.client_dir.starts_with(&node.node.root)
            && first.client_dir.join("client.cnf").is_file(),
        "{}",
        first.client_dir.display()
    );
    assert_eq!(node.container_restarts("default", "pitr", SIDECAR), Some(0));
    let log = node
        .container_logs("default", "pitr", SIDECAR)
        .unwrap_or_default();
    assert!(
        log.contains(&format!("run {} reached the server", first.pid)),
        "{log}"
    );
    assert_eq!(node.container_logs("default", "pitr", "mysql"), None);

    // The pod lists both containers, sorted by name as the kubelet does, both ready.
    let statuses = eventually_within("both containers ready", Duration::from_secs(10), || async {
        let statuses = container_statuses(&client, "pitr").await;
        statuses.iter().all(|c| c.1).then_some(statuses)
    })
    .await;
    let listed: Vec<(&str, i32)> = statuses.iter().map(|c| (c.0.as_str(), c.2)).collect();
    assert_eq!(listed, [(SIDECAR, 0), ("mysql", 0)]);
    assert!(
        statuses[1]
            .3
            .starts_with("docker.io/library/mariadb@sha256:"),
        "{statuses:?}"
    );

    // A Job on the backup volume runs while the server pod mounts it too (one node).
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let shared = job_on(
        "shared",
        &names.backup_pvc(),
        r#"test -s "$VOLUME/binlog/runs""#,
    );
    jobs.create(&PostParams::default(), &shared).await?;
    let done = eventually_within(
        "the Job on the backup volume",
        Duration::from_secs(20),
        || finished(&jobs, "shared"),
    )
    .await;
    assert_eq!(done.0, "Complete", "{done:?}");

    // Killed, it is restarted after the back-off: counted, its script run again.
    assert!(node.kill_container("default", "pitr", SIDECAR));
    let second = eventually_within("the sidecar's second run", Duration::from_secs(20), || {
        let runs = runs(&recorded);
        async move { runs.get(1).cloned() }
    })
    .await;
    assert_ne!(second.pid, first.pid);
    assert!(!alive(first.pid), "the killed run is gone");
    assert_eq!(node.container_restarts("default", "pitr", SIDECAR), Some(1));
    eventually_within(
        "the restart in the pod's status",
        Duration::from_secs(10),
        || async {
            let statuses = container_statuses(&client, "pitr").await;
            statuses
                .iter()
                .any(|c| c.0 == SIDECAR && c.1 && c.2 == 1)
                .then_some(())
        },
    )
    .await;

    // Deleted, the pod stops with all its containers, and only then may a Job take the
    // data volume.
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    deployments.delete("pitr", &DeleteParams::default()).await?;
    let check = format!(
        "if kill -0 {} 2>/dev/null; then echo 'the sidecar still runs'; exit 1; fi",
        second.pid
    );
    jobs.create(
        &PostParams::default(),
        &job_on("after", &names.data_pvc(), &check),
    )
    .await?;
    let done = eventually_within(
        "the Job on the data volume",
        Duration::from_secs(30),
        || finished(&jobs, "after"),
    )
    .await;
    assert_eq!(done.0, "Complete", "{done:?}");
    assert!(!alive(second.pid), "no process of the sidecar is left");
    assert!(!node.kill_container("default", "pitr", SIDECAR));
    let log = node
        .container_logs("default", "pitr", SIDECAR)
        .unwrap_or_default();
    assert!(
        log.contains(&format!("run {} reached", second.pid)),
        "kept after the pod: {log}"
    );
    Ok(())
}

/// A dropped stand-in leaves no process of a sidecar behind.
#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_stand_in_stops_the_sidecars_too() -> TestResult {
    let Some(_) = crate::mariadb::shared() else {
        return Ok(());
    };
    let (_server, client, node) = cluster().await?;
    let instance = instance("dropped");
    let names = Names::new(&instance);
    create_children_with(&client, &instance, |d| with_sidecar(d, &names.backup_pvc())).await?;
    serving(&client, &node, "dropped").await;
    let recorded = node
        .local_path(&names.backup_host_path())
        .join("binlog")
        .join("runs");
    let run = eventually_within("the sidecar's run", Duration::from_secs(30), || {
        let runs = runs(&recorded);
        async move { runs.first().cloned() }
    })
    .await;
    assert!(alive(run.pid));
    drop(node);
    assert!(!alive(run.pid), "gone once the stand-in is dropped");
    Ok(())
}
