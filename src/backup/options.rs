//! Every option the scripts pass to mysqld, mysql, mysqldump and mysqladmin (the Job
//! scripts and the server's probes), listed once with where MySQL 8.4, MySQL 9.x and
//! MariaDB document it. A unit test reads the scripts and fails on an option that is not
//! here, so a new one is checked against both families before it ships.

/// A program the scripts run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `mysqld` / `mariadbd`: the delete-backup's temporary server.
    Server,
    /// `mysql` / `mariadb`: the restore and the readiness probe.
    Client,
    /// `mysqldump` / `mariadb-dump`.
    Dump,
    /// `mysqladmin` / `mariadb-admin`: waiting for the temporary server, liveness.
    Admin,
    /// `mysqlbinlog` / `mariadb-binlog`: the replay of a restore to a point in time.
    Binlog,
}

/// One option and where each family documents it.
#[derive(Debug)]
pub struct ToolOption {
    /// As written, without its value (`--user`, `-h`).
    pub name: &'static str,
    pub tools: &'static [Tool],
    /// The MySQL manual's page and anchor, the same in 8.4 and 9.x.
    pub mysql: &'static str,
    /// The MariaDB knowledge base's page; `None` where MariaDB lacks the option (then the
    /// script must only use it when the tool says it has it).
    pub mariadb: Option<&'static str>,
}

const MYSQL_8_4: &str = "https://dev.mysql.com/doc/refman/8.4/en/";
const MYSQL_9: &str = "https://dev.mysql.com/doc/refman/9.7/en/";
const MARIADB: &str = "https://mariadb.com/kb/en/";

impl ToolOption {
    pub fn mysql_8_4(&self) -> String {
        format!("{MYSQL_8_4}{}", self.mysql)
    }
    pub fn mysql_9(&self) -> String {
        format!("{MYSQL_9}{}", self.mysql)
    }
    pub fn mariadb(&self) -> Option<String> {
        self.mariadb.map(|page| format!("{MARIADB}{page}"))
    }
}

use Tool::{Admin, Binlog, Client, Dump, Server};

const CLIENTS: &[Tool] = &[Client, Dump, Admin];

pub const OPTIONS: &[ToolOption] = &[
    // Option files: the first option of every tool that logs in.
    ToolOption {
        name: "--defaults-extra-file",
        tools: CLIENTS,
        mysql: "option-file-options.html#option_general_defaults-extra-file",
        mariadb: Some("configuring-mariadb-with-option-files/#global-options"),
    },
    ToolOption {
        name: "--no-defaults",
        tools: &[Server],
        mysql: "option-file-options.html#option_general_no-defaults",
        mariadb: Some("configuring-mariadb-with-option-files/#global-options"),
    },
    // Connection.
    ToolOption {
        name: "--host",
        tools: &[Client, Dump],
        mysql: "connection-options.html#option_general_host",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    ToolOption {
        name: "-h",
        tools: &[Client, Admin],
        mysql: "connection-options.html#option_general_host",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    ToolOption {
        name: "--port",
        tools: &[Client, Dump],
        mysql: "connection-options.html#option_general_port",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    ToolOption {
        name: "--protocol",
        tools: CLIENTS,
        mysql: "connection-options.html#option_general_protocol",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    ToolOption {
        name: "--socket",
        tools: &[Server, Dump, Admin],
        mysql: "connection-options.html#option_general_socket",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    ToolOption {
        name: "--user",
        tools: &[Server, Client, Dump, Admin],
        mysql: "connection-options.html#option_general_user",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    ToolOption {
        name: "-u",
        tools: &[Client],
        mysql: "connection-options.html#option_general_user",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    ToolOption {
        name: "--connect-timeout",
        tools: &[Admin],
        mysql: "mysqladmin.html#option_mysqladmin_connect-timeout",
        mariadb: Some("mariadb-admin/#options"),
    },
    ToolOption {
        name: "--connect-timeout",
        tools: &[Client],
        mysql: "mysql-command-options.html#option_mysql_connect-timeout",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    // Queries whose answer a script reads: tab-separated, no header line.
    ToolOption {
        name: "--batch",
        tools: &[Client],
        mysql: "mysql-command-options.html#option_mysql_batch",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    ToolOption {
        name: "--skip-column-names",
        tools: &[Client],
        mysql: "mysql-command-options.html#option_mysql_skip-column-names",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    // The replay: binary data in the decoded log must reach the server as it is.
    ToolOption {
        name: "--binary-mode",
        tools: &[Client],
        mysql: "mysql-command-options.html#option_mysql_binary-mode",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    // The client.
    ToolOption {
        name: "-e",
        tools: &[Client],
        mysql: "mysql-command-options.html#option_mysql_execute",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    ToolOption {
        name: "--database",
        tools: &[Client],
        mysql: "mysql-command-options.html#option_mysql_database",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    ToolOption {
        name: "--default-character-set",
        tools: &[Client, Dump],
        mysql: "mysql-command-options.html#option_mysql_default-character-set",
        mariadb: Some("mariadb-command-line-client/#options"),
    },
    // The dump.
    ToolOption {
        name: "--help",
        tools: &[Dump],
        mysql: "mysqldump.html#option_mysqldump_help",
        mariadb: Some("mariadb-dump/#options"),
    },
    ToolOption {
        name: "--single-transaction",
        tools: &[Dump],
        mysql: "mysqldump.html#option_mysqldump_single-transaction",
        mariadb: Some("mariadb-dump/#options"),
    },
    ToolOption {
        name: "--routines",
        tools: &[Dump],
        mysql: "mysqldump.html#option_mysqldump_routines",
        mariadb: Some("mariadb-dump/#options"),
    },
    ToolOption {
        name: "--triggers",
        tools: &[Dump],
        mysql: "mysqldump.html#option_mysqldump_triggers",
        mariadb: Some("mariadb-dump/#options"),
    },
    ToolOption {
        name: "--events",
        tools: &[Dump],
        mysql: "mysqldump.html#option_mysqldump_events",
        mariadb: Some("mariadb-dump/#options"),
    },
    ToolOption {
        name: "--no-tablespaces",
        tools: &[Dump],
        mysql: "mysqldump.html#option_mysqldump_no-tablespaces",
        mariadb: Some("mariadb-dump/#options"),
    },
    ToolOption {
        name: "--hex-blob",
        tools: &[Dump],
        mysql: "mysqldump.html#option_mysqldump_hex-blob",
        mariadb: Some("mariadb-dump/#options"),
    },
    ToolOption {
        name: "--set-gtid-purged",
        tools: &[Dump],
        mysql: "mysqldump.html#option_mysqldump_set-gtid-purged",
        // MySQL only: the script passes it when `--help` lists it.
        mariadb: None,
    },
    // The temporary server of the delete-backup.
    ToolOption {
        name: "--datadir",
        tools: &[Server],
        mysql: "server-system-variables.html#sysvar_datadir",
        mariadb: Some("server-system-variables/#datadir"),
    },
    ToolOption {
        name: "--skip-networking",
        tools: &[Server],
        mysql: "server-system-variables.html#sysvar_skip_networking",
        mariadb: Some("server-system-variables/#skip_networking"),
    },
    ToolOption {
        name: "--skip-grant-tables",
        tools: &[Server],
        mysql: "server-options.html#option_mysqld_skip-grant-tables",
        mariadb: Some("mariadbd-options/#-skip-grant-tables"),
    },
    ToolOption {
        name: "--pid-file",
        tools: &[Server],
        mysql: "server-system-variables.html#sysvar_pid_file",
        mariadb: Some("server-system-variables/#pid_file"),
    },
    ToolOption {
        name: "--log-error",
        tools: &[Server],
        mysql: "server-system-variables.html#sysvar_log_error",
        mariadb: Some("server-system-variables/#log_error"),
    },
    ToolOption {
        name: "--tmpdir",
        tools: &[Server],
        mysql: "server-system-variables.html#sysvar_tmpdir",
        mariadb: Some("server-system-variables/#tmpdir"),
    },
    ToolOption {
        name: "--secure-file-priv",
        tools: &[Server],
        mysql: "server-system-variables.html#sysvar_secure_file_priv",
        mariadb: Some("server-system-variables/#secure_file_priv"),
    },
    // The dump's binlog position, for a restore to a point in time: MySQL renamed the
    // option (`--master-data` is its deprecated alias); MariaDB has only the old name.
    ToolOption {
        name: "--source-data",
        tools: &[Dump],
        mysql: "mysqldump.html#option_mysqldump_source-data",
        mariadb: None,
    },
    ToolOption {
        name: "--master-data",
        tools: &[Dump],
        mysql: "mysqldump.html#option_mysqldump_master-data",
        mariadb: Some("mariadb-dump/#options"),
    },
    // The replay (`mysqlbinlog`, `mariadb-binlog`).
    ToolOption {
        // Read for --skip-gtids, which only MySQL's has.
        name: "--help",
        tools: &[Binlog],
        mysql: "mysqlbinlog.html#option_mysqlbinlog_help",
        mariadb: Some("mariadb-binlog-options/"),
    },
    ToolOption {
        name: "--database",
        tools: &[Binlog],
        mysql: "mysqlbinlog.html#option_mysqlbinlog_database",
        mariadb: Some("mariadb-binlog-options/"),
    },
    ToolOption {
        name: "--start-position",
        tools: &[Binlog],
        mysql: "mysqlbinlog.html#option_mysqlbinlog_start-position",
        mariadb: Some("mariadb-binlog-options/"),
    },
    ToolOption {
        name: "--stop-datetime",
        tools: &[Binlog],
        mysql: "mysqlbinlog.html#option_mysqlbinlog_stop-datetime",
        mariadb: Some("mariadb-binlog-options/"),
    },
    ToolOption {
        name: "--stop-position",
        tools: &[Binlog],
        mysql: "mysqlbinlog.html#option_mysqlbinlog_stop-position",
        mariadb: Some("mariadb-binlog-options/"),
    },
    ToolOption {
        // A replay into the server that wrote the log: its GTIDs are executed already.
        name: "--skip-gtids",
        tools: &[Binlog],
        mysql: "mysqlbinlog.html#option_mysqlbinlog_skip-gtids",
        mariadb: None,
    },
    // The server with `spec.pitr` (the Deployment's args). `loose-`: a server that no
    // longer knows a deprecated variable starts anyway.
    ToolOption {
        name: "--log-bin",
        tools: &[Server],
        mysql: "replication-options-binary-log.html#option_mysqld_log-bin",
        mariadb: Some("replication-and-binary-log-system-variables/#log_bin"),
    },
    ToolOption {
        name: "--server-id",
        tools: &[Server],
        mysql: "replication-options.html#sysvar_server_id",
        mariadb: Some("replication-and-binary-log-system-variables/#server_id"),
    },
    ToolOption {
        // ROW is MySQL's default (deprecated to set); MariaDB's default is MIXED.
        name: "--loose-binlog-format",
        tools: &[Server],
        mysql: "replication-options-binary-log.html#sysvar_binlog_format",
        mariadb: Some("replication-and-binary-log-system-variables/#binlog_format"),
    },
    ToolOption {
        // MySQL's default; MariaDB's is 0 (the OS decides when the log reaches the disk).
        name: "--sync-binlog",
        tools: &[Server],
        mysql: "replication-options-binary-log.html#sysvar_sync_binlog",
        mariadb: Some("replication-and-binary-log-system-variables/#sync_binlog"),
    },
    ToolOption {
        // MariaDB keeps binlogs forever by default; MySQL 30 days.
        name: "--loose-binlog-expire-logs-seconds",
        tools: &[Server],
        mysql: "replication-options-binary-log.html#sysvar_binlog_expire_logs_seconds",
        mariadb: Some("replication-and-binary-log-system-variables/#binlog_expire_logs_seconds"),
    },
    ToolOption {
        // Restores of stored functions with the log on (ERROR 1418 otherwise).
        name: "--loose-log-bin-trust-function-creators",
        tools: &[Server],
        mysql: "replication-options-binary-log.html#sysvar_log_bin_trust_function_creators",
        mariadb: Some(
            "replication-and-binary-log-system-variables/#log_bin_trust_function_creators",
        ),
    },
    ToolOption {
        // `loose-`: MariaDB, which has no X Plugin, ignores it instead of refusing to start.
        name: "--loose-mysqlx",
        tools: &[Server],
        mysql: "x-plugin-options-system-variables.html#option_mysqld_mysqlx",
        mariadb: Some("configuring-mariadb-with-option-files/#option-prefixes"),
    },
];

/// The options a script passes, by the tool it passes them to: each `"$server"`,
/// `"$client"`, `"$dump_tool"` or `"$admin"` call up to the end of its command, and each
/// `set -- ...` (arguments a later call passes on as `"$@"`, tool `None`).
pub fn used(script: &str) -> Vec<(Option<Tool>, String)> {
    let joined = script.replace("\\\n", " ");
    let mut found = Vec::new();
    for line in joined.lines() {
        let calls = [
            (r#""$server" "#, Some(Server)),
            (r#""$client" "#, Some(Client)),
            (r#""$dump_tool" "#, Some(Dump)),
            (r#""$admin" "#, Some(Admin)),
            (r#""$binlog_tool" "#, Some(Binlog)),
            ("set -- ", None),
        ];
        for (call, tool) in calls {
            for (at, _) in line.match_indices(call) {
                let rest = &line[at + call.len()..];
                for token in rest.split_whitespace() {
                    if ["|", "||", "&&", ";", ")", "&"].contains(&token)
                        || token.starts_with(['<', '>'])
                        || token.starts_with("2>")
                    {
                        break;
                    }
                    if !token.starts_with('-') || token == "--" {
                        continue;
                    }
                    let name = token.split('=').next().unwrap_or(token);
                    // `-uroot`: a short option with its value attached.
                    let name = if !name.starts_with("--") && name.len() > 2 {
                        &name[..2]
                    } else {
                        name
                    };
                    found.push((tool, name.to_string()));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::scripts::{ARCHIVE_SCRIPT, BACKUP_SCRIPT, RESTORE_SCRIPT};
    use crate::resources::{ALIVE_SCRIPT, PITR_SERVER_ARGS, READY_SCRIPT};

    /// Everything the product runs: the scripts, the probes, and the server's PITR args
    /// (as a call of the server).
    fn scripts() -> Vec<String> {
        let server_args = format!(r#""$server" {}"#, PITR_SERVER_ARGS.join(" "));
        [
            BACKUP_SCRIPT,
            RESTORE_SCRIPT,
            ARCHIVE_SCRIPT,
            READY_SCRIPT,
            ALIVE_SCRIPT,
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([server_args])
        .collect()
    }

    #[test]
    fn every_option_the_scripts_pass_is_listed_for_its_tool() {
        let mut checked = 0;
        for script in scripts() {
            for (tool, name) in used(&script) {
                let mut listed = OPTIONS.iter().filter(|o| o.name == name).peekable();
                assert!(
                    listed.peek().is_some(),
                    "{name} is not in backup::options::OPTIONS: check it against MySQL 8.4, 9.x and MariaDB, then list it"
                );
                if let Some(tool) = tool {
                    assert!(
                        listed.any(|o| o.tools.contains(&tool)),
                        "{name} is passed to {tool:?} but not listed for it"
                    );
                }
                checked += 1;
            }
        }
        assert!(checked >= 60, "the scripts' calls were found: {checked}");
    }

    #[test]
    fn every_listed_option_is_used_and_documented() {
        let scripts = scripts();
        let used: Vec<(Option<Tool>, String)> = scripts.iter().flat_map(|s| used(s)).collect();
        for option in OPTIONS {
            assert!(
                used.iter().any(|(tool, name)| name == option.name
                    && tool.is_none_or(|t| option.tools.contains(&t))),
                "{} is listed for {:?}, never used so",
                option.name,
                option.tools
            );
            assert!(
                option
                    .mysql_8_4()
                    .starts_with("https://dev.mysql.com/doc/refman/8.4/en/")
            );
            assert!(option.mysql_9().contains("/refman/9."));
            assert!(option.mysql.contains(".html#"), "{}", option.mysql);
            if option.mariadb().is_none() {
                // Only behind a check that the tool has it.
                let guarded = format!("grep -q -e '{}'", option.name);
                assert!(
                    scripts.iter().any(|s| s.contains(&guarded)),
                    "{} is MySQL-only and unguarded",
                    option.name
                );
            }
        }
    }

    #[test]
    fn the_reader_finds_options_as_the_scripts_write_them() {
        let script = "\"$client\" --defaults-extra-file=\"$cnf\" -h 127.0.0.1 -uroot -e 'SELECT 1' >\"$out\" --not-this\nset -- --user=\"$x\"\n\"$admin\" --protocol=TCP \\\n  ping --connect-timeout=5 | tail";
        assert_eq!(
            used(script),
            [
                (Some(Client), "--defaults-extra-file".to_string()),
                (Some(Client), "-h".to_string()),
                (Some(Client), "-u".to_string()),
                (Some(Client), "-e".to_string()),
                (None, "--user".to_string()),
                (Some(Admin), "--protocol".to_string()),
                (Some(Admin), "--connect-timeout".to_string()),
            ]
        );
    }
}
