//! `kubectl mysql create`: the MySQL object and everything it needs.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use rand::RngExt;
use serde_json::Value;

use super::output::{ObjectFormat, object_name, render};
use super::progress::Progress;
use super::{CLI_REPORTER, Failure, GlobalArgs, follow, kubeconfig};
use crate::crd::{DEFAULT_PASSWORD_KEY, MySQL, MySQLSpec, Phase, SecretKeyReference};
use crate::input::{parse_mysqls, read_manifest};
use crate::reconcile::lifecycle::delete_backup_job;
use crate::reconcile::{Context, reconcile};
use crate::resources::FIELD_MANAGER;
use crate::resources::{Names, children, password_secret, restore_job};
use crate::validate::{Instance, check_object, instance};

/// The longest password `--password-stdin` reads.
const MAX_PASSWORD_BYTES: usize = 1024;
/// Length of a generated root password (alphanumeric: about 143 bits).
const GENERATED_PASSWORD_LEN: usize = 24;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # The seed's instance from flags, with a generated root password kept in a Secret;
  # wait until it is Ready (no operator needed)
  kubectl mysql create mysql-instance --database otus-database --storage-size 1Gi --generate-password --wait

  # The seed's instance from its manifest, deploy/cr.yaml
  kubectl mysql create -f deploy/cr.yaml --wait

  # A password typed on stdin (never on the command line)
  printf '%s' \"$PASSWORD\" | kubectl mysql create mysql-instance --database otus-database --storage-size 1Gi --password-stdin --wait

  # A backup every night at 03:00 Moscow time, kept 7 deep (a CronJob backup-<name>-cron)
  kubectl mysql create mysql-instance --database otus-database --storage-size 1Gi --backup-schedule \"0 3 * * *\" --backup-timezone Europe/Moscow

  # Point-in-time restore: the binary log archived onto the backup volume every 5 minutes
  kubectl mysql create mysql-instance --database otus-database --storage-size 1Gi --backup-schedule @daily --pitr

  # Print every object that would be created, touching nothing (no cluster needed)
  kubectl mysql create -f deploy/cr.yaml --dry-run=client -o yaml")]
pub struct CreateArgs {
    /// Name of the instance (a DNS label of at most 51 characters)
    #[arg(required_unless_present = "filename", conflicts_with = "filename")]
    name: Option<String>,

    /// A manifest of kind MySQL to create ("-" reads stdin), e.g. the seed's deploy/cr.yaml
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    filename: Option<PathBuf>,

    /// Database to create in the server
    #[arg(
        long,
        required_unless_present = "filename",
        conflicts_with = "filename"
    )]
    database: Option<String>,

    /// Size of the data volume, e.g. 1Gi
    #[arg(
        long,
        value_name = "QUANTITY",
        required_unless_present = "filename",
        conflicts_with = "filename"
    )]
    storage_size: Option<String>,

    /// MySQL server image [default: mysql:8.4]
    #[arg(long, conflicts_with = "filename")]
    image: Option<String>,

    /// StorageClass for dynamic provisioning (default: a hostPath volume)
    #[arg(long, value_name = "CLASS", conflicts_with = "filename")]
    storage_class: Option<String>,

    /// Back up on this CronJob schedule, e.g. "0 3 * * *" or @daily (see the CRD's spec.backup_schedule)
    #[arg(long, value_name = "CRON", conflicts_with = "filename")]
    backup_schedule: Option<String>,

    /// IANA time zone of --backup-schedule [default: Etc/UTC]
    #[arg(
        long,
        value_name = "ZONE",
        conflicts_with = "filename",
        requires = "backup_schedule"
    )]
    backup_timezone: Option<String>,

    /// Archive the binary log onto the backup volume, for restores to a point in time (restore --to)
    #[arg(long, conflicts_with = "filename")]
    pitr: bool,

    /// With --pitr: seconds between closes of the current binlog file, 10 to 3600 [default: 300]
    #[arg(
        long,
        value_name = "SECONDS",
        conflicts_with = "filename",
        requires = "pitr",
        value_parser = clap::value_parser!(u32).range(10..=3600)
    )]
    pitr_flush_seconds: Option<u32>,

    #[command(flatten)]
    password: PasswordArgs,

    /// Only print what would be created: "client" touches nothing and needs no cluster
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "client", default_value = "none")]
    dry_run: DryRun,

    /// Output format of the created objects
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<ObjectFormat>,

    /// Wait until the instance is Ready (reconciling by hand meanwhile, so no operator is needed)
    #[arg(long)]
    wait: bool,

    /// How long --wait waits, e.g. 90s or 10m
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
}

/// Where the root password comes from when creating from flags (at most one).
#[derive(Debug, Args)]
#[group(multiple = false)]
struct PasswordArgs {
    /// Use the password in this existing Secret (key "password")
    #[arg(long, value_name = "SECRET", conflicts_with = "filename")]
    password_secret: Option<String>,
    /// Read the password from stdin and keep it in a Secret <name>-credentials
    #[arg(long, conflicts_with = "filename")]
    password_stdin: bool,
    /// Generate a password into a Secret <name>-credentials (the default; each dry run makes a new one, so apply its output once: a server keeps the password it was initialised with)
    #[arg(long, conflicts_with = "filename")]
    generate_password: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DryRun {
    None,
    Client,
    Server,
}

/// What `create` makes for one instance.
struct Plan {
    /// The password Secret the CLI makes (generated or read from stdin).
    secret: Option<Secret>,
    mysql: MySQL,
    instance: Instance,
}

impl Plan {
    /// The CLI's Secret, the MySQL object and every child, in apply order.
    fn documents(&self) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        if let Some(secret) = &self.secret {
            out.push(serde_json::to_value(secret)?);
        }
        out.push(serde_json::to_value(&self.mysql)?);
        out.extend(children(&self.instance).to_values());
        Ok(out)
    }
}

pub async fn run(global: &GlobalArgs, args: CreateArgs) -> anyhow::Result<()> {
    match args.dry_run {
        DryRun::Client => {
            let namespace = kubeconfig::default_namespace(global);
            let plans = plans(&args, global, &namespace)?;
            let mut objects = Vec::new();
            for plan in &plans {
                objects.extend(plan.documents()?);
            }
            let out = match args.output {
                Some(ObjectFormat::Yaml) => {
                    let later: String = plans.iter().map(later_jobs).collect();
                    render(&objects, ObjectFormat::Yaml) + &later
                }
                Some(format) => render(&objects, format),
                None => objects
                    .iter()
                    .map(|o| format!("{} created (dry run)\n", object_name(o)))
                    .collect(),
            };
            print!("{out}");
            Ok(())
        }
        DryRun::Server => Err(Failure::new(
            "--dry-run=server is not supported",
            "use --dry-run=client, which prints every object without touching the cluster",
        )
        .into()),
        DryRun::None => {
            let (client, namespace) = kubeconfig::client(global, Some(API_TIMEOUT)).await?;
            let plans = plans(&args, global, &namespace)?;
            // Every referenced Secret is checked before anything is written.
            for plan in &plans {
                check_password_secret(&client, plan).await?;
            }
            for plan in plans {
                create_in_cluster(&client, plan, &args).await?;
            }
            Ok(())
        }
    }
}

/// The Jobs the operator makes later for `plan` (the restore once the server is up, the
/// backup on delete), as YAML comments: applying the stream must not run them.
fn later_jobs(plan: &Plan) -> String {
    let jobs = [
        restore_job(&plan.instance, None),
        delete_backup_job(&plan.instance),
    ];
    let values: Vec<Value> = jobs
        .iter()
        .filter_map(|j| serde_json::to_value(j).ok())
        .collect();
    let mut out = String::from(
        "# The operator makes these Jobs later (applying this stream does not):\n\
         # restore-*-job once the server is up, when a verified backup exists;\n\
         # backup-*-job on delete, from the data volume (`kubectl mysql backup` makes one from the server).\n\
         # Their image is the server's: its pod's image by digest (status.image), once it has run.\n",
    );
    for line in crate::manifest::to_yaml_stream(&values).lines() {
        let pinned = line.trim_start().starts_with("image: ");
        out.push_str(&format!("# {line}"));
        if pinned {
            out.push_str("  # until the server runs; then status.image, the digest its pod runs");
        }
        out.push('\n');
    }
    out
}

/// Every API call of `create` gives up after this long.
const API_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn plans(args: &CreateArgs, global: &GlobalArgs, namespace: &str) -> anyhow::Result<Vec<Plan>> {
    match &args.filename {
        Some(path) => from_file(path, global.namespace.as_deref(), namespace),
        None => Ok(vec![from_flags(args, namespace)?]),
    }
}

/// A Secret the instance would read its password from (not one the CLI makes) exists
/// and holds a password the server can start with; else the operator's reason, as one
/// line and a hint, before anything is written.
async fn check_password_secret(client: &Client, plan: &Plan) -> anyhow::Result<()> {
    if plan.secret.is_some() {
        return Ok(());
    }
    let crate::validate::PasswordSource::Secret(reference) = &plan.instance.password else {
        return Ok(());
    };
    let Some((reason, message)) =
        crate::reconcile::password_problem(client, &plan.instance).await?
    else {
        return Ok(());
    };
    let namespace = &plan.instance.namespace;
    let secret = &reference.name;
    let key = &reference.key;
    let hint = match reason {
        "SecretNotFound" => format!(
            "create it first: kubectl create secret generic {secret} -n {namespace} --from-literal={key}=PASSWORD (or leave --password-secret out to generate one)"
        ),
        _ => format!(
            "put a password without ' \" \\ or control characters into it: kubectl create secret generic {secret} -n {namespace} --from-literal={key}=PASSWORD --dry-run=client -o yaml | kubectl apply -f -"
        ),
    };
    Err(Failure::new(message, hint).into())
}

/// Apply one planned instance and reconcile it once by hand, with the library the
/// operator uses; with --wait, keep reconciling until it is Ready.
async fn create_in_cluster(client: &Client, plan: Plan, args: &CreateArgs) -> anyhow::Result<()> {
    let namespace = plan.instance.namespace.clone();
    let name = plan.instance.name.clone();
    if let Some(secret) = &plan.secret {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        match secrets.create(&params, secret).await {
            Ok(_) => {}
            // A password the server was initialised with must not change under it.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                eprintln!(
                    "using the existing Secret {:?} (its password is kept)",
                    secret.name_any()
                );
            }
            Err(e) => {
                return Err(
                    crate::Error::api(format!("create Secret {}", secret.name_any()), e).into(),
                );
            }
        }
    }
    let mysqls: Api<MySQL> = Api::namespaced(client.clone(), &namespace);
    let applied = mysqls
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&plan.mysql),
        )
        .await
        .map_err(|e| crate::Error::api(format!("apply MySQL {name}"), e))?;
    if let Some(secret) = &plan.secret {
        adopt_secret(client, &applied, &secret.name_any()).await?;
    }
    let ctx = Context::new(client.clone(), CLI_REPORTER);
    let outcome = reconcile(&applied, &ctx).await?;
    match args.output {
        Some(format) => {
            let current = mysqls
                .get(&name)
                .await
                .map_err(|e| crate::Error::api(format!("read MySQL {name}"), e))?;
            print!("{}", render(&[serde_json::to_value(&current)?], format));
        }
        None => println!(
            "mysql.otus.homework/{name} created ({} objects applied, phase {:?})",
            outcome.applied, outcome.phase
        ),
    }
    if args.wait {
        wait_until_ready(&mysqls, &ctx, &name, args.timeout).await?;
    }
    Ok(())
}

/// The Secret the CLI made belongs to the instance from now on (garbage-collected with it).
async fn adopt_secret(client: &Client, mysql: &MySQL, secret: &str) -> anyhow::Result<()> {
    let namespace = mysql.namespace().unwrap_or_default();
    let Some(owner) = mysql.controller_owner_ref(&()) else {
        return Ok(());
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret, "namespace": namespace, "ownerReferences": [owner]},
    });
    secrets
        .patch(
            secret,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|e| crate::Error::api(format!("set the owner of Secret {secret}"), e))?;
    Ok(())
}

/// Reconcile until Ready, showing progress; a Failed phase or the timeout ends it.
async fn wait_until_ready(
    mysqls: &Api<MySQL>,
    ctx: &Context,
    name: &str,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    let progress = Progress::start(&format!("waiting for {name} to be Ready"));
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let current = follow::look(&progress, deadline, || async {
            mysqls
                .get(name)
                .await
                .map_err(|e| crate::Error::api(format!("read MySQL {name}"), e))
        })
        .await?;
        let outcome = follow::look(&progress, deadline, || reconcile(&current, ctx)).await?;
        let status = mysqls
            .get_status(name)
            .await
            .ok()
            .and_then(|m| m.status)
            .unwrap_or_default();
        // What it is doing now: while restoring, the Restored condition says which backup.
        let condition = |type_: &str| {
            status
                .conditions
                .iter()
                .find(|c| c.type_ == type_ && !c.message.is_empty())
                .map(|c| c.message.clone())
        };
        let message = (outcome.phase == Phase::Restoring)
            .then(|| condition("Restored"))
            .flatten()
            .or_else(|| condition("Ready"))
            .or_else(|| status.message.clone())
            .unwrap_or_default();
        progress.step(&format!("{:?}: {message}", outcome.phase));
        match outcome.phase {
            Phase::Ready => {
                progress.finish(&format!(
                    "{name} is Ready: {}",
                    status.message.unwrap_or_default()
                ));
                return Ok(());
            }
            Phase::Failed => {
                progress.abandon();
                return Err(Failure::new(
                    format!("MySQL {name:?} failed: {message}"),
                    format!("see `kubectl mysql status {name}`; fix the cause and the instance heals on its own"),
                )
                .into());
            }
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            progress.abandon();
            return Err(Failure::new(
                format!(
                    "MySQL {name:?} is not Ready after {}",
                    humantime::format_duration(timeout)
                ),
                format!("see `kubectl mysql status {name}`, or wait longer with --timeout"),
            )
            .into());
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// A plan for each MySQL manifest in the file.
fn from_file(
    path: &PathBuf,
    requested: Option<&str>,
    namespace: &str,
) -> anyhow::Result<Vec<Plan>> {
    let (text, source_name) = if path.as_os_str() == "-" {
        (
            read_manifest(std::io::stdin(), "stdin")?,
            "stdin".to_string(),
        )
    } else {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| crate::Error::Read {
            source_name: shown.clone(),
            reason: e.to_string(),
        })?;
        (read_manifest(file, &shown)?, shown)
    };
    let mut plans = Vec::new();
    for mut mysql in parse_mysqls(&text, &source_name)? {
        match (&mysql.metadata.namespace, requested) {
            (Some(object), Some(requested)) if object != requested => {
                return Err(crate::Error::NamespaceMismatch {
                    object: object.clone(),
                    requested: requested.to_string(),
                }
                .into());
            }
            (None, _) => mysql.metadata.namespace = Some(namespace.to_string()),
            _ => {}
        }
        let instance = instance(&mysql, namespace)?;
        plans.push(Plan {
            secret: None,
            mysql,
            instance,
        });
    }
    Ok(plans)
}

/// The MySQL object from flags and the password Secret the CLI makes (if any).
fn from_flags(args: &CreateArgs, namespace: &str) -> anyhow::Result<Plan> {
    // clap guarantees these without -f.
    let (Some(name), Some(database), Some(storage_size)) =
        (&args.name, &args.database, &args.storage_size)
    else {
        return Err(Failure::new(
            "NAME, --database and --storage-size are required",
            "see `kubectl mysql create --help`",
        )
        .into());
    };
    crate::validate::check_name(name)?;
    let credentials = Names::of(namespace, name).credentials_secret();
    let password = &args.password;
    let (secret_name, new_password) = match &password.password_secret {
        Some(existing) => (existing.clone(), None),
        None if password.password_stdin => (credentials, Some(read_password_stdin()?)),
        None => (credentials, Some(generate_password())),
    };
    let spec = MySQLSpec {
        pod_security: None,
        // Empty until the schema defaults it (below), exactly as the API server would.
        image: args.image.clone().unwrap_or_default(),
        database: database.clone(),
        password: None,
        password_secret: Some(SecretKeyReference {
            name: secret_name,
            key: DEFAULT_PASSWORD_KEY.into(),
        }),
        storage_size: storage_size.clone(),
        storage_class: args.storage_class.clone(),
        backup_retention: crate::crd::DEFAULT_RETENTION,
        backup_schedule: args.backup_schedule.clone(),
        backup_timezone: args.backup_timezone.clone(),
        pitr: args.pitr.then_some(true),
        pitr_flush_seconds: args.pitr_flush_seconds,
    };
    let mut raw = serde_json::to_value(MySQL {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    })?;
    if args.image.is_none()
        && let Some(spec) = raw["spec"].as_object_mut()
    {
        spec.remove("image");
    }
    let mysql: MySQL = serde_json::from_value(check_object(&raw)?)?;
    let instance = instance(&mysql, namespace)?;
    Ok(Plan {
        secret: new_password.map(|p| password_secret(&instance, &p)),
        mysql,
        instance,
    })
}

fn read_password_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    // Bounded: a password is a line, not a stream (`< /dev/zero` must not fill memory).
    std::io::stdin()
        .take(MAX_PASSWORD_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| {
            Failure::new(
                format!("cannot read the password from stdin: {e}"),
                "pipe the password in, e.g. printf '%s' \"$PW\" | kubectl mysql create ...",
            )
        })?;
    if text.len() > MAX_PASSWORD_BYTES {
        return Err(Failure::new(
            format!(
                "--password-stdin got more than {MAX_PASSWORD_BYTES} bytes: a password is one line"
            ),
            "pipe the password in, e.g. printf '%s' \"$PW\" | kubectl mysql create ...",
        )
        .into());
    }
    let password = text.trim_end_matches(['\r', '\n']).to_string();
    if password.bytes().any(|b| b.is_ascii_control()) {
        return Err(Failure::new(
            "--password-stdin got a password with a control character (a line break inside it?), which the clients' option file would cut there",
            "pipe one line in, e.g. printf '%s' \"$PW\" | kubectl mysql create ...",
        )
        .into());
    }
    if password.is_empty() {
        return Err(Failure::new(
            "--password-stdin got an empty password",
            "pipe the password in, e.g. printf '%s' \"$PW\" | kubectl mysql create ...",
        )
        .into());
    }
    if crate::crd::unsafe_password(password.as_bytes()) {
        return Err(Failure::new(
            "--password-stdin got a password with ' \" or \\, which the official mysql image's entrypoint cannot take (it pastes the password unescaped into SQL and an option file)",
            "choose a password without those three characters, or leave --password-stdin out to generate one",
        )
        .into());
    }
    Ok(password)
}

fn generate_password() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(GENERATED_PASSWORD_LEN)
        .map(char::from)
        .collect()
}
