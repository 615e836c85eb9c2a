//! The hidden `__complete` command: `kubectl mysql <TAB>` completion.
//!
//! kubectl (1.26+) completes a plugin by running `kubectl_complete-mysql` from PATH with
//! the words typed after `kubectl mysql`, the last one being the word under the cursor
//! (often empty). That shim is `exec kubectl-mysql __complete "$@"`. The answer is cobra's:
//! one candidate per line, `candidate<TAB>description`, and a last line `:4` (the
//! directive "no file completion").
//!
//! Two halves: [`analyse`] is pure, it walks the clap command tree over the words and
//! says what the last word is completed with (subcommands, flags, a flag's possible
//! values, or names to look up); [`lookup`] asks the cluster for instance, backup and
//! namespace names, within [`TIMEOUT`], and answers nothing on any error. Nothing is ever
//! printed on stderr, and the `:4` line always ends the answer.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, Args, CommandFactory};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::ListParams;
use kube::config::Kubeconfig;

use super::{Cli, GlobalArgs, kubeconfig};
use crate::crd::MySQL;

/// The command's name, as the shim calls it.
pub const NAME: &str = "__complete";

/// cobra's ShellCompDirectiveNoFileComp: the shell offers no file names either.
pub const NO_FILE_COMPLETION: &str = ":4";

/// The longest a completion waits for the cluster, all calls together.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Commands whose NAME is an existing instance (`create` makes a new one: no completion).
const INSTANCE_COMMANDS: [&str; 4] = ["delete", "backup", "restore", "status"];

#[derive(Debug, Args)]
#[command(disable_help_flag = true, disable_version_flag = true)]
pub struct CompleteArgs {
    /// The words typed after `kubectl mysql`, the last one being completed
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    words: Vec<String>,
}

/// `kubectl-mysql [flags] __complete WORDS...` as clap parsed it. The shim's call,
/// `kubectl-mysql __complete WORDS...`, is answered by [`requested`] before clap sees it.
pub async fn run(global: &GlobalArgs, args: CompleteArgs) -> anyhow::Result<()> {
    print(&answer(global, &args.words).await);
    Ok(())
}

/// The words after `__complete` when it is the first argument (the shim's call), read
/// raw: clap would take a leading `-n`, `--help` or `--` among them for its own.
pub fn requested() -> Option<Vec<String>> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != NAME {
        return None;
    }
    Some(
        args.map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
    )
}

/// Answer the shim's call and end the process (not waiting for a lookup still stuck in a
/// resolver thread after its timeout).
pub async fn answer_and_exit(words: &[String]) -> ! {
    print(&answer(&GlobalArgs::default(), words).await);
    std::process::exit(0)
}

/// The whole answer to `__complete WORDS...`, `:4` line included.
pub async fn answer(global: &GlobalArgs, words: &[String]) -> String {
    let request = analyse(&tree(), global, words);
    let found = lookup(&request).await;
    render(&finish(&request, found))
}

fn print(answer: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(answer.as_bytes());
    let _ = stdout.flush();
}

/// The CLI's command tree, built: global flags propagated to every subcommand, `help`
/// subcommands added, as the parser sees it.
pub fn tree() -> clap::Command {
    let mut command = Cli::command();
    command.build();
    command
}

// ---------------------------------------------------------------------------------------
// The pure half.

/// One answer line: the word, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub value: String,
    pub description: String,
}

impl Candidate {
    pub fn new(value: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            description: description.into(),
        }
    }
}

/// Names that are not in the command tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The MySQL objects of the namespace.
    Instances,
    /// The backup catalogue of an instance.
    Backups { instance: String },
    /// The cluster's namespaces.
    Namespaces,
    /// The kubeconfig's contexts (the file only, no cluster).
    Contexts,
}

/// Where the candidates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Known from the command tree.
    Fixed(Vec<Candidate>),
    Lookup(Lookup),
    Nothing,
}

/// What the last word is completed with.
#[derive(Debug, Clone)]
pub struct Request {
    /// The global flags among the words (over those clap parsed): where to look names up.
    pub global: GlobalArgs,
    /// What the candidates must start with.
    pub prefix: String,
    /// What goes before each candidate: `--flag=` when the word is `--flag=value`.
    pub lead: String,
    pub source: Source,
}

/// Walk `root` (a built tree, see [`tree`]) over `words` and say how the last word is
/// completed. `global` holds flags clap parsed before `__complete`; those among the words
/// win.
pub fn analyse(root: &clap::Command, global: &GlobalArgs, words: &[String]) -> Request {
    let (last, typed) = match words.split_last() {
        Some((last, typed)) => (last.as_str(), typed),
        None => ("", &[][..]),
    };
    let mut walk = Walk {
        command: root,
        global: global.clone(),
        positionals: Vec::new(),
        used: Vec::new(),
        pending: None,
        escaped: false,
    };
    for word in typed {
        if !walk.step(word) {
            return walk.request(last, Source::Nothing);
        }
    }
    walk.complete(last)
}

/// Where the walk over the typed words is.
struct Walk<'a> {
    command: &'a clap::Command,
    global: GlobalArgs,
    /// The positional words of `command` so far.
    positionals: Vec<String>,
    /// The flags given so far (not offered again unless they repeat).
    used: Vec<String>,
    /// A flag whose value is the next word.
    pending: Option<&'a Arg>,
    /// After `--`: every word is positional.
    escaped: bool,
}

impl<'a> Walk<'a> {
    /// Take one typed word; false when it names no subcommand (nothing to complete then).
    fn step(&mut self, word: &str) -> bool {
        if let Some(arg) = self.pending.take() {
            self.note(arg, word);
            return true;
        }
        if !self.escaped && word == "--" {
            self.escaped = true;
            return true;
        }
        if !self.escaped && word.starts_with("--") {
            let (name, value) = match word.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (word, None),
            };
            if let Some(arg) = long(self.command, &name[2..]) {
                self.used.push(arg.get_id().to_string());
                match value {
                    Some(value) => self.note(arg, value),
                    None if consumes_next_word(arg) => self.pending = Some(arg),
                    None => {}
                }
            }
            return true;
        }
        if !self.escaped && word.starts_with('-') && word.len() > 1 {
            // Short flags, maybe bundled (`-A`), maybe with the value attached (`-nshop`).
            let body = &word[1..];
            for (at, c) in body.char_indices() {
                let Some(arg) = short(self.command, c) else {
                    break;
                };
                self.used.push(arg.get_id().to_string());
                if arg.get_action().takes_values() {
                    let rest = &body[at + c.len_utf8()..];
                    let rest = rest.strip_prefix('=').unwrap_or(rest);
                    if !rest.is_empty() {
                        self.note(arg, rest);
                    } else if consumes_next_word(arg) {
                        self.pending = Some(arg);
                    }
                    break;
                }
            }
            return true;
        }
        if self.positionals.is_empty() && self.command.has_subcommands() {
            match subcommand(self.command, word) {
                Some(sub) => {
                    self.command = sub;
                    return true;
                }
                None => return false,
            }
        }
        self.positionals.push(word.to_string());
        true
    }

    /// Remember where the cluster is: the global flags' values.
    fn note(&mut self, arg: &Arg, value: &str) {
        match arg.get_id().as_str() {
            "namespace" => self.global.namespace = Some(value.to_string()),
            "context" => self.global.context = Some(value.to_string()),
            "kubeconfig" => self.global.kubeconfig = Some(PathBuf::from(value)),
            _ => {}
        }
    }

    /// What completes `last`, the word under the cursor.
    fn complete(mut self, last: &str) -> Request {
        if let Some(arg) = self.pending.take() {
            let source = self.values(arg);
            return self.request(last, source);
        }
        if !self.escaped
            && last.starts_with("--")
            && let Some((name, value)) = last.split_once('=')
        {
            let source = match long(self.command, &name[2..]) {
                Some(arg) if arg.get_action().takes_values() => self.values(arg),
                _ => Source::Nothing,
            };
            let mut request = self.request(value, source);
            request.lead = format!("{name}=");
            return request;
        }
        if !self.escaped && last.starts_with('-') {
            let source = Source::Fixed(self.flags(!last.starts_with("--")));
            return self.request(last, source);
        }
        if self.positionals.is_empty() && self.command.has_subcommands() {
            let source = Source::Fixed(subcommands(self.command));
            return self.request(last, source);
        }
        let source = match self.command.get_positionals().nth(self.positionals.len()) {
            Some(arg) => self.values(arg),
            None => Source::Nothing,
        };
        self.request(last, source)
    }

    /// The values `arg` of the current command takes.
    fn values(&self, arg: &Arg) -> Source {
        let possible: Vec<Candidate> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| Candidate::new(v.get_name(), v.get_help().map(one_line).unwrap_or_default()))
            .collect();
        if !possible.is_empty() {
            return Source::Fixed(possible);
        }
        let command = self.command.get_name();
        match arg.get_id().as_str() {
            "namespace" => Source::Lookup(Lookup::Namespaces),
            "context" => Source::Lookup(Lookup::Contexts),
            "name" if arg.is_positional() && INSTANCE_COMMANDS.contains(&command) => {
                Source::Lookup(Lookup::Instances)
            }
            "backup" if command == "restore" => match self.positionals.first() {
                Some(instance) => Source::Lookup(Lookup::Backups {
                    instance: instance.clone(),
                }),
                None => Source::Nothing,
            },
            _ => Source::Nothing,
        }
    }

    /// The current command's flags not given yet: long ones, and short ones too unless the
    /// word starts with `--`.
    fn flags(&self, with_short: bool) -> Vec<Candidate> {
        let mut flags = Vec::new();
        for arg in self.command.get_arguments() {
            if arg.is_positional() || arg.is_hide_set() {
                continue;
            }
            let repeats = matches!(arg.get_action(), ArgAction::Append | ArgAction::Count);
            if !repeats && self.used.iter().any(|id| id == arg.get_id().as_str()) {
                continue;
            }
            let help = arg.get_help().map(one_line).unwrap_or_default();
            if with_short && let Some(c) = arg.get_short() {
                flags.push(Candidate::new(format!("-{c}"), help.clone()));
            }
            if let Some(long) = arg.get_long() {
                flags.push(Candidate::new(format!("--{long}"), help));
            }
        }
        flags
    }

    fn request(self, prefix: &str, source: Source) -> Request {
        Request {
            global: self.global,
            prefix: prefix.to_string(),
            lead: String::new(),
            source,
        }
    }
}

/// The visible subcommands, with what they do.
fn subcommands(command: &clap::Command) -> Vec<Candidate> {
    command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .map(|sub| {
            Candidate::new(
                sub.get_name(),
                sub.get_about().map(one_line).unwrap_or_default(),
            )
        })
        .collect()
}

fn subcommand<'a>(command: &'a clap::Command, word: &str) -> Option<&'a clap::Command> {
    command
        .get_subcommands()
        .find(|sub| sub.get_name() == word || sub.get_all_aliases().any(|a| a == word))
}

fn long<'a>(command: &'a clap::Command, name: &str) -> Option<&'a Arg> {
    command.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|all| all.contains(&name))
    })
}

fn short(command: &clap::Command, c: char) -> Option<&Arg> {
    command.get_arguments().find(|a| a.get_short() == Some(c))
}

/// Whether `--flag word` makes `word` the flag's value (not for `--dry-run[=client]`).
fn consumes_next_word(arg: &Arg) -> bool {
    arg.get_action().takes_values()
        && !arg.is_require_equals_set()
        && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
}

fn one_line(text: impl std::fmt::Display) -> String {
    let text = text.to_string();
    text.lines().next().unwrap_or_default().trim().to_string()
}

/// The candidates that fit the word, `lead` put back in front.
pub fn finish(request: &Request, found: Vec<Candidate>) -> Vec<Candidate> {
    found
        .into_iter()
        .filter(|c| c.value.starts_with(&request.prefix))
        .map(|c| Candidate {
            value: format!("{}{}", request.lead, c.value),
            description: c.description,
        })
        .collect()
}

/// cobra's answer: `value<TAB>description` lines, then `:4`.
pub fn render(candidates: &[Candidate]) -> String {
    let mut out = String::new();
    for c in candidates {
        let value = c.value.replace(['\t', '\n'], " ");
        let description = c.description.replace(['\t', '\n'], " ");
        if description.is_empty() {
            out.push_str(&value);
        } else {
            out.push_str(&format!("{value}\t{description}"));
        }
        out.push('\n');
    }
    out.push_str(NO_FILE_COMPLETION);
    out.push('\n');
    out
}

// ---------------------------------------------------------------------------------------
// The cluster half.

/// The candidates the request names: from the tree, the kubeconfig or the cluster. Any
/// error, or no answer within [`TIMEOUT`], is no candidates.
pub async fn lookup(request: &Request) -> Vec<Candidate> {
    match &request.source {
        Source::Fixed(candidates) => candidates.clone(),
        Source::Nothing => Vec::new(),
        Source::Lookup(Lookup::Contexts) => contexts(&request.global),
        Source::Lookup(lookup) => {
            match tokio::time::timeout(TIMEOUT, ask(lookup, &request.global)).await {
                Ok(Ok(candidates)) => candidates,
                Ok(Err(_)) | Err(_) => Vec::new(),
            }
        }
    }
}

async fn ask(lookup: &Lookup, global: &GlobalArgs) -> anyhow::Result<Vec<Candidate>> {
    let (client, namespace) = kubeconfig::client(global, Some(TIMEOUT)).await?;
    let candidates = match lookup {
        Lookup::Instances => {
            let api: Api<MySQL> = Api::namespaced(client, &namespace);
            let mut items = api.list(&ListParams::default()).await?.items;
            items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            items
                .into_iter()
                .filter_map(|m| {
                    let phase = m
                        .status
                        .as_ref()
                        .and_then(|s| s.phase)
                        .and_then(|p| serde_json::to_value(p).ok())
                        .and_then(|p| p.as_str().map(str::to_string))
                        .unwrap_or_default();
                    Some(Candidate::new(m.metadata.name?, phase))
                })
                .collect()
        }
        Lookup::Backups { instance } => {
            crate::reconcile::catalogue::read(&client, &namespace, instance)
                .await?
                .into_iter()
                .map(|entry| {
                    let verified = if entry.verified { "" } else { ", not verified" };
                    let description =
                        format!("{}, {}{verified}", entry.created, human_size(entry.size));
                    Candidate::new(entry.name, description)
                })
                .collect()
        }
        Lookup::Namespaces => {
            let api: Api<Namespace> = Api::all(client);
            let mut names: Vec<String> = api
                .list(&ListParams::default())
                .await?
                .items
                .into_iter()
                .filter_map(|n| n.metadata.name)
                .collect();
            names.sort();
            names.into_iter().map(|n| Candidate::new(n, "")).collect()
        }
        Lookup::Contexts => contexts(global),
    };
    Ok(candidates)
}

/// The kubeconfig's contexts, the current one first described as such.
fn contexts(global: &GlobalArgs) -> Vec<Candidate> {
    let config = match &global.kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    };
    let Ok(config) = config else {
        return Vec::new();
    };
    let current = config.current_context.clone();
    config
        .contexts
        .into_iter()
        .map(|c| {
            let description = if Some(&c.name) == current.as_ref() {
                "current context"
            } else {
                ""
            };
            Candidate::new(c.name, description)
        })
        .collect()
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut size = bytes as f64 / 1024.0;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysed(words: &[&str]) -> Request {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        analyse(&tree(), &GlobalArgs::default(), &words)
    }

    /// The candidates' values, names looked up answered by `names`.
    fn values_with(words: &[&str], names: &dyn Fn(&Lookup) -> Vec<&'static str>) -> Vec<String> {
        let request = analysed(words);
        let found = match &request.source {
            Source::Fixed(c) => c.clone(),
            Source::Lookup(l) => names(l)
                .into_iter()
                .map(|n| Candidate::new(n, ""))
                .collect(),
            Source::Nothing => Vec::new(),
        };
        finish(&request, found)
            .into_iter()
            .map(|c| c.value)
            .collect()
    }

    fn values(words: &[&str]) -> Vec<String> {
        values_with(words, &|_| Vec::new())
    }

    fn source(words: &[&str]) -> Source {
        analysed(words).source
    }

    #[test]
    fn subcommands_with_what_they_do_and_never_the_hidden_ones() {
        let request = analysed(&[""]);
        let Source::Fixed(candidates) = &request.source else {
            panic!("{:?}", request.source);
        };
        let names: Vec<&str> = candidates.iter().map(|c| c.value.as_str()).collect();
        for name in [
            "create",
            "delete",
            "backup",
            "restore",
            "status",
            "run-operator",
            "completions",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        assert!(!names.contains(&"crd"), "{names:?}");
        assert!(!names.contains(&NAME), "{names:?}");
        let backup = candidates
            .iter()
            .find(|c| c.value == "backup")
            .expect("backup");
        assert!(
            backup.description.starts_with("Back up an instance now"),
            "{backup:?}"
        );
        // No words at all reads as one empty word.
        assert_eq!(values(&[]), values(&[""]));
    }

    #[test]
    fn the_word_typed_so_far_filters() {
        assert_eq!(values(&["re"]), ["restore"]);
        assert_eq!(values(&["c"]), ["create", "completions"]);
        assert!(values(&["zz"]).is_empty());
        assert!(values(&["cr"]).iter().all(|v| v != "crd"));
    }

    #[test]
    fn names_of_existing_instances_for_the_commands_that_take_one() {
        for command in ["delete", "backup", "restore", "status"] {
            assert_eq!(
                source(&[command, ""]),
                Source::Lookup(Lookup::Instances),
                "{command}"
            );
        }
        // create makes a new name; the second positional of backup does not exist.
        assert_eq!(source(&["create", ""]), Source::Nothing);
        assert_eq!(source(&["backup", "a", ""]), Source::Nothing);
        let names = |_: &Lookup| vec!["mysql-instance", "shop-db", "other"];
        assert_eq!(values_with(&["backup", "s"], &names), ["shop-db"]);
        assert_eq!(values_with(&["status", ""], &names).len(), 3);
    }

    #[test]
    fn global_flags_among_the_words_say_where_to_look() {
        let request = analysed(&["backup", "--namespace", "shop", ""]);
        assert_eq!(request.source, Source::Lookup(Lookup::Instances));
        assert_eq!(request.global.namespace.as_deref(), Some("shop"));

        let request = analysed(&[
            "-n",
            "shop",
            "--context=kind",
            "delete",
            "--kubeconfig",
            "/k",
            "",
        ]);
        assert_eq!(request.source, Source::Lookup(Lookup::Instances));
        assert_eq!(request.global.namespace.as_deref(), Some("shop"));
        assert_eq!(request.global.context.as_deref(), Some("kind"));
        assert_eq!(request.global.kubeconfig, Some(PathBuf::from("/k")));

        let request = analysed(&["status", "-nshop", ""]);
        assert_eq!(request.global.namespace.as_deref(), Some("shop"));
        assert_eq!(request.source, Source::Lookup(Lookup::Instances));

        // Flags clap parsed before __complete stay unless the words say otherwise.
        let base = GlobalArgs {
            namespace: Some("base".into()),
            ..GlobalArgs::default()
        };
        let words = ["backup".to_string(), String::new()];
        assert_eq!(
            analyse(&tree(), &base, &words).global.namespace.as_deref(),
            Some("base")
        );
    }

    #[test]
    fn namespace_and_context_values() {
        assert_eq!(
            source(&["status", "-n", ""]),
            Source::Lookup(Lookup::Namespaces)
        );
        assert_eq!(source(&["-n", ""]), Source::Lookup(Lookup::Namespaces));
        assert_eq!(
            source(&["backup", "--namespace", "sh"]),
            Source::Lookup(Lookup::Namespaces)
        );
        assert_eq!(
            source(&["backup", "--context", ""]),
            Source::Lookup(Lookup::Contexts)
        );
        // --namespace=<TAB>: candidates keep the flag in front.
        let namespaces = |_: &Lookup| vec!["default", "shop"];
        assert_eq!(
            values_with(&["status", "--namespace=s"], &namespaces),
            ["--namespace=shop"]
        );
        // A value typed, the instance comes next.
        assert_eq!(
            source(&["status", "-n", "shop", ""]),
            Source::Lookup(Lookup::Instances)
        );
    }

    #[test]
    fn flags_of_the_current_command() {
        let flags = values(&["status", "--"]);
        for flag in [
            "--namespace",
            "--context",
            "--kubeconfig",
            "--all-namespaces",
            "--timeout",
            "--help",
        ] {
            assert!(
                flags.iter().any(|f| f == flag),
                "{flag} missing from {flags:?}"
            );
        }
        assert!(flags.iter().all(|f| f.starts_with("--")), "{flags:?}");
        assert_eq!(values(&["backup", "--w"]), ["--wait"]);
        assert_eq!(values(&["restore", "x", "--ba"]), ["--backup"]);
        // `-` alone offers the short forms too.
        let dash = values(&["status", "-"]);
        assert!(
            dash.contains(&"-n".to_string()) && dash.contains(&"-A".to_string()),
            "{dash:?}"
        );
        // Given flags are not offered again.
        assert!(!values(&["backup", "--wait", "--"]).contains(&"--wait".to_string()));
        assert!(!values(&["-n", "x", "status", "--"]).contains(&"--namespace".to_string()));
        // With descriptions from the help text.
        let request = analysed(&["backup", "--wa"]);
        let Source::Fixed(found) = &request.source else {
            panic!("{:?}", request.source);
        };
        let wait = found.iter().find(|c| c.value == "--wait").expect("--wait");
        assert!(!wait.description.is_empty(), "{wait:?}");
    }

    #[test]
    fn possible_values_of_value_enums() {
        assert_eq!(values(&["create", "x", "-o", ""]), ["yaml", "json", "name"]);
        assert_eq!(values(&["create", "x", "--output", "j"]), ["json"]);
        assert_eq!(values(&["create", "x", "--output=y"]), ["--output=yaml"]);
        assert_eq!(values(&["completions", ""]), ["bash", "zsh", "fish"]);
        assert_eq!(values(&["completions", "z"]), ["zsh"]);
        // --dry-run takes its value only after `=`: the next word is not its value.
        assert_eq!(
            source(&["create", "--dry-run", "-o", ""]),
            source(&["create", "-o", ""])
        );
        assert!(values(&["create", "--dry-run="]).contains(&"--dry-run=client".to_string()));
        // Free-form values: nothing to offer, and no file names (the :4 line).
        assert_eq!(source(&["create", "x", "--database", ""]), Source::Nothing);
        assert_eq!(source(&["backup", "x", "--timeout", ""]), Source::Nothing);
        assert_eq!(source(&["--kubeconfig", ""]), Source::Nothing);
    }

    #[test]
    fn backup_names_of_the_instance_being_restored() {
        assert_eq!(
            source(&["restore", "mysql-instance", "--backup", ""]),
            Source::Lookup(Lookup::Backups {
                instance: "mysql-instance".into()
            })
        );
        assert_eq!(
            source(&["-n", "shop", "restore", "db", "--backup="]),
            Source::Lookup(Lookup::Backups {
                instance: "db".into()
            })
        );
        // No instance yet: no backups to name.
        assert_eq!(source(&["restore", "--backup", ""]), Source::Nothing);
        let backups = |_: &Lookup| vec!["20261123T101500Z.sql.gz", "20261122T101500Z.sql.gz"];
        assert_eq!(
            values_with(&["restore", "db", "--backup", "2026112"], &backups),
            ["20261123T101500Z.sql.gz", "20261122T101500Z.sql.gz"]
        );
        assert_eq!(
            values_with(&["restore", "db", "--backup=20261123"], &backups),
            ["--backup=20261123T101500Z.sql.gz"]
        );
    }

    #[test]
    fn unknown_words_complete_nothing_and_help_names_subcommands() {
        assert_eq!(source(&["no-such-command", ""]), Source::Nothing);
        assert_eq!(values(&["help", "ba"]), ["backup"]);
        assert!(!values(&["help", ""]).contains(&"crd".to_string()));
        // After `--` every word is positional: no flags.
        assert_eq!(
            source(&["backup", "--", ""]),
            Source::Lookup(Lookup::Instances)
        );
        assert_eq!(
            source(&["backup", "--", "-x"]),
            Source::Lookup(Lookup::Instances)
        );
    }

    #[test]
    fn the_answer_is_cobras() {
        let answer = render(&[
            Candidate::new("backup", "Back up an instance now"),
            Candidate::new("mysql-instance", ""),
            Candidate::new("a\tb", "two\nlines"),
        ]);
        assert_eq!(
            answer,
            "backup\tBack up an instance now\nmysql-instance\na b\ttwo lines\n:4\n"
        );
        assert_eq!(render(&[]), ":4\n");
    }

    #[test]
    fn sizes_in_binary_units_for_the_backup_descriptions() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(2048), "2.0 KiB");
        assert_eq!(human_size(5 * 1024 * 1024 + 512 * 1024), "5.5 MiB");
    }

    #[tokio::test]
    async fn an_unreachable_cluster_is_no_candidates_and_quick() {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n"
            ),
        )
        .expect("kubeconfig");
        let global = GlobalArgs {
            kubeconfig: Some(kubeconfig),
            ..GlobalArgs::default()
        };
        let started = std::time::Instant::now();
        let words = ["backup".to_string(), String::new()];
        assert_eq!(answer(&global, &words).await, ":4\n");
        assert!(started.elapsed() < TIMEOUT + Duration::from_secs(1));
        // The kubeconfig's contexts need no cluster.
        let words = ["--context".to_string(), String::new()];
        assert_eq!(answer(&global, &words).await, "c\tcurrent context\n:4\n");
    }
}
