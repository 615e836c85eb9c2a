//! The Deployment running the MySQL server.
//!
//! One replica with the `Recreate` strategy: a rolling update would start a second server
//! on the same ReadWriteOnce data volume. The password reaches the container only through
//! `secretKeyRef`; the probes read it from the environment, never from their arguments.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, ExecAction, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SecretKeySelector, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::jobs::{
    BACKUP_MOUNT, CLIENT_MOUNT, claim_volume, env, memory_volume, mount, secret_env,
};
use super::{Component, Names, labels, namespaced, quantities, security, selector_labels};
use crate::backup::scripts::{
    ARCHIVE_SCRIPT, ENV_BACKUP_DIR, ENV_CLIENT_DIR, ENV_DATADIR, ENV_FLUSH_SECONDS, ENV_HOST,
    ENV_PASSWORD, ENV_PORT, ENV_USER, escaped_password,
};
use crate::crd::DEFAULT_PASSWORD_KEY;
use crate::validate::{Instance, PasswordSource};

/// The port MySQL listens on, in the container and on the Service.
pub const MYSQL_PORT: i32 = 3306;
/// The name of the server's container (its status carries the running image).
pub const SERVER_CONTAINER: &str = "mysql";
/// The name of the binary-log archive's container (`spec.pitr`).
pub const ARCHIVE_CONTAINER: &str = "binlog-archive";
/// The data directory of the official mysql and mariadb images.
const DATA_DIR: &str = "/var/lib/mysql";

/// The server's options with `spec.pitr` (the images' entrypoint appends arguments that
/// start with `-` to mysqld's command line, its init server's too). The same for both
/// families: MySQL logs by default (ROW, `sync_binlog=1`), MariaDB does not (MIXED,
/// `sync_binlog=0`, files kept forever). The server keeps a file 3 days: long enough to
/// ride out an archive that cannot write for a while, short enough not to fill the data
/// volume. `loose-`: a server that no longer knows a deprecated variable starts anyway.
pub const PITR_SERVER_ARGS: &[&str] = &[
    "--log-bin=binlog",
    "--server-id=1",
    "--loose-binlog-format=ROW",
    "--sync-binlog=1",
    "--loose-binlog-expire-logs-seconds=259200",
    "--loose-log-bin-trust-function-creators=1",
];

/// Readiness: a real query over TCP as root. The images' init phase runs a server without
/// networking, so TCP success means really up. `mysql` or, in newer MariaDB images,
/// `mariadb`. The password reaches the client through an option file in `/dev/shm`
/// (memory; umask 077, `\` and `"` escaped, removed on exit), never its environment or
/// arguments: `MYSQL_PWD` is deprecated since MySQL 8.0.
pub const READY_SCRIPT: &str = concat!(
    r#"client=$(command -v mysql || command -v mariadb) || exit 1
password=$MYSQL_ROOT_PASSWORD
unset MYSQL_ROOT_PASSWORD
cnf=$(umask 077 && mktemp /dev/shm/mysql-ready.XXXXXX) || exit 1
trap 'rm -f "$cnf"' EXIT
printf '[client]\npassword="%s"\n' "#,
    escaped_password!(),
    r#" >"$cnf" || exit 1
password=
"$client" --defaults-extra-file="$cnf" --protocol=TCP -h 127.0.0.1 -uroot -e 'SELECT 1'"#
);

/// Liveness: `mysqladmin ping` answers 0 while the server runs, even when access is
/// denied, so it needs no password and never restarts a server over credentials.
pub const ALIVE_SCRIPT: &str = r#"admin=$(command -v mysqladmin || command -v mariadb-admin) && exec "$admin" --protocol=TCP -h 127.0.0.1 ping"#;

fn shell_probe(script: &str, period: i32, failures: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

/// Where the container reads the root password from.
pub fn password_selector(instance: &Instance) -> SecretKeySelector {
    match &instance.password {
        PasswordSource::Inline(_) => SecretKeySelector {
            name: Names::new(instance).credentials_secret(),
            key: DEFAULT_PASSWORD_KEY.into(),
            optional: Some(false),
        },
        PasswordSource::Secret(reference) => SecretKeySelector {
            name: reference.name.clone(),
            key: reference.key.clone(),
            optional: Some(false),
        },
    }
}

fn mysql_container(instance: &Instance) -> Container {
    Container {
        name: SERVER_CONTAINER.into(),
        image: Some(instance.image.clone()),
        args: instance
            .pitr
            .map(|_| PITR_SERVER_ARGS.iter().map(|a| a.to_string()).collect()),
        // No imagePullPolicy: Kubernetes' own rule (Always for `:latest` and untagged
        // images) keeps a node from running a stale cached `latest`.
        env: Some(vec![
            EnvVar {
                name: "MYSQL_ROOT_PASSWORD".into(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(password_selector(instance)),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            },
            EnvVar {
                name: "MYSQL_DATABASE".into(),
                value: Some(instance.database.clone()),
                ..EnvVar::default()
            },
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("mysql".into()),
            container_port: MYSQL_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        volume_mounts: Some(vec![VolumeMount {
            name: "data".into(),
            mount_path: DATA_DIR.into(),
            ..VolumeMount::default()
        }]),
        // First start initialises the data directory: allow up to 10 minutes.
        startup_probe: Some(shell_probe(READY_SCRIPT, 5, 120)),
        readiness_probe: Some(shell_probe(READY_SCRIPT, 10, 3)),
        liveness_probe: Some(shell_probe(ALIVE_SCRIPT, 20, 3)),
        resources: Some(ResourceRequirements {
            requests: Some(quantities(&[("cpu", "250m"), ("memory", "512Mi")])),
            limits: Some(quantities(&[("memory", "1Gi")])),
            ..ResourceRequirements::default()
        }),
        // By default the images' entrypoint starts as root to chown the data directory
        // (hostPath volumes ignore fsGroup) and then drops to the mysql user.
        security_context: Some(security::container(instance)),
        ..Container::default()
    }
}

/// The binary-log archive: [`ARCHIVE_SCRIPT`] in the server's image, next to the server
/// (the same network, so 127.0.0.1), reading the data volume and writing the backup
/// volume. Both are ReadWriteOnce; Jobs that use the backup volume meanwhile run on this
/// pod's node.
fn archive_container(instance: &Instance, flush_seconds: u32) -> Container {
    Container {
        name: ARCHIVE_CONTAINER.into(),
        image: Some(instance.image.clone()),
        command: Some(vec!["sh".into(), "-c".into(), ARCHIVE_SCRIPT.into()]),
        env: Some(vec![
            env(ENV_HOST, "127.0.0.1"),
            env(ENV_PORT, &MYSQL_PORT.to_string()),
            env(ENV_USER, "root"),
            secret_env(ENV_PASSWORD, password_selector(instance)),
            env(ENV_CLIENT_DIR, CLIENT_MOUNT),
            env(ENV_DATADIR, DATA_DIR),
            env(ENV_BACKUP_DIR, BACKUP_MOUNT),
            env(ENV_FLUSH_SECONDS, &flush_seconds.to_string()),
        ]),
        volume_mounts: Some(vec![
            VolumeMount {
                read_only: Some(true),
                ..mount("data", DATA_DIR)
            },
            mount("backup", BACKUP_MOUNT),
            mount("client", CLIENT_MOUNT),
        ]),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        resources: Some(ResourceRequirements {
            requests: Some(quantities(&[("cpu", "10m"), ("memory", "32Mi")])),
            limits: Some(quantities(&[("memory", "128Mi")])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(security::container(instance)),
        ..Container::default()
    }
}

pub fn deployment(instance: &Instance) -> Deployment {
    let names = Names::new(instance);
    let mut pod_labels = labels(instance, Component::Database);
    // The seed's walkthrough finds the pod with `kubectl get pods -l app=<name>`.
    pod_labels.insert("app".into(), instance.name.clone());
    let mut containers = vec![mysql_container(instance)];
    let mut volumes = vec![claim_volume("data", names.data_pvc())];
    if let Some(pitr) = instance.pitr {
        containers.push(archive_container(instance, pitr.flush_seconds));
        volumes.push(claim_volume("backup", names.backup_pvc()));
        volumes.push(memory_volume("client"));
    }
    Deployment {
        metadata: namespaced(instance, names.server(), Component::Database, true),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..DeploymentStrategy::default()
            }),
            selector: LabelSelector {
                match_labels: Some(selector_labels(instance)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers,
                    volumes: Some(volumes),
                    security_context: Some(security::server_pod(instance)),
                    // Time for InnoDB to shut down cleanly.
                    termination_grace_period_seconds: Some(60),
                    enable_service_links: Some(false),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::{FIXTURE_PASSWORD, seed_instance, with_storage_class};

    fn container(d: &Deployment) -> &Container {
        &d.spec
            .as_ref()
            .expect("spec")
            .template
            .spec
            .as_ref()
            .expect("pod")
            .containers[0]
    }

    #[test]
    fn one_writer_on_the_data_volume() {
        let d = deployment(&seed_instance());
        let spec = d.spec.as_ref().expect("spec");
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(
            spec.strategy.as_ref().and_then(|s| s.type_.as_deref()),
            Some("Recreate")
        );
        let volumes = spec
            .template
            .spec
            .as_ref()
            .expect("pod")
            .volumes
            .as_ref()
            .expect("volumes");
        let claim = volumes[0].persistent_volume_claim.as_ref().expect("claim");
        assert_eq!(claim.claim_name, "mysql-instance-pvc");
    }

    #[test]
    fn runs_the_spec_image_and_creates_the_database() {
        let c = deployment(&seed_instance());
        let c = container(&c);
        assert_eq!(c.image.as_deref(), Some("mysql:latest"));
        let env = c.env.as_ref().expect("env");
        let db = env
            .iter()
            .find(|e| e.name == "MYSQL_DATABASE")
            .expect("db env");
        assert_eq!(db.value.as_deref(), Some("otus-database"));
    }

    #[test]
    fn password_only_through_secret_key_ref_never_in_args_or_probes() {
        for instance in [seed_instance(), with_storage_class("fast")] {
            let d = deployment(&instance);
            let rendered = serde_json::to_string(&d).expect("json");
            assert!(
                !rendered.contains(FIXTURE_PASSWORD),
                "password leaked: {rendered}"
            );
            let c = container(&d);
            let env = c.env.as_ref().expect("env");
            let root = env
                .iter()
                .find(|e| e.name == "MYSQL_ROOT_PASSWORD")
                .expect("env");
            assert!(root.value.is_none());
            let selector = root
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
                .expect("secretKeyRef");
            assert_eq!(selector, &password_selector(&instance));
        }
        let user_secret = password_selector(&with_storage_class("fast"));
        assert_eq!(
            (user_secret.name.as_str(), user_secret.key.as_str()),
            ("db-root", "root-password")
        );
    }

    #[test]
    fn probes_take_the_password_from_the_environment() {
        let d = deployment(&seed_instance());
        let c = container(&d);
        for probe in [&c.startup_probe, &c.readiness_probe, &c.liveness_probe] {
            let command = probe
                .as_ref()
                .and_then(|p| p.exec.as_ref())
                .and_then(|e| e.command.as_ref())
                .expect("exec probe");
            let script = command.join(" ");
            assert!(!script.contains(" -p"), "password flag in probe: {script}");
        }
        let ready = c
            .readiness_probe
            .as_ref()
            .and_then(|p| p.exec.as_ref())
            .expect("exec");
        let script = &ready.command.as_ref().expect("cmd")[2];
        assert!(!script.contains("MYSQL_PWD"), "{script}");
        assert!(
            script.contains(r#""$client" --defaults-extra-file="$cnf" "#),
            "{script}"
        );
    }

    #[test]
    fn pods_carry_the_seed_app_label_and_match_the_selector() {
        let d = deployment(&seed_instance());
        let spec = d.spec.expect("spec");
        let pod_labels = spec
            .template
            .metadata
            .expect("meta")
            .labels
            .expect("labels");
        assert_eq!(pod_labels["app"], "mysql-instance");
        for (k, v) in spec.selector.match_labels.expect("selector") {
            assert_eq!(pod_labels.get(&k), Some(&v));
        }
    }

    #[test]
    fn with_pitr_the_server_logs_and_its_pod_archives_beside_it() {
        use crate::resources::fixtures::with_pitr;
        let plain = deployment(&seed_instance());
        let pod = plain.spec.as_ref().and_then(|s| s.template.spec.as_ref());
        let pod = pod.expect("pod");
        assert_eq!(pod.containers.len(), 1, "no archive without spec.pitr");
        assert!(pod.containers[0].args.is_none());

        let d = deployment(&with_pitr());
        let rendered = serde_json::to_string(&d).expect("json");
        assert!(!rendered.contains(FIXTURE_PASSWORD), "{rendered}");
        let pod = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
        let pod = pod.expect("pod");
        let args: Vec<&str> = (pod.containers[0].args.iter().flatten())
            .map(String::as_str)
            .collect();
        assert_eq!(args, PITR_SERVER_ARGS);
        let archive = &pod.containers[1];
        assert_eq!(archive.name, ARCHIVE_CONTAINER);
        assert_eq!(
            archive.image, pod.containers[0].image,
            "the server's own tools"
        );
        let mounts = archive.volume_mounts.as_ref().expect("mounts");
        let data = mounts.iter().find(|m| m.name == "data").expect("data");
        assert_eq!(
            (data.mount_path.as_str(), data.read_only),
            ("/var/lib/mysql", Some(true))
        );
        let env = archive.env.as_ref().expect("env");
        let value = |name: &str| {
            env.iter()
                .find(|e| e.name == name)
                .and_then(|e| e.value.clone())
        };
        assert_eq!(value("MYSQL_HOST").as_deref(), Some("127.0.0.1"));
        assert_eq!(value("FLUSH_SECONDS").as_deref(), Some("300"));
        let password = env
            .iter()
            .find(|e| e.name == "CLIENT_PASSWORD")
            .expect("pw");
        assert!(password.value.is_none() && password.value_from.is_some());
        let volumes = pod.volumes.as_ref().expect("volumes");
        let claims: Vec<&str> = (volumes.iter())
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .map(|c| c.claim_name.as_str())
            .collect();
        assert_eq!(claims, ["mysql-instance-pvc", "backup-mysql-instance-pvc"]);
        let client = volumes.iter().find(|v| v.name == "client").expect("client");
        assert_eq!(
            client.empty_dir.as_ref().and_then(|e| e.medium.as_deref()),
            Some("Memory")
        );
    }
}
