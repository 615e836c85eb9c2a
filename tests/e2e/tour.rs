//! A person's view: `kubectl mysql create --wait` and `backup --wait` typed into a shell in
//! tmux (a real terminal, so the spinner draws), the pane captured while they run and when
//! they end. What stays on screen must read well: one final line per wait, no spinner
//! frames left behind, no escape sequences. `scripts/record-tour.sh` records the same for
//! docs/tour.md.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use testkit::node::NodeStandIn;

use crate::cluster::{Cluster, install_crd};
use crate::plugin::Plugin;

/// A tmux server of its own (private socket) with one shell, `$ ` as its prompt.
struct Tmux {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

/// Wide enough that no line wraps (the backup line with its sha256 is about 120).
const WIDTH: u16 = 160;

impl Tmux {
    /// tmux is needed: in CI (`CI` set) its absence fails the test, elsewhere it skips
    /// with one loud line.
    fn start(plugin: &Plugin) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set and tmux is missing: apt-get install -y tmux"
            );
            eprintln!(
                "\n*** SKIPPING the tmux test: install tmux (`apt-get install -y tmux`) ***\n"
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("tmux-")
            .tempdir()
            .expect("tempdir");
        let tmux = Self {
            socket: dir.path().join("socket"),
            _dir: dir,
        };
        // The server is private, so the shell gets exactly this environment.
        let status = Command::new("tmux")
            .arg("-S")
            .arg(&tmux.socket)
            // -u: UTF-8 whatever the locale says (the spinner and the check mark).
            .args(["-u", "-f", "/dev/null", "new-session", "-d", "-s", "tour"])
            .args(["-x", &WIDTH.to_string(), "-y", "50"])
            .args(["bash", "--norc", "--noprofile"])
            .env_clear()
            .env("PATH", plugin.path_env())
            .env("KUBECONFIG", plugin.kubeconfig())
            .env("HOME", plugin.bin_dir())
            .env("TERM", "xterm-256color")
            .env("LANG", "C.UTF-8")
            .env("PS1", "$ ")
            .current_dir(crate::cli::repo())
            .stdin(Stdio::null())
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux new-session failed");
        Some(tmux)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Type a command line and press Enter.
    fn type_line(&self, line: &str) {
        self.tmux(&["send-keys", "-t", "tour", "-l", line]);
        self.tmux(&["send-keys", "-t", "tour", "Enter"]);
    }

    /// What the pane shows, trailing blanks dropped. (Not `-J`: a line indicatif drew can
    /// be marked wrapped, and the prompt under it would be joined to it.)
    fn screen(&self) -> String {
        let text = self.tmux(&["capture-pane", "-p", "-t", "tour"]);
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        let end = lines
            .iter()
            .rposition(|l| !l.is_empty())
            .map_or(0, |i| i + 1);
        lines[..end].join("\n")
    }

    /// Run a command line on a cleared screen; every distinct screen while it ran, the
    /// last one with the prompt back.
    fn run(&self, line: &str, limit: Duration) -> Vec<String> {
        self.type_line("clear");
        let started = Instant::now();
        while self.screen() != "$" {
            assert!(started.elapsed() < limit, "clear: {}", self.screen());
            std::thread::sleep(Duration::from_millis(20));
        }
        self.type_line(line);
        let mut frames: Vec<String> = Vec::new();
        loop {
            let screen = self.screen();
            if frames.last() != Some(&screen) {
                frames.push(screen.clone());
            }
            // Done when the prompt is back under the command's output.
            if screen.lines().count() > 1 && screen.lines().last() == Some("$") {
                return frames;
            }
            assert!(
                started.elapsed() < limit,
                "{line} did not finish within {limit:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(40));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// A line the spinner draws: a braille frame, the elapsed time, the step.
fn spinner_line(line: &str) -> bool {
    let mut chars = line.chars();
    matches!(chars.next(), Some('\u{2800}'..='\u{28ff}'))
        && chars.as_str().starts_with(" [")
        && line.contains("s] ")
}

/// What must hold for every screen: no escape sequences printed as text, at most one
/// spinner line, and it is the last line.
fn reads_well(screen: &str) {
    for garbage in ['\u{1b}', '\u{7}', '\r'] {
        assert!(
            !screen.contains(garbage),
            "{garbage:?} on screen:\n{screen}"
        );
    }
    for sequence in ["[2K", "[1A", "[?25"] {
        assert!(
            !screen.contains(sequence),
            "{sequence} on screen:\n{screen}"
        );
    }
    let spinners: Vec<usize> = screen
        .lines()
        .enumerate()
        .filter(|(_, l)| spinner_line(l))
        .map(|(i, _)| i)
        .collect();
    assert!(spinners.len() <= 1, "spinner lines left behind:\n{screen}");
    if let Some(&at) = spinners.first() {
        assert_eq!(
            at + 1,
            screen.lines().count(),
            "the spinner is not last:\n{screen}"
        );
    }
}

/// The final screen without its prompt, as lines, after the command line.
fn output_of<'a>(command: &str, screen: &'a str) -> Vec<&'a str> {
    let lines: Vec<&str> = screen.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(format!("$ {command}").as_str()),
        "{screen}"
    );
    assert_eq!(lines.last().copied(), Some("$"), "{screen}");
    lines[1..lines.len() - 1].to_vec()
}

/// `[3s]` → the rest of the line after it, for lines that start with `mark`.
fn after_elapsed(mark: char, line: &str) -> Option<&str> {
    let rest = line.strip_prefix(mark)?.strip_prefix(" [")?;
    let (seconds, rest) = rest.split_once("s] ")?;
    seconds.parse::<u32>().ok()?;
    Some(rest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_backup_wait_read_well_in_a_terminal() {
    let Some(_) = testkit::require_mariadb!() else {
        return;
    };
    let cluster = Cluster::new("tour").await;
    install_crd(&cluster.client).await;
    let node = NodeStandIn::start_with_mysql(cluster.client.clone());
    let plugin = Plugin::new(Some(&cluster));
    let Some(tmux) = Tmux::start(&plugin) else {
        return;
    };
    let limit = Duration::from_secs(90);

    let create = "kubectl mysql create mysql-instance --database otus-database --storage-size 1Gi --generate-password --wait";
    let frames = tokio::task::block_in_place(|| tmux.run(create, limit));
    frames.iter().for_each(|f| reads_well(f));
    // While it waited, the spinner said what it was waiting for.
    let steps: Vec<&str> = frames
        .iter()
        .filter_map(|f| f.lines().last())
        .filter(|l| spinner_line(l))
        .collect();
    assert!(
        steps
            .iter()
            .any(|l| l.contains("Provisioning: waiting for Deployment \"mysql-instance\"")),
        "{steps:#?}"
    );
    let last = frames.last().expect("a screen");
    let shown = output_of(create, last);
    assert_eq!(shown.len(), 2, "{last}");
    assert!(
        shown[0].starts_with("mysql.otus.homework/mysql-instance created ("),
        "{last}"
    );
    assert_eq!(
        after_elapsed('✓', shown[1]),
        Some("mysql-instance is Ready: mysql-instance created without restore-job"),
        "{last}"
    );

    // The generated password stays in its Secret: never on screen.
    let secret = Api::<Secret>::namespaced(cluster.client.clone(), &cluster.namespace)
        .get("mysql-instance-credentials")
        .await
        .expect("the generated password's Secret");
    let password = secret
        .data
        .and_then(|d| d.get("password").cloned())
        .map(|p| String::from_utf8_lossy(&p.0).into_owned())
        .filter(|p| !p.is_empty())
        .expect("a generated password");
    assert!(
        frames.iter().all(|f| !f.contains(&password)),
        "the generated password was shown"
    );

    let backup = "kubectl mysql backup mysql-instance --wait";
    let frames = tokio::task::block_in_place(|| tmux.run(backup, limit));
    frames.iter().for_each(|f| reads_well(f));
    assert!(
        frames.iter().all(|f| !f.contains(&password)),
        "the password was shown"
    );
    let last = frames.last().expect("a screen");
    let shown = output_of(backup, last);
    assert_eq!(shown.len(), 2, "{last}");
    assert_eq!(
        after_elapsed('✓', shown[0]),
        Some("backup-mysql-instance-job: done"),
        "{last}"
    );
    let words: Vec<&str> = shown[1].split_whitespace().collect();
    assert!(
        words.len() == 6
            && words[0] == "backup"
            && words[1].ends_with(".sql.gz")
            && words[4] == "sha256",
        "{last}"
    );

    drop(tmux);
    drop(node);
    cluster.cleanup().await;
}
