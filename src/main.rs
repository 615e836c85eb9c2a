//! `kubectl-mysql`: the kubectl plugin and the in-cluster operator, one binary.

use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
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

/// A usage error as every other failure: one line and a hint (the flag or command clap
/// suggests, if any, and the command's --help), exit code 2. Help and version print as
/// clap prints them.
fn usage_error(error: clap::Error) -> ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        error.exit();
    }
    // clap's cause runs to the first blank line (the arguments missing, the values
    // possible); usage and tips follow it.
    let rendered = error.render().to_string();
    let cause: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .collect();
    let cause = cause.join(" ");
    let cause = cause.strip_prefix("error: ").unwrap_or(&cause);
    eprintln!("error: {}", one_line(cause));
    let suggested = [ContextKind::SuggestedArg, ContextKind::SuggestedSubcommand]
        .into_iter()
        .find_map(|kind| match error.get(kind)? {
            ContextValue::String(s) => Some(s.clone()),
            // clap orders them by similarity, the closest last.
            ContextValue::Strings(s) => s.last().cloned(),
            _ => None,
        });
    let hint = match suggested {
        Some(arg) => format!(
            "did you mean {arg}? See `kubectl mysql{} --help`",
            typed_command()
        ),
        None => format!("see `kubectl mysql{} --help`", typed_command()),
    };
    eprintln!("hint: {hint}");
    ExitCode::from(2)
}

/// " create" when a known command was typed, else "".
fn typed_command() -> String {
    let cli = Cli::command();
    std::env::args()
        .skip(1)
        .find(|arg| cli.get_subcommands().any(|c| c.get_name() == arg))
        .map(|name| format!(" {name}"))
        .unwrap_or_default()
}
