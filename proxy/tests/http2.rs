//! HTTP/2 streams on the fast path (proxy/src/fast/h2.rs): forwarded as Pingora's path
//! forwards them, answers of every framing relayed whole, bodies streamed both ways,
//! upstream connections reused, failures answered, and the streams the fast path does
//! not take served by Pingora on the same connection.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::raw::{
    DEADLINE, H2Request, bench, h2_connect, h2_connect_recorded, h2_request, header_blocks,
    served_cert,
};
use support::{Proxy, ProxyOptions, put_certs, put_zones, zone, zone_json};
use switchyard_tests::eventually::eventually;
use switchyard_tests::redis::TestRedis;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::ClientConfig;

/// A raw HTTP/1.1 backend whose answer depends on the path, counting the connections it
/// accepts:
/// - `/len`: `content-length` body `length-body`;
/// - `/chunked`: chunked `hello` + ` world`, with a trailer;
/// - `/close`: no length, the body ends when the connection closes;
/// - `/early`: a 103 interim answer, then 200 `after-103`;
/// - `/empty`: 204;
/// - `/echo`: 200 with the request body's length and a checksum;
/// - anything else: 200 `ok` with `connection: keep-alive` and `keep-alive` headers.
async fn framing_backend(accepts: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                return;
            };
            accepts.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_framing(conn));
        }
    });
    format!("http://{addr}")
}

async fn serve_framing(mut conn: TcpStream) {
    let mut buf = Vec::new();
    loop {
        let (path, head_len, body_len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                let len = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |h| {
                        std::str::from_utf8(h.value).unwrap().parse().unwrap()
                    });
                break (req.path.unwrap().to_owned(), n, len);
            }
            let mut chunk = [0u8; 16384];
            match conn.read(&mut chunk).await {
                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
        };
        while buf.len() < head_len + body_len {
            let mut chunk = [0u8; 65536];
            match conn.read(&mut chunk).await {
                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
        }
        let body: Vec<u8> = buf.drain(..head_len + body_len).skip(head_len).collect();
        let answer: Vec<u8> = match path.as_str() {
            "/len" => b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nx-kind: len\r\n\r\nlength-body".to_vec(),
            "/chunked" => b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n".to_vec(),
            "/close" => {
                let _ = conn
                    .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil-close")
                    .await;
                return;
            }
            "/early" => b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nafter-103".to_vec(),
            "/empty" => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            "/echo" => {
                let sum = body.iter().fold(0u64, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
                let text = format!("{} {sum}", body.len());
                format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{text}", text.len()).into_bytes()
            }
            _ => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\n\r\nok".to_vec(),
        };
        if conn.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// A proxy serving `h.test` (TLS, certificate from Redis) with `upstreams`, and a client
/// configuration that trusts it.
async fn h2_proxy(redis: &TestRedis, upstreams: &[&str]) -> (Proxy, Arc<ClientConfig>) {
    let proxy = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    put_zones(&redis.store(), &[zone("h.test", upstreams)]).await;
    let (record, tls) = served_cert("h.test");
    let v = put_certs(&redis.store(), &[record]).await;
    proxy.wait_for_version(v.version).await;
    (proxy, tls)
}

/// Waits for the access log to hold each of `needles` (lines are written in batches).
async fn logged(proxy: &Proxy, needles: &[&str]) {
    eventually(DEADLINE, "access lines", || async move {
        let log = proxy.log_text();
        match needles.iter().find(|n| !log.contains(**n)) {
            None => Ok(()),
            Some(n) => Err(format!("no access line with {n} yet")),
        }
    })
    .await
    .unwrap();
}

fn on_h(path: &str) -> H2Request {
    let mut req = H2Request::get(path);
    req.authority = "h.test".to_owned();
    req
}

/// The head a backend received, as a sorted list of lower-cased header lines after the
/// request line (so two heads compare whatever the header order).
fn normalised(head: &str) -> (String, Vec<String>) {
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut headers: Vec<String> = lines
        .map(|l| {
            let (name, value) = l.split_once(':').unwrap_or((l, ""));
            format!("{}: {}", name.to_ascii_lowercase(), value.trim())
        })
        .collect();
    headers.sort();
    (request_line, headers)
}

#[tokio::test]
async fn streams_are_forwarded_exactly_as_pingoras_path_forwards_them() {
    let b = bench(serde_json::json!([
        {"zone_id": "admin", "path_prefix": "/admin", "allow": ["10.0.0.0/8"], "upstreams": [{"url": "admin"}]},
        {"zone_id": "open", "path_prefix": "/", "upstreams": [{"url": "open"}]},
    ]))
    .await;
    let with = |mut req: H2Request, headers: &[(&'static str, &str)]| {
        req.headers = headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect();
        req
    };
    let mut post = H2Request::get("/form?x=1");
    post.method = "POST";
    post.headers = vec![
        ("content-type", "text/plain".to_owned()),
        ("content-length", "14".to_owned()),
    ];
    post.body = b"hello, backend".to_vec();
    let mut head = H2Request::get("/h");
    head.method = "HEAD";
    let mut delete = H2Request::get("/thing/1");
    delete.method = "DELETE";
    let cases = [
        H2Request::get("/"),
        H2Request::get("/x/./y/../z?q=%41&r"),
        H2Request::get("/%7Euser/%c3%a9"),
        with(
            H2Request::get("/fwd"),
            &[("x-forwarded-for", "192.0.2.1"), ("x-real-ip", "192.0.2.9")],
        ),
        with(
            H2Request::get("/h"),
            &[
                ("accept", "text/html"),
                ("cookie", "a=1"),
                ("user-agent", "test/1"),
                ("te", "trailers"),
            ],
        ),
        post,
        head,
        delete,
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let mut case = case;
        // The same id on both paths (else each makes its own).
        case.headers.push(("x-request-id", format!("case-{i}")));
        let [(fast, fast_heads), (pingora, pingora_heads)] = b.h2_both(&case).await;
        assert_eq!(fast, pingora, "{case:?}: fast path vs Pingora's");
        assert_eq!(fast.status, 200, "{case:?}");
        assert_eq!(
            fast_heads.iter().map(|h| normalised(h)).collect::<Vec<_>>(),
            pingora_heads
                .iter()
                .map(|h| normalised(h))
                .collect::<Vec<_>>(),
            "{case:?}: the backend must receive the same head from both paths"
        );
        let (line, headers) = normalised(&fast_heads[0]);
        assert!(line.ends_with(" HTTP/1.1"), "{line}");
        assert!(
            headers.contains(&"x-forwarded-proto: https".to_owned()),
            "{headers:?}"
        );
        assert!(
            headers.contains(&format!("x-request-id: case-{i}")),
            "{headers:?}"
        );
    }
    // The allow-list holds on HTTP/2 too, on both paths.
    let [(fast, _), (pingora, _)] = b.h2_both(&H2Request::get("/%61dmin/x")).await;
    assert_eq!((fast.status, fast.reached), (403, None));
    assert_eq!((pingora.status, pingora.reached), (403, None));
    b.redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn answers_of_every_framing_reach_the_client_whole() {
    let redis = TestRedis::new().await.unwrap();
    let accepts = Arc::new(AtomicUsize::new(0));
    let backend = framing_backend(accepts.clone()).await;
    let (proxy, tls) = h2_proxy(&redis, &[&backend]).await;
    let mut send = h2_connect(proxy.https(), &tls, "h.test").await;
    let expect = [
        ("/len", 200, &b"length-body"[..]),
        ("/chunked", 200, b"hello world"),
        ("/close", 200, b"until-close"),
        ("/early", 200, b"after-103"),
        ("/empty", 204, b""),
        ("/other", 200, b"ok"),
    ];
    // Twice: the second time on upstream connections from the pool.
    for round in 0..2 {
        for (path, status, body) in expect {
            let answer = h2_request(&mut send, &on_h(path))
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(answer.status, status, "{path} (round {round})");
            assert_eq!(
                String::from_utf8_lossy(&answer.body),
                String::from_utf8_lossy(body),
                "{path} (round {round})"
            );
            let id = answer.headers.get("x-request-id").expect("x-request-id");
            assert_eq!(id.len(), 32, "{path}: a request id of the proxy's own");
            for hop in ["keep-alive", "connection", "transfer-encoding"] {
                assert!(!answer.headers.contains_key(hop), "{path}: {hop} passed on");
            }
        }
    }
    let mut head = on_h("/len");
    head.method = "HEAD";
    let answer = h2_request(&mut send, &head).await.unwrap();
    assert_eq!((answer.status, answer.body.len()), (200, 0), "HEAD");
    assert_eq!(
        answer.headers.get("x-kind").map(|v| v.as_bytes()),
        Some(&b"len"[..])
    );
    // Connections were reused: every answer but the close-delimited one leaves its
    // connection reusable, so the twelve sequential requests needed few.
    let used = accepts.load(Ordering::SeqCst);
    assert!(
        used <= 4,
        "{used} upstream connections for 13 sequential requests"
    );
    logged(&proxy, &["\"path\":\"/chunked\"", "\"status\":204"]).await;
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn request_bodies_stream_through_whole() {
    let redis = TestRedis::new().await.unwrap();
    let backend = framing_backend(Arc::default()).await;
    let (proxy, tls) = h2_proxy(&redis, &[&backend]).await;
    let mut send = h2_connect(proxy.https(), &tls, "h.test").await;
    for size in [1, 1000, 64 * 1024, 64 * 1024 + 1, 3 * 1024 * 1024] {
        let body: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        let sum = body
            .iter()
            .fold(0u64, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
        let mut req = on_h("/echo");
        req.method = "POST";
        req.headers = vec![("content-length", size.to_string())];
        req.body = body;
        let answer = h2_request(&mut send, &req).await.unwrap();
        assert_eq!(answer.status, 200, "{size} bytes");
        assert_eq!(
            String::from_utf8_lossy(&answer.body),
            format!("{size} {sum}"),
            "{size} bytes"
        );
    }
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn many_streams_at_once_on_one_connection_all_succeed() {
    let redis = TestRedis::new().await.unwrap();
    let accepts = Arc::new(AtomicUsize::new(0));
    let backend = framing_backend(accepts.clone()).await;
    let (proxy, tls) = h2_proxy(&redis, &[&backend]).await;
    let mut send = h2_connect(proxy.https(), &tls, "h.test").await;
    // One request first: the client then has the server's SETTINGS (at most 100 streams
    // at once) and waits for a free stream instead of having extra ones refused.
    let first = h2_request(&mut send, &on_h("/len")).await.unwrap();
    assert_eq!(first.status, 200);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let mut send = send.clone();
        let path = ["/len", "/chunked", "/other"][i % 3];
        tasks.push(tokio::spawn(async move {
            h2_request(&mut send, &on_h(path)).await.map(|a| (path, a))
        }));
    }
    for task in tasks {
        let (path, answer) = task.await.unwrap().unwrap();
        assert_eq!(answer.status, 200, "{path}");
        let want: &[u8] = match path {
            "/len" => b"length-body",
            "/chunked" => b"hello world",
            _ => b"ok",
        };
        assert_eq!(answer.body, want, "{path}");
    }
    // About one upstream connection per stream in flight (the proxy allows 100; a
    // client may open the next stream while the last one's task is still finishing):
    // connections are reused, not opened per stream.
    let used = accepts.load(Ordering::SeqCst);
    assert!(used <= 120, "{used} upstream connections for 300 streams");
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn failures_are_answered_and_other_streams_go_to_pingora_on_the_same_connection() {
    let redis = TestRedis::new().await.unwrap();
    let backend = framing_backend(Arc::default()).await;
    // A port nothing listens on: bound, then closed.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (proxy, tls) = h2_proxy(&redis, &[&backend]).await;
    let v = put_zones(
        &redis.store(),
        &[
            zone("h.test", &[&backend]),
            zone("dead.h.test", &[&dead]),
            zone_json(
                "walled.h.test",
                serde_json::json!([{"zone_id": "w", "path_prefix": "/", "allow": ["10.0.0.0/8"], "upstreams": [{"url": backend}]}]),
            ),
        ],
    )
    .await;
    proxy.wait_for_version(v.version).await;
    let send = h2_connect(proxy.https(), &tls, "h.test").await;
    let cases = [
        ("h.test", "/len", 200),
        ("dead.h.test", "/", 502),
        ("walled.h.test", "/", 403),
        ("nowhere.test", "/", 404),
        ("h.test", "/chunked", 200),
    ];
    let mut tasks = Vec::new();
    for (authority, path, status) in cases {
        let mut send = send.clone();
        tasks.push(tokio::spawn(async move {
            let mut req = H2Request::get(path);
            req.authority = authority.to_owned();
            let answer = h2_request(&mut send, &req).await.unwrap();
            (authority, status, answer)
        }));
    }
    for task in tasks {
        let (authority, status, answer) = task.await.unwrap();
        assert_eq!(answer.status, status, "{authority}");
        let id = answer
            .headers
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap();
        if status != 200 {
            let body = String::from_utf8_lossy(&answer.body);
            assert!(
                body.contains(&format!("request id: {id}")),
                "{authority}: {body}"
            );
        }
    }
    // The failed stream is logged with its category.
    logged(
        &proxy,
        &["\"status\":502", "\"error\":\"upstream_connect\""],
    )
    .await;
    redis.cleanup().await.unwrap();
}

/// A body without `Content-Length` goes upstream chunked, on the fast path (framed by
/// it) and on Pingora's (which, left alone, wrote an empty last DATA frame as an empty
/// chunk and then the last chunk again): an empty DATA frame must not end it early, the
/// body must end with exactly one last chunk, and nothing in it may reach the backend
/// as a request of its own.
#[tokio::test]
async fn a_body_without_length_is_chunked_once_and_whole() {
    let b = bench(serde_json::json!([
        {"zone_id": "open", "path_prefix": "/", "upstreams": [{"url": "open"}]},
    ]))
    .await;
    for proxy in [&b.fast, &b.pingora] {
        b.seen.lock().unwrap().clear();
        let mut send = h2_connect(proxy.https(), &b.tls, "a.test").await;
        let request = http::Request::builder()
            .method("POST")
            .uri("https://a.test/upload")
            .body(())
            .unwrap();
        let mut ready = send.clone().ready().await.unwrap();
        let (answer, mut body) = ready.send_request(request, false).unwrap();
        for piece in [
            &b"hello"[..],
            b"",
            b"GET /smuggled HTTP/1.1\r\nhost: a.test\r\n\r\n",
        ] {
            body.send_data(bytes::Bytes::copy_from_slice(piece), false)
                .unwrap();
        }
        body.send_data(bytes::Bytes::new(), true).unwrap();
        let answer = tokio::time::timeout(DEADLINE, answer)
            .await
            .unwrap()
            .unwrap();
        let _ = &mut send;
        assert_eq!(answer.status(), 200);
        // Another request on a new connection, so a desynchronised upstream shows.
        let mut again = h2_connect(proxy.https(), &b.tls, "a.test").await;
        let next = h2_request(&mut again, &H2Request::get("/next"))
            .await
            .unwrap();
        assert_eq!(next.status, 200);
        let seen = b.seen.lock().unwrap().clone();
        let lines: Vec<&str> = seen
            .iter()
            .map(|(_, h)| h.lines().next().unwrap_or(""))
            .collect();
        assert_eq!(
            lines,
            ["POST /upload HTTP/1.1", "GET /next HTTP/1.1"],
            "{:?}: the backend must see exactly the two requests: {seen:?}",
            proxy.https()
        );
    }
    b.redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn cookies_split_over_fields_reach_an_http1_backend_as_one_field() {
    let b = bench(serde_json::json!([{"zone_id": "open", "upstreams": [{"url": "open"}]}])).await;
    let mut req = H2Request::get("/c");
    req.headers.push(("cookie", "a=1".into()));
    req.headers.push(("x-between", "y".into()));
    req.headers.push(("cookie", "b=2".into()));
    for (outcome, heads) in b.h2_both(&req).await {
        assert_eq!(outcome.status, 200);
        let cookies: Vec<&str> = heads[0]
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("cookie:"))
            .collect();
        assert_eq!(cookies, ["cookie: a=1; b=2"], "{}", heads[0]);
    }
    b.redis.cleanup().await.unwrap();
}

/// Each answer's `x-request-id` is new, so it goes out as an HPACK literal "never
/// indexed": indexing it only churned the connection's header table (every answer
/// inserted its id, compared it with the ids already there and evicted the answer's
/// other headers). Checked on both paths, for forwarded answers and the proxy's own, by
/// decoding the frames the proxy sent with an HPACK decoder independent of the proxy's.
#[tokio::test]
async fn request_ids_go_out_never_indexed_on_both_paths() {
    let redis = TestRedis::new().await.unwrap();
    let backend = framing_backend(Arc::default()).await;
    let fast = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let pingora = ProxyOptions::new(redis.url(), redis.prefix())
        .arg("--fast-path=false")
        .start()
        .await;
    put_zones(&redis.store(), &[zone("h.test", &[&backend])]).await;
    let (record, tls) = served_cert("h.test");
    let v = put_certs(&redis.store(), &[record]).await;
    let mut unknown = H2Request::get("/");
    unknown.authority = "nowhere.test".to_owned();
    for (path, proxy) in [("fast", &fast), ("pingora", &pingora)] {
        proxy.wait_for_version(v.version).await;
        let (mut send, frames) = h2_connect_recorded(proxy.https(), &tls, "h.test").await;
        let mut ids = Vec::new();
        for (req, status) in [
            (on_h("/a"), 200),
            (on_h("/b"), 200),
            (on_h("/c"), 200),
            (unknown.clone(), 404),
        ] {
            let answer = h2_request(&mut send, &req).await.unwrap();
            assert_eq!(answer.status, status, "{path}: {req:?}");
            ids.push(answer.headers["x-request-id"].to_str().unwrap().to_owned());
        }
        let mut decoder = httlib_hpack::Decoder::default();
        let mut sent = Vec::new();
        for mut block in header_blocks(&frames.lock().unwrap()) {
            let mut fields = Vec::new();
            decoder.decode(&mut block, &mut fields).unwrap();
            for (name, value, flags) in fields {
                if name == b"x-request-id" {
                    let value = String::from_utf8(value).unwrap();
                    assert_ne!(
                        flags & httlib_hpack::Decoder::NEVER_INDEXED,
                        0,
                        "{path}: x-request-id {value} was sent indexable (flags {flags:#x})"
                    );
                    sent.push(value);
                }
            }
        }
        assert_eq!(sent, ids, "{path}: one never-indexed id per answer");
        // The TLS record buffers come from mimalloc (proxy/src/openssl_alloc.rs): OpenSSL
        // took it, so nothing touched OpenSSL before main installed it.
        assert!(
            proxy
                .log_text()
                .contains(r#""openssl_allocator":"mimalloc""#),
            "{path}: OpenSSL does not allocate with mimalloc"
        );
    }
    redis.cleanup().await.unwrap();
}

/// A backend whose answers to `/hold` wait until `release` is notified (each request it
/// holds is reported on `held`); anything else is answered at once.
async fn holding_backend(
    held: tokio::sync::mpsc::UnboundedSender<()>,
    release: Arc<tokio::sync::Notify>,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (held, release) = (held.clone(), release.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut headers = [httparse::EMPTY_HEADER; 64];
                    let mut req = httparse::Request::new(&mut headers);
                    if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                        let path = req.path.unwrap_or_default().to_owned();
                        buf.drain(..n);
                        let body = if path == "/hold" {
                            let released = release.notified();
                            held.send(()).unwrap();
                            released.await;
                            "late"
                        } else {
                            "now"
                        };
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if conn.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    let mut chunk = [0u8; 4096];
                    match conn.read(&mut chunk).await {
                        Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// A graceful shutdown sends GOAWAY on an open HTTP/2 connection: new streams are
/// refused, the stream in flight is answered whole (within `--grace-secs`, which the
/// proxy waits out before it exits, as Pingora does).
#[tokio::test]
async fn a_graceful_shutdown_lets_open_streams_finish_and_refuses_new_ones() {
    let redis = TestRedis::new().await.unwrap();
    let (held_tx, mut held) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let backend = holding_backend(held_tx, release.clone()).await;
    let mut proxy = ProxyOptions::new(redis.url(), redis.prefix())
        .arg("--drain-delay-ms=0")
        .arg("--grace-secs=5")
        .start()
        .await;
    put_zones(&redis.store(), &[zone("h.test", &[&backend])]).await;
    let (record, tls) = served_cert("h.test");
    let v = put_certs(&redis.store(), &[record]).await;
    proxy.wait_for_version(v.version).await;

    let mut send = h2_connect(proxy.https(), &tls, "h.test").await;
    assert_eq!(
        h2_request(&mut send, &on_h("/now")).await.unwrap().status,
        200
    );
    let mut in_flight = send.clone();
    let slow = tokio::spawn(async move { h2_request(&mut in_flight, &on_h("/hold")).await });
    tokio::time::timeout(DEADLINE, held.recv())
        .await
        .expect("the backend got the held request")
        .unwrap();

    proxy.terminate();
    // Once the GOAWAY has come, the client refuses to open streams on the connection.
    eventually(DEADLINE, "GOAWAY on the open connection", || {
        let mut send = send.clone();
        async move {
            match h2_request(&mut send, &on_h("/now")).await {
                Ok(answer) => Err(format!("a new stream was still served: {}", answer.status)),
                Err(_) => Ok(()),
            }
        }
    })
    .await
    .unwrap();

    release.notify_waiters();
    let answer = tokio::time::timeout(DEADLINE, slow)
        .await
        .expect("the held stream is answered")
        .unwrap()
        .expect("the held stream is answered, not reset");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, b"late");
    // After the grace period.
    proxy.exits_within(DEADLINE).await.unwrap();
    redis.cleanup().await.unwrap();
}
