//! Reading MySQL manifests (the `-f FILE` of `create`): YAML documents in, validated
//! objects out, or one clear error. Bounded: a manifest is read up to
//! [`MAX_MANIFEST_BYTES`], holds at most [`MAX_DOCUMENTS`] documents, and the YAML parser
//! runs under a budget (serde-saphyr's `Budget` and `AliasLimits`), so a huge file, a
//! stream of documents or an alias bomb is refused fast, in bounded memory.

use std::io::Read;

use serde_json::Value;

use crate::crd::MySQL;
use crate::error::Error;
use crate::validate::check_object;

/// The most bytes one manifest may have (one MySQL object is well under 1 KiB).
pub const MAX_MANIFEST_BYTES: usize = 512 * 1024;
/// The most YAML documents one manifest may hold.
pub const MAX_DOCUMENTS: usize = 100;
/// The most YAML events aliases (`*name`) may replay in one manifest: a MySQL object
/// is about 30 events, so this is every document of a full manifest written by aliases.
pub const MAX_ALIAS_REPLAYED_EVENTS: usize = 10_000;
/// The deepest nesting of mappings and sequences (a MySQL object nests 3 deep).
pub const MAX_DEPTH: usize = 32;

/// Read a manifest from `reader` (named `source_name` in errors): at most
/// [`MAX_MANIFEST_BYTES`], and text.
pub fn read_manifest(reader: impl Read, source_name: &str) -> Result<String, Error> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_MANIFEST_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Read {
            source_name: source_name.into(),
            reason: e.to_string(),
        })?;
    manifest_text(bytes, source_name)
}

/// The manifest's bytes as text, or why they are not a manifest.
pub fn manifest_text(bytes: Vec<u8>, source_name: &str) -> Result<String, Error> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(Error::TooLarge {
            source_name: source_name.into(),
            reason: format!(
                "is larger than {} KiB, the most one manifest may be",
                MAX_MANIFEST_BYTES / 1024
            ),
        });
    }
    let not_text = |offset: usize| Error::Parse {
        source_name: source_name.into(),
        reason: format!("it is not text (a binary byte at offset {offset})"),
    };
    let text = String::from_utf8(bytes).map_err(|e| not_text(e.utf8_error().valid_up_to()))?;
    // UTF-8, but control characters YAML does not allow (NUL, escapes): binary too.
    if let Some(offset) = text
        .char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        .map(|(i, _)| i)
    {
        return Err(not_text(offset));
    }
    Ok(text)
}

/// Parse every non-empty YAML document of `text` (named `source_name` in errors) as a
/// MySQL object, checked as the API server would check it.
pub fn parse_mysqls(text: &str, source_name: &str) -> Result<Vec<MySQL>, Error> {
    if text.len() > MAX_MANIFEST_BYTES {
        return manifest_text(text.as_bytes().to_vec(), source_name).map(|_| Vec::new());
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: MAX_DOCUMENTS,
            max_depth: MAX_DEPTH,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_ALIAS_REPLAYED_EVENTS,
        },
    };
    let documents: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| yaml_error(&e, source_name))?;
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

/// The parser's error as one of ours: a breached limit says which, anything else is
/// the parser's first line.
fn yaml_error(error: &serde_saphyr::Error, source_name: &str) -> Error {
    use serde_saphyr::budget::BudgetBreach;
    let limit = |reason: String| Error::TooLarge {
        source_name: source_name.into(),
        reason,
    };
    let yaml_limit = |reason: String| Error::YamlLimit {
        source_name: source_name.into(),
        reason,
    };
    // The cause, out of the wrappers that add a source snippet or an alias's place.
    let mut error = error;
    while let serde_saphyr::Error::WithSnippet { error: inner, .. }
    | serde_saphyr::Error::AliasError { error: inner, .. } = error
    {
        error = inner;
    }
    match error {
        serde_saphyr::Error::Budget { breach, .. } => match breach {
            BudgetBreach::Documents { .. } => limit(format!(
                "holds more than {MAX_DOCUMENTS} YAML documents, the most one manifest may hold"
            )),
            BudgetBreach::Depth { .. } => yaml_limit(format!(
                "nests mappings or sequences more than {MAX_DEPTH} deep"
            )),
            BudgetBreach::Aliases { .. }
            | BudgetBreach::AliasAnchorRatio { .. }
            | BudgetBreach::RecordedAnchorEvents { .. }
            | BudgetBreach::RecordedAnchorBytes { .. } => {
                yaml_limit("uses more YAML aliases than a manifest may".into())
            }
            other => yaml_limit(format!("is beyond what one manifest may hold ({other:?})")),
        },
        serde_saphyr::Error::AliasReplayLimitExceeded { .. }
        | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
        | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. }
        | serde_saphyr::Error::AliasReplayCounterOverflow { .. } => yaml_limit(format!(
            "expands its YAML aliases (*name) to more than {MAX_ALIAS_REPLAYED_EVENTS} nodes: an alias bomb?"
        )),
        other => Error::Parse {
            source_name: source_name.into(),
            reason: first_line(&other.to_string()),
        },
    }
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
    let line = message.lines().next().unwrap_or_default().trim();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../deploy/cr.yaml");

    fn refused(text: &str) -> String {
        match parse_mysqls(text, "stdin") {
            Ok(objects) => panic!("accepted {} objects", objects.len()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_seed_is_read() {
        let read = read_manifest(SEED.as_bytes(), "cr.yaml").expect("text");
        assert_eq!(parse_mysqls(&read, "cr.yaml").expect("parsed").len(), 1);
    }

    #[test]
    fn a_manifest_over_the_limit_is_refused_without_reading_it_all() {
        let endless = std::io::repeat(b'#');
        let error = read_manifest(endless, "/dev/zero").expect_err("refused");
        assert_eq!(
            error.to_string(),
            "/dev/zero is larger than 512 KiB, the most one manifest may be"
        );
    }

    #[test]
    fn binary_bytes_are_not_a_manifest() {
        let error = read_manifest(&[0x7f, b'E', b'L', b'F', 0xff, 0][..], "a.out").unwrap_err();
        assert_eq!(
            error.to_string(),
            "a.out is not a valid manifest: it is not text (a binary byte at offset 4)"
        );
        let error = read_manifest(&b"kind: MySQL\n\xff"[..], "x").unwrap_err();
        assert!(error.to_string().ends_with("(a binary byte at offset 12)"));
    }

    #[test]
    fn too_many_documents_are_refused() {
        let stream = "---\n{}\n".repeat(MAX_DOCUMENTS + 1);
        assert_eq!(
            refused(&stream),
            "stdin holds more than 100 YAML documents, the most one manifest may hold"
        );
        let seeds = vec![SEED; MAX_DOCUMENTS].join("---\n");
        assert!(
            parse_mysqls(&seeds, "stdin").is_ok(),
            "exactly the limit passes"
        );
    }

    #[test]
    fn the_hint_names_the_limits_in_force() {
        let error = manifest_text(vec![b'#'; MAX_MANIFEST_BYTES + 1], "x").unwrap_err();
        let hint = error.hint();
        assert!(
            hint.contains(&format!(
                "{MAX_DOCUMENTS} documents in {} KiB",
                MAX_MANIFEST_BYTES / 1024
            )),
            "{hint}"
        );
    }

    #[test]
    fn an_alias_bomb_is_refused() {
        let mut bomb = String::from(
            "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for level in 1..10 {
            let previous = format!("*a{}", level - 1);
            let list = [previous.as_str(); 9].join(",");
            bomb.push_str(&format!("a{level}: &a{level} [{list}]\n"));
        }
        assert_eq!(
            refused(&bomb),
            "stdin expands its YAML aliases (*name) to more than 10000 nodes: an alias bomb?"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(refused(&deep).contains("deep"), "{}", refused(&deep));
    }
}
