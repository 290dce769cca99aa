//! The HTTPS client instant-acme talks to the CA through, and what it remembers of the
//! CA's last answer.
//!
//! Why not instant-acme's own client: its errors carry the problem document but drop the
//! response headers, and a CA's `rateLimited` answer says when to come back only in its
//! `Retry-After` header (RFC 8555 §6.6). This client (reqwest, already the worker's HTTP
//! client; rustls with ring like the rest of the workspace) hands every response to
//! instant-acme unchanged and notes, per attempt, whether the CA's last answer was an
//! error, whether it was `rateLimited`, and its `Retry-After` ([`observe`],
//! [`last_answer`]).

use std::cell::Cell;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use http_body_util::BodyExt as _;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use time::OffsetDateTime;

use crate::schedule;

/// The problem type of a CA's rate-limit answer (RFC 8555 §6.7).
pub const RATE_LIMITED: &str = "urn:ietf:params:acme:error:rateLimited";

/// How long one request to the CA may take (connect, send, read the whole answer); the
/// order as a whole is bounded by `--acme-timeout-secs`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the CA's last answer during an attempt said about when to come back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LastAnswer {
    /// The answer was a problem document of type [`RATE_LIMITED`].
    pub rate_limited: bool,
    /// The answer was an error (4xx/5xx) carrying a `Retry-After` header: when the CA
    /// asks to be contacted again (as sent: not yet clamped).
    pub retry_after: Option<OffsetDateTime>,
}

tokio::task_local! {
    static LAST_ANSWER: Cell<LastAnswer>;
}

/// Runs `attempt` (one certificate's attempt: everything it asks the CA) and returns
/// what the CA's last answer during it said ([`LastAnswer`]). Several attempts run at
/// once on one task (`join_all`); a task-local is per future, so each sees its own.
pub async fn observe<F: Future>(attempt: F) -> (F::Output, LastAnswer) {
    LAST_ANSWER
        .scope(Cell::new(LastAnswer::default()), async move {
            let output = attempt.await;
            (output, LAST_ANSWER.with(Cell::get))
        })
        .await
}

/// The CA's last answer so far in the current [`observe`] scope (default outside one).
pub fn last_answer() -> LastAnswer {
    LAST_ANSWER.try_with(Cell::get).unwrap_or_default()
}

/// The client: reqwest with the CA's root from `--acme-ca-file` (only that root, as for
/// a test CA), or the public roots.
pub struct CaClient(reqwest::Client);

impl CaClient {
    pub fn new(ca_file: Option<&Path>) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!(
                "switchyard-cert-worker/",
                env!("CARGO_PKG_VERSION")
            ));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                format!(
                    "the CA file {} holds no PEM certificate: {e}",
                    path.display()
                )
            })?;
            builder = builder.tls_built_in_root_certs(false);
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        builder
            .build()
            .map(CaClient)
            .map_err(|e| format!("cannot set up the HTTPS client: {e}"))
    }
}

impl HttpClient for CaClient {
    fn request(
        &self,
        req: http::Request<BodyWrapper<bytes::Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(never) => match never {},
            };
            let rsp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let status = rsp.status();
            let headers = rsp.headers().clone();
            let body = rsp
                .bytes()
                .await
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            note(status, &headers, &body);
            let mut response = http::Response::new(());
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            let (parts, ()) = response.into_parts();
            Ok(BytesResponse {
                parts,
                body: Box::new(body),
            })
        })
    }
}

/// Remembers the answer in the current [`observe`] scope: an error answer's rate-limit
/// type and `Retry-After`; a success clears both (the CA took a later request, so an
/// earlier "come back later" no longer explains how the attempt ends).
fn note(status: http::StatusCode, headers: &http::HeaderMap, body: &[u8]) {
    let answer = if status.is_client_error() || status.is_server_error() {
        let problem = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/problem+json"));
        let rate_limited = problem
            && serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("type")?.as_str().map(|t| t == RATE_LIMITED))
                .unwrap_or(false);
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| schedule::parse_retry_after(v, OffsetDateTime::now_utc()));
        LastAnswer {
            rate_limited,
            retry_after,
        }
    } else {
        LastAnswer::default()
    };
    let _ = LAST_ANSWER.try_with(|cell| cell.set(answer));
}
