//! One timer per client connection for every wait of the HTTP/1 fast path: the idle wait
//! for the next request (which also ends at a graceful shutdown), reads and writes of the
//! client, and the exchange with the upstream; and one per HTTP/2 stream the fast path
//! takes (`h2.rs`: the client's body, the upstream exchange, the answer's body).
//!
//! Why not `pingora_timeout::timeout` per wait: callgrind put ~2.4k of the ~22.4k
//! user-space instructions of a plain HTTP/1.1 request in it (docs/benchmarks.md, "Plain
//! HTTP/1.1 per-request cost"): each wait read the clock to check Pingora's timer thread,
//! and each wait that had to wait registered a timer in a locked B-tree, boxed a future
//! and made and dropped a `Notify` waiter; the shutdown watch added a waiter per request
//! too. Here a wait that completes at once (most writes) costs no clock read and no
//! timer; one that waits reads the clock once and polls the connection's one tokio
//! [`Sleep`], which is moved only when it must fire sooner than it is set for, or fires
//! before the current wait's limit (an earlier wait's), and is then set again.
//!
//! Must never: end a wait before its limit, or let it run past it by more than tokio's
//! timer resolution (1 ms).

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// A wait ran out of time.
#[derive(Debug)]
pub(super) struct TimedOut;

/// The connection's timer (see the module header).
#[derive(Default)]
pub(super) struct Deadline {
    /// Made at the first wait that has to wait.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    /// `fut`, given at most `limit` from its first poll that has to wait.
    pub(super) async fn limit<F: Future>(
        &mut self,
        limit: Duration,
        fut: F,
    ) -> Result<F::Output, TimedOut> {
        let mut fut = pin!(fut);
        let mut due = None;
        poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            let due = *due.get_or_insert_with(|| Instant::now() + limit);
            self.poll_due(cx, due).map(Err)
        })
        .await
    }

    /// [`Self::limit`], or `None` as soon as `stop` completes while `fut` waits.
    pub(super) async fn limit_unless<F: Future>(
        &mut self,
        limit: Duration,
        fut: F,
        mut stop: Pin<&mut impl Future<Output = ()>>,
    ) -> Option<Result<F::Output, TimedOut>> {
        let mut fut = pin!(fut);
        let mut due = None;
        poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(Ok(out)));
            }
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            let due = *due.get_or_insert_with(|| Instant::now() + limit);
            self.poll_due(cx, due).map(|t| Some(Err(t)))
        })
        .await
    }

    /// Ready once `due` has passed; until then the timer is set to fire by `due`.
    fn poll_due(&mut self, cx: &mut Context<'_>, due: Instant) -> Poll<TimedOut> {
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        loop {
            if sleep.deadline() > due {
                sleep.as_mut().reset(due);
            }
            ready!(sleep.as_mut().poll(cx));
            // Fired: for this wait, or for an earlier one that had less time.
            if Instant::now() >= due {
                return Poll::Ready(TimedOut);
            }
            sleep.as_mut().reset(due);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_wait_that_completes_at_once_needs_no_timer() {
        let mut deadline = Deadline::default();
        let out = deadline.limit(Duration::from_millis(1), async { 7 }).await;
        assert_eq!(out.ok(), Some(7));
        assert!(deadline.sleep.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn each_wait_gets_its_own_limit_whatever_the_timer_was_set_for() {
        let mut deadline = Deadline::default();
        // A long wait sets the timer far ahead and completes early...
        let started = Instant::now();
        let out = deadline
            .limit(
                Duration::from_secs(60),
                tokio::time::sleep(Duration::from_secs(1)),
            )
            .await;
        assert!(out.is_ok());
        // ...a shorter one then times out at its own limit, not the long one's.
        let out = deadline
            .limit(Duration::from_secs(2), std::future::pending::<()>())
            .await;
        assert!(out.is_err());
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        // A longer one after that is not ended by the timer set for the shorter one.
        let out = deadline
            .limit(
                Duration::from_secs(10),
                tokio::time::sleep(Duration::from_secs(5)),
            )
            .await;
        assert!(out.is_ok(), "ended early");
        let out = deadline
            .limit(Duration::from_secs(10), std::future::pending::<()>())
            .await;
        assert!(out.is_err());
        assert_eq!(started.elapsed(), Duration::from_secs(18));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_when_stop_completes_first() {
        let mut deadline = Deadline::default();
        let mut stop = pin!(tokio::time::sleep(Duration::from_secs(3)));
        let started = Instant::now();
        let out = deadline
            .limit_unless(
                Duration::from_secs(60),
                std::future::pending::<()>(),
                stop.as_mut(),
            )
            .await;
        assert!(out.is_none());
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        let mut never = pin!(std::future::pending::<()>());
        let out = deadline
            .limit_unless(
                Duration::from_secs(1),
                std::future::pending::<()>(),
                never.as_mut(),
            )
            .await;
        assert!(matches!(out, Some(Err(TimedOut))));
    }
}
