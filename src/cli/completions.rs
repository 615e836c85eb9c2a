//! `kubectl mysql completions bash|zsh|fish`: print a completion script for the binary,
//! `kubectl-mysql`, as clap_complete generates it from the CLI.
//!
//! `kubectl mysql <TAB>` does not use these scripts: kubectl (1.26+) asks the
//! `kubectl_complete-mysql` shim, which runs the hidden `__complete` command. The scripts
//! complete the binary called by its own name, and `completions/` holds them generated.

use std::io::Write;

use clap::{Args, CommandFactory, ValueEnum};

use super::Cli;

/// The name the scripts complete: the binary's.
pub const BIN_NAME: &str = "kubectl-mysql";

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # Bash, for every user (or source it from ~/.bashrc)
  kubectl mysql completions bash > /etc/bash_completion.d/kubectl-mysql

  # Zsh: a directory on $fpath, then start a new shell
  kubectl mysql completions zsh > \"${fpath[1]}/_kubectl-mysql\"

  # Fish
  kubectl mysql completions fish > ~/.config/fish/completions/kubectl-mysql.fish

  # `kubectl mysql <TAB>` itself: put the kubectl_complete-mysql shim from completions/ on PATH")]
pub struct CompletionsArgs {
    /// The shell to print the script for
    shell: Shell,
}

/// The shells `completions/` holds scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    pub const ALL: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

    /// Where `completions/` keeps the script for this shell.
    pub fn file_name(self) -> &'static str {
        match self {
            Shell::Bash => "kubectl-mysql.bash",
            Shell::Zsh => "_kubectl-mysql",
            Shell::Fish => "kubectl-mysql.fish",
        }
    }

    fn generator(self) -> clap_complete::Shell {
        match self {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        }
    }

    /// The name `completions` takes.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell.generator(), &mut visible_tree(), BIN_NAME, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The CLI without its hidden subcommands (`crd`, `__complete`): clap_complete's scripts
/// would offer them. Clap cannot remove a subcommand, so the root is made anew around
/// the same flags and the visible subcommands.
fn visible_tree() -> clap::Command {
    let full = Cli::command();
    clap::Command::new(BIN_NAME)
        .version(env!("CARGO_PKG_VERSION"))
        .about(full.get_about().cloned().unwrap_or_default())
        .propagate_version(full.is_propagate_version_set())
        .subcommand_required(full.is_subcommand_required_set())
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(script(args.shell).as_bytes())?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn committed(shell: Shell) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("completions")
            .join(shell.file_name())
    }

    /// `completions/` holds the scripts as the CLI generates them. With
    /// `UPDATE_COMPLETIONS=1` the test rewrites them instead of failing.
    #[test]
    fn committed_scripts_are_generated_from_the_cli() {
        let update = std::env::var_os("UPDATE_COMPLETIONS").is_some();
        let mut drifted = Vec::new();
        for shell in Shell::ALL {
            let path = committed(shell);
            let generated = script(shell);
            if update {
                std::fs::write(&path, &generated).expect("script written");
                continue;
            }
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            if on_disk != generated {
                drifted.push(format!(
                    "  cargo run -q -- completions {} > completions/{}",
                    shell.name(),
                    shell.file_name()
                ));
            }
        }
        assert!(
            drifted.is_empty(),
            "completions/ drifted from the CLI; regenerate with\n{}\n(or `UPDATE_COMPLETIONS=1 cargo test --lib completions`)",
            drifted.join("\n")
        );
    }

    #[test]
    fn scripts_complete_the_binary_and_hide_hidden_commands() {
        for shell in Shell::ALL {
            let text = script(shell);
            assert!(text.contains(BIN_NAME), "{shell:?}: {text}");
            assert!(text.contains("backup"), "{shell:?}");
            assert!(!text.contains("__complete"), "{shell:?} offers __complete");
            assert!(
                !text.contains("kubectl mysql"),
                "{shell:?} names `kubectl mysql`"
            );
        }
    }
}
