//! The operator as a process, as a pod runs it: its JSON log, its endpoint, SIGTERM and
//! SIGKILL.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::Cluster;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-mysql");

/// The operator as the binary run as a process, logging JSON to a file; killed (SIGKILL)
/// when dropped.
pub(crate) struct OperatorProcess {
    child: Child,
    log: PathBuf,
}

impl OperatorProcess {
    /// `run-operator -n NS` over the cluster's namespace, serving /readyz on a free port.
    /// `name` names its log file.
    pub(crate) fn start(cluster: &Cluster, dir: &Path, name: &str) -> Self {
        let args = ["-n", &cluster.namespace, "run-operator"];
        Self::spawn(
            &cluster.kubeconfig,
            &args,
            &[],
            &dir.join(format!("{name}.log")),
        )
    }

    /// One replica as the in-cluster Deployment runs it (`--leader-elect`, its pod's name
    /// and namespace in the environment), with `more` arguments (the Deployment's
    /// `--watch-namespace`s).
    pub(crate) fn replica(kubeconfig: &Path, pod: &str, dir: &Path, more: &[String]) -> Self {
        let mut args = vec!["run-operator", "--leader-elect"];
        args.extend(more.iter().map(String::as_str));
        let env = [
            ("POD_NAME", pod),
            ("POD_NAMESPACE", kubectl_mysql::install::DEFAULT_NAMESPACE),
        ];
        Self::spawn(kubeconfig, &args, &env, &dir.join(format!("{pod}.log")))
    }

    /// `kubectl-mysql ARGS --log-format json --metrics-addr 127.0.0.1:0` with `env`.
    fn spawn(kubeconfig: &Path, args: &[&str], env: &[(&str, &str)], log: &Path) -> Self {
        let child = Command::new(BIN)
            .args(args)
            .args(["--log-format", "json", "--metrics-addr", "127.0.0.1:0"])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("run-operator starts");
        Self {
            child,
            log: log.to_path_buf(),
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log lines whose message contains `what`.
    pub(crate) fn lines(&self, what: &str) -> Vec<Value> {
        self.log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| {
                e["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(what))
            })
            .collect()
    }

    /// The first log line whose message contains `what`, within `limit`.
    pub(crate) async fn logged(&self, what: &str, limit: Duration) -> Value {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(line) = self.lines(what).into_iter().next() {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no {what:?} in the operator's log:\n{}", self.log());
    }

    /// The address of its /healthz, /readyz and /metrics.
    pub(crate) async fn endpoint(&self) -> String {
        let serving = self
            .logged("serving /healthz", Duration::from_secs(20))
            .await;
        serving["fields"]["addr"]
            .as_str()
            .expect("the endpoint's address is logged")
            .to_string()
    }

    /// Whether the process still runs (it was never restarted: the same process).
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its exit status, once it has exited.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, as the kubelet stops a pod; the exit status.
    pub(crate) async fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Some(status) = self.exited() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the operator did not stop on SIGTERM:\n{}", self.log());
    }

    /// SIGKILL, as the kernel's OOM killer or a node loss ends a pod: no clean-up runs.
    pub(crate) fn kill(mut self) {
        self.kill_in_place();
    }

    /// [`OperatorProcess::kill`], keeping the value (its log stays readable).
    pub(crate) fn kill_in_place(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill_in_place();
    }
}

/// A GET over HTTP/1.1 to the operator's endpoint: (status code, body); code 0 when
/// nothing answers.
pub(crate) fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let code = (answer.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (code, body.unwrap_or_default())
}

/// The status code of a GET of `path` on `addr` (0 when nothing answers).
pub(crate) fn http_status(addr: &str, path: &str) -> u16 {
    http_get(addr, path).0
}
