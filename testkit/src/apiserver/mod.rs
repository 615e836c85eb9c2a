//! An in-memory Kubernetes API server on 127.0.0.1 for tests (SPEC §5).
//!
//! Started in-process in milliseconds, or as the `test-apiserver` binary. It writes a
//! kubeconfig that kube-rs and the real `kubectl` accept. Where it and a real API server
//! differ, the real one is right: see `../shared/api-transcripts/`.
//!
//! Served: discovery (legacy format), `/version`, OpenAPI v3 (paths and CR schemas),
//! create/get/list/update/patch (merge, JSON patch; strategic merge as merge for
//! built-ins)/delete/deletecollection with resourceVersion conflicts, generation, the
//! status subresource, finalizers and `deletionTimestamp`, label and field selectors,
//! `limit`/`continue`, dryRun, Table and PartialObjectMetadata output, watches (resume,
//! bookmarks, 410, streaming lists), CRD registration with schema and CEL validation of
//! custom resources, the built-in validation of CronJobs, owner-reference garbage
//! collection and namespace deletion.

pub mod apply;
mod events;
mod http;
pub mod normalize;
pub mod rbac;
pub mod registry;
pub mod status;
pub mod store;
mod validation;
mod views;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use store::Store;

/// A running server; stopped when dropped.
pub struct TestApiServer {
    pub addr: SocketAddr,
    store: http::Shared,
    stop: watch::Sender<bool>,
}

impl TestApiServer {
    /// Start on a free port of 127.0.0.1 (`port` 0) or the given one.
    pub async fn start_on(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let store: http::Shared = Arc::new(Mutex::new(Store::default()));
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(garbage_collector(store.clone(), stop.subscribe()));
        let shared = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let store = shared.clone();
                        let mut stopped = stopped.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |req| http::serve(store.clone(), req));
                            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                            tokio::select! {
                                _ = connection => {}
                                _ = stopped.changed() => {}
                            }
                        });
                    }
                }
            }
        });
        Ok(Self { addr, store, stop })
    }

    /// Start on a free port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(0).await
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig (context `testkit`, namespace `default`, no credentials) for this server.
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig_with_user("{}")
    }

    /// A kubeconfig whose requests authenticate as `user` (a bearer token of that name),
    /// so [`TestApiServer::requests`] tells this client's calls from everyone else's.
    pub fn kubeconfig_as(&self, user: &str) -> String {
        self.kubeconfig_with_user(&format!("{{token: {user:?}}}"))
    }

    fn kubeconfig_with_user(&self, user: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: testkit\n  cluster:\n    server: {}\ncontexts:\n- name: testkit\n  context:\n    cluster: testkit\n    user: testkit\n    namespace: default\ncurrent-context: testkit\nusers:\n- name: testkit\n  user: {user}\npreferences: {{}}\n",
            self.url()
        )
    }

    /// Write the kubeconfig to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<PathBuf> {
        std::fs::write(path, self.kubeconfig())?;
        Ok(path.to_path_buf())
    }

    /// The resource requests served so far (verb, group, resource, ...), in order.
    pub fn requests(&self) -> Vec<store::RequestRecord> {
        self.store().requests.clone()
    }

    /// Forget the requests served so far (to count those of one step).
    pub fn clear_requests(&self) {
        self.store().requests.clear();
    }

    /// From now on refuse `verb` (`*`: every verb) on `resource` of API `group` (`""`:
    /// core) in `namespace` (`None`: every namespace and the cluster scope) with 403
    /// Forbidden, as kube-apiserver answers when no RBAC rule allows a request: a
    /// `Status` with reason `Forbidden`, details `{group, kind: <resource>, name}` and
    /// the message `<resource>.<group> ["<name>" ]is forbidden: User "<user>" cannot
    /// <verb> resource "<resource>" in API group "<group>" in the namespace "<ns>"`.
    pub fn forbid(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) {
        self.store().forbidden.push(store::Forbidden {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            namespace: namespace.map(str::to_string),
        });
    }

    /// From now on authorize `user`'s resource requests by the stored Roles, ClusterRoles
    /// and their bindings, as kube-apiserver's RBAC authorizer does ([`rbac`]); other
    /// users may still do anything.
    pub fn enforce_rbac_for(&self, user: &str) {
        self.store().rbac_enforced.insert(user.to_string());
    }

    /// Answer the next `requests` resource requests with 429 TooManyRequests and
    /// `Retry-After: retry_after_seconds`, as API Priority and Fairness does when the
    /// client's priority level is saturated (the requests are still recorded).
    pub fn throttle(&self, requests: usize, retry_after_seconds: u64) {
        self.store().throttle = Some(store::Throttle {
            remaining: requests,
            retry_after_seconds,
        });
    }

    /// Direct access to the store, for assertions.
    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// kube-controller-manager's garbage collector and namespace controller: a separate task
/// reacting to writes, never inline in a request.
async fn garbage_collector(store: http::Shared, mut stopped: watch::Receiver<bool>) {
    let mut writes = store.lock().unwrap_or_else(|p| p.into_inner()).subscribe();
    loop {
        // Keep collecting while a pass writes (its own deletes may free more).
        loop {
            let wrote = store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .collect_garbage();
            if !wrote {
                break;
            }
            tokio::task::yield_now().await;
        }
        tokio::select! {
            _ = stopped.changed() => return,
            changed = writes.changed() => if changed.is_err() { return },
        }
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
