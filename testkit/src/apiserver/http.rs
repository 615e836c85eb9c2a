//! HTTP: paths and verbs of the Kubernetes API mapped onto the store, plus the
//! representations clients ask for (Table, PartialObjectMetadata, watch streams).

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Body, Frame};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::apply;
use super::events;
use super::rbac;
use super::registry::Kind;
use super::status::{self, ApiError};
use super::store::{
    self, Change, ChangeType, FieldValidation, Part, RequestRecord, Store, WriteOptions,
    resource_key,
};
use super::views::{self, Representation};

pub type Shared = Arc<Mutex<Store>>;
pub type ResponseBody = BoxBody<Bytes, Infallible>;
type Answer = Result<(u16, Value), ApiError>;

/// How often an open watch gets a BOOKMARK when it asked for them.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);
/// How long a watch stays open without `timeoutSeconds`.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// One HTTP request, read whole.
pub struct Call {
    pub method: Method,
    pub segments: Vec<String>,
    pub params: HashMap<String, String>,
    pub content_type: String,
    pub accept: String,
    pub user_agent: String,
    /// Who sent it, as an authenticator would tell: see [`user_of`].
    pub user: String,
    pub body: Bytes,
}

fn full(code: u16, content_type: &str, body: Bytes, warnings: &[String]) -> Response<ResponseBody> {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("Content-Type", content_type)
        .header("Cache-Control", "no-cache, private");
    for warning in warnings {
        builder = builder.header("Warning", format!("299 - {warning:?}"));
    }
    builder
        .body(Full::new(body).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}

fn json_response(code: u16, body: &Value, warnings: &[String]) -> Response<ResponseBody> {
    full(
        code,
        "application/json",
        Bytes::from(body.to_string()),
        warnings,
    )
}

/// An unknown path: plain text, not a Status (as a real server answers).
fn page_not_found() -> Response<ResponseBody> {
    full(
        404,
        "text/plain; charset=utf-8",
        Bytes::from_static(b"404 page not found\n"),
        &[],
    )
}

fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serve one request.
pub async fn serve(
    store: Shared,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let content_type = header("content-type")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let accept = header("accept");
    let user_agent = header("user-agent");
    let user = user_of(&header("authorization"));
    let method = request.method().clone();
    let segments: Vec<String> = request
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let params = parse_query(request.uri().query());
    let body = match request.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let call = Call {
        method,
        segments,
        params,
        content_type,
        accept,
        user_agent,
        user,
        body,
    };
    if let Some(error) = wait_for_revision(&store, &call).await {
        return Ok(json_response(error.code, &error.body, &[]));
    }
    Ok(handle(&store, call))
}

/// A read at a resourceVersion the store has not reached waits up to 3 s for it, then
/// answers 504 (as the watch cache does).
async fn wait_for_revision(store: &Shared, call: &Call) -> Option<ApiError> {
    let watching = call
        .params
        .get("watch")
        .is_some_and(|w| w == "true" || w == "1");
    if call.method != Method::GET || watching {
        return None;
    }
    let asked = call.params.get("resourceVersion")?.parse::<u64>().ok()?;
    let mut updates = {
        let guard = store.lock().unwrap_or_else(|p| p.into_inner());
        if asked <= guard.revision() {
            return None;
        }
        guard.subscribe()
    };
    let reached =
        tokio::time::timeout(Duration::from_secs(3), updates.wait_for(|r| *r >= asked)).await;
    if matches!(reached, Ok(Ok(_))) {
        return None;
    }
    let current = store.lock().unwrap_or_else(|p| p.into_inner()).revision();
    Some(status::too_large_resource_version(asked, current))
}

/// The answer to one call (a watch answers with a stream fed by a task).
pub fn handle(store: &Shared, call: Call) -> Response<ResponseBody> {
    let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
    let segments: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    if let Some(record) = request_record(&call, &segments) {
        // Authorization comes first, as on a real server: nothing else is looked at.
        let refused = guard.forbidden.iter().any(|f| f.matches(&record));
        let answer = if refused {
            Some(status::forbidden(&record, &call.user))
        } else {
            rbac::authorize(&guard, &record).err()
        };
        guard.requests.push(record);
        if let Some(error) = answer {
            return json_response(error.code, &error.body, &[]);
        }
        // API Priority and Fairness rejecting a request of a saturated priority level.
        if let Some(throttle) = guard.throttle.as_mut()
            && throttle.remaining > 0
        {
            throttle.remaining -= 1;
            let seconds = throttle.retry_after_seconds;
            let error = status::too_many_requests(seconds);
            let mut response = json_response(error.code, &error.body, &[]);
            if let Ok(value) = seconds.to_string().parse() {
                response.headers_mut().insert("Retry-After", value);
            }
            return response;
        }
    }
    if let Some((kind, namespace)) = watch_target(&guard, &call, &segments) {
        drop(guard);
        return watch(store.clone(), kind, namespace, &call);
    }
    let answer = route(&mut guard, &call, &segments);
    let warnings = std::mem::take(&mut guard.warnings);
    match answer {
        Some(Ok((code, value))) => json_response(code, &value, &warnings),
        Some(Err(error)) => json_response(error.code, &error.body, &warnings),
        None => page_not_found(),
    }
}

/// The user a request authenticates as. The test server trusts any bearer token and
/// takes it as the user's name (a kubeconfig user with `token: operator` is "operator");
/// with no credentials a request is anonymous, as on a real API server.
fn user_of(authorization: &str) -> String {
    match authorization.strip_prefix("Bearer ") {
        Some(token) if !token.trim().is_empty() => token.trim().to_string(),
        _ => "system:anonymous".to_string(),
    }
}

/// The authorizer's view of a resource request: verb, group, resource, subresource,
/// namespace, name and user.
fn request_record(call: &Call, segments: &[&str]) -> Option<RequestRecord> {
    let (group, rest) = match segments {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (*ns, tail),
        other => ("", other),
    };
    let (resource, name, subresource) = match rest {
        [resource] => (*resource, "", ""),
        [resource, name] => (*resource, *name, ""),
        [resource, name, sub] => (*resource, *name, *sub),
        _ => return None,
    };
    let watching = call
        .params
        .get("watch")
        .is_some_and(|w| w == "true" || w == "1");
    let verb = match (&call.method, name.is_empty()) {
        (&Method::GET, true) if watching => "watch",
        (&Method::GET, true) => "list",
        (&Method::GET, false) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "deletecollection",
        (&Method::DELETE, false) => "delete",
        _ => return None,
    };
    Some(RequestRecord {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        subresource: subresource.into(),
        namespace: namespace.into(),
        name: name.into(),
        user: call.user.clone(),
        user_agent: call.user_agent.clone(),
    })
}

/// `(kind, namespace)` when the call is a watch (`?watch=true` on a collection).
fn watch_target(store: &Store, call: &Call, segments: &[&str]) -> Option<(Kind, Option<String>)> {
    if call.method != Method::GET
        || call
            .params
            .get("watch")
            .is_none_or(|w| w != "true" && w != "1")
    {
        return None;
    }
    let (group, version, rest) = match segments {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    match rest {
        ["namespaces", ns, plural] => {
            let kind = store.registry.find(group, version, plural)?;
            kind.namespaced
                .then(|| (kind.clone(), Some(ns.to_string())))
        }
        [plural] => Some((store.registry.find(group, version, plural)?.clone(), None)),
        _ => None,
    }
}

fn route(store: &mut Store, call: &Call, segments: &[&str]) -> Option<Answer> {
    let ok = |value: Value| Some(Ok((200, value)));
    match segments {
        ["version"] => ok(json!({
            "major": "1", "minor": "32", "gitVersion": "v1.32.13-testkit",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
            "platform": "linux/amd64",
        })),
        ["api"] => ok(json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
        })),
        ["apis"] => ok(views::group_list(&store.registry)),
        ["api", "v1"] => ok(views::resource_list(&store.registry, "", "v1")),
        ["apis", group] => views::group_list(&store.registry)["groups"]
            .as_array()
            .and_then(|gs| gs.iter().find(|g| g["name"] == json!(group)).cloned())
            .map(|mut g| {
                g["kind"] = json!("APIGroup");
                g["apiVersion"] = json!("v1");
                Ok((200, g))
            }),
        ["apis", group, version] => {
            store.registry.in_group_version(group, version).next()?;
            ok(views::resource_list(&store.registry, group, version))
        }
        ["openapi", "v3"] => ok(views::openapi_index(&store.registry)),
        ["openapi", "v3", "api", "v1"] => ok(views::openapi_document(&store.registry, "", "v1")),
        ["openapi", "v3", "apis", group, version] => {
            store.registry.in_group_version(group, version).next()?;
            ok(views::openapi_document(&store.registry, group, version))
        }
        ["api", "v1", rest @ ..] => resource(store, call, "", "v1", rest),
        ["apis", group, version, rest @ ..] => resource(store, call, group, version, rest),
        _ => None,
    }
}

fn write_options(params: &HashMap<String, String>) -> WriteOptions {
    WriteOptions {
        dry_run: params.get("dryRun").is_some_and(|d| d == "All"),
        field_validation: match params.get("fieldValidation").map(String::as_str) {
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            _ => FieldValidation::Warn,
        },
        require_version: false,
        manager: String::new(),
        applied: false,
    }
}

/// The manager of a non-apply write: `fieldManager`, else the User-Agent's program name
/// (`kubectl/v1.32` -> `kubectl`), else `unknown` (kube-rs sends no User-Agent).
fn manager_of(call: &Call) -> String {
    if let Some(m) = call.params.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    call.user_agent
        .split('/')
        .next()
        .filter(|p| !p.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

/// `[namespaces/NS/]plural[/name[/subresource]]`
fn resource(
    store: &mut Store,
    call: &Call,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Option<Answer> {
    let (namespace, rest): (Option<String>, Vec<&str>) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if store
                .registry
                .find(group, version, plural)
                .is_some_and(|k| k.namespaced) =>
        {
            (Some(ns.to_string()), [&[*plural][..], tail].concat())
        }
        other => (None, other.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(*sub)),
        _ => return None,
    };
    let kind = store.registry.find(group, version, plural)?.clone();
    if kind.namespaced && namespace.is_none() && (name.is_some() || call.method != Method::GET) {
        return None;
    }
    let part = match subresource {
        None => Part::Main,
        Some("status") if kind.status => Part::Status,
        Some(_) => return None,
    };
    let ns = namespace.clone().unwrap_or_default();
    let options = WriteOptions {
        manager: manager_of(call),
        ..write_options(&call.params)
    };
    let representation = Representation::from_accept(&call.accept);
    let parsed = || -> Result<Value, ApiError> {
        serde_json::from_slice(&call.body)
            .map_err(|e| status::bad_request(format!("error decoding the request body: {e}")))
    };
    Some(match (call.method.clone(), name) {
        (Method::GET, None) => list(store, &kind, namespace.as_deref(), &call.params)
            .map(|l| (200, views::render_list(&kind, l, representation))),
        (Method::GET, Some(name)) => store
            .get(&kind, &ns, &name)
            .map(|o| (200, views::render_object(&kind, o, representation))),
        (Method::POST, None) => parsed()
            .and_then(|o| store.create(&kind, &ns, o, &options))
            .map(|o| (201, o)),
        (Method::PUT, Some(name)) => parsed()
            .and_then(|o| {
                store.update(
                    &kind,
                    &ns,
                    &name,
                    o,
                    part,
                    &WriteOptions {
                        require_version: true,
                        ..options.clone()
                    },
                )
            })
            .map(|o| (200, o)),
        (Method::PATCH, Some(name)) => patch(store, &kind, &ns, &name, part, call, &options),
        (Method::DELETE, Some(name)) => {
            let body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
            let propagation = call
                .params
                .get("propagationPolicy")
                .map(String::as_str)
                .or(body["propagationPolicy"].as_str());
            store
                .check_preconditions(&kind, &ns, &name, &body["preconditions"])
                .and_then(|()| store.delete(&kind, &ns, &name, propagation))
                .map(|o| (200, o))
        }
        (Method::DELETE, None) => Ok((
            200,
            delete_collection(store, &kind, namespace.as_deref(), &call.params),
        )),
        _ => Err(status::method_not_allowed()),
    })
}

/// A page of a list: label and field selectors, then `limit`/`continue`.
fn list(
    store: &Store,
    kind: &Kind,
    namespace: Option<&str>,
    params: &HashMap<String, String>,
) -> Result<views::Page, ApiError> {
    let mut forbidden = Vec::new();
    if params.contains_key("resourceVersionMatch") && !params.contains_key("resourceVersion") {
        forbidden.push((
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    if params.contains_key("sendInitialEvents") {
        forbidden.push((
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    }
    if !forbidden.is_empty() {
        return Err(status::invalid_list(forbidden));
    }
    if params.get("resourceVersionMatch").map(String::as_str) == Some("Exact")
        && let Some(revision) = params
            .get("resourceVersion")
            .and_then(|v| v.parse::<u64>().ok())
        && !store.keeps(revision)
    {
        return Err(status::expired(
            "The resourceVersion for the provided list is too old.".into(),
        ));
    }
    let labels = params
        .get("labelSelector")
        .map(String::as_str)
        .unwrap_or_default();
    let fields = params
        .get("fieldSelector")
        .map(String::as_str)
        .unwrap_or_default();
    // kube-apiserver counts the rest only when it can: not through a selector.
    let selected = !labels.is_empty() || !fields.is_empty();
    let labels = views::LabelSelector::parse(labels)?;
    let fields = views::FieldSelector::parse(kind, fields)?;
    let mut items: Vec<Value> = store
        .list(kind, namespace)
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .collect();
    if let Some(token) = params.get("continue").filter(|t| !t.is_empty()) {
        let after = views::decode_continue(token)
            .ok_or_else(|| status::bad_request(format!("continue key is not valid: {token}")))?;
        items.retain(|o| views::position(o) > after);
    }
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let mut next = None;
    let mut remaining = None;
    if let Some(limit) = limit
        && items.len() > limit
    {
        remaining = (!selected).then_some(items.len() - limit);
        items.truncate(limit);
        next = items
            .last()
            .map(|o| views::encode_continue(&views::position(o)));
    }
    Ok(views::Page {
        items,
        revision: store.revision(),
        continue_token: next,
        remaining,
    })
}

fn delete_collection(
    store: &mut Store,
    kind: &Kind,
    namespace: Option<&str>,
    params: &HashMap<String, String>,
) -> Value {
    let page = list(store, kind, namespace, params)
        .map(|p| p.items)
        .unwrap_or_default();
    let mut deleted = Vec::new();
    for object in page {
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if store.delete(kind, &ns, &name, None).is_ok() {
            deleted.push(object);
        }
    }
    views::render_list(
        kind,
        views::Page {
            items: deleted,
            revision: store.revision(),
            continue_token: None,
            remaining: None,
        },
        Representation::Object,
    )
}

fn patch(
    store: &mut Store,
    kind: &Kind,
    namespace: &str,
    name: &str,
    part: Part,
    call: &Call,
    options: &WriteOptions,
) -> Answer {
    if call.content_type == "application/apply-patch+yaml" {
        return server_side_apply(store, kind, namespace, name, part, call, options);
    }
    let patch: Value = serde_json::from_slice(&call.body)
        .map_err(|e| status::bad_request(format!("error decoding the patch: {e}")))?;
    let current = store.get(kind, namespace, name)?;
    let mut patched = current.clone();
    match call.content_type.as_str() {
        "application/merge-patch+json" => json_patch::merge(&mut patched, &patch),
        // Built-ins take strategic merge patches; without list merge keys this is a
        // merge patch, enough for the kinds the product patches.
        "application/strategic-merge-patch+json" if !kind.custom => {
            json_patch::merge(&mut patched, &patch)
        }
        "application/json-patch+json" => {
            let operations: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| status::bad_request(format!("invalid JSON patch: {e}")))?;
            let operations = tests_of_absent_null(&patched, operations)?;
            json_patch::patch(&mut patched, &operations)
                .map_err(|_| status::unprocessable_patch())?;
        }
        _ => return Err(status::unsupported_media_type(kind.custom)),
    }
    store
        .update(kind, namespace, name, patched, part, options)
        .map(|o| (200, o))
}

/// `application/apply-patch+yaml`: merge the applied configuration under its field
/// manager; create the object when it does not exist.
fn server_side_apply(
    store: &mut Store,
    kind: &Kind,
    namespace: &str,
    name: &str,
    part: Part,
    call: &Call,
    options: &WriteOptions,
) -> Answer {
    let manager = call
        .params
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .ok_or_else(status::apply_without_manager)?;
    let force = call.params.get("force").is_some_and(|f| f == "true");
    let text = String::from_utf8_lossy(&call.body);
    let applied: Value = serde_json::from_str(&text)
        .or_else(|_| serde_saphyr::from_str(&text))
        .map_err(|e| status::bad_request(format!("error decoding YAML: {e}")))?;
    if !applied.is_object() {
        return Err(status::bad_request(
            "the applied configuration must be an object",
        ));
    }
    if let Some(problem) = store.untyped_field(kind, &applied) {
        return Err(status::typed_patch_failure(format!(
            "failed to create typed patch object ({namespace}/{name}; {}, Kind={}): {problem}",
            kind.api_version(),
            kind.kind
        )));
    }
    let current = store.get(kind, namespace, name).ok();
    if current.is_none() && part == Part::Status {
        return Err(status::not_found(kind, name));
    }
    let merged = apply::apply(
        current.as_ref(),
        &applied,
        manager,
        &kind.api_version(),
        (part == Part::Status).then_some("status"),
        force,
        &store::timestamp(),
        &|path| store::list_type(kind, path),
    )
    .map_err(|conflicts| {
        status::apply_conflict(
            apply::conflict_message(&conflicts),
            conflicts.iter().map(apply::Conflict::cause).collect(),
        )
    })?;
    if let Some(body_name) = applied["metadata"]["name"].as_str()
        && body_name != name
    {
        return Err(status::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let options = WriteOptions {
        applied: true,
        ..options.clone()
    };
    match current {
        Some(_) => store
            .update(kind, namespace, name, merged, part, &options)
            .map(|o| (200, o)),
        None => {
            let mut merged = merged;
            merged["metadata"]["name"] = json!(name);
            store
                .create(kind, namespace, merged, &options)
                .map(|o| (201, o))
        }
    }
}

/// The API server's JSON patch (evanphx/json-patch) lets `{"op":"test","value":null}`
/// pass on a missing path; kube-rs's finalizer helper relies on it. Those tests are
/// checked here and dropped; every other operation goes to the json-patch crate.
fn tests_of_absent_null(
    document: &Value,
    patch: json_patch::Patch,
) -> Result<json_patch::Patch, ApiError> {
    let mut kept = Vec::new();
    for operation in patch.0 {
        if let json_patch::PatchOperation::Test(test) = &operation
            && test.value.is_null()
        {
            let at = document.pointer(test.path.as_str());
            if at.is_none_or(Value::is_null) {
                continue;
            }
            return Err(status::unprocessable_patch());
        }
        kept.push(operation);
    }
    Ok(json_patch::Patch(kept))
}

/// A body fed by a channel: the frames of a watch.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    Bytes::from(format!("{}\n", json!({"type": kind, "object": object})))
}

/// A watch: synthetic ADDED events or a replay from `resourceVersion`, then live
/// changes, bookmarks when asked, 410 Gone when the version is no longer kept.
fn watch(
    store: Shared,
    kind: Kind,
    namespace: Option<String>,
    call: &Call,
) -> Response<ResponseBody> {
    let params = &call.params;
    let representation = Representation::from_accept(&call.accept);
    let bookmarks = params
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let initial_events = params.get("sendInitialEvents").map(String::as_str);
    let version = params.get("resourceVersion").cloned().unwrap_or_default();
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WATCH_TIMEOUT);
    if initial_events.is_some()
        && params.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan")
    {
        let error = status::invalid_list_options(
            "sendInitialEvents",
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        );
        return json_response(error.code, &error.body, &[]);
    }
    let labels = match views::LabelSelector::parse(
        params
            .get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    ) {
        Ok(s) => s,
        Err(e) => return json_response(e.code, &e.body, &[]),
    };
    let fields = match views::FieldSelector::parse(
        &kind,
        params
            .get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    ) {
        Ok(s) => s,
        Err(e) => return json_response(e.code, &e.body, &[]),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let filter = WatchFilter {
        resource: resource_key(&kind),
        namespace: namespace.clone(),
        labels,
        fields,
    };
    let mut first: Vec<Bytes> = Vec::new();
    let (mut seen, mut updates) = {
        let guard = store.lock().unwrap_or_else(|p| p.into_inner());
        let current = guard.revision();
        let synthetic = version.is_empty() || version == "0" || initial_events == Some("true");
        let synthetic = synthetic && initial_events != Some("false");
        if synthetic {
            for object in guard.list(&kind, namespace.as_deref()) {
                if filter.accepts(&object) {
                    first.push(event_line(
                        "ADDED",
                        &views::render_watch_object(&kind, object, representation),
                    ));
                }
            }
            if bookmarks {
                first.push(event_line(
                    "BOOKMARK",
                    &views::bookmark(&kind, current, true),
                ));
            }
            (current, guard.subscribe())
        } else {
            let from = version.parse::<u64>().unwrap_or(0);
            match guard.changes_since(from) {
                Err(floor) => {
                    let gone =
                        status::expired(format!("too old resource version: {from} ({floor})"));
                    first.push(event_line("ERROR", &gone.body));
                    (u64::MAX, guard.subscribe())
                }
                Ok(changes) => {
                    let changes: Vec<Change> = changes
                        .into_iter()
                        .filter(|c| c.resource == filter.resource)
                        .collect();
                    first.extend(filter.events(&kind, &changes, representation));
                    (from.max(current), guard.subscribe())
                }
            }
        }
    };
    tokio::spawn(async move {
        for line in first {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        if seen == u64::MAX {
            return; // 410: the stream ends after the ERROR event.
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut bookmark =
            tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = bookmark.tick(), if bookmarks => {
                    if tx.send(event_line("BOOKMARK", &views::bookmark(&kind, seen, false))).await.is_err() {
                        return;
                    }
                }
                changed = updates.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let (changes, newest, served) = {
                        let guard = store.lock().unwrap_or_else(|p| p.into_inner());
                        (guard.changes_of(seen, Some(&filter.resource)), guard.last_change(), guard.serves(&kind))
                    };
                    let Ok(changes) = changes else { return };
                    seen = seen.max(newest);
                    for line in filter.events(&kind, &changes, representation) {
                        if tx.send(line).await.is_err() {
                            return;
                        }
                    }
                    // The CRD is gone: so is its storage, and its watches end (the next
                    // list answers 404).
                    if !served {
                        return;
                    }
                }
                _ = tx.closed() => return,
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .header("Cache-Control", "no-cache, private")
        .body(ChannelBody(rx).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}

/// Which changes a watch reports.
struct WatchFilter {
    resource: String,
    namespace: Option<String>,
    labels: views::LabelSelector,
    fields: views::FieldSelector,
}

impl WatchFilter {
    fn accepts(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    /// Event lines for `changes`: an object that starts matching the selectors arrives as
    /// ADDED, one that stops matching as DELETED (with its new state).
    fn events(
        &self,
        kind: &Kind,
        changes: &[Change],
        representation: Representation,
    ) -> Vec<Bytes> {
        changes
            .iter()
            .filter(|c| c.resource == self.resource)
            .filter(|c| self.namespace.as_ref().is_none_or(|ns| *ns == c.namespace))
            .filter_map(|c| {
                let object = events::view(kind, c.object.clone());
                let now = self.accepts(&object);
                let before = c
                    .previous
                    .as_ref()
                    .is_some_and(|p| self.accepts(&events::view(kind, p.clone())));
                let event = match (c.change, before, now) {
                    (ChangeType::Deleted, _, true) => "DELETED",
                    (ChangeType::Added, _, true) => "ADDED",
                    (ChangeType::Modified, true, true) => "MODIFIED",
                    (ChangeType::Modified, false, true) => "ADDED",
                    (ChangeType::Modified, true, false) => "DELETED",
                    _ => return None,
                };
                Some(event_line(
                    event,
                    &views::render_watch_object(kind, object, representation),
                ))
            })
            .collect()
    }
}
