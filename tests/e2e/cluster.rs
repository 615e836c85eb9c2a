//! A cluster for a test: a fresh test API server, or the real cluster named by
//! `MYSQL_E2E_KUBECONFIG`. Each test works in its own namespace.

use std::path::PathBuf;
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use testkit::apiserver::TestApiServer;

pub struct Cluster {
    /// `None` on a real cluster.
    _server: Option<TestApiServer>,
    pub kubeconfig: PathBuf,
    pub namespace: String,
    pub client: Client,
    _dir: tempfile::TempDir,
}

/// Whether the suite runs against a real cluster.
pub fn real_cluster() -> Option<PathBuf> {
    std::env::var_os("MYSQL_E2E_KUBECONFIG").map(PathBuf::from)
}

impl Cluster {
    /// A cluster with a fresh namespace `<prefix>-<n>`.
    pub async fn new(prefix: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (server, kubeconfig) = match real_cluster() {
            Some(path) => (None, path),
            None => {
                let server = TestApiServer::start()
                    .await
                    .expect("test API server starts");
                let path = server
                    .write_kubeconfig(&dir.path().join("kubeconfig"))
                    .expect("kubeconfig written");
                (Some(server), path)
            }
        };
        let loaded = Kubeconfig::read_from(&kubeconfig).expect("kubeconfig readable");
        let config = Config::from_custom_kubeconfig(loaded, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig usable");
        let client = Client::try_from(config).expect("client");
        let suffix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() % 100_000)
            .unwrap_or_default();
        let namespace = format!("{prefix}-{suffix}");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let object: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}}))
                .expect("namespace object");
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .expect("test namespace created");
        Self {
            _server: server,
            kubeconfig,
            namespace,
            client,
            _dir: dir,
        }
    }

    /// Run the real kubectl against this cluster.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self._dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(stdin.unwrap_or_default().as_bytes())
            .expect("stdin written");
        drop(input);
        child.wait_with_output().expect("kubectl ends")
    }

    /// Delete the test namespace (everything in it goes with it).
    pub async fn cleanup(self) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let _ = namespaces
            .delete(&self.namespace, &DeleteParams::default())
            .await;
    }
}

/// stdout and stderr of a kubectl run, for assertions.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
