//! What kube-apiserver does to a built-in object on every write before it stores it, in
//! one place (`../shared/api-transcripts/`, findings 52-54):
//!
//! - **decoding into the Go types**: a zero value of a plain (non-pointer) field with
//!   `omitempty` is gone (`storageClassName: ""` of a PV, `readOnly: false`, `args: []`),
//!   a pointer keeps an explicit zero (`enableServiceLinks: false`, a claim's
//!   `storageClassName: ""`), nulls are gone, quantities are canonical (`1.5Gi` is
//!   `1536Mi`);
//! - **defaulting** (the types' `SetDefaults_*` and the kinds' create strategies):
//!   `dnsPolicy`, `restartPolicy`, probe thresholds, a Deployment's strategy, a Service's
//!   cluster IP and families, a Job's selector and labels, a CronJob's policies and
//!   history limits, `stringData` into `data` ...;
//! - **encoding**: a non-pointer struct is always written (`resources: {}`, `status: {}`,
//!   a template's `metadata.creationTimestamp: null`).
//!
//! The field table [`TYPES`] follows k8s.io/api's `types.go` (v1.32): which fields are
//! pointers, which plain with `omitempty`, which structs. Subtrees the product never
//! writes are [`F::Any`] and kept as sent.

use serde_json::{Map, Value, json};

use kubectl_mysql::quantity;

use super::registry::Kind;

/// How a field is declared in Go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum F {
    /// A string, bool or number with `omitempty`: dropped when zero.
    Plain,
    /// A pointer: kept when set, even to a zero value.
    Ptr,
    /// No `omitempty`: kept as it is.
    Keep,
    /// A slice of scalars or a map with `omitempty`: dropped when empty.
    Coll,
    /// A non-pointer struct: always written (`{}` at least), fields by its type.
    Struct(&'static str),
    /// A pointer to a struct: written when set, fields by its type.
    PtrStruct(&'static str),
    /// A slice of structs with `omitempty`: dropped when empty, items by their type.
    List(&'static str),
    /// A slice of structs without `omitempty` (a pod's `containers`).
    KeepList(&'static str),
    /// `map[string]resource.Quantity` with `omitempty`: dropped when empty, values canonical.
    Quantities,
    /// `*resource.Quantity`: canonical.
    Quantity,
    /// A `metav1.Time` that is not a pointer: `null` when unset.
    Time,
    /// A subtree the product does not model: kept as sent.
    Any,
}

use F::*;

/// Go struct -> its JSON fields (embedded structs' fields are listed inline).
const TYPES: &[(&str, &[(&str, F)])] = &[
    (
        "ObjectMeta",
        &[
            ("name", Plain),
            ("generateName", Plain),
            ("namespace", Plain),
            ("uid", Plain),
            ("resourceVersion", Plain),
            ("generation", Plain),
            ("creationTimestamp", Time),
            ("deletionTimestamp", Ptr),
            ("deletionGracePeriodSeconds", Ptr),
            ("labels", Coll),
            ("annotations", Coll),
            ("ownerReferences", List("OwnerReference")),
            ("finalizers", Coll),
            ("managedFields", Any),
        ],
    ),
    (
        "OwnerReference",
        &[
            ("apiVersion", Keep),
            ("kind", Keep),
            ("name", Keep),
            ("uid", Keep),
            ("controller", Ptr),
            ("blockOwnerDeletion", Ptr),
        ],
    ),
    (
        "ObjectReference",
        &[
            ("kind", Plain),
            ("namespace", Plain),
            ("name", Plain),
            ("uid", Plain),
            ("apiVersion", Plain),
            ("resourceVersion", Plain),
            ("fieldPath", Plain),
        ],
    ),
    (
        "LabelSelector",
        &[
            ("matchLabels", Coll),
            ("matchExpressions", List("LabelSelectorRequirement")),
        ],
    ),
    (
        "LabelSelectorRequirement",
        &[("key", Keep), ("operator", Keep), ("values", Coll)],
    ),
    (
        "PodTemplateSpec",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("spec", Struct("PodSpec")),
        ],
    ),
    (
        "PodSpec",
        &[
            ("volumes", List("Volume")),
            ("initContainers", List("Container")),
            ("containers", KeepList("Container")),
            ("ephemeralContainers", Any),
            ("restartPolicy", Plain),
            ("terminationGracePeriodSeconds", Ptr),
            ("activeDeadlineSeconds", Ptr),
            ("dnsPolicy", Plain),
            ("nodeSelector", Coll),
            ("serviceAccountName", Plain),
            ("serviceAccount", Plain),
            ("automountServiceAccountToken", Ptr),
            ("nodeName", Plain),
            ("hostNetwork", Plain),
            ("hostPID", Plain),
            ("hostIPC", Plain),
            ("shareProcessNamespace", Ptr),
            ("securityContext", PtrStruct("PodSecurityContext")),
            ("imagePullSecrets", List("LocalObjectReference")),
            ("hostname", Plain),
            ("subdomain", Plain),
            ("affinity", Any),
            ("schedulerName", Plain),
            ("tolerations", Any),
            ("hostAliases", Any),
            ("priorityClassName", Plain),
            ("priority", Ptr),
            ("dnsConfig", Any),
            ("readinessGates", Any),
            ("runtimeClassName", Ptr),
            ("enableServiceLinks", Ptr),
            ("preemptionPolicy", Ptr),
            ("overhead", Quantities),
            ("topologySpreadConstraints", Any),
            ("setHostnameAsFQDN", Ptr),
            ("os", Any),
            ("hostUsers", Ptr),
            ("schedulingGates", Any),
            ("resourceClaims", Any),
            ("resources", PtrStruct("ResourceRequirements")),
        ],
    ),
    ("LocalObjectReference", &[("name", Plain)]),
    (
        "Container",
        &[
            ("name", Keep),
            ("image", Plain),
            ("command", Coll),
            ("args", Coll),
            ("workingDir", Plain),
            ("ports", List("ContainerPort")),
            ("envFrom", Any),
            ("env", List("EnvVar")),
            ("resources", Struct("ResourceRequirements")),
            ("resizePolicy", Any),
            ("restartPolicy", Ptr),
            ("volumeMounts", List("VolumeMount")),
            ("volumeDevices", Any),
            ("livenessProbe", PtrStruct("Probe")),
            ("readinessProbe", PtrStruct("Probe")),
            ("startupProbe", PtrStruct("Probe")),
            ("lifecycle", Any),
            ("terminationMessagePath", Plain),
            ("terminationMessagePolicy", Plain),
            ("imagePullPolicy", Plain),
            ("securityContext", PtrStruct("SecurityContext")),
            ("stdin", Plain),
            ("stdinOnce", Plain),
            ("tty", Plain),
        ],
    ),
    (
        "ContainerPort",
        &[
            ("name", Plain),
            ("hostPort", Plain),
            ("containerPort", Keep),
            ("protocol", Plain),
            ("hostIP", Plain),
        ],
    ),
    (
        "EnvVar",
        &[
            ("name", Keep),
            ("value", Plain),
            ("valueFrom", PtrStruct("EnvVarSource")),
        ],
    ),
    (
        "EnvVarSource",
        &[
            ("fieldRef", PtrStruct("ObjectFieldSelector")),
            ("resourceFieldRef", Any),
            ("configMapKeyRef", PtrStruct("KeySelector")),
            ("secretKeyRef", PtrStruct("KeySelector")),
        ],
    ),
    (
        "ObjectFieldSelector",
        &[("apiVersion", Plain), ("fieldPath", Keep)],
    ),
    (
        "KeySelector",
        &[("name", Plain), ("key", Keep), ("optional", Ptr)],
    ),
    (
        "ResourceRequirements",
        &[
            ("limits", Quantities),
            ("requests", Quantities),
            ("claims", Any),
        ],
    ),
    (
        "VolumeMount",
        &[
            ("name", Keep),
            ("readOnly", Plain),
            ("recursiveReadOnly", Ptr),
            ("mountPath", Keep),
            ("subPath", Plain),
            ("mountPropagation", Ptr),
            ("subPathExpr", Plain),
        ],
    ),
    (
        "Probe",
        &[
            ("exec", PtrStruct("ExecAction")),
            ("httpGet", PtrStruct("HTTPGetAction")),
            ("tcpSocket", Any),
            ("grpc", Any),
            ("initialDelaySeconds", Plain),
            ("timeoutSeconds", Plain),
            ("periodSeconds", Plain),
            ("successThreshold", Plain),
            ("failureThreshold", Plain),
            ("terminationGracePeriodSeconds", Ptr),
        ],
    ),
    ("ExecAction", &[("command", Coll)]),
    (
        "HTTPGetAction",
        &[
            ("path", Plain),
            ("port", Keep),
            ("host", Plain),
            ("scheme", Plain),
            ("httpHeaders", Any),
        ],
    ),
    (
        "SecurityContext",
        &[
            ("capabilities", PtrStruct("Capabilities")),
            ("privileged", Ptr),
            ("seLinuxOptions", Any),
            ("windowsOptions", Any),
            ("runAsUser", Ptr),
            ("runAsGroup", Ptr),
            ("runAsNonRoot", Ptr),
            ("readOnlyRootFilesystem", Ptr),
            ("allowPrivilegeEscalation", Ptr),
            ("procMount", Ptr),
            ("seccompProfile", PtrStruct("SeccompProfile")),
            ("appArmorProfile", Any),
        ],
    ),
    ("Capabilities", &[("add", Coll), ("drop", Coll)]),
    (
        "PodSecurityContext",
        &[
            ("seLinuxOptions", Any),
            ("windowsOptions", Any),
            ("runAsUser", Ptr),
            ("runAsGroup", Ptr),
            ("runAsNonRoot", Ptr),
            ("supplementalGroups", Coll),
            ("supplementalGroupsPolicy", Ptr),
            ("fsGroup", Ptr),
            ("sysctls", Any),
            ("fsGroupChangePolicy", Ptr),
            ("seccompProfile", PtrStruct("SeccompProfile")),
            ("appArmorProfile", Any),
            ("seLinuxChangePolicy", Ptr),
        ],
    ),
    (
        "SeccompProfile",
        &[("type", Keep), ("localhostProfile", Ptr)],
    ),
    (
        "Volume",
        &[
            ("name", Keep),
            ("hostPath", PtrStruct("HostPathVolumeSource")),
            ("emptyDir", PtrStruct("EmptyDirVolumeSource")),
            ("secret", PtrStruct("SecretVolumeSource")),
            (
                "persistentVolumeClaim",
                PtrStruct("PersistentVolumeClaimVolumeSource"),
            ),
            ("configMap", PtrStruct("ConfigMapVolumeSource")),
            ("projected", Any),
            ("downwardAPI", Any),
        ],
    ),
    ("HostPathVolumeSource", &[("path", Keep), ("type", Ptr)]),
    (
        "EmptyDirVolumeSource",
        &[("medium", Plain), ("sizeLimit", Quantity)],
    ),
    (
        "SecretVolumeSource",
        &[
            ("secretName", Plain),
            ("items", List("KeyToPath")),
            ("defaultMode", Ptr),
            ("optional", Ptr),
        ],
    ),
    (
        "ConfigMapVolumeSource",
        &[
            ("name", Plain),
            ("items", List("KeyToPath")),
            ("defaultMode", Ptr),
            ("optional", Ptr),
        ],
    ),
    ("KeyToPath", &[("key", Keep), ("path", Keep), ("mode", Ptr)]),
    (
        "PersistentVolumeClaimVolumeSource",
        &[("claimName", Keep), ("readOnly", Plain)],
    ),
    // apps/v1
    (
        "Deployment",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("spec", Struct("DeploymentSpec")),
            ("status", Struct("DeploymentStatus")),
        ],
    ),
    (
        "DeploymentSpec",
        &[
            ("replicas", Ptr),
            ("selector", PtrStruct("LabelSelector")),
            ("template", Struct("PodTemplateSpec")),
            ("strategy", Struct("DeploymentStrategy")),
            ("minReadySeconds", Plain),
            ("revisionHistoryLimit", Ptr),
            ("paused", Plain),
            ("progressDeadlineSeconds", Ptr),
        ],
    ),
    (
        "DeploymentStrategy",
        &[("type", Plain), ("rollingUpdate", Any)],
    ),
    (
        "DeploymentStatus",
        &[
            ("observedGeneration", Plain),
            ("replicas", Plain),
            ("updatedReplicas", Plain),
            ("readyReplicas", Plain),
            ("availableReplicas", Plain),
            ("unavailableReplicas", Plain),
            ("terminatingReplicas", Ptr),
            ("conditions", Any),
            ("collisionCount", Ptr),
        ],
    ),
    // batch/v1
    (
        "Job",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("spec", Struct("JobSpec")),
            ("status", Struct("JobStatus")),
        ],
    ),
    (
        "JobSpec",
        &[
            ("parallelism", Ptr),
            ("completions", Ptr),
            ("activeDeadlineSeconds", Ptr),
            ("podFailurePolicy", Any),
            ("successPolicy", Any),
            ("backoffLimit", Ptr),
            ("backoffLimitPerIndex", Ptr),
            ("maxFailedIndexes", Ptr),
            ("selector", PtrStruct("LabelSelector")),
            ("manualSelector", Ptr),
            ("template", Struct("PodTemplateSpec")),
            ("ttlSecondsAfterFinished", Ptr),
            ("completionMode", Ptr),
            ("suspend", Ptr),
            ("podReplacementPolicy", Ptr),
            ("managedBy", Ptr),
        ],
    ),
    (
        "JobStatus",
        &[
            ("conditions", Any),
            ("startTime", Ptr),
            ("completionTime", Ptr),
            ("active", Plain),
            ("succeeded", Plain),
            ("failed", Plain),
            ("terminating", Ptr),
            ("completedIndexes", Plain),
            ("failedIndexes", Ptr),
            ("uncountedTerminatedPods", Any),
            ("ready", Ptr),
        ],
    ),
    (
        "CronJob",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("spec", Struct("CronJobSpec")),
            ("status", Struct("CronJobStatus")),
        ],
    ),
    (
        "CronJobSpec",
        &[
            ("schedule", Keep),
            ("timeZone", Ptr),
            ("startingDeadlineSeconds", Ptr),
            ("concurrencyPolicy", Plain),
            ("suspend", Ptr),
            ("jobTemplate", Struct("JobTemplateSpec")),
            ("successfulJobsHistoryLimit", Ptr),
            ("failedJobsHistoryLimit", Ptr),
        ],
    ),
    (
        "JobTemplateSpec",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("spec", Struct("JobSpec")),
        ],
    ),
    (
        "CronJobStatus",
        &[
            ("active", List("ObjectReference")),
            ("lastScheduleTime", Ptr),
            ("lastSuccessfulTime", Ptr),
        ],
    ),
    // core/v1
    (
        "Pod",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("spec", Struct("PodSpec")),
            ("status", Struct("PodStatus")),
        ],
    ),
    (
        "PodStatus",
        &[
            ("phase", Plain),
            ("conditions", Any),
            ("message", Plain),
            ("reason", Plain),
            ("hostIP", Plain),
            ("podIP", Plain),
            ("startTime", Ptr),
            ("containerStatuses", Any),
            ("qosClass", Plain),
        ],
    ),
    (
        "Service",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("spec", Struct("ServiceSpec")),
            ("status", Struct("ServiceStatus")),
        ],
    ),
    (
        "ServiceSpec",
        &[
            ("ports", List("ServicePort")),
            ("selector", Coll),
            ("clusterIP", Plain),
            ("clusterIPs", Coll),
            ("type", Plain),
            ("externalIPs", Coll),
            ("sessionAffinity", Plain),
            ("loadBalancerIP", Plain),
            ("loadBalancerSourceRanges", Coll),
            ("externalName", Plain),
            ("externalTrafficPolicy", Plain),
            ("healthCheckNodePort", Plain),
            ("publishNotReadyAddresses", Plain),
            ("sessionAffinityConfig", Any),
            ("ipFamilies", Coll),
            ("ipFamilyPolicy", Ptr),
            ("allocateLoadBalancerNodePorts", Ptr),
            ("loadBalancerClass", Ptr),
            ("internalTrafficPolicy", Ptr),
            ("trafficDistribution", Ptr),
        ],
    ),
    (
        "ServicePort",
        &[
            ("name", Plain),
            ("protocol", Plain),
            ("appProtocol", Ptr),
            ("port", Keep),
            ("targetPort", Keep),
            ("nodePort", Plain),
        ],
    ),
    (
        "ServiceStatus",
        &[
            ("loadBalancer", Struct("LoadBalancerStatus")),
            ("conditions", Any),
        ],
    ),
    ("LoadBalancerStatus", &[("ingress", Any)]),
    (
        "PersistentVolume",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("spec", Struct("PersistentVolumeSpec")),
            ("status", Struct("PersistentVolumeStatus")),
        ],
    ),
    (
        "PersistentVolumeSpec",
        &[
            ("capacity", Quantities),
            ("hostPath", PtrStruct("HostPathVolumeSource")),
            ("local", Any),
            ("nfs", Any),
            ("csi", Any),
            ("accessModes", Coll),
            ("claimRef", PtrStruct("ObjectReference")),
            ("persistentVolumeReclaimPolicy", Plain),
            ("storageClassName", Plain),
            ("mountOptions", Coll),
            ("volumeMode", Ptr),
            ("nodeAffinity", Any),
            ("volumeAttributesClassName", Ptr),
        ],
    ),
    (
        "PersistentVolumeStatus",
        &[
            ("phase", Plain),
            ("message", Plain),
            ("reason", Plain),
            ("lastPhaseTransitionTime", Ptr),
        ],
    ),
    (
        "PersistentVolumeClaim",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("spec", Struct("PersistentVolumeClaimSpec")),
            ("status", Struct("PersistentVolumeClaimStatus")),
        ],
    ),
    (
        "PersistentVolumeClaimSpec",
        &[
            ("accessModes", Coll),
            ("selector", PtrStruct("LabelSelector")),
            ("resources", Struct("VolumeResourceRequirements")),
            ("volumeName", Plain),
            ("storageClassName", Ptr),
            ("volumeMode", Ptr),
            ("dataSource", Any),
            ("dataSourceRef", Any),
            ("volumeAttributesClassName", Ptr),
        ],
    ),
    (
        "VolumeResourceRequirements",
        &[("limits", Quantities), ("requests", Quantities)],
    ),
    (
        "PersistentVolumeClaimStatus",
        &[
            ("phase", Plain),
            ("accessModes", Coll),
            ("capacity", Quantities),
            ("conditions", Any),
            ("allocatedResources", Quantities),
            ("allocatedResourceStatuses", Coll),
            ("currentVolumeAttributesClassName", Ptr),
            ("modifyVolumeStatus", Any),
        ],
    ),
    (
        "Secret",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("immutable", Ptr),
            ("data", Coll),
            ("stringData", Coll),
            ("type", Plain),
        ],
    ),
    (
        "ConfigMap",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("immutable", Ptr),
            ("data", Coll),
            ("binaryData", Coll),
        ],
    ),
    (
        "Namespace",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("spec", Struct("NamespaceSpec")),
            ("status", Struct("NamespaceStatus")),
        ],
    ),
    ("NamespaceSpec", &[("finalizers", Coll)]),
    ("NamespaceStatus", &[("phase", Plain), ("conditions", Any)]),
    (
        "ServiceAccount",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("secrets", Any),
            ("imagePullSecrets", List("LocalObjectReference")),
            ("automountServiceAccountToken", Ptr),
        ],
    ),
    // coordination.k8s.io/v1
    (
        "Lease",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("spec", Struct("LeaseSpec")),
        ],
    ),
    (
        "LeaseSpec",
        &[
            ("holderIdentity", Ptr),
            ("leaseDurationSeconds", Ptr),
            ("acquireTime", Ptr),
            ("renewTime", Ptr),
            ("leaseTransitions", Ptr),
            ("strategy", Ptr),
            ("preferredHolder", Ptr),
        ],
    ),
    // rbac.authorization.k8s.io/v1
    (
        "ClusterRole",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("rules", KeepList("PolicyRule")),
            ("aggregationRule", Any),
        ],
    ),
    (
        "Role",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("rules", KeepList("PolicyRule")),
        ],
    ),
    (
        "PolicyRule",
        &[
            ("verbs", Keep),
            ("apiGroups", Coll),
            ("resources", Coll),
            ("resourceNames", Coll),
            ("nonResourceURLs", Coll),
        ],
    ),
    (
        "RoleBinding",
        &[
            ("metadata", Struct("ObjectMeta")),
            ("subjects", List("Subject")),
            ("roleRef", Struct("RoleRef")),
        ],
    ),
    (
        "Subject",
        &[
            ("kind", Keep),
            ("apiGroup", Plain),
            ("name", Keep),
            ("namespace", Plain),
        ],
    ),
    (
        "RoleRef",
        &[("apiGroup", Keep), ("kind", Keep), ("name", Keep)],
    ),
];

fn fields_of(type_name: &str) -> &'static [(&'static str, F)] {
    TYPES
        .iter()
        .find(|(name, _)| *name == type_name)
        .map(|(_, fields)| *fields)
        .unwrap_or(&[])
}

/// The Go type stored for a built-in kind, if this table models it.
fn root_type(kind: &Kind) -> Option<&'static str> {
    if kind.custom {
        return None;
    }
    Some(match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Pod") => "Pod",
        ("", "Service") => "Service",
        ("", "PersistentVolume") => "PersistentVolume",
        ("", "PersistentVolumeClaim") => "PersistentVolumeClaim",
        ("", "Secret") => "Secret",
        ("", "ConfigMap") => "ConfigMap",
        ("", "Namespace") => "Namespace",
        ("", "ServiceAccount") => "ServiceAccount",
        ("apps", "Deployment") => "Deployment",
        ("batch", "Job") => "Job",
        ("batch", "CronJob") => "CronJob",
        ("coordination.k8s.io", "Lease") => "Lease",
        ("rbac.authorization.k8s.io", "ClusterRole") => "ClusterRole",
        ("rbac.authorization.k8s.io", "Role") => "Role",
        ("rbac.authorization.k8s.io", "ClusterRoleBinding" | "RoleBinding") => "RoleBinding",
        _ => return None,
    })
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Decode and encode `value` as Go type `type_name`: drop what encoding/json would not
/// write, canonicalise quantities, and (with `write_structs`) write non-pointer structs.
fn walk(value: &mut Value, type_name: &str, write_structs: bool) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    let fields = fields_of(type_name);
    let mut drop = Vec::new();
    for (key, field) in map.iter_mut() {
        let Some((_, kind)) = fields.iter().find(|(name, _)| name == key) else {
            continue; // not modelled (or the top level's apiVersion/kind): as sent
        };
        let gone = match kind {
            Any => false,
            Keep => field.is_null(),
            Ptr => field.is_null(),
            Plain | Coll => is_zero(field),
            Time => false,
            Quantity => {
                if let Value::String(text) = field {
                    *text = quantity::canonical_text(text);
                }
                field.is_null()
            }
            Quantities => {
                if let Value::Object(values) = field {
                    for v in values.values_mut() {
                        if let Value::String(text) = v {
                            *text = quantity::canonical_text(text);
                        }
                    }
                }
                is_zero(field)
            }
            Struct(inner) => {
                if field.is_null() {
                    *field = json!({});
                }
                walk(field, inner, write_structs);
                false
            }
            PtrStruct(inner) => {
                walk(field, inner, write_structs);
                field.is_null()
            }
            List(inner) | KeepList(inner) => {
                for item in field.as_array_mut().into_iter().flatten() {
                    walk(item, inner, write_structs);
                }
                matches!(kind, List(_)) && is_zero(field)
            }
        };
        if gone {
            drop.push(key.clone());
        }
    }
    for key in drop {
        map.remove(&key);
    }
    if write_structs {
        for (name, kind) in fields {
            match kind {
                Struct(inner) if !map.contains_key(*name) => {
                    let mut empty = json!({});
                    walk(&mut empty, inner, true);
                    map.insert(name.to_string(), empty);
                }
                // encoding/json writes a nil slice without `omitempty` as null.
                Time | KeepList(_) if !map.contains_key(*name) => {
                    map.insert(name.to_string(), Value::Null);
                }
                _ => {}
            }
        }
    }
}

/// Whether a string field is unset (absent or "").
fn unset(value: &Value, key: &str) -> bool {
    value.get(key).is_none_or(is_zero)
}

fn set_if_unset(value: &mut Value, key: &str, default: Value) {
    if value.is_object() && unset(value, key) {
        value[key] = default;
    }
}

fn set_if_absent(value: &mut Value, key: &str, default: Value) {
    if value.is_object() && value.get(key).is_none_or(Value::is_null) {
        value[key] = default;
    }
}

fn items_mut<'a>(value: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    value
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// `SetDefaults_PodSpec` and what it calls (containers, probes, ports, volumes).
fn default_pod_spec(spec: &mut Value) {
    set_if_unset(spec, "dnsPolicy", json!("ClusterFirst"));
    set_if_unset(spec, "restartPolicy", json!("Always"));
    set_if_absent(spec, "terminationGracePeriodSeconds", json!(30));
    set_if_unset(spec, "schedulerName", json!("default-scheduler"));
    set_if_absent(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        for container in items_mut(spec, list) {
            default_container(container);
        }
    }
    for volume in items_mut(spec, "volumes") {
        for (source, mode) in [("secret", "defaultMode"), ("configMap", "defaultMode")] {
            if let Some(s) = volume.get_mut(source).filter(|s| s.is_object()) {
                set_if_absent(s, mode, json!(420));
            }
        }
        if let Some(host) = volume.get_mut("hostPath").filter(|s| s.is_object()) {
            set_if_absent(host, "type", json!(""));
        }
    }
}

fn default_container(container: &mut Value) {
    set_if_unset(
        container,
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    set_if_unset(container, "terminationMessagePolicy", json!("File"));
    if unset(container, "imagePullPolicy") {
        let image = container["image"].as_str().unwrap_or_default();
        container["imagePullPolicy"] = json!(pull_policy(image));
    }
    for port in items_mut(container, "ports") {
        set_if_unset(port, "protocol", json!("TCP"));
    }
    for env in items_mut(container, "env") {
        if let Some(field_ref) = env
            .get_mut("valueFrom")
            .and_then(|v| v.get_mut("fieldRef"))
            .filter(|f| f.is_object())
        {
            set_if_unset(field_ref, "apiVersion", json!("v1"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = container.get_mut(probe).filter(|p| p.is_object()) {
            set_if_unset(p, "timeoutSeconds", json!(1));
            set_if_unset(p, "periodSeconds", json!(10));
            set_if_unset(p, "successThreshold", json!(1));
            set_if_unset(p, "failureThreshold", json!(3));
            if let Some(get) = p.get_mut("httpGet").filter(|g| g.is_object()) {
                set_if_unset(get, "path", json!("/"));
                set_if_unset(get, "scheme", json!("HTTP"));
            }
        }
    }
}

/// `:latest` (said or implied) pulls every time, any other tag or a bare digest only when
/// missing; an image that cannot be parsed (or none) too.
fn pull_policy(image: &str) -> &'static str {
    if image.is_empty() {
        return "IfNotPresent";
    }
    let (name, digest) = match image.split_once('@') {
        Some((name, _)) => (name, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
        None if digest => "IfNotPresent",
        None => "Always",
    }
}

fn default_template(template: Option<&mut Value>) {
    if let Some(spec) = template
        .and_then(|t| t.get_mut("spec"))
        .filter(|s| s.is_object())
    {
        default_pod_spec(spec);
    }
}

/// The defaulters of the kinds, on every write.
fn default(root: &str, object: &mut Value) {
    match root {
        "Deployment" => {
            let spec = &mut object["spec"];
            set_if_absent(spec, "replicas", json!(1));
            if !spec["strategy"].is_object() {
                spec["strategy"] = json!({});
            }
            set_if_unset(&mut spec["strategy"], "type", json!("RollingUpdate"));
            if spec["strategy"]["type"] == "RollingUpdate" {
                let rolling = &mut spec["strategy"]["rollingUpdate"];
                if !rolling.is_object() {
                    *rolling = json!({});
                }
                set_if_absent(rolling, "maxUnavailable", json!("25%"));
                set_if_absent(rolling, "maxSurge", json!("25%"));
            }
            set_if_absent(spec, "revisionHistoryLimit", json!(10));
            set_if_absent(spec, "progressDeadlineSeconds", json!(600));
            default_template(spec.get_mut("template"));
        }
        "Job" => {
            let spec = &mut object["spec"];
            match (spec.get("completions"), spec.get("parallelism")) {
                (None, None) => {
                    spec["completions"] = json!(1);
                    spec["parallelism"] = json!(1);
                }
                (_, None) => spec["parallelism"] = json!(1),
                _ => {}
            }
            let per_index = spec
                .get("backoffLimitPerIndex")
                .is_some_and(|v| !v.is_null());
            set_if_absent(
                spec,
                "backoffLimit",
                json!(if per_index { 2147483647 } else { 6 }),
            );
            set_if_absent(spec, "completionMode", json!("NonIndexed"));
            set_if_absent(spec, "manualSelector", json!(false));
            set_if_absent(spec, "suspend", json!(false));
            let failure_policy = spec.get("podFailurePolicy").is_some_and(|v| !v.is_null());
            set_if_absent(
                spec,
                "podReplacementPolicy",
                json!(if failure_policy {
                    "Failed"
                } else {
                    "TerminatingOrFailed"
                }),
            );
            default_template(spec.get_mut("template"));
        }
        "CronJob" => {
            let spec = &mut object["spec"];
            set_if_unset(spec, "concurrencyPolicy", json!("Allow"));
            set_if_absent(spec, "suspend", json!(false));
            set_if_absent(spec, "successfulJobsHistoryLimit", json!(3));
            set_if_absent(spec, "failedJobsHistoryLimit", json!(1));
            // Only the pod template is defaulted here: the Job's own defaults (completions,
            // backoffLimit, ...) come when the controller creates a Job from it.
            default_template(object.pointer_mut("/spec/jobTemplate/spec/template"));
        }
        "Pod" if object["spec"].is_object() => {
            default_pod_spec(&mut object["spec"]);
            // SetDefaults_Pod, not SetDefaults_PodSpec: templates never get it.
            set_if_absent(&mut object["spec"], "enableServiceLinks", json!(true));
        }
        "Service" => {
            let spec = &mut object["spec"];
            set_if_unset(spec, "type", json!("ClusterIP"));
            set_if_unset(spec, "sessionAffinity", json!("None"));
            for port in items_mut(spec, "ports") {
                set_if_unset(port, "protocol", json!("TCP"));
                if unset(port, "targetPort") {
                    port["targetPort"] = port["port"].clone();
                }
            }
            if spec["type"] != "ExternalName" {
                set_if_absent(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            match spec["sessionAffinity"].as_str() {
                Some("ClientIP") => {
                    if !spec["sessionAffinityConfig"]["clientIP"].is_object() {
                        spec["sessionAffinityConfig"] = json!({"clientIP": {}});
                    }
                    set_if_absent(
                        &mut spec["sessionAffinityConfig"]["clientIP"],
                        "timeoutSeconds",
                        json!(10800),
                    );
                }
                _ => {
                    spec.as_object_mut()
                        .map(|m| m.remove("sessionAffinityConfig"));
                }
            }
            if matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer")) {
                set_if_unset(spec, "externalTrafficPolicy", json!("Cluster"));
            }
            if spec["type"] == "LoadBalancer" {
                set_if_absent(spec, "allocateLoadBalancerNodePorts", json!(true));
            }
        }
        "PersistentVolume" => {
            let spec = &mut object["spec"];
            set_if_unset(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
            set_if_absent(spec, "volumeMode", json!("Filesystem"));
            if let Some(host) = spec.get_mut("hostPath").filter(|h| h.is_object()) {
                set_if_absent(host, "type", json!(""));
            }
        }
        "PersistentVolumeClaim" => {
            set_if_absent(&mut object["spec"], "volumeMode", json!("Filesystem"));
        }
        "Namespace" => {
            if let Some(name) = object["metadata"]["name"].as_str().map(str::to_string) {
                if !object["metadata"]["labels"].is_object() {
                    object["metadata"]["labels"] = json!({});
                }
                object["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            }
        }
        "Secret" => {
            set_if_unset(object, "type", json!("Opaque"));
            // stringData is write-only: it lands base64-encoded in data.
            if let Some(Value::Object(strings)) =
                object.as_object_mut().and_then(|o| o.remove("stringData"))
            {
                for (key, value) in strings {
                    let text = value.as_str().unwrap_or_default();
                    object["data"][key] = json!(base64::engine::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        text
                    ));
                }
            }
        }
        "RoleBinding" => {
            set_if_unset(
                &mut object["roleRef"],
                "apiGroup",
                json!("rbac.authorization.k8s.io"),
            );
            for subject in items_mut(object, "subjects") {
                if unset(subject, "apiGroup") {
                    let group = match subject["kind"].as_str() {
                        Some("User" | "Group") => "rbac.authorization.k8s.io",
                        _ => "",
                    };
                    subject["apiGroup"] = json!(group);
                }
            }
        }
        _ => {}
    }
}

/// The stored form of a built-in object: decoded, defaulted and encoded as kube-apiserver
/// does on every write. Custom resources and kinds the table does not model stay as sent.
pub fn stored_form(kind: &Kind, object: &mut Value) {
    let Some(root) = root_type(kind) else {
        return;
    };
    walk(object, root, false);
    default(root, object);
    walk(object, root, true);
}

/// The zero object of a built-in kind as encoding/json writes it (its non-pointer structs
/// present): what the field manager compares a created object against.
pub fn zero_object(api_version: &str, kind_name: &str) -> Option<Value> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = Kind {
        group: group.into(),
        version: String::new(),
        kind: kind_name.into(),
        plural: String::new(),
        singular: String::new(),
        short_names: Vec::new(),
        namespaced: true,
        status: false,
        custom: false,
        schema: None,
        printer_columns: Vec::new(),
    };
    let root = root_type(&kind)?;
    let mut zero = json!({});
    walk(&mut zero, root, true);
    Some(zero)
}

/// What the kinds' create strategies add once: allocations and generated fields.
pub struct Allocator<'a> {
    /// The next ClusterIP to hand out (10.96.0.0/12, as kubeadm's default range).
    pub next_cluster_ip: &'a mut u32,
}

/// Create-time fields: a Service's cluster IP and families, a Job's generated selector and
/// labels, the volume protection finalizers, a Namespace's name label, the first status.
pub fn on_create(kind: &Kind, object: &mut Value, allocator: &mut Allocator<'_>) {
    let Some(root) = root_type(kind) else {
        return;
    };
    let uid = object["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match root {
        "Service" => {
            let spec = &mut object["spec"];
            let headless = spec["clusterIP"] == "None";
            if spec["type"] != "ExternalName" {
                if unset(spec, "clusterIP") {
                    *allocator.next_cluster_ip += 1;
                    let n = *allocator.next_cluster_ip;
                    spec["clusterIP"] = json!(format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff));
                }
                if unset(spec, "clusterIPs") {
                    spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
                }
                set_if_unset(spec, "ipFamilies", json!(["IPv4"]));
                set_if_absent(spec, "ipFamilyPolicy", json!("SingleStack"));
            }
            let _ = headless;
        }
        "Job" => {
            let spec = &mut object["spec"];
            if spec["manualSelector"] != json!(true) {
                let generated = [
                    ("batch.kubernetes.io/controller-uid", uid.as_str()),
                    ("batch.kubernetes.io/job-name", name.as_str()),
                    ("controller-uid", uid.as_str()),
                    ("job-name", name.as_str()),
                ];
                spec["selector"] =
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
                let template = &mut spec["template"];
                if !template["metadata"].is_object() {
                    template["metadata"] = json!({});
                }
                let labels = &mut template["metadata"]["labels"];
                if !labels.is_object() {
                    *labels = json!({});
                }
                for (key, value) in generated {
                    labels[key] = json!(value);
                }
            }
            // A Job without labels takes its template's.
            if unset(&object["metadata"], "labels") {
                object["metadata"]["labels"] =
                    object["spec"]["template"]["metadata"]["labels"].clone();
            }
        }
        "PersistentVolume" | "PersistentVolumeClaim" => {
            let finalizer = if root == "PersistentVolume" {
                "kubernetes.io/pv-protection"
            } else {
                "kubernetes.io/pvc-protection"
            };
            add_finalizer(object, finalizer);
            object["status"] = if root == "PersistentVolume" {
                let created = object["metadata"]["creationTimestamp"].clone();
                json!({"phase": "Pending", "lastPhaseTransitionTime": created})
            } else {
                json!({"phase": "Pending"})
            };
        }
        "Namespace" => {
            if !object["spec"].is_object() {
                object["spec"] = json!({});
            }
            let finalizers = &mut object["spec"]["finalizers"];
            if !finalizers.is_array() {
                *finalizers = json!([]);
            }
            if let Some(list) = finalizers.as_array_mut()
                && !list.iter().any(|f| f == "kubernetes")
            {
                list.push(json!("kubernetes"));
            }
            object["status"] = json!({"phase": "Active"});
        }
        _ => {}
    }
}

fn add_finalizer(object: &mut Value, finalizer: &str) {
    let meta = &mut object["metadata"];
    if !meta["finalizers"].is_array() {
        meta["finalizers"] = json!([]);
    }
    if let Some(list) = meta["finalizers"].as_array_mut()
        && !list.iter().any(|f| f == finalizer)
    {
        list.push(json!(finalizer));
    }
}

/// On an update, what the create strategy allocated stays when the new object leaves it
/// out (a Service's cluster IPs, a Job's generated selector and labels).
pub fn keep_allocated(kind: &Kind, current: &Value, object: &mut Value) {
    match root_type(kind) {
        Some("Service") => {
            for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                if unset(&object["spec"], field)
                    && let Some(v) = current["spec"].get(field)
                    && object["spec"].is_object()
                {
                    object["spec"][field] = v.clone();
                }
            }
        }
        Some("Job") => {
            for field in ["selector", "manualSelector"] {
                if unset(&object["spec"], field)
                    && let Some(v) = current["spec"].get(field)
                    && object["spec"].is_object()
                {
                    object["spec"][field] = v.clone();
                }
            }
            let current_labels = &current["spec"]["template"]["metadata"]["labels"];
            if let Some(labels) = current_labels.as_object() {
                let target = &mut object["spec"]["template"]["metadata"]["labels"];
                if !target.is_object() {
                    *target = Value::Object(Map::new());
                }
                for key in [
                    "batch.kubernetes.io/controller-uid",
                    "batch.kubernetes.io/job-name",
                    "controller-uid",
                    "job-name",
                ] {
                    if let Some(v) = labels.get(key)
                        && target.get(key).is_none()
                    {
                        target[key] = v.clone();
                    }
                }
            }
        }
        _ => {}
    }
}

/// Whether the kind's strategy tracks `metadata.generation` (others never set it).
pub fn tracks_generation(kind: &Kind) -> bool {
    kind.custom
        || matches!(
            (kind.group.as_str(), kind.kind.as_str()),
            ("apps", "Deployment") | ("batch", "Job" | "CronJob") | ("apiextensions.k8s.io", _)
        )
}

#[cfg(test)]
mod tests;
