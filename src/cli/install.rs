//! `kubectl mysql install`: print what installs the operator, for `kubectl apply -f -`.

use std::path::PathBuf;

use clap::Args;

use super::output::{ObjectFormat, render};
use super::{Failure, GlobalArgs};
use crate::install::{self, Options};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # Install the CRD, RBAC and the operator into kubectl-mysql-system
  kubectl mysql install | kubectl apply -f -

  # Another namespace and an image from your registry
  kubectl mysql install -n mysql-operator --image registry.example.com/kubectl-mysql:0.1.0 | kubectl apply -f -

  # Watch two namespaces only: Roles there, and cluster-wide only volumes and a read of the CRD
  kubectl mysql install --watch-namespace shop --watch-namespace blog | kubectl apply -f -

  # The same manifests, with kustomize
  kubectl apply -k deploy/")]
pub struct InstallArgs {
    /// The operator's image
    #[arg(long, value_name = "IMAGE", default_value = install::DEFAULT_IMAGE)]
    image: String,

    /// Watch only this namespace (repeatable; it must exist): Roles grant the operator what it
    /// does there, and a ClusterRole only volumes and a read of the CRD. Default: every namespace
    #[arg(long, value_name = "NAMESPACE")]
    watch_namespace: Vec<String>,

    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    output: ObjectFormat,

    /// Write the default manifests into DIR as deploy/ holds them (for maintainers)
    #[arg(long, value_name = "DIR", hide = true)]
    write_deploy: Option<PathBuf>,
}

/// The operator's namespace (`-n`) as the API server accepts it (RFC 1123 label).
fn check_namespace(name: &str) -> Result<(), Failure> {
    check_namespace_name(name, "pick another name with -n, e.g. -n mysql-operator")
}

/// A namespace to watch (`--watch-namespace`), checked like `-n`.
fn check_watch_namespace(name: &str) -> Result<(), Failure> {
    check_namespace_name(
        name,
        "give the name of an existing namespace, e.g. --watch-namespace shop",
    )
}

/// A namespace name as the API server accepts it (RFC 1123 label); `hint` says how to fix it.
pub(super) fn check_namespace_name(name: &str, hint: &str) -> Result<(), Failure> {
    let label = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if label {
        Ok(())
    } else {
        Err(Failure::new(
            format!(
                "invalid namespace {name:?}: a namespace is at most 63 lower case letters, digits and '-', starting and ending with a letter or digit"
            ),
            hint,
        ))
    }
}

pub fn run(global: &GlobalArgs, args: InstallArgs) -> anyhow::Result<()> {
    // Unlike other commands, no -n means the operator's own namespace, not the context's.
    let namespace = global
        .namespace
        .clone()
        .unwrap_or_else(|| install::DEFAULT_NAMESPACE.into());
    check_namespace(&namespace)?;
    for watched in &args.watch_namespace {
        check_watch_namespace(watched)?;
    }
    if args.image.trim().is_empty() || args.image.contains(char::is_whitespace) {
        return Err(Failure::new(
            format!("invalid image {:?}", args.image),
            "give an image reference such as registry.example.com/kubectl-mysql:0.1.0",
        )
        .into());
    }
    let options = Options {
        namespace,
        image: args.image,
        watch_namespaces: args.watch_namespace,
    };
    if let Some(dir) = args.write_deploy {
        for file in install::files(&options) {
            let path = dir.join(file.name);
            std::fs::write(&path, crate::manifest::to_yaml_stream(&file.objects)).map_err(|e| {
                Failure::new(
                    format!("cannot write {}: {e}", path.display()),
                    "check that the directory exists and is writable",
                )
            })?;
        }
        return Ok(());
    }
    print!("{}", render(&install::manifests(&options), args.output));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_namespace, check_watch_namespace};

    #[test]
    fn namespaces_are_rfc1123_labels() {
        assert!(check_namespace("kubectl-mysql-system").is_ok());
        assert!(check_namespace("0ps").is_ok());
        for bad in ["", "Ops", "ops-", "-ops", "o_ps", &"a".repeat(64)] {
            assert!(check_namespace(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_watched_namespace_is_one_line_with_a_hint_naming_the_flag() {
        assert!(check_watch_namespace("shop").is_ok());
        let error = check_watch_namespace("Shop_1").expect_err("not a label");
        let text = error.message.clone();
        assert!(text.starts_with("invalid namespace \"Shop_1\""), "{text}");
        assert!(!text.contains('\n'), "{text}");
        assert!(error.hint.contains("--watch-namespace"), "{}", error.hint);
    }
}
