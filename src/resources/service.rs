//! The Service in front of the server, named like the instance (the seed's `mysql-instance`).

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Component, MYSQL_PORT, Names, namespaced, selector_labels};
use crate::validate::Instance;

pub fn service(instance: &Instance) -> Service {
    Service {
        metadata: namespaced(
            instance,
            Names::new(instance).server(),
            Component::Database,
            true,
        ),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector_labels(instance)),
            ports: Some(vec![ServicePort {
                name: Some("mysql".into()),
                port: MYSQL_PORT,
                target_port: Some(IntOrString::String("mysql".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::seed_instance;

    #[test]
    fn selects_the_server_pods_on_the_mysql_port() {
        let svc = service(&seed_instance());
        assert_eq!(svc.metadata.name.as_deref(), Some("mysql-instance"));
        let spec = svc.spec.expect("spec");
        assert_eq!(spec.selector, Some(selector_labels(&seed_instance())));
        assert_eq!(spec.ports.expect("ports")[0].port, 3306);
    }
}
