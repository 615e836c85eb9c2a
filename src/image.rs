//! Image references and MySQL release series: which exact image a server runs, and
//! whether a change of `spec.image` goes back to an older series (which MySQL refuses:
//! "Downgrade is not supported", after 8.0 also between minor series such as 8.4 → 8.0).

use k8s_openapi::api::core::v1::Pod;

/// A MySQL release series: (major, minor). A tag that names only a major (`mysql:9`) has
/// no minor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Series {
    pub major: u32,
    pub minor: Option<u32>,
}

impl std::fmt::Display for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.minor {
            Some(minor) => write!(f, "{}.{minor}", self.major),
            None => write!(f, "{}", self.major),
        }
    }
}

impl Series {
    /// Whether going from `self` to `to` is a downgrade: an older major, or an older
    /// minor of the same major where both name one.
    pub fn is_downgrade_to(self, to: Series) -> bool {
        match (self.minor, to.minor) {
            _ if to.major != self.major => to.major < self.major,
            (Some(from), Some(to)) => to < from,
            _ => false,
        }
    }
}

/// The series a tag names: `mysql:8.4`, `mysql:8.4.3-oracle`, `registry:5000/mysql:9`.
/// `None` for `latest`, a digest, no tag, or anything else without a version.
pub fn tag_series(image: &str) -> Option<Series> {
    if image.contains('@') {
        return None;
    }
    let name_start = image.rfind('/').map_or(0, |s| s + 1);
    let (_, tag) = image[name_start..].rsplit_once(':')?;
    let version = tag.split('-').next()?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = match parts.next() {
        Some(minor) => Some(minor.parse().ok()?),
        None => None,
    };
    if parts.any(|p| p.parse::<u32>().is_err()) {
        return None;
    }
    Some(Series { major, minor })
}

/// The series of a server's version string (`9.7.0`, `8.4.8-cluster`, `10.11.6-MariaDB`).
pub fn version_series(version: &str) -> Option<Series> {
    let mut parts = version.split(['.', '-']);
    let major = parts.next()?.trim().parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some(Series {
        major,
        minor: Some(minor),
    })
}

/// The image a container runs, pinned: its `imageID` as a pullable digest reference.
/// Runtimes report `docker.io/library/mysql@sha256:…` (containerd, CRI-O) or
/// `docker-pullable://mysql@sha256:…` (cri-dockerd); an image loaded into the node
/// (`sha256:…` alone, kind's `load`) has no registry digest and gives `None`.
pub fn digest_reference(image_id: &str) -> Option<String> {
    let reference = image_id
        .strip_prefix("docker-pullable://")
        .unwrap_or(image_id);
    let (name, digest) = reference.split_once('@')?;
    let hex = digest.strip_prefix("sha256:")?;
    (!name.is_empty() && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| reference.to_string())
}

/// The pinned image of `container` in the first of `pods` where it is running and ready.
pub fn running_image(pods: &[Pod], container: &str) -> Option<String> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.status.as_ref()?.container_statuses.as_ref())
        .flatten()
        .filter(|c| c.name == container && c.ready)
        .find_map(|c| digest_reference(&c.image_id))
}

/// The CEL transition rule on `spec.image` that refuses a change to an older MySQL release
/// series where both tags name one (the operator checks the rest against the running
/// server). Kubernetes' CEL string library (`find`, `split`) reads the tags.
pub fn downgrade_rule() -> String {
    // The version in a tag: after the last ':' with no '/' after it, up to a '-' suffix.
    const TAG: &str = r"':[0-9]+([.][0-9]+)*(-[-._a-zA-Z0-9]*)?$'";
    let parts = |side: &str| format!("{side}.find({TAG}).substring(1).split('-')[0].split('.')");
    let (old, new) = (parts("oldSelf"), parts("self"));
    let readable = |side: &str| format!("(!{side}.contains('@') && {side}.matches({TAG}))");
    format!(
        "!({old_readable} && {new_readable}) \
         || int({new}[0]) > int({old}[0]) \
         || (int({new}[0]) == int({old}[0]) && (size({new}) < 2 || size({old}) < 2 || int({new}[1]) >= int({old}[1])))",
        old_readable = readable("oldSelf"),
        new_readable = readable("self"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn series(major: u32, minor: Option<u32>) -> Option<Series> {
        Some(Series { major, minor })
    }

    #[test]
    fn tags_name_a_series_or_nothing() {
        assert_eq!(tag_series("mysql:8.4"), series(8, Some(4)));
        assert_eq!(tag_series("mysql:8.4.3-oracle"), series(8, Some(4)));
        assert_eq!(
            tag_series("registry.local:5000/db/mysql:9"),
            series(9, None)
        );
        for none in [
            "mysql",
            "mysql:latest",
            "mysql:lts",
            "registry.local:5000/mysql",
            "mysql@sha256:0123",
            "mysql:8.x",
        ] {
            assert_eq!(tag_series(none), None, "{none}");
        }
        assert_eq!(version_series("9.7.0"), series(9, Some(7)));
        assert_eq!(
            version_series("10.11.6-MariaDB-0+deb12u1"),
            series(10, Some(11))
        );
        assert_eq!(version_series("nonsense"), None);
    }

    #[test]
    fn a_downgrade_is_an_older_major_or_an_older_minor_of_the_same_major() {
        let s = |text: &str| version_series(text).expect("version");
        assert!(s("9.7.0").is_downgrade_to(s("8.4.0")));
        assert!(s("8.4.0").is_downgrade_to(s("8.0.0")));
        assert!(s("9.7.0").is_downgrade_to(s("9.6.0")));
        assert!(!s("8.4.0").is_downgrade_to(s("9.7.0")));
        assert!(
            !s("8.4.8").is_downgrade_to(s("8.4.3")),
            "patch releases of one series"
        );
        let nine = Series {
            major: 9,
            minor: None,
        };
        assert!(!s("9.7.0").is_downgrade_to(nine), "mysql:9 may be 9.7");
        assert!(s("10.0.0").is_downgrade_to(nine));
    }

    #[test]
    fn the_running_image_is_the_ready_containers_digest() {
        let hex = "a".repeat(64);
        let pod = |id: &str, ready: bool| -> Pod {
            serde_json::from_value(json!({"status": {"containerStatuses": [
                {"name": "mysql", "image": "mysql:8.4", "imageID": id, "ready": ready, "restartCount": 0},
            ]}}))
            .expect("pod")
        };
        let containerd = format!("docker.io/library/mysql@sha256:{hex}");
        assert_eq!(
            running_image(&[pod(&containerd, true)], "mysql"),
            Some(containerd.clone())
        );
        assert_eq!(
            running_image(
                &[pod(&format!("docker-pullable://mysql@sha256:{hex}"), true)],
                "mysql"
            ),
            Some(format!("mysql@sha256:{hex}"))
        );
        assert_eq!(running_image(&[pod(&containerd, false)], "mysql"), None);
        assert_eq!(running_image(&[pod(&containerd, true)], "other"), None);
        assert_eq!(
            running_image(&[pod(&format!("sha256:{hex}"), true)], "mysql"),
            None
        );
        assert_eq!(running_image(&[pod("", true)], "mysql"), None);
    }
}
