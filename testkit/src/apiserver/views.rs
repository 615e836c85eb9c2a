//! What clients read: discovery and OpenAPI documents derived from the registry, the
//! representations of objects and lists (plain, Table, PartialObjectMetadata), selectors
//! and list pages.

use serde_json::{Value, json};

use super::registry::{Kind, Registry};
use super::status::{self, ApiError};

/// The representation a client asked for in `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Representation {
    Object,
    Table,
    Metadata,
}

impl Representation {
    /// kubectl get asks for `as=Table`, the Controller's `.owns()` for
    /// `as=PartialObjectMetadata[List]`; the first acceptable one wins.
    pub fn from_accept(accept: &str) -> Self {
        for choice in accept.split(',') {
            if choice.contains("as=Table") {
                return Representation::Table;
            }
            if choice.contains("as=PartialObjectMetadata") {
                return Representation::Metadata;
            }
            if choice.trim().starts_with("application/json") || choice.trim() == "*/*" {
                return Representation::Object;
            }
        }
        Representation::Object
    }
}

/// One page of a list.
pub struct Page {
    pub items: Vec<Value>,
    pub revision: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// Where an object sits in list order: `namespace/name`.
pub fn position(object: &Value) -> String {
    format!(
        "{}/{}",
        object["metadata"]["namespace"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// An opaque continue token (hex of the last position).
pub fn encode_continue(position: &str) -> String {
    position.bytes().map(|b| format!("{b:02x}")).collect()
}

pub fn decode_continue(token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn metadata_only(object: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"]})
}

/// A single object in the asked representation.
pub fn render_object(kind: &Kind, object: Value, representation: Representation) -> Value {
    match representation {
        Representation::Object => object,
        Representation::Metadata => metadata_only(&object),
        Representation::Table => table(kind, std::slice::from_ref(&object), None),
    }
}

/// A watch event's object: like a single object, a Table with one row for kubectl.
pub fn render_watch_object(kind: &Kind, object: Value, representation: Representation) -> Value {
    render_object(kind, object, representation)
}

/// A list in the asked representation.
pub fn render_list(kind: &Kind, page: Page, representation: Representation) -> Value {
    let mut metadata = json!({"resourceVersion": page.revision.to_string()});
    if let Some(token) = &page.continue_token {
        metadata["continue"] = json!(token);
    } else if kind.custom {
        metadata["continue"] = json!("");
    }
    if let Some(remaining) = page.remaining {
        metadata["remainingItemCount"] = json!(remaining);
    }
    match representation {
        Representation::Table => table(kind, &page.items, Some(metadata)),
        Representation::Metadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            // A nil slice without omitempty: null when empty (transcript 14).
            "items": if page.items.is_empty() {
                Value::Null
            } else {
                json!(page.items.iter().map(metadata_only).collect::<Vec<_>>())
            },
        }),
        Representation::Object => {
            let items: Vec<Value> = page
                .items
                .into_iter()
                .map(|mut o| {
                    // Built-in list items carry no kind/apiVersion; custom ones do.
                    if !kind.custom
                        && let Some(map) = o.as_object_mut()
                    {
                        map.remove("kind");
                        map.remove("apiVersion");
                    }
                    o
                })
                .collect();
            json!({"apiVersion": kind.api_version(), "kind": format!("{}List", kind.kind), "metadata": metadata, "items": items})
        }
    }
}

/// A bookmark: only the kind and the resourceVersion (plus the end-of-initial-events mark).
pub fn bookmark(kind: &Kind, revision: u64, initial_events_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    if !kind.custom {
        metadata["creationTimestamp"] = Value::Null;
    }
    json!({"kind": kind.kind, "apiVersion": kind.api_version(), "metadata": metadata})
}

/// `1s`, `5m`, `3h`, `2d` as the API server formats Age cells.
pub fn age(timestamp: &str) -> String {
    let Ok(then) = timestamp.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let seconds = (jiff::Timestamp::now().as_second() - then.as_second()).max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 3 => format!("{}m", s / 60),
        s if s < 86400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The value at a simple JSONPath such as `.status.phase`.
fn json_path<'v>(object: &'v Value, path: &str) -> Option<&'v Value> {
    path.trim_start_matches('.')
        .split('.')
        .try_fold(object, |v, k| v.get(k))
}

/// Columns of a kind: Name, the CRD's printer columns (or a built-in's usual ones), Age.
fn columns(kind: &Kind) -> Vec<Value> {
    let mut out = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    if kind.custom {
        for c in &kind.printer_columns {
            let path = c["jsonPath"].as_str().unwrap_or_default();
            let mut column = json!({
                "name": c["name"],
                "type": c["type"],
                "format": c.get("format").cloned().unwrap_or(json!("")),
                "description": c.get("description").cloned().unwrap_or_else(|| json!(format!("Custom resource definition column (in JSONPath format): {path}"))),
                "priority": c.get("priority").cloned().unwrap_or(json!(0)),
            });
            column["jsonPath"] = json!(path);
            out.push(column);
        }
        if !kind
            .printer_columns
            .iter()
            .any(|c| c["name"] == json!("Age"))
        {
            out.push(json!({"name": "Age", "type": "date", "format": "", "description": "Custom resource definition column (in JSONPath format): .metadata.creationTimestamp", "priority": 0, "jsonPath": ".metadata.creationTimestamp"}));
        }
    } else {
        if kind.plural == "namespaces"
            || kind.plural == "persistentvolumeclaims"
            || kind.plural == "persistentvolumes"
        {
            out.push(json!({"name": "Status", "type": "string", "format": "", "description": "", "priority": 0, "jsonPath": ".status.phase"}));
        }
        out.push(json!({"name": "Age", "type": "string", "format": "", "description": "", "priority": 0, "jsonPath": ".metadata.creationTimestamp"}));
    }
    out
}

fn table(kind: &Kind, objects: &[Value], list_metadata: Option<Value>) -> Value {
    let columns = columns(kind);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells: Vec<Value> = columns
                .iter()
                .map(|c| {
                    if c["format"] == json!("name") {
                        return o["metadata"]["name"].clone();
                    }
                    let path = c["jsonPath"].as_str().unwrap_or_default();
                    match (json_path(o, path), c["type"].as_str()) {
                        (Some(Value::String(t)), Some("date")) => json!(age(t)),
                        (Some(v), _) if path == ".metadata.creationTimestamp" => {
                            json!(age(v.as_str().unwrap_or_default()))
                        }
                        (Some(v), _) => v.clone(),
                        (None, _) => Value::Null,
                    }
                })
                .collect();
            json!({"cells": cells, "object": metadata_only(o)})
        })
        .collect();
    let definitions: Vec<Value> = columns
        .into_iter()
        .map(|mut c| {
            c.as_object_mut().map(|m| m.remove("jsonPath"));
            c
        })
        .collect();
    let metadata = list_metadata.unwrap_or_else(|| {
        json!({"resourceVersion": objects.first().map(|o| o["metadata"]["resourceVersion"].clone()).unwrap_or(json!(""))})
    });
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": definitions, "rows": rows})
}

/// A label selector: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`.
#[derive(Clone, Debug, Default)]
pub struct LabelSelector(Vec<Requirement>);

#[derive(Clone, Debug)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Split on commas outside parentheses.
fn terms(selector: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in selector.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn valid_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl LabelSelector {
    pub fn parse(selector: &str) -> Result<Self, ApiError> {
        let bad = || {
            status::bad_request(format!(
                "unable to parse requirement: found '{selector}', expected: valid label selector"
            ))
        };
        let mut requirements = Vec::new();
        for term in terms(selector) {
            let set = |rest: &str| -> Option<Vec<String>> {
                let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
                Some(inner.split(',').map(|v| v.trim().to_string()).collect())
            };
            let requirement = if let Some((k, rest)) = term.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), set(rest).ok_or_else(bad)?)
            } else if let Some((k, rest)) = term.split_once(" in ") {
                Requirement::In(k.trim().into(), set(rest).ok_or_else(bad)?)
            } else if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some(k) = term.strip_prefix('!') {
                Requirement::NotExists(k.trim().into())
            } else {
                Requirement::Exists(term.clone())
            };
            let key = match &requirement {
                Requirement::Equals(k, _)
                | Requirement::NotEquals(k, _)
                | Requirement::In(k, _)
                | Requirement::NotIn(k, _)
                | Requirement::Exists(k)
                | Requirement::NotExists(k) => k,
            };
            if !valid_key(key) {
                return Err(bad());
            }
            let values: Vec<&String> = match &requirement {
                Requirement::Equals(_, v) | Requirement::NotEquals(_, v) => vec![v],
                Requirement::In(_, vs) | Requirement::NotIn(_, vs) => vs.iter().collect(),
                _ => Vec::new(),
            };
            if values.iter().any(|v| v.contains('=')) {
                return Err(status::bad_request(
                    "found '=', expected: ',' or 'end of string'",
                ));
            }
            if values.iter().any(|v| !valid_value(v)) {
                return Err(bad());
            }
            requirements.push(requirement);
        }
        Ok(Self(requirements))
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let value = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => value(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => value(k) != Some(v.as_str()),
            Requirement::In(k, vs) => value(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => value(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => value(k).is_some(),
            Requirement::NotExists(k) => value(k).is_none(),
        })
    }
}

/// A field selector on the fields a kind supports (`metadata.name`, `metadata.namespace`
/// everywhere; events' own fields; any field of other built-ins).
#[derive(Clone, Debug, Default)]
pub struct FieldSelector(Vec<(String, String, bool)>);

fn supported_field(kind: &Kind, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    match (kind.group.as_str(), kind.plural.as_str()) {
        ("", "events") => {
            field.starts_with("involvedObject.")
                || matches!(field, "type" | "reason" | "source" | "reportingComponent")
        }
        ("events.k8s.io", "events") => matches!(
            field,
            "regarding.name"
                | "regarding.kind"
                | "regarding.uid"
                | "regarding.namespace"
                | "regarding.apiVersion"
                | "type"
                | "reportingController"
                | "reason"
        ),
        _ => !kind.custom,
    }
}

impl FieldSelector {
    pub fn parse(kind: &Kind, selector: &str) -> Result<Self, ApiError> {
        let mut out = Vec::new();
        for term in terms(selector) {
            let (field, value, negate) = match term.split_once("!=") {
                Some((f, v)) => (f, v, true),
                None => match term.split_once("==").or_else(|| term.split_once('=')) {
                    Some((f, v)) => (f, v, false),
                    None => {
                        return Err(status::bad_request(format!(
                            "invalid selector: '{selector}'; can't understand '{term}'"
                        )));
                    }
                },
            };
            let field = field.trim();
            if !supported_field(kind, field) {
                return Err(status::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            out.push((field.to_string(), value.trim().to_string(), negate));
        }
        Ok(Self(out))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, expected, negate)| {
            // core/v1 Events: `source` is source.component, else reportingComponent.
            let field = match field.as_str() {
                "source"
                    if object["apiVersion"] == json!("v1") && object["kind"] == json!("Event") =>
                {
                    if object["source"]["component"].is_string() {
                        "source.component"
                    } else {
                        "reportingComponent"
                    }
                }
                other => other,
            };
            let actual = field
                .split('.')
                .try_fold(object, |v, k| v.get(k))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            (actual == *expected) != *negate
        })
    }
}

/// `/apis`: every group with its versions.
pub fn group_list(registry: &Registry) -> Value {
    let mut groups: Vec<Value> = Vec::new();
    for (group, version) in registry.group_versions() {
        if group.is_empty() {
            continue;
        }
        let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
        match groups.iter_mut().find(|g| g["name"] == json!(group)) {
            Some(g) => g["versions"]
                .as_array_mut()
                .into_iter()
                .for_each(|v| v.push(gv.clone())),
            None => groups
                .push(json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})),
        }
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/api/v1`, `/apis/<group>/<version>`: the resources of a group version.
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Value {
    let resources: Vec<Value> = registry
        .in_group_version(group, version)
        .flat_map(Kind::api_resources)
        .collect();
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut list = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources});
    if group.is_empty() {
        // The legacy core document carries no apiVersion.
        list.as_object_mut().map(|m| m.remove("apiVersion"));
    }
    list
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: one document per group version.
pub fn openapi_index(registry: &Registry) -> Value {
    let paths: serde_json::Map<String, Value> = registry
        .group_versions()
        .into_iter()
        .map(|(g, v)| {
            let path = gv_path(&g, &v);
            let url = format!(
                "/openapi/v3/{path}?hash={:016X}",
                registry.in_group_version(&g, &v).count()
            );
            (path, json!({"serverRelativeURL": url}))
        })
        .collect();
    json!({"paths": paths})
}

/// The schema name kubectl explain looks for: the group reversed, `com.example.tx.v1.MySQL`.
fn schema_name(kind: &Kind) -> String {
    let reversed: Vec<&str> = kind.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), kind.version, kind.kind)
}

/// A group version's OpenAPI v3 document: enough for kubectl (each kind's PATCH declares
/// `fieldValidation`, so kubectl sends it) and the custom resources' schemas for explain.
pub fn openapi_document(registry: &Registry, group: &str, version: &str) -> Value {
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for kind in registry.in_group_version(group, version) {
        let base = if kind.namespaced {
            format!(
                "/{}/namespaces/{{namespace}}/{}",
                gv_path(group, version),
                kind.plural
            )
        } else {
            format!("/{}/{}", gv_path(group, version), kind.plural)
        };
        let gvk = json!({"group": kind.group, "version": kind.version, "kind": kind.kind});
        let operation = |action: &str| {
            json!({
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                ],
                "responses": {"200": {"description": "OK"}},
            })
        };
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"get": operation("get"), "put": operation("put"), "patch": operation("patch"), "delete": operation("delete")}),
        );
        paths.insert(
            base,
            json!({"get": operation("list"), "post": operation("post")}),
        );
        if let Some(schema) = &kind.schema {
            let mut schema = schema.clone();
            schema["x-kubernetes-group-version-kind"] = json!([gvk]);
            schemas.insert(schema_name(kind), schema);
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.13-testkit"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}
