//! Transcript replay: every request a real kube-apiserver 1.32 answered to kubectl and
//! kube-rs (`../shared/api-transcripts/*.jsonl`) is sent again, in order, to a fresh
//! test API server per file, and the answers are compared in the shape clients read:
//! the status code; `reason` and `code` of a Status; kind, apiVersion, the presence of
//! metadata.name/namespace and the item (or Table row) count of an object or list.
//! uids, timestamps, resourceVersion values and managedFields are not compared; uids,
//! resourceVersions, continue tokens and generated names the recording put into later
//! requests are translated to the ones this server answered.
//!
//! Every mismatch is either covered by `KNOWN_GAPS` (one reason per entry) or fails the
//! test. A known gap that starts matching is reported ("now matches, remove from
//! KNOWN_GAPS") without failing, so the list can only shrink. Lines that can never be
//! compared (watches, garbage-collector timing, recorder experiments, protobuf, 304s)
//! are skipped by `skip_reason`, also with a reason.
//!
//! Before each file the server gets what the recorded cluster already held: the CRD of
//! `02-crd.jsonl` (except in that file) and the namespaces the file uses.
//!
//! `cargo test --test e2e replay -- --nocapture` prints the summary; `REPLAY_VERBOSE=1`
//! also prints every known gap with its differences; `API_TRANSCRIPTS_DIR` points
//! elsewhere than `../shared/api-transcripts`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use testkit::apiserver::TestApiServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------------------
// What may differ, and why. Shrink this list as the server grows.
// ---------------------------------------------------------------------------------------

/// `(file prefix or "*", a line of that file or a category, why)`.
///
/// A line entry wins over a category. Remove an entry when the test prints that it now
/// matches; an entry that covers no line at all is reported too.
const KNOWN_GAPS: &[(&str, At, &str)] = &[
    // Controllers the recorded cluster ran: their writes bypassed the recording proxy.
    (
        "14",
        At::Line(129),
        "the Job controller's pod: kube-controller-manager created it in the recorded cluster; the replay runs no controller",
    ),
    (
        "14",
        At::Line(168),
        "the Job controller's pod: kube-controller-manager created it in the recorded cluster; the replay runs no controller",
    ),
    (
        "14",
        At::Line(185),
        "the Job controller's pod: kube-controller-manager created it in the recorded cluster; the replay runs no controller",
    ),
    (
        "14",
        At::Line(291),
        "the Job controller's pod: kube-controller-manager created it in the recorded cluster; the replay runs no controller",
    ),
    (
        "15",
        At::Line(22),
        "the PV binder (kube-controller-manager) took claimRef.uid/resourceVersion in the recorded cluster, so kubectl's second apply conflicts; the replay runs no binder",
    ),
    // Features the server does not have yet.
    (
        "*",
        C(Cat::AggregatedDiscovery),
        "aggregated discovery (apidiscovery.k8s.io/v2 APIGroupDiscoveryList) not implemented yet: the server answers the legacy APIVersions/APIGroupList",
    ),
    // Differences that follow from the recording, not from the server.
    (
        "*",
        C(Cat::OtherApiGroups),
        "recorded cluster state: it serves API groups the project does not use (autoscaling, rbac, policy, ...)",
    ),
    (
        "*",
        C(Cat::ClusterObjects),
        "recorded cluster state: objects kube-controller-manager and the OpenShift fork create (kube-root-ca.crt and openshift-service-ca.crt ConfigMaps in every namespace), namespaces this file never uses, API groups the project does not use",
    ),
    (
        "*",
        C(Cat::EarlierFile),
        "recorded cluster state: the object was created while an earlier transcript file was recorded",
    ),
    (
        "*",
        C(Cat::AfterGap),
        "follows from an earlier known gap: the object was last written by a line that is itself a known gap (e.g. created by server-side apply)",
    ),
];

/// Where a known gap applies: one line of a file, or every line of a category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    Line(u32),
    Cat(Cat),
}
use At::Cat as C;

/// A kind of difference. Each is matched against the recorded line, the answer and the
/// replay so far, so a category covers only the lines its reason explains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cat {
    /// The recorded answer is aggregated discovery (`APIGroupDiscoveryList`).
    AggregatedDiscovery,
    /// A discovery request for an API group outside `PROJECT_GROUPS`.
    OtherApiGroups,
    /// Only the item count differs, and every differing item is an object of the recorded
    /// cluster that the replay cannot have (`cluster_object`).
    ClusterObjects,
    /// The object this server does not have (404), or every differing list item, was
    /// created while an earlier file was recorded.
    EarlierFile,
    /// The object, or every differing list item, was last written by a line that was
    /// itself a known gap in this replay.
    AfterGap,
}

/// The API groups the project uses; discovery of others is recorded-cluster state.
const PROJECT_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "coordination.k8s.io",
    "events.k8s.io",
    "apiextensions.k8s.io",
    "tx.example.com",
];

/// Objects of the recorded cluster a fresh server has no reason to hold.
fn cluster_object(item: &ObjRef, fixture_namespaces: &BTreeSet<String>) -> bool {
    match (
        item.resource.as_str(),
        item.name.as_deref().unwrap_or_default(),
    ) {
        ("v1/configmaps", "kube-root-ca.crt" | "openshift-service-ca.crt") => true,
        ("v1/namespaces", ns) => {
            !fixture_namespaces.contains(ns) && !BUILTIN_NAMESPACES.contains(&ns)
        }
        ("discovery/groups", group) => !PROJECT_GROUPS.contains(&group),
        _ => false,
    }
}

const BUILTIN_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Lines that are not replayed at all, with the reason.
fn skip_reason(file: &str, x: &Exchange) -> Option<&'static str> {
    if x.raw.get("watch").and_then(Value::as_bool) == Some(true)
        || matches!(x.query_value("watch"), Some("true" | "1"))
    {
        return Some(
            "watch not replayed: a stream's events interleave in time with the lines after it",
        );
    }
    if x.rec_note().contains("EXPERIMENT") {
        return Some("EXPERIMENT: the recorder synthesized or rewrote this answer");
    }
    if x.path.starts_with("/openapi/v2") {
        return Some("/openapi/v2 is protobuf, recorded only as a binary stub");
    }
    if x.raw.get("req_body").is_some_and(is_stub) {
        return Some("request body is binary or was elided by the recorder");
    }
    if x.status == 304 {
        return Some(
            "304 answers a conditional GET (If-None-Match with the real server's ETag); the replay sends no ETag",
        );
    }
    if file.starts_with("16") && x.method == "GET" && x.line > 40 {
        return Some(
            "namespace controller timing: 16-terminating-namespace polls the namespace while the namespace controller removes it (seconds on a real cluster, milliseconds here)",
        );
    }
    if file.starts_with("07") && x.method == "GET" {
        return Some(
            "garbage collector timing: 07-ownerrefs-gc polls owner and dependents every 0.25-0.5 s while the GC acts",
        );
    }
    None
}

impl Cat {
    fn matches(self, c: &Classify) -> bool {
        let x = c.exchange;
        match self {
            Cat::AggregatedDiscovery => x.recorded_kind() == Some("APIGroupDiscoveryList"),
            Cat::OtherApiGroups => {
                let segments: Vec<&str> = x.path.split('/').filter(|s| !s.is_empty()).collect();
                matches!(segments.as_slice(), ["apis", group, ..] if !PROJECT_GROUPS.contains(group))
            }
            Cat::ClusterObjects => {
                c.items_explained_by(|i| cluster_object(i, c.fixture_namespaces))
            }
            Cat::EarlierFile => {
                (c.outcome.answered == 404 && c.object_explained_by(|o| c.earlier.contains(o)))
                    || c.items_explained_by(|i| c.earlier.contains(i))
            }
            Cat::AfterGap => {
                c.object_explained_by(|o| c.tainted.contains_key(o))
                    || c.items_explained_by(|i| c.tainted.contains_key(i))
            }
        }
    }
}

/// What a category may look at.
struct Classify<'a> {
    exchange: &'a Exchange,
    outcome: &'a Outcome,
    /// The object the line reads or writes, if it names one.
    object: Option<ObjRef>,
    fixture_namespaces: &'a BTreeSet<String>,
    earlier: &'a BTreeSet<ObjRef>,
    tainted: &'a HashMap<ObjRef, String>,
}

impl Classify<'_> {
    fn object_explained_by(&self, explains: impl Fn(&ObjRef) -> bool) -> bool {
        self.object
            .as_ref()
            .is_some_and(|o| o.name.is_some() && explains(o))
    }

    /// Only the item count differs and `explains` covers every differing item.
    fn items_explained_by(&self, explains: impl Fn(&ObjRef) -> bool) -> bool {
        let o = self.outcome;
        o.count_only && o.extra.iter().chain(&o.missing).all(explains)
    }
}

// ---------------------------------------------------------------------------------------
// The transcript.
// ---------------------------------------------------------------------------------------

/// Where the transcripts are: `$API_TRANSCRIPTS_DIR`, else `../shared/api-transcripts`.
fn transcripts_dir() -> PathBuf {
    std::env::var_os("API_TRANSCRIPTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/api-transcripts"))
}

/// One recorded request and its answer.
struct Exchange {
    line: u32,
    method: String,
    path: String,
    status: u16,
    raw: Value,
    /// The recorded answer, `_rec_same_as_line` elisions resolved.
    recorded: Option<Value>,
}

impl Exchange {
    fn header(&self, name: &str) -> Option<&str> {
        self.raw["req_headers"][name].as_str()
    }

    fn rec_note(&self) -> &str {
        self.raw["rec_note"].as_str().unwrap_or_default()
    }

    fn query_value(&self, key: &str) -> Option<&str> {
        self.raw["query"][key].as_str()
    }

    fn recorded_kind(&self) -> Option<&str> {
        self.recorded.as_ref()?["kind"].as_str()
    }

    fn is_write(&self) -> bool {
        self.method != "GET"
    }

    /// The object this line names: from the path, or for a create from the answer.
    fn object(&self, ids: &Ids) -> Option<ObjRef> {
        let mut object = ObjRef::parse(&self.path)?;
        if object.name.is_none() && self.method == "POST" {
            let name = self
                .recorded
                .as_ref()
                .and_then(|r| r["metadata"]["name"].as_str())
                .or(self.raw["req_body"]["metadata"]["name"].as_str())?;
            object.name = Some(ids.name(name));
        }
        Some(object)
    }
}

/// `{"_binary": ...}` or `{"_rec_same_as_line": ...}`: not the real body.
fn is_stub(body: &Value) -> bool {
    body.get("_binary").is_some() || body.get("_rec_same_as_line").is_some()
}

/// A transcript file, every line parsed.
struct Transcript {
    name: String,
    lines: Vec<Value>,
}

impl Transcript {
    fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
            })
            .collect();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self { name, lines }
    }

    /// The exchanges, marker lines dropped.
    fn exchanges(&self) -> Vec<Exchange> {
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.get("note").is_none())
            .map(|(i, l)| Exchange {
                line: i as u32 + 1,
                method: l["method"].as_str().unwrap_or("GET").to_string(),
                path: l["path"].as_str().unwrap_or("/").to_string(),
                status: l["status"].as_u64().unwrap_or(0) as u16,
                raw: l.clone(),
                recorded: self.response_body(i as u32 + 1).cloned(),
            })
            .collect()
    }

    /// The recorded answer of a line, following `_rec_same_as_line` elisions.
    fn response_body(&self, line: u32) -> Option<&Value> {
        let mut body = self.lines.get(line as usize - 1)?.get("resp_body")?;
        for _ in 0..16 {
            match body.get("_rec_same_as_line").and_then(Value::as_u64) {
                Some(n) => body = self.lines.get(n as usize - 1)?.get("resp_body")?,
                None => return Some(body),
            }
        }
        None
    }

    /// Objects this file's recording created (successful POST, PUT, PATCH answers).
    fn created_objects(&self) -> BTreeSet<ObjRef> {
        let mut out = BTreeSet::new();
        for x in self.exchanges() {
            if x.is_write() && x.method != "DELETE" && (200..300).contains(&x.status) {
                out.extend(x.object(&Ids::default()));
            }
        }
        out
    }
}

/// core/v1 and events.k8s.io/v1 Events are two views of the same objects.
fn canonical_resource(resource: &str) -> String {
    match resource {
        "events.k8s.io/v1/events" => "v1/events".to_string(),
        other => other.to_string(),
    }
}

/// An object or collection: `group/version/plural` (`v1/configmaps`), namespace, name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct ObjRef {
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
}

impl ObjRef {
    /// `/api/v1/...` or `/apis/G/V/...`; a `/status` suffix names the object itself.
    fn parse(path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (gv, rest) = match segments.as_slice() {
            ["api", v, rest @ ..] => (v.to_string(), rest),
            ["apis", g, v, rest @ ..] => (format!("{g}/{v}"), rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
            other => (None, other),
        };
        let (plural, name) = match rest {
            [plural] => (*plural, None),
            [plural, name, ..] => (*plural, Some(name.to_string())),
            _ => return None,
        };
        Some(Self {
            resource: canonical_resource(&format!("{gv}/{plural}")),
            namespace,
            name,
        })
    }

    fn item(resource: &str, item: &Value) -> Self {
        let m = &item["metadata"];
        Self {
            resource: resource.to_string(),
            namespace: m["namespace"].as_str().map(str::to_string),
            name: m["name"].as_str().map(str::to_string),
        }
    }
}

impl std::fmt::Display for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        write!(f, "{}", self.name.as_deref().unwrap_or("?"))
    }
}

// ---------------------------------------------------------------------------------------
// Identity translation: recorded uids, resourceVersions, continue tokens and generated
// names, as this server answered them.
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Ids {
    uids: HashMap<String, String>,
    versions: HashMap<String, String>,
    continues: HashMap<String, String>,
    names: HashMap<String, String>,
}

impl Ids {
    fn name(&self, recorded: &str) -> String {
        self.names
            .get(recorded)
            .cloned()
            .unwrap_or_else(|| recorded.to_string())
    }

    /// Pair what the recording answered with what this server answered.
    fn learn(&mut self, request: Option<&Value>, recorded: &Value, actual: &Value) {
        if request.is_some_and(|r| {
            r["metadata"].get("generateName").is_some() && r["metadata"].get("name").is_none()
        }) && let (Some(r), Some(a)) = (
            recorded["metadata"]["name"].as_str(),
            actual["metadata"]["name"].as_str(),
        ) {
            self.names.insert(r.to_string(), a.to_string());
        }
        self.pair(&recorded["metadata"], &actual["metadata"]);
        self.pair(&recorded["details"], &actual["details"]);
        for (list, object) in [("items", None), ("rows", Some("object"))] {
            let (Some(r_items), Some(a_items)) =
                (recorded[list].as_array(), actual[list].as_array())
            else {
                continue;
            };
            let meta = |i: &Value| -> Value {
                match object {
                    Some(field) => i[field]["metadata"].clone(),
                    None => i["metadata"].clone(),
                }
            };
            let key = |m: &Value| {
                (
                    m["namespace"].as_str().map(str::to_string),
                    m["name"].as_str().map(str::to_string),
                )
            };
            let by_key: HashMap<_, Value> =
                a_items.iter().map(|i| (key(&meta(i)), meta(i))).collect();
            for r in r_items {
                let rm = meta(r);
                let (ns, name) = key(&rm);
                if let Some(am) = by_key.get(&(ns, name.map(|n| self.name(&n)))) {
                    self.pair(&rm, am);
                }
            }
        }
    }

    fn pair(&mut self, recorded: &Value, actual: &Value) {
        for (field, map) in [
            ("uid", &mut self.uids),
            ("resourceVersion", &mut self.versions),
            ("continue", &mut self.continues),
        ] {
            if let (Some(r), Some(a)) = (recorded[field].as_str(), actual[field].as_str())
                && !r.is_empty()
            {
                map.insert(r.to_string(), a.to_string());
            }
        }
    }

    fn uids_in(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (r, a) in &self.uids {
            if out.contains(r.as_str()) {
                out = out.replace(r.as_str(), a);
            }
        }
        out
    }

    fn query_value(&self, key: &str, value: &str) -> String {
        let mapped = match key {
            "resourceVersion" => self.versions.get(value),
            "continue" => self.continues.get(value),
            _ => None,
        };
        self.uids_in(mapped.map(String::as_str).unwrap_or(value))
    }

    fn path(&self, path: &str) -> String {
        path.split('/')
            .map(|s| self.name(s))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// uids anywhere, resourceVersions under `resourceVersion` keys and in JSON-patch ops
    /// on a `.../resourceVersion` path.
    fn body(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.uids_in(s)),
            Value::Array(list) => Value::Array(list.iter().map(|v| self.body(v)).collect()),
            Value::Object(map) => {
                let version_op = map
                    .get("path")
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.ends_with("/resourceVersion"));
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    // managedFields keys name uids too: `k:{"uid":"..."}`.
                    let k = &self.uids_in(k);
                    let translated = match (k.as_str(), v.as_str()) {
                        ("resourceVersion", Some(rv)) => self.versions.get(rv).map(|a| json!(a)),
                        ("value", Some(rv)) if version_op => {
                            self.versions.get(rv).map(|a| json!(a))
                        }
                        _ => None,
                    };
                    out.insert(k.clone(), translated.unwrap_or_else(|| self.body(v)));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client: one connection per request, `Connection: close`.
// ---------------------------------------------------------------------------------------

struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `path?query`, the query rebuilt from the recorded `query` object (a list is a
/// repeated key).
fn target(x: &Exchange, ids: &Ids) -> String {
    let mut pairs = Vec::new();
    if let Some(query) = x.raw["query"].as_object() {
        for (key, value) in query {
            let values = match value {
                Value::Array(list) => list.clone(),
                other => vec![other.clone()],
            };
            for v in values {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                let v = ids.query_value(key, &v);
                pairs.push(format!(
                    "{}={}",
                    percent_encode(key, b"-._~"),
                    percent_encode(&v, b"-._~")
                ));
            }
        }
    }
    let path = percent_encode(&ids.path(&x.path), b"-._~/:@!$&'()*+,;=%");
    if pairs.is_empty() {
        path
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Reply, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut head =
            format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body.unwrap_or_default());
        stream
            .write_all(&request)
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| format!("read: {e}"))?;
        parse_reply(&raw)
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no complete answer within 10 s".to_string())?
}

fn parse_reply(raw: &[u8]) -> Result<Reply, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers in the answer")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let mut content_type = String::new();
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = value.to_string(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "content-length" => length = value.parse::<usize>().ok(),
            _ => {}
        }
    }
    let rest = &raw[split + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest[..length.unwrap_or(rest.len()).min(rest.len())].to_vec()
    };
    Ok(Reply {
        status,
        content_type,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size {
            return Err("truncated chunk".into());
        }
        body.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

// ---------------------------------------------------------------------------------------
// The comparison.
// ---------------------------------------------------------------------------------------

/// How an answer differs from the recording.
#[derive(Default)]
struct Outcome {
    /// The status this server answered (0: no answer).
    answered: u16,
    diffs: Vec<String>,
    /// The item count is the only difference.
    count_only: bool,
    /// Items only in the answer, and only in the recording, when the counts differ.
    extra: Vec<ObjRef>,
    missing: Vec<ObjRef>,
}

/// Compare in the shape clients read (list items are named after the recorded names,
/// generated ones translated).
fn compare(x: &Exchange, recorded: Option<&Value>, reply: &Reply, ids: &Ids) -> Outcome {
    let mut out = Outcome {
        answered: reply.status,
        ..Outcome::default()
    };
    if reply.status != x.status {
        out.diffs
            .push(format!("status {} (recorded {})", reply.status, x.status));
    }
    let Some(recorded) = recorded else {
        return out;
    };
    match recorded {
        Value::Null => {}
        Value::String(text) => {
            let actual = String::from_utf8_lossy(&reply.body);
            if actual.trim() != text.trim() {
                out.diffs.push(format!(
                    "text body {:?} (recorded {text:?})",
                    excerpt(&actual)
                ));
            }
        }
        Value::Object(_) if is_stub(recorded) => {}
        Value::Object(_) => match serde_json::from_slice::<Value>(&reply.body) {
            Ok(actual) => compare_object(x, recorded, &actual, ids, &mut out),
            Err(_) => out.diffs.push(format!(
                "body is not JSON ({}): {:?}",
                reply.content_type,
                excerpt(&String::from_utf8_lossy(&reply.body))
            )),
        },
        other => {
            let actual: Option<Value> = serde_json::from_slice(&reply.body).ok();
            if actual.as_ref() != Some(other) {
                out.diffs
                    .push(format!("body {actual:?} (recorded {other})"));
            }
        }
    }
    out
}

fn compare_object(x: &Exchange, recorded: &Value, actual: &Value, ids: &Ids, out: &mut Outcome) {
    let mut same = |what: &str, r: &Value, a: &Value| {
        if r != a {
            out.diffs.push(format!("{what} {a} (recorded {r})"));
        }
    };
    match recorded.get("kind").and_then(Value::as_str) {
        Some("Status") => {
            same("kind", &recorded["kind"], &actual["kind"]);
            same("reason", &recorded["reason"], &actual["reason"]);
            same("code", &recorded["code"], &actual["code"]);
        }
        Some(kind) => {
            same("kind", &recorded["kind"], &actual["kind"]);
            same("apiVersion", &recorded["apiVersion"], &actual["apiVersion"]);
            for field in ["name", "namespace"] {
                let r = recorded["metadata"].get(field).is_some();
                let a = actual["metadata"].get(field).is_some();
                if r != a {
                    let word = |p: bool| if p { "present" } else { "absent" };
                    out.diffs.push(format!(
                        "metadata.{field} {} (recorded {})",
                        word(a),
                        word(r)
                    ));
                }
            }
            let resource = match kind {
                "APIGroupDiscoveryList" => "discovery/groups".to_string(),
                _ => ObjRef::parse(&x.path)
                    .map(|o| o.resource)
                    .unwrap_or_default(),
            };
            for (list, object) in [("items", None), ("rows", Some("object"))] {
                let Some(r_items) = recorded.get(list).and_then(Value::as_array) else {
                    continue;
                };
                // `items: null` is an empty list (a nil slice, as the real server writes it).
                let none = Vec::new();
                let a_items = match actual.get(list) {
                    Some(Value::Array(items)) => items,
                    Some(Value::Null) => &none,
                    _ => {
                        out.diffs
                            .push(format!("no {list} (recorded {})", r_items.len()));
                        continue;
                    }
                };
                if a_items.len() == r_items.len() {
                    continue;
                }
                let refs = |items: &[Value], translate: bool| -> BTreeSet<ObjRef> {
                    items
                        .iter()
                        .map(|i| {
                            let mut o = ObjRef::item(&resource, object.map_or(i, |f| &i[f]));
                            if translate {
                                o.name = o.name.map(|n| ids.name(&n));
                            }
                            o
                        })
                        .collect()
                };
                let (r, a) = (refs(r_items, true), refs(a_items, false));
                out.count_only = out.diffs.is_empty();
                out.extra = a.difference(&r).cloned().collect();
                out.missing = r.difference(&a).cloned().collect();
                let mut names: Vec<String> = out.extra.iter().map(|o| format!("+{o}")).collect();
                names.extend(out.missing.iter().map(|o| format!("-{o}")));
                if names.len() > 6 {
                    let more = names.len() - 6;
                    names.truncate(6);
                    names.push(format!("... {more} more"));
                }
                out.diffs.push(format!(
                    "{} {list} (recorded {}) [{}]",
                    a_items.len(),
                    r_items.len(),
                    names.join(", ")
                ));
            }
        }
        None => {
            // Not a Kubernetes object (/version, openapi): the top-level keys clients read.
            let keys = |v: &Value| -> BTreeSet<String> {
                v.as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default()
            };
            let missing: Vec<String> = keys(recorded).difference(&keys(actual)).cloned().collect();
            if !missing.is_empty() {
                out.diffs
                    .push(format!("missing top-level keys {missing:?}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Bodies: in the files recorded for it (14, 15), every built-in object an answer holds is
// compared field by field with what the real server stored.
// ---------------------------------------------------------------------------------------

/// Files whose answers are compared body by body.
const BODY_FILES: &[&str] = &["09", "14", "15", "16"];

/// The resources whose stored form the test API server reproduces (`normalize.rs`).
const BODY_RESOURCES: &[&str] = &[
    "v1/persistentvolumes",
    "v1/persistentvolumeclaims",
    "v1/services",
    "v1/pods",
    "v1/secrets",
    "v1/configmaps",
    "v1/namespaces",
    "v1/serviceaccounts",
    "apps/v1/deployments",
    "batch/v1/jobs",
    "coordination.k8s.io/v1/leases",
    "v1/events",
];

/// Annotations a controller of the recorded cluster wrote (the replay runs none).
const CONTROLLER_ANNOTATIONS: &[&str] = &[
    "deployment.kubernetes.io/revision",
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "pv.kubernetes.io/provisioned-by",
];

fn is_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && text.ends_with('Z')
        && b[..4].iter().all(u8::is_ascii_digit)
}

/// One object as compared: what only the server's own identity and the controllers of
/// the recorded cluster put there is taken out; timestamps and allocations are masked.
fn comparable(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["uid", "resourceVersion", "creationTimestamp", "selfLink"] {
            meta.remove(field);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for a in CONTROLLER_ANNOTATIONS {
                annotations.remove(*a);
            }
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
        // managedFields in any order, without times, without the controllers' entries.
        if let Some(Value::Array(entries)) = meta.remove("managedFields") {
            let mut kept: Vec<Value> = entries
                .into_iter()
                .filter(|e| e["manager"] != "kube-controller-manager")
                .map(|mut e| {
                    e.as_object_mut().map(|m| m.remove("time"));
                    e
                })
                .collect();
            kept.sort_by_key(|e| e.to_string());
            meta.insert("managedFields".into(), Value::Array(kept));
        }
    }
    if let Some(map) = o.as_object_mut() {
        // Status belongs to controllers (binder, Deployment and Job controllers).
        map.remove("status");
    }
    if let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) {
        for allocated in ["clusterIP", "clusterIPs"] {
            if spec.contains_key(allocated) {
                spec.insert(allocated.into(), json!("<allocated>"));
            }
        }
        // The binder's part of a volume's claimRef.
        if let Some(claim) = spec.get_mut("claimRef").and_then(Value::as_object_mut) {
            claim.remove("uid");
            claim.remove("resourceVersion");
        }
    }
    mask_times(&mut o);
    o
}

fn mask_times(value: &mut Value) {
    match value {
        Value::String(s) if is_timestamp(s) => *s = "<time>".into(),
        Value::Array(items) => items.iter_mut().for_each(mask_times),
        Value::Object(map) => map.values_mut().for_each(mask_times),
        _ => {}
    }
}

/// Where two values differ, as `path: actual (recorded)`.
fn diff(path: &str, recorded: &Value, actual: &Value, out: &mut Vec<String>) {
    match (recorded, actual) {
        (Value::Object(r), Value::Object(a)) => {
            let keys: BTreeSet<&String> = r.keys().chain(a.keys()).collect();
            for k in keys {
                let here = format!("{path}.{k}");
                match (r.get(k), a.get(k)) {
                    (Some(rv), Some(av)) => diff(&here, rv, av, out),
                    (Some(rv), None) => out.push(format!("{here}: absent (recorded {rv})")),
                    (None, Some(av)) => out.push(format!("{here}: {av} (recorded: absent)")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(r), Value::Array(a)) if r.len() == a.len() => {
            for (i, (rv, av)) in r.iter().zip(a).enumerate() {
                diff(&format!("{path}[{i}]"), rv, av, out);
            }
        }
        (r, a) if r != a => out.push(format!("{path}: {a} (recorded {r})")),
        _ => {}
    }
}

/// Field-by-field differences of the built-in objects in an answer (one object, or the
/// items of a list, paired by name).
fn compare_bodies(
    x: &Exchange,
    recorded: &Value,
    actual: &Value,
    ids: &Ids,
) -> Option<Vec<String>> {
    let resource = ObjRef::parse(&x.path)?.resource;
    if !BODY_RESOURCES.contains(&resource.as_str())
        || recorded["kind"] == "Status"
        || recorded["kind"] == "Table"
        || is_stub(recorded)
    {
        return None;
    }
    let recorded = ids.body(recorded);
    let pairs: Vec<(Value, Value)> = match recorded["items"].as_array() {
        Some(items) => items
            .iter()
            .filter_map(|r| {
                let name = ids.name(r["metadata"]["name"].as_str()?);
                let a = actual["items"]
                    .as_array()?
                    .iter()
                    .find(|a| a["metadata"]["name"] == json!(name))?;
                Some((r.clone(), a.clone()))
            })
            .collect(),
        None => vec![(recorded.clone(), actual.clone())],
    };
    let mut out = Vec::new();
    for (r, a) in pairs {
        let mut r = comparable(&r);
        let a = comparable(&a);
        // The recording redacts Secret data.
        if let (Some(rd), Some(ad)) = (
            r.get_mut("data").and_then(Value::as_object_mut),
            a.get("data").and_then(Value::as_object),
        ) {
            for (k, v) in rd.iter_mut() {
                if v == "<REDACTED>" && ad.contains_key(k) {
                    *v = ad[k].clone();
                }
            }
        }
        let name = r["metadata"]["name"].as_str().unwrap_or("?").to_string();
        let mut here = Vec::new();
        diff("", &r, &a, &mut here);
        out.extend(here.into_iter().map(|d| format!("body of {name}: {d}")));
    }
    Some(out)
}

fn excerpt(text: &str) -> String {
    text.chars().take(160).collect()
}

/// `reason: message` of an answer, for the report.
fn describe(reply: &Reply) -> String {
    match serde_json::from_slice::<Value>(&reply.body) {
        Ok(v) if v["kind"] == "Status" => format!(
            "Status {} {:?}",
            v["reason"].as_str().unwrap_or("-"),
            excerpt(v["message"].as_str().unwrap_or_default())
        ),
        Ok(v) => format!(
            "{} {}",
            v["kind"].as_str().unwrap_or("(no kind)"),
            excerpt(&v.to_string())
        ),
        Err(_) => format!("{:?}", excerpt(&String::from_utf8_lossy(&reply.body))),
    }
}

// ---------------------------------------------------------------------------------------
// The fixture: what the recorded cluster had before each file began.
// ---------------------------------------------------------------------------------------

/// The CRD as kubectl created it (the POST in 02-crd.jsonl).
fn recorded_crd(dir: &Path) -> Value {
    Transcript::load(&dir.join("02-crd.jsonl"))
        .exchanges()
        .into_iter()
        .find(|x| x.method == "POST" && x.path.ends_with("/customresourcedefinitions"))
        .map(|x| x.raw["req_body"].clone())
        .expect("02-crd.jsonl creates the CRD")
}

/// The namespaces a file uses that existed in the recorded cluster: every namespace in a
/// request path, except those the file creates (a readable POST) and those the server
/// first said are missing (a namespace deleted later in the file existed before).
fn existing_namespaces(exchanges: &[Exchange]) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut absent = BTreeSet::new();
    // Namespaces seen to exist: read, or written in, successfully.
    let mut seen = BTreeSet::new();
    for x in exchanges {
        let segments: Vec<&str> = x.path.split('/').collect();
        let here = segments
            .iter()
            .position(|s| *s == "namespaces")
            .and_then(|i| segments.get(i + 1))
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string());
        if x.method == "POST" && x.path == "/api/v1/namespaces" {
            absent.extend(
                x.raw["req_body"]["metadata"]["name"]
                    .as_str()
                    .map(str::to_string),
            );
        }
        let message = x
            .recorded
            .as_ref()
            .and_then(|r| r["message"].as_str())
            .unwrap_or_default();
        if let Some(rest) = message.strip_prefix("namespaces \"")
            && let Some((ns, tail)) = rest.split_once('"')
            && tail.contains("not found")
            && !seen.contains(ns)
        {
            absent.insert(ns.to_string());
        }
        let succeeded = (200..300).contains(&x.status);
        let reads_namespace = x.path.starts_with("/api/v1/namespaces/")
            && x.path.trim_end_matches('/').matches('/').count() == 4;
        if succeeded
            && (x.is_write() || reads_namespace)
            && let Some(ns) = &here
        {
            seen.insert(ns.clone());
        }
        used.extend(here);
    }
    used.difference(&absent).cloned().collect()
}

/// Create what the recorded cluster held before the file began: the CRD (it existed for
/// every file but the one that creates it) and the namespaces the file expects.
async fn set_up(
    server: &TestApiServer,
    crd: &Value,
    file: &str,
    exchanges: &[Exchange],
) -> BTreeSet<String> {
    let addr = server.addr;
    let json = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
    ];
    let creates_crd = exchanges
        .iter()
        .any(|x| x.method == "POST" && x.path.ends_with("/customresourcedefinitions"));
    // Files 14-16 use the project's own group, whose CRD the recorded cluster also held.
    let project_crd = serde_json::to_value(kubectl_mysql::crd::crd()).expect("JSON");
    let uses_project_group = exchanges.iter().any(|x| x.path.contains("/otus.homework/"));
    let crd = if uses_project_group {
        &project_crd
    } else {
        crd
    };
    if !creates_crd {
        let body = serde_json::to_vec(crd).expect("JSON");
        let reply = send(
            addr,
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            &json,
            Some(&body),
        )
        .await
        .expect("create the CRD");
        assert_eq!(
            reply.status,
            201,
            "{file}: creating the CRD: {}",
            describe(&reply)
        );
    }
    let namespaces = existing_namespaces(exchanges);
    for ns in &namespaces {
        let body = serde_json::to_vec(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .expect("JSON");
        // As kubectl created them in the recorded cluster.
        let reply = send(
            addr,
            "POST",
            "/api/v1/namespaces?fieldManager=kubectl-create",
            &json,
            Some(&body),
        )
        .await
        .expect("create a namespace");
        assert!(
            reply.status == 201 || reply.status == 409,
            "{file}: creating namespace {ns}: {}",
            describe(&reply)
        );
    }
    namespaces
}

// ---------------------------------------------------------------------------------------
// The replay.
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    matched: usize,
    /// Answers whose built-in objects were compared field by field.
    bodies: usize,
    gaps: usize,
    skipped: usize,
    mismatched: usize,
}

/// The KNOWN_GAPS entry covering a mismatch: a line entry first, then categories.
fn known_gap(file: &str, c: &Classify) -> Option<usize> {
    let applies = |f: &str| f == "*" || file.starts_with(f);
    let line = KNOWN_GAPS
        .iter()
        .position(|(f, at, _)| applies(f) && *at == At::Line(c.exchange.line));
    line.or_else(|| {
        KNOWN_GAPS
            .iter()
            .position(|(f, at, _)| applies(f) && matches!(at, At::Cat(cat) if cat.matches(c)))
    })
}

#[tokio::test]
async fn transcript_replay() {
    let dir = transcripts_dir();
    if !dir.join("README.md").is_file() {
        let reason = format!("no transcripts at {}", dir.display());
        assert!(std::env::var_os("CI").is_none(), "CI is set and {reason}");
        let line =
            format!("\n*** SKIPPING transcript_replay: {reason}; set API_TRANSCRIPTS_DIR ***\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("transcripts dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.jsonl in {}", dir.display());
    let crd = recorded_crd(&dir);
    // REPLAY_VERBOSE=1: every known gap with its differences and reason.
    let verbose = std::env::var_os("REPLAY_VERBOSE").is_some();

    let mut failures = Vec::new();
    let mut notes = Vec::new();
    // Per KNOWN_GAPS entry: (lines still differing, lines now matching).
    let mut entry_use: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    let mut skip_reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut summary = Vec::new();
    // Objects created while earlier files were recorded.
    let mut earlier: BTreeSet<ObjRef> = BTreeSet::new();

    for path in &files {
        let transcript = Transcript::load(path);
        let file = transcript.name.clone();
        let exchanges = transcript.exchanges();
        let server = TestApiServer::start().await.expect("server");
        let fixture_namespaces = set_up(&server, &crd, &file, &exchanges).await;
        let mut ids = Ids::default();
        // Object -> the gap line that last wrote it.
        let mut tainted: HashMap<ObjRef, String> = HashMap::new();
        let mut tally = Tally::default();
        for x in &exchanges {
            if let Some(reason) = skip_reason(&file, x) {
                tally.skipped += 1;
                *skip_reasons.entry(reason).or_default() += 1;
                continue;
            }
            let headers: Vec<(&str, &str)> = ["Content-Type", "Accept", "User-Agent"]
                .into_iter()
                .filter_map(|name| x.header(name).map(|v| (name, v)))
                .collect();
            let body = match x.raw.get("req_body") {
                Some(Value::String(text)) => Some(text.clone().into_bytes()),
                Some(value) => Some(serde_json::to_vec(&ids.body(value)).expect("JSON")),
                None => None,
            };
            let target = target(x, &ids);
            let recorded = x.recorded.as_ref();
            let (outcome, answer) =
                match send(server.addr, &x.method, &target, &headers, body.as_deref()).await {
                    Ok(reply) => {
                        let mut outcome = compare(x, recorded, &reply, &ids);
                        if let (Some(r), Ok(a)) =
                            (recorded, serde_json::from_slice::<Value>(&reply.body))
                        {
                            ids.learn(x.raw.get("req_body"), r, &a);
                            if BODY_FILES.iter().any(|f| file.starts_with(f))
                                && outcome.diffs.is_empty()
                                && let Some(diffs) = compare_bodies(x, r, &a, &ids)
                            {
                                tally.bodies += 1;
                                outcome.diffs = diffs;
                            }
                        }
                        (outcome, describe(&reply))
                    }
                    Err(e) => (
                        Outcome {
                            diffs: vec![e],
                            ..Outcome::default()
                        },
                        String::new(),
                    ),
                };
            let object = x.object(&ids);
            let here = format!("{file}:{} {} {}", x.line, x.method, excerpt(&target));
            let classify = Classify {
                exchange: x,
                outcome: &outcome,
                object: object.clone(),
                fixture_namespaces: &fixture_namespaces,
                earlier: &earlier,
                tainted: &tainted,
            };
            if outcome.diffs.is_empty() {
                tally.matched += 1;
                if let Some(i) = known_gap(&file, &classify) {
                    entry_use.entry(i).or_default().1 += 1;
                    if KNOWN_GAPS[i].1 == At::Line(x.line) {
                        notes.push(format!(
                            "{here}: now matches, remove from KNOWN_GAPS ({})",
                            KNOWN_GAPS[i].2
                        ));
                    }
                }
                // A create or a delete that matched leaves the object as recorded.
                if matches!(x.method.as_str(), "POST" | "DELETE")
                    && let Some(o) = &object
                {
                    tainted.remove(o);
                }
                continue;
            }
            match known_gap(&file, &classify) {
                Some(i) => {
                    tally.gaps += 1;
                    entry_use.entry(i).or_default().0 += 1;
                    if verbose {
                        let after = match KNOWN_GAPS[i].1 {
                            At::Cat(Cat::AfterGap) => object
                                .as_ref()
                                .and_then(|o| tainted.get(o))
                                .map(|from| format!(" (after {from})"))
                                .unwrap_or_default(),
                            _ => String::new(),
                        };
                        println!(
                            "gap {here}{after}\n      {}\n      answer: {answer}\n      why: {}",
                            outcome.diffs.join("\n      "),
                            KNOWN_GAPS[i].2
                        );
                    }
                    // Later lines on this object follow from the root gap.
                    if x.is_write()
                        && let Some(o) = object
                        && !(KNOWN_GAPS[i].1 == C(Cat::AfterGap) && tainted.contains_key(&o))
                    {
                        tainted.insert(o, format!("{file}:{}", x.line));
                    }
                }
                None => {
                    tally.mismatched += 1;
                    failures.push(format!(
                        "{here}\n      {}\n      answer: {answer}",
                        outcome.diffs.join("\n      ")
                    ));
                }
            }
        }
        earlier.extend(transcript.created_objects());
        summary.push(format!(
            "{file:42} matched {:3}  known gaps {:3}  skipped {:3}  mismatched {:3}  bodies compared {:3}",
            tally.matched, tally.gaps, tally.skipped, tally.mismatched, tally.bodies
        ));
    }

    println!("\n=== transcript replay ===");
    for line in &summary {
        println!("{line}");
    }
    println!("\nknown gaps by entry (lines still differing; +N: lines it covers that match):");
    let mut used: Vec<(usize, (usize, usize))> = entry_use
        .iter()
        .map(|(i, n)| (*i, *n))
        .filter(|(_, (g, _))| *g > 0)
        .collect();
    used.sort_by_key(|(_, (still, _))| std::cmp::Reverse(*still));
    for (i, (g, m)) in used {
        let (file, at, reason) = KNOWN_GAPS[i];
        let anyway = if m > 0 {
            format!(" +{m}")
        } else {
            String::new()
        };
        println!("  {g:4}{anyway:5}  [{file} {at:?}] {reason}");
    }
    println!("\nskipped by reason:");
    for (reason, n) in &skip_reasons {
        println!("  {n:4}  {reason}");
    }
    for (i, (file, at, reason)) in KNOWN_GAPS.iter().enumerate() {
        match (entry_use.get(&i).copied().unwrap_or_default(), at) {
            ((0, 0), _) => notes.push(format!(
                "KNOWN_GAPS entry ({file:?}, {at:?}) covers no replayed line, remove it ({reason})"
            )),
            ((0, n), At::Cat(_)) => notes.push(format!(
                "KNOWN_GAPS category ({file:?}, {at:?}): all {n} lines now match, remove it"
            )),
            _ => {}
        }
    }
    if !notes.is_empty() {
        println!();
        for line in &notes {
            println!("{line}");
        }
    }
    if !failures.is_empty() {
        println!("\nmismatches not in KNOWN_GAPS:");
        for f in &failures {
            println!("  {f}");
        }
    }
    assert!(
        failures.is_empty(),
        "{} replayed lines differ from the recording and are not in KNOWN_GAPS (see the output above)",
        failures.len()
    );
}
