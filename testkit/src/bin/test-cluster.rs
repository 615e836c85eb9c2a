//! `test-cluster [--port P] [--kubeconfig-out FILE] [--without-crd] [--without-mysql]`: a
//! whole cluster on one machine, for people and scripts: the in-memory API server, the
//! node stand-in (a real local MariaDB for each MySQL Deployment, Jobs run as local
//! processes) and the product's CRD. `kubectl` and `kubectl mysql` work against it as
//! against a cluster; run the operator with `kubectl-mysql run-operator` beside it.
//!
//! Prints `kubeconfig: FILE` once everything is ready, then runs until Ctrl-C or SIGTERM,
//! which stop the local servers cleanly. Needs Debian's MariaDB unless `--without-mysql`.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use kubectl_mysql::crd::MySQL;
use testkit::apiserver::TestApiServer;
use testkit::node::NodeStandIn;

const USAGE: &str =
    "usage: test-cluster [--port PORT] [--kubeconfig-out FILE] [--without-crd] [--without-mysql]

  --port PORT            listen on 127.0.0.1:PORT (default: a free port)
  --kubeconfig-out FILE  write the kubeconfig there (default: a file in a temp dir)
  --without-crd          do not install the MySQL CRD (e.g. to `kubectl apply -f deploy/crd.yaml`)
  --without-mysql        volumes and Deployments only: no local MariaDB servers, Jobs never run";

struct Options {
    port: u16,
    kubeconfig_out: Option<PathBuf>,
    crd: bool,
    mysql: bool,
}

fn options() -> Result<Option<Options>, String> {
    let mut options = Options {
        port: 0,
        kubeconfig_out: None,
        crd: true,
        mysql: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                options.port = value
                    .parse()
                    .map_err(|e| format!("--port {value:?}: {e}"))?;
            }
            "--kubeconfig-out" => {
                options.kubeconfig_out =
                    Some(args.next().ok_or("--kubeconfig-out needs a value")?.into());
            }
            "--without-crd" => options.crd = false,
            "--without-mysql" => options.mysql = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Some(options))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(options) = options()? else {
        return Ok(());
    };
    if options.mysql {
        testkit::mariadb::Programs::find().map_err(|e| {
            format!(
                "{e}; install Debian's mariadb-server and mariadb-client, or pass --without-mysql"
            )
        })?;
    }
    let server = TestApiServer::start_on(options.port).await?;
    // Kept until the end: the default kubeconfig lives in it.
    let dir = tempfile::Builder::new().prefix("test-cluster-").tempdir()?;
    let kubeconfig = options
        .kubeconfig_out
        .unwrap_or_else(|| dir.path().join("kubeconfig"));
    server.write_kubeconfig(&kubeconfig)?;

    let client = kube::Client::try_from(kube::Config::new(server.url().parse()?))?;
    if options.crd {
        install_crd(&client).await?;
    }
    let node = if options.mysql {
        NodeStandIn::start_with_mysql(client)
    } else {
        NodeStandIn::start(client)
    };
    println!("kubeconfig: {}", kubeconfig.display());
    eprintln!(
        "test cluster at {} (Ctrl-C stops it and its servers)",
        server.url()
    );

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    // Stops the local servers and Job processes before the process ends.
    drop(node);
    Ok(())
}

/// Create the product's CRD and wait until MySQL objects are served.
async fn install_crd(client: &kube::Client) -> Result<(), Box<dyn std::error::Error>> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &kubectl_mysql::crd::crd())
        .await?;
    let mysqls: Api<MySQL> = Api::all(client.clone());
    for _ in 0..100 {
        if mysqls.list(&ListParams::default().limit(1)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the MySQL CRD is not served".into())
}
