//! `kubectl mysql crd`: print the CustomResourceDefinition generated from the Rust types.

use clap::Args;

#[derive(Debug, Args)]
pub struct CrdArgs {}

pub fn run(_args: CrdArgs) -> anyhow::Result<()> {
    print!("{}", crate::crd::crd_yaml());
    Ok(())
}
