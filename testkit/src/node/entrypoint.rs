//! The official mysql image's entrypoint on a first start (docker-library/mysql
//! `docker-entrypoint.sh`, the same for 8.4 and 9.x), played with MariaDB's programs so
//! that the tests meet what a real cluster gives, its faults included:
//!
//! 1. `mysqld --initialize-insecure`: here `mariadb-install-db`, then only what MySQL
//!    makes is kept (root@localhost without a password).
//! 2. A temporary server without networking, on a socket (`docker_temp_server_start`).
//! 3. `docker_setup_db`: its SQL, through the client, with `MYSQL_ROOT_PASSWORD` pasted
//!    into it unescaped; `root@'${MYSQL_ROOT_HOST}'` (default `%`) unless that is
//!    `localhost`; then `CREATE DATABASE` through the client with the option file
//!    `_mysql_passfile` writes: `[client]` / `password="${MYSQL_ROOT_PASSWORD}"`, also
//!    unescaped. The entrypoint runs under `set -e`: the first failure ends it.
//! 4. The temporary server stops (`docker_temp_server_stop`).
//!
//! So a `'` in the password breaks the first start half-way, and the next start skips
//! the setup for good (the `mysql` directory exists): root@localhost keeps an empty
//! password and there is no root@'%'. A `\` changes what the option file says.
//!
//! Differences from MySQL, each on purpose: the client reads only the pass file
//! (`--defaults-file`, not `--defaults-extra-file`: the test machine's own my.cnf stays
//! out); the time zone tables are not loaded (`MYSQL_INITDB_SKIP_TZINFO`, as the product
//! needs none); an error is reported without its text, which can quote the password.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::mariadb::{Programs, ServerProcess};

/// What the entrypoint reads from the environment.
pub(super) struct Environment {
    pub password: String,
    pub database: String,
    /// `MYSQL_ROOT_HOST`, `%` when unset.
    pub root_host: String,
}

/// Initialise `datadir` (new: no `mysql` directory) as the entrypoint does. `extra` are
/// server options (the image's version, the container's args): the temporary server gets
/// them, as the entrypoint's `docker_temp_server_start "$@"` passes them on.
pub(super) fn first_start(
    programs: &Programs,
    datadir: &Path,
    run_dir: &Path,
    env: &Environment,
    extra: &[String],
) -> Result<(), String> {
    if env.password.is_empty() {
        return Err("Database is uninitialized and MYSQL_ROOT_PASSWORD is empty".into());
    }
    crate::mariadb::install_db(&programs.install_db, datadir)?;
    let init_dir = run_dir.join("init");
    std::fs::create_dir_all(&init_dir)
        .map_err(|e| format!("cannot make {}: {e}", init_dir.display()))?;
    let mut options = vec!["--skip-networking".to_string()];
    options.extend_from_slice(extra);
    // Port 0: no TCP at all, the socket only.
    let mut server = ServerProcess::spawn(&programs.server, datadir, &init_dir, 0, &options)?;
    let client = Client {
        program: programs.client.clone(),
        socket: init_dir.join("mysqld.sock"),
        passfile: init_dir.join("passfile"),
    };
    let done = client
        .wait_until_up(&mut server)
        .and_then(|()| client.initialize_insecure())
        .and_then(|()| client.setup_db(env));
    // `docker_temp_server_stop`, whatever happened (a failed setup leaves the datadir
    // as it is, as the real container does when it exits).
    server.stop();
    let _ = std::fs::remove_file(&client.passfile);
    done
}

struct Client {
    program: PathBuf,
    socket: PathBuf,
    /// Where `_mysql_passfile`'s text goes (the entrypoint uses a process substitution).
    passfile: PathBuf,
}

impl Client {
    fn wait_until_up(&self, server: &mut ServerProcess) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if self.run(None, "SELECT 1").is_ok() {
                return Ok(());
            }
            if !server.is_running() {
                return Err(format!(
                    "the temporary server exited: {}",
                    server.error_log_tail()
                ));
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err("the temporary server did not answer within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What `--initialize-insecure` leaves and `mariadb-install-db` adds to: MariaDB's
    /// extra root accounts (127.0.0.1, ::1, the host name) go. Unlogged (with `--log-bin`
    /// among the pod's options): they stand in for what `--initialize-insecure` makes, not
    /// for statements the entrypoint sends.
    fn initialize_insecure(&self) -> Result<(), String> {
        self.run(
            None,
            "SET @@SESSION.SQL_LOG_BIN=0;\n\
             DELETE FROM mysql.global_priv WHERE NOT (User IN ('root', 'mariadb.sys') AND Host = 'localhost');\n\
             DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';\n\
             FLUSH PRIVILEGES;\n",
        )
    }

    /// `docker_setup_db`, as the entrypoint writes it.
    fn setup_db(&self, env: &Environment) -> Result<(), String> {
        let password = &env.password;
        let host = &env.root_host;
        let root_create = if !host.is_empty() && host != "localhost" {
            format!(
                "CREATE USER 'root'@'{host}' IDENTIFIED BY '{password}' ;\n\
                 GRANT ALL ON *.* TO 'root'@'{host}' WITH GRANT OPTION ;\n"
            )
        } else {
            String::new()
        };
        let sql = format!(
            "-- enable autocommit explicitly (in case it was disabled globally)\n\
             SET autocommit = 1;\n\
             SET @@SESSION.SQL_LOG_BIN=0;\n\
             ALTER USER 'root'@'localhost' IDENTIFIED BY '{password}' ;\n\
             GRANT ALL ON *.* TO 'root'@'localhost' WITH GRANT OPTION ;\n\
             FLUSH PRIVILEGES ;\n\
             {root_create}\
             DROP DATABASE IF EXISTS test ;\n"
        );
        // `--dont-use-mysql-root-password`: root has none yet.
        self.run(None, &sql)?;
        if !env.database.is_empty() {
            let create = format!("CREATE DATABASE IF NOT EXISTS `{}` ;\n", env.database);
            self.run(Some(password), &create)?;
        }
        Ok(())
    }

    /// `docker_process_sql`: the SQL on stdin, with `_mysql_passfile`'s option file
    /// (empty without a password). Errors say the client's error code and line only.
    fn run(&self, password: Option<&str>, sql: &str) -> Result<(), String> {
        let text = match password {
            Some(p) => format!("[client]\npassword=\"{p}\"\n"),
            None => String::new(),
        };
        write_private(&self.passfile, &text)?;
        let child = Command::new(&self.program)
            .arg(format!("--defaults-file={}", self.passfile.display()))
            .args(["--protocol=socket", "-uroot", "-hlocalhost"])
            .arg(format!("--socket={}", self.socket.display()))
            .args(["--comments", "--database=mysql"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run the client: {e}"));
        let output = child.and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(sql.as_bytes());
            }
            child
                .wait_with_output()
                .map_err(|e| format!("the client: {e}"))
        });
        let _ = std::fs::remove_file(&self.passfile);
        let output = output?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "the entrypoint's setup failed: {}",
            error_code(
                (stderr.lines())
                    .find(|l| l.starts_with("ERROR"))
                    .unwrap_or("the client failed")
            )
        ))
    }
}

/// `ERROR 1064 (42000) at line 5` of a client error line, without the message after it
/// (a syntax error quotes the statement, and so the password).
fn error_code(line: &str) -> &str {
    match line.find(": ") {
        Some(end) => &line[..end],
        None => line,
    }
}

/// `text` into `file`, readable by its owner only (as a process substitution is).
fn write_private(file: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(file);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_error_is_reported_without_the_statement_it_quotes() {
        let line = "ERROR 1064 (42000) at line 5: You have an error in your SQL syntax; check the manual near 's' ;";
        assert_eq!(super::error_code(line), "ERROR 1064 (42000) at line 5");
    }
}
