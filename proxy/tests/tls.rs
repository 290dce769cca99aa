//! TLS termination: certificate per SNI (exact, wildcard, apex; uploaded before issued),
//! rotation without a restart, HTTP/2 by ALPN, unknown names refused; and WebSocket upgrades through the
//! proxy.

mod support;

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use support::{ProxyOptions, put_certs, put_zones, zone};
use switchyard_shared::certs::CertSource;
use switchyard_shared::model::CertRecord;
use switchyard_tests::client::{self, https_get};
use switchyard_tests::eventually::eventually;
use switchyard_tests::redis::TestRedis;
use switchyard_tests::upstream::{TestCert, Upstream, self_signed};
use tokio_tungstenite::tungstenite::Message;

fn record(name: &str, names: &[&str], cert: &TestCert) -> CertRecord {
    let now = time::OffsetDateTime::now_utc();
    let json = serde_json::json!({
        "name": name,
        "names": names,
        "chain_pem": cert.chain_pem,
        "key_pem": cert.key_pem,
        "not_before": (now - time::Duration::days(1)).format(&time::format_description::well_known::Rfc3339).unwrap(),
        "not_after": (now + time::Duration::days(89)).format(&time::format_description::well_known::Rfc3339).unwrap(),
    });
    CertRecord::from_json(name, json.to_string().as_bytes()).unwrap()
}

fn upstream_name(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body).unwrap()["upstream"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn certificates_are_chosen_per_sni_and_rotate_without_restart() {
    let redis = TestRedis::new().await.unwrap();
    let proxy = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let echo = Upstream::echo("tls-echo").await;
    let store = redis.store();
    let wildcard = self_signed(&["*.example.com", "example.com"]);
    let exact = self_signed(&["app.example.com"]);
    put_zones(
        &store,
        &[
            zone("*.example.com", &[&echo.url()]),
            zone("example.com", &[&echo.url()]),
            zone("app.example.com", &[&echo.url()]),
        ],
    )
    .await;
    let v = put_certs(
        &store,
        &[
            record(
                "*.example.com",
                &["*.example.com", "example.com"],
                &wildcard,
            ),
            record("app.example.com", &["app.example.com"], &exact),
        ],
    )
    .await;
    proxy.wait_for_version(v.version).await;

    // Wildcard and apex are served with the wildcard certificate…
    for host in ["shop.example.com", "example.com"] {
        let resp = https_get(proxy.https(), host, "/", &wildcard.ca_pem)
            .await
            .unwrap_or_else(|e| panic!("{host}: {e:?}"));
        assert_eq!(resp.status, 200, "{host}");
        assert_eq!(
            resp.json().unwrap()["headers"]["x-forwarded-proto"],
            "https"
        );
    }
    // …an exact name with its own certificate (only its CA verifies it)…
    let resp = https_get(proxy.https(), "app.example.com", "/", &exact.ca_pem)
        .await
        .unwrap();
    assert_eq!(upstream_name(&resp.body), "tls-echo");
    assert!(
        https_get(proxy.https(), "app.example.com", "/", &wildcard.ca_pem)
            .await
            .is_err()
    );
    // …and a name no certificate covers fails the handshake.
    let err = https_get(proxy.https(), "other.example.org", "/", &wildcard.ca_pem)
        .await
        .unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");

    // Rotation: a new wildcard certificate is served from the next handshake on.
    let rotated = self_signed(&["*.example.com", "example.com"]);
    put_certs(
        &store,
        &[record(
            "*.example.com",
            &["*.example.com", "example.com"],
            &rotated,
        )],
    )
    .await;
    let https = proxy.https();
    let ca = rotated.ca_pem.clone();
    eventually(
        Duration::from_secs(5),
        "the rotated certificate is served",
        || {
            let ca = ca.clone();
            async move {
                https_get(https, "shop.example.com", "/", &ca)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            }
        },
    )
    .await
    .unwrap();
    assert!(
        https_get(proxy.https(), "shop.example.com", "/", &wildcard.ca_pem)
            .await
            .is_err()
    );
    redis.cleanup().await.unwrap();
}

/// Uploaded beats issued for the same name (`switchyard_shared::certs`): with both in
/// Redis — as cert-worker and the panel write them, `cert:*.example.com` and
/// `cert:uploaded:*.example.com` — handshakes get the uploaded one, whichever was
/// written last; an exact issued certificate still beats the uploaded wildcard; and
/// deleting the upload hands the name back to the issued certificate.
#[tokio::test]
async fn an_uploaded_certificate_beats_the_issued_one_for_the_same_name() {
    let redis = TestRedis::new().await.unwrap();
    let proxy = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let echo = Upstream::echo("tls-echo").await;
    let store = redis.store();
    let wild = ["*.example.com", "example.com"];
    let issued = self_signed(&wild);
    let brought = self_signed(&wild);
    let exact = self_signed(&["app.example.com"]);
    put_zones(
        &store,
        &[
            zone("*.example.com", &[&echo.url()]),
            zone("example.com", &[&echo.url()]),
        ],
    )
    .await;
    let mut upload = record("*.example.com", &wild, &brought);
    upload.source = CertSource::Uploaded;
    // The upload first, the issued one after: the order must not matter.
    put_certs(&store, &[upload.clone()]).await;
    let v = put_certs(
        &store,
        &[
            record("*.example.com", &wild, &issued),
            record("app.example.com", &["app.example.com"], &exact),
        ],
    )
    .await;
    proxy.wait_for_version(v.version).await;
    for host in ["shop.example.com", "example.com"] {
        let resp = https_get(proxy.https(), host, "/", &brought.ca_pem)
            .await
            .unwrap_or_else(|e| panic!("{host} with the uploaded certificate: {e:?}"));
        assert_eq!(resp.status, 200, "{host}");
        assert!(
            https_get(proxy.https(), host, "/", &issued.ca_pem)
                .await
                .is_err(),
            "{host} must not get the issued certificate"
        );
    }
    // Exact beats wildcard, even an uploaded wildcard: only the exact certificate's CA
    // verifies the handshake (the `*.example.com` zone answers).
    let resp = https_get(proxy.https(), "app.example.com", "/", &exact.ca_pem)
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(
        https_get(proxy.https(), "app.example.com", "/", &brought.ca_pem)
            .await
            .is_err()
    );

    // Deleting the upload (what the panel's delete writes) hands the names back.
    let mut changes = switchyard_shared::ChangeSet::new();
    changes.delete_cert(&upload.member());
    let v = store.apply(&changes).await.unwrap();
    proxy.wait_for_version(v.version).await;
    let resp = https_get(proxy.https(), "shop.example.com", "/", &issued.ca_pem)
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn() {
    let redis = TestRedis::new().await.unwrap();
    let proxy = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let echo = Upstream::echo("h2").await;
    let cert = self_signed(&["*.example.com", "example.com"]);
    let store = redis.store();
    put_zones(&store, &[zone("h2.example.com", &[&echo.url()])]).await;
    let v = put_certs(
        &store,
        &[record(
            "*.example.com",
            &["*.example.com", "example.com"],
            &cert,
        )],
    )
    .await;
    proxy.wait_for_version(v.version).await;

    let mut builder =
        client::client("h2.example.com", proxy.https()).tls_built_in_root_certs(false);
    for ca in reqwest::Certificate::from_pem_bundle(cert.ca_pem.as_bytes()).unwrap() {
        builder = builder.add_root_certificate(ca);
    }
    let resp = builder
        .build()
        .unwrap()
        .get("https://h2.example.com/x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(body["upstream"], "h2");
    assert_eq!(body["path"], "/x");
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn websocket_upgrades_pass_through() {
    let redis = TestRedis::new().await.unwrap();
    let proxy = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let ws = Upstream::websocket_echo("ws").await;
    let v = put_zones(&redis.store(), &[zone("ws.example.com", &[&ws.url()])]).await;
    proxy.wait_for_version(v.version).await;

    let stream = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut socket, response) =
        tokio_tungstenite::client_async("ws://ws.example.com/chat", stream)
            .await
            .expect("the upgrade goes through the proxy");
    assert_eq!(response.status(), 101);
    socket.send(Message::text("hello")).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    assert_eq!(reply, Message::text("ws: hello"));
    socket.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    assert_eq!(reply, Message::binary(vec![1u8, 2, 3]));
    socket.close(None).await.unwrap();
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn https_upstreams_get_sni_and_are_verified() {
    let redis = TestRedis::new().await.unwrap();
    let upstream_cert = self_signed(&["localhost"]);
    let ca_file = std::env::temp_dir().join(format!("sy-ca-{}.pem", uuid::Uuid::new_v4().simple()));
    std::fs::write(&ca_file, &upstream_cert.ca_pem).unwrap();
    let options = ProxyOptions::new(redis.url(), redis.prefix())
        .arg("--upstream-ca-file")
        .arg(ca_file.to_str().unwrap());
    let proxy = options.start().await;
    let trusted = Upstream::https_echo(
        "tls-upstream",
        &upstream_cert.chain_pem,
        &upstream_cert.key_pem,
    )
    .await;
    let untrusted_cert = self_signed(&["localhost"]);
    let untrusted = Upstream::https_echo(
        "untrusted",
        &untrusted_cert.chain_pem,
        &untrusted_cert.key_pem,
    )
    .await;
    let port = |u: &Upstream| u.addr().port();
    let v = put_zones(
        &redis.store(),
        &[
            zone(
                "secure.example.com",
                &[&format!("https://localhost:{}", port(&trusted))],
            ),
            zone(
                "mitm.example.com",
                &[&format!("https://localhost:{}", port(&untrusted))],
            ),
        ],
    )
    .await;
    proxy.wait_for_version(v.version).await;
    let resp = proxy.get("secure.example.com", "/").await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(upstream_name(&resp.body), "tls-upstream");
    assert_eq!(trusted.last_sni().as_deref(), Some("localhost"));
    let resp = proxy.get("mitm.example.com", "/").await;
    assert_eq!(
        resp.status, 502,
        "an upstream certificate from an unknown CA is refused: {}",
        resp.body
    );
    assert!(
        resp.body.contains("TLS with the upstream failed"),
        "{}",
        resp.body
    );
    let _ = std::fs::remove_file(ca_file);
    redis.cleanup().await.unwrap();
}
