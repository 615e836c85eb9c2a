//! The one wait helper of the commands: follow a Job or an instance until it gets where it
//! is going, with progress, bounded by a timeout, never forever.

use std::time::Duration;

use super::Failure;
use super::progress::Progress;
use crate::backup::JobReport;
use crate::crd::MySQL;
use crate::reconcile::{Context, ondemand};
use crate::validate::Instance;

/// How often a wait looks again.
const POLL: Duration = Duration::from_secs(1);

/// One look of a wait. A transient API failure (the API server unreachable for a while,
/// or busy) is shown and the look tried again until `deadline`; any other error ends the
/// wait at once.
pub async fn look<T, F, Fut>(
    progress: &Progress,
    deadline: tokio::time::Instant,
    mut attempt: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::Error>>,
{
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) if error.is_transient() && tokio::time::Instant::now() < deadline => {
                progress.step(&format!(
                    "the API server does not answer ({error}); trying again"
                ));
                tokio::time::sleep(POLL).await;
            }
            Err(error) => {
                progress.abandon();
                return Err(error.into());
            }
        }
    }
}

/// Wait for a backup or restore Job to end; its report, or an error with the cause.
pub async fn job(
    ctx: &Context,
    mysql: &MySQL,
    instance: &Instance,
    job: &str,
    timeout: Duration,
) -> anyhow::Result<JobReport> {
    let progress = Progress::start(&format!("{job}: running"));
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match look(&progress, deadline, || {
            ondemand::outcome(ctx, mysql, instance, job)
        })
        .await?
        {
            Some(Ok(report)) => {
                progress.finish(&format!("{job}: done"));
                return Ok(report);
            }
            Some(Err(cause)) => {
                progress.abandon();
                return Err(Failure::new(
                    format!("{job} failed: {cause}"),
                    format!("`kubectl -n {} logs job/{job}` shows its output; fix the cause and run it again", instance.namespace),
                )
                .into());
            }
            None => progress.step(&format!("{job}: running")),
        }
        if tokio::time::Instant::now() >= deadline {
            progress.abandon();
            return Err(Failure::new(
                format!("{job} has not finished after {}", humantime::format_duration(timeout)),
                "it goes on in the cluster (its own deadline stops it); follow it with `kubectl mysql status NAME`",
            )
            .into());
        }
        tokio::time::sleep(POLL).await;
    }
}
