//! Retries, retry budgets, circuit breakers and per-route total and idle timeouts, end to
//! end on the real binary with real local upstreams whose behaviour a test switches: a
//! retry that happens (a 503 or a reset sent again to another upstream) and one that must
//! not (a POST, a route without a policy, a spent budget); a circuit that opens after
//! failures, keeps its upstream out, lets a probe through once its time is up and closes
//! when the probe succeeds, and a route whose every circuit is open answering 503 with
//! `X-Switchyard-Circuit: open`, as `/status` and `/metrics` show. Each on the fast path
//! and on Pingora's path (`--fast-path=false`), over plain HTTP, TLS and HTTP/2 where the
//! behaviour is per request.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use support::Proxy;
use support::raw::{
    Answer, Bench, H2Request, TRANSPORTS, Transport, bench, h2_connect, h2_request, read_answer,
};
use switchyard_tests::eventually::eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a [`Switch`] upstream does with each request.
const ANSWER: u8 = 0;
/// Closes the connection (with a reset) without answering.
const RESET: u8 = 1;

/// A local HTTP/1.1 upstream whose answer a test switches while it runs: a status, or a
/// reset. Counts the requests it received (`hits`), and names itself in `x-upstream`.
struct Switch {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    mode: Arc<AtomicU8>,
    hits: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Switch {
    async fn start(name: &'static str, status: u16) -> Switch {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(status));
        let mode = Arc::new(AtomicU8::new(ANSWER));
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, m, h) = (status.clone(), mode.clone(), hits.clone());
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, m, h) = (s.clone(), m.clone(), h.clone());
                tokio::spawn(serve(stream, name, s, m, h));
            }
        });
        Switch {
            addr,
            status,
            mode,
            hits,
            server,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
        self.mode.store(ANSWER, Ordering::SeqCst);
    }

    fn reset(&self) {
        self.mode.store(RESET, Ordering::SeqCst);
    }
}

/// Serves one connection: reads each request (head and `Content-Length` body), counts
/// it, and answers or resets as switched.
async fn serve(
    mut stream: tokio::net::TcpStream,
    name: &'static str,
    status: Arc<AtomicU16>,
    mode: Arc<AtomicU8>,
    hits: Arc<AtomicUsize>,
) {
    let mut buf = Vec::new();
    loop {
        let (head_len, body_len) = loop {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut hs);
            if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                let len = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                    .unwrap_or(0);
                break (n, len);
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
        };
        while buf.len() < head_len + body_len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
        }
        buf.drain(..head_len + body_len);
        hits.fetch_add(1, Ordering::SeqCst);
        if mode.load(Ordering::SeqCst) == RESET {
            // Linger 0 turns the close into a reset; it returns at once with zero.
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            return;
        }
        let code = status.load(Ordering::SeqCst);
        let body = format!("{name}: {code}\n");
        let answer = format!(
            "HTTP/1.1 {code} X\r\ncontent-length: {}\r\nx-upstream: {name}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// How a request is sent.
#[derive(Debug, Clone, Copy)]
enum Via {
    H1(Transport),
    H2,
}

const VIAS: [Via; 3] = [Via::H1(Transport::Plain), Via::H1(Transport::Tls), Via::H2];

/// Sends `method path` (with a small body for a POST) on a fresh connection to `proxy`.
async fn send(b: &Bench, proxy: &Proxy, via: Via, method: &'static str, path: &str) -> Answer {
    let body = if method == "POST" { "hello" } else { "" };
    match via {
        Via::H1(transport) => {
            let mut conn = b.connect(proxy, transport).await;
            let request = format!(
                "{method} {path} HTTP/1.1\r\nhost: a.test\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(request.as_bytes()).await.unwrap();
            read_answer(&mut conn).await
        }
        Via::H2 => {
            let mut conn = h2_connect(proxy.https(), &b.tls, "a.test").await;
            // With its length, so the body goes upstream as it came (the test upstream
            // reads `Content-Length` bodies only).
            let req = H2Request {
                method,
                headers: vec![("content-length", body.len().to_string())],
                body: body.as_bytes().to_vec(),
                ..H2Request::get(path)
            };
            let a = h2_request(&mut conn, &req).await.expect("an HTTP/2 answer");
            Answer {
                status: a.status,
                headers: a
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
                body: String::from_utf8_lossy(&a.body).into_owned(),
            }
        }
    }
}

/// The proxies of a bench, named for messages.
fn proxies(b: &Bench) -> [(&'static str, &Proxy); 2] {
    [("fast path", &b.fast), ("Pingora's path", &b.pingora)]
}

async fn metric(proxy: &Proxy, name: &str) -> f64 {
    let text = switchyard_tests::client::http_get(proxy.admin, "admin", "/metrics")
        .await
        .unwrap()
        .body;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("switchyard_proxy_{name} ")))
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_failed_get_is_retried_on_another_upstream_but_a_post_never_is() {
    let bad = Switch::start("bad", 503).await;
    let good = Switch::start("good", 200).await;
    let upstreams = serde_json::json!([{"url": bad.url()}, {"url": good.url()}]);
    let b = bench(serde_json::json!([
        {
            "zone_id": "retry", "path_prefix": "/r", "upstreams": upstreams,
            "policies": {"retry": {"attempts": 2, "backoff_ms": 1, "max_backoff_ms": 5,
                                   "budget_percent": 100}}
        },
        {"zone_id": "plain", "path_prefix": "/p", "upstreams": upstreams}
    ]))
    .await;
    for (what, proxy) in proxies(&b) {
        for via in VIAS {
            for failing in ["503", "reset"] {
                match failing {
                    "503" => bad.answer(503),
                    _ => bad.reset(),
                }
                let what = format!("{what}, {via:?}, upstream answering {failing}");
                // Every GET gets the good upstream's answer; the bad one was tried too.
                let before = bad.hits();
                for _ in 0..4 {
                    let a = send(&b, proxy, via, "GET", "/r/x").await;
                    assert_eq!(a.status, 200, "{what}: {a:?}");
                    assert_eq!(a.header("x-upstream"), Some("good"), "{what}");
                }
                assert!(
                    bad.hits() > before,
                    "{what}: the bad upstream was tried first"
                );
                // A POST may have reached the upstream: it is never sent twice.
                let (bad_before, good_before) = (bad.hits(), good.hits());
                let mut failed = 0;
                for _ in 0..4 {
                    let a = send(&b, proxy, via, "POST", "/r/x").await;
                    if a.status != 200 {
                        failed += 1;
                        assert_eq!(a.status, if failing == "503" { 503 } else { 502 }, "{what}");
                    }
                }
                assert!(failed > 0, "{what}: some POSTs met the bad upstream");
                assert_eq!(
                    bad.hits() - bad_before + good.hits() - good_before,
                    4,
                    "{what}: each POST reached one upstream once"
                );
                assert_eq!(bad.hits() - bad_before, failed, "{what}");
                // Without a retry policy a GET answered 503 is not sent again either.
                // (A reset one may be: a pooled connection found closed is sent again on
                // a fresh one by both paths, as nginx does.)
                if failing == "reset" {
                    continue;
                }
                let mut failed = 0;
                for _ in 0..4 {
                    if send(&b, proxy, via, "GET", "/p/x").await.status != 200 {
                        failed += 1;
                    }
                }
                assert!(
                    failed > 0,
                    "{what}: without a policy the failure is passed on"
                );
            }
        }
    }
    assert!(metric(&b.fast, "retries_total").await >= 1.0);
}

#[tokio::test]
async fn the_retry_budget_keeps_retries_to_a_share_of_requests() {
    let down = Switch::start("down", 503).await;
    let b = bench(serde_json::json!([{
        "zone_id": "budget", "upstreams": [{"url": down.url()}],
        "policies": {"retry": {"attempts": 3, "backoff_ms": 0, "max_backoff_ms": 0,
                               "budget_percent": 10, "min_per_sec": 0}}
    }]))
    .await;
    for (what, proxy) in proxies(&b) {
        let before = down.hits();
        for _ in 0..40 {
            let a = send(&b, proxy, Via::H1(Transport::Plain), "GET", "/x").await;
            assert_eq!(a.status, 503, "{what}");
        }
        // 40 requests in well under the budget's 10 s window: 10% of them may retry,
        // each of those once only (the budget is checked before every retry).
        let retried = down.hits() - before - 40;
        assert_eq!(retried, 4, "{what}: retries beyond the budget were made");
        assert_eq!(metric(proxy, "retries_total").await, 4.0, "{what}");
        assert!(
            metric(proxy, "retry_budget_exhausted_total").await >= 36.0,
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_circuit_opens_after_failures_probes_when_due_and_closes_on_success() {
    let flaky = Switch::start("flaky", 503).await;
    let steady = Switch::start("steady", 200).await;
    let solo = Switch::start("solo", 503).await;
    let b = bench(serde_json::json!([
        {
            "zone_id": "pair", "path_prefix": "/pair",
            "upstreams": [{"url": flaky.url()}, {"url": steady.url()}],
            "policies": {"circuit_breaker": {"consecutive_failures": 2, "open_secs": 1}}
        },
        {
            "zone_id": "solo", "path_prefix": "/solo", "upstreams": [{"url": solo.url()}],
            "policies": {"circuit_breaker": {"consecutive_failures": 2, "open_secs": 3600}}
        }
    ]))
    .await;
    for (what, proxy) in proxies(&b) {
        flaky.answer(503);
        let start = flaky.hits();
        // Round robin: two requests in four meet the flaky upstream and fail.
        for _ in 0..4 {
            send(&b, proxy, Via::H1(Transport::Plain), "GET", "/pair/x").await;
        }
        assert_eq!(flaky.hits() - start, 2, "{what}");
        // Open: everything goes to the steady upstream.
        for via in VIAS {
            for _ in 0..3 {
                let a = send(&b, proxy, via, "GET", "/pair/x").await;
                assert_eq!(a.status, 200, "{what}, {via:?}");
                assert_eq!(a.header("x-upstream"), Some("steady"), "{what}, {via:?}");
            }
        }
        assert_eq!(
            flaky.hits() - start,
            2,
            "{what}: an open circuit's upstream gets nothing"
        );
        let status = proxy.status().await.unwrap();
        assert!(
            status["circuits"]["open"].as_u64().unwrap() >= 1,
            "{what}: {status}"
        );
        let listed = status["circuits"]["endpoints"].as_array().unwrap();
        assert!(
            listed.iter().any(|c| c["upstream"] == flaky.url().as_str()
                && c["route"] == "a.test/pair"
                && c["state"] == "open"),
            "{what}: {status}"
        );
        assert!(metric(proxy, "circuits_open").await >= 1.0, "{what}");
        // The upstream recovers; after open_secs a probe reaches it and closes the circuit.
        flaky.answer(200);
        eventually(
            Duration::from_secs(10),
            "a probe reaches the recovered upstream",
            || {
                let (b, flaky) = (&b, &flaky);
                async move {
                    send(b, proxy, Via::H1(Transport::Plain), "GET", "/pair/x").await;
                    if flaky.hits() - start > 2 {
                        Ok(())
                    } else {
                        Err("no probe yet".to_owned())
                    }
                }
            },
        )
        .await
        .unwrap();
        let probed = flaky.hits();
        for _ in 0..6 {
            send(&b, proxy, Via::H1(Transport::Plain), "GET", "/pair/x").await;
        }
        assert!(
            flaky.hits() - probed >= 2,
            "{what}: closed again, it takes its share"
        );
        let status = proxy.status().await.unwrap();
        assert!(
            !status["circuits"]["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["upstream"] == flaky.url().as_str()),
            "{what}: {status}"
        );
    }
    // A route whose every circuit is open answers itself, naming why.
    for (what, proxy) in proxies(&b) {
        let before = solo.hits();
        for _ in 0..2 {
            let a = send(&b, proxy, Via::H1(Transport::Plain), "GET", "/solo/x").await;
            assert_eq!(a.status, 503, "{what}");
            assert_eq!(a.header("x-upstream"), Some("solo"), "{what}");
        }
        for via in VIAS {
            let a = send(&b, proxy, via, "GET", "/solo/x").await;
            assert_eq!(a.status, 503, "{what}, {via:?}");
            assert_eq!(
                a.header("x-switchyard-circuit"),
                Some("open"),
                "{what}, {via:?}"
            );
        }
        assert_eq!(solo.hits() - before, 2, "{what}");
        assert!(
            metric(proxy, "circuit_rejected_total").await >= 3.0,
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_routes_total_and_idle_timeouts_end_an_exchange() {
    let slow = switchyard_tests::upstream::Upstream::slow("slow", Duration::from_secs(5)).await;
    let echo = switchyard_tests::upstream::Upstream::echo("echo").await;
    let b = bench(serde_json::json!([
        {"zone_id": "total", "path_prefix": "/total", "upstreams": [{"url": slow.url()}],
         "timeouts": {"total_ms": 300}},
        {"zone_id": "idle", "path_prefix": "/idle", "upstreams": [{"url": echo.url()}],
         "timeouts": {"idle_ms": 300}}
    ]))
    .await;
    for (what, proxy) in proxies(&b) {
        for via in VIAS {
            // The upstream would answer 200 after 5 s (the read timeout is a minute).
            let a = send(&b, proxy, via, "GET", "/total/x").await;
            assert_eq!(a.status, 504, "{what}, {via:?}");
        }
        for transport in TRANSPORTS {
            // A body that stops coming: the connection ends after the idle time, long
            // before the default minute.
            let mut conn = b.connect(proxy, transport).await;
            conn.write_all(
                b"POST /idle/x HTTP/1.1\r\nhost: a.test\r\ncontent-length: 100\r\n\r\nab",
            )
            .await
            .unwrap();
            let mut rest = Vec::new();
            let ended =
                tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut rest)).await;
            assert!(
                ended.is_ok(),
                "{what}, {transport:?}: the idle connection was kept"
            );
        }
    }
}
