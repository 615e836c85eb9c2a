//! Rendering objects as YAML documents, the way `kubectl ... -o yaml` prints them.

use serde::Serialize;

/// One object as a YAML document (no leading `---`).
pub fn to_yaml<T: Serialize>(object: &T) -> String {
    // Serializing our own typed objects cannot fail; fall back to JSON (valid YAML) if it ever does.
    // Long one-line strings (probe scripts) stay plain; multi-line ones become `|` blocks.
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX;
    serde_saphyr::to_string_with_options(object, options)
        .or_else(|_| serde_json::to_string_pretty(object).map(|s| s + "\n"))
        .unwrap_or_default()
}

/// Several objects as one multi-document YAML stream that `kubectl apply -f -` accepts.
pub fn to_yaml_stream<T: Serialize>(objects: &[T]) -> String {
    objects
        .iter()
        .map(|o| format!("---\n{}", to_yaml(o)))
        .collect()
}
