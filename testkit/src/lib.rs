//! Test support for kubectl-mysql, shared by every integration test binary.
//!
//! - [`mariadb`]: a private MariaDB server on 127.0.0.1, started once per test binary.

pub mod mariadb;
