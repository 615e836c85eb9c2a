//! Reading MySQL manifests (the `-f FILE` of `create`): YAML documents in, validated
//! objects out, or one clear error. Pure: the caller reads the file.

use serde_json::Value;

use crate::crd::MySQL;
use crate::error::Error;
use crate::validate::check_object;

/// Parse every non-empty YAML document of `text` (named `source_name` in errors) as a
/// MySQL object, checked as the API server would check it.
pub fn parse_mysqls(text: &str, source_name: &str) -> Result<Vec<MySQL>, Error> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| Error::Parse {
        source_name: source_name.into(),
        reason: first_line(&e.to_string()),
    })?;
    let objects: Vec<MySQL> = documents
        .into_iter()
        .filter(|d| !d.is_null())
        .map(|d| one_mysql(d, source_name))
        .collect::<Result<_, _>>()?;
    if objects.is_empty() {
        return Err(Error::Parse {
            source_name: source_name.into(),
            reason: "no objects passed to create".into(),
        });
    }
    Ok(objects)
}

fn one_mysql(document: Value, source_name: &str) -> Result<MySQL, Error> {
    if !document.is_object() {
        return Err(Error::Parse {
            source_name: source_name.into(),
            reason: "a document is not a mapping".into(),
        });
    }
    let api_version = document["apiVersion"].as_str().unwrap_or_default();
    let kind = document["kind"].as_str().unwrap_or_default();
    if api_version != "otus.homework/v1" || kind != "MySQL" {
        let found = if kind.is_empty() {
            "an object without kind".to_string()
        } else {
            format!("{kind} ({api_version})")
        };
        return Err(Error::WrongKind {
            source_name: source_name.into(),
            found,
        });
    }
    let checked = check_object(&document)?;
    serde_json::from_value(checked).map_err(|e| Error::Parse {
        source_name: source_name.into(),
        reason: e.to_string(),
    })
}

fn first_line(message: &str) -> String {
    message
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}
