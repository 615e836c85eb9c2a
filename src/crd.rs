//! The `MySQL` custom resource: the single source of `deploy/crd.yaml`.
//!
//! Spec field names are the seed's (`storage_size`, snake_case on purpose) so the
//! seed's `cr.yaml` is accepted unchanged. Status follows Kubernetes conventions
//! (camelCase, standard conditions).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group, as in the seed.
pub const GROUP: &str = "otus.homework";
/// The one served version.
pub const VERSION: &str = "v1";
/// The image used when a spec names none.
pub const DEFAULT_IMAGE: &str = "mysql:8.4";
/// What the official mysql image's entrypoint cannot take in a root password: it pastes
/// `MYSQL_ROOT_PASSWORD` unescaped into SQL (`'...'`) and an option file (`"..."`). The CRD
/// refuses them in `spec.password`; a referenced Secret holding one fails the instance.
pub const UNSAFE_PASSWORD_BYTES: &[u8] = b"'\"\\";

/// Whether `password` has a byte of [`UNSAFE_PASSWORD_BYTES`].
pub fn unsafe_password(password: &[u8]) -> bool {
    password.iter().any(|b| UNSAFE_PASSWORD_BYTES.contains(b))
}

/// The key read from a password Secret when the reference names none.
pub const DEFAULT_PASSWORD_KEY: &str = "password";
/// Longest instance name: `restore-<name>-job` must stay a 63-character label value.
pub const MAX_NAME_LEN: usize = 51;

/// Pattern of a Kubernetes quantity in binary or decimal units, e.g. `1Gi`, `500M`.
pub const QUANTITY_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$";
/// Pattern of a database name: letters, digits, `_`, `$` and `-` (quoted by the operator), at most 64.
pub const DATABASE_PATTERN: &str = r"^[A-Za-z0-9_$-]{1,64}$";
/// Pattern of a DNS-1123 subdomain (Secret and StorageClass names).
pub const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Pattern of a Secret key.
pub const SECRET_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";
/// An image reference: anything without white space.
pub const IMAGE_PATTERN: &str = r"^[^\s]+$";

/// A single-instance MySQL server with its data volume and backups.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, PartialEq)]
#[kube(
    group = "otus.homework",
    version = "v1",
    kind = "MySQL",
    plural = "mysqls",
    singular = "mysql",
    shortname = "ms",
    namespaced,
    status = "MySQLStatus",
    derive = "PartialEq",
    doc = "A single-instance MySQL server managed by kubectl-mysql: data volume, Service, Deployment, backups on delete and restore on create.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "Lifecycle phase"),
    printcolumn(name = "Database", type_ = "string", json_path = ".spec.database", description = "Database created in the server"),
    printcolumn(name = "Storage", type_ = "string", json_path = ".spec.storage_size", description = "Size of the data volume"),
    printcolumn(name = "Last Backup", type_ = "string", json_path = ".status.lastBackup", priority = 1, description = "The newest backup this instance made"),
    printcolumn(name = "Message", type_ = "string", json_path = ".status.message", priority = 1, description = "What the operator last did"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name.size() <= 51").message("metadata.name must be at most 51 characters: Job names backup-<name>-job and restore-<name>-job must fit in 63"),
    validation = Rule::new("!has(self.spec.backup_schedule) || self.metadata.name.size() <= 40").message("metadata.name must be at most 40 characters with spec.backup_schedule: the CronJob backup-<name>-cron must fit in the 52 characters Kubernetes allows a CronJob"),
    validation = Rule::new("self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')").message("metadata.name must be a DNS-1035 label (lower case letters, digits and '-', starting with a letter): it names the Service"),
)]
#[x_kube(
    validation = Rule::new("has(self.password) != has(self.password_secret)").message("exactly one of spec.password or spec.password_secret must be set"),
    validation = Rule::new("(has(self.storage_class) ? self.storage_class : '') == (has(oldSelf.storage_class) ? oldSelf.storage_class : '')").message("spec.storage_class is immutable"),
    validation = Rule::new("!has(self.backup_timezone) || has(self.backup_schedule)").message("spec.backup_timezone needs spec.backup_schedule: it is the time zone of that schedule"),
    validation = Rule::new("!has(self.pitr_flush_seconds) || (has(self.pitr) && self.pitr)").message("spec.pitr_flush_seconds needs spec.pitr: true: it is how often the binary log is archived"),
    validation = Rule::new("!has(self.pod_security) || has(self.storage_class)").message("spec.pod_security: restricted needs spec.storage_class: the hostPath volume made without one ignores fsGroup, so the server, running as uid 999, could not write its data directory"),
)]
pub struct MySQLSpec {
    /// Container image of the MySQL server (any image that honours MYSQL_ROOT_PASSWORD and MYSQL_DATABASE).
    #[serde(default = "default_image")]
    #[schemars(regex(pattern = IMAGE_PATTERN), length(max = 512))]
    #[x_kube(
        validation = Rule::new(crate::image::downgrade_rule()).message("spec.image goes back to an older MySQL release series, which MySQL cannot run on data a newer one wrote (\"Downgrade is not supported\"); restore a backup into a new instance of the older version instead"),
    )]
    pub image: String,

    /// Name of the database to create. Immutable.
    #[schemars(regex(pattern = DATABASE_PATTERN), length(max = 64))]
    #[x_kube(
        validation = Rule::new("!(self.lowerAscii() in ['mysql', 'sys', 'information_schema', 'performance_schema'])").message("spec.database must not name a MySQL system schema"),
        validation = Rule::new("self == oldSelf").message("spec.database is immutable"),
    )]
    pub database: String,

    /// Root password, inline (the seed's form). Prefer password_secret: exactly one of the two is required. Must not contain ' " or \ (the official mysql image cannot take them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(
        validation = Rule::new(r#"!self.contains("'") && !self.contains('"') && !self.contains('\\')"#).message("spec.password must not contain ' \" or \\: the official mysql image's entrypoint pastes the root password unescaped into SQL and an option file, where a ' breaks the first start and a \\ changes the password"),
    )]
    pub password: Option<String>,

    /// An existing Secret holding the root password. Exactly one of password / password_secret is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<SecretKeyReference>,

    /// Size of the data volume, a Kubernetes quantity such as 1Gi. The backup volume gets the same size.
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub storage_size: String,

    /// How many verified backups to keep on the backup volume; older ones are pruned.
    #[serde(default = "default_retention")]
    #[schemars(range(min = 1, max = 1000))]
    pub backup_retention: u32,

    /// StorageClass for dynamic provisioning. Without it, a hostPath PersistentVolume is made by hand (minikube, kind). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DNS_SUBDOMAIN_PATTERN), length(max = 253))]
    pub storage_class: Option<String>,

    /// When to back up on a schedule, as a CronJob says it: five fields (minute hour day-of-month month day-of-week, e.g. "0 3 * * *") or @hourly, @daily, @weekly, @monthly, @yearly. The backups enter the catalogue, and backup_retention applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::schedule::schedule_pattern()), length(max = 128))]
    pub backup_schedule: Option<String>,

    /// The IANA time zone of backup_schedule, e.g. Europe/Moscow; Etc/UTC when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::schedule::TIMEZONE_PATTERN), length(max = 64))]
    pub backup_timezone: Option<String>,

    /// Point-in-time restore: the server logs every change (binary log, row format) and a binlog-archive container in its pod copies each closed binlog file onto the backup volume, verified by sha256. `kubectl mysql restore NAME --to TIME` then loads the newest backup before TIME and replays the archive up to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pitr: Option<bool>,

    /// With pitr: how often, in seconds, the server's current binlog file is closed and archived (default 300): at most this much of the log is only on the data volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 3600))]
    pub pitr_flush_seconds: Option<u32>,

    /// How the server and Job pods run. `restricted`: as uid/gid 999 (the images' mysql user) with runAsNonRoot, every capability dropped and RuntimeDefault seccomp, as the Pod Security "restricted" profile asks. Needs storage_class: a hostPath volume ignores fsGroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<PodSecurity>,
}

/// A Pod Security Standards profile the instance's pods meet.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurity {
    Restricted,
}

// Written by hand so that `{:?}` of a MySQL object (logs, test failures) never shows the password.
impl std::fmt::Debug for MySQLSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySQLSpec")
            .field("image", &self.image)
            .field("database", &self.database)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_secret", &self.password_secret)
            .field("storage_size", &self.storage_size)
            .field("backup_retention", &self.backup_retention)
            .field("storage_class", &self.storage_class)
            .field("pod_security", &self.pod_security)
            .field("backup_schedule", &self.backup_schedule)
            .field("backup_timezone", &self.backup_timezone)
            .field("pitr", &self.pitr)
            .field("pitr_flush_seconds", &self.pitr_flush_seconds)
            .finish()
    }
}

/// A key of a Secret in the instance's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SecretKeyReference {
    /// Name of the Secret.
    #[schemars(regex(pattern = DNS_SUBDOMAIN_PATTERN), length(max = 253))]
    pub name: String,
    /// Key in the Secret's data holding the password.
    #[serde(default = "default_password_key")]
    #[schemars(regex(pattern = SECRET_KEY_PATTERN))]
    pub key: String,
}

/// What the operator observed and did, written through the status subresource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MySQLStatus {
    /// Lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Standard conditions (Ready, Progressing, Degraded, ...), one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// What happened last, in the seed's words (`<name> created with restore-job`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The newest backup this instance made (`<stamp>.sql.gz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<String>,
    /// The backup the last restore loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restore: Option<String>,
    /// The exact image the server runs, by digest (its pod's imageID); the Jobs run it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Lifecycle phase of an instance.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    Pending,
    Provisioning,
    Restoring,
    Ready,
    BackingUp,
    Deleting,
    Failed,
}

/// Backups kept when the spec says nothing.
pub const DEFAULT_RETENTION: u32 = 7;

fn default_retention() -> u32 {
    DEFAULT_RETENTION
}

fn default_image() -> String {
    DEFAULT_IMAGE.to_string()
}

fn default_password_key() -> String {
    DEFAULT_PASSWORD_KEY.to_string()
}

/// The CRD as the API server gets it.
pub fn crd() -> CustomResourceDefinition {
    MySQL::crd()
}

/// The CRD as YAML: the content of `deploy/crd.yaml`.
pub fn crd_yaml() -> String {
    crate::manifest::to_yaml_stream(&[crd()])
}

/// The CRD's `openAPIV3Schema` as JSON, for client-side validation.
pub fn openapi_schema() -> serde_json::Value {
    let crd = crd();
    let schema = crd
        .spec
        .versions
        .into_iter()
        .next()
        .and_then(|v| v.schema)
        .and_then(|s| s.open_api_v3_schema);
    // The derive always produces a schema: a missing one is a programming error, caught by tests.
    serde_json::to_value(schema).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::validate::{check_object, mysql_schema};
    use serde_json::{Value, json};

    fn seed_cr() -> Value {
        let text = include_str!("../deploy/cr.yaml");
        serde_saphyr::from_str(text).expect("deploy/cr.yaml is YAML")
    }

    fn causes_of(object: &Value) -> Vec<String> {
        match check_object(object) {
            Err(Error::Invalid { causes, .. }) => causes.iter().map(ToString::to_string).collect(),
            other => panic!("expected an invalid object, got {other:?}"),
        }
    }

    #[test]
    fn crd_yaml_in_deploy_is_generated_from_the_types() {
        let committed = include_str!("../deploy/crd.yaml");
        assert!(
            committed == crd_yaml(),
            "deploy/crd.yaml drifted from the Rust types: run `cargo run -- install --write-deploy deploy`"
        );
    }

    #[test]
    fn crd_carries_the_seed_names() {
        let crd = crd();
        assert_eq!(crd.metadata.name.as_deref(), Some("mysqls.otus.homework"));
        assert_eq!(crd.spec.group, "otus.homework");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.kind, "MySQL");
        assert_eq!(crd.spec.names.plural, "mysqls");
        assert_eq!(crd.spec.names.singular.as_deref(), Some("mysql"));
        assert_eq!(crd.spec.names.short_names, Some(vec!["ms".to_string()]));
        let version = &crd.spec.versions[0];
        assert_eq!(
            (version.name.as_str(), version.served, version.storage),
            ("v1", true, true)
        );
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        let columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            columns,
            [
                "Phase",
                "Database",
                "Storage",
                "Last Backup",
                "Message",
                "Age"
            ]
        );
    }

    /// Kubernetes refuses a non-structural schema: every node needs a type (or
    /// int-or-string), and `additionalProperties` may not sit beside `properties`.
    #[test]
    fn schema_is_structural() {
        fn check(node: &Value, path: &str) {
            let Some(map) = node.as_object() else { return };
            let typed = map.contains_key("type")
                || map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
            assert!(typed, "{path} has no type");
            assert!(
                !(map.contains_key("properties") && map.contains_key("additionalProperties")),
                "{path} has properties and additionalProperties"
            );
            for key in ["allOf", "anyOf", "oneOf", "not", "$ref", "definitions"] {
                assert!(!map.contains_key(key), "{path} uses {key}");
            }
            if let Some(Value::Object(props)) = map.get("properties") {
                for (name, child) in props {
                    check(child, &format!("{path}.{name}"));
                }
            }
            if let Some(items) = map.get("items") {
                check(items, &format!("{path}[]"));
            }
        }
        check(&openapi_schema(), "<root>");
    }

    #[test]
    fn seed_cr_is_accepted_unchanged() {
        let checked = check_object(&seed_cr()).expect("the seed's CR is valid");
        assert_eq!(checked["spec"]["password"], seed_cr()["spec"]["password"]);
        assert!(checked["spec"]["password"].is_string());
        assert_eq!(checked["spec"]["image"], "mysql:latest");
        let mysql: MySQL = serde_json::from_value(checked).expect("typed");
        assert_eq!(mysql.spec.storage_size, "1Gi");
    }

    #[test]
    fn unknown_field_is_rejected_like_the_seed_shows() {
        let mut cr = seed_cr();
        cr["spec"]["usless_data"] = json!("useless info");
        match check_object(&cr) {
            Err(Error::UnknownFields { fields, .. }) => assert_eq!(fields, ["spec.usless_data"]),
            other => panic!("expected an unknown field error, got {other:?}"),
        }
        let shown = check_object(&cr).unwrap_err().to_string();
        assert!(
            shown.contains(r#"strict decoding error: unknown field "spec.usless_data""#),
            "{shown}"
        );
    }

    #[test]
    fn missing_database_is_required_and_blocks_cel() {
        let mut cr = seed_cr();
        cr["spec"].as_object_mut().expect("spec").remove("database");
        let causes = causes_of(&cr);
        assert_eq!(causes[0], "spec.database: Required value");
        assert!(
            causes[1].contains("some validation rules were not checked"),
            "{causes:?}"
        );
    }

    #[test]
    fn password_and_password_secret_are_mutually_exclusive() {
        let mut both = seed_cr();
        both["spec"]["password_secret"] = json!({"name": "db-root"});
        let neither = {
            let mut cr = seed_cr();
            cr["spec"].as_object_mut().expect("spec").remove("password");
            cr
        };
        let expected = r#"spec: Invalid value: "object": exactly one of spec.password or spec.password_secret must be set"#;
        assert_eq!(causes_of(&both), [expected]);
        assert_eq!(causes_of(&neither), [expected]);

        let mut secret_only = neither.clone();
        secret_only["spec"]["password_secret"] = json!({"name": "db-root"});
        let checked = check_object(&secret_only).expect("a Secret reference alone is valid");
        assert_eq!(
            checked["spec"]["password_secret"]["key"], "password",
            "key is defaulted"
        );
    }

    #[test]
    fn a_password_the_official_image_cannot_take_is_refused_with_why() {
        for bad in ["it's", "say \"hi\"", r"back\slash", "'", "\\"] {
            let mut cr = seed_cr();
            cr["spec"]["password"] = json!(bad);
            let causes = causes_of(&cr);
            assert_eq!(causes.len(), 1, "{causes:?}");
            assert!(
                causes[0].starts_with("spec.password: Invalid value: \"string\": spec.password must not contain ' \" or \\: the official mysql image's entrypoint pastes"),
                "{causes:?}"
            );
            assert!(!causes[0].contains(bad) || bad.len() == 1, "{causes:?}");
        }
        for good in [
            "admin1234",
            "p@ss-w0rd!#$%^&*()_+=[]{};:,.<>/?`~|",
            "пароль",
        ] {
            let mut cr = seed_cr();
            cr["spec"]["password"] = json!(good);
            check_object(&cr).expect("a password without ' \" \\ is valid");
        }
        assert!(super::unsafe_password(b"a\\b") && !super::unsafe_password(b"a/b"));
    }

    #[test]
    fn restricted_pod_security_needs_a_storage_class() {
        let mut cr = seed_cr();
        cr["spec"]["pod_security"] = json!("restricted");
        assert_eq!(
            causes_of(&cr),
            [
                r#"spec: Invalid value: "object": spec.pod_security: restricted needs spec.storage_class: the hostPath volume made without one ignores fsGroup, so the server, running as uid 999, could not write its data directory"#
            ]
        );
        cr["spec"]["storage_class"] = json!("fast");
        let checked = check_object(&cr).expect("restricted with a storage class");
        let mysql: MySQL = serde_json::from_value(checked).expect("typed");
        assert_eq!(
            mysql.spec.pod_security,
            Some(super::PodSecurity::Restricted)
        );
        cr["spec"]["pod_security"] = json!("baseline");
        let causes = causes_of(&cr);
        assert!(
            causes[0].starts_with("spec.pod_security: Unsupported value: \"baseline\""),
            "{causes:?}"
        );
    }

    #[test]
    fn storage_size_must_be_a_quantity() {
        for bad in ["1 GB", "lots", "1GB", "-1Gi"] {
            let mut cr = seed_cr();
            cr["spec"]["storage_size"] = json!(bad);
            let causes = causes_of(&cr);
            assert_eq!(causes.len(), 1, "{causes:?}");
            assert!(
                causes[0].starts_with(&format!("spec.storage_size: Invalid value: {bad:?}: spec.storage_size in body should match '^[0-9]")),
                "{causes:?}"
            );
        }
        let mut typed = seed_cr();
        typed["spec"]["storage_size"] = json!(5);
        assert!(causes_of(&typed)[0].contains(r#"must be of type string: "integer""#));
    }

    #[test]
    fn database_must_be_a_usable_identifier() {
        for (bad, fragment) in [
            ("", "should match"),
            ("has space", "should match"),
            ("drop;table", "should match"),
            ("mysql", "must not name a MySQL system schema"),
            ("information_schema", "must not name a MySQL system schema"),
            ("INFORMATION_SCHEMA", "must not name a MySQL system schema"),
        ] {
            let mut cr = seed_cr();
            cr["spec"]["database"] = json!(bad);
            let causes = causes_of(&cr).join("; ");
            assert!(causes.contains(fragment), "{bad:?}: {causes}");
        }
    }

    #[test]
    fn name_must_fit_the_job_names() {
        let mut cr = seed_cr();
        cr["metadata"]["name"] = json!("a".repeat(52));
        assert!(causes_of(&cr).join(" ").contains("at most 51 characters"));
        cr["metadata"]["name"] = json!("Upper");
        assert!(causes_of(&cr).join(" ").contains("DNS-1035"));
    }

    #[test]
    fn database_and_storage_class_are_immutable() {
        let schema = mysql_schema().expect("schema");
        let old = schema.with_defaults(&seed_cr());
        let mut changed = old.clone();
        changed["spec"]["database"] = json!("other");
        let causes: Vec<String> = schema
            .validate(&changed, Some(&old))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            causes,
            [r#"spec.database: Invalid value: "string": spec.database is immutable"#]
        );

        let mut with_class = old.clone();
        with_class["spec"]["storage_class"] = json!("fast");
        let causes: Vec<String> = schema
            .validate(&with_class, Some(&old))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            causes,
            [r#"spec: Invalid value: "object": spec.storage_class is immutable"#]
        );
        assert!(
            schema.validate(&old, Some(&old)).is_empty(),
            "an unchanged object stays valid"
        );
    }

    #[test]
    fn an_image_change_to_an_older_release_series_is_refused_at_admission() {
        let schema = mysql_schema().expect("schema");
        let change = |from: &str, to: &str| -> Vec<String> {
            let mut old = seed_cr();
            old["spec"]["image"] = json!(from);
            let old = schema.with_defaults(&old);
            let mut new = old.clone();
            new["spec"]["image"] = json!(to);
            schema
                .validate(&new, Some(&old))
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        for (from, to) in [
            ("mysql:9.7", "mysql:8.4"),
            ("mysql:8.4", "mysql:8.0"),
            ("mysql:9.7.0", "mysql:9.6.1-oracle"),
            ("mysql:9", "mysql:8.4"),
            (
                "registry.local:5000/db/mysql:9.7",
                "registry.local:5000/db/mysql:8.4",
            ),
        ] {
            let causes = change(from, to);
            assert_eq!(causes.len(), 1, "{from} -> {to}: {causes:?}");
            assert!(
                causes[0].starts_with("spec.image: Invalid value: \"string\": spec.image goes back to an older MySQL release series"),
                "{from} -> {to}: {causes:?}"
            );
        }
        for (from, to) in [
            ("mysql:8.4", "mysql:9.7"),
            ("mysql:8.4.8", "mysql:8.4.3"),
            ("mysql:9", "mysql:9.6"),
            ("mysql:latest", "mysql:8.4"),
            ("mysql:8.4", "mysql:latest"),
            ("mysql@sha256:0123", "mysql:8.0"),
            ("mysql:9.7", "mysql:9.7"),
            ("registry.local:5000/mysql", "mysql:8.0"),
        ] {
            assert_eq!(change(from, to), Vec::<String>::new(), "{from} -> {to}");
        }
        // On create there is no old image: any version is fine.
        let mut cr = seed_cr();
        cr["spec"]["image"] = json!("mysql:5.7");
        check_object(&cr).expect("any image on create");
    }

    #[test]
    fn status_phase_is_an_enum() {
        let mut cr = seed_cr();
        cr["status"] = json!({"phase": "Bogus"});
        let causes = causes_of(&cr);
        assert!(causes[0].starts_with(r#"status.phase: Unsupported value: "Bogus": supported values: "Pending", "Provisioning""#), "{causes:?}");
    }
}
