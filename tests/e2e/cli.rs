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

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Start `command` with `stdin` as its whole input (then closed) and wait for it to end,
/// its stdout and stderr collected.
pub fn output_with_stdin(command: &mut Command, stdin: &str) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} does not start: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{program} does not end: {e}"))
}

/// Run the binary with `args` in the repo root, a kubeconfig that does not exist (so no
/// cluster can be reached) and `stdin` as its input.
pub fn kubectl_mysql(args: &[&str], stdin: &str) -> Run {
    let missing = repo().join("target/no-such-kubeconfig");
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-mysql"));
    command
        .args(args)
        .current_dir(repo())
        .env("KUBECONFIG", &missing)
        .env_remove("HOME");
    output_with_stdin(&mut command, stdin).into()
}

/// A file under a fresh temp dir.
pub fn temp_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("temp file written");
    path
}
