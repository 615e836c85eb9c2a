//! Leader election over a `coordination.k8s.io` Lease, so two replicas never reconcile at
//! once: one leads, the others stand by and take over when its lease expires.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The Lease every replica competes for.
pub const LEASE_NAME: &str = "kubectl-mysql-operator";
/// A leader that has not renewed for this long loses the lease.
const LEASE_SECONDS: u64 = 15;
/// The leader renews this long before its lease would expire.
const RENEW_BEFORE_SECONDS: u64 = 5;

/// One replica's candidacy: [`Candidate::elected`] waits for the lease,
/// [`Candidate::lost`] resolves when it is lost, [`Candidate::resign`] frees it.
pub struct Candidate {
    leading: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

impl Candidate {
    /// Join the election in `namespace` as `identity` (the pod's name: unique per replica).
    pub async fn join(
        client: Client,
        namespace: &str,
        identity: &str,
    ) -> Result<Self, LeaseManagerError> {
        let manager = LeaseManagerBuilder::new(client, LEASE_NAME)
            .with_namespace(namespace)
            .with_identity(identity)
            .with_duration(LEASE_SECONDS)
            .with_grace(RENEW_BEFORE_SECONDS)
            // One manager per replica on purpose: server-side apply conflicts between
            // them are how a second replica is refused the lease.
            .with_field_manager(format!("kubectl-mysql-leader-{identity}"))
            .build()
            .await?;
        let (leading, task) = manager.watch().await;
        Ok(Self { leading, task })
    }

    /// Resolves once this replica holds the lease.
    pub async fn elected(&mut self) {
        // An Err means the election task ended: then `lost` reports it too.
        let _ = self.leading.wait_for(|leading| *leading).await;
    }

    /// Resolves when this replica no longer holds the lease (or the election task died).
    pub async fn lost(&mut self) {
        let _ = self.leading.wait_for(|leading| !*leading).await;
    }

    /// Give the lease up now, so a standby takes over without waiting for it to expire.
    pub async fn resign(self) {
        // Dropping the receiver makes the election task release the lease and end.
        let Self { leading, task } = self;
        drop(leading);
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(_))) => tracing::info!("leader lease released"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "could not release the leader lease"),
            Ok(Err(e)) => tracing::warn!(error = %e, "leader election task failed"),
            Err(_) => tracing::warn!("leader lease not released within 5s: it expires by itself"),
        }
    }
}
