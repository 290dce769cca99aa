//! The request path: Pingora's `ProxyHttp` phases with a typed per-request context.
//!
//! `request_filter` does everything that can answer without an upstream — host lookup,
//! route, allow-list, HTTPS redirect, upstream choice — against one load of the live
//! snapshot; the snapshot itself is let go at once, only the chosen route is kept. For a
//! route with forward auth it then makes the sub-request ([`crate::forward_auth::ask`]),
//! the only path that does: the fast paths hand such requests over.
//! Answers the proxy makes itself carry `X-Request-Id` in a header and in the body.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use http::header::InvalidHeaderValue;
use pingora::ErrorType;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::FailToProxy;
use pingora::upstreams::peer::HttpPeer;
use switchyard_shared::RequestTarget;

use crate::access_log;
use crate::decide::{Answer, Category, Decision, Facts, Forward, client_address};
use crate::forward_auth::{Asked, Verdict};
use crate::metrics::Metrics;
use crate::policy::{AddedHeaders, Cohort, Vars};
use crate::resilience::{Failed, Replay, retry_after};
use crate::snapshot::{RouteEntry, Snapshot};
use crate::upstreams::{Pick, Registry, Upstream};

/// Request-path settings.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    /// No TLS anywhere: `force_https` is ignored (development).
    pub local_mode: bool,
    /// Port named in HTTPS redirects (omitted when 443).
    pub https_port: u16,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Most upstream connection attempts per request (first try included).
    pub max_attempts: usize,
    /// Accept header names with `_` (`--allow-underscore-headers`).
    pub allow_underscore_headers: bool,
    /// Accept methods with lower-case letters (`--allow-lowercase-methods`).
    pub allow_lowercase_methods: bool,
    /// Peers whose `X-Forwarded-For` names the client (`--trusted-proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// How long a client may leave an exchange idle (send no byte of its body, read no byte
/// of the answer) unless its route says otherwise.
pub const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A route's timeouts, resolved against the proxy's defaults ([`Router::timeouts`]).
#[derive(Debug, Clone, Copy)]
pub struct RouteTimeouts {
    /// To connect to an upstream.
    pub connect: Duration,
    /// For each read from the upstream (the answer's head, then each piece of its body).
    pub read: Duration,
    /// For each read from and write to the client during an exchange.
    pub idle: Duration,
    /// For the whole exchange, from the decision to the answer's last byte.
    pub total: Option<Duration>,
}

impl RouteTimeouts {
    /// What is left of the total time at `now` for an exchange begun at `started`
    /// (`None`: no total limit).
    pub fn left(&self, started: Instant) -> Option<Duration> {
        self.total.map(|t| t.saturating_sub(started.elapsed()))
    }
}

/// The proxy service.
#[derive(Clone)]
pub struct Router {
    pub live: Arc<ArcSwap<Snapshot>>,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub settings: RouterSettings,
}

/// What one request carries between phases.
pub struct Ctx {
    pub request_id: String,
    request_id_value: Option<HeaderValue>,
    started: Instant,
    host: String,
    tls: bool,
    /// The client's address ([`crate::decide::client_address`]).
    client_ip: Option<IpAddr>,
    /// The TCP peer's (appended to `X-Forwarded-For`).
    peer_ip: Option<IpAddr>,
    route: Option<Arc<RouteEntry>>,
    /// The normalised target the route was chosen on.
    target: Option<RequestTarget>,
    /// The rewritten path and query, when the route rewrites (else `target` goes up).
    rewritten: Option<String>,
    /// Request header fields added to this request (a JWT's claims, forward-auth
    /// copies), written with the route's request header edits.
    added: AddedHeaders,
    /// Request body bytes seen so far (for the route's `max_body_bytes`).
    body_seen: u64,
    /// Picked in `request_filter`, connected in `upstream_peer`.
    picked: Option<Arc<Upstream>>,
    upstream: Option<Arc<Upstream>>,
    upstream_addr: Option<SocketAddr>,
    failed_addrs: Vec<SocketAddr>,
    /// The split group the request went to, when its route splits traffic.
    cohort: Option<Cohort>,
    attempts: usize,
    /// The wait before the next attempt, as the retry decision set it.
    retry_wait: Option<Duration>,
    /// The answer's head came for the current attempt.
    answered: bool,
    upstream_started: Option<Instant>,
    upstream_elapsed: Option<Duration>,
    error: Option<Category>,
    /// The request's trace span; disabled (no cost) unless tracing is on.
    span: tracing::Span,
}

impl Ctx {
    /// The request id as a header value, made once per request (it goes upstream and
    /// back to the client).
    fn request_id_header(&mut self) -> Result<HeaderValue> {
        if let Some(v) = &self.request_id_value {
            return Ok(v.clone());
        }
        let v = request_id_value(&self.request_id)
            .explain_err(ErrorType::InvalidHTTPHeader, |_| "invalid request id")?;
        self.request_id_value = Some(v.clone());
        Ok(v)
    }
}

/// The target of an HTTP/1 request line (`METHOD SP target SP version`).
pub(crate) fn request_line_target(head: &[u8]) -> Option<&[u8]> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let start = line.iter().position(|&b| b == b' ')? + 1;
    let end = line.iter().rposition(|&b| b == b' ')?;
    (start < end).then(|| &line[start..end])
}

/// The single value of the Content-Length header(s), when there is any.
pub(crate) fn single_content_length(headers: &http::HeaderMap) -> Option<u64> {
    let mut value = None;
    for v in headers.get_all(http::header::CONTENT_LENGTH) {
        for part in v.to_str().ok()?.split(',') {
            let n: u64 = part.trim().parse().ok()?;
            if value.replace(n).is_some_and(|m| m != n) {
                return None;
            }
        }
    }
    value
}

/// The facts the decision core needs of a request Pingora parsed: `raw_head` is the
/// HTTP/1 head as received (`None` on HTTP/2). Shared by Pingora's path and the HTTP/2
/// fast path.
pub(crate) fn request_facts<'a>(
    req: &'a pingora::http::RequestHeader,
    raw_head: Option<&'a [u8]>,
    client_ip: Option<IpAddr>,
    tls: bool,
) -> Facts<'a> {
    let raw_host = req
        .headers
        .get(http::header::HOST)
        .map(|h| h.as_bytes())
        .or_else(|| req.uri.authority().map(|a| a.as_str().as_bytes()))
        .unwrap_or_default();
    // The target as the client sent it: on HTTP/1 from the request line (Pingora's URI
    // drops a fragment, which must be refused, not ignored), on HTTP/2 `:path`.
    let target = raw_head
        .and_then(request_line_target)
        .unwrap_or_else(|| req.raw_path());
    Facts {
        method: req.method.as_str().as_bytes(),
        host: raw_host,
        target,
        client_ip,
        tls,
        underscore_header: req.headers.keys().any(|n| n.as_str().contains('_')),
        // Pingora's parser drops a Content-Length that comes with Transfer-Encoding and
        // accepts bare LF: the raw head is checked by the fast path's rules.
        framing: raw_head.and_then(|head| crate::framing::check_raw(head).err()),
        content_length: single_content_length(&req.headers),
        headers: &req.headers,
    }
}

/// The `Cookie` fields of an HTTP/2 request joined into the one field an HTTP/1.1
/// upstream expects (RFC 9113 §8.2.3: HTTP/2 clients may split cookies into several
/// fields; they are joined with `"; "`). `None` unless there are two or more. Both
/// paths forward HTTP/2 requests with it.
pub(crate) fn joined_cookies(headers: &http::HeaderMap) -> Option<Vec<u8>> {
    let mut values = headers.get_all(http::header::COOKIE).iter();
    let first = values.next()?;
    let mut joined = first.as_bytes().to_vec();
    let mut more = false;
    for v in values {
        more = true;
        joined.extend_from_slice(b"; ");
        joined.extend_from_slice(v.as_bytes());
    }
    more.then_some(joined)
}

/// The request id as a header value, marked sensitive: HTTP/2's HPACK encoder then
/// sends it as a literal never indexed. Every id is new, so indexing it only churns the
/// connection's table: each answer inserted its id, walked the chain of the ids already
/// there comparing each, and evicted the answer's other headers (callgrind: about 6k of
/// the ~74k instructions of an HTTP/2 request were HPACK encoding). nginx and HAProxy
/// index no response header in the dynamic table at all.
pub(crate) fn request_id_value(id: &str) -> std::result::Result<HeaderValue, InvalidHeaderValue> {
    let mut value = HeaderValue::from_str(id)?;
    value.set_sensitive(true);
    Ok(value)
}

/// The request's id: the client's `X-Request-Id` when it is sane, else a new one.
pub(crate) fn request_id_of(headers: &http::HeaderMap) -> String {
    match headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        Some(id) if sane_request_id(id) => id.to_owned(),
        _ => new_request_id(),
    }
}

/// A new request id: the 32 lower-case hex digits of a random (v4) UUID, encoded
/// straight into the string (`to_string` went through the formatting machinery).
///
/// The 122 random bits come from a per-thread sequence, not the CSPRNG `Uuid::new_v4`
/// uses (~300 instructions per request, callgrind): ids must be unique, not secret.
/// Each thread draws two 64-bit seeds from the OS; the id is splitmix64 of a per-thread
/// counter (a bijection, so a thread never repeats itself within 2^64 ids) beside a
/// second word mixed from the first and the other seed, so two threads' ids collide
/// only if their random seeds happen to make the same 128 bits.
pub(crate) fn new_request_id() -> String {
    use std::cell::Cell;
    thread_local! {
        static SEQUENCE: (Cell<u64>, u64) = {
            let mut seed = [0u8; 16];
            let _ = getrandom::fill(&mut seed);
            let (a, b) = seed.split_at(8);
            (
                Cell::new(u64::from_le_bytes(a.try_into().expect("8 bytes"))),
                u64::from_le_bytes(b.try_into().expect("8 bytes")),
            )
        };
    }
    fn splitmix64(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let (hi, lo) = SEQUENCE.with(|(counter, other)| {
        let n = counter.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        counter.set(n);
        let hi = splitmix64(n);
        (hi, splitmix64(hi ^ other))
    });
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_le_bytes());
    bytes[8..].copy_from_slice(&lo.to_le_bytes());
    let mut buf = uuid::Uuid::encode_buffer();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .simple()
        .encode_lower(&mut buf)
        .to_owned()
}

/// An answer of the proxy's own: head and body, with the request id in both. The
/// route's page for `status` replaces the plain-text body when it has one.
pub(crate) fn own_answer(
    status: u16,
    message: &str,
    request_id: &str,
    location: Option<&str>,
    route: Option<&RouteEntry>,
    headers: &[(&'static str, String)],
) -> Result<(ResponseHeader, Bytes)> {
    let (content_type, body) = own_body(route, status, message, request_id);
    let mut resp = ResponseHeader::build(status, Some(5 + headers.len()))?;
    resp.insert_header("content-type", content_type)?;
    resp.insert_header("content-length", body.len().to_string())?;
    resp.insert_header("cache-control", "no-store")?;
    resp.insert_header(
        "x-request-id",
        request_id_value(request_id).or_err(ErrorType::InvalidHTTPHeader, "invalid request id")?,
    )?;
    if let Some(location) = location {
        resp.insert_header("location", location)?;
    }
    for (name, value) in headers {
        resp.insert_header(*name, value.as_str())?;
    }
    Ok((resp, Bytes::from(body)))
}

/// An answer of the proxy's own whose body is exactly `body` (`text/plain`, no request
/// id in it: an ACME challenge's key authorization); the request id is in the header.
pub(crate) fn exact_answer(
    status: u16,
    body: String,
    request_id: &str,
) -> Result<(ResponseHeader, Bytes)> {
    let mut resp = ResponseHeader::build(status, Some(4))?;
    resp.insert_header("content-type", "text/plain")?;
    resp.insert_header("content-length", body.len().to_string())?;
    resp.insert_header("cache-control", "no-store")?;
    resp.insert_header(
        "x-request-id",
        request_id_value(request_id).or_err(ErrorType::InvalidHTTPHeader, "invalid request id")?,
    )?;
    Ok((resp, Bytes::from(body)))
}

/// The content type and body of an answer of the proxy's own: the route's page for
/// `status`, else the plain-text message with the request id. Both paths answer so.
pub(crate) fn own_body(
    route: Option<&RouteEntry>,
    status: u16,
    message: &str,
    request_id: &str,
) -> (String, String) {
    if let Some((content_type, body)) = route
        .and_then(|r| r.policy.as_ref())
        .and_then(|p| p.page(status, request_id))
    {
        return (content_type.to_owned(), body);
    }
    (
        "text/plain; charset=utf-8".to_owned(),
        answer_body(message, request_id),
    )
}

tokio::task_local! {
    /// A decision the fast path already made for the first request of a connection (or
    /// HTTP/2 stream) it hands to Pingora: Pingora's `request_filter` takes it instead
    /// of deciding again, so a request is decided — and charged to its rate limit —
    /// exactly once.
    pub(crate) static DECIDED: std::cell::RefCell<Option<Decision>>;
}

/// A request id from the client is kept when it is short and plain.
pub(crate) fn sane_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn is_client_error(e: &Error) -> bool {
    matches!(e.esource(), pingora::ErrorSource::Downstream)
}

/// The client closed its connection or stopped reading.
fn is_client_gone(e: &Error) -> bool {
    is_client_error(e)
        && matches!(
            e.etype(),
            ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed
        )
}

/// A failed upstream exchange, as the client and the access log see it: status,
/// access-log category and the answer's first line. Shared with the fast path.
pub(crate) type FailureAnswer = (u16, Category, &'static str);
pub(crate) const UPSTREAM_TIMEOUT: FailureAnswer = (
    504,
    Category::UpstreamTimeout,
    "504 Gateway Timeout: the upstream did not answer in time",
);
pub(crate) const UPSTREAM_CONNECT: FailureAnswer = (
    502,
    Category::UpstreamConnect,
    "502 Bad Gateway: cannot connect to the upstream",
);
pub(crate) const UPSTREAM_ERROR: FailureAnswer = (
    502,
    Category::UpstreamError,
    "502 Bad Gateway: the upstream connection failed",
);
pub(crate) const CLIENT_GONE: FailureAnswer = (0, Category::ClientGone, "");

/// The body of an answer of the proxy's own.
pub(crate) fn answer_body(message: &str, request_id: &str) -> String {
    format!("{message}\nrequest id: {request_id}\n")
}

impl Router {
    /// Writes an answer of the proxy's own, with the request id in header and body.
    async fn respond(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        status: u16,
        message: &str,
        location: Option<&str>,
        headers: &[(&'static str, String)],
    ) -> Result<()> {
        let (resp, body) = own_answer(
            status,
            message,
            &ctx.request_id,
            location,
            ctx.route.as_deref(),
            headers,
        )?;
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(body), true).await?;
        Ok(())
    }

    /// Asks the route's forward-auth service about the request: `Ok(false)` when it
    /// cleared it (its header copies join `ctx.added`), `Ok(true)` when the client was
    /// answered instead (the service's refusal, or 503 without a usable answer).
    async fn clear_by_service(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let Some(route) = ctx.route.clone() else {
            return Ok(false);
        };
        let Some(policy) = route.policy.as_ref().and_then(|p| p.forward_auth()) else {
            return Ok(false);
        };
        let req = session.req_header();
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or(&ctx.host);
        let asked = Asked {
            method: req.method.as_str(),
            tls: ctx.tls,
            host,
            uri: ctx.target.as_ref().map_or("/", |t| t.as_str()),
            client_ip: ctx.client_ip,
            headers: &req.headers,
        };
        match crate::forward_auth::ask(policy, &asked).await {
            Verdict::Allow(added) => {
                ctx.added.extend(added);
                Ok(false)
            }
            Verdict::Deny {
                status,
                headers,
                body,
            } => {
                ctx.error = Some(Category::AuthRefused);
                let mut resp = ResponseHeader::build(status, Some(4 + headers.len()))?;
                resp.insert_header("content-length", body.len().to_string())?;
                resp.insert_header("cache-control", "no-store")?;
                resp.insert_header("x-request-id", ctx.request_id_header()?)?;
                for (name, value) in headers {
                    resp.append_header(name, value)?;
                }
                session.write_response_header(Box::new(resp), false).await?;
                session.write_response_body(Some(body), true).await?;
                Ok(true)
            }
            Verdict::Unavailable(why) => {
                tracing::warn!(
                    request_id = %ctx.request_id,
                    host = %ctx.host,
                    error = %why,
                    "forward-auth service unusable; answering 503"
                );
                ctx.error = Some(Category::AuthUnavailable);
                self.respond(
                    session,
                    ctx,
                    503,
                    "503 Service Unavailable: the authorisation service of this host did not answer",
                    None,
                    &[],
                )
                .await?;
                Ok(true)
            }
        }
    }

    /// The timeouts of `route`: its own, else the proxy's defaults — the one rule of
    /// every path.
    pub(crate) fn timeouts(&self, route: &RouteEntry) -> RouteTimeouts {
        let own = &route.route.timeouts;
        let ms = |ms: u32| Duration::from_millis(ms.into());
        RouteTimeouts {
            connect: own.connect_ms.map_or(self.settings.connect_timeout, ms),
            read: own.read_ms.map_or(self.settings.read_timeout, ms),
            idle: own.idle_ms.map_or(CLIENT_IDLE_TIMEOUT, ms),
            total: own.total_ms.map(ms),
        }
    }

    /// What the request allows of a retry ([`crate::resilience::retry_after`]): an
    /// idempotent method whose body is held whole (Pingora keeps the start of a body
    /// for retries; beyond it the body is gone).
    fn replay(&self, session: &Session, ctx: &Ctx) -> Replay {
        let others = ctx
            .route
            .as_ref()
            .map_or(0, |r| r.balancer_for(ctx.cohort).upstreams().len());
        Replay {
            safe: crate::resilience::idempotent(session.req_header().method.as_str().as_bytes())
                && !session.as_ref().retry_buffer_truncated(),
            tries: ctx.attempts as u32,
            default_tries: self.settings.max_attempts.min(others) as u32,
        }
    }

    fn pick(&self, route: &RouteEntry, ctx: &Ctx) -> Pick {
        route
            .balancer_for(ctx.cohort)
            .pick(self.registry.config(), &ctx.failed_addrs)
    }
}

#[async_trait]
impl ProxyHttp for Router {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            request_id: String::new(),
            request_id_value: None,
            started: Instant::now(),
            host: String::new(),
            tls: false,
            client_ip: None,
            peer_ip: None,
            route: None,
            target: None,
            rewritten: None,
            added: Vec::new(),
            body_seen: 0,
            picked: None,
            upstream: None,
            upstream_addr: None,
            failed_addrs: Vec::new(),
            cohort: None,
            attempts: 0,
            retry_wait: None,
            answered: false,
            upstream_started: None,
            upstream_elapsed: None,
            error: None,
            span: crate::trace::request_span(),
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        // Requests a client pipelines (sends before reading the answers) are answered in
        // order, as the fast path does; Pingora's default closes the connection instead.
        // The setting is carried to the connection's next requests.
        session.as_downstream_mut().set_pipelining_enabled(true);
        let req = session.req_header();
        ctx.request_id = request_id_of(&req.headers);
        ctx.peer_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_canonical());
        ctx.client_ip = client_address(&self.settings.trusted_proxies, ctx.peer_ip, &req.headers);
        ctx.tls = session
            .digest()
            .and_then(|d| d.ssl_digest.as_ref())
            .is_some();
        let raw_head = session
            .as_downstream()
            .as_http1()
            .map(|h1| h1.get_headers_raw_bytes());
        let decided = DECIDED.try_with(|d| d.borrow_mut().take()).ok().flatten();
        let decision = match decided {
            Some(d) => d,
            None => self.decide(
                &request_facts(req, raw_head.as_deref(), ctx.client_ip, ctx.tls),
                &[],
            ),
        };
        match decision {
            Decision::Forward(f) => {
                let Forward {
                    host,
                    target,
                    route,
                    upstream,
                    rewritten,
                    added,
                    forward_auth,
                    cohort,
                } = *f;
                ctx.cohort = cohort;
                ctx.host = host;
                ctx.target = Some(target);
                ctx.rewritten = rewritten;
                ctx.route = Some(route);
                ctx.picked = Some(upstream);
                ctx.added = added;
                if let Some(retry) = ctx
                    .route
                    .as_ref()
                    .and_then(|r| r.policy.as_deref())
                    .and_then(|p| p.retry())
                {
                    // Keeps the start of the body (Pingora's limit), so a retry can send
                    // it again; a longer body is not retried.
                    session.as_mut().enable_retry_buffering();
                    retry.budget.deposit();
                }
                let idle = self.timeouts(ctx.route.as_ref().expect("set above")).idle;
                if idle != CLIENT_IDLE_TIMEOUT {
                    session.set_read_timeout(Some(idle));
                    session.set_write_timeout(Some(idle));
                }
                if forward_auth {
                    return self.clear_by_service(session, ctx).await;
                }
                Ok(false)
            }
            Decision::Answer(a) => {
                let Answer {
                    status,
                    category,
                    message,
                    location,
                    host,
                    route,
                    close,
                    headers,
                    body,
                } = *a;
                ctx.host = host;
                ctx.route = route;
                ctx.error = Some(category);
                if close {
                    session.set_keepalive(None);
                }
                if let Some(body) = body {
                    let (resp, body) = exact_answer(status, body, &ctx.request_id)?;
                    session.write_response_header(Box::new(resp), false).await?;
                    session.write_response_body(Some(body), true).await?;
                    return Ok(true);
                }
                self.respond(
                    session,
                    ctx,
                    status,
                    &message,
                    location.as_deref(),
                    &headers,
                )
                .await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let route = ctx
            .route
            .clone()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route chosen"))?;
        let upstream = match ctx.picked.take() {
            Some(u) => u,
            // A retry: choose again without the failed addresses (under a retry policy,
            // the last one again when there is no other, as the fast path does).
            None => {
                if let Some(wait) = ctx.retry_wait.take().filter(|w| !w.is_zero()) {
                    pingora_timeout::sleep(wait).await;
                }
                match self.pick(&route, ctx) {
                    Pick::Upstream(u) => u,
                    _ => match (
                        route.policy.as_deref().and_then(|p| p.retry()),
                        ctx.failed_addrs.pop(),
                    ) {
                        (Some(_), Some(_)) => match self.pick(&route, ctx) {
                            Pick::Upstream(u) => u,
                            _ => {
                                return Error::e_explain(
                                    ErrorType::ConnectRefused,
                                    "no other upstream is available",
                                );
                            }
                        },
                        _ => {
                            return Error::e_explain(
                                ErrorType::ConnectRefused,
                                "no other upstream is available",
                            );
                        }
                    },
                }
            }
        };
        let Some(addr) = upstream.addr() else {
            ctx.error = Some(Category::UnresolvedUpstream);
            return Error::e_explain(
                ErrorType::ConnectNoRoute,
                "upstream host name is not resolved",
            );
        };
        ctx.attempts += 1;
        ctx.answered = false;
        let mut peer = HttpPeer::new(addr, upstream.tls(), upstream.sni().to_owned());
        let timeouts = self.timeouts(&route);
        // The total time bounds the connection and the wait for the answer's head; the
        // body's pieces are checked against it as they pass (`upstream_response_body_filter`).
        let left = timeouts.left(ctx.started).unwrap_or(Duration::MAX);
        if left.is_zero() {
            ctx.error = Some(Category::UpstreamTimeout);
            return Error::e_explain(ErrorType::ReadTimedout, "the route's total time is up");
        }
        peer.options.connection_timeout = Some(timeouts.connect.min(left));
        peer.options.read_timeout = Some(timeouts.read.min(left));
        ctx.upstream_addr = Some(addr);
        ctx.upstream = Some(upstream);
        ctx.upstream_started = Some(Instant::now());
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut pingora::http::RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let route = ctx.route.clone().expect("a route was chosen");
        if let Some(rewritten) = &ctx.rewritten {
            upstream_request.set_raw_path(rewritten.as_bytes())?;
        } else if let Some(target) = &ctx.target {
            upstream_request.set_raw_path(target.as_str().as_bytes())?;
        }
        if session.as_downstream().is_http2()
            && let Some(joined) = joined_cookies(&upstream_request.headers)
        {
            let value = HeaderValue::from_bytes(&joined)
                .explain_err(ErrorType::InvalidHTTPHeader, |_| "invalid cookie")?;
            upstream_request.insert_header(http::header::COOKIE, value)?;
        }
        // One Content-Length, however the client wrote it (Pingora has checked that
        // duplicates and lists agree): a backend never sees `5, 5` or two headers.
        if let Some(length) = single_content_length(&upstream_request.headers) {
            upstream_request.insert_header(http::header::CONTENT_LENGTH, length.to_string())?;
        }
        let original_host = match session.req_header().headers.get(http::header::HOST) {
            Some(h) if h.to_str().is_ok() => h.clone(),
            _ => HeaderValue::try_from(ctx.host.as_str())
                .explain_err(ErrorType::InvalidHTTPHeader, |_| "invalid host")?,
        };
        if !route.route.preserve_host
            && let Some(u) = &ctx.upstream
        {
            upstream_request.insert_header(http::header::HOST, u.authority())?;
        }
        let header_of = |ip: IpAddr| {
            let mut text = Vec::with_capacity(48);
            access_log::ip_addr(&mut text, ip);
            HeaderValue::from_maybe_shared(Bytes::from(text))
                .explain_err(ErrorType::InvalidHTTPHeader, |_| "invalid client address")
        };
        if let Some(peer) = ctx.peer_ip {
            let ip = header_of(peer)?;
            let forwarded = match upstream_request
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
            {
                Some(prior) if !prior.is_empty() => {
                    HeaderValue::try_from(format!("{prior}, {}", ip.to_str().unwrap_or_default()))
                        .explain_err(ErrorType::InvalidHTTPHeader, |_| "invalid x-forwarded-for")?
                }
                _ => ip.clone(),
            };
            upstream_request.insert_header("x-forwarded-for", forwarded)?;
        }
        if let Some(client) = ctx.client_ip {
            upstream_request.insert_header("x-real-ip", header_of(client)?)?;
        }
        upstream_request.insert_header(
            "x-forwarded-proto",
            HeaderValue::from_static(if ctx.tls { "https" } else { "http" }),
        )?;
        upstream_request.insert_header("x-forwarded-host", original_host)?;
        upstream_request.insert_header("x-request-id", ctx.request_id_header()?)?;
        if let Some(policy) = &route.policy
            && (!policy.request.is_empty() || !ctx.added.is_empty())
        {
            for name in policy.request.dropped_names() {
                upstream_request.remove_header(name.as_str());
            }
            let vars = Vars {
                client_ip: ctx.client_ip,
                request_id: &ctx.request_id,
                host: &ctx.host,
                tls: ctx.tls,
                cohort: ctx.cohort,
            };
            let mut failed = None;
            policy
                .request
                .each_appended(&vars, &ctx.added, |name, value| {
                    // Values were validated when the record was read: visible text.
                    if let Ok(v) = HeaderValue::from_bytes(value)
                        && let Err(e) = upstream_request.append_header(name.to_owned(), v)
                    {
                        failed = Some(e);
                    }
                });
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(max) = ctx
            .route
            .as_ref()
            .and_then(|r| r.policy.as_ref())
            .and_then(|p| p.max_body)
        {
            ctx.body_seen += body.as_ref().map_or(0, |b| b.len() as u64);
            if ctx.body_seen > max {
                ctx.error = Some(Category::BodyTooLarge);
                return Error::e_explain(ErrorType::HTTPStatus(413), "request body too large");
            }
        }
        // An empty last piece of a body (an HTTP/2 DATA frame with no data that ends the
        // stream, as many clients send): Pingora would write it to a chunked upstream
        // body as an empty chunk — which *is* the last chunk — and then the last chunk
        // again, and the backend would read the second as the start of another request.
        // Without it Pingora writes the last chunk once. (Empty pieces before the end
        // Pingora skips itself.)
        if end_of_stream && body.as_ref().is_some_and(Bytes::is_empty) {
            *body = None;
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // Hop-by-hop headers (RFC 9110 §7.6.1) describe the upstream connection, not the
        // client's: Pingora writes its own `connection`, these it would pass on. The
        // fast path drops the same ones.
        upstream_response.remove_header("keep-alive");
        upstream_response.remove_header("proxy-connection");
        if let Some(started) = ctx.upstream_started {
            let elapsed = started.elapsed();
            ctx.upstream_elapsed = Some(elapsed);
            self.metrics.upstream_seconds.observe(elapsed.as_secs_f64());
        }
        ctx.answered = true;
        let status = upstream_response.status.as_u16();
        if let (Some(u), Some(route)) = (&ctx.upstream, &ctx.route) {
            u.report_success();
            route.balancer_for(ctx.cohort).report(u, status < 500);
        }
        let policy = ctx
            .route
            .as_ref()
            .and_then(|r| r.policy.as_deref())
            .and_then(|p| p.retry());
        if policy.is_some_and(|p| p.retries_status(status))
            && let Some(wait) =
                retry_after(policy, Failed::Status(status), self.replay(session, ctx))
        {
            // Dropped unread: Pingora sends the request again (`upstream_peer` picks
            // another upstream), nothing has reached the client yet.
            if let Some(addr) = ctx.upstream_addr {
                ctx.failed_addrs.push(addr);
            }
            ctx.retry_wait = Some(wait);
            let mut e = Error::explain(
                ErrorType::HTTPStatus(status),
                "the upstream's answer is retried",
            );
            e.set_retry(true);
            return Err(e);
        }
        Ok(())
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        // A route's total time, checked as the answer's pieces pass: once it is up the
        // answer is cut (its head is gone; the client sees the connection end).
        if let Some(route) = &ctx.route
            && route.route.timeouts.total_ms.is_some()
            && self.timeouts(route).left(ctx.started) == Some(Duration::ZERO)
        {
            ctx.error = Some(Category::UpstreamTimeout);
            return Error::e_explain(ErrorType::ReadTimedout, "the route's total time is up");
        }
        Ok(None)
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        upstream_response.insert_header("x-request-id", ctx.request_id_header()?)?;
        if let Some(policy) = ctx.route.as_ref().and_then(|r| r.policy.as_ref())
            && policy.edits_answers()
        {
            for name in policy.answer_dropped_names(ctx.tls) {
                upstream_response.remove_header(name);
            }
            let vars = Vars {
                client_ip: ctx.client_ip,
                request_id: &ctx.request_id,
                host: &ctx.host,
                tls: ctx.tls,
                cohort: ctx.cohort,
            };
            let mut added = Vec::new();
            policy.answer_additions(
                &vars,
                |name| upstream_response.headers.contains_key(name),
                |name, value| {
                    if let Ok(v) = HeaderValue::from_bytes(value) {
                        added.push((name.to_owned(), v));
                    }
                },
            );
            for (name, value) in added {
                upstream_response.append_header(name, value)?;
            }
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Some(u) = &ctx.upstream {
            u.report_failure(self.registry.config());
            if let Some(route) = &ctx.route {
                route.balancer_for(ctx.cohort).report(u, false);
            }
        }
        if let Some(addr) = ctx.upstream_addr {
            ctx.failed_addrs.push(addr);
        }
        let policy = ctx
            .route
            .as_ref()
            .and_then(|r| r.policy.as_deref())
            .and_then(|p| p.retry());
        let replay = self.replay(session, ctx);
        match retry_after(policy, Failed::Connect, replay) {
            Some(wait) => {
                ctx.retry_wait = Some(wait);
                e.set_retry(true);
            }
            None => e.set_retry(false),
        }
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        if let ErrorType::HTTPStatus(_) = e.etype()
            && e.retry()
        {
            // Our own: `upstream_response_filter` decided to retry the answer.
            return e;
        }
        let upstream_side = !is_client_error(&e);
        if upstream_side && let (Some(u), Some(route)) = (&ctx.upstream, &ctx.route) {
            route.balancer_for(ctx.cohort).report(u, false);
        }
        let policy = ctx
            .route
            .as_ref()
            .and_then(|r| r.policy.as_deref())
            .and_then(|p| p.retry());
        let reset = upstream_side
            && !ctx.answered
            && !matches!(
                e.etype(),
                ErrorType::ReadTimedout | ErrorType::WriteTimedout | ErrorType::ConnectTimedout
            );
        if policy.is_some() && reset {
            match retry_after(policy, Failed::Reset, self.replay(session, ctx)) {
                Some(wait) => {
                    if let Some(addr) = ctx.upstream_addr {
                        ctx.failed_addrs.push(addr);
                    }
                    ctx.retry_wait = Some(wait);
                    e.set_retry(true);
                }
                None => e.set_retry(false),
            }
            return e;
        }
        // Pingora's own rule otherwise: a reused connection that broke is sent again
        // when the request is idempotent and its body is held.
        if !session.req_header().method.is_idempotent() || session.as_ref().retry_buffer_truncated()
        {
            e.set_retry(false);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        e
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let (code, category, message) = match e.etype() {
            ErrorType::HTTPStatus(413) if ctx.error == Some(Category::BodyTooLarge) => (
                413,
                Category::BodyTooLarge,
                "413 Content Too Large: the body is larger than this host accepts",
            ),
            ErrorType::HTTPStatus(code) => (*code, Category::HttpStatus, "request failed"),
            _ if is_client_gone(e) => CLIENT_GONE,
            _ if is_client_error(e) => (400, Category::BadRequest, "400 Bad Request"),
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                UPSTREAM_TIMEOUT
            }
            ErrorType::ConnectRefused
            | ErrorType::ConnectNoRoute
            | ErrorType::ConnectError
            | ErrorType::ConnectionClosed
            | ErrorType::ConnectProxyFailure => UPSTREAM_CONNECT,
            ErrorType::TLSHandshakeFailure | ErrorType::InvalidCert | ErrorType::HandshakeError => {
                (
                    502,
                    Category::UpstreamTls,
                    "502 Bad Gateway: TLS with the upstream failed",
                )
            }
            _ => UPSTREAM_ERROR,
        };
        ctx.error.get_or_insert(category);
        if code > 0
            && session.response_written().is_none()
            && let Err(write) = self.respond(session, ctx, code, message, None, &[]).await
        {
            tracing::debug!(error = %write, "cannot send the error answer");
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// A client that goes away mid-request is routine (load generators, browsers closing
    /// tabs): the access log line records it as `client_gone`, so Pingora's ERROR line for
    /// it is dropped. Every other failure keeps Pingora's log line with its details.
    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, error: &Error) -> bool {
        is_client_gone(error)
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let req = session.req_header();
        let entry = access_log::Entry {
            request_id: &ctx.request_id,
            client_ip: ctx.client_ip,
            host: &ctx.host,
            zone: ctx.route.as_ref().map_or("", |r| r.host.as_str()),
            method: req.method.as_str(),
            path: ctx
                .target
                .as_ref()
                .map_or_else(|| req.uri.path(), |t| t.path()),
            status,
            bytes: session.body_bytes_sent(),
            duration_ms: ctx.started.elapsed().as_secs_f64() * 1000.0,
            upstream: ctx.upstream_addr,
            group: ctx.route.as_ref().map_or("", |r| r.group_name(ctx.cohort)),
            upstream_ms: ctx
                .upstream_elapsed
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            error: ctx.error.or(e.map(|_| Category::Error)),
        };
        crate::complete::complete(&self.metrics, &entry, &ctx.span);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::new_request_id;

    #[test]
    fn request_ids_are_v4_uuids_never_repeated_within_or_across_threads() {
        let mine: Vec<String> = (0..50_000).map(|_| new_request_id()).collect();
        let theirs = std::thread::spawn(|| (0..50_000).map(|_| new_request_id()).collect())
            .join()
            .expect("the other thread ends");
        let mut seen = HashSet::new();
        for id in mine.iter().chain(&theirs as &Vec<String>) {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(uuid.get_version_num(), 4, "{id}");
            assert!(seen.insert(id.clone()), "{id} came twice");
        }
    }
}
