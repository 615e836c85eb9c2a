//! RBAC authorization as kube-apiserver's RBAC authorizer decides it, from the stored
//! Roles, ClusterRoles, RoleBindings and ClusterRoleBindings — for the users a test names
//! with [`super::TestApiServer::enforce_rbac_for`] only; everyone else may do anything.
//!
//! Followed from `plugin/pkg/auth/authorizer/rbac` (`rbac.go`, `rule.go`):
//! - a ClusterRoleBinding grants its ClusterRole's rules everywhere; a RoleBinding grants
//!   its Role's, or a ClusterRole's, rules in the binding's namespace only;
//! - a rule matches on verbs, apiGroups, resources (`resource/subresource`, `*`,
//!   `*/subresource`) and, when it names any, resourceNames (a list or a create names no
//!   object, so a rule with resourceNames never allows one);
//! - subjects: a User by name; a ServiceAccount `ns/name` is the user
//!   `system:serviceaccount:ns:name` (with no namespace, the RoleBinding's); a Group of
//!   the groups every authenticated user is in (`system:authenticated`, a ServiceAccount's
//!   `system:serviceaccounts` and `system:serviceaccounts:<ns>`), as the token
//!   authenticator names them; `system:unauthenticated` for `system:anonymous`.
//!
//! Non-resource URLs (`/api`, `/apis`, `/version`, `/openapi/...`) are not resource
//! requests and stay allowed: a real cluster grants them to every authenticated user
//! (the `system:discovery` and `system:public-info-viewer` ClusterRoles).
//! Not followed: aggregated ClusterRoles (`aggregationRule`), Group subjects other than
//! those implied groups, and the `escalate`/`bind` checks on writes of RBAC objects.

use serde_json::Value;

use super::status::{self, ApiError};
use super::store::{RequestRecord, Store};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The request as the authorizer sees it: a request on a namespace object
/// (`/api/v1/namespaces/NAME`) is in that namespace, as kube-apiserver's RequestInfo says.
fn attributes(request: &RequestRecord) -> RequestRecord {
    let mut attributes = request.clone();
    if request.group.is_empty() && request.resource == "namespaces" && request.namespace.is_empty()
    {
        attributes.namespace = request.name.clone();
    }
    attributes
}

/// `Ok` when `request` may go on: its user is not enforced, or a binding allows it;
/// otherwise kube-apiserver's 403.
pub fn authorize(store: &Store, request: &RequestRecord) -> Result<(), ApiError> {
    if !store.rbac_enforced.contains(&request.user) {
        return Ok(());
    }
    let attributes = attributes(request);
    if allows(store, &attributes) {
        Ok(())
    } else {
        Err(status::forbidden(&attributes, &request.user))
    }
}

/// Whether the stored RBAC objects allow `request` to its user (enforced or not).
pub fn allows(store: &Store, request: &RequestRecord) -> bool {
    let request = attributes(request);
    let listed = |resource: &str, namespace: Option<&str>| -> Vec<Value> {
        store
            .registry
            .find(RBAC_GROUP, "v1", resource)
            .map(|kind| store.list(kind, namespace))
            .unwrap_or_default()
    };
    let role_rules = |role_ref: &Value, namespace: &str| -> Vec<Value> {
        let name = role_ref["name"].as_str().unwrap_or_default();
        let (resource, scope) = match role_ref["kind"].as_str() {
            Some("ClusterRole") => ("clusterroles", None),
            Some("Role") if !namespace.is_empty() => ("roles", Some(namespace)),
            _ => return Vec::new(),
        };
        listed(resource, scope)
            .into_iter()
            .find(|role| role["metadata"]["name"] == name)
            .and_then(|role| role["rules"].as_array().cloned())
            .unwrap_or_default()
    };
    let grants = |binding: &Value, namespace: &str| {
        binding["subjects"].as_array().is_some_and(|subjects| {
            subjects
                .iter()
                .any(|s| subject_matches(s, &request.user, namespace))
        }) && role_rules(&binding["roleRef"], namespace)
            .iter()
            .any(|rule| rule_allows(rule, &request))
    };
    if listed("clusterrolebindings", None)
        .iter()
        .any(|binding| grants(binding, ""))
    {
        return true;
    }
    !request.namespace.is_empty()
        && listed("rolebindings", Some(&request.namespace))
            .iter()
            .any(|binding| grants(binding, &request.namespace))
}

/// Whether a binding's subject is `user`; `binding_namespace` ("" for a
/// ClusterRoleBinding) stands in for a ServiceAccount subject's missing namespace.
pub fn subject_matches(subject: &Value, user: &str, binding_namespace: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str() {
        Some("User") => name == user,
        Some("ServiceAccount") => {
            let namespace = subject["namespace"]
                .as_str()
                .filter(|ns| !ns.is_empty())
                .unwrap_or(binding_namespace);
            !namespace.is_empty() && user == format!("system:serviceaccount:{namespace}:{name}")
        }
        Some("Group") => groups_of(user).iter().any(|group| group == name),
        _ => false,
    }
}

/// The groups the authenticator puts `user` in.
fn groups_of(user: &str) -> Vec<String> {
    if user == "system:anonymous" {
        return vec!["system:unauthenticated".into()];
    }
    let mut groups = vec!["system:authenticated".to_string()];
    if let Some(account) = user.strip_prefix("system:serviceaccount:")
        && let Some((namespace, _)) = account.split_once(':')
    {
        groups.push("system:serviceaccounts".into());
        groups.push(format!("system:serviceaccounts:{namespace}"));
    }
    groups
}

/// Whether one PolicyRule allows `request` (rbac's `RuleAllows`).
pub fn rule_allows(rule: &Value, request: &RequestRecord) -> bool {
    let strings = |field: &str| -> Vec<&str> {
        rule[field]
            .as_array()
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let verbs = strings("verbs");
    let groups = strings("apiGroups");
    let resources = strings("resources");
    let names = strings("resourceNames");
    let combined = if request.subresource.is_empty() {
        request.resource.clone()
    } else {
        format!("{}/{}", request.resource, request.subresource)
    };
    let resource_matches = |resource: &&str| {
        *resource == "*"
            || *resource == combined
            || (!request.subresource.is_empty()
                && resource.strip_prefix("*/") == Some(request.subresource.as_str()))
    };
    verbs.iter().any(|v| *v == "*" || *v == request.verb)
        && groups.iter().any(|g| *g == "*" || *g == request.group)
        && resources.iter().any(resource_matches)
        && (names.is_empty() || names.iter().any(|n| *n == request.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(
        verb: &str,
        group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> RequestRecord {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        RequestRecord {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: namespace.into(),
            name: name.into(),
            user: "system:serviceaccount:ops:op".into(),
            user_agent: String::new(),
        }
    }

    #[test]
    fn a_rule_matches_verbs_groups_and_resources_with_wildcards() {
        let rule = json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]});
        assert!(rule_allows(&rule, &request("get", "", "secrets", "a", "s")));
        assert!(rule_allows(&rule, &request("list", "", "secrets", "a", "")));
        assert!(!rule_allows(
            &rule,
            &request("delete", "", "secrets", "a", "s")
        ));
        assert!(!rule_allows(
            &rule,
            &request("get", "apps", "secrets", "a", "s")
        ));
        assert!(!rule_allows(
            &rule,
            &request("get", "", "configmaps", "a", "s")
        ));
        let any = json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]});
        assert!(rule_allows(
            &any,
            &request("patch", "apps", "deployments/scale", "a", "d")
        ));
    }

    #[test]
    fn subresources_are_their_own_resource_unless_a_wildcard_names_them() {
        let main =
            json!({"apiGroups": ["otus.homework"], "resources": ["mysqls"], "verbs": ["patch"]});
        assert!(!rule_allows(
            &main,
            &request("patch", "otus.homework", "mysqls/status", "a", "m")
        ));
        let status = json!({"apiGroups": ["otus.homework"], "resources": ["mysqls/status"], "verbs": ["patch"]});
        assert!(rule_allows(
            &status,
            &request("patch", "otus.homework", "mysqls/status", "a", "m")
        ));
        assert!(!rule_allows(
            &status,
            &request("patch", "otus.homework", "mysqls", "a", "m")
        ));
        let every_status =
            json!({"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["patch"]});
        assert!(rule_allows(
            &every_status,
            &request("patch", "apps", "deployments/status", "a", "d")
        ));
        assert!(!rule_allows(
            &every_status,
            &request("patch", "apps", "deployments", "a", "d")
        ));
        assert!(!rule_allows(
            &every_status,
            &request("patch", "apps", "deployments/scale", "a", "d")
        ));
    }

    #[test]
    fn resource_names_allow_only_those_objects_and_never_a_list_or_a_create() {
        let rule = json!({"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
            "resourceNames": ["mysqls.otus.homework"], "verbs": ["get", "list", "create"]});
        let crd = |verb: &str, name: &str| {
            request(
                verb,
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                "",
                name,
            )
        };
        assert!(rule_allows(&rule, &crd("get", "mysqls.otus.homework")));
        assert!(!rule_allows(&rule, &crd("get", "other.example.com")));
        assert!(!rule_allows(&rule, &crd("list", "")));
        assert!(!rule_allows(&rule, &crd("create", "")));
    }

    #[test]
    fn subjects_are_users_service_accounts_and_implied_groups() {
        let user = "system:serviceaccount:ops:op";
        assert!(subject_matches(
            &json!({"kind": "ServiceAccount", "name": "op", "namespace": "ops"}),
            user,
            ""
        ));
        assert!(!subject_matches(
            &json!({"kind": "ServiceAccount", "name": "op", "namespace": "other"}),
            user,
            ""
        ));
        // A RoleBinding's ServiceAccount without a namespace is of the binding's namespace.
        assert!(subject_matches(
            &json!({"kind": "ServiceAccount", "name": "op"}),
            user,
            "ops"
        ));
        assert!(!subject_matches(
            &json!({"kind": "ServiceAccount", "name": "op"}),
            user,
            ""
        ));
        assert!(subject_matches(
            &json!({"kind": "User", "name": user}),
            user,
            ""
        ));
        assert!(!subject_matches(
            &json!({"kind": "User", "name": "op"}),
            user,
            ""
        ));
        assert!(subject_matches(
            &json!({"kind": "Group", "name": "system:serviceaccounts:ops"}),
            user,
            ""
        ));
        assert!(subject_matches(
            &json!({"kind": "Group", "name": "system:authenticated"}),
            "alice",
            ""
        ));
        assert!(!subject_matches(
            &json!({"kind": "Group", "name": "system:authenticated"}),
            "system:anonymous",
            ""
        ));
    }

    fn store_with(objects: &[Value]) -> Store {
        let mut store = Store::default();
        for object in objects {
            let api_version = object["apiVersion"].as_str().unwrap_or_default();
            let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
            let plural = match object["kind"].as_str() {
                Some("Namespace") => "namespaces",
                Some("Role") => "roles",
                Some("ClusterRole") => "clusterroles",
                Some("RoleBinding") => "rolebindings",
                _ => "clusterrolebindings",
            };
            let kind = store
                .registry
                .find(group, version, plural)
                .cloned()
                .expect("built in");
            let namespace = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            store
                .create(&kind, &namespace, object.clone(), &Default::default())
                .expect("created");
        }
        store
    }

    fn rbac_object(kind: &str, name: &str, namespace: Option<&str>, body: Value) -> Value {
        let mut object = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name}});
        if let Some(ns) = namespace {
            object["metadata"]["namespace"] = json!(ns);
        }
        for (k, v) in body.as_object().cloned().unwrap_or_default() {
            object[k] = v;
        }
        object
    }

    #[test]
    fn bindings_grant_their_role_where_they_are() {
        let secrets =
            json!({"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]});
        let volumes = json!({"rules": [{"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["list"]}]});
        let account = json!([{"kind": "ServiceAccount", "name": "op", "namespace": "ops"}]);
        let store = store_with(&[
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "blog"}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ops"}}),
            rbac_object("Role", "op", Some("shop"), secrets.clone()),
            rbac_object(
                "RoleBinding",
                "op",
                Some("shop"),
                json!({"subjects": account,
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "op"}}),
            ),
            // A RoleBinding to a ClusterRole grants its rules in the binding's namespace only.
            rbac_object("ClusterRole", "secret-reader", None, secrets),
            rbac_object(
                "RoleBinding",
                "reads",
                Some("blog"),
                json!({"subjects": account,
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "secret-reader"}}),
            ),
            rbac_object("ClusterRole", "volumes", None, volumes),
            rbac_object(
                "ClusterRoleBinding",
                "volumes",
                None,
                json!({"subjects": account,
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "volumes"}}),
            ),
        ]);
        assert!(allows(&store, &request("get", "", "secrets", "shop", "s")));
        assert!(allows(&store, &request("get", "", "secrets", "blog", "s")));
        assert!(!allows(&store, &request("get", "", "secrets", "ops", "s")));
        assert!(
            !allows(&store, &request("get", "", "secrets", "", "")),
            "no cluster-wide read"
        );
        assert!(allows(
            &store,
            &request("list", "", "persistentvolumes", "", "")
        ));
        assert!(!allows(
            &store,
            &request("delete", "", "persistentvolumes", "", "pv")
        ));
        let mut stranger = request("get", "", "secrets", "shop", "s");
        stranger.user = "system:serviceaccount:other:op".into();
        assert!(!allows(&store, &stranger));
    }

    #[test]
    fn only_enforced_users_are_refused_and_with_the_real_answer() {
        let mut store = Store::default();
        let other = request("get", "", "secrets", "shop", "s");
        assert!(authorize(&store, &other).is_ok(), "not enforced: allowed");
        store.rbac_enforced.insert(other.user.clone());
        let refused = authorize(&store, &other).expect_err("no binding");
        assert_eq!(refused.code, 403);
        assert_eq!(refused.body["reason"], "Forbidden");
        assert_eq!(
            refused.body["message"],
            "secrets \"s\" is forbidden: User \"system:serviceaccount:ops:op\" cannot get resource \"secrets\" in API group \"\" in the namespace \"shop\""
        );
        // A namespace object is in its own namespace.
        let namespace =
            authorize(&store, &request("get", "", "namespaces", "", "shop")).expect_err("refused");
        assert!(
            namespace.body["message"]
                .as_str()
                .is_some_and(|m| m.ends_with("in the namespace \"shop\"")),
            "{}",
            namespace.body
        );
    }
}
