//! The Secret holding the root password.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use super::{Component, Names, namespaced};
use crate::crd::DEFAULT_PASSWORD_KEY;
use crate::validate::{Instance, PasswordSource};

/// The operator's own Secret for an inline (seed-style) password; `None` when the spec
/// references a Secret the user manages.
pub fn credentials_secret(instance: &Instance) -> Option<Secret> {
    match &instance.password {
        PasswordSource::Inline(password) => Some(password_secret(instance, password)),
        PasswordSource::Secret(_) => None,
    }
}

/// A Secret `<name>-credentials` with the password under the key `password`, owned by the
/// instance once it exists. `create --generate-password` makes the same one.
pub fn password_secret(instance: &Instance, password: &str) -> Secret {
    Secret {
        metadata: namespaced(
            instance,
            Names::new(instance).credentials_secret(),
            Component::Credentials,
            true,
        ),
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            DEFAULT_PASSWORD_KEY.to_string(),
            ByteString(password.as_bytes().to_vec()),
        )])),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::{FIXTURE_PASSWORD, seed_instance};

    #[test]
    fn inline_password_lands_in_the_data_of_an_owned_secret() {
        let secret = credentials_secret(&seed_instance()).expect("secret");
        assert_eq!(
            secret.metadata.name.as_deref(),
            Some("mysql-instance-credentials")
        );
        assert_eq!(secret.metadata.namespace.as_deref(), Some("default"));
        let data = secret.data.expect("data");
        assert_eq!(data["password"].0, FIXTURE_PASSWORD.as_bytes());
        assert!(
            secret.string_data.is_none(),
            "stringData would never converge under SSA"
        );
    }
}
