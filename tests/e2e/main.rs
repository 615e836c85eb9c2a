//! End-to-end tests: the binary run as a process, and the real MariaDB the Job scripts
//! will run against. One test binary, so the server starts once.

mod backup_scripts;
mod bad_input;
mod cli;
mod cluster;
mod completions;
mod conformance;
mod dry_run;
mod faults;
mod install;
mod mariadb;
mod operator;
mod operator_process;
mod pitr;
mod pitr_scripts;
mod plugin;
mod quiet;
mod replay;
mod schedule;
mod status;
mod tour;
mod versions;
mod walkthrough;
