//! The object store: one map keyed by (resource, namespace, name), one global
//! resourceVersion counter, and the write rules of the API server (create, update,
//! patch, delete with finalizers).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use kubectl_mysql::schema::SchemaValidator;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::apply::{self, ListType};
use super::events;
use super::normalize;
use super::registry::{Kind, Registry};
use super::status::{self, ApiError};
use super::validation;

/// (group/plural, namespace or "", name)
type Key = (String, String, String);

/// The finalizers admission puts on every claim and volume.
const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// The apiextensions-apiserver's finalizer on a CRD being deleted: its custom resources go
/// first.
const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";
const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

/// How many changes the store remembers for watches to resume from.
const CHANGE_LOG_LEN: usize = 10_000;

/// What happened to an object, as a watch reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One write, kept in the change log.
#[derive(Clone, Debug)]
pub struct Change {
    pub revision: u64,
    /// `group/plural`
    pub resource: String,
    pub namespace: String,
    pub change: ChangeType,
    /// The new state (for a deletion: the last state with the deletion's resourceVersion).
    pub object: Value,
    /// The state before, for selector enter/leave decisions.
    pub previous: Option<Value>,
}

/// `fieldValidation` of a write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    /// The server's default: unknown fields are dropped with a `Warning` header.
    #[default]
    Warn,
    Strict,
}

/// Options of one write request.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    /// A PUT: custom resources must name the resourceVersion they replace.
    pub require_version: bool,
    /// The field manager of a non-apply write (`fieldManager`, else from the User-Agent).
    pub manager: String,
    /// The object's managedFields were already computed (server-side apply).
    pub applied: bool,
}

/// The resource key of a kind: `group/plural`.
pub fn resource_key(kind: &Kind) -> String {
    if events::is_event(kind) {
        // Both Event APIs store into one resource.
        return "/events".into();
    }
    format!("{}/{}", kind.group, kind.plural)
}

fn is_crd(kind: &Kind) -> bool {
    kind.group == "apiextensions.k8s.io" && kind.plural == "customresourcedefinitions"
}

fn key(kind: &Kind, namespace: &str, name: &str) -> Key {
    (
        resource_key(kind),
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
    /// Cluster IPs handed out to Services so far.
    cluster_ips: u32,
    /// uid -> namespace ("" when cluster-scoped) of every object that exists, for the
    /// garbage collector's owner checks.
    live_uids: HashMap<String, String>,
    /// A write since the last collection may have given the garbage collector work: at
    /// 1,000 instances a pass over everything after every write would dominate.
    gc_pending: bool,
    log: VecDeque<Change>,
    /// Watches from before this revision get 410 Gone.
    log_floor: u64,
    notify: watch::Sender<u64>,
    validators: HashMap<String, Arc<SchemaValidator>>,
    /// `Warning` headers of the request being served; the HTTP layer drains them.
    pub warnings: Vec<String>,
    /// Every resource request served, in order (for request counts and RBAC checks).
    pub requests: Vec<RequestRecord>,
    /// Requests refused with 403 before anything else ([`super::TestApiServer::forbid`]).
    pub forbidden: Vec<Forbidden>,
    /// The next requests answered 429 ([`super::TestApiServer::throttle`]).
    pub throttle: Option<Throttle>,
    /// Users whose requests the stored RBAC objects authorize ([`super::rbac`]).
    pub rbac_enforced: std::collections::BTreeSet<String>,
}

/// How many of the next resource requests API Priority and Fairness rejects, and the
/// `Retry-After` it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Throttle {
    pub remaining: usize,
    pub retry_after_seconds: u64,
}

/// One resource request as an authorizer sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestRecord {
    /// get, list, watch, create, update, patch, delete, deletecollection
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// Who sent it: the bearer token's name, or `system:anonymous`.
    pub user: String,
    /// The `User-Agent` header ("" when the client sent none).
    pub user_agent: String,
}

/// Requests an authorizer refuses: `verb` (`*`: any) on `resource` of `group`, in
/// `namespace` (`None`: in every namespace and at the cluster scope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forbidden {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub namespace: Option<String>,
}

impl Forbidden {
    pub fn matches(&self, request: &RequestRecord) -> bool {
        (self.verb == "*" || self.verb == request.verb)
            && self.group == request.group
            && self.resource == request.resource
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == request.namespace)
    }
}

impl RequestRecord {
    /// Whether the request changes anything (everything but get, list and watch).
    pub fn is_write(&self) -> bool {
        !matches!(self.verb.as_str(), "get" | "list" | "watch")
    }
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
            cluster_ips: 0,
            live_uids: HashMap::new(),
            gc_pending: false,
            log: VecDeque::new(),
            log_floor: 100,
            notify: watch::channel(100).0,
            validators: HashMap::new(),
            warnings: Vec::new(),
            requests: Vec::new(),
            forbidden: Vec::new(),
            throttle: None,
            rbac_enforced: Default::default(),
        };
        let namespaces = store
            .registry
            .find("", "v1", "namespaces")
            .cloned()
            .expect("namespaces are built in");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            store
                .create(&namespaces, "", object, &WriteOptions::default())
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

    /// A receiver that sees the store's revision after every write.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Changes after `revision`, or `Err(floor)` when they are no longer kept.
    pub fn changes_since(&self, revision: u64) -> Result<Vec<Change>, u64> {
        self.changes_of(revision, None)
    }

    /// Changes after `revision` to one resource (`group/plural`), or to all (`None`);
    /// `Err(floor)` when they are no longer kept. The log is in revision order, so only
    /// its tail is looked at: a watch costs what it reports, not the log's length.
    pub fn changes_of(&self, revision: u64, resource: Option<&str>) -> Result<Vec<Change>, u64> {
        if revision < self.log_floor {
            return Err(self.log_floor);
        }
        let start = self.log.partition_point(|c| c.revision <= revision);
        Ok(self
            .log
            .range(start..)
            .filter(|c| resource.is_none_or(|r| c.resource == r))
            .cloned()
            .collect())
    }

    /// The newest revision in the change log.
    pub fn last_change(&self) -> u64 {
        self.log.back().map_or(self.log_floor, |c| c.revision)
    }

    fn record(&mut self, change: Change) {
        // What can give the garbage collector work: a deletion (marked or done), a pod
        // (a claim waits for its pods), or an owner reference to an object that is gone.
        let object = &change.object;
        let dangling = meta(object)["ownerReferences"]
            .as_array()
            .is_some_and(|refs| {
                refs.iter().any(|r| {
                    r["uid"]
                        .as_str()
                        .is_none_or(|uid| !self.live_uids.contains_key(uid))
                })
            });
        self.gc_pending |= change.change == ChangeType::Deleted
            || meta(object).get("deletionTimestamp").is_some()
            || change.resource == "/pods"
            || dangling;
        if self.log.len() == CHANGE_LOG_LEN
            && let Some(dropped) = self.log.pop_front()
        {
            self.log_floor = dropped.revision;
        }
        self.log.push_back(change);
        self.notify.send_replace(self.revision);
    }

    fn next_uid(&mut self) -> String {
        self.uids += 1;
        format!("7e57a915-0000-4000-8000-{:012x}", self.uids)
    }

    pub fn get(&self, kind: &Kind, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&key(kind, namespace, name))
            .map(|o| events::view(kind, o.clone()))
            .ok_or_else(|| status::not_found(kind, name))
    }

    /// How many objects of a kind (in one namespace or all) `keep` accepts, copying none.
    pub fn count(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        keep: impl Fn(&Value) -> bool,
    ) -> usize {
        let resource = resource_key(kind);
        self.objects
            .iter()
            .filter(|((r, ns, _), o)| {
                *r == resource && namespace.is_none_or(|n| !kind.namespaced || ns == n) && keep(o)
            })
            .count()
    }

    /// Objects of a kind, in one namespace or all (`None`), in key order.
    pub fn list(&self, kind: &Kind, namespace: Option<&str>) -> Vec<Value> {
        let resource = resource_key(kind);
        self.objects
            .iter()
            .filter(|((r, ns, _), _)| {
                *r == resource && namespace.is_none_or(|n| !kind.namespaced || ns == n)
            })
            .map(|(_, v)| events::view(kind, v.clone()))
            .collect()
    }

    fn namespace_terminating(&self, namespace: &str) -> bool {
        self.objects
            .get(&(String::from("/namespaces"), String::new(), namespace.into()))
            .is_some_and(|ns| meta(ns).get("deletionTimestamp").is_some())
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
        options: &WriteOptions,
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
        if kind.namespaced && self.namespace_terminating(namespace) {
            return Err(status::namespace_terminating(kind, &name, namespace));
        }
        if kind.custom && self.crd_terminating(&kind.group, &kind.plural) {
            return Err(status::crd_terminating(kind));
        }
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
            if normalize::tracks_generation(kind) {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
            m.remove("deletionTimestamp");
            m.remove("resourceVersion");
        }
        check_name(kind, &name)?;
        set_type(kind, &mut object);
        admit(kind, &mut object);
        // Decoded and defaulted before the field manager looks; what the create strategy
        // generates (a Job's selector, a Service's IPs) comes after, and is nobody's.
        normalize::stored_form(kind, &mut object);
        check_builtin(kind, &name, &object, None)?;
        let mut object = self.validate_custom(kind, &name, object, None, options)?;
        if !options.applied {
            object = apply::record_update(
                None,
                &object,
                &options.manager,
                &kind.api_version(),
                None,
                &now(),
                &|path| list_type(kind, path),
            );
        }
        let mut allocator = normalize::Allocator {
            next_cluster_ip: &mut self.cluster_ips,
        };
        normalize::on_create(kind, &mut object, &mut allocator);
        normalize::stored_form(kind, &mut object);
        if events::is_event(kind) {
            events::encode(&mut object);
        }
        if options.dry_run {
            return Ok(object);
        }
        Ok(self.write(kind, namespace, &name, object, None))
    }

    /// PUT (and the end of every patch): replace the object, or its status.
    pub fn update(
        &mut self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        mut object: Value,
        part: Part,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        check_type(kind, &object)?;
        let current = self.get(kind, namespace, name)?;
        match meta_str(&object, "resourceVersion") {
            Some(rv) if Some(rv) != meta_str(&current, "resourceVersion") => {
                return Err(status::conflict(kind, name));
            }
            None if options.require_version && kind.custom => {
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
                    let managed = object["metadata"].get("managedFields").cloned();
                    let mut merged = current.clone();
                    if let Some(managed) = managed {
                        meta_mut(&mut merged).insert("managedFields".into(), managed);
                    }
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
        normalize::keep_allocated(kind, &current, &mut object);
        normalize::stored_form(kind, &mut object);
        if part == Part::Main {
            check_builtin(kind, name, &object, Some(&current))?;
        }
        if events::is_event(kind) {
            events::encode(&mut object);
        }
        let mut object = self.validate_custom(kind, name, object, Some(&current), options)?;
        if !options.applied {
            object = apply::record_update(
                Some(&current),
                &object,
                &options.manager,
                &kind.api_version(),
                (part == Part::Status).then_some("status"),
                &now(),
                &|path| list_type(kind, path),
            );
        }
        if normalize::tracks_generation(kind) && spec_part(&object) != spec_part(&current) {
            let generation = meta(&current)["generation"].as_i64().unwrap_or(1) + 1;
            meta_mut(&mut object).insert("generation".into(), json!(generation));
        }
        meta_mut(&mut object).insert(
            "resourceVersion".into(),
            meta(&current)["resourceVersion"].clone(),
        );
        if object == current || options.dry_run {
            // No change, no write: the resourceVersion stays.
            return Ok(if options.dry_run { object } else { current });
        }
        if terminating && finalizers(&object).is_empty() {
            return Ok(self.remove(kind, namespace, name, object));
        }
        Ok(self.write(kind, namespace, name, object, Some(current)))
    }

    /// DeleteOptions.preconditions: the uid and resourceVersion the caller expects.
    pub fn check_preconditions(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        preconditions: &Value,
    ) -> Result<(), ApiError> {
        let current = self.get(kind, namespace, name)?;
        for (field, label, hint) in [
            (
                "uid",
                "UID",
                "The object might have been deleted and then recreated",
            ),
            (
                "resourceVersion",
                "ResourceVersion",
                "The object might have been modified",
            ),
        ] {
            if let Some(expected) = preconditions[field].as_str() {
                let actual = meta_str(&current, field).unwrap_or_default();
                if expected != actual {
                    return Err(status::precondition_failed(
                        kind,
                        name,
                        format!(
                            "the {label} in the precondition ({expected}) does not match the {label} in record ({actual}). {hint}"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether a list at `resourceVersion` with `Exact` match can still be served.
    pub fn keeps(&self, revision: u64) -> bool {
        revision >= self.log_floor
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
        if kind.group.is_empty() && kind.plural == "namespaces" {
            return Ok(self.terminate_namespace(kind, name, object));
        }
        if is_crd(kind) && !self.custom_resources_of(&object).is_empty() {
            return Ok(self.terminate_crd(kind, name, object));
        }
        if pending.is_empty() {
            let uid = meta_str(&object, "uid").unwrap_or_default().to_string();
            self.remove(kind, namespace, name, object);
            return Ok(status::deleted(kind, name, &uid));
        }
        let previous = object.clone();
        if meta(&object).get("deletionTimestamp").is_none() {
            let generation = meta(&object)["generation"].as_i64().unwrap_or(1) + 1;
            let m = meta_mut(&mut object);
            m.insert("deletionTimestamp".into(), json!(now()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            if normalize::tracks_generation(kind) {
                m.insert("generation".into(), json!(generation));
            }
        }
        meta_mut(&mut object).insert("finalizers".into(), json!(pending));
        Ok(self.write(kind, namespace, name, object, Some(previous)))
    }

    /// One pass of the garbage collector and the namespace controller, as
    /// kube-controller-manager runs them: dependents of deleted owners go (background),
    /// foreground owners wait for their dependents, orphaning strips owner references,
    /// and terminating namespaces are emptied and then removed. Returns whether it wrote.
    pub fn collect_garbage(&mut self) -> bool {
        if !std::mem::take(&mut self.gc_pending) {
            return false;
        }
        let mut wrote = false;
        // Only what may need work is looked at again (a pass follows every write, so it
        // must not copy the store): objects being deleted, and dependents of an owner
        // that is gone.
        let candidates: Vec<(Key, Value)> = self
            .objects
            .iter()
            .filter(|((_, ns, _), o)| {
                let m = meta(o);
                let owner_here = |r: &Value| {
                    r["uid"]
                        .as_str()
                        .and_then(|uid| self.live_uids.get(uid))
                        .is_some_and(|owner_ns| owner_ns.is_empty() || owner_ns == ns)
                };
                // Deleting, held by a finalizer this pass acts on (others' finalizers,
                // like the product's, are theirs to remove).
                let acted_on = |f: &Value| {
                    matches!(
                        f.as_str(),
                        Some(
                            "foregroundDeletion"
                                | "orphan"
                                | PVC_PROTECTION
                                | PV_PROTECTION
                                | CRD_CLEANUP
                        )
                    )
                };
                let deleting = m.get("deletionTimestamp").is_some()
                    && (m["finalizers"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(acted_on))
                        || o["kind"] == "Namespace");
                deleting
                    || m["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| !refs.iter().any(owner_here))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for ((resource, ns, name), object) in candidates {
            let Some(kind) = self.kind_of(&resource, &object) else {
                continue;
            };
            // Still there? An earlier step of this pass may have removed it.
            let Ok(object) = self.get(&kind, &ns, &name) else {
                continue;
            };
            let uid = meta_str(&object, "uid").unwrap_or_default().to_string();
            let pending = finalizers(&object);
            let deleting = meta(&object).get("deletionTimestamp").is_some();
            if deleting && kind.group.is_empty() && kind.plural == "namespaces" {
                wrote |= self.empty_namespace(&kind, &name, object);
                continue;
            }
            if deleting && pending.iter().any(|f| f == CRD_CLEANUP) {
                wrote |= self.empty_crd(&kind, &name, object);
                continue;
            }
            // kube-controller-manager's pvc-protection and pv-protection controllers: a
            // claim goes once no pod uses it, a volume once no claim holds it.
            if deleting
                && pending.iter().any(|f| f == PVC_PROTECTION)
                && !self.claim_in_use(&ns, &name)
            {
                wrote |= self.release(&kind, &ns, &name, PVC_PROTECTION);
                continue;
            }
            if deleting && pending.iter().any(|f| f == PV_PROTECTION) && !self.volume_bound(&object)
            {
                wrote |= self.release(&kind, &ns, &name, PV_PROTECTION);
                continue;
            }
            if deleting && pending.iter().any(|f| f == "orphan") {
                self.orphan_dependents(&uid);
                wrote |= self.release(&kind, &ns, &name, "orphan");
                continue;
            }
            if deleting && pending.iter().any(|f| f == "foregroundDeletion") {
                let dependents = self.dependents_of(&uid);
                if dependents.is_empty() {
                    wrote |= self.release(&kind, &ns, &name, "foregroundDeletion");
                } else {
                    for (k, dns, dname) in dependents {
                        if let Some(dkind) = self.kind_by_resource(&k) {
                            wrote |= self.delete(&dkind, &dns, &dname, None).is_ok();
                        }
                    }
                }
                continue;
            }
            // A dependent all of whose owners are gone is deleted. A cluster-scoped
            // dependent naming a namespaced owner has an unresolvable reference: kept.
            let references = meta(&object)["ownerReferences"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if references.is_empty() || deleting {
                continue;
            }
            let unresolvable = ns.is_empty()
                && references.iter().any(|r| {
                    let api_version = r["apiVersion"].as_str().unwrap_or_default();
                    let (group, _) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                    self.registry
                        .kinds_named(group, r["kind"].as_str().unwrap_or_default())
                        .any(|k| k.namespaced)
                });
            let owner_alive = references.iter().any(|r| {
                r["uid"]
                    .as_str()
                    .and_then(|owner| self.live_uids.get(owner))
                    .is_some_and(|owner_ns| owner_ns.is_empty() || *owner_ns == ns)
            });
            if !unresolvable && !owner_alive {
                wrote |= self.delete(&kind, &ns, &name, None).is_ok();
            }
        }
        wrote
    }

    /// Whether a pod in `namespace` that has not finished mounts the claim `name`.
    fn claim_in_use(&self, namespace: &str, name: &str) -> bool {
        self.objects.iter().any(|((resource, ns, _), pod)| {
            resource == "/pods"
                && ns == namespace
                && !matches!(
                    pod["status"]["phase"].as_str(),
                    Some("Succeeded" | "Failed")
                )
                && pod["spec"]["volumes"].as_array().is_some_and(|volumes| {
                    volumes
                        .iter()
                        .any(|v| v["persistentVolumeClaim"]["claimName"] == json!(name))
                })
        })
    }

    /// Whether the claim a volume's claimRef names still exists.
    fn volume_bound(&self, volume: &Value) -> bool {
        let claim = &volume["spec"]["claimRef"];
        match (claim["namespace"].as_str(), claim["name"].as_str()) {
            (Some(ns), Some(name)) => self.objects.contains_key(&(
                "/persistentvolumeclaims".to_string(),
                ns.to_string(),
                name.to_string(),
            )),
            _ => false,
        }
    }

    /// Whether `kind` is still served (a custom resource stops being served with its CRD).
    pub fn serves(&self, kind: &Kind) -> bool {
        self.registry
            .find_resource(&kind.group, &kind.plural)
            .is_some()
    }

    fn kind_by_resource(&self, resource: &str) -> Option<Kind> {
        let (group, plural) = resource.split_once('/')?;
        self.registry.find_resource(group, plural).cloned()
    }

    fn kind_of(&self, resource: &str, object: &Value) -> Option<Kind> {
        let (group, plural) = resource.split_once('/')?;
        let version = object["apiVersion"]
            .as_str()
            .map(|v| v.rsplit('/').next().unwrap_or(v))
            .unwrap_or("v1");
        self.registry
            .find(group, version, plural)
            .or_else(|| self.registry.find_resource(group, plural))
            .cloned()
    }

    /// Keys of the objects that name `owner_uid` in their owner references.
    fn dependents_of(&self, owner_uid: &str) -> Vec<Key> {
        self.objects
            .iter()
            .filter(|(_, o)| {
                meta(o)["ownerReferences"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|r| r["uid"] == json!(owner_uid)))
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn orphan_dependents(&mut self, owner_uid: &str) {
        for (resource, ns, name) in self.dependents_of(owner_uid) {
            let Some(kind) = self.kind_by_resource(&resource) else {
                continue;
            };
            let Ok(mut object) = self.get(&kind, &ns, &name) else {
                continue;
            };
            let previous = object.clone();
            let m = meta_mut(&mut object);
            let kept: Vec<Value> = m
                .get("ownerReferences")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter(|r| r["uid"] != json!(owner_uid))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if kept.is_empty() {
                m.remove("ownerReferences");
            } else {
                m.insert("ownerReferences".into(), json!(kept));
            }
            self.write(&kind, &ns, &name, object, Some(previous));
        }
    }

    /// Remove one finalizer the server itself manages; the object goes when none is left.
    fn release(&mut self, kind: &Kind, namespace: &str, name: &str, finalizer: &str) -> bool {
        let Ok(mut object) = self.get(kind, namespace, name) else {
            return false;
        };
        let previous = object.clone();
        let left: Vec<String> = finalizers(&object)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        if left.is_empty() {
            meta_mut(&mut object).remove("finalizers");
            self.remove(kind, namespace, name, object);
        } else {
            meta_mut(&mut object).insert("finalizers".into(), json!(left));
            self.write(kind, namespace, name, object, Some(previous));
        }
        true
    }

    /// The keys of the custom resources a CRD serves.
    fn custom_resources_of(&self, crd: &Value) -> Vec<Key> {
        let resource = format!(
            "{}/{}",
            crd["spec"]["group"].as_str().unwrap_or_default(),
            crd["spec"]["names"]["plural"].as_str().unwrap_or_default()
        );
        self.objects
            .keys()
            .filter(|(r, _, _)| *r == resource)
            .cloned()
            .collect()
    }

    /// A CRD that still has custom resources is not removed at once: as the
    /// apiextensions-apiserver does, it gets the `customresourcecleanup` finalizer and the
    /// Terminating condition, its custom resources are deleted (each honouring its own
    /// finalizers), and it goes once none is left. Meanwhile no custom resource of it can
    /// be created.
    fn terminate_crd(&mut self, kind: &Kind, name: &str, mut object: Value) -> Value {
        if meta(&object).get("deletionTimestamp").is_some() {
            return object;
        }
        let previous = object.clone();
        let mut pending = finalizers(&object);
        pending.push(CRD_CLEANUP.into());
        let m = meta_mut(&mut object);
        m.insert("deletionTimestamp".into(), json!(now()));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
        m.insert("finalizers".into(), json!(pending));
        let terminating = json!({
            "type": "Terminating", "status": "True", "lastTransitionTime": now(),
            "reason": "InstanceDeletionInProgress",
            "message": "CustomResource deletion is in progress",
        });
        let conditions = object["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["type"] != "Terminating")
            .chain([terminating])
            .collect::<Vec<_>>();
        object["status"]["conditions"] = json!(conditions);
        self.write(kind, "", name, object, Some(previous))
    }

    /// The CRD finalizer's pass: delete its custom resources; once none is left, release
    /// the CRD (which removes it and its resource).
    fn empty_crd(&mut self, kind: &Kind, name: &str, object: Value) -> bool {
        let inside = self.custom_resources_of(&object);
        if inside.is_empty() {
            return self.release(kind, "", name, CRD_CLEANUP);
        }
        let mut wrote = false;
        for (resource, ns, cr) in inside {
            let Some(k) = self.kind_by_resource(&resource) else {
                continue;
            };
            let already = self
                .get(&k, &ns, &cr)
                .is_ok_and(|o| meta(&o).get("deletionTimestamp").is_some());
            if !already {
                wrote |= self.delete(&k, &ns, &cr, None).is_ok();
            }
        }
        wrote
    }

    /// Whether custom resources of `resource` (`group/plural`) may not be created now:
    /// their CRD is being deleted.
    pub fn crd_terminating(&self, group: &str, plural: &str) -> bool {
        self.objects.iter().any(|((r, _, _), o)| {
            r == "apiextensions.k8s.io/customresourcedefinitions"
                && o["spec"]["group"] == group
                && o["spec"]["names"]["plural"] == plural
                && meta(o).get("deletionTimestamp").is_some()
        })
    }

    /// Delete everything in a terminating namespace; remove it once it is empty.
    fn empty_namespace(&mut self, kind: &Kind, name: &str, object: Value) -> bool {
        let inside: Vec<Key> = self
            .objects
            .keys()
            .filter(|(_, ns, _)| ns == name)
            .cloned()
            .collect();
        if inside.is_empty() {
            self.remove(kind, "", name, object);
            return true;
        }
        let mut wrote = false;
        for (resource, ns, obj_name) in inside {
            let Some(k) = self.kind_by_resource(&resource) else {
                continue;
            };
            let already = self
                .get(&k, &ns, &obj_name)
                .is_ok_and(|o| meta(&o).get("deletionTimestamp").is_some());
            if !already {
                wrote |= self.delete(&k, &ns, &obj_name, None).is_ok();
            }
        }
        wrote | self.report_remaining(kind, name, object)
    }

    /// The namespace controller's conditions on a namespace that waits for its content:
    /// what remains (`NamespaceContentRemaining`) and which finalizers hold it
    /// (`NamespaceFinalizersRemaining`), as `kubectl describe namespace` shows them. Written
    /// only when they say something new.
    fn report_remaining(&mut self, kind: &Kind, name: &str, object: Value) -> bool {
        let mut resources: BTreeMap<String, usize> = BTreeMap::new();
        let mut held: BTreeMap<String, usize> = BTreeMap::new();
        for ((resource, _, _), o) in self.objects.iter().filter(|((_, ns, _), _)| ns == name) {
            let (group, plural) = resource.split_once('/').unwrap_or(("", resource));
            let shown = if group.is_empty() {
                plural.to_string()
            } else {
                format!("{plural}.{group}")
            };
            *resources.entry(shown).or_default() += 1;
            for f in finalizers(o) {
                *held.entry(f).or_default() += 1;
            }
        }
        if resources.is_empty() {
            return false;
        }
        let list = |counts: &BTreeMap<String, usize>, what: &str| {
            counts
                .iter()
                .map(|(k, n)| format!("{k} {what} {n} resource instances"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut wanted = vec![json!({
            "type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
            "message": format!("Some resources are remaining: {}", list(&resources, "has")),
        })];
        if !held.is_empty() {
            wanted.push(json!({
                "type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
                "message": format!("Some content in the namespace has finalizers remaining: {}", list(&held, "in")),
            }));
        }
        let said = |c: &Value| json!([c["type"], c["status"], c["reason"], c["message"]]);
        let current: Vec<Value> = (object["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten())
        .map(said)
        .collect();
        if current == wanted.iter().map(said).collect::<Vec<_>>() {
            return false;
        }
        let previous = object.clone();
        let mut object = object;
        for c in &mut wanted {
            c["lastTransitionTime"] = json!(now());
        }
        object["status"]["conditions"] = json!(wanted);
        self.write(kind, "", name, object, Some(previous));
        true
    }

    /// A namespace is marked Terminating; the garbage collector empties and removes it.
    fn terminate_namespace(&mut self, kind: &Kind, name: &str, mut object: Value) -> Value {
        if meta(&object).get("deletionTimestamp").is_some() {
            return object;
        }
        let previous = object.clone();
        meta_mut(&mut object).insert("deletionTimestamp".into(), json!(now()));
        object["status"] = json!({"phase": "Terminating"});
        self.write(kind, "", name, object, Some(previous))
    }

    /// Take an object out of the store, with a DELETED change at a new revision.
    fn remove(&mut self, kind: &Kind, namespace: &str, name: &str, mut object: Value) -> Value {
        self.objects.remove(&key(kind, namespace, name));
        if let Some(uid) = meta_str(&object, "uid") {
            self.live_uids.remove(uid);
        }
        let rv = self.next_revision();
        meta_mut(&mut object).insert("resourceVersion".into(), json!(rv));
        if kind.group == "apiextensions.k8s.io" {
            let spec = &object["spec"];
            let (group, plural) = (
                spec["group"].as_str().unwrap_or_default().to_string(),
                spec["names"]["plural"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            // The CRD's custom resources go with it.
            let resource = format!("{group}/{plural}");
            self.objects.retain(|(r, _, _), _| *r != resource);
            self.live_uids = self
                .objects
                .iter()
                .filter_map(|((_, ns, _), o)| Some((meta_str(o, "uid")?.to_string(), ns.clone())))
                .collect();
            self.registry.unregister_crd(&group, &plural);
            self.validators
                .retain(|k, _| !k.starts_with(&format!("{group}/")));
        }
        self.record(Change {
            revision: self.revision,
            resource: resource_key(kind),
            namespace: namespace_of(kind, namespace),
            change: ChangeType::Deleted,
            object: object.clone(),
            previous: None,
        });
        object
    }

    /// Store a new state of an object under a fresh resourceVersion; a CRD's state also
    /// (re)defines what the server serves.
    fn write(
        &mut self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        mut object: Value,
        previous: Option<Value>,
    ) -> Value {
        let rv = self.next_revision();
        meta_mut(&mut object).insert("resourceVersion".into(), json!(rv));
        if kind.group == "apiextensions.k8s.io" {
            self.registry.register_crd(&object);
            let group = object["spec"]["group"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.validators
                .retain(|k, _| !k.starts_with(&format!("{group}/")));
        }
        if let Some(uid) = meta_str(&object, "uid") {
            self.live_uids
                .insert(uid.to_string(), namespace_of(kind, namespace));
        }
        self.objects
            .insert(key(kind, namespace, name), object.clone());
        self.record(Change {
            revision: self.revision,
            resource: resource_key(kind),
            namespace: namespace_of(kind, namespace),
            change: if previous.is_some() {
                ChangeType::Modified
            } else {
                ChangeType::Added
            },
            object: object.clone(),
            previous,
        });
        object
    }

    /// Custom resources: unknown fields per `fieldValidation`, schema defaults, then the
    /// schema and CEL rules (transition rules against `old`).
    fn validate_custom(
        &mut self,
        kind: &Kind,
        name: &str,
        mut object: Value,
        old: Option<&Value>,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let Some(validator) = self.validator(kind) else {
            return Ok(object);
        };
        let unknown = validator.unknown_fields(&object);
        if !unknown.is_empty() {
            match options.field_validation {
                FieldValidation::Strict => {
                    return Err(status::bad_request(format!(
                        "{kind_name} in version {version:?} cannot be handled as a {kind_name}: strict decoding error: {fields}",
                        kind_name = kind.kind,
                        version = kind.version,
                        fields = unknown
                            .iter()
                            .map(|f| format!("unknown field {f:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                FieldValidation::Warn => self
                    .warnings
                    .extend(unknown.iter().map(|f| format!("unknown field {f:?}"))),
                FieldValidation::Ignore => {}
            }
            validator.prune(&mut object);
        }
        let object = validator.with_defaults(&object);
        let causes = validator.validate(&object, old);
        if causes.is_empty() {
            Ok(object)
        } else {
            Err(status::invalid(
                kind,
                name,
                causes
                    .into_iter()
                    .map(|c| (c.reason.to_string(), c.field, c.message))
                    .collect(),
            ))
        }
    }

    /// Why an applied configuration cannot be typed against a custom resource's schema
    /// (an undeclared field, a value of the wrong type), in the API server's words.
    pub fn untyped_field(&mut self, kind: &Kind, object: &Value) -> Option<String> {
        let validator = self.validator(kind)?;
        if let Some(field) = validator.unknown_fields(object).first() {
            return Some(format!(".{field}: field not declared in schema"));
        }
        mistyped(kind.schema.as_ref()?, object, "")
    }

    fn validator(&mut self, kind: &Kind) -> Option<Arc<SchemaValidator>> {
        let schema = kind.schema.as_ref()?;
        let cache_key = format!("{}/{}/{}", kind.group, kind.version, kind.plural);
        if let Some(v) = self.validators.get(&cache_key) {
            return Some(v.clone());
        }
        let compiled =
            Arc::new(SchemaValidator::new(schema, &kind.api_version(), &kind.kind).ok()?);
        self.validators.insert(cache_key, compiled.clone());
        Some(compiled)
    }
}

/// The first value whose JSON type differs from its schema's `type`.
fn mistyped(schema: &Value, value: &Value, path: &str) -> Option<String> {
    let expected = schema["type"].as_str();
    let fits = match (expected, value) {
        (_, Value::Null) | (None, _) => true,
        (Some("string"), Value::String(_)) | (Some("boolean"), Value::Bool(_)) => true,
        (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
        (Some("number"), Value::Number(_)) => true,
        (Some("object"), Value::Object(_)) | (Some("array"), Value::Array(_)) => true,
        _ => schema["x-kubernetes-int-or-string"] == json!(true),
    };
    if !fits {
        let shown = match value {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        return Some(format!(
            "{path}: expected {}, got &value.valueUnstructured{{Value:{shown}}}",
            expected.unwrap_or_default()
        ));
    }
    match value {
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let child = schema["properties"]
                .get(k)
                .or(schema.get("additionalProperties"))?;
            if path.is_empty() && matches!(k.as_str(), "metadata" | "apiVersion" | "kind") {
                return None;
            }
            mistyped(child, v, &format!("{path}.{k}"))
        }),
        Value::Array(items) => items
            .iter()
            .find_map(|item| mistyped(&schema["items"], item, &format!("{path}[]"))),
        _ => None,
    }
}

/// How server-side apply identifies list items at `path`: from a custom resource's schema
/// (`x-kubernetes-list-type`, `x-kubernetes-map-type`), else the built-ins' known keys.
pub fn list_type(kind: &Kind, path: &[String]) -> ListType {
    let Some(schema) = &kind.schema else {
        return match path
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            [.., "containers" | "initContainers", "ports"] => {
                ListType::Map(vec!["containerPort".into(), "protocol".into()])
            }
            ["spec", "ports"] => ListType::Map(vec!["port".into(), "protocol".into()]),
            // A PV's claimRef is `+structType=granular`: the binder owns its uid and
            // resourceVersion, an applier the rest (transcript 15's conflict names them).
            _ => apply::well_known_list_type(path),
        };
    };
    let mut node = schema;
    for (i, segment) in path.iter().enumerate() {
        let Some(child) = node["properties"].get(segment) else {
            return ListType::Atomic;
        };
        node = child;
        if i + 1 < path.len() && node["type"] == json!("array") {
            node = &node["items"];
        }
    }
    match (
        node["x-kubernetes-list-type"].as_str(),
        node["x-kubernetes-map-type"].as_str(),
    ) {
        (Some("map"), _) => ListType::Map(
            node["x-kubernetes-list-map-keys"]
                .as_array()
                .map(|keys| {
                    keys.iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        (Some("set"), _) => ListType::Set,
        (_, Some("atomic")) => ListType::AtomicMap,
        _ => ListType::Atomic,
    }
}

/// The time format of managedFields and timestamps.
pub fn timestamp() -> String {
    now()
}

fn namespace_of(kind: &Kind, namespace: &str) -> String {
    if kind.namespaced {
        namespace.to_string()
    } else {
        String::new()
    }
}

/// Object names: a DNS-1123 subdomain (the API server's check for most kinds).
fn check_name(kind: &Kind, name: &str) -> Result<(), ApiError> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && l.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    // Event names carry a `.` and a hex suffix; still a subdomain.
    if name.len() <= 253 && name.split('.').all(label_ok) {
        return Ok(());
    }
    Err(status::invalid(
        kind,
        name,
        vec![(
            "FieldValueInvalid".into(),
            "metadata.name".into(),
            format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ),
        )],
    ))
}

/// What the built-in kinds' validation refuses (see [`validation`]): a 422 naming each
/// invalid field.
fn check_builtin(
    kind: &Kind,
    name: &str,
    object: &Value,
    current: Option<&Value>,
) -> Result<(), ApiError> {
    let causes = validation::causes(kind, object, current);
    if causes.is_empty() {
        Ok(())
    } else {
        Err(status::invalid(kind, name, causes))
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

/// What admission adds to a custom resource definition (its status, at once Established).
/// Built-in kinds: see [`normalize`].
fn admit(kind: &Kind, object: &mut Value) {
    if let ("apiextensions.k8s.io", "customresourcedefinitions") =
        (kind.group.as_str(), kind.plural.as_str())
    {
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
}
