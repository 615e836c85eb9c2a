//! A cluster for a test: a fresh test API server, or the real cluster named by
//! `MYSQL_E2E_KUBECONFIG`. Each test works in its own namespace.

use std::path::PathBuf;
use std::process::{Command, Output};

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use kubectl_mysql::crd::{MySQL, Phase};
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

    /// A client of the test API server that authenticates as `user`, so the server's
    /// request log tells its requests apart (test API server only).
    pub async fn client_as(&self, user: &str) -> Option<Client> {
        let server = self._server.as_ref()?;
        let path = self._dir.path().join(format!("kubeconfig-{user}"));
        std::fs::write(&path, server.kubeconfig_as(user)).expect("kubeconfig written");
        let loaded = Kubeconfig::read_from(&path).expect("kubeconfig readable");
        let config = Config::from_custom_kubeconfig(loaded, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig usable");
        Some(Client::try_from(config).expect("client"))
    }

    /// A kubeconfig file whose requests authenticate as `user` (test API server only).
    pub fn kubeconfig_as(&self, user: &str) -> Option<PathBuf> {
        let server = self._server.as_ref()?;
        let path = self._dir.path().join(format!("kubeconfig-file-{user}"));
        std::fs::write(&path, server.kubeconfig_as(user)).expect("kubeconfig written");
        Some(path)
    }

    /// The test API server, when the suite is not running against a real cluster.
    pub fn server(&self) -> Option<&TestApiServer> {
        self._server.as_ref()
    }

    /// Run the real kubectl against this cluster.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new("kubectl");
        command
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self._dir.path());
        crate::cli::output_with_stdin(&mut command, stdin.unwrap_or_default())
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

/// Install the product's CRD (idempotent) and wait until it is served.
pub async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    match crds
        .create(&PostParams::default(), &kubectl_mysql::crd::crd())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("CRD not created: {e}"),
    }
    let mysqls: Api<MySQL> = Api::all(client.clone());
    for _ in 0..100 {
        if mysqls.list(&ListParams::default().limit(1)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the MySQL CRD is not served");
}

pub fn seed_cr() -> MySQL {
    serde_saphyr::from_str(include_str!("../../deploy/cr.yaml")).expect("deploy/cr.yaml")
}

/// Poll until `check` holds (the garbage collector acts asynchronously, as on a cluster).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

/// How long an instance may take to change phase or go: real servers start here, and a
/// delete backs up through a temporary server.
const INSTANCE_LIMIT: Duration = Duration::from_secs(90);

/// What the MySQL `name` says now, for a wait's failure message.
fn last_status(read: &Result<Option<MySQL>, kube::Error>) -> String {
    match read {
        Ok(Some(m)) => {
            let status = m.status.clone().unwrap_or_default();
            format!("{:?}: {}", status.phase, status.message.unwrap_or_default())
        }
        Ok(None) => "not found".to_string(),
        Err(e) => format!("not read: {e}"),
    }
}

/// Wait until the MySQL `name` is in `phase`, its message containing `message` when one is
/// given; on timeout, say where it got stuck.
pub async fn wait_for_phase(mysqls: &Api<MySQL>, name: &str, phase: Phase, message: Option<&str>) {
    let deadline = tokio::time::Instant::now() + INSTANCE_LIMIT;
    loop {
        let read = mysqls.get_opt(name).await;
        if let Ok(Some(m)) = &read
            && let Some(status) = &m.status
            && status.phase == Some(phase)
            && message.is_none_or(|wanted| {
                status
                    .message
                    .as_deref()
                    .is_some_and(|said| said.contains(wanted))
            })
        {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "{name} is not {phase:?}; last status {}",
                last_status(&read)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until the MySQL `name` is gone (its finalizer done); on timeout, say where it got
/// stuck.
pub async fn wait_until_deleted(mysqls: &Api<MySQL>, name: &str) {
    let deadline = tokio::time::Instant::now() + INSTANCE_LIMIT;
    loop {
        let read = mysqls.get_opt(name).await;
        if let Ok(None) = read {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{name} is not deleted; last status {}", last_status(&read));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
