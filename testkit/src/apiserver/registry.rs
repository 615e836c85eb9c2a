//! The kinds the server serves: built-ins declared once, custom resources added when a
//! CRD is created. Discovery is derived from this registry, never written per kind.

use serde_json::{Value, json};

/// One served resource (a group/version/plural).
#[derive(Clone, Debug, PartialEq)]
pub struct Kind {
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub namespaced: bool,
    /// Has a `status` subresource (status writes ignore spec and the reverse).
    pub status: bool,
    /// A custom resource (affects error texts, patch types and list shapes).
    pub custom: bool,
    /// The `openAPIV3Schema` of a custom resource.
    pub schema: Option<Value>,
    /// `additionalPrinterColumns` of a custom resource.
    pub printer_columns: Vec<Value>,
}

impl Kind {
    fn builtin(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            short_names: Vec::new(),
            namespaced,
            status: false,
            custom: false,
            schema: None,
            printer_columns: Vec::new(),
        }
    }

    fn with_status(mut self) -> Self {
        self.status = true;
        self
    }

    fn short(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `mysqls.otus.homework`, `deployments.apps`, `secrets`: how errors name the resource.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `MySQL.otus.homework`, `Deployment.apps`, `Secret`: how 422 errors name the kind.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// The `APIResource` entries of this kind (and its status subresource).
    pub fn api_resources(&self) -> Vec<Value> {
        let verbs = [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": verbs,
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        let mut out = vec![main];
        if self.status {
            out.push(json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        out
    }
}

/// Every kind the server knows.
#[derive(Clone, Debug)]
pub struct Registry {
    kinds: Vec<Kind>,
}

impl Default for Registry {
    fn default() -> Self {
        let core = |kind, plural, namespaced| Kind::builtin("", "v1", kind, plural, namespaced);
        Self {
            kinds: vec![
                core("Namespace", "namespaces", false)
                    .with_status()
                    .short(&["ns"]),
                core("Secret", "secrets", true),
                core("ConfigMap", "configmaps", true).short(&["cm"]),
                core("Service", "services", true)
                    .with_status()
                    .short(&["svc"]),
                core("PersistentVolume", "persistentvolumes", false)
                    .with_status()
                    .short(&["pv"]),
                core("PersistentVolumeClaim", "persistentvolumeclaims", true)
                    .with_status()
                    .short(&["pvc"]),
                core("Pod", "pods", true).with_status().short(&["po"]),
                core("Event", "events", true).short(&["ev"]),
                core("ServiceAccount", "serviceaccounts", true).short(&["sa"]),
                Kind::builtin("apps", "v1", "Deployment", "deployments", true)
                    .with_status()
                    .short(&["deploy"]),
                // In kube-apiserver's order: its discovery lists cronjobs first.
                Kind::builtin("batch", "v1", "CronJob", "cronjobs", true)
                    .with_status()
                    .short(&["cj"]),
                Kind::builtin("batch", "v1", "Job", "jobs", true).with_status(),
                Kind::builtin("coordination.k8s.io", "v1", "Lease", "leases", true),
                Kind::builtin("events.k8s.io", "v1", "Event", "events", true).short(&["ev"]),
                // Stored and served, not enforced: records tell what a client would need.
                Kind::builtin(
                    "rbac.authorization.k8s.io",
                    "v1",
                    "ClusterRole",
                    "clusterroles",
                    false,
                ),
                Kind::builtin(
                    "rbac.authorization.k8s.io",
                    "v1",
                    "ClusterRoleBinding",
                    "clusterrolebindings",
                    false,
                ),
                Kind::builtin("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
                Kind::builtin(
                    "rbac.authorization.k8s.io",
                    "v1",
                    "RoleBinding",
                    "rolebindings",
                    true,
                ),
                Kind::builtin(
                    "apiextensions.k8s.io",
                    "v1",
                    "CustomResourceDefinition",
                    "customresourcedefinitions",
                    false,
                )
                .with_status()
                .short(&["crd", "crds"]),
            ],
        }
    }
}

impl Registry {
    /// The kind served at `group/version/plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&Kind> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.plural == plural)
    }

    /// The kind of a group and plural, in any served version (the first one).
    pub fn find_resource(&self, group: &str, plural: &str) -> Option<&Kind> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.plural == plural)
    }

    /// Kinds with this group and kind name, in every version.
    pub fn kinds_named<'a>(
        &'a self,
        group: &'a str,
        kind: &'a str,
    ) -> impl Iterator<Item = &'a Kind> + 'a {
        self.kinds
            .iter()
            .filter(move |k| k.group == group && k.kind == kind)
    }

    /// Kinds of one group version, in declaration order.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Kind> + 'a {
        self.kinds
            .iter()
            .filter(move |k| k.group == group && k.version == version)
    }

    /// Every (group, version) pair, core first, in order of first appearance.
    pub fn group_versions(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for k in &self.kinds {
            let gv = (k.group.clone(), k.version.clone());
            if !out.contains(&gv) {
                out.push(gv);
            }
        }
        out
    }

    /// Serve the custom resource a CRD defines (its first served version), replacing an
    /// earlier definition of the same group and plural.
    pub fn register_crd(&mut self, crd: &Value) {
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        let names = &spec["names"];
        let plural = names["plural"].as_str().unwrap_or_default();
        self.unregister_crd(group, plural);
        let Some(versions) = spec["versions"].as_array() else {
            return;
        };
        for version in versions.iter().filter(|v| v["served"] == json!(true)) {
            let kind = names["kind"].as_str().unwrap_or_default();
            self.kinds.push(Kind {
                group: group.into(),
                version: version["name"].as_str().unwrap_or_default().into(),
                kind: kind.into(),
                plural: plural.into(),
                singular: names["singular"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| kind.to_lowercase()),
                short_names: names["shortNames"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                namespaced: spec["scope"] == json!("Namespaced"),
                status: version["subresources"]["status"].is_object(),
                custom: true,
                schema: version["schema"].get("openAPIV3Schema").cloned(),
                printer_columns: version["additionalPrinterColumns"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            });
        }
    }

    /// Stop serving a custom resource (its CRD was deleted).
    pub fn unregister_crd(&mut self, group: &str, plural: &str) {
        self.kinds
            .retain(|k| !(k.custom && k.group == group && k.plural == plural));
    }
}
