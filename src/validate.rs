//! Pure validation: a `MySQL` object becomes a validated [`Instance`] or a typed error.
//!
//! [`check_object`] applies the CRD's schema and CEL rules exactly as the API server
//! would; [`instance`] then adds what no schema can say (sizes above zero, the object's
//! identity) and resolves the password source. Neither does I/O.

use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

use crate::crd::{self, MAX_NAME_LEN, MySQL, SecretKeyReference};
use crate::error::Error;
use crate::schema::SchemaValidator;

/// A MySQL object that passed validation: everything the builders need.
#[derive(Clone, PartialEq, Eq)]
pub struct Instance {
    pub name: String,
    pub namespace: String,
    /// Set once the object exists in a cluster; owner references need it.
    pub uid: Option<String>,
    pub image: String,
    pub database: String,
    pub password: PasswordSource,
    pub storage_size: String,
    pub storage_class: Option<String>,
    /// Verified backups to keep.
    pub backup_retention: u32,
    /// `Some(Restricted)`: the pods run as uid 999 and meet the "restricted" profile.
    pub pod_security: Option<crate::crd::PodSecurity>,
    /// Scheduled backups: the checked cron expression and its time zone.
    pub backup_schedule: Option<BackupSchedule>,
    /// Point-in-time restore: the binary log is on and archived onto the backup volume
    /// every `flush_seconds`.
    pub pitr: Option<Pitr>,
    /// The image the server runs, by digest (`status.image`), once it has run: the Jobs
    /// use it, so that a moved tag or a node's stale cache never puts another version of
    /// mysqld on the data.
    pub server_image: Option<String>,
}

impl Instance {
    /// The image of the backup and restore Jobs: the server's own, or the spec's before
    /// the server has run.
    pub fn job_image(&self) -> &str {
        self.server_image.as_deref().unwrap_or(&self.image)
    }
}

/// A backup schedule that Kubernetes will take for a CronJob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSchedule {
    pub cron: String,
    /// An IANA name ([`crate::schedule::DEFAULT_TIMEZONE`] when the spec names none).
    pub timezone: String,
}

/// The binary-log archive of an instance (`spec.pitr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pitr {
    /// Seconds between closes of the current binlog file (`spec.pitr_flush_seconds`).
    pub flush_seconds: u32,
}

/// How often the binlog is archived when the spec does not say.
pub const DEFAULT_PITR_FLUSH_SECONDS: u32 = 300;

/// Where the root password comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The seed's inline `password`: the operator keeps it in a Secret of its own.
    Inline(String),
    /// A Secret the user manages.
    Secret(SecretKeyReference),
}

// Written by hand so that a password never reaches a log line through `{:?}`.
impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Inline(_) => f.write_str("Inline(<redacted>)"),
            PasswordSource::Secret(r) => f.debug_tuple("Secret").field(r).finish(),
        }
    }
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("uid", &self.uid)
            .field("image", &self.image)
            .field("database", &self.database)
            .field("password", &self.password)
            .field("storage_size", &self.storage_size)
            .field("storage_class", &self.storage_class)
            .field("backup_retention", &self.backup_retention)
            .field("pod_security", &self.pod_security)
            .field("backup_schedule", &self.backup_schedule)
            .field("pitr", &self.pitr)
            .field("server_image", &self.server_image)
            .finish()
    }
}

/// The schema validator of the CRD this binary generates, compiled once.
pub fn mysql_schema() -> Result<&'static SchemaValidator, Error> {
    static SCHEMA: OnceLock<Result<SchemaValidator, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            SchemaValidator::new(&crd::openapi_schema(), "otus.homework/v1", "MySQL")
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::BadValue(format!("the MySQL CRD schema does not compile: {e}")))
}

/// Check a raw object (from a file or built from flags) as the API server would on create:
/// unknown fields are refused (strict field validation), then schema values and CEL rules.
/// Returns the object with the schema's defaults applied.
pub fn check_object(object: &Value) -> Result<Value, Error> {
    let schema = mysql_schema()?;
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let unknown = schema.unknown_fields(object);
    if !unknown.is_empty() {
        return Err(Error::UnknownFields {
            name,
            fields: unknown,
        });
    }
    let defaulted = schema.with_defaults(object);
    let causes = schema.validate(&defaulted, None);
    if causes.is_empty() {
        Ok(defaulted)
    } else {
        Err(Error::Invalid { name, causes })
    }
}

/// Turn a MySQL object into a validated instance. `default_namespace` applies when the
/// object names none.
pub fn instance(object: &MySQL, default_namespace: &str) -> Result<Instance, Error> {
    let name = object.metadata.name.clone().unwrap_or_default();
    check_name(&name)?;
    let namespace = object
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| default_namespace.to_string());
    let spec = &object.spec;
    let password = match (&spec.password, &spec.password_secret) {
        (Some(p), None) if !p.is_empty() => PasswordSource::Inline(p.clone()),
        (None, Some(r)) => PasswordSource::Secret(r.clone()),
        _ => {
            return Err(Error::BadValue(format!(
                "MySQL {name:?}: exactly one of spec.password or spec.password_secret must be set"
            )));
        }
    };
    match quantity_bytes(&spec.storage_size) {
        Some(bytes) if bytes > 0 => {}
        _ => {
            return Err(Error::BadValue(format!(
                "MySQL {name:?}: spec.storage_size {:?} must be a quantity above zero, such as 1Gi",
                spec.storage_size
            )));
        }
    }
    // The CRD says so too (CEL); an object stored under an older CRD gets the same answer.
    if spec.pod_security.is_some() && spec.storage_class.is_none() {
        return Err(Error::BadValue(format!(
            "MySQL {name:?}: spec.pod_security: restricted needs spec.storage_class (a hostPath volume ignores fsGroup)"
        )));
    }
    let backup_schedule = match &spec.backup_schedule {
        None => None,
        Some(cron) => {
            let timezone = spec.backup_timezone.as_deref();
            crate::schedule::Schedule::parse(cron, timezone)
                .map_err(|e| Error::BadValue(format!("MySQL {name:?}: {e}")))?;
            Some(BackupSchedule {
                cron: cron.clone(),
                timezone: timezone
                    .unwrap_or(crate::schedule::DEFAULT_TIMEZONE)
                    .to_string(),
            })
        }
    };
    if spec.pitr_flush_seconds.is_some() && spec.pitr != Some(true) {
        return Err(Error::BadValue(format!(
            "MySQL {name:?}: spec.pitr_flush_seconds needs spec.pitr: true"
        )));
    }
    let pitr = (spec.pitr == Some(true)).then(|| Pitr {
        flush_seconds: spec
            .pitr_flush_seconds
            .unwrap_or(DEFAULT_PITR_FLUSH_SECONDS),
    });
    Ok(Instance {
        name,
        namespace,
        uid: object.metadata.uid.clone(),
        image: spec.image.clone(),
        database: spec.database.clone(),
        password,
        storage_size: spec.storage_size.clone(),
        storage_class: spec.storage_class.clone(),
        backup_retention: spec.backup_retention,
        pod_security: spec.pod_security,
        backup_schedule,
        pitr,
        server_image: object.status.as_ref().and_then(|s| s.image.clone()),
    })
}

/// An instance name must be a DNS-1035 label short enough for its Job names.
pub fn check_name(name: &str) -> Result<(), Error> {
    let label = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !label {
        return Err(Error::BadValue(format!(
            "invalid instance name {name:?}: use lower case letters, digits and '-', starting with a letter and not ending with '-'"
        )));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::BadValue(format!(
            "invalid instance name {name:?}: at most {MAX_NAME_LEN} characters (it has {}), so that restore-<name>-job fits in 63",
            name.len()
        )));
    }
    Ok(())
}

/// Bytes of a quantity such as `1Gi`, `500M` or `1.5Gi`; `None` when it is not one.
pub fn quantity_bytes(quantity: &str) -> Option<u128> {
    let split = quantity
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(split);
    let multiplier: u128 = match suffix {
        "" => 1,
        "k" => 1000,
        "M" => 1000u128.pow(2),
        "G" => 1000u128.pow(3),
        "T" => 1000u128.pow(4),
        "P" => 1000u128.pow(5),
        "E" => 1000u128.pow(6),
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || fraction.len() > 18 {
        return None;
    }
    let scale = 10u128.pow(fraction.len() as u32);
    let digits: u128 = format!("{whole}{fraction}").parse().ok()?;
    digits.checked_mul(multiplier).map(|b| b / scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_in_binary_and_decimal_units() {
        assert_eq!(quantity_bytes("1Gi"), Some(1 << 30));
        assert_eq!(quantity_bytes("1.5Gi"), Some(3 << 29));
        assert_eq!(quantity_bytes("500M"), Some(500_000_000));
        assert_eq!(quantity_bytes("2048"), Some(2048));
        assert_eq!(quantity_bytes("0"), Some(0));
        assert_eq!(quantity_bytes("1GB"), None);
        assert_eq!(quantity_bytes("Gi"), None);
        assert_eq!(quantity_bytes("1 Gi"), None);
        assert_eq!(quantity_bytes(".5Gi"), None);
    }

    #[test]
    fn names_must_fit_services_and_jobs() {
        assert!(check_name("mysql-instance").is_ok());
        assert!(check_name(&"a".repeat(51)).is_ok());
        let long = check_name(&"a".repeat(52)).unwrap_err().to_string();
        assert!(long.contains("at most 51 characters"), "{long}");
        for bad in ["", "1db", "My-SQL", "db-", "db.one", "db_one"] {
            assert!(check_name(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn debug_output_never_shows_an_inline_password() {
        let source = PasswordSource::Inline("s3cret-value".into());
        let shown = format!("{source:?}");
        assert!(!shown.contains("s3cret-value"));
        assert!(shown.contains("redacted"));
    }
}
