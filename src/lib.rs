//! kubectl-mysql: a Kubernetes operator for single-instance MySQL.
//!
//! One library behind two front doors: the kubectl plugin commands and the
//! in-cluster controller call the same code.

pub mod backup;
pub mod cli;
pub mod crd;
pub mod error;
pub mod image;
pub mod input;
pub mod install;
pub mod manifest;
pub mod operator;
pub mod quantity;
pub mod reconcile;
pub mod resources;
pub mod schedule;
pub mod schema;
pub mod validate;

pub use error::Error;
