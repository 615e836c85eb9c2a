//! `kubectl mysql status [NAME]`: a table of instances, or one instance in detail.
//!
//! Reads never hang: `--timeout` bounds every API call (the client's own connect and
//! read timeouts, and a `tokio::time::timeout` around each call). The detail view prints
//! what it could read and lists the rest under `Errors:`; it fails only when the MySQL
//! object itself cannot be read. Secret data is never read: only a Secret's metadata.

use std::future::Future;
use std::time::Duration;

use clap::Args;
use comfy_table::{Table, presets};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, Client};

use super::{Failure, GlobalArgs, kubeconfig};
use crate::crd::{MySQL, Phase};
use crate::resources::Names;

/// How many of the newest events the detail view shows.
const MAX_EVENTS: usize = 10;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # Every instance in the current namespace
  kubectl mysql status

  # Every instance in every namespace
  kubectl mysql status -A

  # One instance in detail: children, conditions, recent events
  kubectl mysql status mysql-instance -n shop")]
pub struct StatusArgs {
    /// Show this instance in detail
    name: Option<String>,

    /// List instances in every namespace
    #[arg(short = 'A', long, conflicts_with = "name")]
    all_namespaces: bool,

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
    match &args.name {
        None => {
            let scope = if args.all_namespaces {
                None
            } else {
                Some(namespace.as_str())
            };
            table(&client, scope, timeout, server.as_deref()).await
        }
        Some(name) => {
            let view = detail(&client, &namespace, name, timeout, server.as_deref()).await?;
            print!("{view}");
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------
// The table of instances.

async fn table(
    client: &Client,
    namespace: Option<&str>,
    timeout: Duration,
    server: Option<&str>,
) -> anyhow::Result<()> {
    let api: Api<MySQL> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let listed = call(timeout, api.list(&ListParams::default()))
        .await
        .map_err(|e| failure(e, "list MySQL instances", namespace, None, server))?;
    let mut items = listed.items;
    if items.is_empty() {
        match namespace {
            Some(ns) => eprintln!("No MySQL instances found in namespace {ns}."),
            None => eprintln!("No MySQL instances found."),
        }
        return Ok(());
    }
    items.sort_by(|a, b| {
        (a.metadata.namespace.as_deref(), a.metadata.name.as_deref())
            .cmp(&(b.metadata.namespace.as_deref(), b.metadata.name.as_deref()))
    });
    println!(
        "{}",
        render_table(&items, namespace.is_none(), Timestamp::now())
    );
    Ok(())
}

/// The instances as kubectl prints a list: upper-case headers, columns three spaces apart.
fn render_table(items: &[MySQL], with_namespace: bool, now: Timestamp) -> String {
    let mut header = Vec::new();
    if with_namespace {
        header.push("NAMESPACE");
    }
    header.extend(["NAME", "PHASE", "DATABASE", "STORAGE", "AGE"]);
    let rows = items.iter().map(|m| {
        let mut row = Vec::new();
        if with_namespace {
            row.push(m.metadata.namespace.clone().unwrap_or_default());
        }
        row.extend([
            m.metadata.name.clone().unwrap_or_default(),
            phase_of(m),
            m.spec.database.clone(),
            m.spec.storage_size.clone(),
            age(m.metadata.creation_timestamp.as_ref().map(|t| t.0), now),
        ]);
        row
    });
    plain_table(header, rows)
}

/// A borderless table (kubectl's look), trailing blanks trimmed.
fn plain_table<R: IntoIterator<Item = String>>(
    header: Vec<&str>,
    rows: impl IntoIterator<Item = R>,
) -> String {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).force_no_tty();
    table.set_header(header);
    for row in rows {
        table.add_row(row.into_iter().map(|c| one_line(&c)).collect::<Vec<_>>());
    }
    let last = table.column_count().saturating_sub(1);
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 3 }));
    }
    // NOTHING draws its (absent) left border as a blank column: drop it.
    table
        .lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(&l).trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn phase_of(m: &MySQL) -> String {
    let phase = m
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or(Phase::Pending);
    serde_json::to_value(phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{phase:?}"))
}

// ---------------------------------------------------------------------------------------
// The detail view.

/// Everything read about one instance, rendered by [`Detail::render`].
struct Detail {
    mysql: MySQL,
    children: Vec<ChildRow>,
    /// The backup catalogue, newest first.
    backups: Vec<crate::backup::BackupEntry>,
    events: Vec<Event>,
    errors: Vec<String>,
}

struct ChildRow {
    kind: &'static str,
    name: String,
    state: String,
}

async fn detail(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    server: Option<&str>,
) -> anyhow::Result<Detail> {
    let mysqls: Api<MySQL> = Api::namespaced(client.clone(), namespace);
    let mysql = call(timeout, mysqls.get(name))
        .await
        .map_err(|e| failure(e, "read MySQL", Some(namespace), Some(name), server))?;

    let names = Names::of(namespace, name);
    let hostpath = mysql.spec.storage_class.is_none();
    let secret_name = mysql
        .spec
        .password_secret
        .as_ref()
        .map(|r| r.name.clone())
        .unwrap_or_else(|| names.credentials_secret());

    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let selector = format!(
        "involvedObject.name={name},involvedObject.namespace={namespace},involvedObject.kind=MySQL"
    );
    let event_params = ListParams::default().fields(&selector);

    let (data_pv_name, backup_pv_name) = (names.data_pv(), names.backup_pv());
    let (data_pvc_name, backup_pvc_name) = (names.data_pvc(), names.backup_pvc());
    let (backup_job_name, restore_job_name) = (names.backup_job(), names.restore_job());
    let server_name = names.server();
    let (
        secret,
        data_pv,
        data_pvc,
        service,
        deployment,
        backup_pv,
        backup_pvc,
        backup,
        restore,
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
        call(timeout, events.list(&event_params)),
    );

    let mut errors = Vec::new();
    let mut children = Vec::new();
    let mut row = |kind: &'static str,
                   name: &str,
                   read: Result<Option<String>, CallError>,
                   show_missing: bool| {
        let state = match read {
            Ok(Some(state)) => state,
            Ok(None) if show_missing => "missing".to_string(),
            Ok(None) => return,
            Err(e) => {
                errors.push(format!("{kind} {name}: {}", describe(&e, server)));
                "unknown (see Errors)".to_string()
            }
        };
        children.push(ChildRow {
            kind,
            name: name.to_string(),
            state,
        });
    };
    row(
        "Secret",
        &secret_name,
        secret.map(|s| s.map(|_| "present".to_string())),
        true,
    );
    if hostpath {
        row(
            "PersistentVolume",
            &data_pv_name,
            data_pv.map(|pv| pv.map(|pv| pv_state(&pv))),
            true,
        );
    }
    row(
        "PersistentVolumeClaim",
        &data_pvc_name,
        data_pvc.map(|pvc| pvc.map(|pvc| pvc_state(&pvc, hostpath))),
        true,
    );
    row(
        "Service",
        &server_name,
        service.map(|s| s.map(|s| service_state(&s))),
        true,
    );
    row(
        "Deployment",
        &server_name,
        deployment.map(|d| d.map(|d| deployment_state(&d))),
        true,
    );
    if hostpath {
        row(
            "PersistentVolume",
            &backup_pv_name,
            backup_pv.map(|pv| pv.map(|pv| pv_state(&pv))),
            true,
        );
    }
    row(
        "PersistentVolumeClaim",
        &backup_pvc_name,
        backup_pvc.map(|pvc| pvc.map(|pvc| pvc_state(&pvc, hostpath))),
        true,
    );
    // Jobs exist only while a backup or restore runs or until they are cleaned up.
    row(
        "Job",
        &backup_job_name,
        backup.map(|j| j.map(|j| job_state(&j))),
        false,
    );
    row(
        "Job",
        &restore_job_name,
        restore.map(|j| j.map(|j| job_state(&j))),
        false,
    );

    let events = match listed {
        Ok(list) => newest_events(list.items, MAX_EVENTS),
        Err(e) => {
            errors.push(format!("Events: {}", describe(&e, server)));
            Vec::new()
        }
    };
    let backups = match tokio::time::timeout(
        timeout,
        crate::reconcile::catalogue::read(client, namespace, name),
    )
    .await
    {
        Ok(Ok(entries)) => entries,
        Ok(Err(e)) => {
            errors.push(format!("Backups: {e}"));
            Vec::new()
        }
        Err(_) => {
            errors.push(format!(
                "Backups: no answer within {}",
                show_duration(timeout)
            ));
            Vec::new()
        }
    };
    Ok(Detail {
        mysql,
        children,
        backups,
        events,
        errors,
    })
}

/// `Ok(None)` without asking when `wanted` is false (a child this instance does not have).
async fn optional<T>(
    wanted: bool,
    read: impl Future<Output = Result<Option<T>, CallError>>,
) -> Result<Option<T>, CallError> {
    if wanted { read.await } else { Ok(None) }
}

fn pv_state(pv: &PersistentVolume) -> String {
    let phase = pv
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "present (no status)".into());
    match pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
        Some(claim) if phase == "Bound" => {
            format!("Bound to {}", claim.name.as_deref().unwrap_or("a claim"))
        }
        _ => phase,
    }
}

fn pvc_state(pvc: &PersistentVolumeClaim, hostpath: bool) -> String {
    let phase = pvc
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".into());
    let mut state = phase.clone();
    if phase == "Bound" {
        // With a storage class the volume's name is the provisioner's: worth showing.
        if let (false, Some(volume)) = (
            hostpath,
            pvc.spec.as_ref().and_then(|s| s.volume_name.as_ref()),
        ) {
            state.push_str(&format!(" to {volume}"));
        }
        if let Some(size) = pvc
            .status
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
        {
            state.push_str(&format!(", {}", size.0));
        }
    }
    state
}

fn service_state(service: &Service) -> String {
    let Some(spec) = &service.spec else {
        return "present".into();
    };
    let kind = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
    let ip = spec.cluster_ip.clone().unwrap_or_default();
    let ports: Vec<String> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| p.port.to_string())
        .collect();
    let mut state = kind;
    if !ip.is_empty() {
        state.push(' ');
        state.push_str(&ip);
    }
    if !ports.is_empty() {
        state.push_str(&format!(", port {}", ports.join(",")));
    }
    state
}

fn deployment_state(deployment: &Deployment) -> String {
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let status = deployment.status.as_ref();
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let available = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Available"));
    let availability = match available {
        Some(c) if c.status == "True" => "available".to_string(),
        Some(c) => match c.reason.as_deref() {
            Some(reason) => format!("not available ({reason})"),
            None => "not available".to_string(),
        },
        None => "not available".to_string(),
    };
    format!("{ready}/{desired} ready, {availability}")
}

fn job_state(job: &Job) -> String {
    let status = job.status.as_ref();
    let finished = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| {
            c.iter()
                .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
        .map(|c| c.type_.clone());
    match finished.as_deref() {
        Some("Complete") => "succeeded".into(),
        Some(_) => "failed".into(),
        None if status.and_then(|s| s.active).unwrap_or(0) > 0 => "running".into(),
        None => "pending".into(),
    }
}

/// When an event last happened, as kubectl describe orders them.
fn event_time(e: &Event) -> Option<Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The `limit` newest events, oldest first.
fn newest_events(mut events: Vec<Event>, limit: usize) -> Vec<Event> {
    events.sort_by_key(event_time);
    let skip = events.len().saturating_sub(limit);
    events.into_iter().skip(skip).collect()
}

impl Detail {
    fn render(&self, now: Timestamp) -> String {
        let m = &self.mysql;
        let spec = &m.spec;
        let status = m.status.clone().unwrap_or_default();
        let mut out = String::new();
        let mut field = |label: &str, value: String| {
            out.push_str(&format!(
                "{:<20}{}\n",
                format!("{label}:"),
                one_line(&value)
            ));
        };
        field("Name", m.metadata.name.clone().unwrap_or_default());
        field(
            "Namespace",
            m.metadata.namespace.clone().unwrap_or_default(),
        );
        field("Phase", phase_of(m));
        field(
            "Message",
            status.message.clone().unwrap_or_else(|| "<none>".into()),
        );
        field("Image", spec.image.clone());
        field("Database", spec.database.clone());
        field(
            "Storage",
            match &spec.storage_class {
                Some(class) => format!("{}, storage class {class}", spec.storage_size),
                None => format!("{}, hostPath volume (no storage class)", spec.storage_size),
            },
        );
        field(
            "Password",
            match (&spec.password_secret, &spec.password) {
                (Some(r), _) => format!("from Secret {} (key {:?})", r.name, r.key),
                (None, Some(_)) => "inline in the spec (kept in the credentials Secret)".into(),
                (None, None) => "<none>".into(),
            },
        );
        let generation = m.metadata.generation;
        field(
            "Generation",
            match (generation, status.observed_generation) {
                (Some(g), Some(o)) if o >= g => format!("{g}, observed {o}"),
                (Some(g), Some(o)) => {
                    format!("{g}, observed {o} (the operator has not caught up with the spec)")
                }
                (Some(g), None) => format!("{g}, not observed yet"),
                (None, Some(o)) => format!("observed {o}"),
                (None, None) => "<unknown>".into(),
            },
        );
        field(
            "Age",
            age(m.metadata.creation_timestamp.as_ref().map(|t| t.0), now),
        );
        if let Some(t) = &m.metadata.deletion_timestamp {
            field("Deleting", format!("requested {} ago", age(Some(t.0), now)));
        }

        out.push_str("\nChildren:\n");
        out.push_str(&indent(&plain_table(
            vec!["KIND", "NAME", "STATE"],
            self.children
                .iter()
                .map(|c| [c.kind.to_string(), c.name.clone(), c.state.clone()]),
        )));

        out.push_str("\nBackups:\n");
        if self.backups.is_empty() {
            out.push_str("  <none>\n");
        } else {
            out.push_str(&indent(&plain_table(
                vec!["NAME", "SIZE", "AGE", "VERIFIED", "SHA256"],
                self.backups.iter().map(|b| {
                    [
                        b.name.clone(),
                        format!("{} B", b.size),
                        age(b.created.parse().ok(), now),
                        if b.verified { "yes" } else { "no" }.to_string(),
                        b.sha256.chars().take(12).collect(),
                    ]
                }),
            )));
        }

        out.push_str("\nConditions:\n");
        if status.conditions.is_empty() {
            out.push_str("  <none>\n");
        } else {
            out.push_str(&indent(&plain_table(
                vec!["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"],
                status.conditions.iter().map(|c| condition_row(c, now)),
            )));
        }

        out.push_str("\nEvents:\n");
        if self.events.is_empty() {
            out.push_str("  <none>\n");
        } else {
            out.push_str(&indent(&plain_table(
                vec!["TYPE", "REASON", "AGE", "MESSAGE"],
                self.events.iter().map(|e| event_row(e, now)),
            )));
        }

        if !self.errors.is_empty() {
            out.push_str("\nErrors:\n");
            for e in &self.errors {
                out.push_str(&format!("  {}\n", one_line(e)));
            }
        }
        out
    }
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(Timestamp::now()))
    }
}

fn condition_row(c: &Condition, now: Timestamp) -> [String; 5] {
    [
        c.type_.clone(),
        c.status.clone(),
        c.reason.clone(),
        age(Some(c.last_transition_time.0), now),
        c.message.clone(),
    ]
}

fn event_row(e: &Event, now: Timestamp) -> [String; 4] {
    let last = age(event_time(e), now);
    let count = e
        .count
        .or_else(|| e.series.as_ref().and_then(|s| s.count))
        .unwrap_or(1);
    let when = match (count, e.first_timestamp.as_ref()) {
        (n, Some(first)) if n > 1 => format!("{last} (x{n} over {})", age(Some(first.0), now)),
        (n, None) if n > 1 => format!("{last} (x{n})"),
        _ => last,
    };
    [
        e.type_.clone().unwrap_or_default(),
        e.reason.clone().unwrap_or_default(),
        when,
        e.message.clone().unwrap_or_default(),
    ]
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------
// API calls bounded in time, and their errors in words.

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

/// The innermost cause of an error: what went wrong (e.g. "Connection refused").
fn innermost_cause(error: &kube::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn describe(error: &CallError, server: Option<&str>) -> String {
    let at = server.map(|s| format!(" at {s}")).unwrap_or_default();
    match error {
        CallError::Timeout(t) => format!(
            "the Kubernetes API server{at} did not answer within {}",
            show_duration(*t)
        ),
        CallError::Kube(kube::Error::Api(status)) => {
            if status.message.is_empty() {
                format!("the API server answered {} {}", status.code, status.reason)
            } else {
                status.message.clone()
            }
        }
        CallError::Kube(e) => format!(
            "cannot reach the Kubernetes API server{at}: {}",
            innermost_cause(e)
        ),
    }
}

/// The one-line failure of a read the command cannot go on without.
fn failure(
    error: CallError,
    action: &str,
    namespace: Option<&str>,
    name: Option<&str>,
    server: Option<&str>,
) -> anyhow::Error {
    let reach_hint = "check that the cluster is running and that --kubeconfig/--context point at it (`kubectl cluster-info`); --timeout sets how long each call may take";
    // Anything but an answer from the API server: it could not be reached in time.
    let CallError::Kube(kube::Error::Api(status)) = &error else {
        return Failure::new(describe(&error, server), reach_hint).into();
    };
    let ns = namespace.unwrap_or("<all>");
    match status.code {
        404 => {
            let object_missing = name.is_some_and(|n| {
                status
                    .details
                    .as_ref()
                    .is_some_and(|d| d.name == n && d.kind.starts_with("mysql"))
            });
            match name {
                Some(name) if object_missing => Failure::new(
                    format!("MySQL {name:?} not found in namespace {ns:?}"),
                    format!("`kubectl mysql status -n {ns}` lists the instances in that namespace (-A: in every namespace)"),
                ),
                _ => Failure::new(
                    "the server doesn't have a resource type \"mysqls\": the MySQL CRD is not installed",
                    "install it with `kubectl mysql crd | kubectl apply -f -`",
                ),
            }
            .into()
        }
        401 => Failure::new(
            format!("cannot {action}: {}", describe(&error, server)),
            "your credentials were refused: log in again or check the kubeconfig user",
        )
        .into(),
        403 => Failure::new(
            format!("cannot {action}: {}", describe(&error, server)),
            match namespace {
                Some(ns) => format!("check your permissions: `kubectl auth can-i get mysqls.otus.homework -n {ns}`"),
                None => "check your permissions: `kubectl auth can-i list mysqls.otus.homework -A`".into(),
            },
        )
        .into(),
        _ => Failure::new(
            format!("cannot {action}: {}", describe(&error, server)),
            "try again; if it persists, `kubectl get --raw /readyz?verbose` shows the API server's health",
        )
        .into(),
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
// Durations and ages.

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

/// Time since `then`, as kubectl prints ages (apimachinery's `HumanDuration`).
fn age(then: Option<Timestamp>, now: Timestamp) -> String {
    match then {
        Some(then) => human_duration(now.as_second() - then.as_second()),
        None => "<unknown>".into(),
    }
}

fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (5, "5s"),
            (119, "119s"),
            (180, "3m"),
            (185, "3m5s"),
            (45 * 60, "45m"),
            (2 * 3600, "120m"),
            (5 * 3600 + 60 * 7, "5h7m"),
            (30 * 3600, "30h"),
            (4 * 86400, "4d"),
            (4 * 86400 + 3 * 3600, "4d3h"),
            (100 * 86400, "100d"),
            (3 * 365 * 86400 + 10 * 86400, "3y10d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, shown) in cases {
            assert_eq!(human_duration(seconds), shown, "{seconds}s");
        }
    }

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

    fn mysql(namespace: &str, name: &str, status: serde_json::Value) -> MySQL {
        serde_json::from_value(json!({
            "apiVersion": "otus.homework/v1", "kind": "MySQL",
            "metadata": {"name": name, "namespace": namespace,
                         "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 2},
            "spec": {"image": "mysql:8.4", "database": "shop", "password": "s3cret-Pa55",
                     "storage_size": "1Gi"},
            "status": status,
        }))
        .expect("a MySQL")
    }

    #[test]
    fn table_is_kubectl_shaped() {
        let now: Timestamp = "2024-01-01T00:03:00Z".parse().expect("time");
        let items = [
            mysql("a", "one", json!({"phase": "Ready"})),
            mysql("b", "two", json!(null)),
        ];
        let shown = render_table(&items, false, now);
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[0], "NAME   PHASE     DATABASE   STORAGE   AGE");
        assert_eq!(lines[1], "one    Ready     shop       1Gi       3m");
        assert_eq!(lines[2], "two    Pending   shop       1Gi       3m");
        let all = render_table(&items, true, now);
        assert!(all.starts_with("NAMESPACE   NAME"), "{all}");
    }

    #[test]
    fn detail_never_shows_the_password() {
        let now: Timestamp = "2024-01-01T01:00:00Z".parse().expect("time");
        let detail = Detail {
            mysql: mysql(
                "a",
                "one",
                json!({"phase": "Ready", "observedGeneration": 1, "conditions": [{
                    "type": "Ready", "status": "True", "reason": "Converged",
                    "message": "all children in place", "lastTransitionTime": "2024-01-01T00:59:00Z"}]}),
            ),
            backups: Vec::new(),
            children: vec![ChildRow {
                kind: "Secret",
                name: "one-credentials".into(),
                state: "present".into(),
            }],
            events: Vec::new(),
            errors: vec!["Events: forbidden".into()],
        };
        let shown = detail.render(now);
        assert!(!shown.contains("s3cret-Pa55"), "{shown}");
        assert!(
            shown.contains("Generation:         2, observed 1 (the operator has not caught up"),
            "{shown}"
        );
        assert!(
            shown.contains("Ready   True     Converged   60s   all children in place"),
            "{shown}"
        );
        assert!(shown.contains("Errors:\n  Events: forbidden\n"), "{shown}");
    }
}
