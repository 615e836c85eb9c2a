//! The bad-input table of docs/reliability.md ("## Bad input"), row for row: every bad
//! input is refused with its exact line and hint, and nothing reaches the cluster's
//! stored state. The doc's table is generated from [`ROWS`] and compared with it, so the
//! two cannot drift (`UPDATE_RELIABILITY_DOC=1` rewrites it after a change here).
//!
//! One test API server for all rows: the CRD, an instance `shop` (image mysql:9.7, its
//! password in the Secret `shop-root`) with a catalogue of two backups (one unverified),
//! an instance `fresh` with no backups, and Secrets with a missing key, an empty password,
//! a newline in the password and a `'` in it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use testkit::apiserver::TestApiServer;

use crate::cli::repo;
use crate::cluster::install_crd;

/// How a row's input is given.
enum How {
    /// `kubectl-mysql ARGS` (as `kubectl mysql ARGS`), stdin from `stdin`.
    Plugin(&'static [&'static str]),
    /// `kubectl apply -f -` of the manifest `stdin` makes: the API server's schema and CEL.
    KubectlApply,
}

struct Row {
    /// The row's name in the doc and in failures.
    id: &'static str,
    /// The input, as the doc says it (markdown).
    input: &'static str,
    how: How,
    /// What goes to stdin.
    stdin: fn() -> String,
    /// The exit code.
    code: i32,
    /// The `error: ` line without its prefix (kubectl: what it prints, line by line).
    message: &'static str,
    /// The `hint: ` line without its prefix ("" for kubectl, which prints none).
    hint: &'static str,
}

const SEED: &str = include_str!("../../deploy/cr.yaml");

fn none() -> String {
    String::new()
}

/// The seed's manifest with one line replaced (it must be there).
fn seed_with(from: &str, to: &str) -> String {
    assert!(SEED.contains(from), "{from:?} is not in deploy/cr.yaml");
    SEED.replacen(from, to, 1)
}

/// The instance `shop` as it is stored, with one line replaced.
fn shop_with(from: &str, to: &str) -> String {
    let shop = "apiVersion: otus.homework/v1\nkind: MySQL\nmetadata:\n  name: shop\nspec:\n  image: mysql:9.7\n  database: shop\n  password_secret:\n    name: shop-root\n  storage_size: 1Gi\n";
    assert!(shop.contains(from), "{from:?} is not in shop");
    shop.replacen(from, to, 1)
}

/// One MySQL object of about 1 MB: the seed with a 1 MB annotation.
pub fn one_megabyte() -> String {
    seed_with(
        "  name: mysql-instance\n",
        &format!(
            "  name: mysql-instance\n  annotations:\n    note: \"{}\"\n",
            "x".repeat(1_000_000)
        ),
    )
}

/// 10,000 documents in one stream: small MySQL objects with their own names.
pub fn ten_thousand_documents() -> String {
    (0..10_000)
        .map(|i| seed_with("name: mysql-instance", &format!("name: db-{i}")))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Billion laughs: nine levels of nine aliases, 9^9 strings when expanded.
pub fn alias_bomb() -> String {
    let mut bomb = String::from(
        "apiVersion: otus.homework/v1\nkind: MySQL\nmetadata:\n  name: lol\n  annotations:\n    a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for level in 1..10 {
        let list = vec![format!("*a{}", level - 1); 9].join(",");
        bomb.push_str(&format!("    a{level}: &a{level} [{list}]\n"));
    }
    bomb
}

/// Binary garbage: an ELF header and bytes that are not UTF-8 (the row reads them from
/// a file, `garbage.bin`).
pub fn binary_garbage() -> Vec<u8> {
    let mut bytes = b"\x7fELF\x02\x01\x01\x00".to_vec();
    bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    bytes
}

const ROWS: &[Row] = &[
    // --- The CRD: `kubectl apply`, refused by the API server's schema and CEL rules.
    Row {
        id: "crd-unknown-field",
        input: "the seed's CR with `usless_data: \"useless info\"` in spec (the seed's own example)",
        how: How::KubectlApply,
        stdin: || {
            seed_with(
                "storage_size: 1Gi",
                "storage_size: 1Gi\n  usless_data: \"useless info\"",
            )
        },
        code: 1,
        message: "Error from server (BadRequest): error when creating \"STDIN\": MySQL in version \"v1\" cannot be handled as a MySQL: strict decoding error: unknown field \"spec.usless_data\"",
        hint: "",
    },
    Row {
        id: "crd-storage-size-pattern",
        input: "`storage_size: 1 GB`",
        how: How::KubectlApply,
        stdin: || seed_with("1Gi", "1 GB"),
        code: 1,
        message: "The MySQL \"mysql-instance\" is invalid: spec.storage_size: Invalid value: \"1 GB\": spec.storage_size in body should match '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$'",
        hint: "",
    },
    Row {
        id: "crd-storage-size-number",
        input: "`storage_size: 5` (a number, not a quantity string)",
        how: How::KubectlApply,
        stdin: || seed_with("1Gi", "5"),
        code: 1,
        message: "The MySQL \"mysql-instance\" is invalid: \n* spec.storage_size: Invalid value: \"integer\": spec.storage_size in body must be of type string: \"integer\"\n* <nil>: Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        hint: "",
    },
    Row {
        id: "crd-no-password",
        input: "neither `password` nor `password_secret`",
        how: How::KubectlApply,
        stdin: || seed_with("  password: 0tusP@ssword\n", ""),
        code: 1,
        message: "The MySQL \"mysql-instance\" is invalid: spec: Invalid value: \"object\": exactly one of spec.password or spec.password_secret must be set",
        hint: "",
    },
    Row {
        id: "crd-both-passwords",
        input: "both `password` and `password_secret`",
        how: How::KubectlApply,
        stdin: || {
            seed_with(
                "  password: 0tusP@ssword\n",
                "  password: 0tusP@ssword\n  password_secret:\n    name: shop-root\n",
            )
        },
        code: 1,
        message: "The MySQL \"mysql-instance\" is invalid: spec: Invalid value: \"object\": exactly one of spec.password or spec.password_secret must be set",
        hint: "",
    },
    Row {
        id: "crd-password-quote",
        input: "`password: 0tus'P@ss`",
        how: How::KubectlApply,
        stdin: || seed_with("0tusP@ssword", "0tus'P@ss"),
        code: 1,
        message: "The MySQL \"mysql-instance\" is invalid: spec.password: Invalid value: \"string\": spec.password must not contain ' \" or \\: the official mysql image's entrypoint pastes the root password unescaped into SQL and an option file, where a ' breaks the first start and a \\ changes the password",
        hint: "",
    },
    Row {
        id: "crd-system-database",
        input: "`database: mysql` (a system schema)",
        how: How::KubectlApply,
        stdin: || seed_with("otus-database", "mysql"),
        code: 1,
        message: "The MySQL \"mysql-instance\" is invalid: spec.database: Invalid value: \"string\": spec.database must not name a MySQL system schema",
        hint: "",
    },
    Row {
        id: "crd-database-pattern",
        input: "`database: \"shop; DROP\"`",
        how: How::KubectlApply,
        stdin: || seed_with("otus-database", "\"shop; DROP\""),
        code: 1,
        message: "The MySQL \"mysql-instance\" is invalid: spec.database: Invalid value: \"shop; DROP\": spec.database in body should match '^[A-Za-z0-9_$-]{1,64}$'",
        hint: "",
    },
    Row {
        id: "crd-missing-database",
        input: "no `database`",
        how: How::KubectlApply,
        stdin: || seed_with("  database: otus-database\n", ""),
        code: 1,
        message: "The MySQL \"mysql-instance\" is invalid: \n* spec.database: Required value\n* <nil>: Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        hint: "",
    },
    Row {
        id: "crd-name-too-long",
        input: "a 52-character `metadata.name`",
        how: How::KubectlApply,
        stdin: || seed_with("mysql-instance", &"m".repeat(52)),
        code: 1,
        message: "The MySQL \"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm\" is invalid: <nil>: Invalid value: \"object\": metadata.name must be at most 51 characters: Job names backup-<name>-job and restore-<name>-job must fit in 63",
        hint: "",
    },
    Row {
        id: "crd-restricted-without-class",
        input: "`pod_security: restricted` without `storage_class`",
        how: How::KubectlApply,
        stdin: || format!("{SEED}  pod_security: restricted\n"),
        code: 1,
        message: "The MySQL \"mysql-instance\" is invalid: spec: Invalid value: \"object\": spec.pod_security: restricted needs spec.storage_class: the hostPath volume made without one ignores fsGroup, so the server, running as uid 999, could not write its data directory",
        hint: "",
    },
    Row {
        id: "crd-retention-zero",
        input: "`backup_retention: 0`",
        how: How::KubectlApply,
        stdin: || format!("{SEED}  backup_retention: 0\n"),
        code: 1,
        message: "The MySQL \"mysql-instance\" is invalid: spec.backup_retention: Invalid value: 0: spec.backup_retention in body should be greater than or equal to 1.0",
        hint: "",
    },
    Row {
        id: "crd-schedule-pattern",
        input: "`backup_schedule: every day`",
        how: How::KubectlApply,
        stdin: || format!("{SEED}  backup_schedule: every day\n"),
        code: 1,
        message: "The MySQL \"mysql-instance\" is invalid: spec.backup_schedule: Invalid value: \"every day\": spec.backup_schedule in body should match '^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\\*|\\?|([0-9]+|[A-Za-z]{3})(-([0-9]+|[A-Za-z]{3}))?)(/[0-9]+)?(,(\\*|\\?|([0-9]+|[A-Za-z]{3})(-([0-9]+|[A-Za-z]{3}))?)(/[0-9]+)?)*( +(\\*|\\?|([0-9]+|[A-Za-z]{3})(-([0-9]+|[A-Za-z]{3}))?)(/[0-9]+)?(,(\\*|\\?|([0-9]+|[A-Za-z]{3})(-([0-9]+|[A-Za-z]{3}))?)(/[0-9]+)?)*){4})$'",
        hint: "",
    },
    Row {
        id: "crd-flush-without-pitr",
        input: "`pitr_flush_seconds: 60` without `pitr: true`",
        how: How::KubectlApply,
        stdin: || format!("{SEED}  pitr_flush_seconds: 60\n"),
        code: 1,
        message: "The MySQL \"mysql-instance\" is invalid: spec: Invalid value: \"object\": spec.pitr_flush_seconds needs spec.pitr: true: it is how often the binary log is archived",
        hint: "",
    },
    Row {
        id: "crd-database-changed",
        input: "`shop` applied again with `database: other` (immutable)",
        how: How::KubectlApply,
        stdin: || shop_with("database: shop", "database: other"),
        code: 1,
        message: "The MySQL \"shop\" is invalid: spec.database: Invalid value: \"string\": spec.database is immutable",
        hint: "",
    },
    Row {
        id: "crd-image-downgrade",
        input: "`shop` (running `mysql:9.7`) applied again with `image: mysql:8.4`",
        how: How::KubectlApply,
        stdin: || shop_with("mysql:9.7", "mysql:8.4"),
        code: 1,
        message: "The MySQL \"shop\" is invalid: spec.image: Invalid value: \"string\": spec.image goes back to an older MySQL release series, which MySQL cannot run on data a newer one wrote (\"Downgrade is not supported\"); restore a backup into a new instance of the older version instead",
        hint: "",
    },
    // --- `create` from flags: checked by the CLI with the CRD's rules, before any call.
    Row {
        id: "create-bad-name",
        input: "instance name `Bad_Name`",
        how: How::Plugin(&[
            "create",
            "Bad_Name",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
        ]),
        stdin: none,
        code: 1,
        message: "invalid instance name \"Bad_Name\": use lower case letters, digits and '-', starting with a letter and not ending with '-'",
        hint: "fix the fields named above; `kubectl explain mysqls.spec` lists every field and its format",
    },
    Row {
        id: "create-storage-size",
        input: "`--storage-size 1GB`",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1GB",
        ]),
        stdin: none,
        code: 1,
        message: "MySQL.otus.homework \"db\" is invalid: spec.storage_size: Invalid value: \"1GB\": spec.storage_size in body should match '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$'",
        hint: "fix the fields named above; `kubectl explain mysqls.spec` lists every field and its format",
    },
    Row {
        id: "create-storage-size-zero",
        input: "`--storage-size 0`",
        how: How::Plugin(&["create", "db", "--database", "shop", "--storage-size", "0"]),
        stdin: none,
        code: 1,
        message: "MySQL \"db\": spec.storage_size \"0\" must be a quantity above zero, such as 1Gi",
        hint: "fix the fields named above; `kubectl explain mysqls.spec` lists every field and its format",
    },
    Row {
        id: "create-system-database",
        input: "`--database information_schema`",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "information_schema",
            "--storage-size",
            "1Gi",
        ]),
        stdin: none,
        code: 1,
        message: "MySQL.otus.homework \"db\" is invalid: spec.database: Invalid value: \"string\": spec.database must not name a MySQL system schema",
        hint: "fix the fields named above; `kubectl explain mysqls.spec` lists every field and its format",
    },
    Row {
        id: "create-image-space",
        input: "`--image \"mysql 8.4\"`",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--image",
            "mysql 8.4",
        ]),
        stdin: none,
        code: 1,
        message: "MySQL.otus.homework \"db\" is invalid: spec.image: Invalid value: \"mysql 8.4\": spec.image in body should match '^[^\\s]+$'",
        hint: "fix the fields named above; `kubectl explain mysqls.spec` lists every field and its format",
    },
    Row {
        id: "create-empty-stdin-password",
        input: "`--password-stdin` with nothing on stdin",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--password-stdin",
        ]),
        stdin: none,
        code: 1,
        message: "--password-stdin got an empty password",
        hint: "pipe the password in, e.g. printf '%s' \"$PW\" | kubectl mysql create ...",
    },
    Row {
        id: "create-unsafe-stdin-password",
        input: "`--password-stdin` given `it's`",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--password-stdin",
        ]),
        stdin: || "it's\n".into(),
        code: 1,
        message: "--password-stdin got a password with ' \" or \\, which the official mysql image's entrypoint cannot take (it pastes the password unescaped into SQL and an option file)",
        hint: "choose a password without those three characters, or leave --password-stdin out to generate one",
    },
    Row {
        id: "create-two-line-stdin-password",
        input: "`--password-stdin` given two lines, `s3cret` and `more`",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--password-stdin",
        ]),
        stdin: || "s3cret\nmore\n".into(),
        code: 1,
        message: "--password-stdin got a password with a control character (a line break inside it?), which the clients' option file would cut there",
        hint: "pipe one line in, e.g. printf '%s' \"$PW\" | kubectl mysql create ...",
    },
    Row {
        id: "create-endless-stdin-password",
        input: "`--password-stdin` given 1 MB (as from `< /dev/zero`, but ending)",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--password-stdin",
        ]),
        stdin: || "x".repeat(1_000_000),
        code: 1,
        message: "--password-stdin got more than 1024 bytes: a password is one line",
        hint: "pipe the password in, e.g. printf '%s' \"$PW\" | kubectl mysql create ...",
    },
    Row {
        id: "create-schedule",
        input: "`--backup-schedule \"61 * * * *\"`",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--backup-schedule",
            "61 * * * *",
        ]),
        stdin: none,
        code: 1,
        message: "MySQL \"db\": spec.backup_schedule \"61 * * * *\" is not a cron expression (Component error: Number out of bounds.); use five fields, minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\", or @daily, @hourly, @weekly, @monthly",
        hint: "fix the fields named above; `kubectl explain mysqls.spec` lists every field and its format",
    },
    Row {
        id: "create-timezone",
        input: "`--backup-timezone Mars/Olympus_Mons`",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--backup-schedule",
            "@daily",
            "--backup-timezone",
            "Mars/Olympus_Mons",
        ]),
        stdin: none,
        code: 1,
        message: "MySQL \"db\": spec.backup_timezone \"Mars/Olympus_Mons\" is not a time zone of the IANA database; use a name such as \"Etc/UTC\" or \"Europe/Moscow\"",
        hint: "fix the fields named above; `kubectl explain mysqls.spec` lists every field and its format",
    },
    Row {
        id: "create-flush-range",
        input: "`--pitr --pitr-flush-seconds 5`",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--pitr",
            "--pitr-flush-seconds",
            "5",
        ]),
        stdin: none,
        code: 2,
        message: "invalid value '5' for '--pitr-flush-seconds <SECONDS>': 5 is not in 10..=3600",
        hint: "see `kubectl mysql create --help`",
    },
    Row {
        id: "create-misspelled-flag",
        input: "`--storage-sise 1Gi`",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-sise",
            "1Gi",
        ]),
        stdin: none,
        code: 2,
        message: "unexpected argument '--storage-sise' found",
        hint: "did you mean --storage-size? See `kubectl mysql create --help`",
    },
    Row {
        id: "create-server-dry-run",
        input: "`--dry-run=server`",
        how: How::Plugin(&["create", "-f", "deploy/cr.yaml", "--dry-run=server"]),
        stdin: none,
        code: 1,
        message: "--dry-run=server is not supported",
        hint: "use --dry-run=client, which prints every object without touching the cluster",
    },
    // --- Files given with -f (`create` is the command that takes one).
    Row {
        id: "file-missing",
        input: "a path that does not exist",
        how: How::Plugin(&["create", "-f", "no/such/file.yaml"]),
        stdin: none,
        code: 1,
        message: "cannot read no/such/file.yaml: No such file or directory (os error 2)",
        hint: "check the path, or pass -f - to read the manifest from stdin",
    },
    Row {
        id: "file-directory",
        input: "a directory",
        how: How::Plugin(&["create", "-f", "deploy"]),
        stdin: none,
        code: 1,
        message: "cannot read deploy: Is a directory (os error 21)",
        hint: "check the path, or pass -f - to read the manifest from stdin",
    },
    Row {
        id: "file-empty",
        input: "an empty stream",
        how: How::Plugin(&["create", "-f", "-"]),
        stdin: none,
        code: 1,
        message: "stdin is not a valid manifest: no objects passed to create",
        hint: "the file must hold YAML documents with apiVersion, kind, metadata and spec",
    },
    Row {
        id: "file-broken-yaml",
        input: "`spec: [unclosed`",
        how: How::Plugin(&["create", "-f", "-"]),
        stdin: || "apiVersion: otus.homework/v1\nkind: MySQL\nspec: [unclosed\n".into(),
        code: 1,
        message: "stdin is not a valid manifest: unclosed bracket '[' at line 3, column 7",
        hint: "the file must hold YAML documents with apiVersion, kind, metadata and spec",
    },
    Row {
        id: "file-not-a-mapping",
        input: "a YAML list `- a`",
        how: How::Plugin(&["create", "-f", "-"]),
        stdin: || "- a\n".into(),
        code: 1,
        message: "stdin is not a valid manifest: a document is not a mapping",
        hint: "the file must hold YAML documents with apiVersion, kind, metadata and spec",
    },
    Row {
        id: "file-other-kind",
        input: "a ConfigMap",
        how: How::Plugin(&["create", "-f", "-"]),
        stdin: || "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n".into(),
        code: 1,
        message: "stdin: expected kind MySQL with apiVersion otus.homework/v1, found ConfigMap (v1)",
        hint: "pass a manifest of kind MySQL (see deploy/cr.yaml)",
    },
    Row {
        id: "file-unknown-field",
        input: "the seed's CR with `usless_data` in spec",
        how: How::Plugin(&["create", "-f", "-"]),
        stdin: || {
            seed_with(
                "storage_size: 1Gi",
                "storage_size: 1Gi\n  usless_data: \"useless info\"",
            )
        },
        code: 1,
        message: "MySQL \"mysql-instance\" in version \"v1\" cannot be handled as a MySQL: strict decoding error: unknown field \"spec.usless_data\"",
        hint: "remove the fields named above (check their spelling: spec fields are image, database, password, password_secret, storage_size, storage_class)",
    },
    Row {
        id: "file-namespace-mismatch",
        input: "a CR in namespace `prod`, with `-n other`",
        how: How::Plugin(&["create", "-f", "-", "-n", "other"]),
        stdin: || {
            seed_with(
                "name: mysql-instance",
                "name: mysql-instance\n  namespace: prod",
            )
        },
        code: 1,
        message: "the namespace from the provided object \"prod\" does not match the namespace \"other\"",
        hint: "drop -n/--namespace, or pass the namespace the manifest names",
    },
    Row {
        id: "file-second-document-bad",
        input: "two CRs, the second with `storage_size: 1 GB` (nothing of the first is written)",
        how: How::Plugin(&["create", "-f", "-"]),
        stdin: || {
            format!(
                "{SEED}---\n{}",
                seed_with("1Gi", "1 GB").replace("mysql-instance", "second")
            )
        },
        code: 1,
        message: "MySQL.otus.homework \"second\" is invalid: spec.storage_size: Invalid value: \"1 GB\": spec.storage_size in body should match '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$'",
        hint: "fix the fields named above; `kubectl explain mysqls.spec` lists every field and its format",
    },
    Row {
        id: "file-binary",
        input: "`garbage.bin`: binary garbage (an ELF header and 4 KiB of noise)",
        how: How::Plugin(&["create", "-f", "garbage.bin"]),
        stdin: none,
        code: 1,
        message: "garbage.bin is not a valid manifest: it is not text (a binary byte at offset 9)",
        hint: "the file must hold YAML documents with apiVersion, kind, metadata and spec",
    },
    Row {
        id: "file-one-megabyte",
        input: "one CR of 1 MB (a 1,000,000-character annotation)",
        how: How::Plugin(&["create", "-f", "-"]),
        stdin: one_megabyte,
        code: 1,
        message: "stdin is larger than 512 KiB, the most one manifest may be",
        hint: "one manifest holds at most 100 documents in 512 KiB (a MySQL object is under 1 KiB): split it, or check that -f names the right file",
    },
    Row {
        id: "file-ten-thousand-documents",
        input: "10,000 CRs in one stream (1.7 MB)",
        how: How::Plugin(&["create", "-f", "-"]),
        stdin: ten_thousand_documents,
        code: 1,
        message: "stdin is larger than 512 KiB, the most one manifest may be",
        hint: "one manifest holds at most 100 documents in 512 KiB (a MySQL object is under 1 KiB): split it, or check that -f names the right file",
    },
    Row {
        id: "file-many-empty-documents",
        input: "10,000 documents `{}` in one stream (70 KB)",
        how: How::Plugin(&["create", "-f", "-"]),
        stdin: || "---\n{}\n".repeat(10_000),
        code: 1,
        message: "stdin holds more than 100 YAML documents, the most one manifest may hold",
        hint: "one manifest holds at most 100 documents in 512 KiB (a MySQL object is under 1 KiB): split it, or check that -f names the right file",
    },
    Row {
        id: "file-alias-bomb",
        input: "a YAML alias bomb (billion laughs: 9 levels of 9 aliases)",
        how: How::Plugin(&["create", "-f", "-"]),
        stdin: alias_bomb,
        code: 1,
        message: "stdin expands its YAML aliases (*name) to more than 10000 nodes: an alias bomb?",
        hint: "write the objects out plainly: a MySQL manifest needs no deep nesting and few YAML aliases",
    },
    Row {
        id: "file-deep-nesting",
        input: "200 nested `[`",
        how: How::Plugin(&["create", "-f", "-"]),
        stdin: || format!("{}{}", "[".repeat(200), "]".repeat(200)),
        code: 1,
        message: "stdin nests mappings or sequences more than 32 deep",
        hint: "write the objects out plainly: a MySQL manifest needs no deep nesting and few YAML aliases",
    },
    // --- Referenced Secrets: read (never written) before the MySQL object is applied.
    Row {
        id: "secret-missing",
        input: "`--password-secret nope` (no such Secret)",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--password-secret",
            "nope",
        ]),
        stdin: none,
        code: 1,
        message: "Secret \"nope\" (spec.password_secret) does not exist in namespace \"default\"",
        hint: "create it first: kubectl create secret generic nope -n default --from-literal=password=PASSWORD (or leave --password-secret out to generate one)",
    },
    Row {
        id: "secret-missing-key",
        input: "`--password-secret no-key` (the Secret has no key `password`)",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--password-secret",
            "no-key",
        ]),
        stdin: none,
        code: 1,
        message: "Secret \"no-key\" has no key \"password\" (spec.password_secret.key)",
        hint: "create it first: kubectl create secret generic no-key -n default --from-literal=password=PASSWORD (or leave --password-secret out to generate one)",
    },
    Row {
        id: "secret-empty-password",
        input: "`--password-secret empty` (an empty password)",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--password-secret",
            "empty",
        ]),
        stdin: none,
        code: 1,
        message: "the password in Secret \"empty\", key \"password\", is empty: the mysql image does not start without a root password",
        hint: "put a password without ' \" \\ or control characters into it: kubectl create secret generic empty -n default --from-literal=password=PASSWORD --dry-run=client -o yaml | kubectl apply -f -",
    },
    Row {
        id: "secret-newline-password",
        input: "`--password-secret newline` (`s3cret` and a newline, as `--from-file` of an edited file gives)",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--password-secret",
            "newline",
        ]),
        stdin: none,
        code: 1,
        message: "the password in Secret \"newline\", key \"password\", contains a control character (a newline?): the server would take it but the clients' option file ends the password there",
        hint: "put a password without ' \" \\ or control characters into it: kubectl create secret generic newline -n default --from-literal=password=PASSWORD --dry-run=client -o yaml | kubectl apply -f -",
    },
    Row {
        id: "secret-unsafe-password",
        input: "`--password-secret quote` (the password has a `'`)",
        how: How::Plugin(&[
            "create",
            "db",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--password-secret",
            "quote",
        ]),
        stdin: none,
        code: 1,
        message: "the password in Secret \"quote\", key \"password\", contains ' \" or \\, which the official mysql image's entrypoint cannot take (it pastes the password unescaped into SQL and an option file); put a password without them into the Secret",
        hint: "put a password without ' \" \\ or control characters into it: kubectl create secret generic quote -n default --from-literal=password=PASSWORD --dry-run=client -o yaml | kubectl apply -f -",
    },
    Row {
        id: "secret-missing-from-file",
        input: "a CR with `password_secret: {name: nope}`",
        how: How::Plugin(&["create", "-f", "-"]),
        stdin: || {
            seed_with(
                "  password: 0tusP@ssword\n",
                "  password_secret:\n    name: nope\n",
            )
        },
        code: 1,
        message: "Secret \"nope\" (spec.password_secret) does not exist in namespace \"default\"",
        hint: "create it first: kubectl create secret generic nope -n default --from-literal=password=PASSWORD (or leave --password-secret out to generate one)",
    },
    // --- Backup names and points of `restore`, and instances that are not there.
    Row {
        id: "restore-path-traversal",
        input: "`--backup ../x`",
        how: How::Plugin(&["restore", "shop", "--backup", "../x"]),
        stdin: none,
        code: 1,
        message: "--backup \"../x\" is not a backup name: expected YYYYMMDDTHHMMSSZ.sql.gz (UTC), e.g. 20261123T101500Z.sql.gz",
        hint: "use a name from `kubectl mysql status NAME`, e.g. 20261123T101500Z",
    },
    Row {
        id: "restore-absolute-path",
        input: "`--backup /etc/passwd`",
        how: How::Plugin(&["restore", "shop", "--backup", "/etc/passwd"]),
        stdin: none,
        code: 1,
        message: "--backup \"/etc/passwd\" is not a backup name: expected YYYYMMDDTHHMMSSZ.sql.gz (UTC), e.g. 20261123T101500Z.sql.gz",
        hint: "use a name from `kubectl mysql status NAME`, e.g. 20261123T101500Z",
    },
    Row {
        id: "restore-malformed-name",
        input: "`--backup 2026-11-23`",
        how: How::Plugin(&["restore", "shop", "--backup", "2026-11-23"]),
        stdin: none,
        code: 1,
        message: "--backup \"2026-11-23\" is not a backup name: expected YYYYMMDDTHHMMSSZ.sql.gz (UTC), e.g. 20261123T101500Z.sql.gz",
        hint: "use a name from `kubectl mysql status NAME`, e.g. 20261123T101500Z",
    },
    Row {
        id: "restore-unknown-backup",
        input: "`--backup 20990101T000000Z` (well-formed, not in the catalogue)",
        how: How::Plugin(&["restore", "shop", "--backup", "20990101T000000Z"]),
        stdin: none,
        code: 1,
        message: "MySQL \"shop\" has no backup 20990101T000000Z.sql.gz (2 backups, the newest 20261124T101500Z.sql.gz)",
        hint: "`kubectl mysql status shop` lists its backups; leave --backup out to load the latest verified one",
    },
    Row {
        id: "restore-unverified-backup",
        input: "`--backup 20261124T101500Z.sql.gz` (catalogued, failed verification)",
        how: How::Plugin(&["restore", "shop", "--backup", "20261124T101500Z.sql.gz"]),
        stdin: none,
        code: 1,
        message: "backup 20261124T101500Z.sql.gz of MySQL \"shop\" did not pass verification, so it is never loaded",
        hint: "`kubectl mysql status shop` lists its backups; leave --backup out to load the latest verified one",
    },
    Row {
        id: "restore-no-backups",
        input: "`restore fresh --backup 20261123T101500Z` (an instance with no backups)",
        how: How::Plugin(&["restore", "fresh", "--backup", "20261123T101500Z"]),
        stdin: none,
        code: 1,
        message: "MySQL \"fresh\" has no backups, so there is no 20261123T101500Z.sql.gz to restore",
        hint: "take one first: `kubectl mysql backup fresh --wait`",
    },
    Row {
        id: "restore-nothing-to-restore",
        input: "`restore fresh` (no backup at all, so no latest verified one)",
        how: How::Plugin(&["restore", "fresh"]),
        stdin: none,
        code: 1,
        message: "MySQL \"fresh\" has no verified backup to restore (0 backups)",
        hint: "take one first: `kubectl mysql backup fresh --wait`",
    },
    Row {
        id: "restore-bad-time",
        input: "`--to yesterday`",
        how: How::Plugin(&["restore", "shop", "--to", "yesterday"]),
        stdin: none,
        code: 1,
        message: "invalid --to: \"yesterday\" is not an RFC 3339 time: write it as 2026-12-05T10:15:00Z or 2026-12-05T13:15:00+03:00",
        hint: "`kubectl mysql status NAME` shows the restorable window",
    },
    Row {
        id: "restore-bad-position",
        input: "`--to-position binlog:12`",
        how: How::Plugin(&["restore", "shop", "--to-position", "binlog:12"]),
        stdin: none,
        code: 1,
        message: "invalid --to-position: \"binlog:12\" is not a binlog position: write it as FILE:POS, e.g. binlog.000042:1234 (mysqlbinlog prints positions as `# at POS`)",
        hint: "`kubectl mysql status NAME` shows the restorable window",
    },
    Row {
        id: "restore-point-without-pitr",
        input: "`--to 2026-12-05T10:15:00Z` on an instance without `pitr`",
        how: How::Plugin(&["restore", "shop", "--to", "2026-12-05T10:15:00Z"]),
        stdin: none,
        code: 1,
        message: "MySQL shop does not archive its binary log, so it cannot be restored to a point",
        hint: "set spec.pitr: true (`kubectl patch mysql shop --type merge -p '{\"spec\":{\"pitr\":true}}'`), then take a backup; restores can reach any time after it",
    },
    Row {
        id: "restore-missing-instance",
        input: "`restore nope`",
        how: How::Plugin(&["restore", "nope"]),
        stdin: none,
        code: 1,
        message: "MySQL \"nope\" not found in namespace \"default\"",
        hint: "`kubectl mysql status -n default` lists the instances",
    },
    Row {
        id: "backup-missing-instance",
        input: "`backup nope`",
        how: How::Plugin(&["backup", "nope"]),
        stdin: none,
        code: 1,
        message: "MySQL \"nope\" not found in namespace \"default\"",
        hint: "`kubectl mysql status -n default` lists the instances",
    },
    Row {
        id: "backup-zero-slots",
        input: "`backup shop --max-concurrent-backups 0`",
        how: How::Plugin(&["backup", "shop", "--max-concurrent-backups", "0"]),
        stdin: none,
        code: 2,
        message: "invalid value '0' for '--max-concurrent-backups <N>': 0 is not in 1..=65535",
        hint: "see `kubectl mysql backup --help`",
    },
    Row {
        id: "delete-missing-instance",
        input: "`delete nope`",
        how: How::Plugin(&["delete", "nope"]),
        stdin: none,
        code: 1,
        message: "MySQL \"nope\" not found in namespace \"default\"",
        hint: "`kubectl mysql status -n default` lists the instances",
    },
    Row {
        id: "delete-bad-timeout",
        input: "`delete shop --wait --timeout soon`",
        how: How::Plugin(&["delete", "shop", "--wait", "--timeout", "soon"]),
        stdin: none,
        code: 2,
        message: "invalid value 'soon' for '--timeout <DURATION>': expected number at 0",
        hint: "see `kubectl mysql delete --help`",
    },
    Row {
        id: "misspelled-command",
        input: "`creat` for `create`",
        how: How::Plugin(&["creat", "db"]),
        stdin: none,
        code: 2,
        message: "unrecognized subcommand 'creat'",
        hint: "did you mean create? See `kubectl mysql --help`",
    },
    // --- install and run-operator.
    Row {
        id: "install-bad-namespace",
        input: "`install -n Kubectl_MySQL`",
        how: How::Plugin(&["install", "-n", "Kubectl_MySQL"]),
        stdin: none,
        code: 1,
        message: "invalid namespace \"Kubectl_MySQL\": a namespace is at most 63 lower case letters, digits and '-', starting and ending with a letter or digit",
        hint: "pick another name with -n, e.g. -n mysql-operator",
    },
    Row {
        id: "install-bad-output",
        input: "`install -o xml`",
        how: How::Plugin(&["install", "-o", "xml"]),
        stdin: none,
        code: 2,
        message: "invalid value 'xml' for '--output <OUTPUT>' [possible values: yaml, json, name]",
        hint: "see `kubectl mysql install --help`",
    },
    Row {
        id: "operator-metrics-addr",
        input: "`run-operator --metrics-addr localhost`",
        how: How::Plugin(&["run-operator", "--metrics-addr", "localhost"]),
        stdin: none,
        code: 2,
        message: "invalid value 'localhost' for '--metrics-addr <ADDR>': invalid socket address syntax",
        hint: "see `kubectl mysql run-operator --help`",
    },
    Row {
        id: "operator-zero-reconciles",
        input: "`run-operator --max-concurrent-reconciles 0`",
        how: How::Plugin(&["run-operator", "--max-concurrent-reconciles", "0"]),
        stdin: none,
        code: 2,
        message: "invalid value '0' for '--max-concurrent-reconciles <N>': 0 is not in 1..=65535",
        hint: "see `kubectl mysql run-operator --help`",
    },
    Row {
        id: "operator-log-format",
        input: "`run-operator --log-format xml`",
        how: How::Plugin(&["run-operator", "--log-format", "xml"]),
        stdin: none,
        code: 2,
        message: "invalid value 'xml' for '--log-format <LOG_FORMAT>' [possible values: text, json]",
        hint: "see `kubectl mysql run-operator --help`",
    },
    Row {
        id: "operator-lease-without-election",
        input: "`run-operator --leader-elect-namespace ops` without `--leader-elect`",
        how: How::Plugin(&["run-operator", "--leader-elect-namespace", "ops"]),
        stdin: none,
        code: 2,
        message: "the following required arguments were not provided: --leader-elect",
        hint: "see `kubectl mysql run-operator --help`",
    },
];

/// The doc that holds the table, and the markers around the generated rows.
const DOC: &str = "docs/reliability.md";
const BEGIN: &str =
    "<!-- bad-input rows: generated from tests/e2e/bad_input.rs (UPDATE_RELIABILITY_DOC=1) -->";
const END: &str = "<!-- end of bad-input rows -->";

/// A table cell: code, `|` escaped as GitHub tables need.
fn cell(text: &str) -> String {
    if text.is_empty() {
        return "(none)".into();
    }
    text.lines()
        .map(|line| format!("`` {} ``", line.replace('|', "\\|")))
        .collect::<Vec<_>>()
        .join("<br>")
}

fn command_of(row: &Row) -> String {
    match row.how {
        How::KubectlApply => "kubectl apply -f -".into(),
        How::Plugin(args) => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match *a {
                    a if a.contains(' ') || a.contains('*') => format!("{a:?}"),
                    a => a.to_string(),
                })
                .collect();
            format!("kubectl mysql {}", args.join(" "))
        }
    }
}

/// The rows as the doc's table.
fn table() -> String {
    let mut out = String::from(
        "| row | input | command | exit | message (kubectl's line, or the `error:` line) | hint |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for row in ROWS {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            row.id,
            row.input.replace('|', "\\|"),
            cell(&command_of(row)),
            row.code,
            cell(row.message),
            cell(row.hint),
        ));
    }
    out
}

/// Where the generated part of the doc's "## Bad input" section starts and ends.
fn doc_rows(doc: &str) -> Option<std::ops::Range<usize>> {
    let start = doc.find(BEGIN)? + BEGIN.len() + 1;
    let end = doc[start..].find(END)? + start;
    Some(start..end)
}

#[test]
fn the_docs_bad_input_table_is_these_rows() {
    let path = repo().join(DOC);
    let doc = std::fs::read_to_string(&path).expect("docs/reliability.md");
    let rows = doc_rows(&doc).expect("the doc has the generated rows between their markers");
    let expected = table();
    if doc[rows.clone()] != expected && std::env::var_os("UPDATE_RELIABILITY_DOC").is_some() {
        let updated = format!("{}{expected}{}", &doc[..rows.start], &doc[rows.end..]);
        std::fs::write(&path, updated).expect("doc written");
        return;
    }
    assert_eq!(
        doc[rows].to_string(),
        expected,
        "docs/reliability.md's bad-input table differs from tests/e2e/bad_input.rs: rerun with UPDATE_RELIABILITY_DOC=1"
    );
    let ids: std::collections::BTreeSet<_> = ROWS.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), ROWS.len(), "row ids are unique");
    assert!(ROWS.len() >= 30, "{} rows", ROWS.len());
}

/// A test API server with what the rows refer to.
async fn world() -> (TestApiServer, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestApiServer::start().await.expect("test API server");
    let kubeconfig = server
        .write_kubeconfig(&dir.path().join("kubeconfig"))
        .expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    let client = kube::Client::try_from(config).expect("client");
    install_crd(&client).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    for (name, key, value) in [
        ("shop-root", "password", "s3cret"),
        ("no-key", "root", "s3cret"),
        ("empty", "password", ""),
        ("newline", "password", "s3cret\n"),
        ("quote", "password", "it's"),
    ] {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name},
            "stringData": {key: value},
        }))
        .expect("secret");
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("secret created");
    }
    // Through kubectl apply, as a user would have made them (the rows apply them again).
    for manifest in [shop_with("", ""), shop_with("name: shop", "name: fresh")] {
        let mut apply = Command::new("kubectl");
        apply
            .args(["apply", "-f", "-"])
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", dir.path());
        let (run, _, _) = measured(apply, manifest.as_bytes());
        assert_eq!(run.code, Some(0), "{}", run.stderr);
    }
    // What the rows name in their working directory.
    std::fs::create_dir(dir.path().join("deploy")).expect("deploy/");
    std::fs::write(dir.path().join("deploy/cr.yaml"), SEED).expect("deploy/cr.yaml");
    std::fs::write(dir.path().join("garbage.bin"), binary_garbage()).expect("garbage.bin");
    let entry = |name: &str, verified: bool| {
        json!({"name": name, "size": 520, "sha256": "0".repeat(64), "verified": verified,
               "database": "shop", "created": "2026-11-23T10:15:00Z"})
    };
    let catalogue: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "shop-backups"},
        "data": {"catalogue.json": serde_json::to_string(&json!([
            entry("20261124T101500Z.sql.gz", false),
            entry("20261123T101500Z.sql.gz", true),
        ])).expect("json")},
    }))
    .expect("config map");
    Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &catalogue)
        .await
        .expect("catalogue created");
    (server, dir, kubeconfig)
}

fn run_row(row: &Row, kubeconfig: &Path, dir: &Path) -> (crate::cli::Run, Duration) {
    let mut command = match row.how {
        How::KubectlApply => {
            let mut c = Command::new("kubectl");
            c.args(["apply", "-f", "-"]);
            c
        }
        How::Plugin(args) => {
            let mut c = Command::new(env!("CARGO_BIN_EXE_kubectl-mysql"));
            c.args(args);
            c
        }
    };
    command
        .current_dir(dir)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", dir);
    let (run, _, took) = measured(command, (row.stdin)().as_bytes());
    (run, took)
}

/// Every row: its exit code, its line and hint exactly, nothing on stdout, within 10 s,
/// and nothing written: no write request at all from the plugin (it checks before it
/// calls), and from kubectl none that changed what the server stores (the server refused
/// it: the store's revision is where it was).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_refused_and_writes_nothing() {
    let (server, dir, kubeconfig) = world().await;
    let mut failures = Vec::new();
    for row in ROWS {
        server.clear_requests();
        let revision = server.store().revision();
        let (outcome, took) = {
            let kubeconfig = kubeconfig.clone();
            let dir = dir.path().to_path_buf();
            tokio::task::spawn_blocking(move || run_row(row, &kubeconfig, &dir))
                .await
                .expect("row ran")
        };
        let mut wrong = Vec::new();
        if outcome.code != Some(row.code) {
            wrong.push(format!("exit code {:?}, not {}", outcome.code, row.code));
        }
        if !outcome.stdout.is_empty() {
            wrong.push(format!("stdout {:?}", outcome.stdout));
        }
        let said: Vec<&str> = outcome.stderr.lines().collect();
        let expected: Vec<String> = match row.how {
            How::KubectlApply => row.message.lines().map(str::to_string).collect(),
            How::Plugin(_) => vec![
                format!("error: {}", row.message),
                format!("hint: {}", row.hint),
            ],
        };
        if said != expected {
            wrong.push(format!("stderr {:?}", outcome.stderr));
        }
        if took > Duration::from_secs(10) {
            wrong.push(format!("took {took:?}"));
        }
        let writes: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.is_write())
            .map(|r| format!("{} {}/{} {}", r.verb, r.resource, r.subresource, r.name))
            .collect();
        if matches!(row.how, How::Plugin(_)) && !writes.is_empty() {
            wrong.push(format!("write requests {writes:?}"));
        }
        if server.store().revision() != revision {
            wrong.push(format!(
                "the store changed: revision {revision} -> {} (requests {writes:?})",
                server.store().revision()
            ));
        }
        if !wrong.is_empty() {
            // For whoever updates ROWS after a deliberate change of a message.
            println!(
                "ACTUAL {}",
                json!({"id": row.id, "code": outcome.code, "stderr": outcome.stderr})
            );
            failures.push(format!("{}: {}", row.id, wrong.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows are wrong:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
}

/// Run `command` with `stdin` as its input: what it printed, its peak resident memory
/// (KiB) and wall time, from the kernel's own account of that one child (wait4's rusage).
/// A child that refuses before it has read all its input is fine (a broken pipe).
// The child is reaped by wait4 (for its rusage), which clippy does not see.
#[allow(clippy::zombie_processes)]
fn measured(mut command: Command, stdin: &[u8]) -> (crate::cli::Run, u64, Duration) {
    use std::io::{Read, Write};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    // The binary may refuse before it has read everything: a broken pipe is fine.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let mut said = String::new();
    let _ = stderr.read_to_string(&mut said);
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value, filled in by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet waited for; the pointers are to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let took = started.elapsed();
    let _ = writer.join();
    let stdout = reader.join().unwrap_or_default();
    let code = std::process::ExitStatus::from_raw(status).code();
    let run = crate::cli::Run {
        code,
        stdout,
        stderr: said,
    };
    (run, usage.ru_maxrss as u64, took)
}

/// The bounded cases, run as a process and measured: each is refused in one line and a
/// hint, fast and in bounded memory (generous bounds that cannot flake: the numbers
/// docs/reliability.md gives are from this test's output, `--nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_hostile_manifests_are_refused_fast_in_bounded_memory() {
    let (server, dir, kubeconfig) = world().await;
    let seed = SEED.as_bytes().to_vec();
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("the seed (accepted: the baseline)", seed, ""),
        (
            "1 MB manifest",
            one_megabyte().into_bytes(),
            "error: stdin is larger than 512 KiB",
        ),
        (
            "10,000 documents",
            ten_thousand_documents().into_bytes(),
            "error: stdin is larger than 512 KiB",
        ),
        (
            "10,000 empty documents",
            "---\n{}\n".repeat(10_000).into_bytes(),
            "error: stdin holds more than 100 YAML documents",
        ),
        (
            "alias bomb",
            alias_bomb().into_bytes(),
            "error: stdin expands its YAML aliases",
        ),
        (
            "binary garbage",
            binary_garbage(),
            "error: stdin is not a valid manifest: it is not text",
        ),
    ];
    for (what, input, expected) in cases {
        server.clear_requests();
        let revision = server.store().revision();
        let args: &[&str] = if expected.is_empty() {
            &["create", "-f", "-", "--dry-run=client", "-o", "yaml"]
        } else {
            &["create", "-f", "-"]
        };
        // Under GNU time when there is one: wait4's peak of a child forked from this test
        // process counts the test's own pages at the fork (Linux carries the larger
        // high-water mark over exec), so it is only an upper bound.
        let timed = dir.path().join("peak");
        let gnu_time = Path::new("/usr/bin/time").exists();
        let mut command = if gnu_time {
            let mut c = Command::new("/usr/bin/time");
            c.args(["-f", "%M", "-o"])
                .arg(&timed)
                .arg(env!("CARGO_BIN_EXE_kubectl-mysql"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_kubectl-mysql"))
        };
        command
            .args(args)
            .current_dir(repo())
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("HOME");
        let (mut run, mut peak_kib, took) = measured(command, &input);
        if gnu_time {
            // GNU time adds "Command exited with non-zero status N" to its file and to
            // stderr: only the binary's own lines are checked.
            let said = std::fs::read_to_string(&timed).expect("time's output");
            peak_kib = said
                .lines()
                .last()
                .and_then(|l| l.trim().parse().ok())
                .expect("peak RSS in KiB");
            run.stderr = run
                .stderr
                .lines()
                .filter(|l| !l.starts_with("Command exited with non-zero status"))
                .map(|l| format!("{l}\n"))
                .collect();
        }
        println!(
            "{what}: {} bytes in, exit {:?}, {:.0} ms, peak RSS {:.1} MiB ({})",
            input.len(),
            run.code,
            took.as_secs_f64() * 1000.0,
            peak_kib as f64 / 1024.0,
            if gnu_time {
                "GNU time"
            } else {
                "wait4, an upper bound"
            }
        );
        if expected.is_empty() {
            assert_eq!(run.code, Some(0), "{}", run.stderr);
        } else {
            assert_eq!(run.code, Some(1), "{what}: {}", run.stderr);
            let lines: Vec<&str> = run.stderr.lines().collect();
            assert_eq!(lines.len(), 2, "{what}: {}", run.stderr);
            assert!(lines[0].starts_with(expected), "{what}: {}", run.stderr);
            assert!(lines[1].starts_with("hint: "), "{what}: {}", run.stderr);
            assert_eq!(run.stdout, "");
        }
        assert!(took < Duration::from_secs(10), "{what} took {took:?}");
        assert!(peak_kib < 200 * 1024, "{what}: peak RSS {peak_kib} KiB");
        assert!(
            server.requests().iter().all(|r| !r.is_write()),
            "{what}: nothing is written"
        );
        assert_eq!(
            server.store().revision(),
            revision,
            "{what}: the store is unchanged"
        );
    }
    drop(dir);
}

/// The update rules only the API server can check (it needs the stored object): through
/// the plugin, such a change is one apply the server refuses (422), one line and a hint,
/// and nothing stored changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_only_the_api_server_can_refuse_is_one_refused_apply() {
    let (server, dir, kubeconfig) = world().await;
    for (from, to, cause) in [
        (
            "database: shop",
            "database: other",
            "spec.database is immutable",
        ),
        (
            "mysql:9.7",
            "mysql:8.4",
            "spec.image goes back to an older MySQL release series",
        ),
    ] {
        server.clear_requests();
        let revision = server.store().revision();
        let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-mysql"));
        command
            .args(["create", "-f", "-"])
            .current_dir(dir.path())
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", dir.path());
        let (run, _, _) = measured(command, shop_with(from, to).as_bytes());
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert_eq!(run.stdout, "");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{}", run.stderr);
        assert!(
            lines[0].starts_with("error: cannot apply MySQL shop: ") && lines[0].contains(cause),
            "{}",
            run.stderr
        );
        assert_eq!(
            lines[1],
            "hint: the API server refused the change: fix what the message names (`kubectl explain mysqls.spec`)"
        );
        let writes: Vec<String> = server
            .requests()
            .into_iter()
            .filter(|r| r.is_write())
            .map(|r| format!("{} {}/{}", r.verb, r.resource, r.name))
            .collect();
        assert_eq!(writes, ["patch mysqls/shop"], "one apply, refused");
        assert_eq!(
            server.store().revision(),
            revision,
            "nothing stored changed"
        );
    }
}
