//! `create --dry-run=client`: every manifest for the seed's example, with no cluster.

use serde_json::Value;

use crate::cli::{kubectl_mysql, temp_file};

const SEED_PASSWORD: &str = "0tusP@ssword";

fn documents(stream: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(stream).expect("output is a YAML stream");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The Deployment of a printed stream, and its pod template's spec.
fn server_pod(docs: &[Value]) -> (&Value, k8s_openapi::api::core::v1::PodSpec) {
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let pod = serde_json::from_value(deployment["spec"]["template"]["spec"].clone()).expect("pod");
    (deployment, pod)
}

fn kinds(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap_or("?"),
                d["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[test]
fn seed_cr_prints_the_object_and_every_child_without_a_cluster() {
    let run = kubectl_mysql(
        &[
            "create",
            "-f",
            "deploy/cr.yaml",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        "",
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    // The clients read the password from an option file, never MYSQL_PWD (deprecated
    // since MySQL 8.0).
    assert!(!run.stdout.contains("MYSQL_PWD"), "{}", run.stdout);
    assert!(
        run.stdout.contains("--defaults-extra-file="),
        "{}",
        run.stdout
    );
    let docs = documents(&run.stdout);
    assert_eq!(
        kinds(&docs),
        [
            "MySQL/mysql-instance",
            "Secret/mysql-instance-credentials",
            "PersistentVolume/default.mysql-instance-pv",
            "PersistentVolumeClaim/mysql-instance-pvc",
            "Service/mysql-instance",
            "Deployment/mysql-instance",
            "PersistentVolume/default.backup-mysql-instance-pv",
            "PersistentVolumeClaim/backup-mysql-instance-pvc",
        ]
    );
    for doc in &docs {
        assert!(
            doc["apiVersion"].as_str().is_some_and(|v| !v.is_empty()),
            "{doc}"
        );
        if doc["kind"] != "PersistentVolume" {
            assert_eq!(doc["metadata"]["namespace"], "default", "{doc}");
        }
        // Client dry-run: nothing exists yet, so nothing carries server-side fields.
        assert!(
            doc["metadata"].get("uid").is_none()
                && doc["metadata"].get("ownerReferences").is_none()
        );
    }
    // The seed's password goes in the MySQL object (as the user wrote it) and the Secret
    // (base64) only; never into the Deployment.
    let deployment = serde_json::to_string(&docs[5]).expect("json");
    assert!(!deployment.contains(SEED_PASSWORD));
    assert!(deployment.contains("secretKeyRef"));
    // No pull policy anywhere: Kubernetes' own rule (Always for `latest`) applies.
    assert!(!run.stdout.contains("imagePullPolicy"), "{}", run.stdout);

    // The Jobs the operator makes later follow, as comments (applying the stream must not
    // run them), saying that their image is the running server's.
    let jobs = later_jobs(&run.stdout);
    let (_, later) = (run.stdout)
        .split_once("# The operator makes these Jobs later")
        .expect("the Jobs the operator makes later");
    assert_eq!(
        kinds(&jobs),
        [
            "Job/restore-mysql-instance-job",
            "Job/backup-mysql-instance-job"
        ]
    );
    for job in &jobs {
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "mysql:latest", "before the server runs");
        assert!(container.get("imagePullPolicy").is_none(), "{container}");
    }
    let image_lines: Vec<&str> = (later.lines())
        .filter(|l| {
            l.trim_start_matches('#')
                .trim_start()
                .starts_with("image: ")
        })
        .collect();
    assert_eq!(image_lines.len(), 2, "{later}");
    for line in image_lines {
        assert!(
            line.ends_with("image: mysql:latest  # until the server runs; then status.image, the digest its pod runs"),
            "{line}"
        );
    }
    assert!(
        later.contains("Their image is the server's: its pod's image by digest (status.image)")
    );
}

/// The Jobs printed, as comments, after the objects of a `-o yaml` stream.
fn later_jobs(stream: &str) -> Vec<Value> {
    let (_, later) = stream
        .split_once("# The operator makes these Jobs later")
        .expect("the Jobs the operator makes later");
    let uncommented: Vec<&str> = later
        .lines()
        .skip_while(|l| !l.starts_with("# ---"))
        .map(|l| {
            l.strip_prefix("# ")
                .unwrap_or_else(|| panic!("not a comment: {l:?}"))
        })
        .collect();
    documents(&uncommented.join("\n"))
}

#[test]
fn flags_print_the_same_objects_with_a_generated_password_secret() {
    let args = [
        "create",
        "mysql-instance",
        "--database",
        "otus-database",
        "--storage-size",
        "1Gi",
        "--dry-run=client",
        "-o",
        "yaml",
    ];
    let first = kubectl_mysql(&args, "");
    assert_eq!(first.code, Some(0), "stderr: {}", first.stderr);
    let docs = documents(&first.stdout);
    assert_eq!(
        kinds(&docs)[..2],
        ["Secret/mysql-instance-credentials", "MySQL/mysql-instance"]
    );
    assert_eq!(docs.len(), 8, "{:?}", kinds(&docs));
    let mysql = &docs[1];
    assert_eq!(
        mysql["spec"]["password_secret"]["name"],
        "mysql-instance-credentials"
    );
    assert!(
        mysql["spec"].get("password").is_none(),
        "no password in the custom resource"
    );
    assert_eq!(
        mysql["spec"]["image"], "mysql:8.4",
        "the schema default applies"
    );
    let password = docs[0]["data"]["password"]
        .as_str()
        .expect("generated password");
    let decoded: k8s_openapi::ByteString =
        serde_json::from_value(docs[0]["data"]["password"].clone()).expect("base64");
    assert!(
        decoded.0.len() >= 20 && decoded.0.iter().all(u8::is_ascii_alphanumeric),
        "a generated password is long and alphanumeric (no ' \" or \\ for the entrypoint)"
    );
    let second = documents(&kubectl_mysql(&args, "").stdout);
    assert_ne!(
        Some(password),
        second[0]["data"]["password"].as_str(),
        "a fresh password each time"
    );
}

#[test]
fn password_from_stdin_lands_only_in_the_secret() {
    let run = kubectl_mysql(
        &[
            "create",
            "shop",
            "--database",
            "shop",
            "--storage-size",
            "5Gi",
            "--password-stdin",
            "--storage-class",
            "fast",
            "-n",
            "prod",
            "--dry-run",
            "-o",
            "json",
        ],
        "typed-on-stdin\n",
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(
        !run.stdout.contains("typed-on-stdin"),
        "the password is only base64 in the Secret"
    );
    let list: Value = serde_json::from_str(&run.stdout).expect("-o json is JSON");
    let items = list["items"].as_array().expect("a List");
    // A storage class: no hand-made PersistentVolumes.
    assert_eq!(
        kinds(items),
        [
            "Secret/shop-credentials",
            "MySQL/shop",
            "PersistentVolumeClaim/shop-pvc",
            "Service/shop",
            "Deployment/shop",
            "PersistentVolumeClaim/backup-shop-pvc"
        ]
    );
    assert!(items.iter().all(|i| i["metadata"]["namespace"] == "prod"));
    assert_eq!(items[0]["data"]["password"], "dHlwZWQtb24tc3RkaW4=");
}

#[test]
fn without_output_format_it_names_what_would_be_created() {
    let run = kubectl_mysql(
        &["create", "-f", "-", "--dry-run"],
        &std::fs::read_to_string(crate::cli::repo().join("deploy/cr.yaml")).expect("cr"),
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "mysql.otus.homework/mysql-instance created (dry run)"
    );
    assert_eq!(lines.len(), 8);
}

/// Bad input: one error line and one hint on stderr, a non-zero exit, nothing on stdout.
fn assert_refused(args: &[&str], stdin: &str, expected: &str) {
    let run = kubectl_mysql(args, stdin);
    assert_eq!(run.code, Some(1), "stdout: {}", run.stdout);
    assert!(
        run.stdout.is_empty(),
        "nothing is printed on failure: {}",
        run.stdout
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one error line and one hint: {}",
        run.stderr
    );
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(expected),
        "{}",
        run.stderr
    );
    assert!(lines[1].starts_with("hint: "), "{}", run.stderr);
    assert!(
        !run.stderr.contains(SEED_PASSWORD),
        "errors never echo the password"
    );
}

#[test]
fn bad_input_gets_one_clear_line_and_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = std::fs::read_to_string(crate::cli::repo().join("deploy/cr.yaml")).expect("cr");
    let dry = ["--dry-run=client", "-o", "yaml"];
    let with = |file: &std::path::Path| -> Vec<String> {
        let mut args = vec![
            "create".to_string(),
            "-f".into(),
            file.display().to_string(),
        ];
        args.extend(dry.iter().map(|s| s.to_string()));
        args
    };
    let run_file = |name: &str, content: &str, expected: &str| {
        let path = temp_file(dir.path(), name, content);
        let args = with(&path);
        assert_refused(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            "",
            expected,
        );
    };

    assert_refused(
        &["create", "-f", "no/such/file.yaml", "--dry-run=client"],
        "",
        "cannot read no/such/file.yaml",
    );
    run_file(
        "broken.yaml",
        "apiVersion: otus.homework/v1\nkind: MySQL\nspec: [unclosed\n",
        "is not a valid manifest",
    );
    run_file(
        "unknown.yaml",
        &seed.replace(
            "storage_size: 1Gi",
            "storage_size: 1Gi\n  usless_data: \"useless info\"",
        ),
        r#"strict decoding error: unknown field "spec.usless_data""#,
    );
    run_file(
        "size.yaml",
        &seed.replace("1Gi", "1 GB"),
        "spec.storage_size in body should match",
    );
    run_file(
        "zero.yaml",
        &seed.replace("1Gi", "\"0\""),
        "must be a quantity above zero",
    );
    run_file(
        "int.yaml",
        &seed.replace("1Gi", "5"),
        r#"must be of type string: "integer""#,
    );
    run_file(
        "kind.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
        "found ConfigMap (v1)",
    );
    assert_refused(
        &[
            "create",
            "db",
            "--database",
            "db",
            "--storage-size",
            "1Gi",
            "--password-stdin",
            "--dry-run",
        ],
        "",
        "--password-stdin got an empty password",
    );
    assert_refused(
        &[
            "create",
            "Bad_Name",
            "--database",
            "db",
            "--storage-size",
            "1Gi",
            "--dry-run",
        ],
        "",
        "invalid instance name",
    );
    let in_prod = temp_file(
        dir.path(),
        "prod.yaml",
        &seed.replace(
            "name: mysql-instance",
            "name: mysql-instance\n  namespace: prod",
        ),
    );
    let in_prod = in_prod.display().to_string();
    assert_refused(
        &["create", "-f", &in_prod, "-n", "other", "--dry-run"],
        "",
        r#"namespace from the provided object "prod" does not match the namespace "other""#,
    );
}

#[test]
fn create_without_a_cluster_says_what_to_check() {
    assert_refused(
        &["create", "-f", "deploy/cr.yaml"],
        "",
        "no usable cluster configuration",
    );
}

#[test]
fn crd_command_prints_deploy_crd_yaml() {
    let run = kubectl_mysql(&["crd"], "");
    assert_eq!(run.code, Some(0));
    let committed =
        std::fs::read_to_string(crate::cli::repo().join("deploy/crd.yaml")).expect("crd.yaml");
    assert_eq!(run.stdout, committed);
}

/// `spec.pod_security: restricted` (with a storage class): the server pod that
/// `create --dry-run=client` shows passes the Pod Security "restricted" profile; without
/// a storage class the CLI refuses it, as the API server's CEL rule would.
#[test]
fn restricted_pod_security_prints_pods_the_restricted_profile_admits() {
    let seed = std::fs::read_to_string(crate::cli::repo().join("deploy/cr.yaml")).expect("cr");
    let restricted = format!("{seed}  storage_class: fast\n  pod_security: restricted\n");
    let run = kubectl_mysql(
        &["create", "-f", "-", "--dry-run=client", "-o", "yaml"],
        &restricted,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let docs = documents(&run.stdout);
    let (_, pod) = server_pod(&docs);
    assert_eq!(
        testkit::pod_security::restricted_violations(&pod),
        Vec::<String>::new()
    );
    assert_eq!(pod.security_context.and_then(|c| c.run_as_user), Some(999));
    // The Jobs the operator makes later run as restricted too.
    for job in later_jobs(&run.stdout) {
        let pod: k8s_openapi::api::core::v1::PodSpec =
            serde_json::from_value(job["spec"]["template"]["spec"].clone()).expect("pod");
        let name = &job["metadata"]["name"];
        assert_eq!(
            testkit::pod_security::restricted_violations(&pod),
            Vec::<String>::new(),
            "{name}"
        );
    }

    // Without it the pods run as the images expect (root, which chowns the volume and
    // drops to uid 999): a namespace that enforces "restricted" refuses them.
    let default = kubectl_mysql(
        &["create", "-f", "-", "--dry-run=client", "-o", "yaml"],
        &format!("{seed}  storage_class: fast\n"),
    );
    let docs = documents(&default.stdout);
    let deployment = (docs.iter().find(|d| d["kind"] == "Deployment")).expect("a Deployment");
    let pod: k8s_openapi::api::core::v1::PodSpec =
        serde_json::from_value(deployment["spec"]["template"]["spec"].clone()).expect("pod");
    let refused = testkit::pod_security::restricted_violations(&pod);
    for reason in ["runAsNonRoot is not true", "capabilities do not drop ALL"] {
        assert!(
            refused.iter().any(|r| r.ends_with(reason)),
            "{reason:?} not in {refused:?}"
        );
    }

    let without_class = format!("{seed}  pod_security: restricted\n");
    assert_refused(
        &["create", "-f", "-", "--dry-run=client", "-o", "yaml"],
        &without_class,
        "spec.pod_security: restricted needs spec.storage_class",
    );
}

/// `--backup-schedule`: the dry run shows the CronJob that keeps it, whose Jobs are the
/// on-demand backup's; schedules and zones Kubernetes would refuse are refused first,
/// each with one line naming the field and a working example.
#[test]
fn a_backup_schedule_prints_its_cron_job_and_bad_ones_are_refused() {
    let flags = |extra: &[&str]| {
        let mut args = vec![
            "create",
            "shop",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--dry-run=client",
            "-o",
            "yaml",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let args = flags(&[
        "--backup-schedule",
        "0 3 * * *",
        "--backup-timezone",
        "Europe/Moscow",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = kubectl_mysql(&args, "");
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let docs = documents(&run.stdout);
    let cron = docs
        .iter()
        .find(|d| d["kind"] == "CronJob")
        .expect("a CronJob");
    assert_eq!(cron["apiVersion"], "batch/v1");
    assert_eq!(cron["metadata"]["name"], "backup-shop-cron");
    assert_eq!(cron["spec"]["schedule"], "0 3 * * *");
    assert_eq!(cron["spec"]["timeZone"], "Europe/Moscow");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    let mysql = docs.iter().find(|d| d["kind"] == "MySQL").expect("MySQL");
    assert_eq!(mysql["spec"]["backup_schedule"], "0 3 * * *");
    let script =
        &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][2];
    assert_eq!(script.as_str(), Some(kubectl_mysql::backup::BACKUP_SCRIPT));

    // Without a schedule there is no CronJob.
    let plain = flags(&[]);
    let plain: Vec<&str> = plain.iter().map(String::as_str).collect();
    let run = kubectl_mysql(&plain, "");
    assert!(!kinds(&documents(&run.stdout)).contains(&"CronJob".to_string()));

    for (extra, said) in [
        (
            vec!["--backup-schedule", "0 25 * * *"],
            "spec.backup_schedule \"0 25 * * *\" is not a cron expression",
        ),
        (
            vec!["--backup-schedule", "@every 1h"],
            "spec.backup_schedule",
        ),
        (
            vec![
                "--backup-schedule",
                "@daily",
                "--backup-timezone",
                "Mars/Olympus",
            ],
            "spec.backup_timezone \"Mars/Olympus\" is not a time zone of the IANA database",
        ),
    ] {
        let args = flags(&extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_refused(&args, "", said);
    }
    // The CronJob's name must fit in 52 characters: a long instance name cannot have one.
    let long = "a".repeat(41);
    assert_refused(
        &[
            "create",
            &long,
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--backup-schedule",
            "@daily",
            "--dry-run=client",
        ],
        "",
        "metadata.name must be at most 40 characters with spec.backup_schedule",
    );
}

/// `spec.pitr`: the server's pod shows the binlog options and the archive container, which
/// passes the "restricted" profile with the rest of the pod; bad settings are refused.
#[test]
fn pitr_prints_the_archive_container_and_bad_settings_are_refused() {
    let seed = std::fs::read_to_string(crate::cli::repo().join("deploy/cr.yaml")).expect("cr");
    let manifest = format!(
        "{seed}  storage_class: fast\n  pod_security: restricted\n  pitr: true\n  pitr_flush_seconds: 60\n"
    );
    let run = kubectl_mysql(
        &["create", "-f", "-", "--dry-run=client", "-o", "yaml"],
        &manifest,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let docs = documents(&run.stdout);
    let (deployment, pod) = server_pod(&docs);
    let names: Vec<&str> = pod.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["mysql", "binlog-archive"]);
    let archive = &pod.containers[1];
    assert_eq!(
        archive.command.as_ref().map(|c| c[2].as_str()),
        Some(kubectl_mysql::backup::ARCHIVE_SCRIPT)
    );
    let flush = (archive.env.iter().flatten())
        .find(|e| e.name == "FLUSH_SECONDS")
        .and_then(|e| e.value.as_deref());
    assert_eq!(flush, Some("60"));
    assert_eq!(
        testkit::pod_security::restricted_violations(&pod),
        Vec::<String>::new()
    );
    assert!(
        !deployment
            .to_string()
            .contains(&crate::walkthrough::seed_password())
    );

    let without = format!("{seed}  pitr_flush_seconds: 60\n");
    let refused = kubectl_mysql(&["create", "-f", "-", "--dry-run=client"], &without);
    assert_eq!(refused.code, Some(1));
    assert!(
        refused
            .stderr
            .contains("spec.pitr_flush_seconds needs spec.pitr: true"),
        "{}",
        refused.stderr
    );
    let too_often = kubectl_mysql(
        &[
            "create",
            "shop",
            "--database",
            "shop",
            "--storage-size",
            "1Gi",
            "--pitr",
            "--pitr-flush-seconds",
            "5",
            "--dry-run=client",
        ],
        "",
    );
    assert_eq!(too_often.code, Some(2));
    assert!(
        too_often.stderr.contains("10..=3600"),
        "{}",
        too_often.stderr
    );
}
