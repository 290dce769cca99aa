//! Drains and zero-downtime upgrades lose nothing.
//!
//! - SIGTERM: `/readyz` turns 503 at once while the listeners keep serving for the drain
//!   delay, so a load balancer stops sending before anything is refused.
//! - `--upgrade` + SIGQUIT under steady load — HTTP/1.1 plain, HTTP/1.1 over TLS, HTTP/2
//!   and a WebSocket held open across the hand-over — with zero failed requests. The
//!   clients retry a GET once on a new connection when a pooled keep-alive connection was
//!   closed under them before any answer byte (RFC 9112 §9.3.1; what browsers do): that
//!   race exists against every HTTP/1.1 server that closes idle connections.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use support::{Proxy, ProxyOptions, put_certs, put_zones, zone};
use switchyard_shared::model::CertRecord;
use switchyard_tests::client;
use switchyard_tests::eventually::eventually;
use switchyard_tests::redis::TestRedis;
use switchyard_tests::upstream::{Upstream, self_signed};
use tokio_tungstenite::tungstenite::Message;

const DEADLINE: Duration = Duration::from_secs(20);

async fn readyz(proxy: &Proxy) -> Option<u16> {
    client::http_get(proxy.admin, "admin", "/readyz")
        .await
        .ok()
        .map(|r| r.status.as_u16())
}

#[tokio::test]
async fn readiness_turns_503_when_a_drain_starts_while_requests_are_still_served() {
    let redis = TestRedis::new().await.unwrap();
    let mut proxy = (ProxyOptions::new(redis.url(), redis.prefix())
        .arg("--drain-delay-ms")
        .arg("3000")
        .arg("--grace-secs")
        .arg("1"))
    .start()
    .await;
    let echo = Upstream::echo("drain").await;
    let v = put_zones(&redis.store(), &[zone("d.test", &[&echo.url()])]).await;
    proxy.wait_for_version(v.version).await;
    assert_eq!(readyz(&proxy).await, Some(200));

    proxy.terminate();
    eventually(DEADLINE, "/readyz answers 503 once draining", || async {
        match readyz(&proxy).await {
            Some(503) => Ok(()),
            other => Err(format!("/readyz: {other:?}")),
        }
    })
    .await
    .unwrap();
    // Readiness is already off, and the listeners still serve.
    let r = proxy.get("d.test", "/still").await;
    assert_eq!(r.status, 200, "a request during the drain delay is served");
    assert!(!proxy.exited(), "the process waits out the drain delay");
    proxy.exits_within(DEADLINE).await.unwrap();
    redis.cleanup().await.unwrap();
}

/// A GET that is retried once on a new connection when the pooled one was closed
/// before any answer came (a connect error or an incomplete message).
async fn get_with_retry(c: &reqwest::Client, url: &str) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..2 {
        match c.get(url).send().await {
            Ok(r) if r.status() == 200 => match r.bytes().await {
                Ok(_) => return Ok(()),
                Err(e) => return Err(format!("body: {e}")),
            },
            Ok(r) => return Err(format!("status {}", r.status())),
            Err(e) if e.is_request() || e.is_connect() => last = format!("{e:?}"),
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    Err(last)
}

#[tokio::test]
async fn an_upgrade_under_load_fails_no_request() {
    let redis = TestRedis::new().await.unwrap();
    let old = (ProxyOptions::new(redis.url(), redis.prefix())
        .arg("--grace-secs")
        .arg("5"))
    .start()
    .await;
    let echo = Upstream::echo("up").await;
    let ws = Upstream::websocket_echo("ws").await;
    let cert = self_signed(&["u.test"]);
    let now = time::OffsetDateTime::now_utc();
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let record = serde_json::json!({
        "name": "u.test", "names": ["u.test"],
        "chain_pem": cert.chain_pem, "key_pem": cert.key_pem,
        "not_before": (now - time::Duration::days(1)).format(rfc3339).unwrap(),
        "not_after": (now + time::Duration::days(89)).format(rfc3339).unwrap(),
    });
    let record = CertRecord::from_json("u.test", record.to_string().as_bytes()).unwrap();
    put_zones(
        &redis.store(),
        &[
            zone("u.test", &[&echo.url()]),
            zone("ws.test", &[&ws.url()]),
        ],
    )
    .await;
    let v = put_certs(&redis.store(), &[record]).await;
    old.wait_for_version(v.version).await;

    let tls_client = |h2: bool| {
        let mut b = client::client("u.test", old.https()).tls_built_in_root_certs(false);
        for ca in reqwest::Certificate::from_pem_bundle(cert.ca_pem.as_bytes()).unwrap() {
            b = b.add_root_certificate(ca);
        }
        if h2 { b } else { b.http1_only() }.build().unwrap()
    };
    let clients = [
        (
            "http/1.1",
            client::client("u.test", old.http).build().unwrap(),
            "http",
        ),
        ("http/1.1 over TLS", tls_client(false), "https"),
        ("http/2", tls_client(true), "https"),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let mut loads = Vec::new();
    for (name, c, scheme) in clients {
        let stop = stop.clone();
        let done = Arc::new(AtomicU64::new(0));
        let count = done.clone();
        let task = tokio::spawn(async move {
            let url = format!("{scheme}://u.test/load");
            let mut failures = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                match get_with_retry(&c, &url).await {
                    Ok(()) => {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => failures.push(e),
                }
            }
            failures
        });
        loads.push((name, done, task));
    }
    // A WebSocket opened before the upgrade and used after it.
    let stream = tokio::net::TcpStream::connect(old.http).await.unwrap();
    let (mut socket, _) = tokio_tungstenite::client_async("ws://ws.test/chat", stream)
        .await
        .unwrap();
    socket.send(Message::text("before")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("ws: before")
    );

    // Some load first, then the new process takes the listeners over.
    let counts = |loads: &Vec<(&str, Arc<AtomicU64>, _)>| -> Vec<u64> {
        loads
            .iter()
            .map(|(_, c, _)| c.load(Ordering::Relaxed))
            .collect()
    };
    let progressed = async |what: &str, more: u64| {
        let from = counts(&loads);
        eventually(DEADLINE, what, || {
            let now = counts(&loads);
            let from = from.clone();
            async move {
                if now.iter().zip(&from).all(|(n, b)| *n >= b + more) {
                    Ok(())
                } else {
                    Err(format!("{now:?}"))
                }
            }
        })
        .await
        .unwrap();
    };
    progressed("every client is served before the upgrade", 50).await;
    let mut new = ProxyOptions::upgrade_of(&old, redis.url(), redis.prefix())
        .start()
        .await;
    old.signal("QUIT");
    // The new process serves (its own snapshot from Redis) and the load goes on.
    new.wait_for_version(v.version).await;
    progressed("every client is served after the hand-over", 200).await;
    // The WebSocket opened on the old process still works during its drain.
    socket.send(Message::text("after")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("ws: after")
    );
    socket.close(None).await.unwrap();

    stop.store(true, Ordering::Relaxed);
    for (name, done, task) in loads {
        let failures = task.await.unwrap();
        assert!(
            failures.is_empty(),
            "{name}: {} of {} requests failed across the upgrade: {:?}\n--- old ---\n{}\n--- new ---\n{}",
            failures.len(),
            done.load(Ordering::Relaxed) + failures.len() as u64,
            &failures[..failures.len().min(5)],
            old.log_text(),
            new.log_text()
        );
    }
    // The new process answers on the same listeners once the old one is gone.
    let mut old = old;
    // After its grace period.
    old.exits_within(DEADLINE).await.unwrap();
    assert_eq!(new.get("u.test", "/after").await.status, 200);
    new.stop().await.unwrap();
    redis.cleanup().await.unwrap();
}
