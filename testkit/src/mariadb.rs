//! A private MariaDB server for tests: Debian's `mariadbd` with its own temporary datadir on
//! a free 127.0.0.1 port, started once per test binary and stopped when the binary exits.
//!
//! In CI (`CI` set) a missing server is a test failure; elsewhere the tests that need it
//! skip with one loud line saying how to enable them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running server. Connect as `root` without a password over TCP.
#[derive(Debug)]
pub struct MariaDb {
    pub host: String,
    pub port: u16,
    client: PathBuf,
    /// Kept so the directory lives as long as the server; the watchdog removes it too.
    _datadir: PathBuf,
}

const HOW_TO_ENABLE: &str = "install Debian's mariadb-server and mariadb-client (`apt-get install -y mariadb-server mariadb-client`) to run them";

/// The binary's server, started on first use. `None` (after one loud line) when MariaDB is
/// not installed and `CI` is unset; a panic when it is set, so CI never skips silently.
pub fn shared() -> Option<&'static MariaDb> {
    static SERVER: OnceLock<Result<MariaDb, String>> = OnceLock::new();
    match SERVER.get_or_init(MariaDb::start) {
        Ok(server) => Some(server),
        Err(reason) if std::env::var_os("CI").is_some() => {
            panic!("CI is set and MariaDB tests cannot run: {reason}; {HOW_TO_ENABLE}")
        }
        Err(reason) => {
            static WARNED: OnceLock<()> = OnceLock::new();
            WARNED.get_or_init(|| {
                // Straight to the process's stderr: libtest captures `eprintln!` of passing tests.
                let line = format!("\n*** SKIPPING MariaDB tests: {reason}; {HOW_TO_ENABLE} ***\n");
                let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            });
            None
        }
    }
}

/// `let Some(db) = require_mariadb!() else { return };` at the top of a test.
#[macro_export]
macro_rules! require_mariadb {
    () => {
        $crate::mariadb::shared()
    };
}

fn find(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
}

/// A port nothing listens on right now (another process may take it before it is used).
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

impl MariaDb {
    fn start() -> Result<Self, String> {
        let programs = Programs::find()?;
        // Kept on disk (not a TempDir guard): statics are never dropped, so the watchdog
        // below removes it once the server has stopped.
        let datadir = tempfile::Builder::new()
            .prefix("kubectl-mysql-mariadb-")
            .tempdir()
            .map_err(|e| format!("cannot make a datadir: {e}"))?
            .keep();
        install_db(&programs.install_db, &datadir.join("data"))?;
        let (server, client) = (programs.server, programs.client);
        let port = free_port()?;
        spawn_with_watchdog(&server, &datadir, port)?;
        let db = MariaDb {
            host: "127.0.0.1".into(),
            port,
            client,
            _datadir: datadir,
        };
        db.wait_until_ready(Duration::from_secs(30))?;
        Ok(db)
    }

    fn wait_until_ready(&self, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        loop {
            match self.query("SELECT 1") {
                Ok(out) if out.trim() == "1" => return Ok(()),
                Ok(_) | Err(_) if started.elapsed() < limit => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(out) => return Err(format!("unexpected answer to SELECT 1: {out}")),
                Err(e) => return Err(format!("the server did not answer within {limit:?}: {e}")),
            }
        }
    }

    /// Run SQL as root with no default database; tab-separated rows without headers.
    pub fn query(&self, sql: &str) -> Result<String, String> {
        self.run(None, sql)
    }

    /// Run SQL as root in `database`; tab-separated rows without headers.
    pub fn query_in(&self, database: &str, sql: &str) -> Result<String, String> {
        self.run(Some(database), sql)
    }

    fn run(&self, database: Option<&str>, sql: &str) -> Result<String, String> {
        let mut command = Command::new(&self.client);
        command
            .args([
                "--no-defaults",
                "--protocol=TCP",
                "--batch",
                "--skip-column-names",
                "-uroot",
            ])
            .arg(format!("--host={}", self.host))
            .arg(format!("--port={}", self.port))
            .args(["-e", sql]);
        if let Some(db) = database {
            command.arg(format!("--database={db}"));
        }
        let out = command
            .output()
            .map_err(|e| format!("cannot run mariadb: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

/// The servers use utf8mb4 as MySQL 8's default character set (MariaDB's is latin1), so
/// the seed's Cyrillic text is stored as it would be on the official image.
///
/// Start the server under a small shell watchdog that stops it (and removes the datadir)
/// as soon as this test process is gone, however the process ends.
fn spawn_with_watchdog(server: &Path, datadir: &Path, port: u16) -> Result<(), String> {
    const WATCHDOG: &str = r#"
"$SERVER" --no-defaults --datadir="$DIR/data" --user=root --bind-address=127.0.0.1 \
  --port="$PORT" --socket="$DIR/mysqld.sock" --pid-file="$DIR/mysqld.pid" \
  --skip-name-resolve --log-error="$DIR/error.log" \
  --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci &
srv=$!
trap 'kill "$srv" 2>/dev/null; wait "$srv"; rm -rf "$DIR"; exit' INT TERM HUP
while kill -0 "$OWNER" 2>/dev/null && kill -0 "$srv" 2>/dev/null; do sleep 0.2; done
kill "$srv" 2>/dev/null; wait "$srv"; rm -rf "$DIR"
"#;
    Command::new("sh")
        .args(["-c", WATCHDOG])
        .env("SERVER", server)
        .env("DIR", datadir)
        .env("PORT", port.to_string())
        .env("OWNER", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("cannot start mariadbd: {e}"))
}

/// Debian's MariaDB programs, found where [`shared`] finds them.
#[derive(Clone, Debug)]
pub struct Programs {
    pub server: PathBuf,
    pub install_db: PathBuf,
    pub client: PathBuf,
}

impl Programs {
    pub fn find() -> Result<Programs, String> {
        Ok(Programs {
            server: find("mariadbd").ok_or("mariadbd is not installed")?,
            install_db: find("mariadb-install-db").ok_or("mariadb-install-db is not installed")?,
            client: find("mariadb").ok_or("the mariadb client is not installed")?,
        })
    }
}

/// `mariadb-install-db` into `datadir`: the system tables, and root@localhost with an
/// empty password (the official images' entrypoint then sets one).
pub fn install_db(install_db: &Path, datadir: &Path) -> Result<(), String> {
    // Its own tmpdir: concurrent installs sharing /tmp trip over each other's temporary
    // tables ("Unknown table 'mysql.tmp_user_sys'").
    let tmpdir = tempfile::Builder::new()
        .prefix("mariadb-install-db-")
        .tempdir()
        .map_err(|e| format!("cannot make a tmpdir: {e}"))?;
    let install = Command::new(install_db)
        .args([
            "--no-defaults",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ])
        .arg(format!("--datadir={}", datadir.display()))
        .arg(format!("--tmpdir={}", tmpdir.path().display()))
        .output()
        .map_err(|e| format!("cannot run mariadb-install-db: {e}"))?;
    if install.status.success() {
        return Ok(());
    }
    // The first error line says why; the last is only "Aborting".
    let output = String::from_utf8_lossy(&install.stderr).into_owned()
        + &String::from_utf8_lossy(&install.stdout);
    let why = (output.lines())
        .find(|l| l.contains("ERROR"))
        .or_else(|| output.lines().last())
        .unwrap_or_default();
    Err(format!("mariadb-install-db failed: {why}"))
}

/// Run SQL over TCP on 127.0.0.1 as `user`; the password goes through `MYSQL_PWD`, never
/// an argument. Tab-separated rows without headers; the client's error line on failure.
pub fn query_tcp(
    client: &Path,
    port: u16,
    user: &str,
    password: &str,
    database: Option<&str>,
    sql: &str,
) -> Result<String, String> {
    let mut command = Command::new(client);
    command
        .args(["--no-defaults", "--protocol=TCP", "--host=127.0.0.1"])
        .args(["--batch", "--skip-column-names", "--connect-timeout=5"])
        .arg(format!("--port={port}"))
        .arg(format!("--user={user}"))
        .env("MYSQL_PWD", password)
        .args(["-e", sql]);
    if let Some(db) = database {
        command.arg(format!("--database={db}"));
    }
    let out = command
        .output()
        .map_err(|e| format!("cannot run mariadb: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Send `signal` (a name such as TERM) to a process, or to a process group when `pid` is
/// negative. Through sh's `kill`: this crate has no libc binding of its own.
pub fn send_signal(pid: i64, signal: &str) {
    let _ = Command::new("sh")
        .args(["-c", r#"kill -s "$1" -- "$2" 2>/dev/null"#, "sh", signal])
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .status();
}

/// A `mariadbd` on a data directory the caller keeps (the data outlives the server), under
/// the watchdog idea of [`shared`]'s: it stops the server once this test process is gone,
/// however the process ends. [`ServerProcess::stop`] (or drop) stops it cleanly: SIGTERM to
/// the watchdog, which forwards it and waits for the server to exit.
#[derive(Debug)]
pub struct ServerProcess {
    watchdog: std::process::Child,
    port: u16,
    run_dir: PathBuf,
}

impl ServerProcess {
    /// Start `server` on `datadir`, listening on 127.0.0.1:`port`, with its socket, pid
    /// file and error log in `run_dir`, plus `extra` options (such as `--init-file=...`).
    pub fn spawn(
        server: &Path,
        datadir: &Path,
        run_dir: &Path,
        port: u16,
        extra: &[String],
    ) -> Result<ServerProcess, String> {
        const WATCHDOG: &str = r#"
"$SERVER" --no-defaults --datadir="$DATA" --user=root --bind-address=127.0.0.1 \
  --port="$PORT" --socket="$RUN/mysqld.sock" --pid-file="$RUN/mysqld.pid" \
  --skip-name-resolve --log-error="$RUN/error.log" --tmpdir="$RUN/tmp" \
  --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci "$@" &
srv=$!
trap 'kill "$srv" 2>/dev/null; wait "$srv"; exit' INT TERM HUP
while kill -0 "$OWNER" 2>/dev/null && kill -0 "$srv" 2>/dev/null; do sleep 0.2; done
kill "$srv" 2>/dev/null; wait "$srv"
"#;
        std::fs::create_dir_all(run_dir.join("tmp"))
            .map_err(|e| format!("cannot make {}: {e}", run_dir.display()))?;
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "sh"])
            .args(extra)
            .env("SERVER", server)
            .env("DATA", datadir)
            .env("RUN", run_dir)
            .env("PORT", port.to_string())
            .env("OWNER", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start mariadbd: {e}"))?;
        Ok(ServerProcess {
            watchdog,
            port,
            run_dir: run_dir.to_path_buf(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server (its watchdog) still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.watchdog.try_wait(), Ok(None))
    }

    /// The last lines of the server's error log, for a message saying why it stopped.
    pub fn error_log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.run_dir.join("error.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }

    /// SIGKILL the server itself (not its watchdog), as a crash or the OOM killer ends
    /// mysqld: no clean shutdown, InnoDB recovers at the next start. Whether it ran.
    pub fn kill_server(&mut self) -> bool {
        let pid = std::fs::read_to_string(self.run_dir.join("mysqld.pid")).unwrap_or_default();
        match pid.trim().parse::<i64>() {
            Ok(pid) if self.is_running() => {
                send_signal(pid, "KILL");
                true
            }
            _ => false,
        }
    }

    /// Ask the server to shut down (SIGTERM), without waiting.
    pub fn terminate(&mut self) {
        if self.is_running() {
            send_signal(i64::from(self.watchdog.id()), "TERM");
        }
    }

    /// Shut the server down cleanly and wait until it has exited.
    pub fn stop(&mut self) {
        self.terminate();
        let _ = self.watchdog.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_server_defaults_to_utf8mb4_as_mysql_8_does() {
        let Some(server) = super::shared() else {
            return;
        };
        let answer = server
            .query("SELECT @@character_set_server, @@collation_server")
            .expect("query");
        assert_eq!(answer.trim(), "utf8mb4\tutf8mb4_general_ci");
    }
}
