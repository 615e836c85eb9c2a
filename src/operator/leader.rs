//! Leader election over a `coordination.k8s.io` Lease, so two replicas never reconcile at
//! once: one leads, the others stand by and take over when its lease expires.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The Lease every replica competes for.
pub const LEASE_NAME: &str = "kubectl-mysql-operator";
/// A leader that has not renewed for this long loses the lease.
const LEASE_SECONDS: u64 = 15;
/// The leader renews this long before its lease would expire.
const RENEW_BEFORE_SECONDS: u64 = 5;
/// A leader that cannot confirm its lease for this long stops, before a standby may take
/// the expired lease over (client-go's renew deadline).
const RENEW_DEADLINE: Duration = Duration::from_secs(LEASE_SECONDS - RENEW_BEFORE_SECONDS);
/// How often the leader reads its lease back.
const CONFIRM_EVERY: Duration = Duration::from_secs(2);

/// One replica's candidacy: [`Candidate::elected`] waits for the lease,
/// [`Candidate::lost`] resolves when it is lost, [`Candidate::resign`] frees it.
pub struct Candidate {
    leading: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
    leases: Api<Lease>,
    identity: String,
}

impl Candidate {
    /// Join the election in `namespace` as `identity` (the pod's name: unique per replica).
    pub async fn join(
        client: Client,
        namespace: &str,
        identity: &str,
    ) -> Result<Self, LeaseManagerError> {
        let leases = Api::namespaced(client.clone(), namespace);
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
        Ok(Self {
            leading,
            task,
            leases,
            identity: identity.to_string(),
        })
    }

    /// Resolves once this replica holds the lease.
    pub async fn elected(&mut self) {
        // An Err means the election task ended: then `lost` reports it too.
        let _ = self.leading.wait_for(|leading| *leading).await;
    }

    /// Resolves when this replica no longer holds the lease, or can no longer show that
    /// it does: the lease manager only learns of a loss once it reaches the API server
    /// again, so the leader also reads its lease back and fences itself when it could not
    /// confirm it within the renew deadline (a partitioned leader must stop before a
    /// standby takes the expired lease).
    pub async fn lost(&mut self) -> &'static str {
        let leading = &mut self.leading;
        let confirmed = confirm_until_unsure(&self.leases, &self.identity);
        tokio::select! {
            _ = leading.wait_for(|leading| !*leading) => "another replica holds the lease",
            why = confirmed => why,
        }
    }

    /// Give the lease up now, so a standby takes over without waiting for it to expire.
    pub async fn resign(self) {
        // Dropping the receiver makes the election task release the lease and end.
        let Self { leading, task, .. } = self;
        drop(leading);
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(_))) => tracing::info!("leader lease released"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "could not release the leader lease"),
            Ok(Err(e)) => tracing::warn!(error = %e, "leader election task failed"),
            Err(_) => tracing::warn!("leader lease not released within 5s: it expires by itself"),
        }
    }
}

/// Read the lease every [`CONFIRM_EVERY`]; return why leadership can no longer be assumed.
async fn confirm_until_unsure(leases: &Api<Lease>, identity: &str) -> &'static str {
    let mut confirmed_at = Instant::now();
    loop {
        tokio::time::sleep(CONFIRM_EVERY).await;
        match tokio::time::timeout(CONFIRM_EVERY, leases.get_opt(LEASE_NAME)).await {
            Ok(Ok(Some(lease))) => {
                let holder = lease.spec.and_then(|s| s.holder_identity);
                if holder.as_deref() != Some(identity) {
                    return "another replica holds the lease";
                }
                confirmed_at = Instant::now();
            }
            Ok(Ok(None)) => return "the lease was deleted",
            // Unreachable or refused: still the leader until the deadline says otherwise.
            Ok(Err(_)) | Err(_) => {
                if confirmed_at.elapsed() >= RENEW_DEADLINE {
                    return "the lease could not be confirmed within the renew deadline";
                }
            }
        }
    }
}
