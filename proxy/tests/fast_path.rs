//! The HTTP/1.1 fast path (proxy/src/fast.rs) byte by byte: raw TCP clients and a raw
//! upstream, so that framing, pipelining, connection reuse and hop-by-hop headers are
//! seen exactly as they cross the wire. Every test runs the real binary against its own
//! Redis prefix; `--fast-path=false` (Pingora only) is the reference for parity.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use support::{Proxy, ProxyOptions, put_zones, zone, zone_json};
use switchyard_tests::eventually::eventually;
use switchyard_tests::redis::TestRedis;
use switchyard_tests::upstream::Upstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const DEADLINE: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------ raw upstream

/// A hand-written HTTP/1.1 upstream: answers by path, with exact bytes.
///
/// | path | answer |
/// |---|---|
/// | `/length` | 200, `content-length: 5`, `hello`, plus `connection: keep-alive` and `keep-alive: timeout=5` (hop-by-hop, must not reach the client) |
/// | `/chunked` | 200, chunked in two writes, with a trailer ([`CHUNKED_BODY`]) |
/// | `/close` | 200 without length: the body ends when the connection closes |
/// | `/then-close` | like `/length`, then the upstream closes the connection (an idle close the proxy learns about only when it reuses it) |
/// | `/hints` | 103 Early Hints, then 200 `ok` |
/// | `/swallow` | counted, then the connection is closed without an answer |
/// | anything else | 200, the request head as received, then `body <len> <fnv>` of the request body |
struct RawUpstream {
    addr: std::net::SocketAddr,
    /// Connections that carried at least one request.
    used: Arc<AtomicU64>,
    /// Requests for `/swallow` received.
    swallowed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

const CHUNKED_PART1: &[u8] = b"5\r\nhello\r\n6;ext=1\r\n wo";
const CHUNKED_PART2: &[u8] = b"rld\r\n0\r\nx-sum: 11\r\n\r\n";

impl RawUpstream {
    async fn start() -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let used = Arc::new(AtomicU64::new(0));
        let swallowed = Arc::new(AtomicU64::new(0));
        let (count, swallow) = (used.clone(), swallowed.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve_raw(conn, count.clone(), swallow.clone()));
            }
        });
        RawUpstream {
            addr,
            used,
            swallowed,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Upstream connections that carried requests so far.
    fn connections(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

async fn serve_raw(mut conn: TcpStream, used: Arc<AtomicU64>, swallowed: Arc<AtomicU64>) {
    let mut buf = Vec::new();
    let mut first = true;
    loop {
        let Some((head_len, method, path, body_len)) = read_request_head(&mut conn, &mut buf).await
        else {
            return;
        };
        if std::mem::take(&mut first) {
            // Counted on the first request: the proxy's active health checks connect
            // without sending anything.
            used.fetch_add(1, Ordering::SeqCst);
        }
        while buf.len() < head_len + body_len {
            let mut chunk = [0u8; 65536];
            match conn.read(&mut chunk).await {
                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
        let body = buf[head_len..head_len + body_len].to_vec();
        buf.drain(..head_len + body_len);
        let is_head = method == "HEAD";
        let hello: &[u8] = if is_head { b"" } else { b"hello" };
        let ok = match path.as_str() {
            "/length" | "/then-close" => {
                let mut a = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\nx-kind: length\r\n\r\n".to_vec();
                a.extend_from_slice(hello);
                let ok = conn.write_all(&a).await.is_ok();
                if path == "/then-close" {
                    return;
                }
                ok
            }
            "/chunked" => {
                let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n";
                if conn.write_all(head).await.is_err() || is_head {
                    return;
                }
                // Two writes, split inside a chunk (the proxy may read them as one; the
                // unit tests in fast.rs split chunked bodies at every byte).
                if conn.write_all(CHUNKED_PART1).await.is_err() {
                    return;
                }
                conn.flush().await.ok();
                conn.write_all(CHUNKED_PART2).await.is_ok()
            }
            "/swallow" => {
                swallowed.fetch_add(1, Ordering::SeqCst);
                return;
            }
            "/close" => {
                let _ = conn
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil close")
                    .await;
                return;
            }
            "/hints" => conn
                .write_all(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .is_ok(),
            _ => {
                let text = format!("{head}body {} {:x}", body.len(), fnv(&body));
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{}",
                    if is_head { 0 } else { text.len() },
                    if is_head { "" } else { &text }
                );
                conn.write_all(answer.as_bytes()).await.is_ok()
            }
        };
        if !ok {
            return;
        }
    }
}

/// Reads until `buf` holds a whole request head: (head length, method, path, body length).
async fn read_request_head(
    conn: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Option<(usize, String, String, usize)> {
    loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            if let httparse::Status::Complete(n) = req.parse(buf).ok()? {
                let body_len = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |h| {
                        std::str::from_utf8(h.value)
                            .unwrap()
                            .trim()
                            .parse()
                            .unwrap()
                    });
                return Some((n, req.method?.to_owned(), req.path?.to_owned(), body_len));
            }
        }
        let mut chunk = [0u8; 8192];
        match conn.read(&mut chunk).await {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

// ------------------------------------------------------------------ raw client

/// One answer as the client received it; `body` is the body bytes as sent on the wire
/// (chunk framing included).
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive client connection that keeps unread bytes between answers.
struct Client {
    conn: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(proxy: &Proxy) -> Client {
        Client {
            conn: TcpStream::connect(proxy.http).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.conn.write_all(bytes).await.unwrap();
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match tokio::time::timeout(DEADLINE, self.conn.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Ok(_) => false,
            Err(_) => panic!("no answer within {DEADLINE:?}; have {:?}", self.buf),
        }
    }

    /// Reads the next answer (`head_request`: the request was HEAD, so no body).
    async fn answer(&mut self, head_request: bool) -> Answer {
        let (head_len, status, headers) = loop {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut hs);
            if let httparse::Status::Complete(n) = resp.parse(&self.buf).unwrap() {
                let headers = resp
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect::<Vec<_>>();
                break (n, resp.code.unwrap(), headers);
            }
            assert!(
                self.fill().await,
                "connection closed inside a head: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        self.buf.drain(..head_len);
        let mut answer = Answer {
            status,
            headers,
            body: Vec::new(),
        };
        let body_len = if head_request || (100..200).contains(&status) {
            Some(0)
        } else if answer.header("transfer-encoding") == Some("chunked") {
            None
        } else {
            answer.header("content-length").map(|v| v.parse().unwrap())
        };
        match body_len {
            Some(n) => {
                while self.buf.len() < n {
                    assert!(self.fill().await, "connection closed inside a body");
                }
                answer.body = self.buf.drain(..n).collect();
            }
            None if answer.header("transfer-encoding") == Some("chunked") => {
                let n = loop {
                    if let Some(n) = chunked_len(&self.buf) {
                        break n;
                    }
                    assert!(self.fill().await, "connection closed inside a chunked body");
                };
                answer.body = self.buf.drain(..n).collect();
            }
            None => {
                while self.fill().await {}
                answer.body = std::mem::take(&mut self.buf);
            }
        }
        answer
    }

    /// Whether the proxy closed the connection (EOF before the deadline, nothing unread).
    async fn closed(&mut self) -> bool {
        !self.fill().await && self.buf.is_empty()
    }
}

/// The length of a complete chunked body at the start of `buf`, if it is all there.
fn chunked_len(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let (used, size) = match httparse::parse_chunk_size(&buf[i..]).ok()? {
            httparse::Status::Complete(c) => c,
            httparse::Status::Partial => return None,
        };
        i += used;
        if size == 0 {
            // Trailers up to the blank line.
            loop {
                let end = buf[i..].windows(2).position(|w| w == b"\r\n")?;
                i += end + 2;
                if end == 0 {
                    return Some(i);
                }
            }
        }
        i += usize::try_from(size).unwrap() + 2;
        if i > buf.len() {
            return None;
        }
    }
}

/// The data of a complete chunked body (extensions and trailers left out).
fn unchunk(mut body: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    while let Ok(httparse::Status::Complete((used, size))) = httparse::parse_chunk_size(body) {
        let size = usize::try_from(size).unwrap();
        if size == 0 {
            break;
        }
        data.extend_from_slice(&body[used..used + size]);
        body = &body[used + size + 2..];
    }
    data
}

fn get(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n").into_bytes()
}

/// The request head the raw upstream received, from its default answer.
fn received_head(answer: &Answer) -> String {
    let text = answer.text();
    text.rsplit_once("\r\n\r\n")
        .map_or(text.clone(), |(h, _)| h.to_owned())
}

async fn setup(extra: &[&str]) -> (TestRedis, Proxy) {
    let redis = TestRedis::new().await.unwrap();
    let mut options = ProxyOptions::new(redis.url(), redis.prefix());
    for a in extra {
        options = options.arg(a);
    }
    let proxy = options.start().await;
    (redis, proxy)
}

/// A proxy started with `extra` flags and a raw upstream behind zone `raw.example.com`,
/// applied.
async fn setup_raw(extra: &[&str]) -> (TestRedis, Proxy, RawUpstream) {
    let (redis, proxy) = setup(extra).await;
    let up = RawUpstream::start().await;
    let v = put_zones(&redis.store(), &[zone("raw.example.com", &[&up.url()])]).await;
    proxy.wait_for_version(v.version).await;
    (redis, proxy, up)
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn answers_of_every_framing_pass_through_unchanged_on_one_connection() {
    let (redis, proxy, up) = setup_raw(&[]).await;

    let mut c = Client::connect(&proxy).await;
    c.send(&get("raw.example.com", "/length")).await;
    let a = c.answer(false).await;
    assert_eq!((a.status, a.text().as_str()), (200, "hello"));
    assert_eq!(a.header("x-kind"), Some("length"));
    assert!(
        !a.has("keep-alive"),
        "hop-by-hop answer headers are dropped: {a:?}"
    );
    assert_eq!(
        a.header("connection"),
        Some("keep-alive"),
        "the proxy's own"
    );
    let id = a
        .header("x-request-id")
        .expect("answers carry the request id");
    assert_eq!(id.len(), 32, "{id}");

    c.send(&get("raw.example.com", "/chunked")).await;
    let a = c.answer(false).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("transfer-encoding"), Some("chunked"));
    assert!(!a.has("content-length"), "{a:?}");
    assert_eq!(
        a.body,
        [CHUNKED_PART1, CHUNKED_PART2].concat(),
        "chunks and trailer as sent"
    );

    c.send(b"HEAD /length HTTP/1.1\r\nhost: raw.example.com\r\n\r\n")
        .await;
    let a = c.answer(true).await;
    assert_eq!((a.status, a.header("content-length")), (200, Some("5")));

    c.send(&get("raw.example.com", "/hints")).await;
    let hints = c.answer(false).await;
    assert_eq!(hints.status, 103);
    assert_eq!(hints.header("link"), Some("</a.css>; rel=preload"));
    let a = c.answer(false).await;
    assert_eq!((a.status, a.text().as_str()), (200, "ok"));

    // After all of that the connection still serves, and every answer above went over one
    // upstream connection (the chunked and HEAD answers were read to their exact end).
    c.send(&get("raw.example.com", "/length")).await;
    assert_eq!(c.answer(false).await.text(), "hello");
    assert_eq!(up.connections(), 1, "upstream connections opened");

    // A body delimited by the upstream closing: the proxy ends the client connection too.
    c.send(&get("raw.example.com", "/close")).await;
    let a = c.answer(false).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("connection"), Some("close"));
    assert_eq!(a.text(), "until close");
    assert!(c.closed().await);
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn pipelined_requests_with_bodies_and_a_handover_are_answered_in_order() {
    pipelined(&[]).await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_by_pingora_alone_too() {
    pipelined(&["--fast-path=false"]).await;
}

async fn pipelined(flags: &[&str]) {
    let (redis, proxy, _up) = setup_raw(flags).await;

    // One write: a POST with a body, a GET, a request the proxy answers itself (no zone:
    // the connection goes to Pingora from there), then two more for the zone.
    let mut c = Client::connect(&proxy).await;
    let mut burst =
        b"POST /upload HTTP/1.1\r\nhost: raw.example.com\r\ncontent-length: 11\r\n\r\nhello world"
            .to_vec();
    burst.extend(get("raw.example.com", "/one"));
    burst.extend(get("nowhere.example.org", "/"));
    burst.extend(get("raw.example.com", "/length"));
    burst.extend(b"POST /two HTTP/1.1\r\nhost: raw.example.com\r\ncontent-length: 3\r\n\r\nabc");
    c.send(&burst).await;

    let a = c.answer(false).await;
    assert_eq!(a.status, 200);
    assert!(
        received_head(&a).starts_with("POST /upload HTTP/1.1\r\n"),
        "{}",
        a.text()
    );
    assert!(
        a.text()
            .ends_with(&format!("body 11 {:x}", fnv(b"hello world"))),
        "{}",
        a.text()
    );
    let a = c.answer(false).await;
    assert!(
        received_head(&a).starts_with("GET /one HTTP/1.1\r\n"),
        "{}",
        a.text()
    );
    assert!(a.text().ends_with(&format!("body 0 {:x}", fnv(b""))));
    let a = c.answer(false).await;
    assert_eq!(a.status, 404, "{}", a.text());
    assert!(a.text().contains(a.header("x-request-id").unwrap()));
    let a = c.answer(false).await;
    assert_eq!((a.status, a.text().as_str()), (200, "hello"));
    let a = c.answer(false).await;
    assert!(
        a.text().ends_with(&format!("body 3 {:x}", fnv(b"abc"))),
        "{}",
        a.text()
    );
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_large_body_streams_through_and_the_connection_serves_on() {
    let (redis, proxy, _up) = setup_raw(&[]).await;

    let body: Vec<u8> = (0..3 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    let mut c = Client::connect(&proxy).await;
    c.send(
        format!(
            "PUT /big HTTP/1.1\r\nhost: raw.example.com\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await;
    // Far more than socket buffers hold: the proxy streams it in many reads.
    c.send(&body).await;
    let a = c.answer(false).await;
    assert_eq!(a.status, 200);
    assert!(
        a.text()
            .ends_with(&format!("body {} {:x}", body.len(), fnv(&body))),
        "{}",
        received_head(&a)
    );
    c.send(&get("raw.example.com", "/after")).await;
    let a = c.answer(false).await;
    assert!(received_head(&a).starts_with("GET /after HTTP/1.1\r\n"));
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_pooled_connection_the_upstream_closed_is_replaced_without_an_error() {
    let (redis, proxy, up) = setup_raw(&[]).await;

    let mut c = Client::connect(&proxy).await;
    for round in 0..5 {
        // The upstream answers with keep-alive and then closes: the proxy keeps the
        // connection, finds it closed on the next request and sends that one again.
        c.send(&get("raw.example.com", "/then-close")).await;
        let a = c.answer(false).await;
        assert_eq!(
            (a.status, a.text().as_str()),
            (200, "hello"),
            "round {round}"
        );
    }
    c.send(&b"POST /p HTTP/1.1\r\nhost: raw.example.com\r\ncontent-length: 2\r\n\r\nhi"[..])
        .await;
    let a = c.answer(false).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a.text().ends_with(&format!("body 2 {:x}", fnv(b"hi"))));
    assert_eq!(
        up.connections(),
        6,
        "one new upstream connection per request"
    );
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_request_lost_on_a_reused_connection_is_resent_only_when_its_method_allows() {
    let (redis, proxy, up) = setup_raw(&[]).await;

    for (method, sent) in [("POST", 1), ("GET", 2), ("PATCH", 1), ("DELETE", 2)] {
        let before = up.swallowed.load(Ordering::SeqCst);
        let mut c = Client::connect(&proxy).await;
        // A pooled connection first, then a request the upstream takes and never answers.
        c.send(&get("raw.example.com", "/length")).await;
        assert_eq!(c.answer(false).await.text(), "hello");
        c.send(
            format!(
                "{method} /swallow HTTP/1.1\r\nhost: raw.example.com\r\ncontent-length: 1\r\n\r\nx"
            )
            .as_bytes(),
        )
        .await;
        let a = c.answer(false).await;
        assert_eq!(a.status, 502, "{method}: {}", a.text());
        assert_eq!(
            up.swallowed.load(Ordering::SeqCst) - before,
            sent,
            "{method} requests the upstream received"
        );
    }
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_and_forwarding_headers_appended() {
    let (redis, proxy) = setup(&[]).await;
    let up = RawUpstream::start().await;
    let v = put_zones(
        &redis.store(),
        &[
            zone("raw.example.com", &[&up.url()]),
            zone_json(
                "keep.example.com",
                serde_json::json!([{"zone_id": "k", "preserve_host": true, "upstreams": [{"url": up.url()}]}]),
            ),
        ],
    )
    .await;
    proxy.wait_for_version(v.version).await;

    let mut c = Client::connect(&proxy).await;
    c.send(
        b"GET /h?q=1 HTTP/1.1\r\nHost: RAW.example.com:80\r\nConnection: keep-alive\r\n\
          Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n\
          X-Forwarded-For: 10.1.2.3\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n\
          X-Request-Id: my-id-123\r\nX-Custom: kept\r\n\r\n",
    )
    .await;
    let a = c.answer(false).await;
    let head = received_head(&a).to_ascii_lowercase();
    let lines: Vec<&str> = head.lines().collect();
    assert_eq!(lines[0], "get /h?q=1 http/1.1");
    for want in [
        format!("host: {}", up.addr),
        "x-forwarded-for: 10.1.2.3, 127.0.0.1".to_owned(),
        "x-real-ip: 127.0.0.1".to_owned(),
        "x-forwarded-proto: http".to_owned(),
        "x-forwarded-host: raw.example.com:80".to_owned(),
        "x-request-id: my-id-123".to_owned(),
        "x-custom: kept".to_owned(),
    ] {
        assert_eq!(
            lines.iter().filter(|l| **l == want).count(),
            1,
            "{want:?} once in\n{head}"
        );
    }
    for gone in [
        "connection:",
        "keep-alive:",
        "proxy-connection:",
        "te:",
        "x-real-ip: 6",
    ] {
        assert!(
            !lines.iter().any(|l| l.starts_with(gone)),
            "{gone} in\n{head}"
        );
    }
    assert_eq!(a.header("x-request-id"), Some("my-id-123"));

    c.send(&get("keep.example.com", "/")).await;
    let a = c.answer(false).await;
    assert!(
        received_head(&a).contains("\r\nhost: keep.example.com\r\n"),
        "{}",
        received_head(&a)
    );
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_client_asking_to_close_gets_its_answer_and_then_the_close() {
    let (redis, proxy, up) = setup_raw(&[]).await;

    let mut c = Client::connect(&proxy).await;
    c.send(b"GET /length HTTP/1.1\r\nhost: raw.example.com\r\nconnection: close\r\n\r\n")
        .await;
    let a = c.answer(false).await;
    assert_eq!((a.status, a.text().as_str()), (200, "hello"));
    assert_eq!(a.header("connection"), Some("close"));
    assert!(c.closed().await, "the proxy closes after the answer");
    // The upstream connection was not the client's to close: it is reused.
    let mut c = Client::connect(&proxy).await;
    c.send(&get("raw.example.com", "/length")).await;
    assert_eq!(c.answer(false).await.text(), "hello");
    assert_eq!(up.connections(), 1);
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn draining_closes_idle_keep_alive_connections_at_once() {
    // A grace period far longer than the wait below: the close comes from the drain.
    let (redis, mut proxy, _up) = setup_raw(&["--grace-secs", "30"]).await;

    let mut c = Client::connect(&proxy).await;
    c.send(&get("raw.example.com", "/length")).await;
    assert_eq!(c.answer(false).await.text(), "hello");
    proxy.terminate();
    assert!(
        c.closed().await,
        "the idle connection is closed when draining starts"
    );
    // Its graceful exit waits out the 30 s grace period: not what this test is about.
    proxy.kill().await.unwrap();
    redis.cleanup().await.unwrap();
}

/// Status, body and the headers a client relies on, with request ids taken out.
async fn observe(proxy: &Proxy, requests: &[(&str, Vec<u8>)]) -> Vec<String> {
    let mut seen = Vec::new();
    let mut c = Client::connect(proxy).await;
    for (what, bytes) in requests {
        c.send(bytes).await;
        let a = c.answer(bytes.starts_with(b"HEAD ")).await;
        let id = a.header("x-request-id").unwrap_or_default().to_owned();
        let mut headers: Vec<String> = a
            .headers
            .iter()
            .filter(|(n, _)| !["date", "server", "x-request-id"].contains(&n.as_str()))
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        headers.sort();
        // Chunk boundaries are the sender's business (Pingora re-chunks): compare data.
        let data = if a.header("transfer-encoding") == Some("chunked") {
            unchunk(&a.body)
        } else {
            a.body.clone()
        };
        let body = String::from_utf8_lossy(&data).replace(&id, "<id>");
        seen.push(format!("{what}: {} {headers:?} {body:?}", a.status));
        if a.header("connection") == Some("close") {
            c = Client::connect(proxy).await;
        }
    }
    seen
}

#[tokio::test]
async fn the_fast_path_answers_as_pingora_does() {
    let redis = TestRedis::new().await.unwrap();
    let fast = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let reference = ProxyOptions::new(redis.url(), redis.prefix())
        .arg("--fast-path=false")
        .start()
        .await;
    let echo = Upstream::echo("echo").await;
    let up = RawUpstream::start().await;
    let v = put_zones(
        &redis.store(),
        &[
            zone("echo.example.com", &[&echo.url()]),
            zone("raw.example.com", &[&up.url()]),
        ],
    )
    .await;
    fast.wait_for_version(v.version).await;
    reference.wait_for_version(v.version).await;

    let requests = vec![
        ("echo", get("echo.example.com", "/a?b=c")),
        (
            "echo post",
            b"POST /p HTTP/1.1\r\nhost: echo.example.com\r\ncontent-length: 4\r\n\r\nbody".to_vec(),
        ),
        ("length", get("raw.example.com", "/length")),
        ("chunked", get("raw.example.com", "/chunked")),
        (
            "head",
            b"HEAD /length HTTP/1.1\r\nhost: raw.example.com\r\n\r\n".to_vec(),
        ),
        ("no zone", get("nowhere.example.org", "/")),
    ];
    let (a, b) = (
        observe(&fast, &requests).await,
        observe(&reference, &requests).await,
    );
    // The echo upstream reports the headers it saw; they differ only in the request id,
    // which is replaced above when it is the answer's own.
    for (fast, reference) in a.iter().zip(&b) {
        assert_eq!(fast, reference);
    }
    // Access lines are written in batches (at most 100 ms late).
    let fast_ref = &fast;
    eventually(DEADLINE, "access lines name the upstream", || async move {
        if fast_ref.log_text().contains("\"upstream\":\"127.0.0.1:") {
            Ok(())
        } else {
            Err("no access line with an upstream yet".to_owned())
        }
    })
    .await
    .unwrap();
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_change_in_redis_reaches_open_keep_alive_connections() {
    let (redis, proxy) = setup(&[]).await;
    let first = Upstream::echo("first").await;
    let second = Upstream::echo("second").await;
    let v = put_zones(&redis.store(), &[zone("move.example.com", &[&first.url()])]).await;
    proxy.wait_for_version(v.version).await;

    let c = Arc::new(tokio::sync::Mutex::new(Client::connect(&proxy).await));
    let c2 = c.clone();
    let ask = move || {
        let c = c2.clone();
        async move {
            let mut c = c.lock().await;
            c.send(&get("move.example.com", "/")).await;
            c.answer(false)
                .await
                .header("x-upstream")
                .unwrap_or_default()
                .to_owned()
        }
    };
    assert_eq!(ask().await, "first");
    put_zones(
        &redis.store(),
        &[zone("move.example.com", &[&second.url()])],
    )
    .await;
    eventually(
        DEADLINE,
        "the open connection reaches the new upstream",
        || {
            let ask = ask.clone();
            async move {
                match ask().await.as_str() {
                    "second" => Ok(()),
                    other => Err(format!("answered by {other}")),
                }
            }
        },
    )
    .await
    .unwrap();
    drop(c);
    redis.cleanup().await.unwrap();
}
