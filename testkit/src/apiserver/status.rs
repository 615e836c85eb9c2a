//! Errors as the API server sends them: `Status` objects with the right code and reason.

use serde_json::{Value, json};

use super::registry::Kind;
use super::store::RequestRecord;

/// An error answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub body: Value,
}

fn status(code: u16, reason: &str, message: String, details: Value) -> ApiError {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if !details.is_null() {
        body["details"] = details;
    }
    if reason.is_empty() {
        body.as_object_mut().map(|o| o.remove("reason"));
    }
    ApiError { code, body }
}

fn details(kind: &Kind, name: &str) -> Value {
    json!({"name": name, "group": kind.group, "kind": kind.plural})
}

pub fn not_found(kind: &Kind, name: &str) -> ApiError {
    status(
        404,
        "NotFound",
        format!("{} \"{name}\" not found", kind.qualified_plural()),
        details(kind, name),
    )
}

pub fn namespace_not_found(namespace: &str) -> ApiError {
    status(
        404,
        "NotFound",
        format!("namespaces \"{namespace}\" not found"),
        json!({"name": namespace, "kind": "namespaces"}),
    )
}

/// 429 as API Priority and Fairness answers when a priority level's queues are full.
pub fn too_many_requests(retry_after_seconds: u64) -> ApiError {
    status(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.".to_string(),
        json!({"retryAfterSeconds": retry_after_seconds}),
    )
}

/// 403 for a create in a namespace being deleted (the NamespaceLifecycle admission plugin).
pub fn namespace_terminating(kind: &Kind, name: &str, namespace: &str) -> ApiError {
    status(
        403,
        "Forbidden",
        format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
            kind.qualified_plural()
        ),
        {
            let mut details = json!({"name": name, "kind": kind.plural, "causes": [
                {"reason": "NamespaceTerminating", "message": format!("namespace {namespace} is being terminated"), "field": "metadata.namespace"}
            ]});
            if !kind.group.is_empty() {
                details["group"] = json!(kind.group);
            }
            details
        },
    )
}

/// 403 as kube-apiserver answers a request no RBAC rule allows (`responsewriters.Forbidden`
/// with `apierrors.NewForbidden`): details name the resource's plural, not its kind.
pub fn forbidden(request: &RequestRecord, user: &str) -> ApiError {
    let qualified = if request.group.is_empty() {
        request.resource.clone()
    } else {
        format!("{}.{}", request.resource, request.group)
    };
    let resource = if request.subresource.is_empty() {
        request.resource.clone()
    } else {
        format!("{}/{}", request.resource, request.subresource)
    };
    let scope = if request.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", request.namespace)
    };
    let object = if request.name.is_empty() {
        qualified
    } else {
        format!("{qualified} \"{}\"", request.name)
    };
    let mut details = json!({"kind": request.resource});
    if !request.group.is_empty() {
        details["group"] = json!(request.group);
    }
    if !request.name.is_empty() {
        details["name"] = json!(request.name);
    }
    status(
        403,
        "Forbidden",
        format!(
            "{object} is forbidden: User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            request.verb, request.group
        ),
        details,
    )
}

pub fn already_exists(kind: &Kind, name: &str) -> ApiError {
    status(
        409,
        "AlreadyExists",
        format!("{} \"{name}\" already exists", kind.qualified_plural()),
        details(kind, name),
    )
}

pub fn conflict(kind: &Kind, name: &str) -> ApiError {
    status(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            kind.qualified_plural()
        ),
        details(kind, name),
    )
}

pub fn bad_request(message: impl Into<String>) -> ApiError {
    status(400, "BadRequest", message.into(), Value::Null)
}

pub fn method_not_allowed() -> ApiError {
    status(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource".into(),
        Value::Null,
    )
}

/// A create of a custom resource whose CRD is being deleted (the apiextensions-apiserver's
/// crdHandler: NewMethodNotSupported with its own message).
pub fn crd_terminating(kind: &Kind) -> ApiError {
    status(
        405,
        "MethodNotAllowed",
        "create not allowed while custom resource definition is terminating".into(),
        json!({"group": kind.group, "kind": kind.plural}),
    )
}

pub fn unsupported_media_type(custom: bool) -> ApiError {
    let accepted = if custom {
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    } else {
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
    };
    status(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {accepted}"
        ),
        Value::Null,
    )
}

/// A 422 with one cause per invalid field, as `field.ErrorList` renders.
pub fn invalid(kind: &Kind, name: &str, causes: Vec<(String, String, String)>) -> ApiError {
    let summary = match causes.as_slice() {
        [(_, field, message)] => format!("{field}: {message}"),
        many => format!(
            "[{}]",
            many.iter()
                .map(|(_, f, m)| format!("{f}: {m}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let causes: Vec<Value> = causes
        .into_iter()
        .map(|(reason, field, message)| json!({"reason": reason, "message": message, "field": field}))
        .collect();
    status(
        422,
        "Invalid",
        format!("{} \"{name}\" is invalid: {summary}", kind.qualified_kind()),
        json!({"name": name, "group": kind.group, "kind": kind.kind, "causes": causes}),
    )
}

/// A JSON-patch `test` that failed, or another patch the server cannot apply.
pub fn unprocessable_patch() -> ApiError {
    status(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request".into(),
        json!({}),
    )
}

/// The success Status of a DELETE that removed the object at once.
pub fn deleted(kind: &Kind, name: &str, uid: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": kind.group, "kind": kind.plural, "uid": uid},
    })
}

/// 409 for server-side apply conflicts, one cause per field.
pub fn apply_conflict(message: String, causes: Vec<Value>) -> ApiError {
    status(409, "Conflict", message, json!({"causes": causes}))
}

/// 500 without a reason: an apply the server cannot type (e.g. an undeclared field).
pub fn typed_patch_failure(message: String) -> ApiError {
    status(500, "", message, Value::Null)
}

/// 422 for an apply without a field manager.
pub fn apply_without_manager() -> ApiError {
    status(
        422,
        "Invalid",
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
        json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]}),
    )
}

/// 409 for DeleteOptions preconditions that do not hold.
pub fn precondition_failed(kind: &Kind, name: &str, detail: String) -> ApiError {
    status(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": {detail}",
            kind.qualified_kind()
        ),
        json!({"name": name, "group": kind.group, "kind": kind.kind}),
    )
}

/// 504 for a list at a resourceVersion the server has not reached.
pub fn too_large_resource_version(asked: u64, current: u64) -> ApiError {
    let mut error = status(
        504,
        "Timeout",
        format!("Timeout: Too large resource version: {asked}, current: {current}"),
        json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
    );
    error.body["details"]["retryAfterSeconds"] = json!(1);
    error
}

/// 422 for list options that break the rules, one cause each.
pub fn invalid_list(causes: Vec<(&str, &str)>) -> ApiError {
    let summary: Vec<String> = causes
        .iter()
        .map(|(field, message)| format!("{field}: Forbidden: {message}"))
        .collect();
    let summary = if summary.len() == 1 {
        summary[0].clone()
    } else {
        format!("[{}]", summary.join(", "))
    };
    status(
        422,
        "Invalid",
        format!("ListOptions.meta.k8s.io \"\" is invalid: {summary}"),
        json!({"group": "meta.k8s.io", "kind": "ListOptions", "causes": causes.iter().map(|(field, message)| json!({"reason": "FieldValueForbidden", "message": format!("Forbidden: {message}"), "field": field})).collect::<Vec<_>>()}),
    )
}

/// 410: a watch or list from a resourceVersion that is no longer kept.
pub fn expired(message: String) -> ApiError {
    status(410, "Expired", message, Value::Null)
}

/// 422 for list options that do not go together (e.g. sendInitialEvents).
pub fn invalid_list_options(field: &str, message: &str) -> ApiError {
    status(
        422,
        "Invalid",
        format!("ListOptions.meta.k8s.io \"\" is invalid: {field}: Forbidden: {message}"),
        json!({"group": "meta.k8s.io", "kind": "ListOptions", "causes": [{"reason": "FieldValueForbidden", "message": format!("Forbidden: {message}"), "field": field}]}),
    )
}
