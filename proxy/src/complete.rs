//! The completion step: what every request leaves behind, whichever path served it.
//!
//! One call per request, from the fast path and from Pingora's `logging` phase alike:
//! the request counter (by zone and status class), the access line and the trace span's
//! closing fields, all from the same [`access_log::Entry`]. So the three always agree,
//! and a request cannot be counted or logged one way on one path and another way on the
//! other.
//!
//! Must never: block (the access log is buffered and flushed by its own thread), or
//! record headers, query strings or bodies.

use crate::access_log;
use crate::metrics::Metrics;

/// Records a finished request: metrics, access line, span.
pub fn complete(metrics: &Metrics, entry: &access_log::Entry<'_>, span: &tracing::Span) {
    let zone = (!entry.zone.is_empty()).then_some(entry.zone);
    metrics.request(zone, entry.status);
    entry.write();
    crate::trace::finish(
        span,
        entry.request_id,
        entry.method,
        entry.host,
        zone,
        entry.status,
        entry.error,
    );
}
