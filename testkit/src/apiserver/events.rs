//! core/v1 Events and events.k8s.io/v1 Events are two views of the same objects (as in
//! a real API server): stored once, converted to the view a request asks for.

use serde_json::{Map, Value, json};

use super::registry::Kind;

/// Whether `kind` is either view of Events.
pub fn is_event(kind: &Kind) -> bool {
    kind.plural == "events" && (kind.group.is_empty() || kind.group == "events.k8s.io")
}

/// The object as `kind` shows it (unchanged for every other kind).
pub fn view(kind: &Kind, object: Value) -> Value {
    if !is_event(kind) {
        return object;
    }
    let stored_core = object["apiVersion"] == json!("v1");
    let mut shown = match (kind.group.is_empty(), stored_core) {
        (true, false) => to_core(&object),
        (false, true) => to_events_v1(&object),
        _ => object,
    };
    encode(&mut shown);
    shown
}

/// What encoding/json writes of an Event in its version (transcript 09): core/v1's
/// `reportingComponent`/`reportingInstance` have no omitempty, its times and `source`
/// are non-pointer structs; events.k8s.io/v1's `reportingController` is plain (an empty
/// one is dropped), its `deprecatedSource` and old times are non-pointer structs.
pub fn encode(event: &mut Value) {
    let Some(map) = event.as_object_mut() else {
        return;
    };
    if map.get("apiVersion") == Some(&json!("v1")) {
        for (key, zero) in [
            ("reportingComponent", json!("")),
            ("reportingInstance", json!("")),
            ("eventTime", Value::Null),
            ("firstTimestamp", Value::Null),
            ("lastTimestamp", Value::Null),
            ("source", json!({})),
        ] {
            map.entry(key).or_insert(zero);
        }
    } else {
        for key in ["reportingController", "reportingInstance"] {
            if map.get(key).is_some_and(|v| v == "") {
                map.remove(key);
            }
        }
        for (key, zero) in [
            ("eventTime", Value::Null),
            ("deprecatedSource", json!({})),
            ("deprecatedFirstTimestamp", Value::Null),
            ("deprecatedLastTimestamp", Value::Null),
        ] {
            map.entry(key).or_insert(zero);
        }
    }
}

fn copy(from: &Value, to: &mut Map<String, Value>, pairs: &[(&str, &str)]) {
    for (source, target) in pairs {
        if let Some(v) = from.get(*source) {
            to.insert((*target).into(), v.clone());
        }
    }
}

fn to_core(event: &Value) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), json!("Event"));
    out.insert("apiVersion".into(), json!("v1"));
    copy(
        event,
        &mut out,
        &[
            ("metadata", "metadata"),
            ("regarding", "involvedObject"),
            ("reason", "reason"),
            ("note", "message"),
            ("type", "type"),
            ("eventTime", "eventTime"),
            ("action", "action"),
            ("related", "related"),
            ("reportingController", "reportingComponent"),
            ("reportingInstance", "reportingInstance"),
            ("deprecatedFirstTimestamp", "firstTimestamp"),
            ("deprecatedLastTimestamp", "lastTimestamp"),
            ("deprecatedCount", "count"),
        ],
    );
    out.insert(
        "source".into(),
        event.get("deprecatedSource").cloned().unwrap_or(json!({})),
    );
    out.entry("firstTimestamp").or_insert(Value::Null);
    out.entry("lastTimestamp").or_insert(Value::Null);
    if let Some(series) = event.get("series") {
        out.insert(
            "series".into(),
            json!({"count": series["count"], "lastObservedTime": series["lastObservedTime"]}),
        );
    }
    Value::Object(out)
}

fn to_events_v1(event: &Value) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), json!("Event"));
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    copy(
        event,
        &mut out,
        &[
            ("metadata", "metadata"),
            ("eventTime", "eventTime"),
            ("series", "series"),
            ("reportingComponent", "reportingController"),
            ("reportingInstance", "reportingInstance"),
            ("action", "action"),
            ("reason", "reason"),
            ("involvedObject", "regarding"),
            ("related", "related"),
            ("message", "note"),
            ("type", "type"),
            ("source", "deprecatedSource"),
            ("firstTimestamp", "deprecatedFirstTimestamp"),
            ("lastTimestamp", "deprecatedLastTimestamp"),
            ("count", "deprecatedCount"),
        ],
    );
    out.entry("eventTime").or_insert(Value::Null);
    Value::Object(out)
}
