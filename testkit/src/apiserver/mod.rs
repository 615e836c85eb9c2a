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
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use store::Store;

/// A running server; stopped when dropped.
pub struct TestApiServer {
    pub addr: SocketAddr,
    store: http::Shared,
    stop: watch::Sender<bool>,
    outages: watch::Sender<Duration>,
    down: Arc<AtomicBool>,
}

impl TestApiServer {
    /// Start on a free port of 127.0.0.1 (`port` 0) or the given one.
    pub async fn start_on(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let store: http::Shared = Arc::new(Mutex::new(Store::default()));
        let (stop, stopped) = watch::channel(false);
        let (outages, outage_requests) = watch::channel(Duration::ZERO);
        tokio::spawn(garbage_collector(store.clone(), stop.subscribe()));
        let down = Arc::new(AtomicBool::new(false));
        tokio::spawn(serve(
            listener,
            store.clone(),
            stopped,
            outage_requests,
            down.clone(),
        ));
        Ok(Self {
            addr,
            store,
            stop,
            outages,
            down,
        })
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

    /// Be unreachable for `length`, as a control plane that restarts or a network that
    /// partitions is: every open connection (watches too) is cut at once and new ones are
    /// refused (the port stays bound but does not listen, so a client gets "connection
    /// refused" and nothing else can take the port), then the server listens on the same
    /// address again with its store as it was. Returns at once.
    pub fn outage(&self, length: Duration) {
        self.down.store(true, Ordering::SeqCst);
        // Sent even when equal to the last one: each call is an outage of its own.
        self.outages.send_modify(|l| *l = length);
    }

    /// Whether the server is in an outage now.
    pub fn in_outage(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    /// Direct access to the store, for assertions.
    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Accept connections until stopped; an outage closes the listener (holding its port) and
/// every open connection, then listens again on the same address.
async fn serve(
    mut listener: TcpListener,
    store: http::Shared,
    mut stopped: watch::Receiver<bool>,
    mut outages: watch::Receiver<Duration>,
    down: Arc<AtomicBool>,
) {
    // Bumped by each outage: the connections of the earlier generation close.
    let (cut, _) = watch::channel(0u64);
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            changed = outages.changed() => {
                if changed.is_err() {
                    return;
                }
                let length = *outages.borrow_and_update();
                let Ok(addr) = listener.local_addr() else { return };
                drop(listener);
                // The port stays ours, bound but not listening, so a connection is
                // refused and the kernel cannot hand the port to anyone else meanwhile
                // (an outgoing connection's ephemeral port, or a client connecting to
                // itself), which would keep the server away for good.
                let Some(held) = hold(addr).await else {
                    eprintln!("test API server: {addr} could not be held through an outage; stopped");
                    return;
                };
                cut.send_modify(|generation| *generation += 1);
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tokio::time::sleep(length) => {}
                }
                listener = match held.listen(1024) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("test API server: listening on {addr} again failed ({e}); stopped");
                        return;
                    }
                };
                // Over, unless a later one was asked for meanwhile (it starts next).
                if !outages.has_changed().unwrap_or(false) {
                    down.store(false, Ordering::SeqCst);
                }
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // A second handle on the socket, through which an outage resets it.
                let handle = stream.as_fd().try_clone_to_owned().ok();
                let store = store.clone();
                let mut stopped = stopped.clone();
                let mut cut = cut.subscribe();
                tokio::spawn(async move {
                    let service = service_fn(move |req| http::serve(store.clone(), req));
                    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = connection => {}
                        _ = stopped.changed() => {}
                        _ = cut.changed() => {
                            // Reset, as a vanished server's peer sees it: a plain close
                            // would leave the port's side lingering, and a client that
                            // reconnects from the same port would be refused.
                            if let Some(fd) = &handle {
                                let _ = socket2::SockRef::from(fd).set_linger(Some(Duration::ZERO));
                            }
                        }
                    }
                });
            }
        }
    }
}

/// Bind `addr` again without listening, right after its listener was dropped (the few
/// microseconds in between are retried for a while, should anything take the port).
async fn hold(addr: SocketAddr) -> Option<TcpSocket> {
    for _ in 0..50 {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .ok()?;
        // As the listener had it, and as its accepted connections still have it.
        socket.set_reuseaddr(true).ok()?;
        if socket.bind(addr).is_ok() {
            return Some(socket);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
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

#[cfg(test)]
mod tests {
    use super::TestApiServer;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        Ok(answer)
    }

    /// Transcript 16 (finding 57): a namespace held by a finalizer is Terminating, says
    /// which finalizer holds it, refuses creates, and goes once the finalizer is removed.
    #[tokio::test]
    async fn a_namespace_held_by_a_finalizer_says_so_refuses_creates_and_goes_when_released()
    -> Result<(), Box<dyn std::error::Error>> {
        use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
        use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
        let server = TestApiServer::start().await?;
        let client = kube::Client::try_from(kube::Config::new(server.url().parse()?))?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "held"}}))?;
        namespaces.create(&PostParams::default(), &ns).await?;
        let maps: Api<ConfigMap> = Api::namespaced(client, "held");
        let map = |name: &str| -> ConfigMap {
            serde_json::from_value(
                serde_json::json!({"metadata": {"name": name, "finalizers": ["example.com/hold"]}}),
            )
            .unwrap_or_default()
        };
        maps.create(&PostParams::default(), &map("kept")).await?;
        namespaces.delete("held", &DeleteParams::default()).await?;
        let mut said = None;
        for _ in 0..100 {
            let status = namespaces.get("held").await?.status.unwrap_or_default();
            said = (status.conditions.iter().flatten())
                .find(|c| c.type_ == "NamespaceFinalizersRemaining")
                .and_then(|c| c.message.clone());
            if said.is_some() {
                assert_eq!(status.phase.as_deref(), Some("Terminating"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            said.as_deref(),
            Some(
                "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
            )
        );
        let refused = maps.create(&PostParams::default(), &map("new")).await;
        assert!(
            matches!(&refused, Err(kube::Error::Api(s)) if s.code == 403
                && s.message.ends_with("unable to create new content in namespace held because it is being terminated")),
            "{refused:?}"
        );
        let release = serde_json::json!({"metadata": {"finalizers": null}});
        maps.patch("kept", &PatchParams::default(), &Patch::Merge(release))
            .await?;
        for _ in 0..100 {
            if namespaces.get_opt("held").await?.is_none() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the namespace did not go once released");
    }

    #[tokio::test]
    async fn an_outage_refuses_connections_cuts_watches_and_keeps_the_store() {
        let server = TestApiServer::start().await.expect("server");
        let created = server.store().revision();
        let namespaces = get(server.addr, "/api/v1/namespaces").await.expect("up");
        assert!(namespaces.starts_with("HTTP/1.1 200"), "{namespaces}");
        // A watch open when the outage starts.
        let mut watch = TcpStream::connect(server.addr).await.expect("watch");
        let request = format!(
            "GET /api/v1/namespaces?watch=true HTTP/1.1\r\nHost: {}\r\n\r\n",
            server.addr
        );
        watch.write_all(request.as_bytes()).await.expect("sent");

        server.outage(Duration::from_secs(1));
        assert!(server.in_outage());
        let mut rest = Vec::new();
        let ended =
            tokio::time::timeout(Duration::from_secs(2), watch.read_to_end(&mut rest)).await;
        assert!(ended.is_ok(), "the open watch is cut");
        let refused = get(server.addr, "/api/v1/namespaces").await;
        assert_eq!(
            refused.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::ConnectionRefused)
        );

        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!server.in_outage());
        let back = get(server.addr, "/api/v1/namespaces").await.expect("back");
        assert!(back.starts_with("HTTP/1.1 200"), "{back}");
        assert_eq!(body(&back), body(&namespaces), "the same namespaces");
        for attempt in 0..50 {
            let again = get(server.addr, "/api/v1/namespaces").await.expect("up");
            assert!(
                again.starts_with("HTTP/1.1 200"),
                "attempt {attempt}: {again}"
            );
        }
        assert_eq!(server.store().revision(), created, "the store is kept");
    }

    /// The port stays the server's through an outage, so nothing can take it meanwhile:
    /// a client's ephemeral port or a listener on port 0 that got it would keep the server
    /// away for good (the likely cause of one red CI run). No connection was made before,
    /// so no closing one holds the port instead.
    #[tokio::test]
    async fn an_outage_keeps_its_port() {
        let server = TestApiServer::start().await.expect("server");
        server.outage(Duration::from_millis(500));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let taker = tokio::net::TcpSocket::new_v4().expect("socket");
        let taken = taker.bind(server.addr);
        assert_eq!(
            taken.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::AddrInUse),
            "the port is held through the outage"
        );
        drop(taker);
        while server.in_outage() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let back = get(server.addr, "/version").await.expect("back");
        assert!(back.starts_with("HTTP/1.1 200"), "{back}");
    }

    /// An answer without its headers (their `date` differs).
    fn body(answer: &str) -> &str {
        answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }
}
