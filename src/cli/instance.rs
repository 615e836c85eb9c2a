//! Reading one instance for a command, with a clear error when it is not there.

use kube::Client;
use kube::api::Api;

use super::Failure;
use crate::crd::MySQL;
use crate::validate::{Instance, instance};

/// The MySQL object `name` in `namespace`, and its validated form.
pub async fn load(
    client: &Client,
    namespace: &str,
    name: &str,
) -> anyhow::Result<(MySQL, Instance)> {
    let api: Api<MySQL> = Api::namespaced(client.clone(), namespace);
    let mysql = api
        .get_opt(name)
        .await
        .map_err(|e| crate::Error::api(format!("read MySQL {name}"), e))?
        .ok_or_else(|| {
            Failure::new(
                format!("MySQL {name:?} not found in namespace {namespace:?}"),
                format!("`kubectl mysql status -n {namespace}` lists the instances"),
            )
        })?;
    let validated = instance(&mysql, namespace)?;
    Ok((mysql, validated))
}
