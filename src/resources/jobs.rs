//! The backup and restore Jobs: the scripts of [`crate::backup::scripts`], byte for byte,
//! with everything they read from the environment. Jobs never hang the product: each has
//! a deadline and a retry limit.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    PersistentVolumeClaimVolumeSource, PodAffinity, PodAffinityTerm, PodSpec, PodTemplateSpec,
    ResourceRequirements, SecretKeySelector, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::deployment::password_selector;
use super::{
    Component, MYSQL_PORT, Names, labels, namespaced, quantities, security, selector_labels,
};
use crate::backup::RestorePoint;
use crate::backup::scripts::{
    BACKUP_SCRIPT, ENV_BACKUP_DIR, ENV_BACKUP_NAME, ENV_CLIENT_DIR, ENV_DATABASE, ENV_DATADIR,
    ENV_HOST, ENV_PASSWORD, ENV_PITR, ENV_PORT, ENV_RETENTION, ENV_USER, ENV_WIPE_DATADIR,
    RESTORE_SCRIPT,
};
use crate::validate::Instance;

/// Where Jobs mount the backup volume.
pub const BACKUP_MOUNT: &str = "/backup";
/// Where Jobs mount the memory-backed directory of the clients' option file.
pub const CLIENT_MOUNT: &str = "/run/mysql-client";
/// Where the delete-backup mounts the data volume (the server's data directory).
pub const DATA_MOUNT: &str = "/var/lib/mysql";
/// A backup may run this long before Kubernetes stops it.
pub const BACKUP_DEADLINE_SECONDS: i64 = 1800;
/// A restore may run this long before Kubernetes stops it.
pub const RESTORE_DEADLINE_SECONDS: i64 = 3600;
/// Retries of a failed Job pod before the Job fails.
pub const JOB_RETRIES: i32 = 2;
/// On a backup Job: `server` (on demand), `scheduled` (the CronJob's), `data-volume` (the
/// delete-backup) or `pre-upgrade`.
pub const BACKUP_SOURCE: &str = "otus.homework/backup-source";
/// [`BACKUP_SOURCE`] of the Jobs the backup CronJob starts.
pub const SCHEDULED: &str = "scheduled";
/// How late a scheduled backup may still start (an operator or controller down longer
/// skips that run; the next tick is on time).
pub const SCHEDULE_STARTING_DEADLINE_SECONDS: i64 = 300;
/// Finished scheduled Jobs kept for `kubectl mysql status`, succeeded and failed each.
pub const SCHEDULE_HISTORY: i32 = 3;

/// Where a backup reads the database from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupSource {
    /// The running server, through its Service and the password Secret (on demand).
    Server,
    /// The data volume, with a temporary server (on delete: the Deployment and the Secret
    /// may already be gone); the data directory is emptied after a verified dump.
    DataVolume,
}

/// An empty value is left out: the server drops it (`value` is a plain string), and the
/// container sees the variable set to "" either way.
pub(super) fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: (!value.is_empty()).then(|| value.into()),
        ..EnvVar::default()
    }
}

pub(super) fn secret_env(name: &str, selector: SecretKeySelector) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(selector),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

pub(super) fn claim_volume(name: &str, claim: String) -> Volume {
    Volume {
        name: name.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim,
            read_only: None,
        }),
        ..Volume::default()
    }
}

/// A memory-backed `emptyDir`: the option file with the password never touches a disk.
pub(super) fn memory_volume(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            size_limit: None,
        }),
        ..Volume::default()
    }
}

pub(super) fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..VolumeMount::default()
    }
}

/// The connection to the running server (Service, root, password from the Secret), and
/// whether it archives its binary log.
fn server_env(instance: &Instance) -> Vec<EnvVar> {
    let mut env = vec![
        self::env(ENV_HOST, &Names::new(instance).server()),
        self::env(ENV_PORT, &MYSQL_PORT.to_string()),
        self::env(ENV_USER, "root"),
        secret_env(ENV_PASSWORD, password_selector(instance)),
    ];
    if instance.pitr.is_some() {
        env.push(self::env(ENV_PITR, "true"));
    }
    env
}

/// With `spec.pitr` the server's pod mounts the backup volume too (its binlog-archive
/// container): a Job that mounts it while the server runs must run on the same node, as
/// ReadWriteOnce allows.
fn beside_the_server(instance: &Instance) -> Option<Affinity> {
    instance.pitr?;
    Some(Affinity {
        pod_affinity: Some(PodAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                label_selector: Some(LabelSelector {
                    match_labels: Some(selector_labels(instance)),
                    ..LabelSelector::default()
                }),
                topology_key: "kubernetes.io/hostname".into(),
                ..PodAffinityTerm::default()
            }]),
            ..PodAffinity::default()
        }),
        ..Affinity::default()
    })
}

#[allow(clippy::too_many_arguments)]
fn job(
    instance: &Instance,
    name: String,
    component: Component,
    owned: bool,
    script: &str,
    mut env: Vec<EnvVar>,
    mut volumes: Vec<(Volume, VolumeMount)>,
    deadline: i64,
) -> Job {
    let reads_server = env.iter().any(|e| e.name == ENV_HOST);
    env.push(self::env(ENV_CLIENT_DIR, CLIENT_MOUNT));
    volumes.push((memory_volume("client"), mount("client", CLIENT_MOUNT)));
    let (volumes, mounts): (Vec<Volume>, Vec<VolumeMount>) = volumes.into_iter().unzip();
    Job {
        metadata: namespaced(instance, name, component, owned),
        spec: Some(JobSpec {
            backoff_limit: Some(JOB_RETRIES),
            active_deadline_seconds: Some(deadline),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(instance, component)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    enable_service_links: Some(false),
                    containers: vec![Container {
                        name: component.label().into(),
                        image: Some(instance.job_image().to_string()),
                        // No imagePullPolicy: Kubernetes' own rule (Always for `:latest` and untagged
                        // images) keeps a node from running a stale cached `latest`.
                        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
                        env: Some(env),
                        volume_mounts: Some(mounts),
                        termination_message_policy: Some("FallbackToLogsOnError".into()),
                        resources: Some(ResourceRequirements {
                            requests: Some(quantities(&[("cpu", "100m"), ("memory", "256Mi")])),
                            limits: Some(quantities(&[("memory", "1Gi")])),
                            ..ResourceRequirements::default()
                        }),
                        security_context: Some(security::container(instance)),
                        ..Container::default()
                    }],
                    volumes: Some(volumes),
                    // Only Jobs that use the running server: the delete-backup runs once
                    // the server's pod is gone.
                    affinity: beside_the_server(instance).filter(|_| reads_server),
                    security_context: security::job_pod(instance),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// `backup-<name>-job`: a verified dump into the backup volume, keeping `retention`
/// backups. Not owned by the instance: a foreground delete must not remove it mid-run.
pub fn backup_job(instance: &Instance, source: BackupSource, retention: u32) -> Job {
    let names = Names::new(instance);
    let mut env = vec![
        env(ENV_DATABASE, &instance.database),
        env(ENV_BACKUP_DIR, BACKUP_MOUNT),
        env(ENV_RETENTION, &retention.to_string()),
    ];
    let mut volumes = vec![(
        claim_volume("backup", names.backup_pvc()),
        mount("backup", BACKUP_MOUNT),
    )];
    match source {
        BackupSource::Server => env.extend(server_env(instance)),
        BackupSource::DataVolume => {
            env.push(self::env(ENV_DATADIR, DATA_MOUNT));
            env.push(self::env(ENV_WIPE_DATADIR, "true"));
            volumes.push((
                claim_volume("data", names.data_pvc()),
                mount("data", DATA_MOUNT),
            ));
        }
    }
    job(
        instance,
        names.backup_job(),
        Component::Backup,
        false,
        BACKUP_SCRIPT,
        env,
        volumes,
        BACKUP_DEADLINE_SECONDS,
    )
}

/// `backup-<name>-cron`: the backup Job of [`backup_job`] (from the server, the same
/// script and retention) on the instance's schedule, kept by the cluster's own CronJob
/// controller. Owned by the instance. A run never overlaps another backup or a restore of
/// the instance (`Forbid` here, and the scripts' lock on the backup volume). `None`
/// without a schedule.
pub fn backup_cron_job(instance: &Instance) -> Option<CronJob> {
    let schedule = instance.backup_schedule.as_ref()?;
    let names = Names::new(instance);
    let job = backup_job(instance, BackupSource::Server, instance.backup_retention);
    let mut metadata = job.metadata;
    metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(BACKUP_SOURCE.into(), SCHEDULED.into());
    Some(CronJob {
        metadata: namespaced(instance, names.backup_cron(), Component::Backup, true),
        spec: Some(CronJobSpec {
            schedule: schedule.cron.clone(),
            time_zone: Some(schedule.timezone.clone()),
            concurrency_policy: Some("Forbid".into()),
            starting_deadline_seconds: Some(SCHEDULE_STARTING_DEADLINE_SECONDS),
            successful_jobs_history_limit: Some(SCHEDULE_HISTORY),
            failed_jobs_history_limit: Some(SCHEDULE_HISTORY),
            // Owned here: the deletion sets it true before the delete-backup.
            suspend: Some(false),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: metadata.labels,
                    annotations: metadata.annotations,
                    ..ObjectMeta::default()
                }),
                spec: job.spec,
            },
        }),
        ..CronJob::default()
    })
}

/// `restore-<name>-job`: load the named backup (or the latest verified one) into the
/// running server's database only. Owned by the instance, as in the seed.
pub fn restore_job(instance: &Instance, backup: Option<&str>) -> Job {
    restore_job_to(instance, backup, None)
}

/// [`restore_job`], or with a `point` (and no backup): empty the database, load the
/// newest backup before the point and replay the archived binary log up to it.
pub fn restore_job_to(
    instance: &Instance,
    backup: Option<&str>,
    point: Option<&RestorePoint>,
) -> Job {
    let names = Names::new(instance);
    let mut env = vec![
        env(ENV_DATABASE, &instance.database),
        env(ENV_BACKUP_DIR, BACKUP_MOUNT),
        env(ENV_BACKUP_NAME, backup.unwrap_or_default()),
    ];
    env.extend(server_env(instance));
    for (name, value) in point.map(RestorePoint::env).unwrap_or_default() {
        env.push(self::env(name, &value));
    }
    job(
        instance,
        names.restore_job(),
        Component::Restore,
        true,
        RESTORE_SCRIPT,
        env,
        vec![(
            claim_volume("backup", names.backup_pvc()),
            mount("backup", BACKUP_MOUNT),
        )],
        RESTORE_DEADLINE_SECONDS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::{FIXTURE_PASSWORD, seed_instance};

    fn container(job: &Job) -> &Container {
        &job.spec
            .as_ref()
            .expect("spec")
            .template
            .spec
            .as_ref()
            .expect("pod")
            .containers[0]
    }

    fn env_value<'a>(job: &'a Job, name: &str) -> Option<&'a EnvVar> {
        container(job).env.as_ref()?.iter().find(|e| e.name == name)
    }

    #[test]
    fn jobs_follow_the_seed_names_and_never_hang() {
        let backup = backup_job(&seed_instance(), BackupSource::Server, 7);
        let restore = restore_job(&seed_instance(), None);
        assert_eq!(
            backup.metadata.name.as_deref(),
            Some("backup-mysql-instance-job")
        );
        assert_eq!(
            restore.metadata.name.as_deref(),
            Some("restore-mysql-instance-job")
        );
        for job in [&backup, &restore] {
            let spec = job.spec.as_ref().expect("spec");
            assert!(spec.active_deadline_seconds.is_some_and(|d| d > 0));
            assert_eq!(spec.backoff_limit, Some(JOB_RETRIES));
            let pod = spec.template.spec.as_ref().expect("pod");
            assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        }
    }

    #[test]
    fn the_scripts_run_byte_for_byte_and_the_password_only_through_the_secret() {
        let job = backup_job(&seed_instance(), BackupSource::Server, 3);
        let command = container(&job).command.clone().expect("command");
        assert_eq!(command, ["sh", "-c", BACKUP_SCRIPT]);
        let rendered = serde_json::to_string(&job).expect("json");
        assert!(!rendered.contains(FIXTURE_PASSWORD));
        let password = env_value(&job, ENV_PASSWORD).expect("password env");
        assert!(password.value.is_none());
        assert_eq!(
            password
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref()),
            Some(&password_selector(&seed_instance()))
        );
        assert_eq!(
            env_value(&job, ENV_RETENTION).and_then(|e| e.value.as_deref()),
            Some("3")
        );
        let restore = restore_job(&seed_instance(), Some("20261123T101500Z"));
        assert_eq!(
            container(&restore).command.as_ref().expect("cmd")[2],
            RESTORE_SCRIPT
        );
        assert_eq!(
            env_value(&restore, ENV_BACKUP_NAME).and_then(|e| e.value.as_deref()),
            Some("20261123T101500Z")
        );
    }

    #[test]
    fn restricted_pods_pass_the_restricted_profile_and_default_ones_do_not() {
        let mut instance = crate::resources::fixtures::with_storage_class("fast");
        instance.pod_security = Some(crate::crd::PodSecurity::Restricted);
        let pods = |instance: &Instance| {
            let deployment = crate::resources::deployment(instance);
            let mut pods = vec![deployment.spec.expect("spec").template.spec.expect("pod")];
            for job in [
                backup_job(instance, BackupSource::Server, 7),
                backup_job(instance, BackupSource::DataVolume, 7),
                restore_job(instance, None),
            ] {
                pods.push(job.spec.expect("spec").template.spec.expect("pod"));
            }
            pods
        };
        for pod in pods(&instance) {
            assert_eq!(
                testkit::pod_security::restricted_violations(&pod),
                Vec::<String>::new()
            );
            let context = pod.security_context.expect("pod context");
            assert_eq!(
                (context.run_as_user, context.run_as_group, context.fs_group),
                (Some(999), Some(999), Some(999))
            );
        }
        // By default the entrypoint starts as root: the profile would refuse it.
        for pod in pods(&seed_instance()) {
            let found = testkit::pod_security::restricted_violations(&pod);
            assert!(
                found.iter().any(|f| f.contains("runAsNonRoot")),
                "{found:?}"
            );
        }
    }

    #[test]
    fn jobs_run_the_servers_pinned_image_once_it_has_run() {
        let mut instance = seed_instance();
        assert_eq!(
            container(&restore_job(&instance, None)).image.as_deref(),
            Some("mysql:latest")
        );
        let pinned = format!("docker.io/library/mysql@sha256:{}", "b".repeat(64));
        instance.server_image = Some(pinned.clone());
        for job in [
            backup_job(&instance, BackupSource::Server, 7),
            backup_job(&instance, BackupSource::DataVolume, 7),
            restore_job(&instance, None),
        ] {
            assert_eq!(container(&job).image.as_deref(), Some(pinned.as_str()));
        }
        // The server itself follows the spec: a new spec.image is an upgrade, not pinned.
        let deployment = crate::resources::deployment(&instance);
        let server = &deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .expect("pod")
            .containers[0];
        assert_eq!(server.image.as_deref(), Some("mysql:latest"));
    }

    #[test]
    fn no_pull_policy_is_set_so_kubernetes_own_rule_applies() {
        let instance = seed_instance();
        let deployment = crate::resources::deployment(&instance);
        let server = &deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .expect("pod spec")
            .containers[0];
        assert_eq!(server.image_pull_policy, None);
        for job in [
            backup_job(&instance, BackupSource::Server, 7),
            backup_job(&instance, BackupSource::DataVolume, 7),
            restore_job(&instance, None),
        ] {
            assert_eq!(container(&job).image_pull_policy, None);
        }
    }

    #[test]
    fn the_delete_backup_reads_the_data_volume_without_server_or_secret() {
        let job = backup_job(&seed_instance(), BackupSource::DataVolume, 7);
        assert!(
            env_value(&job, ENV_PASSWORD).is_none(),
            "the Secret may be gone"
        );
        assert!(
            env_value(&job, ENV_HOST).is_none(),
            "the Deployment may be gone"
        );
        assert_eq!(
            env_value(&job, ENV_DATADIR).and_then(|e| e.value.as_deref()),
            Some(DATA_MOUNT)
        );
        let claims: Vec<String> = job
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.volumes.as_ref())
            .expect("volumes")
            .iter()
            .filter_map(|v| {
                v.persistent_volume_claim
                    .as_ref()
                    .map(|c| c.claim_name.clone())
            })
            .collect();
        assert_eq!(claims, ["backup-mysql-instance-pvc", "mysql-instance-pvc"]);
    }

    fn scheduled(cron: &str, zone: Option<&str>) -> Instance {
        let mut instance = seed_instance();
        instance.backup_schedule = Some(crate::validate::BackupSchedule {
            cron: cron.into(),
            timezone: zone.unwrap_or(crate::schedule::DEFAULT_TIMEZONE).into(),
        });
        instance
    }

    #[test]
    fn the_schedule_runs_the_on_demand_backup_byte_for_byte_and_never_overlaps() {
        assert_eq!(
            backup_cron_job(&seed_instance()),
            None,
            "no schedule, no CronJob"
        );
        let instance = scheduled("0 3 * * *", Some("Europe/Moscow"));
        let cron = backup_cron_job(&instance).expect("a CronJob");
        assert_eq!(
            cron.metadata.name.as_deref(),
            Some("backup-mysql-instance-cron")
        );
        let owner = &cron.metadata.owner_references.as_ref().expect("owned")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("MySQL", Some(true))
        );
        let spec = cron.spec.expect("spec");
        assert_eq!(spec.schedule, "0 3 * * *");
        assert_eq!(spec.time_zone.as_deref(), Some("Europe/Moscow"));
        assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
        assert_eq!(
            spec.starting_deadline_seconds,
            Some(SCHEDULE_STARTING_DEADLINE_SECONDS)
        );
        assert_eq!(
            (
                spec.successful_jobs_history_limit,
                spec.failed_jobs_history_limit
            ),
            (Some(3), Some(3))
        );
        assert_eq!(spec.suspend, Some(false));
        // The Job the CronJob starts is the on-demand backup's, byte for byte.
        let on_demand = backup_job(&instance, BackupSource::Server, instance.backup_retention);
        assert_eq!(spec.job_template.spec, on_demand.spec);
        let template = spec.job_template.metadata.expect("template metadata");
        assert_eq!(template.labels, on_demand.metadata.labels);
        assert_eq!(
            template
                .annotations
                .as_ref()
                .and_then(|a| a.get(BACKUP_SOURCE))
                .map(String::as_str),
            Some(SCHEDULED)
        );
        // What the template's Jobs are named: within the 63 characters of a label value.
        let longest = "a".repeat(40);
        let run = format!("backup-{longest}-cron-{}", 99_999_999);
        assert!(run.len() <= 63, "{run}");
    }

    #[test]
    fn only_the_restore_job_is_owned() {
        let owned = |job: &Job| {
            job.metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| !o.is_empty())
        };
        assert!(!owned(&backup_job(
            &seed_instance(),
            BackupSource::DataVolume,
            7
        )));
        assert!(!owned(&backup_job(
            &seed_instance(),
            BackupSource::Server,
            7
        )));
        assert!(owned(&restore_job(&seed_instance(), None)));
    }

    #[test]
    fn with_pitr_jobs_that_use_the_server_run_beside_it_and_know_the_archive() {
        use crate::resources::fixtures::with_pitr;
        let pitr = with_pitr();
        let affinity = |job: &Job| {
            (job.spec.as_ref())
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|p| p.affinity.clone())
        };
        for job in [
            backup_job(&pitr, BackupSource::Server, 7),
            restore_job(&pitr, None),
        ] {
            let term = affinity(&job)
                .and_then(|a| a.pod_affinity)
                .and_then(|p| p.required_during_scheduling_ignored_during_execution)
                .expect("a required pod affinity");
            assert_eq!(term[0].topology_key, "kubernetes.io/hostname");
            assert_eq!(
                term[0]
                    .label_selector
                    .as_ref()
                    .and_then(|s| s.match_labels.clone()),
                Some(selector_labels(&pitr))
            );
            assert_eq!(
                env_value(&job, ENV_PITR).and_then(|e| e.value.as_deref()),
                Some("true")
            );
        }
        // The delete-backup runs once the server's pod is gone: no affinity to it.
        assert!(affinity(&backup_job(&pitr, BackupSource::DataVolume, 7)).is_none());
        assert!(affinity(&backup_job(&seed_instance(), BackupSource::Server, 7)).is_none());
        assert!(
            env_value(
                &backup_job(&seed_instance(), BackupSource::Server, 7),
                ENV_PITR
            )
            .is_none()
        );

        let point = RestorePoint::position("binlog.000042:1234").expect("position");
        let job = restore_job_to(&pitr, None, Some(&point));
        assert_eq!(
            env_value(&job, "TARGET_POSITION").and_then(|e| e.value.as_deref()),
            Some("binlog.000042:1234")
        );
        assert!(
            env_value(&job, ENV_BACKUP_NAME)
                .and_then(|e| e.value.as_deref())
                .is_none()
        );
    }
}
