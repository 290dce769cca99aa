//! Waiting for something to become true: poll with a deadline, never a bare sleep.

use std::future::Future;
use std::time::Duration;

/// How often [`eventually`] polls: fast enough that tests do not wait long after the
/// condition holds, slow enough not to hammer the system under test.
pub const POLL_EVERY: Duration = Duration::from_millis(20);

/// Polls `check` until it returns `Some`, failing with `what` and the last observation
/// once `deadline` has passed.
pub async fn eventually<T, F, Fut>(
    deadline: Duration,
    what: &str,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(POLL_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match check().await {
            Ok(value) => return Ok(value),
            Err(last) if start.elapsed() >= deadline => {
                anyhow::bail!("{what}: still not true after {deadline:?}; last seen: {last}")
            }
            Err(_) => {}
        }
    }
}
