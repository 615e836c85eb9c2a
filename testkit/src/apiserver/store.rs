//! The object store: one map keyed by (resource, namespace, name), one global
//! resourceVersion counter, and the write rules of the API server (create, update,
//! patch, delete with finalizers).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::registry::{Kind, Registry};
use super::status::{self, ApiError};

/// (group/plural, namespace or "", name)
type Key = (String, String, String);

fn key(kind: &Kind, namespace: &str, name: &str) -> Key {
    (
        format!("{}/{}", kind.group, kind.plural),
        if kind.namespaced {
            namespace.to_string()
        } else {
            String::new()
        },
        name.to_string(),
    )
}

/// Everything the server holds.
pub struct Store {
    pub registry: Registry,
    objects: BTreeMap<Key, Value>,
    revision: u64,
    uids: u64,
}

/// Which part of an object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn meta(object: &Value) -> &Value {
    &object["metadata"]
}

fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object["metadata"][field].as_str()
}

fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

/// Everything but metadata and status: what `generation` tracks.
fn spec_part(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
        map.remove("apiVersion");
        map.remove("kind");
    }
    copy
}

fn finalizers(object: &Value) -> Vec<String> {
    meta(object)["finalizers"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Default for Store {
    fn default() -> Self {
        let mut store = Self {
            registry: Registry::default(),
            objects: BTreeMap::new(),
            revision: 100,
            uids: 0,
        };
        let namespaces = store
            .registry
            .find("", "v1", "namespaces")
            .cloned()
            .expect("namespaces are built in");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            store
                .create(&namespaces, "", object, false)
                .expect("built-in namespaces are created");
        }
        store
    }
}

impl Store {
    /// The current resourceVersion of the whole store.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    fn next_revision(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    fn next_uid(&mut self) -> String {
        self.uids += 1;
        format!("7e57a915-0000-4000-8000-{:012x}", self.uids)
    }

    pub fn get(&self, kind: &Kind, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&key(kind, namespace, name))
            .cloned()
            .ok_or_else(|| status::not_found(kind, name))
    }

    /// Objects of a kind, in one namespace or all (`None`), in key order.
    pub fn list(&self, kind: &Kind, namespace: Option<&str>) -> Vec<Value> {
        let resource = format!("{}/{}", kind.group, kind.plural);
        self.objects
            .iter()
            .filter(|((r, ns, _), _)| {
                *r == resource && namespace.is_none_or(|n| !kind.namespaced || ns == n)
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn namespace_exists(&self, namespace: &str) -> bool {
        self.objects
            .contains_key(&(String::from("/namespaces"), String::new(), namespace.into()))
    }

    /// POST: a new object. `dry_run` answers as if created, stores nothing.
    pub fn create(
        &mut self,
        kind: &Kind,
        namespace: &str,
        mut object: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        if !object.is_object() {
            return Err(status::bad_request("the object must be a JSON object"));
        }
        check_type(kind, &object)?;
        if kind.namespaced {
            match meta_str(&object, "namespace") {
                Some(ns) if ns != namespace => {
                    return Err(status::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {}
            }
            if !self.namespace_exists(namespace) {
                return Err(status::namespace_not_found(namespace));
            }
        }
        let name = match (meta_str(&object, "name"), meta_str(&object, "generateName")) {
            (Some(n), _) if !n.is_empty() => n.to_string(),
            (_, Some(prefix)) => format!("{prefix}{:05x}", (self.revision * 7919) % 0xfffff),
            _ => {
                return Err(status::invalid(
                    kind,
                    "",
                    vec![(
                        "FieldValueRequired".into(),
                        "metadata.name".into(),
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
        };
        if self.objects.contains_key(&key(kind, namespace, &name)) {
            return Err(status::already_exists(kind, &name));
        }
        if kind.status {
            // Create ignores status where a status subresource owns it.
            if let Some(map) = object.as_object_mut() {
                map.remove("status");
            }
        }
        let uid = self.next_uid();
        let created = now();
        {
            let m = meta_mut(&mut object);
            m.insert("name".into(), json!(name));
            if kind.namespaced {
                m.insert("namespace".into(), json!(namespace));
            } else {
                m.remove("namespace");
            }
            m.insert("uid".into(), json!(uid));
            m.insert("creationTimestamp".into(), json!(created));
            m.insert("generation".into(), json!(1));
            m.remove("deletionTimestamp");
            m.remove("resourceVersion");
        }
        set_type(kind, &mut object);
        admit(kind, &mut object);
        if dry_run {
            return Ok(object);
        }
        Ok(self.write(kind, namespace, &name, object))
    }

    /// PUT (and the end of every patch): replace the object, or its status.
    pub fn update(
        &mut self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        mut object: Value,
        part: Part,
        require_version: bool,
    ) -> Result<Value, ApiError> {
        check_type(kind, &object)?;
        let current = self.get(kind, namespace, name)?;
        match meta_str(&object, "resourceVersion") {
            Some(rv) if Some(rv) != meta_str(&current, "resourceVersion") => {
                return Err(status::conflict(kind, name));
            }
            None if require_version && kind.custom => {
                return Err(status::invalid(
                    kind,
                    name,
                    vec![(
                        "FieldValueInvalid".into(),
                        "metadata.resourceVersion".into(),
                        "Invalid value: 0x0: must be specified for an update".into(),
                    )],
                ));
            }
            _ => {}
        }
        if let Some(body_name) = meta_str(&object, "name")
            && body_name != name
        {
            return Err(status::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        // The server owns identity fields; the status subresource splits the object.
        let terminating = meta(&current).get("deletionTimestamp").is_some();
        {
            let m = meta_mut(&mut object);
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                match meta(&current).get(field) {
                    Some(v) => m.insert(field.into(), v.clone()),
                    None => m.remove(field),
                };
            }
        }
        if kind.status {
            match part {
                Part::Main => match current.get("status") {
                    Some(s) => object["status"] = s.clone(),
                    None => {
                        object.as_object_mut().map(|o| o.remove("status"));
                    }
                },
                Part::Status => {
                    let new_status = object.get("status").cloned();
                    let mut merged = current.clone();
                    match new_status {
                        Some(s) => merged["status"] = s,
                        None => {
                            merged.as_object_mut().map(|o| o.remove("status"));
                        }
                    }
                    object = merged;
                }
            }
        }
        if terminating {
            let added: Vec<String> = finalizers(&object)
                .into_iter()
                .filter(|f| !finalizers(&current).contains(f))
                .collect();
            if !added.is_empty() {
                return Err(status::invalid(
                    kind,
                    name,
                    vec![(
                        "FieldValueForbidden".into(),
                        "metadata.finalizers".into(),
                        format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                            added
                                .iter()
                                .map(|f| format!("{f:?}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )],
                ));
            }
        }
        set_type(kind, &mut object);
        if spec_part(&object) != spec_part(&current) {
            let generation = meta(&current)["generation"].as_i64().unwrap_or(1) + 1;
            meta_mut(&mut object).insert("generation".into(), json!(generation));
        }
        meta_mut(&mut object).insert(
            "resourceVersion".into(),
            meta(&current)["resourceVersion"].clone(),
        );
        if object == current {
            // No change, no write: the resourceVersion stays.
            return Ok(current);
        }
        if terminating && finalizers(&object).is_empty() {
            self.objects.remove(&key(kind, namespace, name));
            self.revision += 1;
            return Ok(object);
        }
        Ok(self.write(kind, namespace, name, object))
    }

    /// DELETE. With finalizers (or a Foreground/Orphan propagation) the object is only
    /// marked; otherwise it goes at once and the answer is a success Status.
    pub fn delete(
        &mut self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        propagation: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut object = self.get(kind, namespace, name)?;
        let mut pending = finalizers(&object);
        match propagation {
            Some("Foreground") if !pending.iter().any(|f| f == "foregroundDeletion") => {
                pending.push("foregroundDeletion".into());
            }
            Some("Orphan") if !pending.iter().any(|f| f == "orphan") => {
                pending.push("orphan".into());
            }
            _ => {}
        }
        if pending.is_empty() {
            self.objects.remove(&key(kind, namespace, name));
            self.revision += 1;
            if kind.group == "apiextensions.k8s.io" {
                let spec = &object["spec"];
                self.registry.unregister_crd(
                    spec["group"].as_str().unwrap_or_default(),
                    spec["names"]["plural"].as_str().unwrap_or_default(),
                );
            }
            let uid = meta_str(&object, "uid").unwrap_or_default().to_string();
            return Ok(status::deleted(kind, name, &uid));
        }
        if meta(&object).get("deletionTimestamp").is_none() {
            let generation = meta(&object)["generation"].as_i64().unwrap_or(1) + 1;
            let m = meta_mut(&mut object);
            m.insert("deletionTimestamp".into(), json!(now()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            m.insert("generation".into(), json!(generation));
        }
        meta_mut(&mut object).insert("finalizers".into(), json!(pending));
        Ok(self.write(kind, namespace, name, object))
    }

    /// Store a new state of an object under a fresh resourceVersion; a CRD's state also
    /// (re)defines what the server serves.
    fn write(&mut self, kind: &Kind, namespace: &str, name: &str, mut object: Value) -> Value {
        let rv = self.next_revision();
        meta_mut(&mut object).insert("resourceVersion".into(), json!(rv));
        if kind.group == "apiextensions.k8s.io" {
            self.registry.register_crd(&object);
        }
        self.objects
            .insert(key(kind, namespace, name), object.clone());
        object
    }
}

/// apiVersion and kind of a body must name the URL's kind (when given).
fn check_type(kind: &Kind, object: &Value) -> Result<(), ApiError> {
    if let Some(k) = object["kind"].as_str()
        && k != kind.kind
    {
        return Err(status::invalid(
            kind,
            meta_str(object, "name").unwrap_or_default(),
            vec![(
                "FieldValueInvalid".into(),
                "kind".into(),
                format!("Invalid value: {k:?}: must be {}", kind.kind),
            )],
        ));
    }
    Ok(())
}

fn set_type(kind: &Kind, object: &mut Value) {
    object["apiVersion"] = json!(kind.api_version());
    object["kind"] = json!(kind.kind);
}

/// Defaulting the product relies on, as admission and the built-in controllers do.
fn admit(kind: &Kind, object: &mut Value) {
    match (kind.group.as_str(), kind.plural.as_str()) {
        ("", "namespaces") => {
            object["spec"] = json!({"finalizers": ["kubernetes"]});
            object["status"] = json!({"phase": "Active"});
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let names = object["spec"]["names"].clone();
            object["status"] = json!({
                "acceptedNames": names,
                "storedVersions": object["spec"]["versions"]
                    .as_array()
                    .map(|vs| vs.iter().filter(|v| v["storage"] == json!(true)).map(|v| v["name"].clone()).collect::<Vec<_>>())
                    .unwrap_or_default(),
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now()},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now()},
                ],
            });
        }
        _ => {}
    }
}
