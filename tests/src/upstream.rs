//! Real local upstream servers for the proxy's tests.
//!
//! Each constructor binds `127.0.0.1:0` (the OS picks the port), spawns the server on the
//! current tokio runtime and returns an [`Upstream`] handle. Dropping the handle aborts the
//! accept loop, which closes the listener and aborts every connection it had accepted, so a
//! dropped upstream really goes away (new connections to its port are refused).
//!
//! The kinds, matching the situations in DESIGN.md's "Failure semantics (proxy)":
//!
//! | constructor | behaviour |
//! |---|---|
//! | [`Upstream::echo`] | HTTP/1.1 (keep-alive), 200 + a JSON description of the request |
//! | [`Upstream::slow`] | like echo, but answers only after a delay (504 tests) |
//! | [`Upstream::status`] | answers a fixed status with a short text body |
//! | [`Upstream::refusing`] | an address where nothing listens (502 tests) |
//! | [`Upstream::resetting`] | accepts TCP, then resets it without answering (502 tests) |
//! | [`Upstream::https_echo`] | the echo server over TLS, ALPN `http/1.1` |
//! | [`Upstream::websocket_echo`] | WebSocket echo, text replies prefixed with `"<name>: "` |
//!
//! The echo body is `{"upstream": name, "method": "GET", "path": "/a?b=c", "headers":
//! {"host": "...", ...}, "body_len": 0}`: header names are lower-case, repeated headers are
//! joined with `", "`. Every HTTP answer carries `x-upstream: <name>`.
//!
//! [`self_signed`] makes a throw-away CA and a leaf certificate signed by it for
//! [`Upstream::https_echo`]; clients trust the CA's PEM (see `crate::client::https_get`).
//!
//! The constructors panic when they cannot start (a test harness has nobody to hand an
//! error to but the test, and the message says what failed).

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    Request as WsRequest, Response as WsResponse,
};

/// Header every HTTP answer of an upstream carries, naming it.
pub const UPSTREAM_HEADER: &str = "x-upstream";

/// A running local upstream server; dropping it stops the server.
pub struct Upstream {
    name: String,
    addr: SocketAddr,
    scheme: &'static str,
    seen: Arc<Seen>,
    _server: AbortOnDrop,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("url", &self.url())
            .field("request_count", &self.request_count())
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// HTTP/1.1 server answering every request with 200, header `x-upstream: <name>` and
    /// a JSON body describing the request (see the module docs).
    ///
    /// # Panics
    /// If `name` is not a valid header value or the listener cannot be bound.
    pub async fn echo(name: &str) -> Upstream {
        Self::http(name, Reply::Echo, None).await
    }

    /// Like [`Upstream::echo`], but each request is answered only `delay` after it arrived
    /// (it is counted on arrival). For the proxy's 504 path.
    ///
    /// # Panics
    /// As [`Upstream::echo`].
    pub async fn slow(name: &str, delay: Duration) -> Upstream {
        Self::http(name, Reply::Slow(delay), None).await
    }

    /// Answers every request with `code` and the text body `"<name>: <code>\n"`.
    ///
    /// # Panics
    /// If `code` is not a valid status code, and as [`Upstream::echo`].
    pub async fn status(name: &str, code: u16) -> Upstream {
        let code = StatusCode::from_u16(code)
            .unwrap_or_else(|e| panic!("upstream {name}: bad status {code}: {e}"));
        Self::http(name, Reply::Status(code), None).await
    }

    /// The echo server over TLS, offering ALPN `http/1.1`. `cert_chain_pem` is the leaf
    /// certificate followed by any intermediates, `key_pem` its private key (PKCS#8, PKCS#1
    /// or SEC1) — e.g. the fields of a [`TestCert`] from [`self_signed`]. [`Upstream::url`]
    /// is `https://127.0.0.1:PORT`; [`Upstream::last_sni`] tells which server name the last
    /// client asked for.
    ///
    /// # Panics
    /// If the PEM does not hold a certificate and a matching key, and as [`Upstream::echo`].
    pub async fn https_echo(name: &str, cert_chain_pem: &str, key_pem: &str) -> Upstream {
        let certs = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("upstream {name}: bad certificate PEM: {e}"));
        assert!(
            !certs.is_empty(),
            "upstream {name}: no certificate in the PEM"
        );
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .unwrap_or_else(|e| panic!("upstream {name}: bad key PEM: {e}"));
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .unwrap_or_else(|e| panic!("upstream {name}: TLS config: {e}"));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::http(name, Reply::Echo, Some(TlsAcceptor::from(Arc::new(config)))).await
    }

    /// A WebSocket server: echoes binary messages as they are and text messages prefixed
    /// with `"<name>: "`; answers pings (tungstenite does) and closes when asked to. Each
    /// handshake counts as a request and its headers become [`Upstream::last_headers`].
    /// Plain HTTP requests that are not WebSocket handshakes get the connection closed.
    /// [`Upstream::url`] is `http://…` (what a proxy's backend is configured with);
    /// [`Upstream::ws_url`] gives `ws://…`.
    ///
    /// # Panics
    /// If the listener cannot be bound.
    pub async fn websocket_echo(name: &str) -> Upstream {
        let (listener, addr) = bind(name).await;
        let seen = Arc::new(Seen::default());
        let (conn_seen, prefix) = (Arc::clone(&seen), format!("{name}: "));
        let server = tokio::spawn(accept_loop(listener, move |stream| {
            websocket_connection(stream, Arc::clone(&conn_seen), prefix.clone())
        }));
        Upstream::new(name, addr, "http", seen, server)
    }

    /// Accepts TCP connections and resets each one at once (`SO_LINGER` 0, then close),
    /// without reading or answering: a client sees "connection reset" or an empty reply.
    /// [`Upstream::request_count`] counts accepted connections here.
    ///
    /// # Panics
    /// If the listener cannot be bound.
    pub async fn resetting(name: &str) -> Upstream {
        let (listener, addr) = bind(name).await;
        let seen = Arc::new(Seen::default());
        let conn_seen = Arc::clone(&seen);
        let server = tokio::spawn(accept_loop(listener, move |stream| {
            conn_seen.requests.fetch_add(1, Ordering::SeqCst);
            async move {
                // Linger 0 turns the close into an RST. The deprecation is about close()
                // blocking for a non-zero linger; with zero it returns at once.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                drop(stream);
            }
        }));
        Upstream::new(name, addr, "http", seen, server)
    }

    /// An address on 127.0.0.1 where nothing listens, so connecting is refused: a port is
    /// bound but never listened on, and stays bound until the test process ends, so no
    /// other socket (a proxy binding port 0, say) can be given it meanwhile.
    ///
    /// # Panics
    /// If no port can be bound at all.
    pub fn refusing() -> SocketAddr {
        let socket = tokio::net::TcpSocket::new_v4().expect("refusing upstream: socket");
        socket
            .bind((Ipv4Addr::LOCALHOST, 0).into())
            .expect("refusing upstream: bind 127.0.0.1:0");
        let addr = socket
            .local_addr()
            .expect("refusing upstream: local address");
        // Held, never listened on: connections are refused, the port stays taken.
        std::mem::forget(socket);
        addr
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the server listens (always 127.0.0.1, port chosen by the OS).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://…` for [`Upstream::https_echo`].
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// `ws://127.0.0.1:PORT` (`wss://` over TLS), for WebSocket clients.
    pub fn ws_url(&self) -> String {
        let scheme = if self.scheme == "https" { "wss" } else { "ws" };
        format!("{scheme}://{}", self.addr)
    }

    /// Requests seen so far (WebSocket: handshakes; resetting: accepted connections).
    pub fn request_count(&self) -> u64 {
        self.seen.requests.load(Ordering::SeqCst)
    }

    /// Headers of the last request (or WebSocket handshake) seen, if any.
    pub fn last_headers(&self) -> Option<HeaderMap> {
        lock(&self.seen.last_headers).clone()
    }

    /// The TLS server name (SNI) the last TLS client sent; `None` before any TLS handshake
    /// or when the client sent none (as for IP addresses).
    pub fn last_sni(&self) -> Option<String> {
        lock(&self.seen.last_sni).clone()
    }

    fn new(
        name: &str,
        addr: SocketAddr,
        scheme: &'static str,
        seen: Arc<Seen>,
        server: JoinHandle<()>,
    ) -> Upstream {
        Upstream {
            name: name.to_owned(),
            addr,
            scheme,
            seen,
            _server: AbortOnDrop(server),
        }
    }

    async fn http(name: &str, reply: Reply, tls: Option<TlsAcceptor>) -> Upstream {
        let name_header = HeaderValue::from_str(name)
            .unwrap_or_else(|e| panic!("upstream name {name:?} is not a header value: {e}"));
        let (listener, addr) = bind(name).await;
        let seen = Arc::new(Seen::default());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let ctx = Arc::new(HttpCtx {
            name: name.to_owned(),
            name_header,
            reply,
            seen: Arc::clone(&seen),
        });
        let server = tokio::spawn(accept_loop(listener, move |stream| {
            let (ctx, tls) = (Arc::clone(&ctx), tls.clone());
            async move {
                match tls {
                    None => serve_http(stream, ctx).await,
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let sni = stream.get_ref().1.server_name().map(str::to_owned);
                        *lock(&ctx.seen.last_sni) = sni;
                        serve_http(stream, ctx).await;
                    }
                }
            }
        }));
        Upstream::new(name, addr, scheme, seen, server)
    }
}

/// A throw-away CA and a server certificate signed by it, all PEM.
#[derive(Debug, Clone)]
pub struct TestCert {
    /// The leaf certificate followed by the CA certificate — what a server presents.
    pub chain_pem: String,
    /// The leaf's private key (PKCS#8).
    pub key_pem: String,
    /// The CA certificate — what a client adds as its trusted root.
    pub ca_pem: String,
}

/// Makes a fresh CA and a leaf certificate for `names` (DNS names, or IP addresses such as
/// `"127.0.0.1"`, which become IP SANs) signed by it, valid for server authentication.
/// The CA is a distinct root so that tests exercise real chain verification: a client
/// trusting `ca_pem` accepts the leaf for exactly those names.
///
/// # Panics
/// If a name is not a valid DNS name or IP address.
pub fn self_signed(names: &[&str]) -> TestCert {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Switchyard test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("generate CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");
    let issuer = Issuer::new(ca_params, ca_key);

    let sans: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut leaf_params = CertificateParams::new(sans)
        .unwrap_or_else(|e| panic!("bad certificate names {names:?}: {e}"));
    if let Some(first) = names.first() {
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, *first);
    }
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().expect("generate leaf key");
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &issuer)
        .expect("sign leaf certificate");

    TestCert {
        chain_pem: format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
        key_pem: leaf_key.serialize_pem(),
        ca_pem: ca_cert.pem(),
    }
}

/// What an upstream saw; shared between the handle and the server tasks.
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    last_headers: Mutex<Option<HeaderMap>>,
    last_sni: Mutex<Option<String>>,
}

impl Seen {
    fn record(&self, headers: &HeaderMap) {
        *lock(&self.last_headers) = Some(headers.clone());
        self.requests.fetch_add(1, Ordering::SeqCst);
    }
}

/// A poisoned lock only means some test panicked; the data is still fine to read.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Aborts the server task (and with it the listener and its connections) on drop.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) async fn bind(name: &str) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap_or_else(|e| panic!("upstream {name}: bind 127.0.0.1:0: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("upstream {name}: local address: {e}"));
    (listener, addr)
}

/// Accepts connections until aborted, running each as a task of a [`JoinSet`] owned by
/// this future, so aborting the accept loop also aborts every open connection.
pub(crate) async fn accept_loop<F, Fut>(listener: TcpListener, mut on_conn: F)
where
    F: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    conns.spawn(on_conn(stream));
                }
                // Out of file descriptors and the like: back off rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

#[derive(Clone, Copy)]
enum Reply {
    Echo,
    Slow(Duration),
    Status(StatusCode),
}

struct HttpCtx {
    name: String,
    name_header: HeaderValue,
    reply: Reply,
    seen: Arc<Seen>,
}

async fn serve_http<IO>(io: IO, ctx: Arc<HttpCtx>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| answer(Arc::clone(&ctx), req));
    // Errors here are the client's doing (reset, garbage); the connection just ends.
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn answer(
    ctx: Arc<HttpCtx>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    ctx.seen.record(req.headers());
    let (parts, body) = req.into_parts();
    // Read the whole body so the connection stays usable for the next request.
    let body_len = body.collect().await.map_or(0, |b| b.to_bytes().len());

    let (status, content_type, body) = match ctx.reply {
        Reply::Status(code) => (
            code,
            "text/plain; charset=utf-8",
            format!("{}: {}\n", ctx.name, code.as_u16()),
        ),
        Reply::Echo | Reply::Slow(_) => {
            if let Reply::Slow(delay) = ctx.reply {
                tokio::time::sleep(delay).await;
            }
            let mut headers = serde_json::Map::new();
            for name in parts.headers.keys() {
                let joined = parts
                    .headers
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ");
                headers.insert(name.as_str().to_owned(), joined.into());
            }
            let path = parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
            let json = serde_json::json!({
                "upstream": ctx.name,
                "method": parts.method.as_str(),
                "path": path,
                "headers": headers,
                "body_len": body_len,
            });
            (StatusCode::OK, "application/json", json.to_string())
        }
    };

    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(UPSTREAM_HEADER, ctx.name_header.clone());
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    Ok(resp)
}

async fn websocket_connection(stream: TcpStream, seen: Arc<Seen>, prefix: String) {
    let handshake_seen = Arc::clone(&seen);
    #[allow(
        clippy::result_large_err,
        reason = "the signature is tungstenite's handshake Callback"
    )]
    let callback = move |req: &WsRequest, resp: WsResponse| {
        handshake_seen.record(req.headers());
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        let reply = match msg {
            Message::Text(text) => Message::text(format!("{prefix}{}", text.as_str())),
            Message::Binary(data) => Message::Binary(data),
            // Pings are answered and closes acknowledged by tungstenite itself.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            Message::Close(_) => break,
        };
        if ws.send(reply).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::client::{http_get, https_get};

    #[tokio::test]
    async fn echo_answers_with_its_name_and_sees_the_host_header() {
        let up = Upstream::echo("alpha").await;
        assert!(up.url().starts_with("http://127.0.0.1:"), "{}", up.url());
        assert_eq!(up.request_count(), 0);
        assert!(up.last_headers().is_none());

        let resp = http_get(up.addr(), "app.example.test", "/some/path?x=1")
            .await
            .expect("GET echo");
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.header(UPSTREAM_HEADER), Some("alpha"));
        let json = resp.json().expect("echo body is JSON");
        assert_eq!(json["upstream"], "alpha");
        assert_eq!(json["method"], "GET");
        assert_eq!(json["path"], "/some/path?x=1");
        assert_eq!(json["headers"]["host"], "app.example.test");
        assert_eq!(json["body_len"], 0);

        assert_eq!(up.request_count(), 1);
        let headers = up.last_headers().expect("headers recorded");
        assert_eq!(headers["host"], "app.example.test");
    }

    #[tokio::test]
    async fn echo_keeps_the_connection_alive_and_counts_requests() {
        let up = Upstream::echo("beta").await;
        let mut conn = TcpStream::connect(up.addr()).await.expect("connect");
        let request = "POST /p HTTP/1.1\r\nhost: h\r\nx-multi: a\r\nx-multi: b\r\n\
                       content-length: 5\r\n\r\nhello";
        // Two requests on one connection; the second is sent after the first answer.
        for round in 1..=2 {
            conn.write_all(request.as_bytes()).await.expect("write");
            let text = read_response(&mut conn).await;
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            assert!(text.contains("\"body_len\":5"), "{text}");
            assert!(text.contains("\"x-multi\":\"a, b\""), "{text}");
            assert!(text.contains("\"method\":\"POST\""), "{text}");
            assert_eq!(up.request_count(), round);
        }
    }

    /// Reads one response with a `content-length` body from a raw connection.
    async fn read_response(conn: &mut TcpStream) -> String {
        let mut buf = Vec::new();
        loop {
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await.expect("read");
            assert!(n > 0, "connection closed early: {buf:?}");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let len: usize = text[..head_end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .expect("content-length")
                    .trim()
                    .parse()
                    .expect("length");
                if buf.len() >= head_end + 4 + len {
                    return text;
                }
            }
        }
    }

    #[tokio::test]
    async fn slow_really_waits() {
        let delay = Duration::from_millis(300);
        let up = Upstream::slow("sloth", delay).await;
        let started = Instant::now();
        let resp = http_get(up.addr(), "slow.test", "/").await.expect("GET");
        let elapsed = started.elapsed();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.json().expect("JSON")["upstream"], "sloth");
        assert!(elapsed >= delay, "answered after {elapsed:?} < {delay:?}");
    }

    #[tokio::test]
    async fn status_answers_the_given_code() {
        let up = Upstream::status("teapot", 418).await;
        let resp = http_get(up.addr(), "t.test", "/").await.expect("GET");
        assert_eq!(resp.status.as_u16(), 418);
        assert_eq!(resp.body, "teapot: 418\n");
        assert_eq!(resp.header(UPSTREAM_HEADER), Some("teapot"));
        assert_eq!(up.request_count(), 1);
    }

    #[tokio::test]
    async fn refusing_refuses() {
        let addr = Upstream::refusing();
        let err = TcpStream::connect(addr)
            .await
            .expect_err("nothing should listen there");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        let err = http_get(addr, "r.test", "/").await.expect_err("refused");
        assert!(err.is_connect(), "{err:?}");
    }

    #[tokio::test]
    async fn a_dropped_upstream_stops_listening() {
        let up = Upstream::echo("gone").await;
        let addr = up.addr();
        http_get(addr, "g.test", "/").await.expect("up while held");
        drop(up);
        // Abort takes effect at the task's next poll; poll with a deadline for it.
        crate::eventually::eventually(Duration::from_secs(5), "listener closed", || async {
            match TcpStream::connect(addr).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await
        .expect("listener closed after drop");
    }

    #[tokio::test]
    async fn resetting_gives_no_answer() {
        let up = Upstream::resetting("rst").await;
        let err = http_get(up.addr(), "x.test", "/")
            .await
            .expect_err("a reset connection has no response");
        assert!(!err.is_status(), "{err:?}");
        assert_eq!(up.request_count(), 1);

        // Raw: whatever the timing, the client never reads a byte of an answer.
        let mut conn = TcpStream::connect(up.addr()).await.expect("connect");
        let _ = conn.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
        let mut buf = [0u8; 64];
        match conn.read(&mut buf).await {
            Ok(n) => assert_eq!(n, 0, "got an answer: {:?}", &buf[..n]),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
    }

    #[tokio::test]
    async fn https_echo_works_with_the_ca_root() {
        let cert = self_signed(&["secure.example.test", "127.0.0.1"]);
        let up = Upstream::https_echo("tls", &cert.chain_pem, &cert.key_pem).await;
        assert!(up.url().starts_with("https://127.0.0.1:"), "{}", up.url());

        let resp = https_get(up.addr(), "secure.example.test", "/tls", &cert.ca_pem)
            .await
            .expect("GET over TLS trusting the test CA");
        assert_eq!(resp.status, StatusCode::OK);
        let json = resp.json().expect("JSON");
        assert_eq!(json["upstream"], "tls");
        assert_eq!(json["path"], "/tls");
        assert_eq!(json["headers"]["host"], "secure.example.test");
        assert_eq!(up.last_sni().as_deref(), Some("secure.example.test"));

        // A CA the server's certificate does not chain to is rejected.
        let other = self_signed(&["secure.example.test"]);
        https_get(up.addr(), "secure.example.test", "/", &other.ca_pem)
            .await
            .expect_err("untrusted CA must fail");
        // So is a name the certificate does not cover.
        https_get(up.addr(), "other.example.test", "/", &cert.ca_pem)
            .await
            .expect_err("wrong name must fail");
        assert_eq!(up.request_count(), 1);
    }

    #[tokio::test]
    async fn websocket_echo_echoes() {
        let up = Upstream::websocket_echo("ws").await;
        let (mut ws, resp) = tokio_tungstenite::connect_async(format!("{}/chat", up.ws_url()))
            .await
            .expect("WebSocket handshake");
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);

        ws.send(Message::text("hello")).await.expect("send text");
        let reply = ws.next().await.expect("a reply").expect("no error");
        assert_eq!(reply, Message::text("ws: hello"));

        ws.send(Message::binary(vec![0u8, 1, 2, 255]))
            .await
            .expect("send binary");
        let reply = ws.next().await.expect("a reply").expect("no error");
        assert_eq!(reply, Message::binary(vec![0u8, 1, 2, 255]));

        assert_eq!(up.request_count(), 1);
        let headers = up.last_headers().expect("handshake headers");
        assert_eq!(headers["upgrade"], "websocket");
        ws.close(None).await.expect("close");
    }
}
