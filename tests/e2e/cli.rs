//! Running `kubectl-mysql` as a process, with no cluster anywhere.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root, where `deploy/` lives.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What one run printed.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Run the binary with `args` in the repo root, a kubeconfig that does not exist (so no
/// cluster can be reached) and `stdin` as its input.
pub fn kubectl_mysql(args: &[&str], stdin: &str) -> Run {
    let missing = repo().join("target/no-such-kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-mysql"))
        .args(args)
        .current_dir(repo())
        .env("KUBECONFIG", &missing)
        .env_remove("HOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("the binary ends");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A file under a fresh temp dir.
pub fn temp_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("temp file written");
    path
}
