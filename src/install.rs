//! What installs the product in a cluster: the CRD, a namespace, the operator's
//! ServiceAccount and least-privilege RBAC, and its Deployment. Pure builders: `kubectl
//! mysql install` prints them and `deploy/` holds them (a test keeps the two equal).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, Namespace,
    ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    SeccompProfile, SecurityContext, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::operator::leader::LEASE_NAME;

/// Where the operator runs unless `--namespace` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "kubectl-mysql-system";
/// The image the Dockerfile in `deploy/` builds (`docker build -t kubectl-mysql:<version> .`).
pub const DEFAULT_IMAGE: &str = concat!("kubectl-mysql:", env!("CARGO_PKG_VERSION"));
/// The operator's ServiceAccount, Deployment and RBAC objects share this name.
pub const NAME: &str = "kubectl-mysql";
/// Leader election's Role and RoleBinding.
pub const LEADER_ELECTION: &str = "kubectl-mysql-leader-election";
/// Where the binary sits in the image (the Dockerfile copies it there).
pub const BINARY: &str = "/usr/local/bin/kubectl-mysql";
/// The non-root user of the image and the pod (distroless's `nonroot`).
pub const USER_ID: i64 = 65532;
const HTTP_PORT: i32 = 8080;

/// What `install` is told.
#[derive(Clone, Debug)]
pub struct Options {
    pub namespace: String,
    pub image: String,
    /// The namespaces the operator watches; empty: every namespace (a ClusterRole grants
    /// all it does). Otherwise a Role in each grants it there, and a ClusterRole only what
    /// is cluster-scoped ([`cluster_scoped_rules`]).
    pub watch_namespaces: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.into(),
            image: DEFAULT_IMAGE.into(),
            watch_namespaces: Vec::new(),
        }
    }
}

impl Options {
    /// The watched namespaces, sorted and each once (a name given twice makes one Role).
    fn watched(&self) -> Vec<String> {
        let mut namespaces = self.watch_namespaces.clone();
        namespaces.sort();
        namespaces.dedup();
        namespaces
    }
}

/// One file of `deploy/` and the objects it holds, in order.
pub struct DeployFile {
    pub name: &'static str,
    pub objects: Vec<Value>,
}

/// The files of `deploy/` that `kustomization.yaml` lists, in install order.
pub fn files(options: &Options) -> Vec<DeployFile> {
    vec![
        DeployFile {
            name: "crd.yaml",
            objects: vec![to_value(&crate::crd::crd())],
        },
        DeployFile {
            name: "namespace.yaml",
            objects: vec![to_value(&namespace(options))],
        },
        DeployFile {
            name: "rbac.yaml",
            objects: rbac(options),
        },
        DeployFile {
            name: "operator.yaml",
            objects: vec![to_value(&deployment(options))],
        },
    ]
}

/// The ServiceAccount and what it may do: a ClusterRole for everything (every namespace
/// watched), or a Role and RoleBinding in each watched namespace and a ClusterRole for the
/// cluster-scoped rest; then leader election's Role in the operator's namespace.
fn rbac(options: &Options) -> Vec<Value> {
    let mut objects = vec![to_value(&service_account(options))];
    let watched = options.watched();
    if watched.is_empty() {
        objects.push(to_value(&cluster_role(cluster_rules())));
    } else {
        objects.push(to_value(&cluster_role(cluster_scoped_rules())));
    }
    objects.push(to_value(&cluster_role_binding(options)));
    for namespace in &watched {
        objects.push(to_value(&watched_namespace_role(namespace)));
        objects.push(to_value(&watched_namespace_binding(options, namespace)));
    }
    objects.push(to_value(&leader_election_role(options)));
    objects.push(to_value(&leader_election_binding(options)));
    objects
}

/// Every object to install, in the order `kubectl apply` should see them.
pub fn manifests(options: &Options) -> Vec<Value> {
    files(options).into_iter().flat_map(|f| f.objects).collect()
}

fn to_value<T: serde::Serialize>(object: &T) -> Value {
    // Serializing k8s-openapi types to JSON cannot fail.
    serde_json::to_value(object).unwrap_or_default()
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), NAME.to_string()),
        (
            "app.kubernetes.io/component".to_string(),
            "operator".to_string(),
        ),
        (
            "app.kubernetes.io/version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ])
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(str::to_string),
        labels: Some(labels()),
        ..Default::default()
    }
}

fn namespace(options: &Options) -> Namespace {
    Namespace {
        metadata: meta(&options.namespace, None),
        ..Default::default()
    }
}

fn service_account(options: &Options) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(NAME, Some(&options.namespace)),
        ..Default::default()
    }
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.into()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..Default::default()
    }
}

/// Exactly what the operator calls when it watches every namespace: the test
/// `rbac_grants_exactly_what_the_operator_uses` records its calls and compares.
pub fn cluster_rules() -> Vec<PolicyRule> {
    workload_rules(true)
}

/// Exactly what the operator calls in each namespace it watches when it watches some
/// (`--watch-namespace`): granted by a Role there. The volumes are cluster-scoped, so
/// [`cluster_scoped_rules`] grants them.
pub fn namespaced_rules() -> Vec<PolicyRule> {
    workload_rules(false)
}

/// The verbs on claims and volumes: the data volume outlives its claim until the
/// delete-backup is verified, then goes.
const VOLUME_VERBS: &[&str] = &["list", "watch", "patch", "delete"];

/// What the operator calls in a watched namespace; `with_volumes` adds the cluster-scoped
/// PersistentVolumes to the claims' rule (a ClusterRole holds both).
fn workload_rules(with_volumes: bool) -> Vec<PolicyRule> {
    let storage: &[&str] = if with_volumes {
        &["persistentvolumeclaims", "persistentvolumes"]
    } else {
        &["persistentvolumeclaims"]
    };
    vec![
        rule("otus.homework", &["mysqls"], &["list", "watch", "patch"]),
        rule("otus.homework", &["mysqls/status"], &["patch"]),
        // Not a call: the API server's OwnerReferencesPermissionEnforcement admission
        // requires it to set blockOwnerDeletion on the children the instance owns.
        rule("otus.homework", &["mysqls/finalizers"], &["update"]),
        // The operator reads its children from watch caches; `get` only a Secret that a
        // spec references (password_secret: not cached, other Secrets' data stays out of
        // memory) and the catalogue right before it records a backup.
        rule("", &["secrets"], &["get", "list", "watch", "patch"]),
        rule("", &["services"], &["list", "watch", "patch"]),
        rule("", storage, VOLUME_VERBS),
        rule("", &["configmaps"], &["get", "list", "watch", "patch"]),
        rule("", &["pods"], &["list", "watch"]),
        rule(
            "apps",
            &["deployments"],
            &["list", "watch", "patch", "delete"],
        ),
        // patch: a finished scheduled backup's Job is marked once recorded.
        rule(
            "batch",
            &["jobs"],
            &["list", "watch", "create", "patch", "delete"],
        ),
        // The scheduled backups: applied, suspended before the delete-backup, removed
        // with the schedule.
        rule(
            "batch",
            &["cronjobs"],
            &["list", "watch", "patch", "delete"],
        ),
        // create only: a recorder lives for one pass, which publishes an Event once, so
        // none becomes a series (a patch).
        rule("events.k8s.io", &["events"], &["create"]),
    ]
}

/// The CRD's name, the one cluster-scoped object a namespace-scoped operator reads.
pub const CRD_NAME: &str = "mysqls.otus.homework";

/// What a namespace-scoped operator needs beyond its namespaces' Roles: the volumes
/// (cluster-scoped; it lists only those labelled with a watched namespace, but RBAC
/// cannot limit a list by label) and a read of the MySQL CRD, which it checks at start
/// ([`crate::operator::check_crd`]), named so that no other CRD is readable.
pub fn cluster_scoped_rules() -> Vec<PolicyRule> {
    vec![
        rule("", &["persistentvolumes"], VOLUME_VERBS),
        PolicyRule {
            resource_names: Some(vec![CRD_NAME.into()]),
            ..rule(
                "apiextensions.k8s.io",
                &["customresourcedefinitions"],
                &["get"],
            )
        },
    ]
}

fn cluster_role(rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: meta(NAME, None),
        rules: Some(rules),
        ..Default::default()
    }
}

/// The operator's own namespace only: the leader Lease. Creating it cannot be limited to
/// one name (the name is not known to the authorizer before the object exists).
pub fn leader_election_rules() -> Vec<PolicyRule> {
    vec![
        rule("coordination.k8s.io", &["leases"], &["create"]),
        PolicyRule {
            resource_names: Some(vec![LEASE_NAME.into()]),
            ..rule("coordination.k8s.io", &["leases"], &["get", "patch"])
        },
    ]
}

fn subjects(options: &Options) -> Vec<Subject> {
    vec![Subject {
        kind: "ServiceAccount".into(),
        name: NAME.into(),
        namespace: Some(options.namespace.clone()),
        ..Default::default()
    }]
}

fn cluster_role_binding(options: &Options) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(NAME, None),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: NAME.into(),
        },
        subjects: Some(subjects(options)),
    }
}

/// The operator's rights in one watched namespace.
fn watched_namespace_role(namespace: &str) -> Role {
    Role {
        metadata: meta(NAME, Some(namespace)),
        rules: Some(namespaced_rules()),
    }
}

fn watched_namespace_binding(options: &Options, namespace: &str) -> RoleBinding {
    RoleBinding {
        metadata: meta(NAME, Some(namespace)),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: NAME.into(),
        },
        subjects: Some(subjects(options)),
    }
}

fn leader_election_role(options: &Options) -> Role {
    Role {
        metadata: meta(LEADER_ELECTION, Some(&options.namespace)),
        rules: Some(leader_election_rules()),
    }
}

fn leader_election_binding(options: &Options) -> RoleBinding {
    RoleBinding {
        metadata: meta(LEADER_ELECTION, Some(&options.namespace)),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: LEADER_ELECTION.into(),
        },
        subjects: Some(subjects(options)),
    }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn probe(path: &str, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        ..Default::default()
    }
}

fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(cpu.into())),
        ("memory".to_string(), Quantity(memory.into())),
    ])
}

fn deployment(options: &Options) -> Deployment {
    let selector = BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), NAME.to_string()),
        (
            "app.kubernetes.io/component".to_string(),
            "operator".to_string(),
        ),
    ]);
    let mut args = vec![
        "run-operator".to_string(),
        "--leader-elect".into(),
        // Every interface of the pod: the kubelet's probes and Prometheus come from outside.
        format!("--metrics-addr=0.0.0.0:{HTTP_PORT}"),
        "--log-format=json".into(),
    ];
    args.extend(
        options
            .watched()
            .iter()
            .map(|ns| format!("--watch-namespace={ns}")),
    );
    let container = Container {
        name: "operator".into(),
        image: Some(options.image.clone()),
        command: Some(vec![BINARY.into()]),
        args: Some(args),
        env: Some(vec![
            // The Lease's holder and the Events' reporting instance.
            field_env("POD_NAME", "metadata.name"),
            // Where the leader Lease lives.
            field_env("POD_NAMESPACE", "metadata.namespace"),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: HTTP_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        liveness_probe: Some(probe("/healthz", 20)),
        readiness_probe: Some(probe("/readyz", 10)),
        resources: Some(ResourceRequirements {
            requests: Some(quantities("50m", "64Mi")),
            limits: Some(quantities("500m", "256Mi")),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    Deployment {
        metadata: meta(NAME, Some(&options.namespace)),
        spec: Some(DeploymentSpec {
            // One leads; leader election keeps a rollout's second pod standing by.
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(NAME.into()),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(USER_ID),
                        run_as_group: Some(USER_ID),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    // Room to finish the reconciles in flight and hand the lease over.
                    termination_grace_period_seconds: Some(30),
                    containers: vec![container],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy_file(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_default()
    }

    #[test]
    fn deploy_files_are_what_install_prints() {
        let mut drifted = Vec::new();
        for file in files(&Options::default()) {
            if deploy_file(file.name) != crate::manifest::to_yaml_stream(&file.objects) {
                drifted.push(file.name);
            }
        }
        assert!(
            drifted.is_empty(),
            "deploy/ drifted from the builders in src/install.rs: {drifted:?}; run `cargo run -- install --write-deploy deploy`"
        );
    }

    #[test]
    fn kustomization_lists_the_deploy_files_in_order() {
        let kustomization: Value =
            serde_saphyr::from_str(&deploy_file("kustomization.yaml")).unwrap_or_default();
        let listed: Vec<&str> = kustomization["resources"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let names: Vec<&str> = files(&Options::default()).iter().map(|f| f.name).collect();
        assert_eq!(listed, names);
    }

    #[test]
    fn operator_runs_as_non_root_with_a_read_only_root() {
        let options = Options {
            namespace: "ops".into(),
            image: "registry.example/kubectl-mysql:1".into(),
            ..Options::default()
        };
        let d = deployment(&options);
        let pod = d.spec.and_then(|s| s.template.spec).unwrap_or_default();
        assert_eq!(pod.service_account_name.as_deref(), Some(NAME));
        let pod_security = pod.security_context.unwrap_or_default();
        assert_eq!(pod_security.run_as_non_root, Some(true));
        assert_eq!(pod_security.run_as_user, Some(USER_ID));
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("registry.example/kubectl-mysql:1"));
        assert_eq!(c.args.as_ref().map(|a| a[0].as_str()), Some("run-operator"));
        let security = c.security_context.clone().unwrap_or_default();
        assert_eq!(security.read_only_root_filesystem, Some(true));
        assert_eq!(security.allow_privilege_escalation, Some(false));
        assert!(c.liveness_probe.is_some() && c.readiness_probe.is_some());
        let limits = c
            .resources
            .clone()
            .and_then(|r| r.limits)
            .unwrap_or_default();
        assert!(limits.contains_key("cpu") && limits.contains_key("memory"));
    }

    #[test]
    fn namespace_option_moves_every_namespaced_object_and_the_subjects() {
        let options = Options {
            namespace: "ops".into(),
            image: DEFAULT_IMAGE.into(),
            ..Options::default()
        };
        for object in manifests(&options) {
            let kind = object["kind"].as_str().unwrap_or_default();
            match kind {
                "CustomResourceDefinition" | "ClusterRole" | "ClusterRoleBinding" => {
                    assert!(object["metadata"]["namespace"].is_null(), "{kind}")
                }
                "Namespace" => assert_eq!(object["metadata"]["name"], "ops"),
                _ => assert_eq!(object["metadata"]["namespace"], "ops", "{kind}"),
            }
            if let Some(subjects) = object["subjects"].as_array() {
                assert!(subjects.iter().all(|s| s["namespace"] == "ops"), "{kind}");
            }
        }
    }

    /// `(verb, group, resource, resourceName)` of every rule, expanded.
    fn grants(
        rules: &[PolicyRule],
    ) -> std::collections::BTreeSet<(String, String, String, String)> {
        let mut granted = std::collections::BTreeSet::new();
        for rule in rules {
            let names = rule
                .resource_names
                .clone()
                .unwrap_or_else(|| vec![String::new()]);
            for group in rule.api_groups.iter().flatten() {
                for resource in rule.resources.iter().flatten() {
                    for verb in &rule.verbs {
                        for name in &names {
                            granted.insert((
                                verb.clone(),
                                group.clone(),
                                resource.clone(),
                                name.clone(),
                            ));
                        }
                    }
                }
            }
        }
        granted
    }

    #[test]
    fn watched_namespaces_get_roles_and_the_cluster_only_volumes_and_the_crd() {
        let options = Options {
            namespace: "ops".into(),
            watch_namespaces: vec!["shop".into(), "blog".into(), "shop".into()],
            ..Options::default()
        };
        let objects = manifests(&options);
        let of_kind =
            |kind: &str| -> Vec<&Value> { objects.iter().filter(|o| o["kind"] == kind).collect() };
        let cluster_roles = of_kind("ClusterRole");
        assert_eq!(cluster_roles.len(), 1);
        let cluster_rules: Vec<PolicyRule> =
            serde_json::from_value(cluster_roles[0]["rules"].clone()).unwrap_or_default();
        let cluster_wide = grants(&cluster_rules);
        assert!(
            cluster_wide.iter().all(|(_, group, resource, name)| {
                (group.is_empty() && resource == "persistentvolumes" && name.is_empty())
                    || (group == "apiextensions.k8s.io"
                        && resource == "customresourcedefinitions"
                        && name == CRD_NAME)
            }),
            "only volumes and the one CRD cluster-wide: {cluster_wide:?}"
        );
        assert!(cluster_wide.contains(&(
            "get".into(),
            "apiextensions.k8s.io".into(),
            "customresourcedefinitions".into(),
            CRD_NAME.into()
        )));

        // One Role per watched namespace (a name given twice: once), plus leader election's.
        let roles: Vec<(String, String)> = of_kind("Role")
            .iter()
            .map(|r| {
                (
                    r["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    r["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect();
        assert_eq!(
            roles,
            [
                ("blog".to_string(), NAME.to_string()),
                ("shop".to_string(), NAME.to_string()),
                ("ops".to_string(), LEADER_ELECTION.to_string()),
            ]
        );
        for role in of_kind("Role")
            .iter()
            .filter(|r| r["metadata"]["name"] == NAME)
        {
            let rules: Vec<PolicyRule> =
                serde_json::from_value(role["rules"].clone()).unwrap_or_default();
            assert_eq!(rules, namespaced_rules());
        }
        let bindings = of_kind("RoleBinding");
        assert_eq!(bindings.len(), 3);
        for binding in bindings {
            assert_eq!(binding["subjects"][0]["kind"], "ServiceAccount");
            assert_eq!(binding["subjects"][0]["namespace"], "ops");
            assert_eq!(binding["roleRef"]["kind"], "Role");
            assert_eq!(binding["roleRef"]["name"], binding["metadata"]["name"]);
        }
        let deployment = of_kind("Deployment");
        let args = &deployment[0]["spec"]["template"]["spec"]["containers"][0]["args"];
        let watch_args: Vec<&str> = args
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|a| a.starts_with("--watch-namespace"))
            .collect();
        assert_eq!(
            watch_args,
            ["--watch-namespace=blog", "--watch-namespace=shop"]
        );
    }

    #[test]
    fn the_namespaced_and_cluster_scoped_rules_grant_what_the_cluster_role_does_and_the_crd_read() {
        let split: std::collections::BTreeSet<_> = grants(&namespaced_rules())
            .union(&grants(&cluster_scoped_rules()))
            .cloned()
            .collect();
        let mut expected = grants(&cluster_rules());
        expected.insert((
            "get".into(),
            "apiextensions.k8s.io".into(),
            "customresourcedefinitions".into(),
            CRD_NAME.into(),
        ));
        assert_eq!(split, expected);
        assert!(
            !grants(&namespaced_rules())
                .iter()
                .any(|(_, _, resource, _)| resource == "persistentvolumes"),
            "a Role cannot grant a cluster-scoped kind"
        );
    }

    #[test]
    fn dockerfile_builds_the_binary_the_deployment_runs_as_the_user_it_runs_as() {
        let dockerfile = deploy_file("Dockerfile");
        let stages = dockerfile
            .lines()
            .filter(|l| l.trim_start().starts_with("FROM "))
            .count();
        assert!(stages >= 2, "a multi-stage build: {dockerfile}");
        assert!(
            dockerfile.contains(&format!("ENTRYPOINT [\"{BINARY}\"]")),
            "{dockerfile}"
        );
        assert!(
            dockerfile.contains(&format!("USER {USER_ID}:{USER_ID}")),
            "{dockerfile}"
        );
    }
}
