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
            eprintln!("error: {}", one_line(&message(&error)));
            if let Some(hint) = cli::hint_for(&error) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, down to the first error of the library or the CLI: those
/// already say their own cause in their message.
fn message(error: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in error.chain() {
        parts.push(cause.to_string());
        if cause.is::<kubectl_mysql::Error>() || cause.is::<cli::Failure>() {
            break;
        }
    }
    parts.join(": ")
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
