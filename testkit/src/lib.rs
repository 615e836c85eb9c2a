//! Test support for kubectl-mysql, shared by every integration test binary.
//!
//! - [`mariadb`]: a private MariaDB server on 127.0.0.1, started once per test binary.
//! - [`apiserver`]: an in-memory Kubernetes API server on 127.0.0.1.

pub mod apiserver;
pub mod mariadb;
pub mod node;
pub mod pod_security;
