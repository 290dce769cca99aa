//! Raw requests against two proxies — with the HTTP/1 fast path and without it — and
//! recording backends that show exactly what arrived: the bench of the request-rule tests
//! (path_rules.rs, smuggling.rs).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Proxy, ProxyOptions, put_certs, put_zones, zone_json};
use switchyard_shared::model::CertRecord;
use switchyard_tests::redis::TestRedis;
use switchyard_tests::upstream::self_signed;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// A client connection, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub const DEADLINE: Duration = Duration::from_secs(10);

/// What a recording backend saw: (backend name, request head as received).
pub type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A backend that records every request head and answers 200 with its own name.
pub async fn recorder(name: &'static str, seen: Seen) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let head_len = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 8192];
                        match conn.read(&mut chunk).await {
                            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                            _ => return,
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
                    let body_len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    let chunked = head.to_ascii_lowercase().contains("transfer-encoding:");
                    let end = if chunked {
                        match chunked_end(&mut conn, &mut buf, head_len).await {
                            Some(end) => end,
                            None => return,
                        }
                    } else {
                        while buf.len() < head_len + body_len {
                            let mut chunk = [0u8; 8192];
                            match conn.read(&mut chunk).await {
                                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                                _ => return,
                            }
                        }
                        head_len + body_len
                    };
                    buf.drain(..end);
                    seen.lock().unwrap().push((name.to_owned(), head));
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}",
                        name.len()
                    );
                    if conn.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Reads more of the connection into `buf`; false when it ended.
async fn read_more(conn: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match conn.read(&mut chunk).await {
        Ok(n) if n > 0 => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        _ => false,
    }
}

/// The end of the line (its CRLF) that starts at `at`, reading more as needed.
async fn line_end(conn: &mut TcpStream, buf: &mut Vec<u8>, at: usize) -> Option<usize> {
    loop {
        if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
            return Some(at + i);
        }
        if !read_more(conn, buf).await {
            return None;
        }
    }
}

/// Where a chunked body that starts at `start` ends (after its last chunk and
/// trailers), reading more as needed; `None` if the connection ends first or the body
/// is malformed.
async fn chunked_end(conn: &mut TcpStream, buf: &mut Vec<u8>, start: usize) -> Option<usize> {
    let mut at = start;
    loop {
        // A line: size (hex, maybe with extensions).
        let end = line_end(conn, buf, at).await?;
        let line = std::str::from_utf8(&buf[at..end]).ok()?.to_owned();
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        at = end + 2;
        if size == 0 {
            // Trailers up to a blank line.
            loop {
                let end = line_end(conn, buf, at).await?;
                let blank = end == at;
                at = end + 2;
                if blank {
                    return Some(at);
                }
            }
        }
        while buf.len() < at + size + 2 {
            if !read_more(conn, buf).await {
                return None;
            }
        }
        at += size + 2;
    }
}

pub struct Bench {
    pub redis: TestRedis,
    pub fast: Proxy,
    pub pingora: Proxy,
    pub seen: Seen,
    /// Trusts the certificate the proxies serve for `a.test`.
    pub tls: Arc<ClientConfig>,
}

/// A request sent over HTTP/2 ([`Bench::h2_both`]).
#[derive(Debug, Clone)]
pub struct H2Request {
    pub method: &'static str,
    /// `:path`, as sent.
    pub path: String,
    /// `:authority`.
    pub authority: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl H2Request {
    pub fn get(path: &str) -> Self {
        Self {
            method: "GET",
            path: path.to_owned(),
            authority: "a.test".to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// Plain HTTP or HTTPS (HTTP/1.1).
#[derive(Debug, Clone, Copy)]
pub enum Transport {
    Plain,
    Tls,
}
pub const TRANSPORTS: [Transport; 2] = [Transport::Plain, Transport::Tls];

/// Two proxies on one Redis prefix, one with the fast path and one without, serving
/// `a.test` (plain and TLS) with `routes`; `"admin"` and `"open"` in an upstream URL are
/// replaced by the two recording backends' addresses.
pub async fn bench(routes: serde_json::Value) -> Bench {
    bench_with(routes, &[]).await
}

/// [`bench`] with further proxy flags (`--flag=value`) for both proxies.
pub async fn bench_with(routes: serde_json::Value, flags: &[&str]) -> Bench {
    let redis = TestRedis::new().await.unwrap();
    let seen: Seen = Arc::default();
    let admin = recorder("admin", seen.clone()).await;
    let open = recorder("open", seen.clone()).await;
    let options = || {
        flags
            .iter()
            .fold(ProxyOptions::new(redis.url(), redis.prefix()), |o, flag| {
                o.arg(flag)
            })
    };
    let fast = options().start().await;
    let pingora = options().arg("--fast-path=false").start().await;
    let routes = routes
        .to_string()
        .replace("\"url\":\"admin\"", &format!("\"url\":\"{admin}\""))
        .replace("\"url\":\"open\"", &format!("\"url\":\"{open}\""));
    let zone = zone_json("a.test", serde_json::from_str(&routes).unwrap());
    put_zones(&redis.store(), &[zone]).await;
    let (record, tls) = served_cert("a.test");
    let v = put_certs(&redis.store(), &[record]).await;
    fast.wait_for_version(v.version).await;
    pingora.wait_for_version(v.version).await;
    Bench {
        redis,
        fast,
        pingora,
        seen,
        tls,
    }
}

/// A self-signed certificate record for `name` (valid for 89 more days) to store in
/// Redis, and a client configuration that trusts it.
pub fn served_cert(name: &str) -> (CertRecord, Arc<ClientConfig>) {
    let cert = self_signed(&[name]);
    let now = time::OffsetDateTime::now_utc();
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let record = serde_json::json!({
        "name": name,
        "names": [name],
        "chain_pem": cert.chain_pem,
        "key_pem": cert.key_pem,
        "not_before": (now - time::Duration::days(1)).format(rfc3339).unwrap(),
        "not_after": (now + time::Duration::days(89)).format(rfc3339).unwrap(),
    });
    let record = CertRecord::from_json(name, record.to_string().as_bytes()).unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let tls =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    (record, Arc::new(tls))
}

/// The requests the recording backends saw since the last call: (backend, target) of
/// the first, and every head. Panics when one request reached more than one backend
/// request.
fn take_heads(seen: &Seen) -> (Option<(String, String)>, Vec<String>) {
    let heads: Vec<(String, String)> = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        heads.len() <= 1,
        "one request reached {} backend requests: {heads:?}",
        heads.len()
    );
    let reached = heads.first().map(|(name, head)| {
        let line = head.lines().next().unwrap_or_default();
        let target = line.split(' ').nth(1).unwrap_or_default().to_owned();
        (name.clone(), target)
    });
    (reached, heads.into_iter().map(|(_, h)| h).collect())
}

/// What one raw request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: u16,
    /// The backend that got the request, and the target on its request line.
    pub reached: Option<(String, String)>,
}

/// An HTTP/2 connection (TLS, ALPN `h2`) to `addr` for `name`, trusting `tls`'s roots;
/// the connection is driven by a task of its own.
pub async fn h2_connect(
    addr: std::net::SocketAddr,
    tls: &ClientConfig,
    name: &str,
) -> h2::client::SendRequest<bytes::Bytes> {
    h2_connect_with(addr, tls, name, None).await
}

/// [`h2_connect`], keeping a copy of every byte the server sent (after TLS): its frames.
pub async fn h2_connect_recorded(
    addr: std::net::SocketAddr,
    tls: &ClientConfig,
    name: &str,
) -> (h2::client::SendRequest<bytes::Bytes>, Arc<Mutex<Vec<u8>>>) {
    let frames = Arc::new(Mutex::new(Vec::new()));
    let send = h2_connect_with(addr, tls, name, Some(frames.clone())).await;
    (send, frames)
}

async fn h2_connect_with(
    addr: std::net::SocketAddr,
    tls: &ClientConfig,
    name: &str,
    record: Option<Arc<Mutex<Vec<u8>>>>,
) -> h2::client::SendRequest<bytes::Bytes> {
    let mut config = tls.clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let server = ServerName::try_from(name.to_owned()).unwrap();
    let stream = TlsConnector::from(Arc::new(config))
        .connect(server, tcp)
        .await
        .unwrap();
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "HTTP/2 negotiated"
    );
    let (send, conn) = h2::client::handshake(Recorded {
        inner: stream,
        record,
    })
    .await
    .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

/// A stream that appends what is read from it to `record`, when there is one.
struct Recorded<S> {
    inner: S,
    record: Option<Arc<Mutex<Vec<u8>>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let (std::task::Poll::Ready(Ok(())), Some(record)) = (&polled, &self.record) {
            record
                .lock()
                .unwrap()
                .extend_from_slice(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The header blocks of the HEADERS frames (joined with their CONTINUATION frames) in
/// `frames`, the bytes a server sent on an HTTP/2 connection, in order.
pub fn header_blocks(frames: &[u8]) -> Vec<Vec<u8>> {
    let mut blocks = Vec::new();
    let mut open: Option<Vec<u8>> = None;
    let mut at = 0;
    while at + 9 <= frames.len() {
        let len = u32::from_be_bytes([0, frames[at], frames[at + 1], frames[at + 2]]) as usize;
        let (kind, flags) = (frames[at + 3], frames[at + 4]);
        assert!(at + 9 + len <= frames.len(), "a frame cut short");
        let payload = &frames[at + 9..at + 9 + len];
        at += 9 + len;
        let fragment = match kind {
            // HEADERS: less its padding and priority fields.
            0x1 => {
                let (pad, mut p) = if flags & 0x8 != 0 {
                    (usize::from(payload[0]), &payload[1..])
                } else {
                    (0, payload)
                };
                if flags & 0x20 != 0 {
                    p = &p[5..];
                }
                open = Some(Vec::new());
                &p[..p.len() - pad]
            }
            0x9 => payload,
            _ => continue,
        };
        let block = open.as_mut().expect("a CONTINUATION after HEADERS");
        block.extend_from_slice(fragment);
        // END_HEADERS
        if flags & 0x4 != 0 {
            blocks.extend(open.take());
        }
    }
    blocks
}

/// An answer read whole over HTTP/2: status, headers, body.
#[derive(Debug)]
pub struct H2Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// Sends `req` on `send` and reads the whole answer (within [`DEADLINE`]); `Err` when
/// the stream was reset or failed.
pub async fn h2_request(
    send: &mut h2::client::SendRequest<bytes::Bytes>,
    req: &H2Request,
) -> Result<H2Answer, String> {
    let exchange = async {
        let uri = format!("https://{}{}", req.authority, req.path);
        let mut builder = http::Request::builder().method(req.method).uri(uri);
        for (name, value) in &req.headers {
            builder = builder.header(*name, value);
        }
        let request = builder.body(()).map_err(|e| format!("request: {e}"))?;
        let mut ready = send
            .clone()
            .ready()
            .await
            .map_err(|e| format!("ready: {e}"))?;
        let (answer, mut body_out) = ready
            .send_request(request, req.body.is_empty())
            .map_err(|e| format!("send: {e}"))?;
        if !req.body.is_empty() {
            for piece in req.body.chunks(16 * 1024) {
                body_out.reserve_capacity(piece.len());
                body_out
                    .send_data(bytes::Bytes::copy_from_slice(piece), false)
                    .map_err(|e| format!("body: {e}"))?;
            }
            body_out
                .send_data(bytes::Bytes::new(), true)
                .map_err(|e| format!("body end: {e}"))?;
        }
        let answer = answer.await.map_err(|e| format!("answer: {e}"))?;
        let (parts, mut recv) = answer.into_parts();
        let mut body = Vec::new();
        while let Some(data) = recv.data().await {
            let data = data.map_err(|e| format!("answer body: {e}"))?;
            let _ = recv.flow_control().release_capacity(data.len());
            body.extend_from_slice(&data);
        }
        Ok(H2Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(DEADLINE, exchange)
        .await
        .map_err(|_| "no answer in time".to_owned())?
}

impl Bench {
    /// Sends `req` over HTTP/2 on a fresh connection to `proxy`; the status is 0 when
    /// the proxy reset the stream.
    pub async fn h2_send(&self, proxy: &Proxy, req: &H2Request) -> (Outcome, Vec<String>) {
        self.seen.lock().unwrap().clear();
        let mut send = h2_connect(proxy.https(), &self.tls, "a.test").await;
        // A stream the proxy resets (a malformed request) is status 0.
        let status = h2_request(&mut send, req).await.map_or(0, |a| a.status);
        let (reached, raw_heads) = take_heads(&self.seen);
        (Outcome { status, reached }, raw_heads)
    }

    /// Sends over HTTP/2 to both proxies; returns (fast path, Pingora path).
    pub async fn h2_both(&self, req: &H2Request) -> [(Outcome, Vec<String>); 2] {
        [
            self.h2_send(&self.fast, req).await,
            self.h2_send(&self.pingora, req).await,
        ]
    }

    pub async fn connect(&self, proxy: &Proxy, transport: Transport) -> Box<dyn Io> {
        match transport {
            Transport::Plain => Box::new(TcpStream::connect(proxy.http).await.unwrap()),
            Transport::Tls => {
                let tcp = TcpStream::connect(proxy.https()).await.unwrap();
                let name = ServerName::try_from("a.test").unwrap();
                let tls = TlsConnector::from(self.tls.clone());
                Box::new(tls.connect(name, tcp).await.unwrap())
            }
        }
    }

    /// Sends `request` on a fresh connection to `proxy` and reads the answer's status.
    pub async fn send(
        &self,
        proxy: &Proxy,
        transport: Transport,
        request: &[u8],
    ) -> (Outcome, Vec<String>) {
        self.seen.lock().unwrap().clear();
        let mut conn = self.connect(proxy, transport).await;
        conn.write_all(request).await.unwrap();
        let mut buf = Vec::new();
        let status = loop {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut hs);
            if let Ok(httparse::Status::Complete(_)) = resp.parse(&buf) {
                break resp.code.unwrap();
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout(DEADLINE, conn.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                other => panic!(
                    "no answer to {:?}: {other:?}, have {:?}",
                    request.escape_ascii().to_string(),
                    String::from_utf8_lossy(&buf)
                ),
            }
        };
        let (reached, raw_heads) = take_heads(&self.seen);
        (Outcome { status, reached }, raw_heads)
    }

    /// Sends to both proxies; returns (fast path, Pingora path).
    pub async fn both(&self, transport: Transport, request: &[u8]) -> [(Outcome, Vec<String>); 2] {
        [
            self.send(&self.fast, transport, request).await,
            self.send(&self.pingora, transport, request).await,
        ]
    }
}

/// An answer read whole from a raw connection: status, header fields (names in lower
/// case, in order) and the `Content-Length` body as text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first field of that name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every field of that name, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Reads one answer (its head and a `Content-Length` body) from `conn`, within 10 s.
pub async fn read_answer(conn: &mut Box<dyn Io>) -> Answer {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut hs);
        if let Ok(httparse::Status::Complete(head_len)) = resp.parse(&buf) {
            let headers: Vec<(String, String)> = resp
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let len: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            if buf.len() >= head_len + len {
                return Answer {
                    status: resp.code.unwrap(),
                    body: String::from_utf8_lossy(&buf[head_len..head_len + len]).into_owned(),
                    headers,
                };
            }
        }
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout_at(deadline, conn.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            other => panic!(
                "no whole answer: {other:?}, have {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
}
