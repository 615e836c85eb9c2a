//! `kubectl mysql status [NAME]`: a table of instances, or one instance in detail.
//!
//! Reads never hang: `--timeout` bounds every API call (the client's own connect and
//! read timeouts, and a `tokio::time::timeout` around each call). What is read becomes a
//! report ([`report`]); the text view is rendered from it ([`render`]) and `-o json|yaml`
//! serializes it, so both always hold the same facts. The detail view prints what it
//! could read and lists the rest under `Errors:`. Secret data is never read: only a
//! Secret's metadata.

mod render;
mod report;

use std::future::Future;
use std::time::Duration;

use clap::{Args, ValueEnum};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, PersistentVolume, PersistentVolumeClaim, Secret, Service,
};
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use serde::Serialize;

use super::{Failure, GlobalArgs, kubeconfig};
use crate::backup::BackupEntry;
use crate::crd::MySQL;
use crate::error::{api_cause, innermost_cause};
use crate::reconcile::catalogue::{ARCHIVE_KEY, ArchiveRecord, CATALOGUE_KEY};
use crate::reconcile::scheduled::RECORDED;
use crate::resources::{BACKUP_SOURCE, Names, SCHEDULED};
use render::Style;
use report::{
    ChildReport, ErrorReport, InstanceList, InstanceReport, JobReport, PointInTimeReport,
    ScheduleReport, StatusReport, VolumeReport,
};

/// How many of the newest events the detail view shows.
const MAX_EVENTS: usize = 10;

/// `-o` of `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// kubectl's table, or the detail view with NAME
    #[default]
    Table,
    /// More columns: image, storage class, last backup, message; full checksums
    Wide,
    /// Everything the text shows, and more, as YAML
    Yaml,
    /// Everything the text shows, and more, as JSON
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # Every instance in the current namespace
  kubectl mysql status

  # Every instance in every namespace, with image, storage class, last backup and message
  kubectl mysql status -A -o wide

  # One instance in detail: children, volumes, backups, jobs, conditions, recent events
  kubectl mysql status mysql-instance -n shop

  # The same as JSON: the newest backup, and whether it was verified
  kubectl mysql status mysql-instance -o json | jq '.backups[0] | {name, verified}'

  # Phase of every instance, for a script
  kubectl mysql status -A -o json | jq -r '.items[] | \"\\(.namespace)/\\(.name) \\(.phase)\"'

Output:
  -o json|yaml hold everything the text shows, and more (timestamps instead of ages);
  never a password. Colour (phase, headings) only on a terminal, and not with NO_COLOR.

Exit status:
  0 when everything was read. 1 when the instances cannot be listed or the instance
  cannot be read (one line and a hint on stderr, nothing on stdout); also 1 when
  `status NAME` could read only part of it: it prints all it read, lists the failed
  reads under Errors (\"errors\" in -o json|yaml) and says so on stderr, as `kubectl
  get` does with partial results.")]
pub struct StatusArgs {
    /// Show this instance in detail
    name: Option<String>,

    /// List instances in every namespace
    #[arg(short = 'A', long, conflicts_with = "name")]
    all_namespaces: bool,

    /// Output format
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = StatusFormat::Table)]
    output: StatusFormat,

    /// Longest wait for each API call, e.g. 10s, 500ms, 1m
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    timeout: Duration,
}

pub async fn run(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<()> {
    let timeout = args.timeout;
    let (client, namespace) = match tokio::time::timeout(
        timeout,
        kubeconfig::client(global, Some(timeout)),
    )
    .await
    {
        Ok(made) => made?,
        Err(_) => {
            return Err(Failure::new(
                    format!(
                        "no cluster configuration within {}",
                        show_duration(timeout)
                    ),
                    "check --kubeconfig, --context and $KUBECONFIG (an exec credential plugin may be waiting)",
                )
                .into());
        }
    };
    let server = server_url(global);
    let reader = Reader {
        client,
        timeout,
        server,
    };
    let wide = args.output == StatusFormat::Wide;
    match &args.name {
        None => {
            let scope = (!args.all_namespaces).then_some(namespace.as_str());
            let items = reader.list(scope).await?;
            match args.output {
                StatusFormat::Table | StatusFormat::Wide if items.is_empty() => match scope {
                    Some(ns) => eprintln!("No MySQL instances found in namespace {ns}."),
                    None => eprintln!("No MySQL instances found."),
                },
                StatusFormat::Table | StatusFormat::Wide => println!(
                    "{}",
                    render::instances(
                        &items,
                        scope.is_none(),
                        wide,
                        Timestamp::now(),
                        Style::for_stdout()
                    )
                ),
                format => print!("{}", serialize(&InstanceList { items }, format)),
            }
            Ok(())
        }
        Some(name) => {
            let report = reader.detail(&namespace, name).await?;
            match args.output {
                StatusFormat::Table | StatusFormat::Wide => print!(
                    "{}",
                    render::detail(&report, Timestamp::now(), wide, Style::for_stdout())
                ),
                format => print!("{}", serialize(&report, format)),
            }
            incomplete(&report)
        }
    }
}

/// `-o yaml|json` of a report.
fn serialize<T: Serialize>(value: &T, format: StatusFormat) -> String {
    match format {
        StatusFormat::Yaml => crate::manifest::to_yaml(value),
        _ => serde_json::to_string_pretty(value).unwrap_or_default() + "\n",
    }
}

/// The error after a detail view that misses something (already listed under Errors).
fn incomplete(report: &StatusReport) -> anyhow::Result<()> {
    let errors = &report.errors;
    if errors.is_empty() {
        return Ok(());
    }
    let m = &report.instance;
    let forbidden = errors.iter().any(|e| e.reason == "Forbidden");
    let hint = if forbidden {
        format!(
            "`kubectl auth can-i --list -n {}` shows what you may read; the rest of the view is complete",
            m.namespace
        )
    } else {
        "try again; --timeout sets how long each call may take".to_string()
    };
    Err(Failure::new(
        format!(
            "the status of MySQL {:?} is incomplete: {} of its reads failed (listed under Errors)",
            m.name,
            errors.len()
        ),
        hint,
    )
    .into())
}

/// A client and what every call of this command shares.
struct Reader {
    client: Client,
    timeout: Duration,
    /// The API server's address, for error messages.
    server: Option<String>,
}

impl Reader {
    // -----------------------------------------------------------------------------------
    // The table of instances.

    /// The instances of `namespace` (every namespace: `None`), sorted.
    async fn list(&self, namespace: Option<&str>) -> anyhow::Result<Vec<InstanceReport>> {
        let api: Api<MySQL> = match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let listed = call(self.timeout, api.list(&ListParams::default()))
            .await
            .map_err(|e| self.failure(e, "list", namespace, None))?;
        let mut items: Vec<InstanceReport> = listed.items.iter().map(InstanceReport::of).collect();
        if let (true, Some(ns)) = (items.is_empty(), namespace) {
            // A list in a namespace that does not exist is just empty: say which it is.
            self.check_namespace(ns).await?;
        }
        items.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Ok(items)
    }

    /// Fails when `namespace` is known not to exist; when that cannot be told (e.g. reading
    /// Namespaces is forbidden), it is taken to exist.
    async fn check_namespace(&self, namespace: &str) -> anyhow::Result<()> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        match call(self.timeout, namespaces.get_metadata_opt(namespace)).await {
            Ok(None) => Err(Failure::new(
                format!("namespace {namespace:?} not found"),
                "`kubectl get namespaces` lists the namespaces; -n picks one",
            )
            .into()),
            _ => Ok(()),
        }
    }

    // -----------------------------------------------------------------------------------
    // The detail view.

    async fn detail(&self, namespace: &str, name: &str) -> anyhow::Result<StatusReport> {
        let (client, timeout) = (&self.client, self.timeout);
        let mysqls: Api<MySQL> = Api::namespaced(client.clone(), namespace);
        let mysql = match call(timeout, mysqls.get_opt(name)).await {
            Ok(Some(mysql)) => mysql,
            Ok(None) => {
                self.check_namespace(namespace).await?;
                return Err(Failure::new(
                    format!("MySQL {name:?} not found in namespace {namespace:?}"),
                    format!("`kubectl mysql status -n {namespace}` lists the instances in that namespace (-A: in every namespace)"),
                )
                .into());
            }
            Err(e) => return Err(self.failure(e, "get", Some(namespace), Some(name))),
        };

        let names = Names::of(namespace, name);
        let hostpath = mysql.spec.storage_class.is_none();
        let instance = InstanceReport::of(&mysql);
        let secret_name = instance.password.secret.clone();

        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let pvs: Api<PersistentVolume> = Api::all(client.clone());
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
        let services: Api<Service> = Api::namespaced(client.clone(), namespace);
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
        let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
        let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let events: Api<Event> = Api::namespaced(client.clone(), namespace);
        let selector = format!(
            "involvedObject.name={name},involvedObject.namespace={namespace},involvedObject.kind=MySQL"
        );
        let event_params = ListParams::default().fields(&selector);

        let (data_pv_name, backup_pv_name) = (names.data_pv(), names.backup_pv());
        let (data_pvc_name, backup_pvc_name) = (names.data_pvc(), names.backup_pvc());
        let (backup_job_name, restore_job_name) = (names.backup_job(), names.restore_job());
        let (server_name, catalogue_name) = (names.server(), names.catalogue());
        let (
            secret,
            data_pv,
            data_pvc,
            service,
            deployment,
            backup_pv,
            backup_pvc,
            backup_job,
            restore_job,
            catalogue,
            listed,
        ) = tokio::join!(
            call(timeout, secrets.get_metadata_opt(&secret_name)),
            optional(hostpath, call(timeout, pvs.get_opt(&data_pv_name))),
            call(timeout, pvcs.get_opt(&data_pvc_name)),
            call(timeout, services.get_opt(&server_name)),
            call(timeout, deployments.get_opt(&server_name)),
            optional(hostpath, call(timeout, pvs.get_opt(&backup_pv_name))),
            call(timeout, pvcs.get_opt(&backup_pvc_name)),
            call(timeout, jobs.get_opt(&backup_job_name)),
            call(timeout, jobs.get_opt(&restore_job_name)),
            call(timeout, maps.get_opt(&catalogue_name)),
            call(timeout, events.list(&event_params)),
        );

        let mut errors = Vec::new();

        let secret = self.checked(&mut errors, format!("Secret {secret_name}"), secret);
        let service = self.checked(&mut errors, format!("Service {server_name}"), service);
        let deployment = self.checked(&mut errors, format!("Deployment {server_name}"), deployment);
        let children = vec![
            ChildReport::new(
                "Secret",
                &secret_name,
                secret.map(|s| s.map(|_| "present".to_string())),
            ),
            ChildReport::new(
                "Service",
                &server_name,
                service.map(|s| s.as_ref().map(report::service_state)),
            ),
            ChildReport::new(
                "Deployment",
                &server_name,
                deployment.map(|d| d.as_ref().map(report::deployment_state)),
            ),
        ];

        let mut volumes = Vec::new();
        for (purpose, pv_name, pv, pvc_name, pvc) in [
            ("data", &data_pv_name, data_pv, &data_pvc_name, data_pvc),
            (
                "backup",
                &backup_pv_name,
                backup_pv,
                &backup_pvc_name,
                backup_pvc,
            ),
        ] {
            if hostpath {
                volumes.push(
                    match self.checked(&mut errors, format!("PersistentVolume {pv_name}"), pv) {
                        Ok(pv) => VolumeReport::of_pv(pv_name, purpose, pv.as_ref()),
                        Err(()) => VolumeReport::unknown("PersistentVolume", pv_name, purpose),
                    },
                );
            }
            volumes.push(
                match self.checked(
                    &mut errors,
                    format!("PersistentVolumeClaim {pvc_name}"),
                    pvc,
                ) {
                    Ok(pvc) => VolumeReport::of_pvc(pvc_name, purpose, pvc.as_ref(), hostpath),
                    Err(()) => VolumeReport::unknown("PersistentVolumeClaim", pvc_name, purpose),
                },
            );
        }

        // Jobs exist only while a backup or restore runs, or until they are cleaned up.
        let mut job_reports = Vec::new();
        for (purpose, job_name, read) in [
            ("backup", &backup_job_name, backup_job),
            ("restore", &restore_job_name, restore_job),
        ] {
            match self.checked(&mut errors, format!("Job {job_name}"), read) {
                Ok(Some(job)) => job_reports.push(JobReport::of(purpose, &job)),
                Ok(None) => {}
                Err(()) => job_reports.push(JobReport::unknown(purpose, job_name)),
            }
        }

        let events = match self.checked(&mut errors, "Events".into(), listed) {
            Ok(list) => report::newest_events(list.items, MAX_EVENTS),
            Err(()) => Vec::new(),
        };
        let mut archive = None;
        let backups = match self.checked(
            &mut errors,
            format!("ConfigMap {catalogue_name}"),
            catalogue,
        ) {
            Ok(map) => {
                archive = map.as_ref().and_then(archive_record);
                parse_catalogue(map).unwrap_or_else(|e| {
                    errors.push(ErrorReport {
                        about: format!("ConfigMap {catalogue_name}"),
                        reason: "Invalid".into(),
                        message: format!("{CATALOGUE_KEY} is not a backup catalogue: {e}"),
                    });
                    Vec::new()
                })
            }
            Err(()) => Vec::new(),
        };
        let schedule = self
            .schedule(&mysql, &names, &mut job_reports, &mut errors)
            .await;
        let point_in_time = (mysql.spec.pitr == Some(true)).then(|| point_in_time(&mysql, archive));
        let conditions = mysql.status.map(|s| s.conditions).unwrap_or_default();
        Ok(StatusReport {
            instance,
            children,
            volumes,
            backups,
            jobs: job_reports,
            schedule,
            point_in_time,
            conditions,
            events,
            errors,
        })
    }

    /// The schedule, its CronJob and its runs (read only when the spec has a schedule);
    /// the runs join `jobs`.
    async fn schedule(
        &self,
        mysql: &MySQL,
        names: &Names,
        jobs: &mut Vec<JobReport>,
        errors: &mut Vec<ErrorReport>,
    ) -> Option<ScheduleReport> {
        let cron = mysql.spec.backup_schedule.clone()?;
        let namespace = mysql.namespace().unwrap_or_default();
        let time_zone = (mysql.spec.backup_timezone.clone())
            .unwrap_or_else(|| crate::schedule::DEFAULT_TIMEZONE.into());
        let cron_name = names.backup_cron();
        let cron_jobs: Api<CronJob> = Api::namespaced(self.client.clone(), &namespace);
        let job_api: Api<Job> = Api::namespaced(self.client.clone(), &namespace);
        let selector = format!(
            "app.kubernetes.io/instance={},app.kubernetes.io/component=backup",
            mysql.name_any()
        );
        let params = ListParams::default().labels(&selector);
        let (read, listed) = tokio::join!(
            call(self.timeout, cron_jobs.get_opt(&cron_name)),
            call(self.timeout, job_api.list(&params)),
        );
        let cron_job = self.checked(errors, format!("CronJob {cron_name}"), read);
        let suspended = matches!(&cron_job, Ok(Some(c)) if c.spec.as_ref().and_then(|s| s.suspend) == Some(true));
        let mut runs: Vec<Job> = match self.checked(errors, "Jobs".into(), listed) {
            Ok(list) => list.items,
            Err(()) => Vec::new(),
        };
        runs.retain(|j| j.annotations().get(BACKUP_SOURCE).map(String::as_str) == Some(SCHEDULED));
        runs.sort_by_key(|j| j.creation_timestamp().map(|t| t.0));
        jobs.extend(runs.iter().map(|j| JobReport::of("scheduled backup", j)));
        let next_run = crate::schedule::Schedule::parse(&cron, Some(&time_zone))
            .ok()
            .filter(|_| !suspended)
            .and_then(|s| s.next_after(Timestamp::now()))
            .map(|t| t.to_string());
        let last = runs.last();
        Some(ScheduleReport {
            schedule: cron,
            time_zone,
            cron_job: cron_name,
            cron_job_exists: cron_job.ok().map(|c| c.is_some()),
            suspended,
            next_run,
            last_run: last.map(|j| JobReport::of("scheduled backup", j)),
            last_backup: last
                .and_then(|j| j.annotations().get(RECORDED).cloned())
                .filter(|r| r != "failed"),
        })
    }

    /// A read as it is, or `Err(())` with the failure listed in `errors` as `about`.
    fn checked<T>(
        &self,
        errors: &mut Vec<ErrorReport>,
        about: String,
        read: Result<T, CallError>,
    ) -> Result<T, ()> {
        read.map_err(|e| errors.push(self.error_report(about, &e)))
    }

    // -----------------------------------------------------------------------------------
    // Errors in words.

    fn describe(&self, error: &CallError) -> String {
        let at = self
            .server
            .as_ref()
            .map(|s| format!(" at {s}"))
            .unwrap_or_default();
        match error {
            CallError::Timeout(t) => format!(
                "the Kubernetes API server{at} did not answer within {}",
                show_duration(*t)
            ),
            CallError::Kube(e @ kube::Error::Api(_)) => api_cause(e),
            CallError::Kube(e) => format!(
                "cannot reach the Kubernetes API server{at}: {}",
                innermost_cause(e)
            ),
        }
    }

    fn error_report(&self, about: String, error: &CallError) -> ErrorReport {
        let reason = match error {
            CallError::Timeout(_) => "Timeout".to_string(),
            CallError::Kube(kube::Error::Api(s)) if !s.reason.is_empty() => s.reason.clone(),
            CallError::Kube(kube::Error::Api(s)) => s.code.to_string(),
            CallError::Kube(_) => "Unreachable".to_string(),
        };
        ErrorReport {
            about,
            reason,
            message: self.describe(error),
        }
    }

    /// The one-line failure of a read of MySQL objects the command cannot go on without;
    /// `verb` is what was asked (`list`, `get`).
    fn failure(
        &self,
        error: CallError,
        verb: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> anyhow::Error {
        let reach_hint = "check that the cluster is running and that --kubeconfig/--context point at it (`kubectl cluster-info`); --timeout sets how long each call may take";
        // Anything but an answer from the API server: it could not be reached in time.
        let CallError::Kube(kube::Error::Api(status)) = &error else {
            return Failure::new(self.describe(&error), reach_hint).into();
        };
        let action = match name {
            Some(name) => format!("read MySQL {name:?}"),
            None => "list MySQL instances".to_string(),
        };
        let scope = match namespace {
            Some(ns) => format!("-n {ns}"),
            None => "-A".to_string(),
        };
        match status.code {
            // A 404 for a named MySQL is `get_opt`'s None: this one is the resource type.
            404 => Failure::new(
                "the server doesn't have a resource type \"mysqls\": the MySQL CRD is not installed",
                "install it with `kubectl mysql install | kubectl apply -f -`",
            )
            .into(),
            401 => Failure::new(
                format!("cannot {action}: {}", self.describe(&error)),
                "your credentials were refused: log in again or check the kubeconfig user",
            )
            .into(),
            // The API server's words say who may not do what, where.
            403 => Failure::new(
                self.describe(&error),
                format!(
                    "ask your cluster admin for {verb:?} on mysqls.otus.homework; `kubectl auth can-i {verb} mysqls.otus.homework {scope}` checks"
                ),
            )
            .into(),
            _ => Failure::new(
                format!("cannot {action}: {}", self.describe(&error)),
                "try again; if it persists, `kubectl get --raw /readyz?verbose` shows the API server's health",
            )
            .into(),
        }
    }
}

/// The archive as the newest backup saw it, if one did.
fn archive_record(map: &ConfigMap) -> Option<ArchiveRecord> {
    let text = map.data.as_ref()?.get(ARCHIVE_KEY)?;
    serde_json::from_str(text).ok()
}

/// What a restore to a point can reach, as the newest backup's retention pass saw the
/// volume: from the second after the oldest kept backup of the archive's history to the
/// end of the archive.
fn point_in_time(mysql: &MySQL, archive: Option<ArchiveRecord>) -> PointInTimeReport {
    let time = |seconds: i64| {
        Timestamp::from_second(seconds)
            .ok()
            .map(crate::backup::point::utc_rfc3339)
    };
    PointInTimeReport {
        flush_seconds: mysql
            .spec
            .pitr_flush_seconds
            .unwrap_or(crate::validate::DEFAULT_PITR_FLUSH_SECONDS),
        restorable_from: archive.as_ref().and_then(|a| a.archive.from).and_then(time),
        archived_until: archive.as_ref().and_then(|a| a.archive.to).and_then(time),
        archived_files: archive.as_ref().map(|a| a.archive.files),
        as_of: archive.map(|a| a.as_of),
    }
}

/// The entries of the catalogue ConfigMap (none when it does not exist yet).
fn parse_catalogue(map: Option<ConfigMap>) -> Result<Vec<BackupEntry>, serde_json::Error> {
    match map
        .and_then(|m| m.data)
        .and_then(|mut d| d.remove(CATALOGUE_KEY))
    {
        Some(text) => serde_json::from_str(&text),
        None => Ok(Vec::new()),
    }
}

/// `Ok(None)` without asking when `wanted` is false (a child this instance does not have).
async fn optional<T>(
    wanted: bool,
    read: impl Future<Output = Result<Option<T>, CallError>>,
) -> Result<Option<T>, CallError> {
    if wanted { read.await } else { Ok(None) }
}

// ---------------------------------------------------------------------------------------
// API calls bounded in time.

enum CallError {
    Timeout(Duration),
    Kube(kube::Error),
}

/// One API call, given at most `timeout` (the client's own read timeout counts as one).
async fn call<T>(
    timeout: Duration,
    request: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(timeout, request).await {
        Ok(Err(e)) if innermost_cause(&e).to_lowercase().contains("timed out") => {
            Err(CallError::Timeout(timeout))
        }
        Ok(result) => result.map_err(CallError::Kube),
        Err(_) => Err(CallError::Timeout(timeout)),
    }
}

/// The API server's address as the kubeconfig names it, for error messages (best effort).
fn server_url(global: &GlobalArgs) -> Option<String> {
    use kube::config::Kubeconfig;
    let config = match &global.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).ok()?,
        None => Kubeconfig::read().ok()?,
    };
    let context_name = global
        .context
        .clone()
        .or_else(|| config.current_context.clone())?;
    let context = config
        .contexts
        .iter()
        .find(|c| c.name == context_name)?
        .context
        .as_ref()?;
    config
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)?
        .cluster
        .as_ref()?
        .server
        .clone()
}

// ---------------------------------------------------------------------------------------
// Durations.

/// `--timeout`: a duration as `create --timeout` takes it (`10s`, `500ms`, `1m`), above zero.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("the timeout must be more than zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (e.g. 10s, 500ms, 1m)")),
    }
}

fn show_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timeouts_parse() {
        assert_eq!(parse_timeout("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("ten").is_err());
        assert_eq!(show_duration(Duration::from_millis(1500)), "1s 500ms");
        assert_eq!(show_duration(Duration::from_secs(10)), "10s");
    }

    #[test]
    fn the_catalogue_is_read_or_said_to_be_broken() {
        assert_eq!(parse_catalogue(None).expect("no map"), Vec::new());
        let map = |text: &str| -> ConfigMap {
            serde_json::from_value(json!({"metadata": {"name": "one-backups"},
                                          "data": {CATALOGUE_KEY: text}}))
            .expect("a ConfigMap")
        };
        let entries = parse_catalogue(Some(map(
            r#"[{"name": "20240101T000000Z.sql.gz", "size": 10, "sha256": "ab", "verified": true,
                 "database": "shop", "created": "2024-01-01T00:00:00Z"}]"#,
        )))
        .expect("a catalogue");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].size, 10);
        assert!(parse_catalogue(Some(map("{not json"))).is_err());
    }
}
