//! `kubectl-mysql`: the kubectl plugin and the in-cluster operator, one binary.

use std::process::ExitCode;

use clap::Parser;
use kubectl_mysql::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    // One TLS provider for every client this process makes.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // kubectl's plugin completion (the kubectl_complete-mysql shim): the words are raw,
    // not for clap to parse.
    if let Some(words) = cli::complete::requested() {
        cli::complete::answer_and_exit(&words).await;
    }
    let cli = Cli::parse();
    match cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&format!("{error:#}")));
            if let Some(hint) = cli::hint_for(&error) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
