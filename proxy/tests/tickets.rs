//! TLS session tickets shared by the fleet through Redis (proxy/src/tickets.rs): a
//! ticket one proxy issued resumes on another, still resumes after one rotation of the
//! shared keys, and no longer after two.

mod support;

use std::sync::Arc;

use fred::prelude::*;
use support::raw::{DEADLINE, served_cert};
use support::{Proxy, ProxyOptions, put_certs};
use switchyard_shared::Keys;
use switchyard_tests::eventually::eventually;
use switchyard_tests::redis::TestRedis;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, HandshakeKind};

/// A client with a session store of its own.
fn client(base: &ClientConfig) -> Arc<ClientConfig> {
    let mut config = base.clone();
    config.resumption = Resumption::in_memory_sessions(64);
    Arc::new(config)
}

/// One HTTPS request to `proxy` for `t.test`, read to the end (so the session tickets
/// sent after the handshake are received); whether the handshake resumed a session.
async fn resumed(proxy: &Proxy, config: &Arc<ClientConfig>) -> bool {
    let tcp = TcpStream::connect(proxy.https()).await.unwrap();
    let name = ServerName::try_from("t.test").unwrap();
    let mut tls = TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .unwrap();
    let kind = tls.get_ref().1.handshake_kind();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: t.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, tls.read_to_end(&mut answer)).await;
    assert!(answer.starts_with(b"HTTP/1.1 "), "an answer over TLS");
    kind == Some(HandshakeKind::Resumed)
}

/// Waits until every proxy uses the stored ring of generation `generation`.
async fn in_use(proxies: &[&Proxy], generation: u64) {
    eventually(DEADLINE, "the ticket key ring in use", || async move {
        for p in proxies {
            let g = p.status().await.unwrap()["tls_ticket_generation"].as_u64();
            if g != Some(generation) {
                return Err(format!("a proxy uses ring {g:?}, want {generation}"));
            }
        }
        Ok(())
    })
    .await
    .unwrap();
}

/// The stored ring's generation.
async fn stored_generation(redis: &TestRedis, keys: &Keys) -> u64 {
    let g: Option<String> = redis
        .store()
        .client()
        .hget(keys.ticket_keys(), "generation")
        .await
        .unwrap();
    g.and_then(|g| g.parse().ok()).unwrap_or(0)
}

/// Makes the stored ring due for rotation at once; a proxy rotates it within seconds.
async fn make_due(redis: &TestRedis, keys: &Keys) {
    let () = redis
        .store()
        .client()
        .hset(keys.ticket_keys(), ("rotated_at", "0"))
        .await
        .unwrap();
}

#[tokio::test]
async fn tickets_resume_across_the_fleet_and_survive_one_rotation() {
    let redis = TestRedis::new().await.unwrap();
    let keys = Keys::new(redis.prefix()).unwrap();
    let a = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let b = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let (record, base) = served_cert("t.test");
    let v = put_certs(&redis.store(), &[record]).await;
    a.wait_for_version(v.version).await;
    b.wait_for_version(v.version).await;

    // One ring for both, written by whichever proxy came first.
    let mut generation = 0;
    eventually(DEADLINE, "a stored ring", || async {
        match stored_generation(&redis, &keys).await {
            0 => Err("no ring yet".to_owned()),
            _ => Ok(()),
        }
    })
    .await
    .unwrap();
    generation += stored_generation(&redis, &keys).await;
    in_use(&[&a, &b], generation).await;

    // A ticket from one proxy resumes on the other (OpenSSL's own keys are per process).
    let roaming = client(&base);
    assert!(
        !resumed(&a, &roaming).await,
        "the first handshake is a full one"
    );
    assert!(resumed(&b, &roaming).await, "a ticket from A resumes on B");
    assert!(resumed(&a, &roaming).await, "and one from B on A");

    // Clients that got their tickets before the rotations below.
    let before_one = client(&base);
    let before_two = client(&base);
    assert!(!resumed(&a, &before_one).await);
    assert!(!resumed(&b, &before_two).await);

    make_due(&redis, &keys).await;
    in_use(&[&a, &b], generation + 1).await;
    assert!(
        resumed(&b, &before_one).await,
        "a ticket from before one rotation still resumes"
    );
    assert!(resumed(&a, &roaming).await);

    make_due(&redis, &keys).await;
    in_use(&[&a, &b], generation + 2).await;
    assert!(
        !resumed(&a, &before_two).await,
        "a ticket whose key left the ring makes a full handshake"
    );
    assert!(
        resumed(&b, &before_two).await,
        "which gives the client a ticket that resumes again"
    );
    redis.cleanup().await.unwrap();
}
