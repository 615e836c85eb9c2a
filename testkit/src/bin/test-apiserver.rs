//! `test-apiserver [--port P] [--kubeconfig-out FILE]`: the in-memory API server as a
//! process, so a person can point `kubectl` and `kubectl mysql` at it.

use testkit::apiserver::TestApiServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 0u16;
    let mut kubeconfig_out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--kubeconfig-out" => {
                kubeconfig_out = Some(args.next().ok_or("--kubeconfig-out needs a value")?)
            }
            "-h" | "--help" => {
                println!("usage: test-apiserver [--port PORT] [--kubeconfig-out FILE]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}; see --help").into()),
        }
    }
    let server = TestApiServer::start_on(port).await?;
    match kubeconfig_out {
        Some(path) => {
            server.write_kubeconfig(std::path::Path::new(&path))?;
            eprintln!("serving {} (kubeconfig: {path})", server.url());
        }
        None => print!("{}", server.kubeconfig()),
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
