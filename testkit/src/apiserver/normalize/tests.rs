//! One test per kind: what the test API server stores for what was sent. Where
//! transcript 15 (`../shared/api-transcripts/15-normalization.jsonl`) has the kind, the
//! expected object is the real server's answer, minus what controllers wrote later
//! (the binder's claimRef uid, the Job controller's status).

use serde_json::{Value, json};

use super::{Allocator, on_create, stored_form};
use crate::apiserver::registry::Registry;

/// When the objects of these tests were created.
const CREATED: &str = "2026-12-05T03:48:49Z";

/// `object` as created through the API: defaults, the create strategy, the stored form.
fn created(group: &str, plural: &str, mut object: Value) -> Value {
    let registry = Registry::default();
    let kind = registry
        .find_resource(group, plural)
        .expect("a built-in kind")
        .clone();
    object["metadata"]["uid"] = json!("00000000-0000-4000-8000-000000000001");
    object["metadata"]["creationTimestamp"] = json!(CREATED);
    stored_form(&kind, &mut object);
    let mut ips = 0;
    on_create(
        &kind,
        &mut object,
        &mut Allocator {
            next_cluster_ip: &mut ips,
        },
    );
    stored_form(&kind, &mut object);
    object["metadata"].as_object_mut().map(|m| m.remove("uid"));
    object
}

#[test]
fn persistent_volume_drops_its_empty_class_and_canonicalises_capacity() {
    let stored = created(
        "",
        "persistentvolumes",
        json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "norm-probe-pv", "labels": {"app": "norm-probe"}},
            "spec": {
                "storageClassName": "", "capacity": {"storage": "1.5Gi"},
                "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
                "volumeMode": "Filesystem", "mountOptions": [],
                "hostPath": {"path": "/var/lib/norm-probe", "type": ""},
                "claimRef": {"namespace": "norm-probe", "name": "norm-probe-pvc", "uid": "", "resourceVersion": "", "apiVersion": "v1", "kind": "PersistentVolumeClaim"}
            }
        }),
    );
    assert_eq!(
        stored,
        json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "norm-probe-pv", "labels": {"app": "norm-probe"}, "finalizers": ["kubernetes.io/pv-protection"], "creationTimestamp": CREATED},
            "spec": {
                "capacity": {"storage": "1536Mi"},
                "hostPath": {"path": "/var/lib/norm-probe", "type": ""},
                "accessModes": ["ReadWriteOnce"],
                "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "norm-probe", "name": "norm-probe-pvc", "apiVersion": "v1"},
                "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"
            },
            "status": {"phase": "Pending", "lastPhaseTransitionTime": CREATED}
        })
    );
}

#[test]
fn persistent_volume_claim_keeps_an_empty_class_it_points_at() {
    let stored = created(
        "",
        "persistentvolumeclaims",
        json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "norm-probe-pvc", "namespace": "norm-probe"},
            "spec": {"storageClassName": "", "volumeName": "norm-probe-pv", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1536Mi"}}}
        }),
    );
    assert_eq!(
        stored["spec"],
        json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1536Mi"}}, "volumeName": "norm-probe-pv", "storageClassName": "", "volumeMode": "Filesystem"})
    );
    assert_eq!(stored["status"], json!({"phase": "Pending"}));
    assert_eq!(
        stored["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );
    // A claim without resources still has the (non-pointer) struct.
    let bare = created(
        "",
        "persistentvolumeclaims",
        json!({"metadata": {"name": "c", "namespace": "n"}, "spec": {"accessModes": ["ReadWriteOnce"]}}),
    );
    assert_eq!(bare["spec"]["resources"], json!({}));
}

#[test]
fn service_gets_its_cluster_ip_families_and_defaults() {
    let stored = created(
        "",
        "services",
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "norm-probe", "namespace": "norm-probe"},
            "spec": {
                "selector": {"app": "norm-probe"},
                "ports": [{"name": "mysql", "port": 3306, "targetPort": 3306, "protocol": "TCP", "nodePort": 0}],
                "publishNotReadyAddresses": false, "sessionAffinity": ""
            }
        }),
    );
    assert_eq!(
        stored["spec"],
        json!({
            "ports": [{"name": "mysql", "protocol": "TCP", "port": 3306, "targetPort": 3306}],
            "selector": {"app": "norm-probe"},
            "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
            "type": "ClusterIP", "sessionAffinity": "None",
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"
        })
    );
    assert_eq!(stored["status"], json!({"loadBalancer": {}}));
    // No targetPort: the port.
    let bare = created(
        "",
        "services",
        json!({"metadata": {"name": "s", "namespace": "n"}, "spec": {"ports": [{"port": 80}]}}),
    );
    assert_eq!(
        bare["spec"]["ports"],
        json!([{"port": 80, "protocol": "TCP", "targetPort": 80}])
    );
}

/// The Deployment of transcript 15, sent and as the server's dry-run create answered.
#[test]
fn deployment_and_its_pod_template_are_defaulted_and_zero_values_dropped() {
    let stored = created(
        "apps",
        "deployments",
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "norm-probe", "namespace": "norm-probe"},
            "spec": {
                "replicas": 1, "paused": false, "minReadySeconds": 0,
                "selector": {"matchLabels": {"app": "norm-probe"}},
                "strategy": {"type": "Recreate"},
                "template": {
                    "metadata": {"labels": {"app": "norm-probe"}},
                    "spec": {
                        "enableServiceLinks": false, "automountServiceAccountToken": false,
                        "hostNetwork": false, "serviceAccountName": "", "terminationGracePeriodSeconds": 60,
                        "securityContext": {"runAsNonRoot": false, "fsGroup": 999, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [{
                            "name": "mysql", "image": "mysql:8.4", "args": [], "stdin": false, "tty": false, "workingDir": "",
                            "env": [{"name": "EMPTY", "value": ""}, {"name": "MYSQL_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "norm-probe", "key": "password", "optional": false}}}],
                            "ports": [{"containerPort": 3306, "name": "mysql", "protocol": "TCP", "hostPort": 0}],
                            "resources": {"requests": {"cpu": "250m", "memory": "0.5Gi"}, "limits": {"cpu": "1", "memory": "1024Mi"}},
                            "securityContext": {"allowPrivilegeEscalation": false, "privileged": false, "readOnlyRootFilesystem": false},
                            "readinessProbe": {"exec": {"command": ["sh", "-c", "true"]}, "periodSeconds": 10, "successThreshold": 1, "initialDelaySeconds": 0},
                            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql", "readOnly": false, "subPath": ""}]
                        }],
                        "volumes": [
                            {"name": "data", "persistentVolumeClaim": {"claimName": "norm-probe-pvc", "readOnly": false}},
                            {"name": "scratch", "emptyDir": {"medium": "", "sizeLimit": "64Mi"}}
                        ]
                    }
                }
            }
        }),
    );
    let answer = json!({
        "replicas": 1,
        "selector": {"matchLabels": {"app": "norm-probe"}},
        "template": {
            "metadata": {"creationTimestamp": null, "labels": {"app": "norm-probe"}},
            "spec": {
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": "norm-probe-pvc"}},
                    {"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}}
                ],
                "containers": [{
                    "name": "mysql", "image": "mysql:8.4",
                    "ports": [{"name": "mysql", "containerPort": 3306, "protocol": "TCP"}],
                    "env": [{"name": "EMPTY"}, {"name": "MYSQL_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "norm-probe", "key": "password", "optional": false}}}],
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "250m", "memory": "512Mi"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"}],
                    "readinessProbe": {"exec": {"command": ["sh", "-c", "true"]}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                    "securityContext": {"privileged": false, "readOnlyRootFilesystem": false, "allowPrivilegeEscalation": false}
                }],
                "restartPolicy": "Always", "terminationGracePeriodSeconds": 60, "dnsPolicy": "ClusterFirst",
                "automountServiceAccountToken": false,
                "securityContext": {"runAsNonRoot": false, "fsGroup": 999, "seccompProfile": {"type": "RuntimeDefault"}},
                "schedulerName": "default-scheduler", "enableServiceLinks": false
            }
        },
        "strategy": {"type": "Recreate"},
        "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600
    });
    assert_eq!(stored["spec"], answer);
    assert_eq!(stored["status"], json!({}));
    // RollingUpdate (the default) gets its surge and unavailability.
    let rolling = created(
        "apps",
        "deployments",
        json!({"metadata": {"name": "d", "namespace": "n"}, "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
    );
    assert_eq!(
        rolling["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    let container = &rolling["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["imagePullPolicy"], "Always",
        "no tag pulls always"
    );
    assert_eq!(container["resources"], json!({}));
    assert_eq!(
        rolling["spec"]["template"]["spec"]["securityContext"],
        json!({})
    );
    assert!(
        rolling["spec"]["template"]["spec"]
            .get("enableServiceLinks")
            .is_none(),
        "a Pod's default, not a template's"
    );
}

#[test]
fn job_gets_a_generated_selector_labels_and_its_defaults() {
    let stored = created(
        "batch",
        "jobs",
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "norm-probe", "namespace": "norm-probe"},
            "spec": {
                "backoffLimit": 2, "activeDeadlineSeconds": 1800, "ttlSecondsAfterFinished": 0, "suspend": false,
                "template": {"spec": {
                    "restartPolicy": "Never", "enableServiceLinks": false,
                    "containers": [{"name": "backup", "image": "mysql:8.4", "command": ["sh", "-c", "true"], "terminationMessagePolicy": "FallbackToLogsOnError",
                        "volumeMounts": [{"name": "backup", "mountPath": "/backup", "readOnly": false}]}],
                    "volumes": [{"name": "backup", "persistentVolumeClaim": {"claimName": "norm-probe-pvc", "readOnly": false}}]
                }}
            }
        }),
    );
    let uid = "00000000-0000-4000-8000-000000000001";
    let generated = json!({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "norm-probe", "controller-uid": uid, "job-name": "norm-probe"});
    assert_eq!(
        stored["metadata"]["labels"], generated,
        "a Job without labels takes its template's"
    );
    assert_eq!(
        stored["spec"],
        json!({
            "parallelism": 1, "completions": 1, "activeDeadlineSeconds": 1800, "backoffLimit": 2,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
            "manualSelector": false,
            "template": {
                "metadata": {"creationTimestamp": null, "labels": generated},
                "spec": {
                    "volumes": [{"name": "backup", "persistentVolumeClaim": {"claimName": "norm-probe-pvc"}}],
                    "containers": [{"name": "backup", "image": "mysql:8.4", "command": ["sh", "-c", "true"], "resources": {},
                        "volumeMounts": [{"name": "backup", "mountPath": "/backup"}],
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "FallbackToLogsOnError",
                        "imagePullPolicy": "IfNotPresent"}],
                    "restartPolicy": "Never", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                    "securityContext": {}, "schedulerName": "default-scheduler", "enableServiceLinks": false
                }
            },
            "ttlSecondsAfterFinished": 0, "completionMode": "NonIndexed", "suspend": false,
            "podReplacementPolicy": "TerminatingOrFailed"
        })
    );
}

#[test]
fn pod_spec_defaults_and_the_pull_policy_of_a_digest() {
    let stored = created(
        "",
        "pods",
        json!({"metadata": {"name": "p", "namespace": "n"}, "spec": {"containers": [
            {"name": "a", "image": "mysql@sha256:0123", "ports": [{"containerPort": 3306}],
             "livenessProbe": {"httpGet": {"port": 8080}}}]}}),
    );
    let spec = &stored["spec"];
    assert_eq!(spec["enableServiceLinks"], true, "a Pod's own default");
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    let container = &spec["containers"][0];
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
    assert_eq!(container["ports"][0]["protocol"], "TCP");
    assert_eq!(
        container["livenessProbe"],
        json!({"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
}

#[test]
fn secret_merges_string_data_and_keeps_an_explicit_immutable_false() {
    let stored = created(
        "",
        "secrets",
        json!({"metadata": {"name": "s", "namespace": "n"}, "immutable": false, "stringData": {"password": "pw"}, "data": {}}),
    );
    assert_eq!(stored["data"], json!({"password": "cHc="}));
    assert_eq!(stored["immutable"], false);
    assert_eq!(stored["type"], "Opaque");
    assert!(stored.get("stringData").is_none());
}

#[test]
fn config_map_drops_empty_data() {
    let stored = created(
        "",
        "configmaps",
        json!({"metadata": {"name": "c", "namespace": "n", "labels": {}}, "immutable": false, "data": {}}),
    );
    assert_eq!(
        stored,
        json!({"metadata": {"name": "c", "namespace": "n", "creationTimestamp": CREATED}, "immutable": false})
    );
}

#[test]
fn namespace_gets_its_name_label_finalizer_and_phase() {
    let stored = created("", "namespaces", json!({"metadata": {"name": "shop"}}));
    assert_eq!(
        stored["metadata"]["labels"],
        json!({"kubernetes.io/metadata.name": "shop"})
    );
    assert_eq!(stored["spec"], json!({"finalizers": ["kubernetes"]}));
    assert_eq!(stored["status"], json!({"phase": "Active"}));
}

#[test]
fn lease_keeps_pointer_zeros() {
    let stored = created(
        "coordination.k8s.io",
        "leases",
        json!({"metadata": {"name": "l", "namespace": "n"}, "spec": {"holderIdentity": "", "leaseTransitions": 0}}),
    );
    assert_eq!(
        stored["spec"],
        json!({"holderIdentity": "", "leaseTransitions": 0})
    );
    let bare = created(
        "coordination.k8s.io",
        "leases",
        json!({"metadata": {"name": "l", "namespace": "n"}}),
    );
    assert_eq!(bare["spec"], json!({}));
}

#[test]
fn rbac_subjects_get_their_api_group_and_empty_lists_go() {
    let binding = created(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "n"}, {"kind": "User", "name": "u"}]}),
    );
    assert_eq!(
        binding["subjects"][0]["apiGroup"],
        json!(null),
        "\"\" dropped"
    );
    assert_eq!(
        binding["subjects"][1]["apiGroup"],
        "rbac.authorization.k8s.io"
    );
    let role = created(
        "rbac.authorization.k8s.io",
        "roles",
        json!({"metadata": {"name": "r", "namespace": "n"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": []}]}),
    );
    assert_eq!(
        role["rules"],
        json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}])
    );
}

#[test]
fn service_account_and_unknown_fields_are_left_as_sent() {
    let stored = created(
        "",
        "serviceaccounts",
        json!({"metadata": {"name": "sa", "namespace": "n"}, "automountServiceAccountToken": false, "imagePullSecrets": []}),
    );
    assert_eq!(stored["automountServiceAccountToken"], false);
    assert!(stored.get("imagePullSecrets").is_none());
}

#[test]
fn pull_policies_follow_the_tag() {
    use super::pull_policy;
    for (image, policy) in [
        ("mysql", "Always"),
        ("mysql:latest", "Always"),
        ("mysql:8.4", "IfNotPresent"),
        ("mysql@sha256:00", "IfNotPresent"),
        ("mysql:latest@sha256:00", "Always"),
        ("registry:5000/team/mysql", "Always"),
        ("registry:5000/team/mysql:9.1", "IfNotPresent"),
        ("", "IfNotPresent"),
    ] {
        assert_eq!(pull_policy(image), policy, "{image:?}");
    }
}

/// A pod template as a CronJob's Job template carries it.
fn job_template(pod: Value) -> Value {
    json!({"spec": {"template": {"spec": pod}}})
}

#[test]
fn cron_job_gets_its_policies_history_limits_and_pod_template_defaults() {
    let stored = created(
        "batch",
        "cronjobs",
        json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": "n"},
            "spec": {
                "schedule": "0 3 * * *",
                "jobTemplate": job_template(json!({"restartPolicy": "Never",
                    "containers": [{"name": "backup", "image": "mysql:8.4", "command": ["sh", "-c", "true"]}]}))
            }
        }),
    );
    assert_eq!(
        stored["spec"],
        json!({
            "schedule": "0 3 * * *", "concurrencyPolicy": "Allow", "suspend": false,
            "jobTemplate": {
                "metadata": {"creationTimestamp": null},
                "spec": {"template": {
                    "metadata": {"creationTimestamp": null},
                    "spec": {
                        "containers": [{"name": "backup", "image": "mysql:8.4", "command": ["sh", "-c", "true"], "resources": {},
                            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                            "imagePullPolicy": "IfNotPresent"}],
                        "restartPolicy": "Never", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                        "securityContext": {}, "schedulerName": "default-scheduler"
                    }
                }}
            },
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1
        }),
        "no Job defaults (completions, backoffLimit, ...) inside the template"
    );
    assert_eq!(stored["status"], json!({}));
}

#[test]
fn cron_job_drops_zero_values_and_keeps_pointer_zeros() {
    let stored = created(
        "batch",
        "cronjobs",
        json!({
            "metadata": {"name": "z", "namespace": "n"},
            "spec": {
                "schedule": "*/5 * * * *", "timeZone": null, "startingDeadlineSeconds": 0,
                "concurrencyPolicy": "", "suspend": true,
                "jobTemplate": {
                    "metadata": {"labels": {}, "annotations": {"a": "b"}},
                    "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "OnFailure", "hostNetwork": false,
                        "containers": [{"name": "c", "image": "x:1", "args": [], "workingDir": ""}]}}}
                },
                "successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 0
            },
            "status": {"active": []}
        }),
    );
    let spec = &stored["spec"];
    assert!(spec.get("timeZone").is_none(), "null is gone");
    assert_eq!(spec["startingDeadlineSeconds"], 0, "a pointer keeps 0");
    assert_eq!(
        spec["concurrencyPolicy"], "Allow",
        "\"\" is unset: defaulted"
    );
    assert_eq!(spec["suspend"], true);
    assert_eq!(
        spec["jobTemplate"]["metadata"],
        json!({"creationTimestamp": null, "annotations": {"a": "b"}})
    );
    assert_eq!(
        spec["jobTemplate"]["spec"]["backoffLimit"], 0,
        "a pointer keeps 0"
    );
    let pod = &spec["jobTemplate"]["spec"]["template"]["spec"];
    assert!(pod.get("hostNetwork").is_none());
    let container = &pod["containers"][0];
    assert!(container.get("args").is_none() && container.get("workingDir").is_none());
    assert_eq!(spec["successfulJobsHistoryLimit"], 0);
    assert_eq!(spec["failedJobsHistoryLimit"], 0);
    assert_eq!(stored["status"], json!({}), "create ignores status");
}

#[test]
fn cron_jobs_are_discovered_with_their_short_name_and_status() {
    let registry = Registry::default();
    let list = crate::apiserver::views::resource_list(&registry, "batch", "v1");
    let resources = list["resources"].as_array().expect("resources");
    let names: Vec<&str> = resources
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
        "kube-apiserver's order"
    );
    assert_eq!(resources[0]["shortNames"], json!(["cj"]));
    assert_eq!(resources[0]["singularName"], "cronjob");
    assert_eq!(resources[0]["namespaced"], true);
}

/// A CronJob created through the store (defaults, validation), or the 422.
fn create_cron_job(object: Value) -> Result<Value, crate::apiserver::status::ApiError> {
    let mut store = crate::apiserver::store::Store::default();
    let kind = store
        .registry
        .find("batch", "v1", "cronjobs")
        .cloned()
        .expect("cronjobs are served");
    store.create(&kind, "default", object, &Default::default())
}

fn cron_job(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name}, "spec": spec})
}

fn runnable_template() -> Value {
    job_template(
        json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "x:1", "command": ["true"]}]}),
    )
}

/// The 422's message, and its causes as (reason, field).
fn refusal(
    result: Result<Value, crate::apiserver::status::ApiError>,
) -> (String, Vec<(String, String)>) {
    let error = result.expect_err("refused");
    assert_eq!(error.code, 422, "{}", error.body);
    assert_eq!(error.body["reason"], "Invalid");
    let causes = (error.body["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten())
    .map(|c| {
        let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
        (text("reason"), text("field"))
    })
    .collect();
    (
        error.body["message"].as_str().unwrap_or_default().into(),
        causes,
    )
}

#[test]
fn a_cron_job_name_leaves_room_for_its_jobs_minutes() {
    let spec = json!({"schedule": "@daily", "jobTemplate": runnable_template()});
    let longest = "a".repeat(52);
    create_cron_job(cron_job(&longest, spec.clone())).expect("52 characters fit");
    let name = "a".repeat(53);
    let (message, causes) = refusal(create_cron_job(cron_job(&name, spec)));
    assert_eq!(
        message,
        format!(
            "CronJob.batch \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": must be no more than 52 characters"
        )
    );
    assert_eq!(
        causes,
        [("FieldValueInvalid".into(), "metadata.name".into())]
    );
}

#[test]
fn a_cron_job_needs_a_schedule_a_zone_and_a_template_kubernetes_can_run() {
    let template = runnable_template();
    let (message, _) = refusal(create_cron_job(cron_job(
        "c",
        json!({"schedule": "off", "jobTemplate": template}),
    )));
    assert_eq!(
        message,
        "CronJob.batch \"c\" is invalid: spec.schedule: Invalid value: \"off\": expected exactly 5 fields, found 1: [off]",
        "robfig/cron's words"
    );
    let (message, _) = refusal(create_cron_job(cron_job(
        "c",
        json!({"schedule": "61 * * * *", "jobTemplate": template}),
    )));
    assert!(
        message.starts_with(
            "CronJob.batch \"c\" is invalid: spec.schedule: Invalid value: \"61 * * * *\": "
        ),
        "{message}"
    );
    let (message, _) = refusal(create_cron_job(cron_job(
        "c",
        json!({"schedule": "0 3 * * *", "timeZone": "Mars/Olympus", "jobTemplate": template}),
    )));
    assert_eq!(
        message,
        "CronJob.batch \"c\" is invalid: spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus"
    );
    let (_, causes) = refusal(create_cron_job(cron_job(
        "c",
        json!({"jobTemplate": template, "concurrencyPolicy": "Sometimes", "startingDeadlineSeconds": -1}),
    )));
    assert_eq!(
        causes,
        [
            ("FieldValueRequired".into(), "spec.schedule".into()),
            (
                "FieldValueInvalid".into(),
                "spec.startingDeadlineSeconds".into()
            ),
            (
                "FieldValueNotSupported".into(),
                "spec.concurrencyPolicy".into()
            ),
        ]
    );
    // The pod template's default restartPolicy (Always) is not one a Job can have.
    let always = job_template(json!({"containers": [{"name": "c", "image": "x:1"}]}));
    let (message, _) = refusal(create_cron_job(cron_job(
        "c",
        json!({"schedule": "0 3 * * *", "jobTemplate": always}),
    )));
    assert_eq!(
        message,
        "CronJob.batch \"c\" is invalid: spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
    );
    create_cron_job(cron_job(
        "c",
        json!({"schedule": "30 2 * * MON-FRI", "timeZone": "Europe/Moscow", "jobTemplate": template}),
    ))
    .expect("a weekday schedule in a named zone");
}

#[test]
fn a_cron_job_update_is_validated_too() {
    let mut store = crate::apiserver::store::Store::default();
    let kind = store
        .registry
        .find("batch", "v1", "cronjobs")
        .cloned()
        .expect("cronjobs are served");
    let object = cron_job(
        "c",
        json!({"schedule": "@hourly", "jobTemplate": runnable_template()}),
    );
    let mut stored = store
        .create(&kind, "default", object, &Default::default())
        .expect("created");
    assert_eq!(stored["metadata"]["generation"], 1);
    stored["spec"]["schedule"] = json!("0 25 * * *");
    let part = crate::apiserver::store::Part::Main;
    let result = store.update(
        &kind,
        "default",
        "c",
        stored.clone(),
        part,
        &Default::default(),
    );
    let (_, causes) = refusal(result);
    assert_eq!(
        causes,
        [("FieldValueInvalid".into(), "spec.schedule".into())]
    );
    stored["spec"]["schedule"] = json!("0 4 * * *");
    let updated = store
        .update(&kind, "default", "c", stored, part, &Default::default())
        .expect("a valid schedule");
    assert_eq!(updated["metadata"]["generation"], 2, "a spec change");
}
