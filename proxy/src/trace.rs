//! The per-request trace span, exported only when tracing is on (an OTLP endpoint is
//! configured; see `switchyard_shared::telemetry`). When it is off the span is disabled
//! at its call site: creating it is an atomic load, recording into it nothing at all.

use switchyard_shared::telemetry::TARGET;
use tracing::Span;
use tracing::field::Empty;

/// Opened when a request's context is made, closed when it is dropped after logging,
/// so its duration is the request's.
pub fn request_span() -> Span {
    tracing::info_span!(
        target: TARGET,
        "proxy request",
        "otel.kind" = "server",
        "otel.status_code" = Empty,
        request_id = Empty,
        "http.request.method" = Empty,
        host = Empty,
        zone = Empty,
        "http.response.status_code" = Empty,
        error = Empty,
    )
}

/// What the access log line says, on the span: request id, method, host, zone (the
/// matched pattern, empty when none matched), status and the error kind, if any. Never
/// headers, query strings or bodies.
pub fn finish(
    span: &Span,
    request_id: &str,
    method: &str,
    host: &str,
    zone: Option<&str>,
    status: u16,
    error: Option<crate::decide::Category>,
) {
    if span.is_disabled() {
        return;
    }
    span.record("request_id", request_id);
    span.record("http.request.method", method);
    span.record("host", host);
    span.record("zone", zone.unwrap_or(""));
    span.record("http.response.status_code", status);
    if let Some(error) = error {
        span.record("error", error.as_str());
    }
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
}
