//! The fast path: keep-alive HTTP/1.1 requests (plain HTTP, or over TLS after Pingora's
//! handshake) and HTTP/2 streams proxied without Pingora's per-request session
//! machinery, and every other request handed to Pingora.
//!
//! Pingora still owns the listeners, the runtimes, the TLS handshake (certificate per
//! SNI), the HTTP/2 codec, graceful shutdown and the zero-downtime upgrade. [`Front`] is
//! the [`ServerApp`] on the proxy's listeners: a connection that negotiated HTTP/2 by
//! ALPN is served stream by stream by [`h2`] (each stream here or by Pingora's
//! `HttpProxy`, which runs the same [`Router`]); an HTTP/1 connection,
//! plain or TLS, is served here, request after request, as long as the decision core
//! ([`Router::decide`]) forwards it and the request is of the common kind — HTTP/1.1,
//! origin-form target, one `Host`, no body or a `Content-Length` one, no
//! `Upgrade`/`Expect`/`Transfer-Encoding`, a plain HTTP upstream. A head `httparse`
//! refuses is answered 400 here. The first request that is anything else (an answer the
//! proxy makes itself — 404, 403, 308, 503 —, a WebSocket upgrade, a chunked upload, a TLS
//! upstream, a route with forward auth, whose sub-request Pingora's path makes) is handed to Pingora with every byte read so far, and Pingora keeps the
//! connection from then on. So each behaviour has one implementation that decides it,
//! and this module only has to be right about the requests it accepts.
//!
//! Why it exists: a profile put ~80% of the proxy's user-space instructions per request
//! in Pingora's generic HTTP/1 path (header maps with case maps, request header copies,
//! large futures moved per request, two task channels per request), and the issue's
//! throughput target is nginx's (docs/benchmarks.md). Here a request costs one read from
//! the client, one write of a rebuilt head to a pooled upstream connection, one read of
//! the answer and one write to the client, like nginx; headers are copied as bytes, not
//! parsed into maps (`httparse` does the parsing, as it does inside Pingora).
//!
//! What it must never do: answer differently from the Pingora path for the same request
//! (the same forwarding headers, answers, access line and metrics), write to a client
//! before it is sure to keep the request (a request handed over must be untouched), or
//! reuse an upstream connection whose answer was not read to its end.

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{ALPN, Stream};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use switchyard_shared::RequestTarget;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::Span;

use crate::access_log;
use crate::decide::{Category, Decision, Facts, Forward, H1Headers, client_address};
use crate::framing::{self, BodyFraming, Parsed};
use crate::policy::{AddedHeaders, Cohort, RoutePolicy, Vars};
use crate::proxy_protocol::ProxyProtocol;
use crate::resilience::{Failed, Replay, retry_after};
use crate::service::{
    CLIENT_GONE, DECIDED, FailureAnswer, Router, UPSTREAM_CONNECT, UPSTREAM_ERROR,
    UPSTREAM_TIMEOUT, new_request_id, own_body, sane_request_id,
};
use crate::snapshot::RouteEntry;
use crate::upstreams::{Balancer, HealthConfig, Pick, Upstream};

mod deadline;
mod h2;

use deadline::Deadline;

/// Largest request or response head read here; a larger request head goes to Pingora
/// (which allows more), a larger response head is a 502.
const MAX_HEAD: usize = 64 * 1024;
/// Most header lines in a head parsed here (more: handed to Pingora / 502).
const MAX_HEADERS: usize = 128;
/// How long a client connection may sit idle between requests (Pingora's default too).
const KEEPALIVE: Duration = Duration::from_secs(60);
/// Longest wait for a client to send more of a request, or to take more of an answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// An idle upstream connection older than this is closed instead of reused.
const POOL_IDLE: Duration = Duration::from_secs(30);
/// Read size for bodies streamed through.
const CHUNK: usize = 16 * 1024;
/// Keep-alive seconds given to Pingora for a connection handed over.
const PINGORA_KEEPALIVE_SECS: u64 = 60;

/// The proxy's listener application: the fast path in front of Pingora's proxy.
pub struct Front {
    router: Router,
    pingora: Arc<HttpProxy<Router>>,
    pool: Pool,
    enabled: bool,
    /// Read on plain connections before anything else (TLS ones: in Pingora's pre-TLS
    /// callback, see `crate::build_server`).
    proxy_protocol: ProxyProtocol,
}

impl Front {
    /// `pingora` runs the same `router`; with `enabled` false every connection goes to it.
    /// At most `idle_max` idle upstream connections are kept (`--upstream-idle-max`).
    /// `proxy_protocol`: the PROXY header plain connections may or must start with.
    pub fn new(
        router: Router,
        pingora: HttpProxy<Router>,
        enabled: bool,
        idle_max: usize,
        proxy_protocol: ProxyProtocol,
    ) -> Self {
        Self {
            router,
            pingora: Arc::new(pingora),
            pool: Pool::new(idle_max),
            enabled,
            proxy_protocol,
        }
    }

    /// Pingora serves the connection from here on, starting with the bytes already read.
    /// `decided`: the decision the fast path made for the first request in `read`.
    async fn hand_off(
        &self,
        stream: Stream,
        read: BytesMut,
        decided: Option<Decision>,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let mut session = ServerSession::new_http1(stream);
        session.set_pipelining_enabled(true);
        if !read.is_empty() {
            session.set_pipelined_prefix(read);
        }
        session.set_keepalive((!*shutdown.borrow()).then_some(PINGORA_KEEPALIVE_SECS));
        let first = self.pingora.process_new_http(session, shutdown);
        let mut next = match decided {
            Some(d) => DECIDED.scope(RefCell::new(Some(d)), first).await,
            None => first.await,
        };
        while let Some((stream, settings)) = next.map(|r| r.consume()) {
            let mut session = ServerSession::new_http1(stream);
            if let Some(settings) = settings {
                settings.apply_to_session(&mut session);
            }
            next = self.pingora.process_new_http(session, shutdown).await;
        }
        None
    }
}

#[async_trait]
impl ServerApp for Front {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // A plain connection's PROXY header, before any request byte (a TLS connection's
        // was read before its handshake). Refused: close.
        if stream.get_ssl_digest().is_none()
            && self.proxy_protocol.accept(&mut *stream).await.is_err()
        {
            return None;
        }
        // HTTP/1 over TLS is served here like plain HTTP, after Pingora's handshake
        // (certificate per SNI); HTTP/2 (negotiated by ALPN) stream by stream (`h2.rs`).
        if !self.enabled {
            return ServerApp::process_new(&self.pingora, stream, shutdown).await;
        }
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            self.serve_h2(stream, shutdown).await;
            return None;
        }
        let tls = stream.get_ssl_digest().is_some();
        let peer_ip = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).copied())
            .map(|a| a.ip().to_canonical());
        let mut conn = Conn {
            front: self,
            client: stream,
            peer_ip,
            tls,
            buf: BytesMut::with_capacity(8 * 1024),
            ubuf: BytesMut::with_capacity(8 * 1024),
            out: Vec::with_capacity(1024),
            idle: CLIENT_TIMEOUT,
            timer: Deadline::default(),
        };
        match conn.serve(shutdown).await {
            Served::Closed => None,
            Served::HandOff(decided) => {
                let Conn { client, buf, .. } = conn;
                self.hand_off(client, buf, decided, shutdown).await
            }
        }
    }

    async fn cleanup(&self) {
        self.pingora.http_cleanup().await;
    }
}

/// How a connection left the fast path.
enum Served {
    /// Closed (by either side, or after an answer that ends the connection).
    Closed,
    /// Pingora takes it over; `Conn::buf` holds the unprocessed bytes.
    /// Pingora serves the rest, with the decision already made for the first request.
    HandOff(Option<Decision>),
}

/// One client connection on the fast path.
struct Conn<'a> {
    front: &'a Front,
    client: Stream,
    /// The TCP peer (the client, or a trusted proxy in front: see `Accepted::client_ip`).
    peer_ip: Option<IpAddr>,
    /// The connection is HTTPS (`X-Forwarded-Proto`, redirects).
    tls: bool,
    /// Bytes from the client not yet processed (the current request head first).
    buf: BytesMut,
    /// Bytes from the upstream.
    ubuf: BytesMut,
    /// Heads being written (upstream request, client answer).
    out: Vec<u8>,
    /// The current exchange's client timeout (its route's `idle_ms`).
    idle: Duration,
    /// The time limit of every wait (see `deadline.rs`).
    timer: Deadline,
}

/// A request the fast path took, with its upstream head in `Conn::out`.
struct Accepted {
    head_len: usize,
    method: std::ops::Range<usize>,
    is_head: bool,
    /// The method may be sent twice (RFC 9110 §9.2.2), so a request that found its pooled
    /// connection closed is sent again on a new one.
    resendable: bool,
    /// Body length (0 without a body).
    body_len: u64,
    client_close: bool,
    host: String,
    /// The normalised target the route was chosen on.
    target: RequestTarget,
    /// What goes upstream instead of `target` when the route rewrites the path.
    rewritten: Option<String>,
    request_id: String,
    route: Arc<RouteEntry>,
    upstream: Arc<Upstream>,
    addr: SocketAddr,
    /// The client connection is HTTPS.
    tls: bool,
    /// The client's address ([`crate::decide::client_address`]).
    client_ip: Option<IpAddr>,
    /// Request header fields admission added (a JWT's claims).
    added: AddedHeaders,
    /// The split group chosen (retries stay in it; its answer may set the cookie).
    cohort: Option<Cohort>,
}

impl Accepted {
    fn head_facts<'a>(&'a self, method: &'a str, peer_ip: Option<IpAddr>) -> HeadFacts<'a> {
        HeadFacts {
            method,
            target: self.rewritten.as_deref().unwrap_or(self.target.as_str()),
            host: &self.host,
            preserve_host: self.route.route.preserve_host,
            body_len: self.body_len,
            chunked: false,
            tls: self.tls,
            request_id: &self.request_id,
            client_ip: self.client_ip,
            peer_ip,
            policy: self.route.policy.as_deref(),
            added: &self.added,
        }
    }
}

/// The outcome of looking at the start of `Conn::buf`.
enum Look {
    Partial,
    HandOff,
    /// Decided, but Pingora writes the answer or forwards (a TLS upstream).
    Decided(Decision),
    /// A malformed or ambiguous head: answered 400 and the connection closed.
    Refuse(framing::Refusal),
    Accept(Box<Accepted>),
}

/// What went wrong, for the answer and the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    ConnectTimeout,
    Connect,
    Timeout,
    Broken,
    /// The client went away or stopped reading: nothing more to send.
    ClientGone,
}

impl Failure {
    /// Status, access-log category and message, as the Pingora path answers them.
    fn answer(self) -> FailureAnswer {
        match self {
            Failure::ConnectTimeout | Failure::Timeout => UPSTREAM_TIMEOUT,
            Failure::Connect => UPSTREAM_CONNECT,
            Failure::Broken => UPSTREAM_ERROR,
            Failure::ClientGone => CLIENT_GONE,
        }
    }
}

/// Why sending a request or reading its answer's head failed.
enum Exchange {
    /// A pooled connection turned out closed before any answer byte: safe to resend.
    Stale,
    /// The connection broke before any byte of the answer (and the request was not one
    /// that is simply sent again as `Stale`): a retry policy may send it again.
    Reset,
    Failed(Failure),
}

/// How an answer body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// An answer whose head has been parsed, and rebuilt for the client in `Conn::out`.
struct AnswerHead {
    status: u16,
    head_len: usize,
    framing: Framing,
    upstream_keepalive: bool,
}

impl Conn<'_> {
    async fn serve(&mut self, shutdown: &ShutdownWatch) -> Served {
        let mut watch = shutdown.clone();
        // Polled while the connection is idle; made once, not per request.
        let mut stop = std::pin::pin!(until_shutdown(&mut watch));
        loop {
            let accepted = loop {
                if !self.buf.is_empty() {
                    match self.look() {
                        Look::Accept(a) => break a,
                        Look::HandOff => return Served::HandOff(None),
                        Look::Decided(d) => return Served::HandOff(Some(d)),
                        Look::Refuse(why) => {
                            self.refuse_malformed(why).await;
                            return Served::Closed;
                        }
                        Look::Partial if self.buf.len() >= MAX_HEAD => {
                            return Served::HandOff(None);
                        }
                        Look::Partial => {}
                    }
                }
                let idle = self.buf.is_empty();
                self.buf.reserve(4096);
                let read = if idle {
                    // Between requests a graceful shutdown closes the connection at once.
                    let read = self.client.read_buf(&mut self.buf);
                    match self
                        .timer
                        .limit_unless(KEEPALIVE, read, stop.as_mut())
                        .await
                    {
                        Some(read) => read,
                        None => return Served::Closed,
                    }
                } else {
                    let read = self.client.read_buf(&mut self.buf);
                    self.timer.limit(CLIENT_TIMEOUT, read).await
                };
                match read {
                    Ok(Ok(n)) if n > 0 => {}
                    // Closed, failed or idle too long: nothing is owed to the client.
                    _ => return Served::Closed,
                }
            };
            if !self.proxy_one(*accepted, shutdown).await {
                return Served::Closed;
            }
        }
    }

    /// Parses the request at the start of `buf` and decides whether the fast path takes
    /// it; when it does, the upstream request head is left in `out`.
    fn look(&mut self) -> Look {
        let mut headers = [std::mem::MaybeUninit::uninit(); MAX_HEADERS];
        let (req, head_len, framing) = match framing::parse_head(&self.buf, &mut headers) {
            Parsed::Head {
                req,
                head_len,
                framing,
            } => (req, head_len, framing),
            Parsed::Partial => return Look::Partial,
            // Pingora takes more header lines than this path parses.
            Parsed::TooManyHeaders => return Look::HandOff,
            // Answered 400 here: Pingora would "repair" some of it (it percent-encodes an
            // illegal request line) and route on the repaired form.
            Parsed::Refuse(why) => return Look::Refuse(why),
        };
        let (body_len, content_length) = match framing {
            BodyFraming::None => (0, None),
            BodyFraming::Length(n) => (n, Some(n)),
            // Chunked uploads are Pingora's.
            BodyFraming::Chunked => return Look::HandOff,
        };
        let (Some(method), Some(path), Some(1)) = (req.method, req.path, req.version) else {
            return Look::HandOff;
        };
        if !path.starts_with('/') || method == "CONNECT" {
            return Look::HandOff;
        }
        let mut raw_host = None;
        let mut client_close = false;
        let mut request_id = None;
        let mut underscore_header = false;
        for h in req.headers.iter() {
            let name = h.name;
            underscore_header |= name.contains('_');
            if name.eq_ignore_ascii_case("host") {
                if raw_host.replace(h.value).is_some() {
                    return Look::HandOff;
                }
            } else if name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        client_close = true;
                    } else if !token.eq_ignore_ascii_case(b"keep-alive") && !token.is_empty() {
                        // `upgrade`, or a header named as hop-by-hop: Pingora's business.
                        return Look::HandOff;
                    }
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("upgrade")
                || name.eq_ignore_ascii_case("expect")
            {
                return Look::HandOff;
            } else if name.eq_ignore_ascii_case("x-request-id") && request_id.is_none() {
                request_id = Some(std::str::from_utf8(h.value).unwrap_or_default());
            }
        }
        let Some(raw_host) = raw_host else {
            return Look::HandOff;
        };
        let router = &self.front.router;
        let headers = H1Headers(req.headers);
        let client_ip = client_address(&router.settings.trusted_proxies, self.peer_ip, &headers);
        let facts = Facts {
            method: method.as_bytes(),
            host: raw_host,
            target: path.as_bytes(),
            client_ip,
            tls: self.tls,
            underscore_header,
            framing: None,
            content_length,
            headers: &headers,
        };
        // Every answer of the proxy's own is Pingora's to write, with this decision.
        let forward = match router.decide(&facts, &[]) {
            Decision::Forward(f) => f,
            answer => return Look::Decided(answer),
        };
        // A TLS upstream, or a forward-auth sub-request before forwarding: Pingora's.
        let addr = match forward.upstream.addr() {
            Some(addr) if !forward.upstream.tls() && !forward.forward_auth => addr,
            _ => return Look::Decided(Decision::Forward(forward)),
        };
        let Forward {
            host,
            target,
            route,
            upstream,
            rewritten,
            added,
            forward_auth: _,
            cohort,
        } = *forward;
        let request_id = match request_id {
            Some(id) if sane_request_id(id) => id.to_owned(),
            _ => new_request_id(),
        };
        let base = self.buf.as_ptr() as usize;
        let range = |s: &str| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        let accepted = Accepted {
            head_len,
            method: range(method),
            is_head: method == "HEAD",
            resendable: crate::resilience::idempotent(method.as_bytes()),
            body_len,
            client_close,
            host,
            target,
            rewritten,
            request_id,
            route,
            upstream,
            addr,
            tls: self.tls,
            client_ip,
            added,
            cohort,
        };
        upstream_head(
            &mut self.out,
            &accepted.head_facts(method, self.peer_ip),
            req.headers.iter().map(|h| (h.name, h.value)),
            &accepted.upstream,
        );
        Look::Accept(Box::new(accepted))
    }

    /// The upstream head again, for another upstream (a retry after a failed connect).
    fn rebuild_head(&mut self, a: &Accepted, upstream: &Upstream) {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        // The same bytes were parsed before: this cannot fail.
        let _ = req.parse(&self.buf[..a.head_len]);
        let method = std::str::from_utf8(&self.buf[a.method.clone()]).unwrap_or_default();
        upstream_head(
            &mut self.out,
            &a.head_facts(method, self.peer_ip),
            req.headers.iter().map(|h| (h.name, h.value)),
            upstream,
        );
    }

    /// Proxies one accepted request. Returns whether the client connection stays open.
    async fn proxy_one(&mut self, a: Accepted, shutdown: &ShutdownWatch) -> bool {
        let started = Instant::now();
        let span = crate::trace::request_span();
        let front = self.front;
        let router = &front.router;
        let body_in_buf = (self.buf.len() - a.head_len).min(a.body_len as usize);
        let body_buffered = body_in_buf as u64 == a.body_len;
        let timeouts = router.timeouts(&a.route);
        let read_timeout = timeouts.read;
        self.idle = timeouts.idle;
        let head_end = a.head_len;
        self.out
            .extend_from_slice(&self.buf[head_end..head_end + body_in_buf]);

        let mut attempt = H1Attempt {
            conn: self,
            a: &a,
            body_buffered,
            body_in_buf,
            read_timeout,
        };
        let attempts = front.attempts(
            &a.route,
            a.cohort,
            (a.upstream.clone(), a.addr, started),
            body_buffered && a.resendable,
            timeouts.connect,
            &mut attempt,
        );
        let Attempted {
            result: exchanged,
            addr,
            elapsed,
        } = match timeouts.total {
            None => attempts.await,
            Some(total) => pingora_timeout::timeout(total, attempts)
                .await
                .unwrap_or(Attempted {
                    result: Err(Failure::Timeout),
                    addr: a.addr,
                    elapsed: None,
                }),
        };

        let mut status = 0;
        let mut bytes = 0u64;
        let upstream_ms = elapsed.map_or(0.0, |e| e.as_secs_f64() * 1000.0);
        let mut error = None;
        let mut keep = false;
        let mut reusable = None;
        match exchanged {
            Ok((mut conn, head)) => {
                status = head.status;
                let close =
                    a.client_close || head.framing == Framing::UntilClose || *shutdown.borrow();
                // As Pingora words it: the connection's fate ends the head.
                self.out.extend_from_slice(if close {
                    b"connection: close\r\n\r\n"
                } else {
                    b"connection: keep-alive\r\n\r\n"
                });
                let body = self.forward_body(&mut conn, &head, read_timeout, &mut bytes);
                let body = match timeouts.left(started) {
                    None => body.await,
                    Some(left) => pingora_timeout::timeout(left, body)
                        .await
                        .unwrap_or(Err(Failure::Timeout)),
                };
                match body {
                    Ok(reuse) => {
                        if reuse {
                            reusable = Some(conn);
                        }
                        keep = !close;
                    }
                    Err(f) => error = Some(f.answer().1),
                }
            }
            Err(f) => {
                let (code, category, message) = f.answer();
                error = Some(category);
                if code > 0
                    && self
                        .respond(code, message, &a.request_id, Some(&a.route))
                        .await
                        .is_ok()
                {
                    status = code;
                }
            }
        }

        // One clock reading ends the request: the pool's and the access line's.
        let finished = Instant::now();
        if let Some(conn) = reusable {
            front.pool.put(addr, conn, finished);
        }
        let entry = access_log::Entry {
            request_id: &a.request_id,
            client_ip: a.client_ip,
            host: &a.host,
            zone: a.route.host.as_str(),
            method: std::str::from_utf8(&self.buf[a.method.clone()]).unwrap_or_default(),
            path: a.target.path(),
            status,
            bytes: bytes as usize,
            duration_ms: finished.saturating_duration_since(started).as_secs_f64() * 1000.0,
            upstream: Some(addr),
            upstream_ms,
            group: a.route.group_name(a.cohort),
            error,
        };
        crate::complete::complete(&router.metrics, &entry, &span);
        if keep {
            // A body streamed from the connection was never in `buf` (see `exchange`).
            let consumed = (a.head_len + body_in_buf).min(self.buf.len());
            self.buf.advance(consumed);
        }
        keep
    }

    /// Sends the request in `out` (head and the body bytes already read), streams the
    /// rest of the body from the client, and reads the answer's head, rebuilt for the
    /// client into `out`. Interim (1xx) answers are passed on as they come.
    async fn exchange(
        &mut self,
        conn: &mut TcpStream,
        a: &Accepted,
        body_buffered: bool,
        read_timeout: Duration,
        reused: bool,
    ) -> Result<AnswerHead, Exchange> {
        // Nothing of the answer came: a pooled connection the upstream had closed
        // (`Stale`: sent again on a new one, when that is safe), else a reset.
        let unanswered = |reused: bool| {
            if reused && body_buffered && a.resendable {
                Exchange::Stale
            } else {
                Exchange::Reset
            }
        };
        match self
            .timer
            .limit(read_timeout, conn.write_all(&self.out))
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(unanswered(reused)),
            Err(_) => return Err(Exchange::Failed(Failure::Timeout)),
        }
        if !body_buffered {
            let in_buf = (self.buf.len() - a.head_len) as u64;
            let mut left = a.body_len - in_buf;
            while left > 0 {
                self.ubuf.clear();
                self.ubuf.reserve(CHUNK);
                let n = match self
                    .timer
                    .limit(
                        self.idle,
                        (&mut self.client).take(left).read_buf(&mut self.ubuf),
                    )
                    .await
                {
                    Ok(Ok(n)) if n > 0 => n,
                    _ => return Err(Exchange::Failed(Failure::ClientGone)),
                };
                left -= n as u64;
                match self
                    .timer
                    .limit(read_timeout, conn.write_all(&self.ubuf))
                    .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Err(Exchange::Failed(Failure::Broken)),
                    Err(_) => return Err(Exchange::Failed(Failure::Timeout)),
                }
            }
            // The body is consumed from the connection, not from `buf`.
            self.buf.truncate(a.head_len);
        }
        self.ubuf.clear();
        let mut answered = false;
        loop {
            if !self.ubuf.is_empty() {
                let mut headers = [std::mem::MaybeUninit::uninit(); MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut []);
                match parse_answer(&mut resp, &self.ubuf, &mut headers) {
                    Ok(httparse::Status::Complete(head_len)) => {
                        let status = resp.code.unwrap_or_default();
                        if (100..200).contains(&status) {
                            if status == 101 {
                                return Err(Exchange::Failed(Failure::Broken));
                            }
                            // Interim answer (103 Early Hints, 102): pass it on as is.
                            let head = self.ubuf.split_to(head_len);
                            answered = true;
                            if self.write_client(&head).await.is_err() {
                                return Err(Exchange::Failed(Failure::ClientGone));
                            }
                            continue;
                        }
                        return match answer_head(&mut self.out, &resp, a, head_len) {
                            Some(head) => Ok(head),
                            None => Err(Exchange::Failed(Failure::Broken)),
                        };
                    }
                    Ok(httparse::Status::Partial) if self.ubuf.len() < MAX_HEAD => {}
                    _ => return Err(Exchange::Failed(Failure::Broken)),
                }
                answered = true;
            }
            self.ubuf.reserve(4096);
            match self
                .timer
                .limit(read_timeout, conn.read_buf(&mut self.ubuf))
                .await
            {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) if !answered => return Err(unanswered(reused)),
                Ok(_) => return Err(Exchange::Failed(Failure::Broken)),
                Err(_) => return Err(Exchange::Failed(Failure::Timeout)),
            }
        }
    }

    /// Sends the answer head in `out` with the body bytes already read, then streams the
    /// rest of the body. `Ok(reusable)`: the answer was passed on whole, and whether the
    /// upstream connection may serve another request. An error means either side broke
    /// off; the client connection must then be closed (its answer is cut short).
    async fn forward_body(
        &mut self,
        conn: &mut TcpStream,
        head: &AnswerHead,
        read_timeout: Duration,
        bytes: &mut u64,
    ) -> Result<bool, Failure> {
        self.ubuf.advance(head.head_len);
        let mut chunked = Chunked::default();
        let mut left = match head.framing {
            Framing::Empty => 0,
            Framing::Length(n) => n,
            Framing::Chunked | Framing::UntilClose => u64::MAX,
        };
        let mut first = true;
        loop {
            let take = match head.framing {
                Framing::Chunked => chunked.feed(&self.ubuf).ok_or(Failure::Broken)?,
                _ => self
                    .ubuf
                    .len()
                    .min(usize::try_from(left).unwrap_or(usize::MAX)),
            };
            if head.framing != Framing::UntilClose {
                left -= take as u64;
            }
            *bytes += take as u64;
            let data = std::mem::take(&mut self.ubuf);
            let written = if first {
                first = false;
                self.out.extend_from_slice(&data[..take]);
                let out = std::mem::take(&mut self.out);
                let written = self.write_client(&out).await;
                self.out = out;
                written
            } else if take > 0 {
                self.write_client(&data[..take]).await
            } else {
                Ok(())
            };
            let extra = data.len() > take;
            self.ubuf = data;
            written.map_err(|_| Failure::ClientGone)?;
            let done = match head.framing {
                Framing::Chunked => chunked.done(),
                Framing::UntilClose => false,
                _ => left == 0,
            };
            if done {
                // Bytes after the end are not an answer to anything: the connection
                // is not reused then.
                return Ok(head.upstream_keepalive && !extra);
            }
            self.ubuf.clear();
            self.ubuf.reserve(CHUNK);
            match self
                .timer
                .limit(read_timeout, conn.read_buf(&mut self.ubuf))
                .await
            {
                Ok(Ok(n)) if n > 0 => {}
                Ok(Ok(_)) if head.framing == Framing::UntilClose => return Ok(false),
                Ok(_) => return Err(Failure::Broken),
                Err(_) => return Err(Failure::Timeout),
            }
        }
    }

    /// Writes to the client and flushes (Pingora's streams buffer writes).
    async fn write_client(&mut self, data: &[u8]) -> io::Result<()> {
        let Conn {
            client,
            timer,
            idle,
            ..
        } = self;
        let write = async {
            client.write_all(data).await?;
            client.flush().await
        };
        match timer.limit(*idle, write).await {
            Ok(r) => r,
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        }
    }

    /// A head httparse refuses: 400, logged like any answer, and the connection ends.
    async fn refuse_malformed(&mut self, why: &str) {
        let started = Instant::now();
        let request_id = new_request_id();
        let status = match self
            .respond(400, &format!("400 Bad Request: {why}"), &request_id, None)
            .await
        {
            Ok(()) => 400,
            Err(_) => 0,
        };
        let entry = access_log::Entry {
            request_id: &request_id,
            client_ip: self.peer_ip,
            host: "",
            zone: "",
            method: "",
            path: "",
            status,
            bytes: 0,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            upstream: None,
            upstream_ms: 0.0,
            group: "",
            error: Some(Category::BadFraming),
        };
        crate::complete::complete(&self.front.router.metrics, &entry, &Span::none());
    }

    /// An answer of the proxy's own, as `Router::respond` writes it, ending the connection.
    async fn respond(
        &mut self,
        status: u16,
        message: &str,
        request_id: &str,
        route: Option<&RouteEntry>,
    ) -> io::Result<()> {
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let (content_type, body) = own_body(route, status, message, request_id);
        let text = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n\
             content-length: {}\r\ncache-control: no-store\r\nx-request-id: {request_id}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        self.write_client(text.as_bytes()).await
    }
}

/// One request's side of sending it upstream, for [`Front::attempts`]: the HTTP/1
/// fast path's and the HTTP/2 one's.
trait Attempt {
    /// The answer's head, as the exchange reads it.
    type Head;
    /// The answer's status.
    fn status(head: &Self::Head) -> u16;
    /// Rewrites the upstream request for another upstream (after a failed attempt).
    fn retarget(&mut self, upstream: &Upstream);
    /// Sends the request on `conn` (`reused`: it came from the pool) and reads the
    /// answer's head.
    async fn exchange(
        &mut self,
        conn: &mut TcpStream,
        reused: bool,
    ) -> Result<Self::Head, Exchange>;
}

/// How [`Front::attempts`] ended.
struct Attempted<H> {
    /// The connection with the answer's head read, or why there is none.
    result: Result<(TcpStream, H), Failure>,
    /// The address of the last attempt.
    addr: SocketAddr,
    /// How long the upstream took to answer (the head), when it did.
    elapsed: Option<Duration>,
}

impl Front {
    /// Sends a request to `first` and reads its answer's head: on an idle pooled
    /// connection when there is one (unless `safe`, one the upstream has closed meanwhile
    /// is skipped: the request may not be sent twice), else on a new one. `safe`: the
    /// method is idempotent and the whole body is held, so the request may be sent again.
    ///
    /// Every attempt's outcome goes to the endpoint's health and the route's circuit
    /// breakers; whether a failed attempt is sent again, and after how long, is
    /// [`crate::resilience::retry_after`]'s decision (the route's retry policy and
    /// budget); the next upstream comes from the route's (or split group's) balancer,
    /// another one than those that failed when there is one. A pooled connection that
    /// turns out closed before any answer makes the pool forget that address and the
    /// request go again on a new connection. The one place both fast paths decide where a
    /// request goes and whether it is sent again.
    async fn attempts<A: Attempt>(
        &self,
        route: &RouteEntry,
        cohort: Option<crate::policy::Cohort>,
        // The first upstream, its address and when the request's attempts begin.
        first: (Arc<Upstream>, SocketAddr, Instant),
        safe: bool,
        connect_timeout: Duration,
        request: &mut A,
    ) -> Attempted<A::Head> {
        let health = self.router.registry.config();
        let balancer = route.balancer_for(cohort);
        let policy = route.policy.as_deref().and_then(|p| p.retry());
        if let Some(p) = policy {
            p.budget.deposit();
        }
        let default_tries = self
            .router
            .settings
            .max_attempts
            .min(balancer.upstreams().len()) as u32;
        let (mut upstream, mut addr, began) = first;
        let mut failed: Vec<SocketAddr> = Vec::new();
        let mut tries = 1;
        let mut from_pool = true;
        // The first attempt starts with the request (one clock read fewer per request).
        let mut started = began;
        loop {
            if tries > 1 || !from_pool {
                started = Instant::now();
            }
            let pooled = if from_pool {
                self.pool.take(addr, !safe, started)
            } else {
                None
            };
            let reused = pooled.is_some();
            let outcome = match pooled {
                Some(conn) => Ok(conn),
                None => connect(addr, connect_timeout).await,
            };
            let (why, failure) = match outcome {
                Err(f) => {
                    upstream.report_failure(health);
                    (Failed::Connect, f)
                }
                Ok(mut conn) => match request.exchange(&mut conn, reused).await {
                    Ok(head) => {
                        let elapsed = started.elapsed();
                        self.router
                            .metrics
                            .upstream_seconds
                            .observe(elapsed.as_secs_f64());
                        upstream.report_success();
                        let status = A::status(&head);
                        balancer.report(&upstream, status < 500);
                        let retry = policy.is_some_and(|p| p.retries_status(status));
                        if !retry {
                            return Attempted {
                                result: Ok((conn, head)),
                                addr,
                                elapsed: Some(elapsed),
                            };
                        }
                        // The answer is one the policy retries: unless the retry is
                        // refused, it is dropped unread with its connection.
                        let replay = Replay {
                            safe,
                            tries,
                            default_tries,
                        };
                        match retry_after(policy, Failed::Status(status), replay).and_then(|wait| {
                            Some((wait, retry_upstream(balancer, health, &failed, addr)?))
                        }) {
                            None => {
                                return Attempted {
                                    result: Ok((conn, head)),
                                    addr,
                                    elapsed: Some(elapsed),
                                };
                            }
                            Some((wait, next)) => {
                                drop(conn);
                                failed.push(addr);
                                (upstream, addr) = next;
                                tries += 1;
                                from_pool = true;
                                pingora_timeout::sleep(wait).await;
                                request.retarget(&upstream);
                                continue;
                            }
                        }
                    }
                    Err(Exchange::Stale) => {
                        // The upstream closed its idle connections (restart, idle timeout):
                        // forget them and send again on a new one.
                        self.pool.forget(addr);
                        from_pool = false;
                        continue;
                    }
                    Err(Exchange::Reset) => (Failed::Reset, Failure::Broken),
                    Err(Exchange::Failed(f)) => {
                        if f != Failure::ClientGone {
                            balancer.report(&upstream, false);
                        }
                        return Attempted {
                            result: Err(f),
                            addr,
                            elapsed: None,
                        };
                    }
                },
            };
            balancer.report(&upstream, false);
            failed.push(addr);
            let replay = Replay {
                safe,
                tries,
                default_tries,
            };
            let next = retry_after(policy, why, replay).and_then(|wait| {
                let next = if policy.is_some() {
                    retry_upstream(balancer, health, &failed, addr)
                } else {
                    next_upstream(balancer, health, &failed)
                };
                Some((wait, next?))
            });
            let Some((wait, next)) = next else {
                return Attempted {
                    result: Err(failure),
                    addr,
                    elapsed: None,
                };
            };
            (upstream, addr) = next;
            tries += 1;
            from_pool = true;
            if !wait.is_zero() {
                pingora_timeout::sleep(wait).await;
            }
            request.retarget(&upstream);
        }
    }
}

/// An HTTP/1 request's side of [`Front::attempts`].
struct H1Attempt<'c, 'f> {
    conn: &'c mut Conn<'f>,
    a: &'c Accepted,
    body_buffered: bool,
    /// Body bytes read with the head (sent with it).
    body_in_buf: usize,
    read_timeout: Duration,
}

impl Attempt for H1Attempt<'_, '_> {
    type Head = AnswerHead;

    fn status(head: &AnswerHead) -> u16 {
        head.status
    }

    fn retarget(&mut self, upstream: &Upstream) {
        self.conn.rebuild_head(self.a, upstream);
        let start = self.a.head_len;
        let conn = &mut *self.conn;
        conn.out
            .extend_from_slice(&conn.buf[start..start + self.body_in_buf]);
    }

    async fn exchange(
        &mut self,
        conn: &mut TcpStream,
        reused: bool,
    ) -> Result<AnswerHead, Exchange> {
        self.conn
            .exchange(conn, self.a, self.body_buffered, self.read_timeout, reused)
            .await
    }
}

/// Where a retry under a policy goes: another upstream than those that `failed`, else
/// (a route with one endpoint, say) the one that just failed, `last`.
fn retry_upstream(
    balancer: &Balancer,
    health: &HealthConfig,
    failed: &[SocketAddr],
    last: SocketAddr,
) -> Option<(Arc<Upstream>, SocketAddr)> {
    next_upstream(balancer, health, failed).or_else(|| {
        let without_last: Vec<SocketAddr> = failed.iter().copied().filter(|a| *a != last).collect();
        next_upstream(balancer, health, &without_last)
    })
}

/// Another upstream of `balancer` (the request's route or split group) after a failed
/// attempt on each of `failed`, when the fast path can use it (plain HTTP, address
/// known); else the request fails as is.
fn next_upstream(
    balancer: &Balancer,
    health: &HealthConfig,
    failed: &[SocketAddr],
) -> Option<(Arc<Upstream>, SocketAddr)> {
    match balancer.pick(health, failed) {
        Pick::Upstream(next) if !next.tls() => {
            let addr = next.addr()?;
            Some((next, addr))
        }
        _ => None,
    }
}

/// Returns once a graceful shutdown has begun (never, if the watch is gone).
async fn until_shutdown(watch: &mut ShutdownWatch) {
    while !*watch.borrow_and_update() {
        if watch.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A `Content-Length` value: digits only.
/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), and the
/// forwarding headers this proxy sets itself.
fn dropped_upstream(name: &str, preserve_host: bool) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "x-forwarded-for",
        "x-real-ip",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-request-id",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
        || (!preserve_host && name.eq_ignore_ascii_case("host"))
}

/// What an upstream request head says besides the client's own headers.
pub(crate) struct HeadFacts<'a> {
    pub method: &'a str,
    /// The normalised target the route was chosen on.
    pub target: &'a str,
    /// The normalised host (`X-Forwarded-Host` when the client sent no `Host`).
    pub host: &'a str,
    pub preserve_host: bool,
    /// The body's length, written as the one `Content-Length` when the client sent one.
    pub body_len: u64,
    /// The body has no length (an HTTP/2 stream without `Content-Length`): it goes
    /// upstream with `Transfer-Encoding: chunked`, framed by the proxy.
    pub chunked: bool,
    /// The client connection is HTTPS.
    pub tls: bool,
    pub request_id: &'a str,
    /// The client's address: `X-Real-IP`.
    pub client_ip: Option<IpAddr>,
    /// The TCP peer's: appended to `X-Forwarded-For` (the same as `client_ip` unless
    /// the peer is a trusted proxy).
    pub peer_ip: Option<IpAddr>,
    /// The route's policies: their request header edits apply.
    pub policy: Option<&'a RoutePolicy>,
    /// Request header fields admission added ([`crate::decide::Forward::added`]),
    /// written with the edits.
    pub added: &'a [(String, Vec<u8>)],
}

/// Writes the upstream request head into `out`: the request line and the client's
/// headers (`name`, `value`), less the hop-by-hop ones, with the forwarding headers the
/// Pingora path sets (`Router::upstream_request_filter`). Used by the HTTP/1 and the
/// HTTP/2 fast path.
pub(crate) fn upstream_head<'h>(
    out: &mut Vec<u8>,
    facts: &HeadFacts<'_>,
    headers: impl Iterator<Item = (&'h str, &'h [u8])>,
    upstream: &Upstream,
) {
    out.clear();
    out.extend_from_slice(facts.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(facts.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let preserve_host = facts.preserve_host;
    let mut original_host: Option<&[u8]> = None;
    let mut prior_forwarded: Option<&[u8]> = None;
    let mut wrote_length = false;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("host") {
            original_host = Some(value);
        } else if name.eq_ignore_ascii_case("x-forwarded-for") && prior_forwarded.is_none() {
            prior_forwarded = Some(value);
        }
        if dropped_upstream(name, preserve_host)
            || facts.policy.is_some_and(|p| p.request.drops(name))
        {
            continue;
        }
        // One Content-Length, however the client wrote it (duplicates agree).
        if name.eq_ignore_ascii_case("content-length") {
            if !wrote_length {
                wrote_length = true;
                out.extend_from_slice(b"content-length: ");
                out.extend_from_slice(facts.body_len.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if facts.chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    let sent_host = original_host.is_some();
    let original_host = original_host.unwrap_or(facts.host.as_bytes());
    if !preserve_host {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(upstream.authority().as_bytes());
        out.extend_from_slice(b"\r\n");
    } else if !sent_host {
        // HTTP/2 names the host in `:authority`: an HTTP/1 upstream needs `Host`.
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(original_host);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(peer) = facts.peer_ip {
        out.extend_from_slice(b"x-forwarded-for: ");
        if let Some(prior) = prior_forwarded.filter(|p| !p.is_empty())
            && std::str::from_utf8(prior).is_ok()
        {
            out.extend_from_slice(prior);
            out.extend_from_slice(b", ");
        }
        access_log::ip_addr(out, peer);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(ip) = facts.client_ip {
        out.extend_from_slice(b"x-real-ip: ");
        access_log::ip_addr(out, ip);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(if facts.tls {
        b"x-forwarded-proto: https\r\nx-forwarded-host: "
    } else {
        b"x-forwarded-proto: http\r\nx-forwarded-host: "
    });
    out.extend_from_slice(original_host);
    out.extend_from_slice(b"\r\nx-request-id: ");
    out.extend_from_slice(facts.request_id.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(policy) = facts.policy {
        let vars = Vars {
            client_ip: facts.client_ip,
            request_id: facts.request_id,
            host: facts.host,
            tls: facts.tls,
            cohort: None,
        };
        policy.request.write_appended(&vars, facts.added, out);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes `name: value\r\n`.
fn header_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Rebuilds an upstream answer head for the client into `out`: status line and headers
/// as the upstream sent them, less the hop-by-hop ones, with this request's
/// `x-request-id`, not yet ended (the caller adds `connection` and the blank line). `None` when the head cannot be relayed safely (a bad or ambiguous
/// `Content-Length`).
fn answer_head(
    out: &mut Vec<u8>,
    resp: &httparse::Response<'_, '_>,
    a: &Accepted,
    head_len: usize,
) -> Option<AnswerHead> {
    let status = resp.code?;
    let (framing, upstream_keepalive, chunked) = answer_framing(resp, a.is_head)?;
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&[
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]);
    out.push(b' ');
    out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let policy = a.route.policy.as_deref().filter(|p| p.edits_answers());
    for h in resp.headers.iter() {
        let name = h.name;
        if answer_header_dropped(name, chunked, false)
            || policy.is_some_and(|p| p.drops_answer_header(name, a.tls))
        {
            continue;
        }
        header_line(out, name, h.value);
    }
    out.extend_from_slice(b"x-request-id: ");
    out.extend_from_slice(a.request_id.as_bytes());
    // The caller ends the head with the `connection` header.
    out.extend_from_slice(b"\r\n");
    if let Some(policy) = policy {
        let vars = Vars {
            client_ip: a.client_ip,
            request_id: &a.request_id,
            host: &a.host,
            tls: a.tls,
            cohort: a.cohort,
        };
        policy.write_answer_additions(
            &vars,
            |name| {
                resp.headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case(name))
            },
            out,
        );
    }
    Some(AnswerHead {
        status,
        head_len,
        framing,
        upstream_keepalive,
    })
}

/// Parses an upstream answer head into `resp` (httparse's strict defaults), its header
/// lines into `headers`, left uninitialised until then: initialising 128 of them cost
/// ~130 instructions per head. Shared by the HTTP/1 and HTTP/2 fast paths.
pub(crate) fn parse_answer<'h, 'b>(
    resp: &mut httparse::Response<'h, 'b>,
    buf: &'b [u8],
    headers: &'h mut [std::mem::MaybeUninit<httparse::Header<'b>>],
) -> httparse::Result<usize> {
    httparse::ParserConfig::default().parse_response_with_uninit_headers(resp, buf, headers)
}

/// How an upstream answer's body is framed, whether the upstream connection may serve
/// another request after it, and whether it came chunked (its `Content-Length`, if
/// any, is then not passed on). `None` when the head cannot be relayed safely (a bad or
/// ambiguous `Content-Length`). Shared by the HTTP/1 and HTTP/2 fast paths.
pub(crate) fn answer_framing(
    resp: &httparse::Response<'_, '_>,
    is_head: bool,
) -> Option<(Framing, bool, bool)> {
    let status = resp.code?;
    let mut length = None;
    let mut chunked = None;
    let mut upstream_keepalive = resp.version == Some(1);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = framing::parse_length(h.value)?;
            if length.replace(n).is_some_and(|m| m != n) {
                return None;
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection")
            && h.value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
        {
            upstream_keepalive = false;
        }
    }
    let framing = if is_head || status == 204 || status == 304 {
        Framing::Empty
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) | (None, None) => Framing::UntilClose,
            (None, Some(n)) => Framing::Length(n),
        }
    };
    if framing == Framing::UntilClose {
        upstream_keepalive = false;
    }
    Some((framing, upstream_keepalive, chunked.is_some()))
}

/// Whether an upstream answer's header is not passed on: the hop-by-hop ones (RFC 9110
/// §7.6.1), the upstream's `X-Request-Id` (the proxy sets its own), the `Content-Length`
/// of a chunked answer, and to an HTTP/2 client also HTTP/1's `Transfer-Encoding` and
/// `Upgrade` (HTTP/2 frames the body itself).
fn answer_header_dropped(name: &str, chunked: bool, http2: bool) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "x-request-id",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
        || (chunked && name.eq_ignore_ascii_case("content-length"))
        || (http2
            && (name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("upgrade")))
}

/// A new connection to an upstream.
async fn connect(addr: SocketAddr, limit: Duration) -> Result<TcpStream, Failure> {
    match pingora_timeout::timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(conn)) => {
            let _ = conn.set_nodelay(true);
            Ok(conn)
        }
        Ok(Err(_)) => Err(Failure::Connect),
        Err(_) => Err(Failure::ConnectTimeout),
    }
}

/// Idle upstream connections by address, shared by every client connection, at most
/// `max` in all.
struct Pool {
    idle: Mutex<PoolState>,
    max: usize,
}

#[derive(Default)]
struct PoolState {
    /// foldhash, not std's SipHash: two lookups per request (~450 instructions with
    /// SipHash, callgrind); the keys are the routes' upstream addresses, not the clients'.
    by_addr: std::collections::HashMap<
        SocketAddr,
        Vec<(TcpStream, Instant)>,
        foldhash::fast::RandomState,
    >,
    total: usize,
}

impl Pool {
    fn new(max: usize) -> Self {
        Self {
            idle: Mutex::default(),
            max: max.max(1),
        }
    }

    /// The most recently used idle connection to `addr`, if one is left. With `check`,
    /// a connection the upstream has closed or written to since is skipped (one
    /// non-blocking read); without it the caller resends on a new connection when the
    /// pooled one turns out closed.
    fn take(&self, addr: SocketAddr, check: bool, now: Instant) -> Option<TcpStream> {
        loop {
            let (conn, since) = {
                let mut idle = self.idle.lock().expect("never poisoned");
                let list = idle.by_addr.get_mut(&addr)?;
                let taken = list.pop()?;
                if list.is_empty() {
                    idle.by_addr.remove(&addr);
                }
                idle.total -= 1;
                taken
            };
            if now.saturating_duration_since(since) > POOL_IDLE {
                continue;
            }
            if check {
                // A real non-blocking peek, not `try_read`: tokio answers that from the
                // readiness its reactor last saw, and a busy reactor may not have seen
                // the upstream's FIN yet — the request would go out on a dead connection
                // it may not be resent from.
                let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
                match socket2::SockRef::from(&conn).peek(&mut probe) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    _ => continue,
                }
            }
            return Some(conn);
        }
    }

    /// Keeps `conn` for reuse; when the pool is full, connections idle too long are let go
    /// first, and if it is still full `conn` is closed.
    /// `now` is the caller's clock reading, taken anyway for its own use.
    fn put(&self, addr: SocketAddr, conn: TcpStream, now: Instant) {
        let mut idle = self.idle.lock().expect("never poisoned");
        if idle.total >= self.max {
            let state = &mut *idle;
            state.by_addr.retain(|_, list| {
                list.retain_mut(|(_, since)| now.saturating_duration_since(*since) <= POOL_IDLE);
                !list.is_empty()
            });
            state.total = state.by_addr.values().map(Vec::len).sum();
            if state.total >= self.max {
                return;
            }
        }
        idle.by_addr.entry(addr).or_default().push((conn, now));
        idle.total += 1;
    }

    /// Drops every idle connection to `addr`.
    fn forget(&self, addr: SocketAddr) {
        let mut idle = self.idle.lock().expect("never poisoned");
        let dropped = idle.by_addr.remove(&addr);
        idle.total -= dropped.as_ref().map_or(0, Vec::len);
        drop(idle);
        drop(dropped);
    }
}

/// Follows a chunked body (RFC 9112 §7.1) as it passes through unchanged, to find where
/// it ends.
#[derive(Debug, Default)]
pub(crate) struct Chunked {
    state: ChunkState,
    /// The size line or trailer line read so far.
    line: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    Trailers,
    Done,
}

/// Longest chunk-size or trailer line accepted.
const MAX_CHUNK_LINE: usize = 8 * 1024;

impl Chunked {
    /// How many bytes of `input` belong to the body (all of it unless the body ends
    /// inside it); `None` when the framing is broken.
    fn feed(&mut self, input: &[u8]) -> Option<usize> {
        self.feed_with(input, &mut |_| {})
    }

    /// [`Self::feed`], handing each run of chunk data (the body without its framing) to
    /// `data`.
    pub(crate) fn feed_with(
        &mut self,
        input: &[u8],
        data: &mut impl FnMut(&[u8]),
    ) -> Option<usize> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                ChunkState::Done => break,
                ChunkState::Data(n) => {
                    let take = (input.len() - i).min(usize::try_from(n).unwrap_or(usize::MAX));
                    data(&input[i..i + take]);
                    i += take;
                    let left = n - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailers => {
                    let b = input[i];
                    i += 1;
                    self.line.push(b);
                    if self.line.len() > MAX_CHUNK_LINE
                        || (self.state == ChunkState::DataEnd && !b"\r\n".starts_with(&self.line))
                    {
                        return None;
                    }
                    if b != b'\n' {
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    self.state = match self.state {
                        ChunkState::DataEnd if line == b"\r\n" => ChunkState::Size,
                        ChunkState::DataEnd => return None,
                        ChunkState::Size => match httparse::parse_chunk_size(&line) {
                            Ok(httparse::Status::Complete((_, 0))) => ChunkState::Trailers,
                            Ok(httparse::Status::Complete((_, n))) => ChunkState::Data(n),
                            _ => return None,
                        },
                        _ if line == b"\r\n" || line == b"\n" => ChunkState::Done,
                        _ => ChunkState::Trailers,
                    };
                    self.line = line;
                    self.line.clear();
                }
            }
        }
        Some(i)
    }

    pub(crate) fn done(&self) -> bool {
        self.state == ChunkState::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(parts: &[&[u8]]) -> (Chunked, Vec<usize>) {
        let mut c = Chunked::default();
        let taken = parts
            .iter()
            .map(|p| c.feed(p).expect("valid framing"))
            .collect();
        (c, taken)
    }

    #[test]
    fn a_chunked_body_ends_after_the_last_chunk_and_trailers() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        let (c, taken) = feed_all(&[body]);
        assert!(c.done());
        assert_eq!(
            taken,
            [body.len() - 4],
            "the bytes after the end are not the body's"
        );
    }

    #[test]
    fn a_chunked_body_split_anywhere_is_followed_the_same() {
        let body: &[u8] = b"a\r\n0123456789\r\n3\r\nabc\r\n0\r\n\r\n";
        for split in 0..body.len() {
            let (c, taken) = feed_all(&[&body[..split], &body[split..]]);
            assert!(c.done(), "split at {split}");
            assert_eq!(taken.iter().sum::<usize>(), body.len(), "split at {split}");
        }
        // One byte at a time.
        let mut c = Chunked::default();
        for (i, b) in body.iter().enumerate() {
            assert!(!c.done(), "done early at byte {i}");
            assert_eq!(c.feed(std::slice::from_ref(b)), Some(1));
        }
        assert!(c.done());
    }

    #[test]
    fn broken_chunk_framing_is_refused() {
        for bad in [
            &b"zz\r\nhello\r\n"[..],
            b"5\r\nhelloXX",
            b"5\r\nhello\r\n0\r\n",
        ] {
            let mut c = Chunked::default();
            let r = c.feed(bad);
            assert!(
                r.is_none() || !c.done(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut c = Chunked::default();
        assert_eq!(c.feed(b"5\r\nhelloXX"), None);
    }

    #[test]
    fn content_length_values_are_digits_only() {
        assert_eq!(framing::parse_length(b"0"), Some(0));
        assert_eq!(framing::parse_length(b" 42 "), Some(42));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1,1",
            b"0x10",
            b"99999999999999999999",
        ] {
            assert_eq!(
                framing::parse_length(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
