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
    let redis = TestRedis::new().await.unwrap();
    let seen: Seen = Arc::default();
    let admin = recorder("admin", seen.clone()).await;
    let open = recorder("open", seen.clone()).await;
    let fast = Proxy::start(ProxyOptions::new(redis.url(), redis.prefix())).await;
    let pingora =
        Proxy::start(ProxyOptions::new(redis.url(), redis.prefix()).arg("--fast-path=false")).await;
    let routes = routes
        .to_string()
        .replace("\"url\":\"admin\"", &format!("\"url\":\"{admin}\""))
        .replace("\"url\":\"open\"", &format!("\"url\":\"{open}\""));
    let zone = zone_json("a.test", serde_json::from_str(&routes).unwrap());
    put_zones(&redis.store(), &[zone]).await;
    let cert = self_signed(&["a.test"]);
    let now = time::OffsetDateTime::now_utc();
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let record = serde_json::json!({
        "name": "a.test",
        "names": ["a.test"],
        "chain_pem": cert.chain_pem,
        "key_pem": cert.key_pem,
        "not_before": (now - time::Duration::days(1)).format(rfc3339).unwrap(),
        "not_after": (now + time::Duration::days(89)).format(rfc3339).unwrap(),
    });
    let record = CertRecord::from_json("a.test", record.to_string().as_bytes()).unwrap();
    let v = put_certs(&redis.store(), &[record]).await;
    fast.wait_for_version(v.version).await;
    pingora.wait_for_version(v.version).await;
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
    Bench {
        redis,
        fast,
        pingora,
        seen,
        tls: Arc::new(tls),
    }
}

/// What one raw request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: u16,
    /// The backend that got the request, and the target on its request line.
    pub reached: Option<(String, String)>,
}

impl Bench {
    pub async fn connect(&self, proxy: &Proxy, transport: Transport) -> Box<dyn Io> {
        match transport {
            Transport::Plain => Box::new(TcpStream::connect(proxy.http).await.unwrap()),
            Transport::Tls => {
                let tcp = TcpStream::connect(proxy.https).await.unwrap();
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
        let heads: Vec<(String, String)> = std::mem::take(&mut *self.seen.lock().unwrap());
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
        let raw_heads = heads.into_iter().map(|(_, h)| h).collect();
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
