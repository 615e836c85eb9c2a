//! The registry the stand-in's kubelet pulls from, and what the MySQL version of an image
//! means for a data directory.
//!
//! - A tag names a MySQL version; a test may move it ([`crate::NodeStandIn::retag`]), as
//!   `mysql:latest` moved from 9.6 to 9.7, or as a node's cached `latest` lags behind.
//! - A version has one digest. A pod's `imageID` is what its tag resolved to when it
//!   started (`docker.io/library/mysql@sha256:…`, as containerd reports it), and a digest
//!   reference always resolves to its own version.
//! - A data directory remembers the newest version that ran on it (MySQL keeps it in the
//!   data dictionary; here a file beside it). An older release series refuses to boot on
//!   it, with mysqld's message; a newer one upgrades it silently.
//!
//! The servers themselves are MariaDB; only the version they report is the image's.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;

/// The file in a data directory that stands in for the version in its data dictionary.
const VERSION_FILE: &str = "stand-in-mysql-version";

/// The tags of the official image and the versions they point to (December 2026).
const TAGS: [(&str, &str); 9] = [
    ("mysql:latest", "9.7.0"),
    ("mysql:9", "9.7.0"),
    ("mysql:9.7", "9.7.0"),
    ("mysql:9.6", "9.6.0"),
    ("mysql:lts", "8.4.8"),
    ("mysql:8", "8.4.8"),
    ("mysql:8.4", "8.4.8"),
    ("mysql:8.0", "8.0.44"),
    ("mysql:5.7", "5.7.44"),
];

/// Tags and the versions they resolve to now.
pub(super) struct Registry {
    tags: HashMap<String, String>,
    /// Every digest handed out, with its version.
    digests: HashMap<String, Option<String>>,
}

impl Default for Registry {
    fn default() -> Self {
        let tags = TAGS
            .iter()
            .map(|(tag, version)| (normalize(tag), version.to_string()))
            .collect();
        Self {
            tags,
            digests: HashMap::new(),
        }
    }
}

/// An image as the kubelet resolved it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Pulled {
    /// `docker.io/library/mysql:8.4`: the reference as the runtime reports it.
    pub image: String,
    /// `docker.io/library/mysql@sha256:…`.
    pub image_id: String,
    /// The MySQL version, when the image is one the stand-in knows.
    pub version: Option<String>,
}

impl Registry {
    /// Point `image` (a tag) at `version` from now on.
    pub fn retag(&mut self, image: &str, version: &str) {
        self.tags.insert(normalize(image), version.to_string());
    }

    /// What a pull of `image` gets now.
    pub fn pull(&mut self, image: &str) -> Pulled {
        let image = normalize(image);
        if image.contains('@') {
            // A digest is what it is: the version it was made from.
            let version = self.digests.get(&image).cloned().flatten();
            return Pulled {
                image_id: image.clone(),
                image,
                version,
            };
        }
        let (repository, tag) = split_tag(&image);
        let version =
            (self.tags.get(&image).cloned()).or_else(|| numeric_version(tag).map(str::to_string));
        let id_source = version.clone().unwrap_or_else(|| image.clone());
        let image_id = format!("{repository}@{}", digest_of(repository, &id_source));
        self.digests.insert(image_id.clone(), version.clone());
        Pulled {
            image_id,
            image,
            version,
        }
    }
}

/// `mysql:8.4` as a runtime names it: `docker.io/library/mysql:8.4`; no tag is `latest`.
fn normalize(image: &str) -> String {
    let (name, suffix) = match image.find('@') {
        Some(at) => (&image[..at], &image[at..]),
        None => {
            let (name, tag) = split_tag(image);
            (
                name,
                if tag.is_empty() {
                    ""
                } else {
                    &image[name.len()..]
                },
            )
        }
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let name = match (has_registry, name.contains('/')) {
        (true, _) => name.to_string(),
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    };
    let suffix = if suffix.is_empty() { ":latest" } else { suffix };
    format!("{name}{suffix}")
}

/// (repository, tag): the tag is what follows the last `:` after the last `/`.
fn split_tag(image: &str) -> (&str, &str) {
    let slash = image.rfind('/').map_or(0, |s| s + 1);
    match image[slash..].rfind(':') {
        Some(colon) => (&image[..slash + colon], &image[slash + colon + 1..]),
        None => (image, ""),
    }
}

/// `8.4.3` of a tag like `8.4.3` or `8.4.3-oracle`.
fn numeric_version(tag: &str) -> Option<&str> {
    let version = tag.split('-').next()?;
    (!version.is_empty() && version.split('.').all(|p| p.parse::<u32>().is_ok())).then_some(version)
}

/// A made-up but stable digest: `sha256:` and 64 hex digits.
fn digest_of(repository: &str, version: &str) -> String {
    let hex: String = (0u8..4)
        .map(|round| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (round, repository, version).hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        })
        .collect();
    format!("sha256:{hex}")
}

/// (major, minor) of a version: MySQL refuses to go back to an older release series.
fn series(version: &str) -> (u32, u32) {
    let mut parts = version.split(['.', '-']).map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// `90700` for 9.7.0, as mysqld writes versions in its log.
fn version_id(version: &str) -> u32 {
    let mut parts = version
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    a * 10_000 + b * 100 + c
}

/// What mysqld `version` does on `datadir` as it boots: on a data directory made by a
/// newer release series it refuses (mysqld's error); otherwise the directory now
/// belongs to this version (a newer one upgrades it). A directory without system tables
/// is a new one.
pub(super) fn boot(datadir: &Path, version: &str) -> Result<(), String> {
    let file = datadir.join(VERSION_FILE);
    if datadir.join("mysql").is_dir()
        && let Ok(built) = std::fs::read_to_string(&file)
    {
        let built = built.trim();
        if series(built) > series(version) {
            return Err(format!(
                "[ERROR] [MY-013171] [InnoDB] Cannot boot server version {} on data directory built by version {}. Downgrade is not supported",
                version_id(version),
                version_id(built)
            ));
        }
        if series(built) == series(version) && version_id(built) >= version_id(version) {
            return Ok(());
        }
    }
    std::fs::create_dir_all(datadir)
        .and_then(|()| std::fs::write(&file, version))
        .map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// The version that last booted on `datadir`, if any.
pub(super) fn built_by(datadir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(datadir.join(VERSION_FILE)).ok()?;
    Some(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_resolve_to_versions_and_digests_to_themselves() {
        let mut registry = Registry::default();
        let latest = registry.pull("mysql:latest");
        assert_eq!(latest.image, "docker.io/library/mysql:latest");
        assert_eq!(latest.version.as_deref(), Some("9.7.0"));
        assert!(
            latest
                .image_id
                .starts_with("docker.io/library/mysql@sha256:")
                && latest.image_id.len() == "docker.io/library/mysql@sha256:".len() + 64,
            "{}",
            latest.image_id
        );
        assert_eq!(registry.pull("mysql").image_id, latest.image_id);
        assert_eq!(
            registry.pull("docker.io/library/mysql:9.7").image_id,
            latest.image_id
        );
        assert_ne!(registry.pull("mysql:8.4").image_id, latest.image_id);

        // `latest` moves; what a pod resolved before does not.
        registry.retag("mysql:latest", "9.6.0");
        assert_eq!(
            registry.pull("mysql:latest").version.as_deref(),
            Some("9.6.0")
        );
        let pinned = registry.pull(&latest.image_id);
        assert_eq!(pinned.version.as_deref(), Some("9.7.0"));
        assert_eq!(pinned.image_id, latest.image_id);

        assert_eq!(
            registry.pull("mysql:8.4.3-oracle").version.as_deref(),
            Some("8.4.3")
        );
        assert_eq!(
            registry.pull("registry.local:5000/team/mysql:9.7").image,
            "registry.local:5000/team/mysql:9.7"
        );
        let unknown = registry.pull("example/tool:edge");
        assert_eq!(unknown.version, None);
        assert_eq!(registry.pull(&unknown.image_id).image_id, unknown.image_id);
        let never_pulled = "docker.io/library/mysql@sha256:0000";
        assert_eq!(registry.pull(never_pulled).version, None);
    }

    #[test]
    fn an_older_release_series_refuses_a_newer_data_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let datadir = dir.path();
        boot(datadir, "9.7.0").expect("a new directory takes any version");
        std::fs::create_dir(datadir.join("mysql")).expect("system tables");
        let refused = boot(datadir, "9.6.0").expect_err("a downgrade");
        assert_eq!(
            refused,
            "[ERROR] [MY-013171] [InnoDB] Cannot boot server version 90600 on data directory built by version 90700. Downgrade is not supported"
        );
        boot(datadir, "9.7.0").expect("the same version");
        assert_eq!(built_by(datadir).as_deref(), Some("9.7.0"));
        boot(datadir, "10.0.1").expect("an upgrade");
        assert_eq!(built_by(datadir).as_deref(), Some("10.0.1"));
        // A patch release of the same series may go back, as within an LTS series.
        std::fs::write(datadir.join(VERSION_FILE), "8.4.8").expect("write");
        boot(datadir, "8.4.3").expect("same series");
        assert_eq!(built_by(datadir).as_deref(), Some("8.4.8"));
    }
}
