//! `kubectl mysql create`: the MySQL object and everything it needs.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use kube::api::ObjectMeta;
use rand::RngExt;
use serde_json::Value;

use super::output::{ObjectFormat, object_name, render};
use super::{Failure, GlobalArgs, kubeconfig};
use crate::crd::{DEFAULT_PASSWORD_KEY, MySQL, MySQLSpec, SecretKeyReference};
use crate::input::parse_mysqls;
use crate::resources::{Names, children, password_secret};
use crate::validate::{check_object, instance};

/// Length of a generated root password (alphanumeric: about 143 bits).
const GENERATED_PASSWORD_LEN: usize = 24;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # Print every object the operator would create for the seed's example, touching nothing
  kubectl mysql create -f deploy/cr.yaml --dry-run=client -o yaml

  # The same from flags, with a generated root password kept in a Secret
  kubectl mysql create mysql-instance --database otus-database --storage-size 1Gi --dry-run=client -o yaml

  # A password typed on stdin (never on the command line)
  printf '%s' \"$PASSWORD\" | kubectl mysql create shop --database shop --storage-size 5Gi --password-stdin --dry-run=client -o yaml")]
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

    #[command(flatten)]
    password: PasswordArgs,

    /// Only print what would be created: "client" touches nothing and needs no cluster
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "client", default_value = "none")]
    dry_run: DryRun,

    /// Output format of the created objects
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<ObjectFormat>,
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

pub async fn run(global: &GlobalArgs, args: CreateArgs) -> anyhow::Result<()> {
    if args.dry_run != DryRun::Client {
        return Err(Failure::new(
            "creating in a cluster is not available in this build yet",
            "print the manifests with --dry-run=client -o yaml and pipe them to `kubectl apply -f -`",
        )
        .into());
    }
    let namespace = kubeconfig::default_namespace(global);
    let objects = match &args.filename {
        Some(path) => from_file(path, global.namespace.as_deref(), &namespace)?,
        None => from_flags(&args, &namespace)?,
    };
    let out = match args.output {
        Some(format) => render(&objects, format),
        None => objects
            .iter()
            .map(|o| format!("{} created (dry run)\n", object_name(o)))
            .collect(),
    };
    print!("{out}");
    Ok(())
}

/// Every object for each MySQL manifest in the file, the MySQL object first.
fn from_file(
    path: &PathBuf,
    requested: Option<&str>,
    namespace: &str,
) -> anyhow::Result<Vec<Value>> {
    let (text, source_name) = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| crate::Error::Read {
                source_name: "stdin".into(),
                reason: e.to_string(),
            })?;
        (text, "stdin".to_string())
    } else {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| crate::Error::Read {
            source_name: shown.clone(),
            reason: e.to_string(),
        })?;
        (text, shown)
    };
    let mut objects = Vec::new();
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
        let validated = instance(&mysql, namespace)?;
        objects.push(serde_json::to_value(&mysql)?);
        objects.extend(children(&validated).to_values());
    }
    Ok(objects)
}

/// The MySQL object from flags, the password Secret the CLI makes (if any), and every child.
fn from_flags(args: &CreateArgs, namespace: &str) -> anyhow::Result<Vec<Value>> {
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
    let validated = instance(&mysql, namespace)?;

    let mut objects = Vec::new();
    if let Some(password) = new_password {
        objects.push(serde_json::to_value(password_secret(
            &validated, &password,
        ))?);
    }
    objects.push(serde_json::to_value(&mysql)?);
    objects.extend(children(&validated).to_values());
    Ok(objects)
}

fn read_password_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| {
        Failure::new(
            format!("cannot read the password from stdin: {e}"),
            "pipe the password in, e.g. printf '%s' \"$PW\" | kubectl mysql create ...",
        )
    })?;
    let password = text.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err(Failure::new(
            "--password-stdin got an empty password",
            "pipe the password in, e.g. printf '%s' \"$PW\" | kubectl mysql create ...",
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
