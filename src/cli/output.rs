//! Printing objects as kubectl does for `-o yaml|json|name`.

use clap::ValueEnum;
use serde_json::{Value, json};

/// `-o` of commands that print objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectFormat {
    Yaml,
    Json,
    Name,
}

/// `<resource>.<group>/<name>` as kubectl names an object.
pub fn object_name(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or_default().to_lowercase();
    let group = object["apiVersion"]
        .as_str()
        .and_then(|v| v.rsplit_once('/'))
        .map(|(g, _)| format!(".{g}"))
        .unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    format!("{kind}{group}/{name}")
}

/// The objects rendered in `format`: a YAML stream, a JSON `List`, or names.
pub fn render(objects: &[Value], format: ObjectFormat) -> String {
    match format {
        ObjectFormat::Yaml => crate::manifest::to_yaml_stream(objects),
        ObjectFormat::Json => {
            let list =
                json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": objects});
            serde_json::to_string_pretty(&list).unwrap_or_default() + "\n"
        }
        ObjectFormat::Name => objects.iter().map(|o| object_name(o) + "\n").collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_kubectl() {
        let mysql =
            json!({"apiVersion": "otus.homework/v1", "kind": "MySQL", "metadata": {"name": "a"}});
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}});
        assert_eq!(object_name(&mysql), "mysql.otus.homework/a");
        assert_eq!(object_name(&svc), "service/a");
    }

    #[test]
    fn json_output_is_one_list() {
        let objects = vec![json!({"kind": "Service"}), json!({"kind": "Secret"})];
        let parsed: Value =
            serde_json::from_str(&render(&objects, ObjectFormat::Json)).expect("json");
        assert_eq!(parsed["kind"], "List");
        assert_eq!(parsed["items"].as_array().map(Vec::len), Some(2));
    }
}
