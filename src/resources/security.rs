//! How the server and Job pods run: by default as the images expect (the entrypoint starts
//! as root, chowns the data directory and drops to the mysql user), or, with
//! `spec.pod_security: restricted`, as that user from the start, meeting the Pod Security
//! "restricted" profile.

use k8s_openapi::api::core::v1::{
    Capabilities, PodSecurityContext, SeccompProfile, SecurityContext,
};

use crate::crd::PodSecurity;
use crate::validate::Instance;

/// uid and gid of the `mysql` user in the official mysql (and mariadb) images.
pub const MYSQL_USER_ID: i64 = 999;

fn restricted(instance: &Instance) -> bool {
    instance.pod_security == Some(PodSecurity::Restricted)
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..SeccompProfile::default()
    }
}

/// The data volume's group and RuntimeDefault seccomp, which the server pod always has.
pub fn server_pod(instance: &Instance) -> PodSecurityContext {
    let base = PodSecurityContext {
        fs_group: Some(MYSQL_USER_ID),
        fs_group_change_policy: Some("OnRootMismatch".into()),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    };
    if restricted(instance) {
        as_mysql_user(base)
    } else {
        base
    }
}

/// A Job pod: nothing by default (the delete-backup's temporary server runs as the data
/// directory's owner); restricted, the same as the server's.
pub fn job_pod(instance: &Instance) -> Option<PodSecurityContext> {
    restricted(instance).then(|| server_pod(instance))
}

fn as_mysql_user(base: PodSecurityContext) -> PodSecurityContext {
    PodSecurityContext {
        run_as_user: Some(MYSQL_USER_ID),
        run_as_group: Some(MYSQL_USER_ID),
        run_as_non_root: Some(true),
        ..base
    }
}

/// Every container: no privilege escalation; restricted, no capabilities either.
pub fn container(instance: &Instance) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: restricted(instance).then(|| Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..SecurityContext::default()
    }
}
