//! The library's error: what happened, to which object, and what to try next.

use crate::schema::{Cause, summarize};

/// Everything the library can fail with. Each variant renders as one line; [`Error::hint`]
/// says what to try next.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object breaks the CRD's schema or rules (what the API server would answer with 422).
    #[error("MySQL.otus.homework {name:?} is invalid: {}", summarize(.causes))]
    Invalid { name: String, causes: Vec<Cause> },

    /// The object has fields the CRD does not declare (the API server's strict field validation).
    #[error("MySQL {name:?} in version \"v1\" cannot be handled as a MySQL: strict decoding error: {}", unknown_list(.fields))]
    UnknownFields { name: String, fields: Vec<String> },

    /// A manifest could not be read.
    #[error("cannot read {source_name}: {reason}")]
    Read { source_name: String, reason: String },

    /// A manifest is not YAML or not shaped like a Kubernetes object.
    #[error("{source_name} is not a valid manifest: {reason}")]
    Parse { source_name: String, reason: String },

    /// A manifest beyond the size or document count one manifest may have.
    #[error("{source_name} {reason}")]
    TooLarge { source_name: String, reason: String },

    /// A manifest beyond the YAML parser's budget: an alias bomb, nesting too deep.
    #[error("{source_name} {reason}")]
    YamlLimit { source_name: String, reason: String },

    /// A manifest holds an object of another kind.
    #[error("{source_name}: expected kind MySQL with apiVersion otus.homework/v1, found {found}")]
    WrongKind { source_name: String, found: String },

    /// A name or value that no schema can express (lengths across fields, sizes of zero).
    #[error("{0}")]
    BadValue(String),

    /// The namespace in a manifest and the one asked for differ.
    #[error(
        "the namespace from the provided object {object:?} does not match the namespace {requested:?}"
    )]
    NamespaceMismatch { object: String, requested: String },

    /// A call to the Kubernetes API failed.
    #[error("cannot {what}: {}", api_cause(.source))]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },

    /// The CRD's own schema does not compile (a bug, caught by tests).
    #[error(transparent)]
    Schema(#[from] crate::schema::InvalidSchema),
}

fn unknown_list(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    /// A failed API call, saying what was being done.
    pub fn api(what: impl Into<String>, source: kube::Error) -> Self {
        Error::Api {
            what: what.into(),
            source,
        }
    }

    /// Whether the same call may succeed a moment later: the API server could not be
    /// reached, cut the connection, or was briefly unable to answer (429, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Api { source, .. } => match source {
                kube::Error::Api(s) => s.code == 429 || (500..=504).contains(&s.code),
                kube::Error::HyperError(_)
                | kube::Error::Service(_)
                | kube::Error::ReadEvents(_) => true,
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether the API server refused to create an object because its namespace is being
    /// deleted (403, "unable to create new content in namespace X because it is being
    /// terminated"; transcript 16, finding 57). A Terminating namespace never stops
    /// terminating, so the same create is refused for ever: not worth a retry.
    pub fn is_namespace_terminating(&self) -> bool {
        match self {
            Error::Api {
                source: kube::Error::Api(s),
                ..
            } => s.code == 403 && s.message.contains("because it is being terminated"),
            _ => false,
        }
    }

    /// A short label for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Invalid { .. } | Error::UnknownFields { .. } | Error::BadValue(_) => "invalid",
            Error::Read { .. }
            | Error::Parse { .. }
            | Error::TooLarge { .. }
            | Error::YamlLimit { .. }
            | Error::WrongKind { .. } => "input",
            Error::NamespaceMismatch { .. } => "namespace",
            Error::Api { .. } => "api",
            Error::Schema(_) => "schema",
        }
    }

    /// What to try next, shown under the error line.
    pub fn hint(&self) -> &'static str {
        match self {
            Error::Invalid { .. } | Error::BadValue(_) => {
                "fix the fields named above; `kubectl explain mysqls.spec` lists every field and its format"
            }
            Error::UnknownFields { .. } => {
                "remove the fields named above (check their spelling: spec fields are image, database, password, password_secret, storage_size, storage_class)"
            }
            Error::Read { .. } => "check the path, or pass -f - to read the manifest from stdin",
            Error::Parse { .. } => {
                "the file must hold YAML documents with apiVersion, kind, metadata and spec"
            }
            Error::TooLarge { .. } => {
                "one manifest holds at most 100 documents in 512 KiB (a MySQL object is under 1 KiB): split it, or check that -f names the right file"
            }
            Error::YamlLimit { .. } => {
                "write the objects out plainly: a MySQL manifest needs no deep nesting and few YAML aliases"
            }
            Error::WrongKind { .. } => "pass a manifest of kind MySQL (see deploy/cr.yaml)",
            Error::NamespaceMismatch { .. } => {
                "drop -n/--namespace, or pass the namespace the manifest names"
            }
            Error::Api {
                source: kube::Error::Api(s),
                ..
            } if s.code == 404
                && (s.message.contains("page not found")
                    || s.message.contains("could not find the requested resource")) =>
            {
                "is the CRD installed? `kubectl mysql install | kubectl apply -f -` (or `kubectl apply -f deploy/crd.yaml`)"
            }
            Error::Api {
                source: kube::Error::Api(s),
                ..
            } if s.code == 403 => {
                "you lack permission for this: ask for the RBAC rules in deploy/ (or check --context)"
            }
            Error::Api {
                source: kube::Error::Api(s),
                ..
            } if s.code == 409 => {
                "someone else changed it at the same moment: run the command again"
            }
            Error::Api {
                source: kube::Error::Api(s),
                ..
            } if s.code == 422 || s.code == 400 => {
                "the API server refused the change: fix what the message names (`kubectl explain mysqls.spec`)"
            }
            Error::Api { .. } => "check that the cluster answers (`kubectl get ns`) and try again",
            Error::Schema(_) => "this is a bug in kubectl-mysql; please report it",
        }
    }
}

/// What went wrong in a Kubernetes call, once: the API server's own message, or the
/// innermost cause of a transport failure (e.g. "Connection refused").
pub(crate) fn api_cause(error: &kube::Error) -> String {
    if let kube::Error::Api(status) = error {
        return if status.message.is_empty() {
            format!("the API server answered {} {}", status.code, status.reason)
        } else {
            status.message.clone()
        };
    }
    innermost_cause(error)
}

/// The innermost cause of an error: what went wrong (e.g. "Connection refused").
pub(crate) fn innermost_cause(error: &kube::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::Error;

    fn refused(code: u16, reason: &str, message: &str) -> Error {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure",
            "code": code, "reason": reason, "message": message,
        }))
        .unwrap_or_default();
        Error::api(
            "add the finalizer to MySQL \"shop\"",
            kube::Error::Api(Box::new(status)),
        )
    }

    #[test]
    fn an_api_refusal_reads_as_the_servers_message_once_with_a_fitting_hint() {
        let error = refused(
            422,
            "Invalid",
            "the server rejected our request: test failed",
        );
        assert_eq!(
            error.to_string(),
            "cannot add the finalizer to MySQL \"shop\": the server rejected our request: test failed"
        );
        assert!(
            error.hint().contains("refused the change"),
            "{}",
            error.hint()
        );
        let conflict = refused(409, "Conflict", "the object has been modified");
        assert!(!conflict.is_namespace_terminating());
        let terminating = refused(
            403,
            "Forbidden",
            "jobs.batch \"backup-shop-job\" is forbidden: unable to create new content in namespace shop because it is being terminated",
        );
        assert!(terminating.is_namespace_terminating());
        assert!(!refused(403, "Forbidden", "no RBAC rule").is_namespace_terminating());
        assert!(conflict.hint().contains("run the command again"));
        let bare = refused(500, "InternalError", "");
        assert_eq!(
            bare.to_string(),
            "cannot add the finalizer to MySQL \"shop\": the API server answered 500 InternalError"
        );
    }
}
