//! Validation of an object against a CRD's `openAPIV3Schema`, as the API server does it:
//! unknown fields (strict field validation), the OpenAPI value checks and then the CEL
//! rules, with the API server's causes and messages.
//!
//! The CLI checks its input with this before it calls the API, and the test API server
//! validates custom resources with the same code.

use std::fmt;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use kube::core::cel::{RootContext, Validator as CelValidator};
use serde_json::{Map, Value};

/// One reason an object is invalid, shaped like a `StatusCause` of a 422 answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueTypeInvalid`, ...
    pub reason: &'static str,
    /// The field path, `spec.database`, or `<nil>` for the object as a whole.
    pub field: String,
    /// The message without the field, e.g. `Required value`.
    pub message: String,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Causes that stop the API server from evaluating CEL rules (see `hasBlockingErr` upstream).
const BLOCKING_REASONS: [&str; 5] = [
    "FieldValueNotSupported",
    "FieldValueRequired",
    "FieldValueTooLong",
    "FieldValueTooMany",
    "FieldValueTypeInvalid",
];

/// A compiled schema of one custom resource version.
pub struct SchemaValidator {
    openapi: Value,
    values: jsonschema::Validator,
    root: RootContext,
}

/// The schema itself could not be compiled (a bug in a CRD, not in an object).
#[derive(Debug, thiserror::Error)]
#[error("the CRD schema cannot be compiled: {0}")]
pub struct InvalidSchema(String);

impl SchemaValidator {
    /// Compile the `openAPIV3Schema` of `group/version` `kind`.
    pub fn new(openapi: &Value, api_version: &str, kind: &str) -> Result<Self, InvalidSchema> {
        let json_schema = to_json_schema(openapi);
        let values = jsonschema::draft4::options()
            .build(&json_schema)
            .map_err(|e| InvalidSchema(e.to_string()))?;
        let root = RootContext {
            api_version: api_version.to_string(),
            api_group: api_version
                .rsplit_once('/')
                .map(|(g, _)| g.to_string())
                .unwrap_or_default(),
            kind: kind.to_string(),
        };
        let openapi = if cel_escapes_single_underscores() {
            with_rules_escaped_for_kube_cel(openapi)
        } else {
            openapi.clone()
        };
        Ok(Self {
            openapi,
            values,
            root,
        })
    }

    /// Paths of fields the schema does not declare, e.g. `spec.unknownField`, in document order.
    pub fn unknown_fields(&self, object: &Value) -> Vec<String> {
        let mut found = Vec::new();
        walk_unknown(&self.openapi, object, "", true, &mut found);
        found
    }

    /// Drop the fields the schema does not declare (the API server's pruning).
    pub fn prune(&self, object: &mut Value) {
        prune(&self.openapi, object, true);
    }

    /// The object with the schema's defaults filled in, as admission does before validation.
    pub fn with_defaults(&self, object: &Value) -> Value {
        kube::core::cel::apply_defaults(&self.openapi, object)
    }

    /// Value checks (types, required, patterns, enums, lengths, bounds), then CEL rules.
    /// `old` is the stored object on an update, for transition rules (`oldSelf`).
    pub fn validate(&self, object: &Value, old: Option<&Value>) -> Vec<Cause> {
        let mut causes: Vec<Cause> = self
            .values
            .iter_errors(object)
            .map(|e| value_cause(&e))
            .collect();
        if causes.iter().any(|c| BLOCKING_REASONS.contains(&c.reason)) {
            causes.push(Cause {
                reason: "FieldValueInvalid",
                field: "<nil>".into(),
                message: "Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".into(),
            });
            return causes;
        }
        let cel = CelValidator::new();
        if let Err(errors) = cel.validate_with_context(&self.openapi, object, old, Some(&self.root))
        {
            for e in errors.iter() {
                let field = if e.field_path.is_empty() {
                    "<nil>".to_string()
                } else {
                    e.field_path.clone()
                };
                // The API server shows the schema type of the node; the root is an object.
                let at = if e.field_path.is_empty() {
                    "object"
                } else {
                    lookup(object, &field).map(type_name).unwrap_or("null")
                };
                causes.push(Cause {
                    reason: "FieldValueInvalid",
                    field,
                    message: format!("Invalid value: \"{at}\": {}", e.message),
                });
            }
        }
        causes
    }
}

/// kube-cel 0.8 escapes every `_` of a field name to `__`, where the API server escapes
/// only `__` (to `__underscores__`): `self.password_secret` then finds nothing. Probe once
/// whether the linked kube-cel does this, so a fixed release needs no change here.
fn cel_escapes_single_underscores() -> bool {
    static ESCAPES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ESCAPES.get_or_init(|| {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"a_b": {"type": "string"}},
            "x-kubernetes-validations": [{"rule": "has(self.a_b)"}],
        });
        let object = serde_json::json!({"a_b": "x"});
        CelValidator::new()
            .validate(&schema, &object, None)
            .is_err()
    })
}

/// The schema with each rule's `.field_name` written the way kube-cel names the field.
fn with_rules_escaped_for_kube_cel(openapi: &Value) -> Value {
    let mut names = Vec::new();
    collect_property_names(openapi, &mut names);
    names.retain(|n| n.contains('_') && !n.contains("__"));
    let mut out = openapi.clone();
    rewrite_rules(&mut out, &names);
    out
}

fn collect_property_names(schema: &Value, names: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                names.extend(props.keys().cloned());
            }
            map.values().for_each(|v| collect_property_names(v, names));
        }
        Value::Array(list) => list.iter().for_each(|v| collect_property_names(v, names)),
        _ => {}
    }
}

fn rewrite_rules(schema: &mut Value, names: &[String]) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(rules)) = map.get_mut("x-kubernetes-validations") {
                for rule in rules.iter_mut() {
                    if let Some(Value::String(text)) = rule.get_mut("rule") {
                        *text = escape_selections(text, names);
                    }
                }
            }
            map.values_mut().for_each(|v| rewrite_rules(v, names));
        }
        Value::Array(list) => list.iter_mut().for_each(|v| rewrite_rules(v, names)),
        _ => {}
    }
}

/// Replace each selection `.name` (a whole identifier) by `.na__me`.
fn escape_selections(rule: &str, names: &[String]) -> String {
    let mut out = rule.to_string();
    for name in names {
        let from = format!(".{name}");
        let to = format!(".{}", name.replace('_', "__"));
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(&from) {
            let after = &rest[at + from.len()..];
            let whole = !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            result.push_str(&rest[..at]);
            result.push_str(if whole { &to } else { &from });
            rest = after;
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// The API server's one-line summary of causes: `a: x` or `[a: x, b: y]`.
pub fn summarize(causes: &[Cause]) -> String {
    match causes {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// OpenAPI v3 (Kubernetes flavour) to JSON Schema draft 4: `nullable` becomes a `null`
/// type, int-or-string loses its type, extensions are left as unknown keywords.
fn to_json_schema(openapi: &Value) -> Value {
    match openapi {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let converted = match k.as_str() {
                    "properties" | "patternProperties" | "definitions" => match v {
                        Value::Object(props) => Value::Object(
                            props
                                .iter()
                                .map(|(name, s)| (name.clone(), to_json_schema(s)))
                                .collect(),
                        ),
                        other => other.clone(),
                    },
                    "items" | "additionalProperties" | "not" => to_json_schema(v),
                    "allOf" | "anyOf" | "oneOf" => match v {
                        Value::Array(list) => {
                            Value::Array(list.iter().map(to_json_schema).collect())
                        }
                        other => other.clone(),
                    },
                    _ => v.clone(),
                };
                out.insert(k.clone(), converted);
            }
            if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
                out.remove("type");
            }
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(t)) = map.get("type")
            {
                out.insert("type".into(), serde_json::json!([t, "null"]));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn preserves_unknown(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
}

/// `metadata`, `apiVersion` and `kind` at the root are the API server's, not the schema's.
fn is_root_meta(at_root: bool, key: &str) -> bool {
    at_root && matches!(key, "apiVersion" | "kind" | "metadata")
}

fn walk_unknown(schema: &Value, value: &Value, path: &str, at_root: bool, found: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            if preserves_unknown(schema) && schema.get("properties").is_none() {
                return;
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in fields {
                if is_root_meta(at_root, key) {
                    continue;
                }
                let child_path = join(path, key);
                match (props.and_then(|p| p.get(key)), additional) {
                    (Some(s), _) | (None, Some(s)) => {
                        walk_unknown(s, child, &child_path, false, found)
                    }
                    (None, None) if !preserves_unknown(schema) => found.push(child_path),
                    (None, None) => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk_unknown(item_schema, item, &format!("{path}[{i}]"), false, found);
                }
            }
        }
        _ => {}
    }
}

fn prune(schema: &Value, value: &mut Value, at_root: bool) {
    match value {
        Value::Object(fields) => {
            if preserves_unknown(schema) && schema.get("properties").is_none() {
                return;
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keep_unknown = preserves_unknown(schema);
            fields.retain(|key, _| {
                is_root_meta(at_root, key)
                    || keep_unknown
                    || additional.is_some()
                    || props.is_some_and(|p| p.contains_key(key))
            });
            for (key, child) in fields.iter_mut() {
                if is_root_meta(at_root, key) {
                    continue;
                }
                if let Some(s) = props.and_then(|p| p.get(key)).or(additional) {
                    prune(s, child, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                items
                    .iter_mut()
                    .for_each(|item| prune(item_schema, item, false));
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The value at a dotted path such as `spec.database` (no list indices needed here).
fn lookup<'v>(object: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(object, |v, key| v.get(key))
}

/// Kubernetes renders a field path with dots and `[i]` for list items.
fn field_path(location: &jsonschema::paths::Location) -> String {
    let mut out = String::new();
    for segment in location.iter() {
        match segment {
            LocationSegment::Property(p) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&p);
            }
            LocationSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A value shown the way the API server quotes it in `Invalid value: ...`.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn value_cause(error: &jsonschema::ValidationError<'_>) -> Cause {
    let at = field_path(error.instance_path());
    let value = error.instance();
    let invalid = |detail: String| Cause {
        reason: "FieldValueInvalid",
        field: at.clone(),
        message: format!("Invalid value: {}: {at} in body {detail}", shown(value)),
    };
    match error.kind() {
        ValidationErrorKind::Required { property } => Cause {
            reason: "FieldValueRequired",
            field: join(&at, property.as_str().unwrap_or_default()),
            message: "Required value".into(),
        },
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| t.to_string())
                    .find(|t| t != "null")
                    .unwrap_or_default(),
            };
            let actual = type_name(value);
            Cause {
                reason: "FieldValueTypeInvalid",
                field: at.clone(),
                message: format!(
                    "Invalid value: \"{actual}\": {at} in body must be of type {expected}: \"{actual}\""
                ),
            }
        }
        ValidationErrorKind::Pattern { pattern } => invalid(format!("should match '{pattern}'")),
        ValidationErrorKind::MinLength { limit } => {
            invalid(format!("should be at least {limit} chars long"))
        }
        ValidationErrorKind::MaxLength { limit } => Cause {
            reason: "FieldValueTooLong",
            field: at.clone(),
            message: format!("Too long: may not be more than {limit} bytes"),
        },
        ValidationErrorKind::Minimum { limit } => {
            invalid(format!("should be greater than or equal to {limit}"))
        }
        ValidationErrorKind::Maximum { limit } => {
            invalid(format!("should be less than or equal to {limit}"))
        }
        ValidationErrorKind::MinItems { limit } => {
            invalid(format!("should have at least {limit} items"))
        }
        ValidationErrorKind::MaxItems { limit } => Cause {
            reason: "FieldValueTooMany",
            field: at.clone(),
            message: format!(
                "Too many: {}: must have at most {limit} items",
                value.as_array().map_or(0, Vec::len)
            ),
        },
        ValidationErrorKind::Enum { options } => {
            let supported = options
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter(|v| !v.is_null())
                        .map(shown)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            Cause {
                reason: "FieldValueNotSupported",
                field: at.clone(),
                message: format!(
                    "Unsupported value: {}: supported values: {supported}",
                    shown(value)
                ),
            }
        }
        // Keywords the CRD schemas here do not use still get a faithful, generic cause.
        _ => invalid(format!("is invalid: {error}")),
    }
}
