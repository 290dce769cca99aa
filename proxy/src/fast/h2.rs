//! HTTP/2 on the fast path: each stream of a connection that negotiated `h2` is served
//! here when the decision core forwards it to a plain-HTTP upstream, and handed to
//! Pingora's proxy otherwise.
//!
//! Pingora still does the TLS handshake, the HTTP/2 codec (the `h2` crate, through
//! Pingora's `HttpSession`, which also refuses malformed streams: forbidden bytes in
//! `:path`, conflicting `Content-Length`, a bad `:authority`) and every answer of the
//! proxy's own. What a stream skips here is Pingora's per-request machinery (the
//! `ProxyHttp` phases, header maps copied and converted twice, two tasks and channels
//! per request, and its upstream connector); the upstream exchange is the HTTP/1 fast
//! path's: the same rebuilt request head ([`upstream_head`]), the same answer framing
//! ([`answer_framing`]), the same idle-connection pool, the same retry rules, and one
//! timer ([`Deadline`]) for every wait of a stream.
//!
//! A stream is taken when: it is not `CONNECT`, has no `Expect`, `Upgrade` or
//! `Transfer-Encoding` header, the decision core forwards it, and the chosen upstream is
//! plain HTTP with a known address. A body with a `Content-Length` goes up as it is; one
//! without (HTTP/2 allows that) goes up chunked, framed here: each non-empty DATA frame
//! a chunk, one last chunk. The rest — 400/404/403/308/503, TLS upstreams, routes with
//! forward auth — go to
//! Pingora, stream by stream, on the same connection.
//!
//! Must never: answer differently from Pingora's path for the same request (headers
//! forwarded, answers, access line and metrics), or reuse an upstream connection whose
//! answer was not read to its end.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::header::HeaderName;
use http::{HeaderValue, Method};
use pingora::apps::HttpServerApp;
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::protocols::http::v2::server::{self as h2server, H2Accept, HttpSession};
use pingora::protocols::{Digest, Stream};
use pingora::server::ShutdownWatch;
use switchyard_shared::RequestTarget;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::deadline::Deadline;
use super::{
    Attempt, CHUNK, Chunked, Exchange, Failure, Framing, Front, HeadFacts, MAX_HEAD, MAX_HEADERS,
    Pool, answer_framing, answer_header_dropped, parse_answer, until_shutdown, upstream_head,
};
use crate::access_log;
use crate::decide::{Decision, Forward, client_address};
use crate::policy::Vars;
use crate::service::{
    DECIDED, joined_cookies, own_answer, request_facts, request_id_of, request_id_value,
    single_content_length,
};
use crate::snapshot::RouteEntry;
use crate::upstreams::Upstream;

/// Streams refused as malformed that a connection may open before it is closed
/// (Pingora's own per-connection budget).
const MAX_MALFORMED: usize = 32;
/// Request body bytes read before the upstream request is sent: a body that fits is
/// sent whole and may be sent again on a fresh connection.
const BUFFERED_BODY: usize = 64 * 1024;

/// A stream the fast path took.
struct Taken {
    method: Method,
    host: String,
    target: RequestTarget,
    /// What goes upstream instead of `target` when the route rewrites the path.
    rewritten: Option<String>,
    route: Arc<RouteEntry>,
    upstream: Arc<Upstream>,
    addr: SocketAddr,
    body_len: u64,
    /// The body has no length: it goes upstream chunked.
    chunked: bool,
    request_id: String,
    /// The client's address ([`crate::decide::client_address`]).
    client_ip: Option<IpAddr>,
    /// The TCP peer's.
    peer_ip: Option<IpAddr>,
    tls: bool,
    /// Request header fields admission added (a JWT's claims).
    added: crate::policy::AddedHeaders,
    /// The split group chosen (retries stay in it; its answer may set the cookie).
    cohort: Option<crate::policy::Cohort>,
}

/// An upstream answer head, read and converted for the client.
struct Head {
    status: u16,
    framing: Framing,
    upstream_keepalive: bool,
    resp: ResponseHeader,
}

impl Front {
    /// Serves an HTTP/2 connection: accepts its streams and serves each in its own task,
    /// until the client closes it or a graceful shutdown has let its streams finish.
    pub(super) async fn serve_h2(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) {
        let digest = Arc::new(Digest {
            ssl_digest: stream.get_ssl_digest(),
            timing_digest: stream.get_timing_digest(),
            proxy_digest: stream.get_proxy_digest(),
            socket_digest: stream.get_socket_digest(),
        });
        let mut conn = match h2server::handshake(stream, None).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(error = %e, "HTTP/2 handshake with a client failed");
                return;
            }
        };
        let mut watch = shutdown.clone();
        // One wait for the whole connection, not one per stream (each new wait registered
        // and removed a waiter on the watch).
        let shutting_down = until_shutdown(&mut watch);
        tokio::pin!(shutting_down);
        let mut closing = false;
        let mut malformed = 0;
        loop {
            let accepted = if closing {
                HttpSession::from_h2_conn(&mut conn, digest.clone()).await
            } else {
                tokio::select! {
                    biased;
                    // GOAWAY; streams already opened are still served, then it closes.
                    () = &mut shutting_down => {
                        conn.graceful_shutdown();
                        closing = true;
                        continue;
                    }
                    accepted = HttpSession::from_h2_conn(&mut conn, digest.clone()) => accepted,
                }
            };
            match accepted {
                // A task per stream, as Pingora does: measured faster than running the
                // streams in this task beside the codec (each wake-up of this task polls
                // the whole connection).
                Ok(Some(H2Accept::Session(session))) => {
                    let front = self.clone();
                    let shutdown = shutdown.clone();
                    // Boxed: the task then holds a pointer, not the stream's whole
                    // state, which tokio would copy in and out of the task (measured:
                    // 5% of the CPU time at 50k requests/s).
                    tokio::spawn(Box::pin(async move {
                        front.h2_stream(session, &shutdown).await;
                    }));
                }
                Ok(Some(H2Accept::Rejected)) => {
                    malformed += 1;
                    if malformed > MAX_MALFORMED {
                        return;
                    }
                }
                // Closed, or a connection error (clients often just drop the socket).
                Ok(None) | Err(_) => return,
            }
        }
    }

    async fn h2_stream(self: &Arc<Self>, session: HttpSession, shutdown: &ShutdownWatch) {
        match self.h2_take(&session) {
            Ok(taken) => self.h2_proxy(session, taken).await,
            Err(decided) => {
                let session = ServerSession::new_http2(session);
                // Boxed: Pingora's future is large, and most streams never need it.
                let serve = Box::pin(self.pingora.process_new_http(session, shutdown));
                match decided {
                    // Pingora's `request_filter` takes this decision instead of
                    // deciding (and charging a rate limit) again.
                    Some(d) => DECIDED.scope(RefCell::new(Some(d)), serve).await,
                    None => serve.await,
                };
            }
        }
    }

    /// Whether the fast path serves this stream (see the module's header); if not,
    /// the decision already made for it, if any.
    fn h2_take(&self, session: &HttpSession) -> Result<Taken, Option<Decision>> {
        let req = session.req_header();
        if req.method == Method::CONNECT
            || [
                http::header::EXPECT,
                http::header::UPGRADE,
                http::header::TRANSFER_ENCODING,
            ]
            .iter()
            .any(|n| req.headers.contains_key(n))
        {
            return Err(None);
        }
        let (body_len, chunked) = if session.is_body_done() {
            (0, false)
        } else if req.headers.contains_key(http::header::CONTENT_LENGTH) {
            (single_content_length(&req.headers).ok_or(None)?, false)
        } else {
            // A body without a length (HTTP/2 allows it): framed here as chunked, each
            // DATA frame a chunk, empty frames skipped, one last chunk at the end.
            (0, true)
        };
        let digest = session.digest();
        let tls = digest.is_some_and(|d| d.ssl_digest.is_some());
        let peer_ip = digest
            .and_then(|d| d.socket_digest.as_ref())
            .and_then(|s| s.peer_addr().and_then(|a| a.as_inet()).copied())
            .map(|a| a.ip().to_canonical());
        let client_ip =
            client_address(&self.router.settings.trusted_proxies, peer_ip, &req.headers);
        let facts = request_facts(req, None, client_ip, tls);
        let forward = match self.router.decide(&facts, &[]) {
            Decision::Forward(f) => f,
            answer => return Err(Some(answer)),
        };
        // A body without a length under a size limit is counted by Pingora's path.
        let counted = chunked
            && forward
                .route
                .policy
                .as_ref()
                .is_some_and(|p| p.max_body.is_some());
        // Forward auth's sub-request is made by Pingora's path.
        let addr = match forward.upstream.addr() {
            Some(addr) if !forward.upstream.tls() && !counted && !forward.forward_auth => addr,
            _ => return Err(Some(Decision::Forward(forward))),
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
        Ok(Taken {
            method: req.method.clone(),
            host,
            target,
            rewritten,
            route,
            upstream,
            addr,
            body_len,
            chunked,
            request_id: request_id_of(&req.headers),
            client_ip,
            peer_ip,
            tls,
            added,
            cohort,
        })
    }

    /// Proxies one stream the fast path took, and completes it (access line, metrics).
    async fn h2_proxy(&self, mut session: HttpSession, t: Taken) {
        let started = Instant::now();
        let span = crate::trace::request_span();
        let router = &self.router;
        let timeouts = router.timeouts(&t.route);
        let read_timeout = timeouts.read;
        session.set_write_timeout(Some(timeouts.idle));
        // Every wait of this stream's own (client body, upstream) is limited by one timer.
        let mut timer = Deadline::default();

        // The start of the body (all of it, when it is small).
        let mut body = BytesMut::new();
        let mut body_done = t.body_len == 0 && !t.chunked;
        let mut error = None;
        while !body_done && body.len() < BUFFERED_BODY {
            match read_client_body(&mut session, &mut timer, timeouts.idle).await {
                Ok(Some(data)) => body.extend_from_slice(&data),
                Ok(None) => body_done = true,
                Err(f) => {
                    error = Some(f);
                    break;
                }
            }
        }
        let resendable = body_done && crate::resilience::idempotent(t.method.as_str().as_bytes());

        let mut ubuf = BytesMut::with_capacity(8 * 1024);
        let (exchanged, addr, elapsed) = match error {
            Some(f) => (Err(f), t.addr, None),
            None => {
                let mut out = Vec::with_capacity(1024);
                h2_head(&mut out, &session, &t, &t.upstream);
                let mut attempt = H2Attempt {
                    session: &mut session,
                    t: &t,
                    out,
                    body: &body,
                    body_done,
                    read_timeout,
                    idle: timeouts.idle,
                    resendable,
                    ubuf: &mut ubuf,
                    timer: &mut timer,
                };
                let attempts = self.attempts(
                    &t.route,
                    t.cohort,
                    (t.upstream.clone(), t.addr, Instant::now()),
                    resendable,
                    timeouts.connect,
                    &mut attempt,
                );
                let done = match timeouts.total {
                    None => Some(attempts.await),
                    Some(total) => pingora_timeout::timeout(total, attempts).await.ok(),
                };
                match done {
                    Some(done) => (done.result, done.addr, done.elapsed),
                    None => (Err(Failure::Timeout), t.addr, None),
                }
            }
        };

        let mut status = 0;
        let mut bytes = 0u64;
        let upstream_ms = elapsed.map_or(0.0, |e| e.as_secs_f64() * 1000.0);
        let mut error = None;
        match exchanged {
            Ok((conn, head)) => {
                status = head.status;
                let Head {
                    framing,
                    upstream_keepalive,
                    resp,
                    ..
                } = head;
                let end = framing == Framing::Empty;
                // The connection goes back to the pool as soon as its answer is read,
                // before the client has it: the client's next stream can then reuse it.
                let conn = if end {
                    if upstream_keepalive && ubuf.is_empty() {
                        self.pool.put(addr, conn, Instant::now());
                    }
                    None
                } else {
                    Some(conn)
                };
                let answered = match session.write_response_header(Box::new(resp), end) {
                    Ok(()) => match conn {
                        None => Ok(()),
                        Some(conn) => {
                            let relay = Relay {
                                framing,
                                upstream_keepalive,
                                read_timeout,
                                pool: &self.pool,
                                addr,
                            };
                            let relayed = relay_body(
                                conn,
                                &mut session,
                                &relay,
                                (&mut ubuf, &mut timer),
                                &mut bytes,
                            );
                            match timeouts.left(started) {
                                None => relayed.await,
                                Some(left) => pingora_timeout::timeout(left, relayed)
                                    .await
                                    .unwrap_or(Err(Failure::Timeout)),
                            }
                        }
                    },
                    Err(_) => Err(Failure::ClientGone),
                };
                if let Err(f) = answered {
                    error = Some(f.answer().1);
                    // The answer is cut short: the client must not take it as whole.
                    session.shutdown();
                }
            }
            Err(f) => {
                let (code, category, message) = f.answer();
                error = Some(category);
                if code > 0
                    && let Ok((resp, answer)) =
                        own_answer(code, message, &t.request_id, None, Some(&t.route), &[])
                    && session.write_response_header(Box::new(resp), false).is_ok()
                    && session.write_body(answer, true).await.is_ok()
                {
                    status = code;
                }
            }
        }

        let entry = access_log::Entry {
            request_id: &t.request_id,
            client_ip: t.client_ip,
            host: &t.host,
            zone: t.route.host.as_str(),
            method: t.method.as_str(),
            path: t.target.path(),
            status,
            bytes: bytes as usize,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            upstream: Some(addr),
            upstream_ms,
            group: t.route.group_name(t.cohort),
            error,
        };
        crate::complete::complete(&router.metrics, &entry, &span);
    }
}

/// Writes the upstream request head for `upstream` into `out`.
fn h2_head(out: &mut Vec<u8>, session: &HttpSession, t: &Taken, upstream: &Upstream) {
    let facts = HeadFacts {
        method: t.method.as_str(),
        target: t.rewritten.as_deref().unwrap_or(t.target.as_str()),
        host: &t.host,
        preserve_host: t.route.route.preserve_host,
        body_len: t.body_len,
        chunked: t.chunked,
        tls: t.tls,
        request_id: &t.request_id,
        client_ip: t.client_ip,
        peer_ip: t.peer_ip,
        policy: t.route.policy.as_deref(),
        added: &t.added,
    };
    let req_headers = &session.req_header().headers;
    let cookies = joined_cookies(req_headers);
    let mut cookie_written = false;
    let headers = req_headers.iter().filter_map(|(name, value)| {
        if let Some(joined) = &cookies
            && name == http::header::COOKIE
        {
            // The first `cookie` field carries them all; the others are dropped.
            return (!std::mem::replace(&mut cookie_written, true))
                .then_some(("cookie", joined.as_slice()));
        }
        Some((name.as_str(), value.as_bytes()))
    });
    upstream_head(out, &facts, headers, upstream);
}

/// The next piece of the client's request body (`None` at its end).
async fn read_client_body(
    session: &mut HttpSession,
    timer: &mut Deadline,
    idle: Duration,
) -> Result<Option<Bytes>, Failure> {
    match timer.limit(idle, session.read_body_bytes()).await {
        Ok(Ok(data)) => Ok(data),
        _ => Err(Failure::ClientGone),
    }
}

/// An HTTP/2 stream's side of [`Front::attempts`].
struct H2Attempt<'a> {
    session: &'a mut HttpSession,
    t: &'a Taken,
    /// The upstream request head.
    out: Vec<u8>,
    /// The body read so far (all of it when `body_done`).
    body: &'a [u8],
    body_done: bool,
    read_timeout: Duration,
    /// The route's client timeout.
    idle: Duration,
    resendable: bool,
    ubuf: &'a mut BytesMut,
    timer: &'a mut Deadline,
}

impl Attempt for H2Attempt<'_> {
    type Head = Head;

    fn status(head: &Head) -> u16 {
        head.status
    }

    fn retarget(&mut self, upstream: &Upstream) {
        h2_head(&mut self.out, self.session, self.t, upstream);
    }

    async fn exchange(&mut self, conn: &mut TcpStream, reused: bool) -> Result<Head, Exchange> {
        let sent = Sent {
            head: &self.out,
            body: self.body,
            body_done: self.body_done,
            read_timeout: self.read_timeout,
            idle: self.idle,
            resend: reused && self.resendable,
        };
        exchange(conn, self.session, self.t, &sent, (self.ubuf, self.timer)).await
    }
}

/// What one attempt sends upstream.
struct Sent<'a> {
    head: &'a [u8],
    /// The body read so far (all of it when `body_done`).
    body: &'a [u8],
    body_done: bool,
    read_timeout: Duration,
    /// The route's client timeout.
    idle: Duration,
    /// The connection came from the pool and the request may be sent again: a
    /// connection that turns out closed before any answer is [`Exchange::Stale`].
    resend: bool,
}

/// Sends the request (streaming the rest of the body from the client) and reads the
/// answer's head, which it takes off the front of `ubuf` (what follows stays there).
/// Interim (1xx) answers are dropped, as Pingora's HTTP/2 path drops them.
async fn exchange(
    conn: &mut TcpStream,
    session: &mut HttpSession,
    t: &Taken,
    sent: &Sent<'_>,
    (ubuf, timer): (&mut BytesMut, &mut Deadline),
) -> Result<Head, Exchange> {
    let timeout = sent.read_timeout;
    // Nothing of the answer came: a pooled connection the upstream had closed (`Stale`:
    // sent again on a new one, when that is safe), else a reset.
    let stale = if sent.resend {
        Exchange::Stale
    } else {
        Exchange::Reset
    };
    match send(conn, sent.head, timer, timeout).await {
        Ok(()) => {}
        Err(Failure::Broken) => return Err(stale),
        Err(f) => return Err(Exchange::Failed(f)),
    }
    send_body(conn, sent.body, t.chunked, timer, timeout)
        .await
        .map_err(Exchange::Failed)?;
    if !sent.body_done {
        while let Some(data) = read_client_body(session, timer, sent.idle)
            .await
            .map_err(Exchange::Failed)?
        {
            send_body(conn, &data, t.chunked, timer, timeout)
                .await
                .map_err(Exchange::Failed)?;
        }
    }
    if t.chunked {
        send(conn, b"0\r\n\r\n", timer, timeout)
            .await
            .map_err(Exchange::Failed)?;
    }
    ubuf.clear();
    let mut answered = false;
    loop {
        if !ubuf.is_empty() {
            let mut headers = [std::mem::MaybeUninit::uninit(); MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut []);
            match parse_answer(&mut resp, ubuf, &mut headers) {
                Ok(httparse::Status::Complete(head_len)) => {
                    let status = resp.code.unwrap_or_default();
                    if status == 101 {
                        return Err(Exchange::Failed(Failure::Broken));
                    }
                    if (100..200).contains(&status) {
                        ubuf.advance(head_len);
                        answered = true;
                        continue;
                    }
                    let planned = plan_answer(&resp, t, ubuf.as_ptr().addr())
                        .ok_or(Exchange::Failed(Failure::Broken))?;
                    let head = ubuf.split_to(head_len).freeze();
                    return planned
                        .build(&head, t)
                        .ok_or(Exchange::Failed(Failure::Broken));
                }
                Ok(httparse::Status::Partial) if ubuf.len() < MAX_HEAD => {}
                _ => return Err(Exchange::Failed(Failure::Broken)),
            }
            answered = true;
        }
        ubuf.reserve(4096);
        match timer.limit(timeout, conn.read_buf(ubuf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) if sent.resend && !answered => return Err(Exchange::Stale),
            Ok(_) if !answered => return Err(Exchange::Reset),
            Ok(_) => return Err(Exchange::Failed(Failure::Broken)),
            Err(_) => return Err(Exchange::Failed(Failure::Timeout)),
        }
    }
}

/// Writes to the upstream.
async fn send(
    conn: &mut TcpStream,
    data: &[u8],
    timer: &mut Deadline,
    timeout: Duration,
) -> Result<(), Failure> {
    match timer.limit(timeout, conn.write_all(data)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Failure::Broken),
        Err(_) => Err(Failure::Timeout),
    }
}

/// Writes a piece of the request body upstream, as a chunk when `chunked` (an empty
/// piece writes nothing: an empty chunk would end the body).
async fn send_body(
    conn: &mut TcpStream,
    data: &[u8],
    chunked: bool,
    timer: &mut Deadline,
    timeout: Duration,
) -> Result<(), Failure> {
    if data.is_empty() {
        return Ok(());
    }
    if !chunked {
        return send(conn, data, timer, timeout).await;
    }
    let mut framed = Vec::with_capacity(data.len() + 20);
    framed.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    framed.extend_from_slice(data);
    framed.extend_from_slice(b"\r\n");
    send(conn, &framed, timer, timeout).await
}

/// An upstream answer head, planned for the client while its bytes are still in the
/// upstream buffer: the upstream's headers less the hop-by-hop ones (Pingora's HTTP/2
/// writer drops `connection`, `transfer-encoding`, `upgrade`, `keep-alive` and
/// `proxy-connection` too), and what the route's policy adds.
struct Planned {
    status: u16,
    framing: Framing,
    upstream_keepalive: bool,
    /// The headers passed on: their names, and where their values are in the head.
    kept: Vec<(HeaderName, std::ops::Range<usize>)>,
    /// The policy's additions.
    added: Vec<(String, Vec<u8>)>,
}

/// Plans the answer head `resp`, parsed from a buffer starting at address `base`.
/// `None` when it cannot be relayed safely.
fn plan_answer(resp: &httparse::Response<'_, '_>, t: &Taken, base: usize) -> Option<Planned> {
    let status = resp.code?;
    let (framing, upstream_keepalive, chunked) = answer_framing(resp, t.method == Method::HEAD)?;
    let policy = t.route.policy.as_deref().filter(|p| p.edits_answers());
    let mut kept = Vec::with_capacity(resp.headers.len());
    for h in resp.headers.iter() {
        if answer_header_dropped(h.name, chunked, true)
            || policy.is_some_and(|p| p.drops_answer_header(h.name, t.tls))
        {
            continue;
        }
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let start = h.value.as_ptr().addr().checked_sub(base)?;
        kept.push((name, start..start + h.value.len()));
    }
    let mut added = Vec::new();
    if let Some(policy) = policy {
        let vars = Vars {
            client_ip: t.client_ip,
            request_id: &t.request_id,
            host: &t.host,
            tls: t.tls,
            cohort: t.cohort,
        };
        policy.answer_additions(
            &vars,
            |name| {
                resp.headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case(name))
            },
            |name, value| added.push((name.to_owned(), value.to_vec())),
        );
    }
    Some(Planned {
        status,
        framing,
        upstream_keepalive,
        kept,
        added,
    })
}

impl Planned {
    /// The head as the client gets it, with this request's `x-request-id`. The values
    /// are slices of `head` (the bytes the plan was made from), not copies: a copied
    /// value was allocated here and allocated again when Pingora's HTTP/2 writer cloned
    /// the header map. `None` when a value is not a valid header value.
    fn build(self, head: &Bytes, t: &Taken) -> Option<Head> {
        let mut resp = ResponseHeader::build_no_case(
            self.status,
            Some(self.kept.len() + 1 + self.added.len()),
        )
        .ok()?;
        for (name, range) in self.kept {
            if range.end > head.len() {
                return None;
            }
            let value = HeaderValue::from_maybe_shared(head.slice(range)).ok()?;
            resp.append_header(name, value).ok()?;
        }
        resp.insert_header("x-request-id", request_id_value(&t.request_id).ok()?)
            .ok()?;
        for (name, value) in self.added {
            let value = HeaderValue::from_bytes(&value).ok()?;
            resp.append_header(name, value).ok()?;
        }
        Some(Head {
            status: self.status,
            framing: self.framing,
            upstream_keepalive: self.upstream_keepalive,
            resp,
        })
    }
}

/// How to relay an answer's body.
struct Relay<'a> {
    framing: Framing,
    upstream_keepalive: bool,
    read_timeout: Duration,
    /// Where the upstream connection goes when the answer leaves it reusable.
    pool: &'a Pool,
    addr: SocketAddr,
}

/// Relays the answer body (its first bytes already in `ubuf`) as DATA frames, the last
/// one ending the stream. Once the whole body is read the upstream connection goes back
/// to the pool (unless the answer leaves it unusable), before the last frame is sent.
async fn relay_body(
    mut conn: TcpStream,
    session: &mut HttpSession,
    relay: &Relay<'_>,
    (ubuf, timer): (&mut BytesMut, &mut Deadline),
    bytes: &mut u64,
) -> Result<(), Failure> {
    let mut chunked = Chunked::default();
    let mut left = match relay.framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    loop {
        let (data, done) = match relay.framing {
            Framing::Empty => (Bytes::new(), true),
            Framing::Length(_) => {
                let take = ubuf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                left -= take as u64;
                (ubuf.split_to(take).freeze(), left == 0)
            }
            Framing::Chunked => {
                let mut data = BytesMut::new();
                let used = chunked
                    .feed_with(ubuf, &mut |d| data.extend_from_slice(d))
                    .ok_or(Failure::Broken)?;
                ubuf.advance(used);
                (data.freeze(), chunked.done())
            }
            Framing::UntilClose => (ubuf.split().freeze(), false),
        };
        if done {
            // Bytes after the end answer nothing: the connection is not reused then.
            if relay.upstream_keepalive && ubuf.is_empty() {
                relay.pool.put(relay.addr, conn, Instant::now());
            }
            *bytes += data.len() as u64;
            return session
                .write_body(data, true)
                .await
                .map_err(|_| Failure::ClientGone);
        }
        if !data.is_empty() {
            *bytes += data.len() as u64;
            session
                .write_body(data, false)
                .await
                .map_err(|_| Failure::ClientGone)?;
        }
        ubuf.reserve(CHUNK);
        match timer.limit(relay.read_timeout, conn.read_buf(ubuf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) if relay.framing == Framing::UntilClose => {
                return session
                    .write_body(Bytes::new(), true)
                    .await
                    .map_err(|_| Failure::ClientGone);
            }
            Ok(_) => return Err(Failure::Broken),
            Err(_) => return Err(Failure::Timeout),
        }
    }
}
