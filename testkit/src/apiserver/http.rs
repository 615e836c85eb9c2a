//! HTTP: paths and verbs of the Kubernetes API mapped onto the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::registry::Kind;
use super::status::{self, ApiError};
use super::store::{Part, Store};

pub type Shared = Arc<Mutex<Store>>;
type Answer = Result<(u16, Value), ApiError>;

fn respond(code: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("Content-Type", "application/json")
        .header("Cache-Control", "no-cache, private")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

/// An unknown path: plain text, not a Status (as a real server answers).
fn page_not_found() -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(b"404 page not found\n")))
        .unwrap_or_default()
}

fn query(request: &Request<hyper::body::Incoming>) -> HashMap<String, String> {
    request
        .uri()
        .query()
        .map(|q| {
            q.split('&')
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
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
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
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().trim_end_matches('/').to_string();
    let params = query(&request);
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let body = match request.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let answer = {
        let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
        route(
            &mut store,
            &method,
            &segments,
            &params,
            &content_type,
            &body,
        )
    };
    Ok(match answer {
        Some(Ok((code, value))) => respond(code, &value),
        Some(Err(error)) => respond(error.code, &error.body),
        None => page_not_found(),
    })
}

fn route(
    store: &mut Store,
    method: &Method,
    segments: &[&str],
    params: &HashMap<String, String>,
    content_type: &str,
    body: &Bytes,
) -> Option<Answer> {
    let discovery = |value: Value| Some(Ok((200, value)));
    match segments {
        ["version"] => discovery(json!({
            "major": "1", "minor": "32", "gitVersion": "v1.32.13-testkit",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
            "platform": "linux/amd64",
        })),
        ["api"] => discovery(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        ),
        ["apis"] => discovery(group_list(store)),
        ["api", "v1"] => discovery(resource_list(store, "", "v1")),
        ["apis", group] => group_list(store)["groups"]
            .as_array()
            .and_then(|gs| gs.iter().find(|g| g["name"] == json!(group)).cloned())
            .map(|mut g| {
                g["kind"] = json!("APIGroup");
                g["apiVersion"] = json!("v1");
                Ok((200, g))
            }),
        ["apis", group, version] => {
            store.registry.in_group_version(group, version).next()?;
            discovery(resource_list(store, group, version))
        }
        ["api", "v1", rest @ ..] => {
            resource(store, method, "", "v1", rest, params, content_type, body)
        }
        ["apis", group, version, rest @ ..] => resource(
            store,
            method,
            group,
            version,
            rest,
            params,
            content_type,
            body,
        ),
        _ => None,
    }
}

fn group_list(store: &Store) -> Value {
    let mut groups: Vec<Value> = Vec::new();
    for (group, version) in store.registry.group_versions() {
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

fn resource_list(store: &Store, group: &str, version: &str) -> Value {
    let resources: Vec<Value> = store
        .registry
        .in_group_version(group, version)
        .flat_map(Kind::api_resources)
        .collect();
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

/// `[namespaces/NS/]plural[/name[/subresource]]`
#[allow(clippy::too_many_arguments)]
fn resource(
    store: &mut Store,
    method: &Method,
    group: &str,
    version: &str,
    rest: &[&str],
    params: &HashMap<String, String>,
    content_type: &str,
    body: &Bytes,
) -> Option<Answer> {
    let (namespace, rest) = match rest {
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
    if kind.namespaced && namespace.is_none() && (name.is_some() || *method != Method::GET) {
        return None;
    }
    let part = match subresource {
        None => Part::Main,
        Some("status") if kind.status => Part::Status,
        Some(_) => return None,
    };
    let ns = namespace.clone().unwrap_or_default();
    let dry_run = params.get("dryRun").is_some_and(|d| d == "All");
    let parsed = || -> Result<Value, ApiError> {
        serde_json::from_slice(body)
            .map_err(|e| status::bad_request(format!("error decoding the request body: {e}")))
    };
    Some(match (method.clone(), name) {
        (Method::GET, None) => Ok((200, list(store, &kind, namespace.as_deref(), params))),
        (Method::GET, Some(name)) => store.get(&kind, &ns, &name).map(|o| (200, o)),
        (Method::POST, None) => parsed()
            .and_then(|o| store.create(&kind, &ns, o, dry_run))
            .map(|o| (201, o)),
        (Method::PUT, Some(name)) => parsed()
            .and_then(|o| store.update(&kind, &ns, &name, o, part, true))
            .map(|o| (200, o)),
        (Method::PATCH, Some(name)) => patch(store, &kind, &ns, &name, part, content_type, body),
        (Method::DELETE, Some(name)) => {
            let options: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let propagation = params
                .get("propagationPolicy")
                .map(String::as_str)
                .or(options["propagationPolicy"].as_str());
            store
                .delete(&kind, &ns, &name, propagation)
                .map(|o| (200, o))
        }
        _ => Err(status::method_not_allowed()),
    })
}

fn list(
    store: &Store,
    kind: &Kind,
    namespace: Option<&str>,
    params: &HashMap<String, String>,
) -> Value {
    let labels = params
        .get("labelSelector")
        .map(String::as_str)
        .unwrap_or_default();
    let fields = params
        .get("fieldSelector")
        .map(String::as_str)
        .unwrap_or_default();
    let items: Vec<Value> = store
        .list(kind, namespace)
        .into_iter()
        .filter(|o| selector_matches(labels, &o["metadata"]["labels"]))
        .filter(|o| field_selector_matches(fields, o))
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
    let mut metadata = json!({"resourceVersion": store.revision().to_string()});
    if kind.custom {
        metadata["continue"] = json!("");
    }
    json!({"apiVersion": kind.api_version(), "kind": format!("{}List", kind.kind), "metadata": metadata, "items": items})
}

/// Equality-based label selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-separated.
pub fn selector_matches(selector: &str, labels: &Value) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        let term = term.trim();
        if let Some((k, v)) = term.split_once("!=") {
            labels[k.trim()].as_str() != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            labels[k.trim()].as_str() == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            labels.get(k).is_none()
        } else {
            labels.get(term).is_some()
        }
    })
}

fn field_selector_matches(selector: &str, object: &Value) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        let (path, expected, negate) = match term.split_once("!=") {
            Some((p, v)) => (p, v, true),
            None => match term.split_once("==").or_else(|| term.split_once('=')) {
                Some((p, v)) => (p, v, false),
                None => return false,
            },
        };
        let actual = path
            .split('.')
            .try_fold(object, |v, k| v.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default();
        (actual == expected) != negate
    })
}

fn patch(
    store: &mut Store,
    kind: &Kind,
    namespace: &str,
    name: &str,
    part: Part,
    content_type: &str,
    body: &Bytes,
) -> Answer {
    let current = store.get(kind, namespace, name)?;
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| status::bad_request(format!("error decoding the patch: {e}")))?;
    let mut patched = current.clone();
    match content_type {
        "application/merge-patch+json" => json_patch::merge(&mut patched, &patch),
        // Built-ins take strategic merge patches; without list merge keys this is a
        // merge patch, enough for the kinds the product patches.
        "application/strategic-merge-patch+json" if !kind.custom => {
            json_patch::merge(&mut patched, &patch)
        }
        "application/json-patch+json" => {
            let operations: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| status::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut patched, &operations)
                .map_err(|_| status::unprocessable_patch())?;
        }
        _ => return Err(status::unsupported_media_type(kind.custom)),
    }
    store
        .update(kind, namespace, name, patched, part, false)
        .map(|o| (200, o))
}
