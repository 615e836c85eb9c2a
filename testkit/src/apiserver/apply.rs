//! Server-side apply (SSA) and `metadata.managedFields` bookkeeping, as pure functions.
//!
//! A small port of what kube-apiserver does with sigs.k8s.io/structured-merge-diff
//! (field sets, merge, prune, conflicts), checked against the recorded answers of a
//! real kube-apiserver 1.32 in `shared/api-transcripts/05-server-side-apply.jsonl`
//! (README findings 26–32). There is no OpenAPI schema here: the caller says which
//! lists are sets or maps (and which objects are atomic) through [`ListTypes`].
//!
//! Field sets follow structured-merge-diff:
//! * an Apply owns the leaves it sent, plus each map-list / set item it sent
//!   (`k:{"name":"app"}`, `v:"x"`); objects themselves are never owned by an Apply;
//! * an Update owns every path it added or changed, including new objects and lists
//!   (shown as `".": {}` in `fieldsV1`);
//! * `apiVersion`, `kind`, `metadata` itself and the server-owned metadata fields
//!   (`name`, `namespace`, `uid`, `resourceVersion`, `generation`,
//!   `creationTimestamp`, `managedFields`, ...) are never owned by anybody;
//! * `status` is ignored on the main resource, and only `status` counts on `/status`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

/// How list items are identified under a path (Kubernetes list-map keys / sets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole and owned as one leaf (`x-kubernetes-list-type: atomic`, the default).
    Atomic,
    /// Scalar items, each owned on its own as `v:<json>` (`x-kubernetes-list-type: set`).
    Set,
    /// Object items identified by these key fields, owned as `k:{...}` (`x-kubernetes-list-type: map`).
    Map(Vec<String>),
    /// Not a list: the *object* at this path is atomic (`x-kubernetes-map-type: atomic`,
    /// `+structType=atomic`, e.g. a Deployment's `spec.selector`). It is replaced as a whole
    /// and owned as one leaf (`f:selector: {}`). Objects at every other path are granular.
    AtomicMap,
}

/// Tells the apply code the list type at a field path like ["spec","template","spec","containers"].
/// Paths contain only field names (list items are skipped). Unknown paths: Atomic.
///
/// `metadata.finalizers` (a set) and `metadata.ownerReferences` (a map keyed by `uid`, with
/// atomic items) are built in and need not be answered.
pub type ListTypes<'a> = &'a dyn Fn(&[String]) -> ListType;

/// List types of common built-in fields, usable as (or from) a [`ListTypes`] closure:
/// containers, volumes and env by name, volume mounts by mount path, `status.conditions`
/// by type, and `spec.selector` as an atomic object. Everything else: [`ListType::Atomic`].
pub fn well_known_list_type(path: &[String]) -> ListType {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let by = |k: &str| ListType::Map(vec![k.to_string()]);
    match p.as_slice() {
        ["spec", "selector"] => ListType::AtomicMap,
        // An Event's object references are `+structType=atomic` (transcript 09).
        ["involvedObject" | "regarding" | "related"] => ListType::AtomicMap,
        // `+structType=atomic` selectors (transcript 15: `f:secretKeyRef: {}`).
        [
            ..,
            "valueFrom",
            "secretKeyRef" | "configMapKeyRef" | "fieldRef" | "resourceFieldRef",
        ] => ListType::AtomicMap,
        ["status", "conditions"] => by("type"),
        [.., "containers" | "initContainers" | "ephemeralContainers"] => by("name"),
        [.., "spec", "volumes"] => by("name"),
        [
            ..,
            "containers" | "initContainers" | "ephemeralContainers",
            "env",
        ] => by("name"),
        [
            ..,
            "containers" | "initContainers" | "ephemeralContainers",
            "volumeMounts",
        ] => by("mountPath"),
        [.., "spec", "imagePullSecrets"] => by("name"),
        _ => ListType::Atomic,
    }
}

/// One conflicting field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    /// e.g. `.data.a` or `.spec.template.spec.containers[name="app"].image`
    pub field: String,
    /// Some(apiVersion) when the owner used Update
    pub operation_update_api_version: Option<String>,
}

impl Conflict {
    /// How the API server names the owner: `"mgr-a"`, or `"kubectl-patch" using v1` for an Update.
    pub fn manager_text(&self) -> String {
        match &self.operation_update_api_version {
            Some(v) => format!("{} using {v}", quote(&self.manager)),
            None => quote(&self.manager),
        }
    }

    /// The `message` of this conflict's `details.causes[]` entry: `conflict with "mgr-a"`.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_text())
    }

    /// This conflict's `details.causes[]` entry of the 409 Status:
    /// `{"reason":"FieldManagerConflict","message":"conflict with \"mgr-a\"","field":".data.a"}`.
    pub fn cause(&self) -> Value {
        let mut m = Map::new();
        m.insert("reason".into(), "FieldManagerConflict".into());
        m.insert("message".into(), self.cause_message().into());
        m.insert("field".into(), self.field.clone().into());
        Value::Object(m)
    }

    /// The manager identifier the API server sorts conflict groups by.
    fn identifier(&self) -> String {
        match &self.operation_update_api_version {
            Some(v) => manager_identifier(&self.manager, UPDATE, v, None),
            None => manager_identifier(&self.manager, APPLY, "", None),
        }
    }
}

/// Server-side apply of `applied` by `manager` onto `current` (None = create).
///
/// `subresource` is None or Some("status"). Returns the new object with
/// `metadata.managedFields` updated, or the conflicts (sorted by field, as the API server
/// lists them in `details.causes`) when `!force`. An apply that changes neither the object
/// nor the field ownership returns a clone of `current`, so the caller can skip the write
/// (no new resourceVersion, finding 26). The manager's `time` moves to `now` only when the
/// object changed; a manager that owns nothing disappears from `managedFields`.
///
/// For the manager `kubectl` only (as in kube-apiserver), conflicts on fields whose live
/// value still equals the client-side `kubectl.kubernetes.io/last-applied-configuration`
/// are not reported, and that annotation, when present, is rewritten to the applied object.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    current: Option<&Value>,
    applied: &Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    force: bool,
    now: &str,
    list_types: ListTypes,
) -> Result<Value, Vec<Conflict>> {
    let ctx = Ctx { list_types };
    let live = current.map_or_else(|| Value::Object(Map::new()), strip_managed_fields);
    let original = current.map(entries_of).unwrap_or_default();
    let mut entries = original.clone();

    // An existing object that never had managedFields: its fields go to "before-first-apply".
    if current.is_some() && entries.is_empty() {
        let base = empty_object_like(&live, api_version);
        let diff = ctx.diff(&base, &live, subresource);
        let set: FieldSet = diff.added.union(&diff.modified).cloned().collect();
        if !set.is_empty() {
            entries.push(Entry {
                manager: "before-first-apply".into(),
                operation: UPDATE.into(),
                api_version: api_version.into(),
                time: Some(now.into()),
                subresource: subresource.map(String::from),
                set,
            });
        }
    }

    let config = apply_config(applied, subresource);
    let op = Op {
        manager,
        api_version,
        subresource,
        now,
    };
    let mut outcome = ctx.apply_once(&live, &entries, &config, &op, force);
    // kube-apiserver's lastAppliedManager: `kubectl apply --server-side` may take over
    // fields whose live value is still what the client-side last-applied annotation says.
    if manager == KUBECTL
        && let Err(conflicts) = &outcome
        && let Some(allowed) = ctx.last_applied_fields(&live, api_version)
    {
        let rest: Vec<FoundConflict> = conflicts
            .iter()
            .filter(|c| !allowed.contains(&c.path))
            .cloned()
            .collect();
        outcome = if rest.is_empty() {
            ctx.apply_once(&live, &entries, &config, &op, true)
        } else {
            Err(rest)
        };
    }
    let (mut merged, mut entries) =
        outcome.map_err(|cs| cs.into_iter().map(|c| c.conflict).collect::<Vec<_>>())?;
    if manager == KUBECTL {
        sync_last_applied(&mut merged, applied);
    }
    cap_update_managers(&mut entries);
    sort_entries(&mut entries);

    if let Some(cur) = current {
        let mut before = original;
        sort_entries(&mut before);
        if merged == live && before == entries {
            return Ok(cur.clone());
        }
    }
    Ok(with_managed_fields(merged, &entries))
}

/// Record a non-apply write (POST/PUT/PATCH) by `manager` (operation "Update"): the fields
/// that changed between `old` (None on create) and `new` become owned by that manager and
/// are removed from other managers' sets (Update never conflicts). Returns `new` with managedFields updated.
///
/// As in kube-apiserver: `managedFields` sent in `new` replace the stored ones (not on a
/// subresource); `managedFields: []` resets them, and an existing object without
/// managedFields stays untracked.
pub fn record_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
    list_types: ListTypes,
) -> Value {
    let ctx = Ctx { list_types };
    let new_obj = strip_managed_fields(new);
    let stored = old.map(entries_of).unwrap_or_default();
    let sent = new.pointer("/metadata/managedFields");
    let mut entries = if subresource.is_some() {
        stored
    } else if sent.is_some_and(is_reset) {
        Vec::new()
    } else {
        match sent.and_then(parse_entries) {
            Some(e) if !e.is_empty() => e,
            _ => stored,
        }
    };
    if entries.is_empty() && old.is_some() {
        return new_obj;
    }

    let base = old.map_or_else(
        || empty_object_like(&new_obj, api_version),
        strip_managed_fields,
    );
    let diff = ctx.diff(&base, &new_obj, subresource);
    let changed: FieldSet = diff.added.union(&diff.modified).cloned().collect();
    for e in entries.iter_mut() {
        e.set
            .retain(|p| !changed.contains(p) && !diff.removed.contains(p));
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.is(manager, UPDATE, api_version, subresource))
        {
            Some(e) => {
                e.set.extend(changed);
                e.time = Some(now.into());
            }
            None => entries.push(Entry {
                manager: manager.into(),
                operation: UPDATE.into(),
                api_version: api_version.into(),
                time: Some(now.into()),
                subresource: subresource.map(String::from),
                set: changed,
            }),
        }
    }
    entries.retain(|e| !e.set.is_empty());
    cap_update_managers(&mut entries);
    sort_entries(&mut entries);
    with_managed_fields(new_obj, &entries)
}

/// The API server's 409 message for conflicts, e.g.
/// `Apply failed with 1 conflict: conflict with "mgr-a": .data.a`, or for several
/// (grouped by owner, owners sorted):
/// `Apply failed with 3 conflicts: conflicts with "kubectl-patch" using v1:\n- .data.d\nconflicts with "mgr-a":\n- .data.e\n...`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager_text(),
            c.field
        );
    }
    let mut groups: BTreeMap<String, (String, Vec<&str>)> = BTreeMap::new();
    for c in conflicts {
        groups
            .entry(c.identifier())
            .or_insert_with(|| (c.manager_text(), Vec::new()))
            .1
            .push(&c.field);
    }
    let mut lines = Vec::new();
    for (text, fields) in groups.values() {
        lines.push(format!("conflicts with {text}:"));
        for f in fields {
            lines.push(format!("- {f}"));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

// ---------------------------------------------------------------------------------------
// Paths and field sets

/// A JSON value with structured-merge-diff's ordering (numbers < strings < bools < others).
#[derive(Clone, Debug)]
struct Scalar(Value);

fn rank(v: &Value) -> u8 {
    match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
        Value::Null => 5,
    }
}

fn value_cmp(a: &Value, b: &Value) -> Ordering {
    rank(a)
        .cmp(&rank(b))
        .then_with(|| match (a, b) {
            (Value::Number(x), Value::Number(y)) => x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(Ordering::Equal),
            (Value::String(x), Value::String(y)) => x.cmp(y),
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            _ => Ordering::Equal,
        })
        .then_with(|| a.to_string().cmp(&b.to_string()))
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scalar {}
impl PartialOrd for Scalar {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scalar {
    fn cmp(&self, other: &Self) -> Ordering {
        value_cmp(&self.0, &other.0)
    }
}

/// One step of a field path (structured-merge-diff's PathElement, in its order).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Pe {
    Field(String),
    /// Key fields of a map-list item, sorted by name.
    Key(Vec<(String, Scalar)>),
    /// A set item.
    Value(Scalar),
    Index(usize),
}

type Path = Vec<Pe>;
type FieldSet = BTreeSet<Path>;

impl Pe {
    fn fields_v1_key(&self) -> String {
        match self {
            Pe::Field(f) => format!("f:{f}"),
            Pe::Key(pairs) => {
                let m: Map<String, Value> = pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect();
                format!("k:{}", Value::Object(m))
            }
            Pe::Value(v) => format!("v:{}", v.0),
            Pe::Index(i) => format!("i:{i}"),
        }
    }

    fn parse(key: &str) -> Option<Pe> {
        let (kind, rest) = key.split_at_checked(2)?;
        match kind {
            "f:" => Some(Pe::Field(rest.to_string())),
            "v:" => serde_json::from_str(rest)
                .ok()
                .map(|v| Pe::Value(Scalar(v))),
            "k:" => {
                let m: Map<String, Value> = serde_json::from_str(rest).ok()?;
                Some(Pe::Key(
                    m.into_iter().map(|(k, v)| (k, Scalar(v))).collect(),
                ))
            }
            "i:" => rest.parse().ok().map(Pe::Index),
            _ => None,
        }
    }

    /// The conflict-message form: `.image`, `[name="app"]`, `[="x"]`, `[0]`.
    fn text(&self) -> String {
        match self {
            Pe::Field(f) => format!(".{f}"),
            Pe::Key(pairs) => {
                let parts: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_text(&v.0)))
                    .collect();
                format!("[{}]", parts.join(","))
            }
            Pe::Value(v) => format!("[={}]", value_text(&v.0)),
            Pe::Index(i) => format!("[{i}]"),
        }
    }
}

fn path_text(p: &[Pe]) -> String {
    p.iter().map(Pe::text).collect()
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_text).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", value_text(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        other => other.to_string(),
    }
}

#[derive(Default)]
struct Node {
    member: bool,
    children: BTreeMap<Pe, Node>,
}

/// Serialize a field set as `fieldsV1` (`".": {}` marks a path that is owned and has children).
fn fields_v1(set: &FieldSet) -> Value {
    let mut root = Node::default();
    for p in set {
        let mut n = &mut root;
        for pe in p {
            n = n.children.entry(pe.clone()).or_default();
        }
        n.member = true;
    }
    fn json(n: &Node) -> Value {
        let mut m = Map::new();
        if n.member && !n.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (pe, c) in &n.children {
            m.insert(pe.fields_v1_key(), json(c));
        }
        Value::Object(m)
    }
    json(&root)
}

fn parse_fields_v1(v: &Value) -> FieldSet {
    fn walk(v: &Value, path: &mut Path, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        if m.is_empty() && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, c) in m {
            if k == "." {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            } else if let Some(pe) = Pe::parse(k) {
                path.push(pe);
                walk(c, path, out);
                path.pop();
            }
        }
    }
    let mut out = FieldSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// The set plus every proper prefix that ends in a field name (structured-merge-diff's
/// "named fields are members"), except `metadata` itself.
fn with_field_prefixes(set: &FieldSet) -> FieldSet {
    let mut out = set.clone();
    for p in set {
        for i in 1..p.len() {
            if matches!(p[i - 1], Pe::Field(_)) && !(i == 1 && p[0] == Pe::Field("metadata".into()))
            {
                out.insert(p[..i].to_vec());
            }
        }
    }
    out
}

/// Paths nobody owns: type meta, server-owned metadata, and the fields the
/// (sub)resource resets (`status` on the main resource, `spec` on `/status`).
fn is_ignored(path: &[Pe], subresource: Option<&str>) -> bool {
    let field = |i: usize| match path.get(i) {
        Some(Pe::Field(f)) => Some(f.as_str()),
        _ => None,
    };
    match field(0) {
        Some("apiVersion" | "kind") => path.len() == 1,
        Some("metadata") => {
            path.len() == 1
                || field(1) == Some("managedFields")
                || (path.len() == 2
                    && matches!(
                        field(1),
                        Some(
                            "name"
                                | "namespace"
                                | "uid"
                                | "resourceVersion"
                                | "generation"
                                | "creationTimestamp"
                                | "selfLink"
                                | "clusterName"
                                | "deletionTimestamp"
                                | "deletionGracePeriodSeconds"
                        )
                    ))
        }
        Some("status") => subresource.is_none(),
        Some("spec") => subresource == Some("status"),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Walking objects

#[derive(Default)]
struct Diff {
    added: FieldSet,
    modified: FieldSet,
    removed: FieldSet,
}

struct Ctx<'a> {
    list_types: ListTypes<'a>,
}

fn fpath_is(fpath: &[String], want: &[&str]) -> bool {
    fpath.len() == want.len() && fpath.iter().zip(want).all(|(a, b)| a == b)
}

impl Ctx<'_> {
    fn list_type(&self, fpath: &[String]) -> ListType {
        if fpath_is(fpath, &["metadata", "finalizers"]) {
            ListType::Set
        } else if fpath_is(fpath, &["metadata", "ownerReferences"]) {
            ListType::Map(vec!["uid".into()])
        } else if fpath.len() >= 2 && fpath[0] == "metadata" && fpath[1] == "managedFields" {
            ListType::Atomic
        } else {
            (self.list_types)(fpath)
        }
    }

    /// Set or map list at this path (None: atomic).
    fn granular_list(&self, fpath: &[String]) -> Option<ListType> {
        match self.list_type(fpath) {
            lt @ (ListType::Set | ListType::Map(_)) => Some(lt),
            _ => None,
        }
    }

    fn atomic_object(&self, path: &[Pe], fpath: &[String]) -> bool {
        match path.last() {
            None => false,
            // Items of a map list: atomic only for ownerReferences (structType=atomic).
            Some(Pe::Key(_)) => fpath_is(fpath, &["metadata", "ownerReferences"]),
            Some(Pe::Value(_)) => true,
            _ => self.list_type(fpath) == ListType::AtomicMap,
        }
    }

    fn item_pe(lt: &ListType, item: &Value) -> Pe {
        if let (ListType::Map(keys), Some(obj)) = (lt, item.as_object()) {
            let mut pairs: Vec<(String, Scalar)> = keys
                .iter()
                .filter_map(|k| obj.get(k).map(|v| (k.clone(), Scalar(v.clone()))))
                .collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            if !pairs.is_empty() {
                return Pe::Key(pairs);
            }
        }
        Pe::Value(Scalar(item.clone()))
    }

    /// Items by path element (the first of duplicates wins).
    fn index<'v>(lt: &ListType, items: &'v [Value]) -> BTreeMap<Pe, &'v Value> {
        let mut out = BTreeMap::new();
        for item in items {
            out.entry(Self::item_pe(lt, item)).or_insert(item);
        }
        out
    }

    /// The set an Apply of `v` owns: leaves and list items, not objects.
    fn owned(&self, v: &Value, path: &mut Path, fpath: &mut Vec<String>, out: &mut FieldSet) {
        match v {
            // An empty map applied (`data: {}`) is owned as the field itself.
            Value::Object(m) if m.is_empty() && !path.is_empty() => {
                out.insert(path.clone());
            }
            Value::Object(m) if !self.atomic_object(path, fpath) => {
                for (k, c) in m {
                    if c.is_null() {
                        continue;
                    }
                    path.push(Pe::Field(k.clone()));
                    fpath.push(k.clone());
                    self.owned(c, path, fpath, out);
                    path.pop();
                    fpath.pop();
                }
            }
            Value::Array(items) if self.granular_list(fpath).is_some() => {
                let lt = self.list_type(fpath);
                for item in items {
                    path.push(Self::item_pe(&lt, item));
                    out.insert(path.clone());
                    if matches!(lt, ListType::Map(_)) && item.is_object() {
                        self.owned(item, path, fpath, out);
                    }
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        }
    }

    /// `path` and every path below it.
    fn all_paths(&self, v: &Value, path: &mut Path, fpath: &mut Vec<String>, out: &mut FieldSet) {
        if !path.is_empty() {
            out.insert(path.clone());
        }
        match v {
            Value::Object(m) if !self.atomic_object(path, fpath) => {
                for (k, c) in m {
                    path.push(Pe::Field(k.clone()));
                    fpath.push(k.clone());
                    self.all_paths(c, path, fpath, out);
                    path.pop();
                    fpath.pop();
                }
            }
            Value::Array(items) => {
                if let Some(lt) = self.granular_list(fpath) {
                    for item in items {
                        path.push(Self::item_pe(&lt, item));
                        self.all_paths(item, path, fpath, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }

    /// Added / modified / removed paths from `l` to `r`, without the ignored ones.
    fn diff(&self, l: &Value, r: &Value, subresource: Option<&str>) -> Diff {
        let mut d = Diff::default();
        self.compare(l, r, &mut Vec::new(), &mut Vec::new(), &mut d);
        for s in [&mut d.added, &mut d.modified, &mut d.removed] {
            s.retain(|p| !is_ignored(p, subresource));
        }
        d
    }

    fn compare(
        &self,
        l: &Value,
        r: &Value,
        path: &mut Path,
        fpath: &mut Vec<String>,
        d: &mut Diff,
    ) {
        match (l, r) {
            (Value::Object(lm), Value::Object(rm)) if !self.atomic_object(path, fpath) => {
                for (k, lv) in lm {
                    path.push(Pe::Field(k.clone()));
                    fpath.push(k.clone());
                    match rm.get(k) {
                        Some(rv) => self.compare(lv, rv, path, fpath, d),
                        None => self.all_paths(lv, path, fpath, &mut d.removed),
                    }
                    path.pop();
                    fpath.pop();
                }
                for (k, rv) in rm {
                    if !lm.contains_key(k) {
                        path.push(Pe::Field(k.clone()));
                        fpath.push(k.clone());
                        self.all_paths(rv, path, fpath, &mut d.added);
                        path.pop();
                        fpath.pop();
                    }
                }
            }
            (Value::Array(la), Value::Array(ra)) if self.granular_list(fpath).is_some() => {
                let lt = self.list_type(fpath);
                let li = Self::index(&lt, la);
                let ri = Self::index(&lt, ra);
                for (pe, lv) in &li {
                    path.push(pe.clone());
                    match ri.get(pe) {
                        Some(rv) => self.compare(lv, rv, path, fpath, d),
                        None => self.all_paths(lv, path, fpath, &mut d.removed),
                    }
                    path.pop();
                }
                for (pe, rv) in &ri {
                    if !li.contains_key(pe) {
                        path.push(pe.clone());
                        self.all_paths(rv, path, fpath, &mut d.added);
                        path.pop();
                    }
                }
            }
            _ if l == r => {}
            // A nil slice or map encoded as null (a field without omitempty, like a pod's
            // containers) is there already: only what is inside it is new.
            (Value::Null, Value::Array(_)) if self.granular_list(fpath).is_some() => {
                self.compare(&Value::Array(Vec::new()), r, path, fpath, d);
            }
            _ => {
                if !path.is_empty() {
                    d.modified.insert(path.clone());
                }
                // A type change: what was below the old value is gone, the new one is added.
                let mut below = FieldSet::new();
                self.all_paths(l, path, fpath, &mut below);
                below.remove(path.as_slice());
                d.removed.extend(below);
                let mut below = FieldSet::new();
                self.all_paths(r, path, fpath, &mut below);
                below.remove(path.as_slice());
                d.added.extend(below);
            }
        }
    }

    /// structured-merge-diff's merge of an applied configuration into the live object.
    fn merge(&self, l: &Value, r: &Value, path: &mut Path, fpath: &mut Vec<String>) -> Value {
        match (l, r) {
            (Value::Object(lm), Value::Object(rm)) if !self.atomic_object(path, fpath) => {
                let mut out = lm.clone();
                for (k, rv) in rm {
                    let v = match lm.get(k) {
                        Some(lv) => {
                            path.push(Pe::Field(k.clone()));
                            fpath.push(k.clone());
                            let v = self.merge(lv, rv, path, fpath);
                            path.pop();
                            fpath.pop();
                            v
                        }
                        None => rv.clone(),
                    };
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
            (Value::Array(la), Value::Array(ra)) if self.granular_list(fpath).is_some() => {
                let lt = self.list_type(fpath);
                Value::Array(self.merge_list(&lt, la, ra, path, fpath))
            }
            _ => r.clone(),
        }
    }

    fn merge_item(
        &self,
        lt: &ListType,
        pe: &Pe,
        l: Option<&Value>,
        r: &Value,
        path: &mut Path,
        fpath: &mut Vec<String>,
    ) -> Value {
        match (lt, l) {
            (ListType::Map(_), Some(l)) => {
                path.push(pe.clone());
                let v = self.merge(l, r, path, fpath);
                path.pop();
                v
            }
            _ => r.clone(),
        }
    }

    /// The item order of structured-merge-diff: live items keep their places, applied
    /// items shared with the live list come in the applied order, new ones are inserted
    /// where they appear in the applied list (so appended after the last shared item).
    fn merge_list(
        &self,
        lt: &ListType,
        l: &[Value],
        r: &[Value],
        path: &mut Path,
        fpath: &mut Vec<String>,
    ) -> Vec<Value> {
        let lpes: Vec<Pe> = l.iter().map(|v| Self::item_pe(lt, v)).collect();
        let rpes: Vec<Pe> = r.iter().map(|v| Self::item_pe(lt, v)).collect();
        let mut lmap: BTreeMap<&Pe, usize> = BTreeMap::new();
        for (i, pe) in lpes.iter().enumerate() {
            lmap.entry(pe).or_insert(i);
        }
        let rset: BTreeSet<&Pe> = rpes.iter().collect();
        let mut shared: VecDeque<&Pe> = rpes.iter().filter(|p| lmap.contains_key(p)).collect();
        let mut next = shared.pop_front();
        let mut merged_rhs: BTreeSet<&Pe> = BTreeSet::new();
        let mut out = Vec::with_capacity(l.len().max(r.len()));
        let (mut li, mut ri) = (0, 0);
        while li < l.len() || ri < r.len() {
            if li < l.len() && ri < r.len() {
                let pe = &lpes[li];
                if *pe == rpes[ri] {
                    merged_rhs.insert(pe);
                    out.push(self.merge_item(lt, pe, Some(&l[li]), &r[ri], path, fpath));
                    li += 1;
                    ri += 1;
                    next = shared.pop_front();
                    continue;
                }
                if rset.contains(pe) && next.is_some_and(|n| n != pe) {
                    li += 1;
                    continue;
                }
            }
            if li < l.len() {
                let pe = &lpes[li];
                if !rset.contains(pe) {
                    out.push(l[li].clone());
                    li += 1;
                    continue;
                } else if merged_rhs.contains(pe) {
                    li += 1;
                    continue;
                }
            }
            if ri < r.len() {
                let pe = &rpes[ri];
                merged_rhs.insert(pe);
                let lv = lmap.get(pe).map(|&i| &l[i]);
                out.push(self.merge_item(lt, pe, lv, &r[ri], path, fpath));
                ri += 1;
                if next == Some(pe) {
                    next = shared.pop_front();
                }
            }
        }
        out
    }
}

struct Op<'a> {
    manager: &'a str,
    api_version: &'a str,
    subresource: Option<&'a str>,
    now: &'a str,
}

#[derive(Clone)]
struct FoundConflict {
    path: Path,
    id: String,
    conflict: Conflict,
}

const KUBECTL: &str = "kubectl";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

impl Ctx<'_> {
    /// One structured-merge-diff apply: merge, prune, conflicts, new field sets.
    fn apply_once(
        &self,
        live: &Value,
        entries: &[Entry],
        config: &Value,
        op: &Op,
        force: bool,
    ) -> Result<(Value, Vec<Entry>), Vec<FoundConflict>> {
        let mut new_set = FieldSet::new();
        self.owned(config, &mut Vec::new(), &mut Vec::new(), &mut new_set);
        new_set.retain(|p| !is_ignored(p, op.subresource));

        let mut entries = entries.to_vec();
        let me = entries
            .iter()
            .position(|e| e.is(op.manager, APPLY, op.api_version, op.subresource));
        let mut merged = self.merge(live, config, &mut Vec::new(), &mut Vec::new());

        // Prune what this manager applied last time, no longer applies, and nobody else owns.
        if let Some(i) = me {
            let mut kept = new_set.clone();
            for (j, e) in entries.iter().enumerate() {
                if j != i {
                    kept.extend(e.set.iter().cloned());
                }
            }
            let kept = with_field_prefixes(&kept);
            for p in with_field_prefixes(&entries[i].set).difference(&kept) {
                if !is_ignored(p, op.subresource) {
                    remove_at(&mut merged, p);
                }
            }
        }

        let diff = self.diff(live, &merged, op.subresource);
        let changed: FieldSet = diff.added.union(&diff.modified).cloned().collect();
        let mut conflicts: Vec<FoundConflict> = Vec::new();
        for (j, e) in entries.iter().enumerate() {
            if Some(j) == me {
                continue;
            }
            for p in e.set.intersection(&changed) {
                let c = Conflict {
                    manager: e.manager.clone(),
                    field: path_text(p),
                    operation_update_api_version: (e.operation != APPLY)
                        .then(|| e.api_version.clone()),
                };
                conflicts.push(FoundConflict {
                    path: p.clone(),
                    id: e.identifier(),
                    conflict: c,
                });
            }
        }
        if !force && !conflicts.is_empty() {
            conflicts.sort_by(|a, b| a.path.cmp(&b.path).then_with(|| a.id.cmp(&b.id)));
            return Err(conflicts);
        }
        for (j, e) in entries.iter_mut().enumerate() {
            if Some(j) != me {
                e.set
                    .retain(|p| !changed.contains(p) && !diff.removed.contains(p));
            }
        }

        // The time moves only when the merge changed the object (not for ownership alone).
        let object_changed = &merged != live;
        match me {
            Some(i) => {
                let e = &mut entries[i];
                e.set = new_set;
                e.api_version = op.api_version.into();
                if object_changed {
                    e.time = Some(op.now.into());
                }
            }
            None => entries.push(Entry {
                manager: op.manager.into(),
                operation: APPLY.into(),
                api_version: op.api_version.into(),
                time: object_changed.then(|| op.now.into()),
                subresource: op.subresource.map(String::from),
                set: new_set,
            }),
        }
        entries.retain(|e| !e.set.is_empty());
        Ok((merged, entries))
    }

    /// The fields of the client-side `last-applied-configuration` annotation whose live
    /// value still matches it (None without a usable annotation).
    fn last_applied_fields(&self, live: &Value, api_version: &str) -> Option<FieldSet> {
        let text = live
            .get("metadata")?
            .get("annotations")?
            .get(LAST_APPLIED)?
            .as_str()?;
        let last: Value = serde_json::from_str(text).ok()?;
        if last.get("apiVersion")?.as_str()? != api_version {
            return None;
        }
        let mut set = FieldSet::new();
        self.owned(&last, &mut Vec::new(), &mut Vec::new(), &mut set);
        let mut d = Diff::default();
        self.compare(&last, live, &mut Vec::new(), &mut Vec::new(), &mut d);
        set.retain(|p| !d.modified.contains(p) && !d.added.contains(p) && !d.removed.contains(p));
        Some(set)
    }
}

/// kube-apiserver's lastAppliedUpdater: after `kubectl apply --server-side`, an existing
/// client-side `last-applied-configuration` annotation is rewritten to the applied object.
fn sync_last_applied(obj: &mut Value, applied: &Value) {
    let Some(annotations) = obj
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if annotations
        .get(LAST_APPLIED)
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return;
    }
    let mut last = applied.clone();
    if let Some(a) = last
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        a.remove(LAST_APPLIED);
    }
    annotations.insert(LAST_APPLIED.into(), format!("{}\n", go_json(&last)).into());
    let size: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > 256 * 1024 {
        annotations.remove(LAST_APPLIED);
    }
}

/// JSON as Go's encoding/json writes it (sorted keys, HTML characters escaped).
fn go_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn item_matches(pe: &Pe, item: &Value) -> bool {
    match pe {
        Pe::Key(pairs) => item.as_object().is_some_and(|o| {
            pairs.iter().all(|(k, v)| {
                o.get(k)
                    .is_some_and(|x| value_cmp(x, &v.0) == Ordering::Equal)
            })
        }),
        Pe::Value(v) => value_cmp(item, &v.0) == Ordering::Equal,
        Pe::Field(_) | Pe::Index(_) => false,
    }
}

/// Remove the value at `path`; false when it is not there.
fn remove_at(v: &mut Value, path: &[Pe]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    match (first, v) {
        (Pe::Field(k), Value::Object(m)) => {
            if rest.is_empty() {
                m.remove(k).is_some()
            } else {
                m.get_mut(k).is_some_and(|c| remove_at(c, rest))
            }
        }
        (pe, Value::Array(items)) => {
            let found = match pe {
                Pe::Index(i) => (*i < items.len()).then_some(*i),
                _ => items.iter().position(|it| item_matches(pe, it)),
            };
            let Some(i) = found else { return false };
            if rest.is_empty() {
                items.remove(i);
                true
            } else {
                remove_at(&mut items[i], rest)
            }
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Objects

/// The applied configuration as it takes part in the merge: nulls dropped, server-owned
/// metadata dropped, and only the part the (sub)resource may change.
fn apply_config(applied: &Value, subresource: Option<&str>) -> Value {
    fn drop_nulls(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(_, c)| !c.is_null())
                    .map(|(k, c)| (k.clone(), drop_nulls(c)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(drop_nulls).collect()),
            other => other.clone(),
        }
    }
    let mut cfg = drop_nulls(applied);
    if let Some(obj) = cfg.as_object_mut() {
        match subresource {
            Some(sub) => obj.retain(|k, _| k == sub),
            None => {
                obj.remove("status");
            }
        }
        if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "managedFields",
                "selfLink",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                md.remove(k);
            }
        }
    }
    cfg
}

/// What the API server compares a created object against: the zero object of its kind.
/// Built-in kinds have non-pointer structs (`spec`, `status`, a template's `metadata`),
/// which are never "added".
fn empty_object_like(new: &Value, api_version: &str) -> Value {
    let kind = new.get("kind").and_then(Value::as_str).unwrap_or_default();
    if let Some(mut zero) = super::normalize::zero_object(api_version, kind) {
        zero["metadata"] = Value::Object(Map::new());
        for f in ["spec", "status"] {
            if !new.get(f).is_some_and(Value::is_object) {
                zero.as_object_mut().map(|m| m.remove(f));
            }
        }
        return zero;
    }
    let mut m = Map::new();
    m.insert("metadata".into(), Value::Object(Map::new()));
    let builtin = match api_version.split_once('/') {
        None => true,
        Some((group, _)) => !group.contains('.') || group.ends_with(".k8s.io"),
    };
    if builtin {
        let mut structs = vec!["spec", "status"];
        if api_version == "v1" && kind == "Event" {
            structs.push("source");
        }
        for f in structs {
            if new.get(f).is_some_and(Value::is_object) {
                m.insert(f.into(), Value::Object(Map::new()));
            }
        }
    }
    Value::Object(m)
}

fn strip_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("managedFields");
    }
    v
}

fn with_managed_fields(mut obj: Value, entries: &[Entry]) -> Value {
    if let Some(o) = obj.as_object_mut() {
        let md = o
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(md) = md.as_object_mut() {
            if entries.is_empty() {
                md.remove("managedFields");
            } else {
                let list = entries.iter().map(Entry::to_json).collect();
                md.insert("managedFields".into(), Value::Array(list));
            }
        }
    }
    obj
}

// ---------------------------------------------------------------------------------------
// managedFields entries

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";
const MAX_UPDATE_MANAGERS: usize = 10;
const ANCIENT_CHANGES: &str = "ancient-changes";

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: Option<String>,
    set: FieldSet,
}

/// Go's `BuildManagerIdentifier`: Apply entries are one manager across apiVersions.
fn manager_identifier(
    manager: &str,
    operation: &str,
    api_version: &str,
    sub: Option<&str>,
) -> String {
    let mut s = format!(
        "{{\"manager\":{},\"operation\":{}",
        quote(manager),
        quote(operation)
    );
    if operation != APPLY && !api_version.is_empty() {
        s.push_str(&format!(",\"apiVersion\":{}", quote(api_version)));
    }
    if let Some(sub) = sub {
        s.push_str(&format!(",\"subresource\":{}", quote(sub)));
    }
    s.push('}');
    s
}

impl Entry {
    fn is(&self, manager: &str, operation: &str, api_version: &str, sub: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == sub
            && (operation == APPLY || self.api_version == api_version)
    }

    fn identifier(&self) -> String {
        manager_identifier(
            &self.manager,
            &self.operation,
            &self.api_version,
            self.subresource.as_deref(),
        )
    }

    fn parse(v: &Value) -> Option<Entry> {
        let o = v.as_object()?;
        let s = |k: &str| o.get(k).and_then(Value::as_str).map(String::from);
        Some(Entry {
            manager: s("manager").unwrap_or_default(),
            operation: s("operation").unwrap_or_else(|| UPDATE.into()),
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource").filter(|x| !x.is_empty()),
            set: o.get("fieldsV1").map(parse_fields_v1).unwrap_or_default(),
        })
    }

    /// Keys in the API server's order (manager, operation, apiVersion, time, fieldsType,
    /// fieldsV1, subresource) — as far as the JSON map type keeps an order at all.
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), self.manager.clone().into());
        m.insert("operation".into(), self.operation.clone().into());
        m.insert("apiVersion".into(), self.api_version.clone().into());
        if let Some(t) = &self.time {
            m.insert("time".into(), t.clone().into());
        }
        m.insert("fieldsType".into(), "FieldsV1".into());
        m.insert("fieldsV1".into(), fields_v1(&self.set));
        if let Some(sub) = &self.subresource {
            m.insert("subresource".into(), sub.clone().into());
        }
        Value::Object(m)
    }
}

fn parse_entries(v: &Value) -> Option<Vec<Entry>> {
    v.as_array()?.iter().map(Entry::parse).collect()
}

fn entries_of(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(parse_entries)
        .unwrap_or_default()
}

/// `managedFields: []` or `[{}]` in a write resets the managed fields.
fn is_reset(v: &Value) -> bool {
    match v.as_array().map(Vec::as_slice) {
        Some([]) => true,
        Some([one]) => one.as_object().is_some_and(Map::is_empty),
        _ => false,
    }
}

fn time_secs(t: &Option<String>) -> i64 {
    t.as_deref()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map_or(0, |ts| ts.as_second())
}

/// The API server's order: Apply before Update, then by time (seconds), manager,
/// apiVersion, subresource.
fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| time_secs(&p.time).cmp(&time_secs(&q.time)))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| {
                let a = p.subresource.as_deref().unwrap_or("");
                a.cmp(q.subresource.as_deref().unwrap_or(""))
            })
    });
}

/// At most 10 Update entries: the oldest are merged, per apiVersion, into "ancient-changes".
fn cap_update_managers(entries: &mut Vec<Entry>) {
    let mut updaters: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].operation == UPDATE)
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by(|&a, &b| {
        time_secs(&entries[a].time)
            .cmp(&time_secs(&entries[b].time))
            .then_with(|| entries[a].identifier().cmp(&entries[b].identifier()))
    });
    let mut first_of_version: BTreeMap<String, usize> = BTreeMap::new();
    let mut removed: BTreeSet<usize> = BTreeSet::new();
    let mut length = updaters.len();
    for &i in &updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let version = entries[i].api_version.clone();
        let Some(&first) = first_of_version.get(&version) else {
            first_of_version.insert(version, i);
            continue;
        };
        let bucket = entries.iter().enumerate().position(|(j, e)| {
            !removed.contains(&j) && e.is(ANCIENT_CHANGES, UPDATE, &version, None)
        });
        let bucket = match bucket {
            Some(b) => b,
            None => {
                entries[first].manager = ANCIENT_CHANGES.into();
                entries[first].subresource = None;
                first
            }
        };
        if bucket == i {
            continue;
        }
        let set = std::mem::take(&mut entries[i].set);
        let time = entries[i].time.clone();
        entries[bucket].set.extend(set);
        entries[bucket].time = time;
        removed.insert(i);
        length -= 1;
    }
    for i in removed.into_iter().rev() {
        entries.remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T18: &str = "2026-11-23T09:19:18Z";
    const T19: &str = "2026-11-23T09:19:19Z";
    const T20: &str = "2026-11-23T09:19:20Z";
    const T21: &str = "2026-11-23T09:19:21Z";
    const T22: &str = "2026-11-23T09:19:22Z";

    fn lt(path: &[String]) -> ListType {
        well_known_list_type(path)
    }

    fn ap(
        cur: Option<&Value>,
        body: Value,
        mgr: &str,
        force: bool,
        now: &str,
    ) -> Result<Value, Vec<Conflict>> {
        apply(cur, &body, mgr, "v1", None, force, now, &lt)
    }

    fn ok(r: Result<Value, Vec<Conflict>>) -> Value {
        match r {
            Ok(v) => v,
            Err(c) => panic!("unexpected conflicts: {}", conflict_message(&c)),
        }
    }

    fn mf(obj: &Value) -> Vec<Value> {
        obj.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// (manager, operation, subresource, time, fieldsV1) of an entry.
    type Summary = (String, String, Option<String>, Option<String>, Value);

    /// The entries, in order.
    fn summary(obj: &Value) -> Vec<Summary> {
        mf(obj)
            .iter()
            .map(|e| {
                let s = |k: &str| e.get(k).and_then(Value::as_str).map(String::from);
                (
                    s("manager").unwrap(),
                    s("operation").unwrap(),
                    s("subresource"),
                    s("time"),
                    e["fieldsV1"].clone(),
                )
            })
            .collect()
    }

    fn fields_of(obj: &Value, manager: &str) -> Value {
        mf(obj)
            .into_iter()
            .find(|e| e["manager"] == manager)
            .map(|e| e["fieldsV1"].clone())
            .unwrap_or(Value::Null)
    }

    fn managers(obj: &Value) -> Vec<String> {
        mf(obj)
            .iter()
            .map(|e| e["manager"].as_str().unwrap().to_string())
            .collect()
    }

    /// What the store adds on create.
    fn stored(mut v: Value) -> Value {
        let md = v["metadata"].as_object_mut().unwrap();
        md.insert("uid".into(), json!("54ab76b3-a4e4-4d58-b00b-25ca4753d4af"));
        md.insert("resourceVersion".into(), json!("21219"));
        md.insert("creationTimestamp".into(), json!(T18));
        v
    }

    fn cm(meta_extra: Value, data: Value) -> Value {
        let mut md = json!({"name": "ssa-cm", "namespace": "tx-ssa"});
        if let Value::Object(extra) = meta_extra {
            md.as_object_mut().unwrap().extend(extra);
        }
        let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": md});
        if !data.is_null() {
            v["data"] = data;
        }
        v
    }

    /// 05:8 .. 05:56: the ConfigMap after mgr-a, mgr-b share `c` and mgr-a moved to `e`.
    fn shared_cm() -> Value {
        let v = stored(ok(ap(
            None,
            cm(json!({"labels": {"x": "1"}}), json!({"a": "1", "b": "2"})),
            "mgr-a",
            false,
            T18,
        )));
        let v = ok(ap(
            Some(&v),
            cm(json!({}), json!({"a": "1"})),
            "mgr-a",
            false,
            T19,
        ));
        let v = ok(ap(
            Some(&v),
            cm(json!({}), json!({"a": "changed"})),
            "mgr-b",
            true,
            T19,
        ));
        let v = ok(ap(
            Some(&v),
            cm(json!({}), json!({"c": "3"})),
            "mgr-a",
            false,
            T19,
        ));
        let v = ok(ap(
            Some(&v),
            cm(json!({}), json!({"a": "changed", "c": "3"})),
            "mgr-b",
            false,
            T19,
        ));
        ok(ap(
            Some(&v),
            cm(json!({}), json!({"e": "5"})),
            "mgr-a",
            false,
            T19,
        ))
    }

    #[test]
    fn create_matches_transcript() {
        // 05:8
        let v = ok(ap(
            None,
            cm(json!({"labels": {"x": "1"}}), json!({"a": "1", "b": "2"})),
            "mgr-a",
            false,
            T18,
        ));
        assert_eq!(
            mf(&v),
            vec![json!({
                "manager": "mgr-a", "operation": "Apply", "apiVersion": "v1", "time": T18,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}
            })]
        );
        assert_eq!(v["data"], json!({"a": "1", "b": "2"}));
        assert_eq!(v["metadata"]["labels"], json!({"x": "1"}));
        assert_eq!(v["metadata"]["name"], "ssa-cm");
        assert_eq!(v["kind"], "ConfigMap");
    }

    #[test]
    fn identical_apply_returns_current_unchanged() {
        // 05:14 / 05:17: same resourceVersion, same managedFields time.
        let v = stored(ok(ap(
            None,
            cm(json!({"labels": {"x": "1"}}), json!({"a": "1", "b": "2"})),
            "mgr-a",
            false,
            T18,
        )));
        let again = ok(ap(
            Some(&v),
            cm(json!({"labels": {"x": "1"}}), json!({"a": "1", "b": "2"})),
            "mgr-a",
            false,
            T22,
        ));
        assert_eq!(again, v);
        // Also with force and without metadata.namespace in the body (kube-rs, 08:11).
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa-cm", "labels": {"x": "1"}}, "data": {"b": "2", "a": "1"}});
        assert_eq!(ok(ap(Some(&v), body, "mgr-a", true, T22)), v);
    }

    #[test]
    fn partial_apply_removes_only_own_fields() {
        // 05:22: data.b and label x (and the then empty labels map) are gone.
        let v = stored(ok(ap(
            None,
            cm(json!({"labels": {"x": "1"}}), json!({"a": "1", "b": "2"})),
            "mgr-a",
            false,
            T18,
        )));
        let v = ok(ap(
            Some(&v),
            cm(json!({}), json!({"a": "1"})),
            "mgr-a",
            false,
            T19,
        ));
        assert_eq!(v["data"], json!({"a": "1"}));
        assert!(v["metadata"].get("labels").is_none());
        assert_eq!(v["metadata"]["uid"], "54ab76b3-a4e4-4d58-b00b-25ca4753d4af");
        assert_eq!(v["metadata"]["resourceVersion"], "21219");
        assert_eq!(v["metadata"]["creationTimestamp"], T18);
        assert_eq!(
            summary(&v),
            vec![(
                "mgr-a".into(),
                "Apply".into(),
                None,
                Some(T19.into()),
                json!({"f:data": {"f:a": {}}})
            )]
        );
    }

    #[test]
    fn conflict_single_and_force_transfers_ownership() {
        let v = stored(ok(ap(
            None,
            cm(json!({}), json!({"a": "1"})),
            "mgr-a",
            false,
            T18,
        )));
        // 05:30
        let err = ap(
            Some(&v),
            cm(json!({}), json!({"a": "changed"})),
            "mgr-b",
            false,
            T19,
        )
        .unwrap_err();
        assert_eq!(
            err,
            vec![Conflict {
                manager: "mgr-a".into(),
                field: ".data.a".into(),
                operation_update_api_version: None
            }]
        );
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"mgr-a\": .data.a"
        );
        assert_eq!(
            err[0].cause(),
            json!({"reason": "FieldManagerConflict", "message": "conflict with \"mgr-a\"", "field": ".data.a"})
        );
        // 05:36: mgr-b takes data.a; mgr-a owned nothing else and disappears.
        let v = ok(ap(
            Some(&v),
            cm(json!({}), json!({"a": "changed"})),
            "mgr-b",
            true,
            T19,
        ));
        assert_eq!(v["data"], json!({"a": "changed"}));
        assert_eq!(
            summary(&v),
            vec![(
                "mgr-b".into(),
                "Apply".into(),
                None,
                Some(T19.into()),
                json!({"f:data": {"f:a": {}}})
            )]
        );
        // 05:44: mgr-a applies {c}; a stays (mgr-b owns it); entries sorted by manager.
        let v = ok(ap(
            Some(&v),
            cm(json!({}), json!({"c": "3"})),
            "mgr-a",
            false,
            T19,
        ));
        assert_eq!(v["data"], json!({"a": "changed", "c": "3"}));
        assert_eq!(managers(&v), ["mgr-a", "mgr-b"]);
    }

    #[test]
    fn shared_ownership_survives_one_manager_dropping_it() {
        let v = shared_cm();
        // 05:56 / 05:59
        assert_eq!(v["data"], json!({"a": "changed", "c": "3", "e": "5"}));
        assert_eq!(
            summary(&v),
            vec![
                (
                    "mgr-a".into(),
                    "Apply".into(),
                    None,
                    Some(T19.into()),
                    json!({"f:data": {"f:e": {}}})
                ),
                (
                    "mgr-b".into(),
                    "Apply".into(),
                    None,
                    Some(T19.into()),
                    json!({"f:data": {"f:a": {}, "f:c": {}}})
                ),
            ]
        );
    }

    #[test]
    fn same_value_shares_ownership_without_moving_time() {
        // 05:50: mgr-b applies a value mgr-a already set: no conflict, object unchanged,
        // mgr-b's time stays, but the ownership changed (so it is a write).
        let v = stored(ok(ap(
            None,
            cm(json!({}), json!({"a": "1", "c": "3"})),
            "mgr-a",
            false,
            T18,
        )));
        let v = ok(ap(
            Some(&v),
            cm(json!({}), json!({"a": "1", "b": "2"})),
            "mgr-b",
            false,
            T19,
        ));
        assert_eq!(
            fields_of(&v, "mgr-b"),
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
        let w = ok(ap(
            Some(&v),
            cm(json!({}), json!({"a": "1", "b": "2", "c": "3"})),
            "mgr-b",
            false,
            T22,
        ));
        assert_ne!(w, v);
        assert_eq!(w["data"], v["data"]);
        assert_eq!(
            fields_of(&w, "mgr-b"),
            json!({"f:data": {"f:a": {}, "f:b": {}, "f:c": {}}})
        );
        assert_eq!(
            fields_of(&w, "mgr-a"),
            json!({"f:data": {"f:a": {}, "f:c": {}}})
        );
        let times: Vec<Value> = mf(&w).iter().map(|e| e["time"].clone()).collect();
        assert_eq!(times, [json!(T18), json!(T19)]);
    }

    #[test]
    fn update_then_apply_conflict_says_using_v1() {
        let v = shared_cm();
        // 05:64: kubectl patch --type=merge -p {"data":{"d":"patched"}} (manager kubectl-patch).
        let mut patched = v.clone();
        patched["data"]["d"] = json!("patched");
        let v = record_update(Some(&v), &patched, "kubectl-patch", "v1", None, T20, &lt);
        assert_eq!(managers(&v), ["mgr-a", "mgr-b", "kubectl-patch"]);
        assert_eq!(
            mf(&v)[2],
            json!({"manager": "kubectl-patch", "operation": "Update", "apiVersion": "v1", "time": T20,
                   "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:d": {}}}})
        );
        // 05:69
        let err = ap(
            Some(&v),
            cm(json!({}), json!({"e": "5", "d": "mine"})),
            "mgr-a",
            false,
            T20,
        )
        .unwrap_err();
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"kubectl-patch\" using v1: .data.d"
        );
        assert_eq!(err[0].operation_update_api_version.as_deref(), Some("v1"));
        assert_eq!(
            err[0].cause_message(),
            "conflict with \"kubectl-patch\" using v1"
        );
    }

    #[test]
    fn three_manager_conflict_then_force_then_empty_apply() {
        let v = shared_cm();
        let mut patched = v.clone();
        patched["data"]["d"] = json!("patched");
        let v = record_update(Some(&v), &patched, "kubectl-patch", "v1", None, T20, &lt);
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa-cm"},
                          "data": {"a": "c-val", "d": "c-val", "e": "c-val"}});
        // 05:73
        let err = ap(Some(&v), body.clone(), "mgr-c", false, T20).unwrap_err();
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 3 conflicts: conflicts with \"kubectl-patch\" using v1:\n- .data.d\nconflicts with \"mgr-a\":\n- .data.e\nconflicts with \"mgr-b\":\n- .data.a"
        );
        let causes: Vec<(String, String)> = err
            .iter()
            .map(|c| (c.field.clone(), c.cause_message()))
            .collect();
        assert_eq!(
            causes,
            [
                (".data.a".to_string(), "conflict with \"mgr-b\"".to_string()),
                (
                    ".data.d".to_string(),
                    "conflict with \"kubectl-patch\" using v1".to_string()
                ),
                (".data.e".to_string(), "conflict with \"mgr-a\"".to_string()),
            ]
        );
        // 05:75: mgr-a and kubectl-patch own nothing any more and disappear.
        let v = ok(ap(Some(&v), body.clone(), "mgr-c", true, T20));
        assert_eq!(
            v["data"],
            json!({"a": "c-val", "c": "3", "d": "c-val", "e": "c-val"})
        );
        assert_eq!(
            summary(&v),
            vec![
                (
                    "mgr-b".into(),
                    "Apply".into(),
                    None,
                    Some(T19.into()),
                    json!({"f:data": {"f:c": {}}})
                ),
                (
                    "mgr-c".into(),
                    "Apply".into(),
                    None,
                    Some(T20.into()),
                    json!({"f:data": {"f:a": {}, "f:d": {}, "f:e": {}}})
                ),
            ]
        );
        // 05:77: identical forced apply: nothing changes.
        assert_eq!(ok(ap(Some(&v), body, "mgr-c", true, T22)), v);
        // 05:79: an apply with no fields removes the manager and its sole fields.
        let empty =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa-cm"}});
        let v = ok(ap(Some(&v), empty, "mgr-c", true, T21));
        assert_eq!(v["data"], json!({"c": "3"}));
        assert_eq!(managers(&v), ["mgr-b"]);
    }

    fn deploy(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "tx-ssa"}, "spec": spec})
    }

    fn dap(
        cur: Option<&Value>,
        spec: Value,
        mgr: &str,
        force: bool,
        now: &str,
    ) -> Result<Value, Vec<Conflict>> {
        apply(cur, &deploy(spec), mgr, "apps/v1", None, force, now, &lt)
    }

    fn containers(v: &Value) -> Vec<(String, String)> {
        v["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().into(),
                    c["image"].as_str().unwrap_or("").into(),
                )
            })
            .collect()
    }

    fn full_spec(containers: Value) -> Value {
        json!({"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}})
    }

    fn only_containers(containers: Value) -> Value {
        json!({"template": {"spec": {"containers": containers}}})
    }

    #[test]
    fn deployment_containers_merge_by_name() {
        // 05:89
        let spec = full_spec(
            json!([{"image": "nginx:1.25", "name": "app"}, {"image": "busybox:1.36", "name": "side"}]),
        );
        let v = ok(dap(None, spec, "mgr-a", false, T20));
        let item = json!({".": {}, "f:image": {}, "f:name": {}});
        assert_eq!(
            fields_of(&v, "mgr-a"),
            json!({"f:spec": {"f:replicas": {}, "f:selector": {},
                "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": item, "k:{\"name\":\"side\"}": item}}}}})
        );
        // Defaulting by the API server (unowned fields) must survive later applies.
        let mut v = v;
        v["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
        v["spec"]["template"]["spec"]["dnsPolicy"] = json!("ClusterFirst");

        // 05:102
        let b_spec = only_containers(json!([{"image": "nginx:1.26", "name": "app"}]));
        let err = dap(Some(&v), b_spec.clone(), "mgr-b", false, T20).unwrap_err();
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"mgr-a\": .spec.template.spec.containers[name=\"app\"].image"
        );
        // 05:108: forced; side kept, app's image moves to mgr-b.
        let v = ok(dap(Some(&v), b_spec, "mgr-b", true, T20));
        assert_eq!(
            containers(&v),
            [
                ("app".into(), "nginx:1.26".into()),
                ("side".into(), "busybox:1.36".into())
            ]
        );
        assert_eq!(
            fields_of(&v, "mgr-a")["f:spec"]["f:template"]["f:spec"],
            json!({"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:name": {}}, "k:{\"name\":\"side\"}": item}})
        );
        assert_eq!(
            fields_of(&v, "mgr-b"),
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": item}}}}})
        );
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        // 05:116: mgr-a keeps app by name only and drops side: side removed, app keeps mgr-b's image.
        let v = ok(dap(
            Some(&v),
            full_spec(json!([{"name": "app"}])),
            "mgr-a",
            false,
            T20,
        ));
        assert_eq!(containers(&v), [("app".into(), "nginx:1.26".into())]);
        assert_eq!(v["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(v["spec"]["replicas"], 1);
        assert_eq!(
            fields_of(&v, "mgr-a")["f:spec"]["f:template"]["f:spec"],
            json!({"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:name": {}}}})
        );
        // 05:122: mgr-b adds extra: appended.
        let spec = only_containers(
            json!([{"image": "nginx:1.26", "name": "app"}, {"image": "redis:7", "name": "extra"}]),
        );
        let v = ok(dap(Some(&v), spec, "mgr-b", false, T21));
        assert_eq!(
            containers(&v),
            [
                ("app".into(), "nginx:1.26".into()),
                ("extra".into(), "redis:7".into())
            ]
        );
        assert_eq!(
            summary(&v)
                .iter()
                .map(|s| (s.0.clone(), s.3.clone()))
                .collect::<Vec<_>>(),
            [
                ("mgr-a".to_string(), Some(T20.to_string())),
                ("mgr-b".to_string(), Some(T21.to_string()))
            ]
        );
    }

    #[test]
    fn map_list_item_order_follows_structured_merge_diff() {
        let ctx = Ctx { list_types: &lt };
        let fp = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let names = |v: Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect()
        };
        let l = json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]);
        let r = json!([{"name": "c"}, {"name": "x"}, {"name": "a"}]);
        let m = ctx.merge(
            &l,
            &r,
            &mut vec![],
            &mut fp(&["spec", "template", "spec", "containers"]),
        );
        assert_eq!(names(m), ["b", "c", "x", "a"]);
    }

    fn mysql(spec: Value) -> Value {
        json!({"apiVersion": "tx.example.com/v1", "kind": "MySQL", "metadata": {"name": "db1"}, "spec": spec})
    }

    fn cr_apply(
        cur: Option<&Value>,
        body: &Value,
        mgr: &str,
        sub: Option<&str>,
        force: bool,
        now: &str,
    ) -> Result<Value, Vec<Conflict>> {
        apply(cur, body, mgr, "tx.example.com/v1", sub, force, now, &lt)
    }

    fn full_db_spec() -> Value {
        json!({"database": "db1", "password": "PLACEHOLDER-password", "storage_size": "1Gi", "image": "mysql:8.0"})
    }

    #[test]
    fn cr_status_apply_is_a_separate_entry() {
        // 05:128 / 05:130
        let v = ok(cr_apply(
            None,
            &mysql(full_db_spec()),
            "kubectl-mysql",
            None,
            true,
            T21,
        ));
        let v = stored(v);
        assert_eq!(
            ok(cr_apply(
                Some(&v),
                &mysql(full_db_spec()),
                "kubectl-mysql",
                None,
                true,
                T22
            )),
            v
        );
        // 05:132
        let status = json!({"apiVersion": "tx.example.com/v1", "kind": "MySQL", "metadata": {"name": "db1"},
            "status": {"phase": "Provisioning", "observedGeneration": 1, "conditions": [
                {"type": "Ready", "status": "False", "reason": "Creating", "message": "creating children",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
        let v = ok(cr_apply(
            Some(&v),
            &status,
            "kubectl-mysql",
            Some("status"),
            true,
            T21,
        ));
        let cond = json!({".": {}, "f:lastTransitionTime": {}, "f:message": {}, "f:reason": {}, "f:status": {}, "f:type": {}});
        assert_eq!(
            mf(&v)[1],
            json!({"manager": "kubectl-mysql", "operation": "Apply", "apiVersion": "tx.example.com/v1",
                   "time": T21, "fieldsType": "FieldsV1", "subresource": "status",
                   "fieldsV1": {"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": cond},
                                             "f:observedGeneration": {}, "f:phase": {}}}})
        );
        assert_eq!(
            mf(&v)[0]["fieldsV1"],
            json!({"f:spec": {"f:database": {}, "f:image": {}, "f:password": {}, "f:storage_size": {}}})
        );
        assert!(mf(&v)[0].get("subresource").is_none());
        // 05:134: conditions merge by type.
        let status = json!({"apiVersion": "tx.example.com/v1", "kind": "MySQL", "metadata": {"name": "db1"},
            "status": {"phase": "Ready", "observedGeneration": 1, "conditions": [
                {"type": "Ready", "status": "True", "reason": "Available", "message": "ok", "lastTransitionTime": "2026-01-01T00:00:05Z"},
                {"type": "BackupReady", "status": "True", "reason": "Done", "message": "ok", "lastTransitionTime": "2026-01-01T00:00:05Z"}]}});
        let v = ok(cr_apply(
            Some(&v),
            &status,
            "kubectl-mysql",
            Some("status"),
            true,
            T21,
        ));
        let types: Vec<&str> = v["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["Ready", "BackupReady"]);
        assert_eq!(v["status"]["conditions"][0]["status"], "True");
        assert_eq!(
            mf(&v)[1]["fieldsV1"]["f:status"]["f:conditions"],
            json!({"k:{\"type\":\"BackupReady\"}": cond, "k:{\"type\":\"Ready\"}": cond})
        );
        // 05:136: status on the main resource is ignored: nothing changes.
        let mut with_status = mysql(full_db_spec());
        with_status["status"] = json!({"phase": "Failed"});
        assert_eq!(
            ok(cr_apply(
                Some(&v),
                &with_status,
                "kubectl-mysql",
                None,
                true,
                T22
            )),
            v
        );
        // 05:138: dropping spec.image and spec.storage_size removes them; status untouched.
        let spec = json!({"database": "db1", "password": "PLACEHOLDER-password"});
        let w = ok(cr_apply(
            Some(&v),
            &mysql(spec.clone()),
            "kubectl-mysql",
            None,
            true,
            T21,
        ));
        assert_eq!(w["spec"], spec);
        assert_eq!(w["status"], v["status"]);
        assert_eq!(
            mf(&w)[0]["fieldsV1"],
            json!({"f:spec": {"f:database": {}, "f:password": {}}})
        );
        assert_eq!(mf(&w)[1], mf(&v)[1]);
        // 05:144: another manager changing spec.database conflicts.
        let other = mysql(json!({"database": "db1-other", "password": "PLACEHOLDER-password"}));
        let err = cr_apply(Some(&w), &other, "kubectl", None, false, T21).unwrap_err();
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"kubectl-mysql\": .spec.database"
        );
        // 05:149
        let x = ok(cr_apply(Some(&w), &other, "kubectl", None, true, T21));
        assert_eq!(managers(&x), ["kubectl", "kubectl-mysql", "kubectl-mysql"]);
        assert_eq!(
            mf(&x)[0]["fieldsV1"],
            json!({"f:spec": {"f:database": {}, "f:password": {}}})
        );
        assert_eq!(mf(&x)[1]["fieldsV1"], json!({"f:spec": {"f:password": {}}}));
    }

    #[test]
    fn finalizers_are_a_set_between_managers() {
        let spec = json!({"database": "db1-other", "password": "PLACEHOLDER-password"});
        let v = stored(ok(cr_apply(
            None,
            &mysql(spec.clone()),
            "kubectl-mysql",
            None,
            true,
            T21,
        )));
        // 05:155
        let mut body = mysql(spec.clone());
        body["metadata"]["finalizers"] = json!(["tx.example.com/backup"]);
        let v = ok(cr_apply(Some(&v), &body, "kubectl-mysql", None, true, T21));
        assert_eq!(
            fields_of(&v, "kubectl-mysql")["f:metadata"],
            json!({"f:finalizers": {"v:\"tx.example.com/backup\"": {}}})
        );
        // 05:157
        let other = json!({"apiVersion": "tx.example.com/v1", "kind": "MySQL",
                           "metadata": {"name": "db1", "finalizers": ["tx.example.com/other"]}});
        let v = ok(cr_apply(Some(&v), &other, "other", None, true, T21));
        assert_eq!(
            v["metadata"]["finalizers"],
            json!(["tx.example.com/backup", "tx.example.com/other"])
        );
        assert_eq!(
            fields_of(&v, "other"),
            json!({"f:metadata": {"f:finalizers": {"v:\"tx.example.com/other\"": {}}}})
        );
        assert_eq!(managers(&v), ["kubectl-mysql", "other"]);
        // 05:159
        let v = ok(cr_apply(
            Some(&v),
            &mysql(spec),
            "kubectl-mysql",
            None,
            true,
            T21,
        ));
        assert_eq!(v["metadata"]["finalizers"], json!(["tx.example.com/other"]));
        assert_eq!(
            fields_of(&v, "kubectl-mysql"),
            json!({"f:spec": {"f:database": {}, "f:password": {}}})
        );
        // 05:161: the list and the manager go away.
        let bare = json!({"apiVersion": "tx.example.com/v1", "kind": "MySQL", "metadata": {"name": "db1"}});
        let v = ok(cr_apply(Some(&v), &bare, "other", None, true, T21));
        assert!(v["metadata"].get("finalizers").is_none());
        assert_eq!(managers(&v), ["kubectl-mysql"]);
    }

    #[test]
    fn new_manager_on_unchanged_object_gets_no_time() {
        // 03:58: SSA over a client-side-applied object with the same values.
        let body = json!({"apiVersion": "tx.example.com/v1", "kind": "MySQL",
            "metadata": {"name": "mysql-instance", "namespace": "tx-cr", "labels": {"a": "b"}},
            "spec": {"database": "otus-database", "image": "mysql:8.0", "password": "PLACEHOLDER-password", "storage_size": "1Gi"}});
        let mut created = body.clone();
        created["metadata"]["uid"] = json!("4311809b-fbe4-4f44-a3b8-2547313fd09f");
        let v = record_update(
            None,
            &created,
            "kubectl-client-side-apply",
            "tx.example.com/v1",
            None,
            T18,
            &lt,
        );
        assert_eq!(
            fields_of(&v, "kubectl-client-side-apply"),
            json!({"f:metadata": {"f:labels": {".": {}, "f:a": {}}},
                   "f:spec": {".": {}, "f:database": {}, "f:image": {}, "f:password": {}, "f:storage_size": {}}})
        );
        let w = ok(cr_apply(Some(&v), &body, "kubectl", None, false, T22));
        assert_eq!(
            mf(&w)[0],
            json!({"manager": "kubectl", "operation": "Apply", "apiVersion": "tx.example.com/v1", "fieldsType": "FieldsV1",
                   "fieldsV1": {"f:metadata": {"f:labels": {"f:a": {}}},
                                "f:spec": {"f:database": {}, "f:image": {}, "f:password": {}, "f:storage_size": {}}}})
        );
        assert_eq!(mf(&w)[1], mf(&v)[0]);
    }

    #[test]
    fn kubectl_takes_over_client_side_apply_fields() {
        // 11:10 / 11:17 / 11:23: client-side apply (create, then storage_size 2Gi), then
        // `kubectl apply --server-side` with 3Gi and force=false: no conflict, because the
        // live value still matches the last-applied annotation; the annotation is rewritten.
        let av = "tx.example.com/v1";
        let la = |size: &str| {
            format!(
                "{{\"apiVersion\":\"{av}\",\"kind\":\"MySQL\",\"metadata\":{{\"annotations\":{{}},\"name\":\"n\",\"namespace\":\"tx-exp\"}},\"spec\":{{\"database\":\"db\",\"password\":\"p\",\"storage_size\":\"{size}\"}}}}\n"
            )
        };
        let obj = |size: &str| {
            json!({"apiVersion": av, "kind": "MySQL",
                   "metadata": {"name": "n", "namespace": "tx-exp", "uid": "u",
                                "annotations": {LAST_APPLIED: la(size)}},
                   "spec": {"database": "db", "password": "p", "storage_size": size}})
        };
        let v = record_update(
            None,
            &obj("1Gi"),
            "kubectl-client-side-apply",
            av,
            None,
            T18,
            &lt,
        );
        let mut patched = v.clone();
        patched["spec"]["storage_size"] = json!("2Gi");
        patched["metadata"]["annotations"][LAST_APPLIED] = json!(la("2Gi"));
        let v = record_update(
            Some(&v),
            &patched,
            "kubectl-client-side-apply",
            av,
            None,
            T19,
            &lt,
        );
        let body = json!({"apiVersion": av, "kind": "MySQL", "metadata": {"name": "n", "namespace": "tx-exp"},
                          "spec": {"database": "db", "password": "p", "storage_size": "3Gi"}});

        // Any other manager conflicts.
        let err = cr_apply(Some(&v), &body, "mgr", None, false, T20).unwrap_err();
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using tx.example.com/v1: .spec.storage_size"
        );
        // kubectl does not.
        let w = ok(cr_apply(Some(&v), &body, "kubectl", None, false, T20));
        assert_eq!(w["spec"]["storage_size"], "3Gi");
        assert_eq!(
            w["metadata"]["annotations"][LAST_APPLIED],
            "{\"apiVersion\":\"tx.example.com/v1\",\"kind\":\"MySQL\",\"metadata\":{\"name\":\"n\",\"namespace\":\"tx-exp\"},\"spec\":{\"database\":\"db\",\"password\":\"p\",\"storage_size\":\"3Gi\"}}\n"
        );
        assert_eq!(
            summary(&w),
            vec![
                (
                    "kubectl".into(),
                    "Apply".into(),
                    None,
                    Some(T20.into()),
                    json!({"f:spec": {"f:database": {}, "f:password": {}, "f:storage_size": {}}})
                ),
                (
                    "kubectl-client-side-apply".into(),
                    "Update".into(),
                    None,
                    Some(T19.into()),
                    json!({"f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                        "f:spec": {".": {}, "f:database": {}, "f:password": {}}})
                ),
            ]
        );
        // Not when the live value no longer matches the annotation.
        let mut drifted = v.clone();
        drifted["spec"]["storage_size"] = json!("5Gi");
        let drifted = record_update(Some(&v), &drifted, "kubectl-patch", av, None, T19, &lt);
        let err = cr_apply(Some(&drifted), &body, "kubectl", None, false, T20).unwrap_err();
        assert_eq!(err[0].manager, "kubectl-patch");
    }

    #[test]
    fn record_update_create_shapes() {
        // 06:2: a ConfigMap created by POST.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "w1", "namespace": "tx-w", "uid": "u", "resourceVersion": "1",
                         "creationTimestamp": T18, "labels": {"tx": "1"}},
            "data": {"k": "v"}});
        let v = record_update(None, &cm, "tx-recorder-raw", "v1", None, T18, &lt);
        assert_eq!(
            mf(&v),
            vec![
                json!({"manager": "tx-recorder-raw", "operation": "Update", "apiVersion": "v1", "time": T18,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:tx": {}}}}})
            ]
        );
        // 07:5: ownerReferences are a map keyed by uid with atomic items.
        let mut owned = cm.clone();
        owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "tx.example.com/v1", "kind": "MySQL",
            "name": "o", "uid": "14f38c1b", "blockOwnerDeletion": true}]);
        let v = record_update(None, &owned, "tx-recorder-raw", "v1", None, T18, &lt);
        assert_eq!(
            fields_of(&v, "tx-recorder-raw")["f:metadata"]["f:ownerReferences"],
            json!({".": {}, "k:{\"uid\":\"14f38c1b\"}": {}})
        );
        // 04:162: a CR created by kubectl create.
        let cr = mysql(json!({"database": "d", "password": "p", "storage_size": "1Gi"}));
        let v = record_update(
            None,
            &cr,
            "kubectl-create",
            "tx.example.com/v1",
            None,
            T18,
            &lt,
        );
        assert_eq!(
            fields_of(&v, "kubectl-create"),
            json!({"f:spec": {".": {}, "f:database": {}, "f:password": {}, "f:storage_size": {}}})
        );
        // A built-in with a spec struct: no "." on spec.
        let d = deploy(json!({"replicas": 1}));
        let v = record_update(None, &d, "kubectl-create", "apps/v1", None, T18, &lt);
        assert_eq!(
            fields_of(&v, "kubectl-create"),
            json!({"f:spec": {"f:replicas": {}}})
        );
    }

    #[test]
    fn record_update_status_takes_fields_from_status_apply() {
        // 08:19 then 08:21: kube-rs patch_status(Apply) and then patch_status(Merge) by "unknown".
        let v = stored(ok(cr_apply(
            None,
            &mysql(full_db_spec()),
            "kubectl-mysql",
            None,
            true,
            T21,
        )));
        let status = json!({"apiVersion": "tx.example.com/v1", "kind": "MySQL",
            "status": {"message": "provisioning", "observedGeneration": 1, "phase": "Provisioning"}});
        let v = ok(cr_apply(
            Some(&v),
            &status,
            "kubectl-mysql",
            Some("status"),
            true,
            T21,
        ));
        let mut new = v.clone();
        new["status"]["phase"] = json!("Ready");
        let w = record_update(
            Some(&v),
            &new,
            "unknown",
            "tx.example.com/v1",
            Some("status"),
            T22,
            &lt,
        );
        assert_eq!(
            summary(&w),
            vec![
                (
                    "kubectl-mysql".into(),
                    "Apply".into(),
                    None,
                    Some(T21.into()),
                    fields_of(&v, "kubectl-mysql")
                ),
                (
                    "kubectl-mysql".into(),
                    "Apply".into(),
                    Some("status".into()),
                    Some(T21.into()),
                    json!({"f:status": {"f:message": {}, "f:observedGeneration": {}}})
                ),
                (
                    "unknown".into(),
                    "Update".into(),
                    Some("status".into()),
                    Some(T22.into()),
                    json!({"f:status": {"f:phase": {}}})
                ),
            ]
        );
        // The status manager now conflicts with "unknown" on phase.
        let mut again = status.clone();
        again["status"]["phase"] = json!("Provisioning");
        let err = cr_apply(
            Some(&w),
            &again,
            "kubectl-mysql",
            Some("status"),
            false,
            T22,
        )
        .unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].manager, "unknown");
        assert_eq!(err[0].field, ".status.phase");
        assert_eq!(
            err[0].operation_update_api_version.as_deref(),
            Some("tx.example.com/v1")
        );
    }

    #[test]
    fn record_update_noop_and_removal() {
        let v = shared_cm();
        // A no-op update changes nothing.
        assert_eq!(
            record_update(Some(&v), &v, "kubectl-edit", "v1", None, T22, &lt),
            v
        );
        // Removing a field drops it from its owner; the remover owns nothing.
        let mut new = v.clone();
        new["data"].as_object_mut().unwrap().remove("e");
        let w = record_update(Some(&v), &new, "kubectl-edit", "v1", None, T22, &lt);
        assert_eq!(managers(&w), ["mgr-b"]);
        // managedFields: [] resets them (and the object stays untracked).
        let mut reset = v.clone();
        reset["metadata"]["managedFields"] = json!([]);
        reset["data"]["z"] = json!("1");
        let w = record_update(Some(&v), &reset, "kubectl-edit", "v1", None, T22, &lt);
        assert!(w["metadata"].get("managedFields").is_none());
        assert_eq!(w["data"]["z"], "1");
        // A client that sends managedFields back unchanged keeps them.
        let mut put = v.clone();
        put["data"]["z"] = json!("1");
        let w = record_update(Some(&v), &put, "kubectl-replace", "v1", None, T22, &lt);
        assert_eq!(managers(&w), ["mgr-a", "mgr-b", "kubectl-replace"]);
    }

    #[test]
    fn apply_to_untracked_object_creates_before_first_apply() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "uid": "u"}, "data": {"k": "v"}});
        let w = ok(ap(
            Some(&v),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}),
            "m",
            false,
            T20,
        ));
        assert_eq!(w["data"], json!({"a": "1", "k": "v"}));
        assert_eq!(managers(&w), ["m", "before-first-apply"]);
        assert_eq!(
            fields_of(&w, "before-first-apply"),
            json!({"f:data": {".": {}, "f:k": {}}})
        );
        let err = ap(Some(&v), json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "x"}}), "m", false, T20).unwrap_err();
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using v1: .data.k"
        );
    }

    #[test]
    fn atomic_selector_is_one_leaf_and_replaced_whole() {
        let spec = json!({"selector": {"matchLabels": {"app": "web", "tier": "x"}}});
        let v = ok(dap(None, spec, "a", false, T20));
        assert_eq!(fields_of(&v, "a"), json!({"f:spec": {"f:selector": {}}}));
        let err = dap(
            Some(&v),
            json!({"selector": {"matchLabels": {"app": "web"}}}),
            "b",
            false,
            T20,
        )
        .unwrap_err();
        assert_eq!(err[0].field, ".spec.selector");
        let w = ok(dap(
            Some(&v),
            json!({"selector": {"matchLabels": {"app": "web"}}}),
            "b",
            true,
            T20,
        ));
        assert_eq!(
            w["spec"]["selector"],
            json!({"matchLabels": {"app": "web"}})
        );
        assert_eq!(managers(&w), ["b"]);
    }

    #[test]
    fn conflict_message_groups_by_manager() {
        let c = |m: &str, f: &str, u: Option<&str>| Conflict {
            manager: m.into(),
            field: f.into(),
            operation_update_api_version: u.map(String::from),
        };
        let msg = conflict_message(&[
            c("mgr-b", ".data.a", None),
            c("mgr-a", ".data.b", None),
            c("mgr-b", ".data.c", None),
        ]);
        assert_eq!(
            msg,
            "Apply failed with 3 conflicts: conflicts with \"mgr-a\":\n- .data.b\nconflicts with \"mgr-b\":\n- .data.a\n- .data.c"
        );
        // An Apply and an Update entry of the same manager are different owners.
        let msg = conflict_message(&[c("m", ".a", Some("v1")), c("m", ".b", None)]);
        assert_eq!(
            msg,
            "Apply failed with 2 conflicts: conflicts with \"m\":\n- .b\nconflicts with \"m\" using v1:\n- .a"
        );
    }

    #[test]
    fn fields_v1_round_trip() {
        let f = json!({"f:metadata": {"f:finalizers": {".": {}, "v:\"tx.example.com/backup\"": {}},
                                      "f:ownerReferences": {".": {}, "k:{\"uid\":\"u1\"}": {}}},
                       "f:spec": {"f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}}},
                                  "f:selector": {}}});
        let set = parse_fields_v1(&f);
        assert_eq!(fields_v1(&set), f);
        let port = set
            .iter()
            .find(|p| p.len() == 3 && p[0] == Pe::Field("spec".into()))
            .unwrap();
        assert_eq!(
            path_text(port),
            ".spec.ports[containerPort=80,protocol=\"TCP\"]"
        );
    }

    #[test]
    fn update_managers_are_capped_at_ten() {
        let mut v =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
        v = record_update(None, &v, "creator", "v1", None, "2026-11-23T09:00:00Z", &lt);
        for i in 0..11 {
            let mut n = v.clone();
            n["data"][format!("k{i}")] = json!("v");
            let now = format!("2026-11-23T09:00:{:02}Z", i + 1);
            v = record_update(Some(&v), &n, &format!("m{i:02}"), "v1", None, &now, &lt);
        }
        let names = managers(&v);
        assert_eq!(names.len(), 10);
        assert_eq!(names[0], "ancient-changes");
        assert_eq!(
            fields_of(&v, "ancient-changes"),
            json!({"f:data": {".": {}, "f:k0": {}, "f:k1": {}}})
        );
        assert_eq!(mf(&v)[0]["time"], "2026-11-23T09:00:02Z");
    }

    #[test]
    fn well_known_types() {
        let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            well_known_list_type(&p(&["spec", "template", "spec", "containers"])),
            ListType::Map(vec!["name".into()])
        );
        assert_eq!(
            well_known_list_type(&p(&["spec", "template", "spec", "containers", "env"])),
            ListType::Map(vec!["name".into()])
        );
        assert_eq!(
            well_known_list_type(&p(&["status", "conditions"])),
            ListType::Map(vec!["type".into()])
        );
        assert_eq!(
            well_known_list_type(&p(&["spec", "template", "spec", "containers", "args"])),
            ListType::Atomic
        );
    }
}
