//! The PROXY protocol (docs/proxy.md, "PROXY protocol"): a v1 or v2 header from a peer
//! in `--proxy-protocol-from` names the client for allow-lists, `X-Forwarded-For` /
//! `X-Real-IP` and the access log, on plain HTTP and before the TLS handshake, on the
//! fast path, HTTP/2 and Pingora's path alike; any other header closes the connection.
//!
//! Every peer here is 127.0.0.1: "untrusted" is a proxy whose `--proxy-protocol-from`
//! leaves 127.0.0.1 out.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use ppp::v2;
use support::raw::{DEADLINE, H2Request, Io, Seen, h2_request, recorder, served_cert};
use support::{Proxy, ProxyOptions, put_certs, put_zones, zone_json};
use switchyard_tests::eventually::eventually;
use switchyard_tests::redis::TestRedis;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

/// A text header naming `client` (an IPv4 address) as the source.
fn v1(client: &str) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 40000 443\r\n").into_bytes()
}

/// A binary header (PROXY command) naming `client` as the source.
fn v2(client: &str) -> Vec<u8> {
    let source: SocketAddr = format!("{client}:40000").parse().unwrap();
    let destination: SocketAddr = match source {
        SocketAddr::V4(_) => "127.0.0.1:443".parse().unwrap(),
        SocketAddr::V6(_) => "[::1]:443".parse().unwrap(),
    };
    v2::Builder::with_addresses(0x21, v2::Protocol::Stream, (source, destination))
        .write_tlv(v2::Type::NoOp, b"pad")
        .unwrap()
        .build()
        .unwrap()
}

/// A binary header with the LOCAL command (a balancer's own health check).
fn v2_local() -> Vec<u8> {
    v2::Builder::new(0x20, 0x00).build().unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Transport {
    Plain,
    Tls,
}

struct Lb {
    redis: TestRedis,
    seen: Seen,
    tls: Arc<ClientConfig>,
    /// The data version with the zone and the certificate.
    version: u64,
}

impl Lb {
    /// `a.test`: `/` allow-listed to 203.0.113.0/24, `/open` open; both to one recorder.
    async fn new() -> Lb {
        let redis = TestRedis::new().await.unwrap();
        let seen: Seen = Arc::default();
        let backend = recorder("backend", seen.clone()).await;
        let zone = zone_json(
            "a.test",
            serde_json::json!([
                {"zone_id": "open", "path_prefix": "/open", "upstreams": [{"url": backend}]},
                {"zone_id": "lb", "allow": ["203.0.113.0/24"], "upstreams": [{"url": backend}]},
            ]),
        );
        put_zones(&redis.store(), &[zone]).await;
        let (record, tls) = served_cert("a.test");
        let version = put_certs(&redis.store(), &[record]).await.version;
        Lb {
            redis,
            seen,
            tls,
            version,
        }
    }

    async fn proxy(&self, args: &[&str]) -> Proxy {
        let mut options = ProxyOptions::new(self.redis.url(), self.redis.prefix());
        for a in args {
            options = options.arg(a);
        }
        let proxy = options.start().await;
        proxy.wait_for_version(self.version).await;
        proxy
    }

    /// A connection to `proxy` that sends `header` first (then the TLS handshake, for
    /// `Tls`, with ALPN `alpn` if given).
    async fn connect(
        &self,
        proxy: &Proxy,
        transport: Transport,
        header: &[u8],
        alpn: Option<&[u8]>,
    ) -> std::io::Result<Box<dyn Io>> {
        let addr = match transport {
            Transport::Plain => proxy.http,
            Transport::Tls => proxy.https(),
        };
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(header).await?;
        match transport {
            Transport::Plain => Ok(Box::new(tcp)),
            Transport::Tls => {
                let mut config = (*self.tls).clone();
                if let Some(alpn) = alpn {
                    config.alpn_protocols = vec![alpn.to_vec()];
                }
                let name = ServerName::try_from("a.test").unwrap();
                let handshake = TlsConnector::from(Arc::new(config)).connect(name, tcp);
                match tokio::time::timeout(DEADLINE, handshake).await {
                    Ok(Ok(tls)) => Ok(Box::new(tls)),
                    Ok(Err(e)) => Err(e),
                    Err(_) => panic!("the TLS handshake neither ended nor failed in time"),
                }
            }
        }
    }

    /// The heads the backend got since the last call.
    fn heads(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
            .into_iter()
            .map(|(_, head)| head)
            .collect()
    }
}

/// One GET on `conn` (kept alive); the status and the body.
async fn get(conn: &mut Box<dyn Io>, path: &str, extra: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: a.test\r\n{extra}\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    loop {
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut hs);
        if let Ok(httparse::Status::Complete(head)) = resp.parse(&buf) {
            let length: usize = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                .unwrap_or(0);
            if buf.len() >= head + length {
                let body = String::from_utf8_lossy(&buf[head..head + length]).into_owned();
                return (resp.code.unwrap(), body);
            }
        }
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(DEADLINE, conn.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            other => panic!(
                "no answer to GET {path}: {other:?}, have {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
}

/// `conn` is closed by the proxy (end of stream or reset) without a byte of answer.
async fn assert_closed(conn: &mut Box<dyn Io>, what: &str) {
    let mut chunk = [0u8; 1024];
    match tokio::time::timeout(DEADLINE, conn.read(&mut chunk)).await {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!(
            "{what}: answered {:?} instead of closing",
            String::from_utf8_lossy(&chunk[..n])
        ),
        Err(_) => panic!("{what}: the connection is still open"),
    }
}

/// Sends `header` and a request on `transport`: the proxy must close the connection
/// (for TLS the handshake may already fail) and forward nothing.
async fn assert_refused(lb: &Lb, proxy: &Proxy, transport: Transport, header: &[u8], what: &str) {
    lb.heads();
    if let Ok(mut conn) = lb.connect(proxy, transport, header, None).await {
        let _ = conn
            .write_all(b"GET /open HTTP/1.1\r\nHost: a.test\r\n\r\n")
            .await;
        assert_closed(&mut conn, &format!("{what} ({transport:?})")).await;
    }
    assert_eq!(
        lb.heads(),
        Vec::<String>::new(),
        "{what}: nothing forwarded"
    );
}

/// The value of header `name` in a recorded head.
fn head_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn the_header_of_a_trusted_balancer_names_the_client_on_every_path() {
    let lb = Lb::new().await;
    let common = [
        "--proxy-protocol=optional",
        "--proxy-protocol-from=127.0.0.1",
        "--trusted-proxies=10.0.0.0/8",
    ];
    let fast = lb.proxy(&common).await;
    let pingora = lb
        .proxy(&[&common[..], &["--fast-path=false"]].concat())
        .await;
    for (name, proxy) in [("fast path", &fast), ("Pingora's path", &pingora)] {
        for transport in [Transport::Plain, Transport::Tls] {
            let at = format!("{name}, {transport:?}");
            for (version, header) in [("v1", v1("203.0.113.9")), ("v2", v2("203.0.113.9"))] {
                lb.heads();
                let mut conn = lb.connect(proxy, transport, &header, None).await.unwrap();
                // Keep-alive: every request of the connection is the header's client's.
                for round in 0..2 {
                    let (status, body) = get(&mut conn, "/", "").await;
                    assert_eq!(status, 200, "{at}, {version}, request {round}: {body}");
                    let heads = lb.heads();
                    assert_eq!(heads.len(), 1, "{at}");
                    assert_eq!(
                        head_value(&heads[0], "x-real-ip"),
                        Some("203.0.113.9"),
                        "{at}"
                    );
                    assert_eq!(
                        head_value(&heads[0], "x-forwarded-for"),
                        Some("203.0.113.9"),
                        "{at}"
                    );
                }
            }
            // A client outside the allow-list, named by either version: 403.
            for header in [v1("198.51.100.1"), v2("198.51.100.1")] {
                let mut conn = lb.connect(proxy, transport, &header, None).await.unwrap();
                assert_eq!(get(&mut conn, "/", "").await.0, 403, "{at}");
            }
            // Optional: a trusted peer without a header is the client itself.
            let mut conn = lb.connect(proxy, transport, b"", None).await.unwrap();
            assert_eq!(get(&mut conn, "/", "").await.0, 403, "{at}, no header");
            // LOCAL (a health check) and v1 UNKNOWN: the peer is the client.
            for header in [v2_local(), b"PROXY UNKNOWN\r\n".to_vec()] {
                lb.heads();
                let mut conn = lb.connect(proxy, transport, &header, None).await.unwrap();
                assert_eq!(get(&mut conn, "/open", "").await.0, 200, "{at}");
                let heads = lb.heads();
                assert_eq!(header_of(&heads), Some("127.0.0.1".into()), "{at}");
            }
            // X-Forwarded-For on top: believed when the header's source is a trusted
            // proxy (a CDN in front of the balancer), not when it is the client.
            lb.heads();
            let mut conn = lb
                .connect(proxy, transport, &v2("10.1.2.3"), None)
                .await
                .unwrap();
            let xff = "x-forwarded-for: 198.51.100.7, 203.0.113.7\r\n";
            assert_eq!(get(&mut conn, "/", xff).await.0, 200, "{at}");
            let heads = lb.heads();
            assert_eq!(
                head_value(&heads[0], "x-real-ip"),
                Some("203.0.113.7"),
                "{at}"
            );
            assert_eq!(
                head_value(&heads[0], "x-forwarded-for"),
                Some("198.51.100.7, 203.0.113.7, 10.1.2.3"),
                "{at}"
            );
            let mut conn = lb
                .connect(proxy, transport, &v2("198.51.100.1"), None)
                .await
                .unwrap();
            assert_eq!(
                get(&mut conn, "/", "x-forwarded-for: 203.0.113.7\r\n")
                    .await
                    .0,
                403
            );
            // Garbage after a signature: closed, nothing forwarded.
            for (what, header) in [
                ("v1 without addresses", b"PROXY TCP4 nonsense\r\n".to_vec()),
                (
                    "v1 without its CRLF",
                    [b"PROXY TCP4 ".as_slice(), &[b'1'; 120]].concat(),
                ),
                ("v2 of version 3", {
                    let mut h = v2("203.0.113.9");
                    h[12] = 0x31;
                    h
                }),
            ] {
                assert_refused(&lb, proxy, transport, &header, &format!("{at}: {what}")).await;
            }
        }
        // HTTP/2 (ALPN h2) after a header: the streams are the header's client's.
        lb.heads();
        let conn = lb
            .connect(proxy, Transport::Tls, &v2("203.0.113.9"), Some(b"h2"))
            .await
            .unwrap();
        let (mut send, driver) = h2::client::handshake(conn).await.unwrap();
        tokio::spawn(async move {
            let _ = driver.await;
        });
        for _ in 0..2 {
            let answer = h2_request(&mut send, &H2Request::get("/")).await.unwrap();
            assert_eq!(answer.status, 200, "{name}, HTTP/2");
            assert_eq!(header_of(&lb.heads()), Some("203.0.113.9".into()), "{name}");
        }
        let conn = lb
            .connect(proxy, Transport::Tls, &v1("198.51.100.1"), Some(b"h2"))
            .await
            .unwrap();
        let (mut send, driver) = h2::client::handshake(conn).await.unwrap();
        tokio::spawn(async move {
            let _ = driver.await;
        });
        let answer = h2_request(&mut send, &H2Request::get("/")).await.unwrap();
        assert_eq!(answer.status, 403, "{name}, HTTP/2");
        // The access log (written in batches) names the header's client.
        eventually(DEADLINE, "an access line names the header's client", || {
            let log = proxy.log_text();
            async move {
                if log.contains(r#""client_ip":"203.0.113.9""#) {
                    Ok(())
                } else {
                    Err("no access line with client_ip 203.0.113.9".to_owned())
                }
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}\n{}", proxy.log_text()));
    }
    lb.redis.cleanup().await.unwrap();
}

/// `X-Real-IP` of the one head recorded.
fn header_of(heads: &[String]) -> Option<String> {
    assert_eq!(heads.len(), 1, "{heads:?}");
    head_value(&heads[0], "x-real-ip").map(str::to_owned)
}

#[tokio::test]
async fn a_header_is_refused_from_untrusted_peers_and_required_from_trusted_ones() {
    let lb = Lb::new().await;
    // 127.0.0.1 is not one of the balancers.
    let untrusting = lb
        .proxy(&[
            "--proxy-protocol=optional",
            "--proxy-protocol-from=10.0.0.0/8",
        ])
        .await;
    let required = lb
        .proxy(&[
            "--proxy-protocol=required",
            "--proxy-protocol-from=127.0.0.0/8",
        ])
        .await;
    for transport in [Transport::Plain, Transport::Tls] {
        for (version, header) in [("v1", v1("203.0.113.9")), ("v2", v2("203.0.113.9"))] {
            let what = format!("{version} from an untrusted peer");
            assert_refused(&lb, &untrusting, transport, &header, &what).await;
        }
        // An untrusted peer without a header is served as the client it is.
        let mut conn = lb.connect(&untrusting, transport, b"", None).await.unwrap();
        assert_eq!(get(&mut conn, "/", "").await.0, 403);
        assert_eq!(get(&mut conn, "/open", "").await.0, 200);

        // Required: a trusted peer without a header is closed; with one it is served.
        assert_refused(&lb, &required, transport, b"", "required, no header").await;
        let mut conn = lb
            .connect(&required, transport, &v1("203.0.113.9"), None)
            .await
            .unwrap();
        assert_eq!(get(&mut conn, "/", "").await.0, 200);
        lb.heads();
    }
    // A header that never completes (slowloris) is given up on: closed in time.
    let mut partial = lb
        .connect(&required, Transport::Plain, &v2("203.0.113.9")[..10], None)
        .await
        .unwrap();
    assert_closed(&mut partial, "a header that never completes").await;
    lb.redis.cleanup().await.unwrap();
}

#[test]
fn the_flags_are_checked_together() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(switchyard_tests::bins::workspace_bin(
            switchyard_tests::proxy::BINARY,
        ))
        .args(args)
        .output()
        .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(
        run(&["--proxy-protocol=required"]).contains("needs --proxy-protocol-from"),
        "required without CIDRs"
    );
    assert!(
        run(&["--proxy-protocol-from=10.0.0.0/8"]).contains("--proxy-protocol is off"),
        "CIDRs without a mode"
    );
    let bad = run(&[
        "--proxy-protocol=sometimes",
        "--proxy-protocol-from=10.0.0.0/8",
    ]);
    assert!(
        bad.contains("sometimes") && bad.contains("optional"),
        "{bad}"
    );
}
