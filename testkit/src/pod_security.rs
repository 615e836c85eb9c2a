//! The Pod Security Standards' "restricted" profile (kubernetes.io/docs/concepts/security/
//! pod-security-standards, as the v1.32 policy lists it), checked on a pod spec: what
//! admission would refuse in a namespace that enforces it.

use k8s_openapi::api::core::v1::{Container, PodSpec};

/// Volume types the profile allows.
const ALLOWED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// What in `pod` the "restricted" profile forbids (baseline checks included); empty when
/// it passes.
pub fn restricted_violations(pod: &PodSpec) -> Vec<String> {
    let mut found = Vec::new();
    let pod_context = pod.security_context.clone().unwrap_or_default();
    for (flag, set) in [
        ("hostNetwork", pod.host_network),
        ("hostPID", pod.host_pid),
        ("hostIPC", pod.host_ipc),
    ] {
        if set == Some(true) {
            found.push(format!("{flag} is true"));
        }
    }
    for volume in pod.volumes.iter().flatten() {
        let json = serde_json::to_value(volume).unwrap_or_default();
        let kinds: Vec<&String> = json
            .as_object()
            .map(|o| o.keys().filter(|k| *k != "name").collect())
            .unwrap_or_default();
        for kind in kinds {
            if !ALLOWED_VOLUMES.contains(&kind.as_str()) {
                found.push(format!("volume {:?} is of type {kind}", volume.name));
            }
        }
    }
    let pod_non_root = pod_context.run_as_non_root;
    let pod_seccomp = pod_context
        .seccomp_profile
        .as_ref()
        .map(|p| p.type_.clone());
    if pod_context.run_as_user == Some(0) {
        found.push("the pod runs as uid 0".into());
    }
    let containers = pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten());
    for container in containers {
        found.extend(
            container_violations(container, pod_non_root, pod_seccomp.as_deref())
                .into_iter()
                .map(|v| format!("container {:?}: {v}", container.name)),
        );
    }
    found
}

fn container_violations(
    container: &Container,
    pod_non_root: Option<bool>,
    pod_seccomp: Option<&str>,
) -> Vec<String> {
    let mut found = Vec::new();
    let context = container.security_context.clone().unwrap_or_default();
    if context.privileged == Some(true) {
        found.push("privileged".into());
    }
    if context.allow_privilege_escalation != Some(false) {
        found.push("allowPrivilegeEscalation is not false".into());
    }
    if context.run_as_non_root.or(pod_non_root) != Some(true) {
        found.push("runAsNonRoot is not true".into());
    }
    if context.run_as_user == Some(0) {
        found.push("runs as uid 0".into());
    }
    let seccomp = context
        .seccomp_profile
        .as_ref()
        .map(|p| p.type_.as_str())
        .or(pod_seccomp);
    if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
        found.push("seccompProfile is not RuntimeDefault or Localhost".into());
    }
    let capabilities = context.capabilities.clone().unwrap_or_default();
    if !capabilities.drop.iter().flatten().any(|c| c == "ALL") {
        found.push("capabilities do not drop ALL".into());
    }
    for added in capabilities.add.iter().flatten() {
        if added != "NET_BIND_SERVICE" {
            found.push(format!("adds capability {added}"));
        }
    }
    for port in container.ports.iter().flatten() {
        if port.host_port.is_some_and(|p| p != 0) {
            found.push(format!("hostPort {:?}", port.host_port));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::restricted_violations;
    use k8s_openapi::api::core::v1::PodSpec;
    use serde_json::json;

    #[test]
    fn each_rule_of_the_profile_is_checked() {
        let passing: PodSpec = serde_json::from_value(json!({
            "securityContext": {"runAsNonRoot": true, "runAsUser": 999, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "x"}}, {"name": "m", "emptyDir": {"medium": "Memory"}}]
        }))
        .unwrap();
        assert_eq!(restricted_violations(&passing), Vec::<String>::new());
        let failing: PodSpec = serde_json::from_value(json!({
            "hostNetwork": true,
            "containers": [{"name": "c", "securityContext": {"privileged": true, "capabilities": {"add": ["SYS_ADMIN"]}}, "ports": [{"containerPort": 1, "hostPort": 80}]}],
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}]
        }))
        .unwrap();
        let found = restricted_violations(&failing);
        for expected in [
            "hostNetwork is true",
            "volume \"h\" is of type hostPath",
            "container \"c\": privileged",
            "container \"c\": allowPrivilegeEscalation is not false",
            "container \"c\": runAsNonRoot is not true",
            "container \"c\": seccompProfile is not RuntimeDefault or Localhost",
            "container \"c\": capabilities do not drop ALL",
            "container \"c\": adds capability SYS_ADMIN",
            "container \"c\": hostPort Some(80)",
        ] {
            assert!(found.iter().any(|f| f == expected), "{expected}: {found:?}");
        }
    }
}
