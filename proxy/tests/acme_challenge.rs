//! HTTP-01 answers from the snapshot: `GET /.well-known/acme-challenge/<token>` is
//! answered with the key authorization the cert worker published in Redis — on the fast
//! path and on Pingora's path, plain HTTP, TLS and HTTP/2 alike — before the zone's
//! allow-list, HTTPS redirect or auth could refuse the CA; an unknown token, a token of
//! another host, a withdrawn and an expired challenge are 404, and no backend ever sees
//! the request.

mod support;

use support::raw::{Answer, Bench, H2Request, TRANSPORTS, Transport, bench, read_answer};
use support::{Proxy, put_zones, zone};
use switchyard_shared::model::ChallengeRecord;
use switchyard_shared::store::ChangeSet;
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;

const TOKEN: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const THUMBPRINT: &str = "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

fn challenge(host: &str, token: &str, expires_in: time::Duration) -> ChallengeRecord {
    ChallengeRecord {
        host: host.to_owned(),
        token: token.to_owned(),
        key_authorization: format!("{token}.{THUMBPRINT}"),
        expires_at: OffsetDateTime::now_utc() + expires_in,
    }
}

/// Applies `changes` and waits until both proxies have the version.
async fn apply(b: &Bench, changes: &ChangeSet) {
    let applied = b.redis.store().apply(changes).await.unwrap();
    b.fast.wait_for_version(applied.version).await;
    b.pingora.wait_for_version(applied.version).await;
}

/// One HTTP/1.1 GET on a fresh connection: the answer, and how many requests the
/// backends saw.
async fn exchange(
    b: &Bench,
    proxy: &Proxy,
    transport: Transport,
    host: &str,
    path: &str,
) -> (Answer, usize) {
    b.seen.lock().unwrap().clear();
    let mut conn = b.connect(proxy, transport).await;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nx-request-id: rid-7\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let answer = read_answer(&mut conn).await;
    let seen = std::mem::take(&mut *b.seen.lock().unwrap()).len();
    (answer, seen)
}

/// [`exchange`] for a request the proxy must answer itself: no backend may see it.
async fn get(b: &Bench, proxy: &Proxy, transport: Transport, host: &str, path: &str) -> Answer {
    let (answer, seen) = exchange(b, proxy, transport, host, path).await;
    assert_eq!(seen, 0, "a backend saw {path} for {host}");
    answer
}

fn path(token: &str) -> String {
    format!("/.well-known/acme-challenge/{token}")
}

#[tokio::test]
async fn challenges_are_answered_before_the_zone_and_only_for_their_host() {
    // a.test refuses the tests' address (127.0.0.1) and redirects plain HTTP to HTTPS:
    // neither may keep the CA from the answer. b.test is open: its backend would answer
    // 200 to anything that reached it.
    let b = bench(serde_json::json!([{
        "zone_id": "z", "upstreams": [{"url": "open"}],
        "allow": ["10.0.0.0/8"], "force_https": true
    }]))
    .await;
    let open = {
        let seen = b.seen.clone();
        support::raw::recorder("b-open", seen).await
    };
    let mut https_only = zone("r.test", &[&open]);
    https_only.routes[0].force_https = true;
    put_zones(&b.redis.store(), &[zone("b.test", &[&open]), https_only]).await;
    let mut publish = ChangeSet::new();
    publish.put_challenge(&challenge("a.test", TOKEN, time::Duration::minutes(5)));
    publish.put_challenge(&challenge(
        "r.test",
        "redirectedZoneToken",
        time::Duration::minutes(5),
    ));
    apply(&b, &publish).await;

    for proxy in [&b.fast, &b.pingora] {
        for transport in TRANSPORTS {
            let what = format!("{transport:?} via port {}", proxy.http);
            let a = get(&b, proxy, transport, "a.test", &path(TOKEN)).await;
            assert_eq!(a.status, 200, "{what}: {a:?}");
            assert_eq!(a.body, format!("{TOKEN}.{THUMBPRINT}"), "{what}");
            assert_eq!(a.header("content-type"), Some("text/plain"), "{what}");
            assert_eq!(a.header("x-request-id"), Some("rid-7"), "{what}");
            // The Host header may carry a port and any case.
            let a = get(&b, proxy, transport, "A.Test:80", &path(TOKEN)).await;
            assert_eq!(a.status, 200, "{what}, host with port: {a:?}");

            // The zones' own rules still hold for everything else.
            let a = get(&b, proxy, transport, "a.test", "/x").await;
            assert_eq!(a.status, 403, "{what}: {a:?}");
            let (a, _) = exchange(&b, proxy, transport, "r.test", "/x").await;
            let expected = match transport {
                Transport::Plain => 308,
                Transport::Tls => 200,
            };
            assert_eq!(a.status, expected, "{what}: {a:?}");
            let a = get(&b, proxy, transport, "r.test", &path("redirectedZoneToken")).await;
            assert_eq!(a.status, 200, "{what}, HTTPS-only zone: {a:?}");

            for (host, token, why) in [
                ("a.test", "unknownTOKEN123", "unknown token"),
                ("b.test", TOKEN, "another host's token"),
                ("c.test", TOKEN, "a host without zone"),
                ("a.test", &format!("{TOKEN}/x"), "a longer path"),
                ("a.test", "", "no token"),
            ] {
                let a = get(&b, proxy, transport, host, &path(token)).await;
                assert_eq!(a.status, 404, "{what}, {why}: {a:?}");
                assert!(!a.body.contains(THUMBPRINT), "{what}, {why}: {a:?}");
            }
        }
    }

    // HTTP/2 (TLS) reaches the same decision.
    for proxy in [&b.fast, &b.pingora] {
        let (outcome, heads) = b.h2_send(proxy, &H2Request::get(&path(TOKEN))).await;
        assert_eq!(outcome.status, 200, "HTTP/2 via {}", proxy.https());
        assert!(heads.is_empty());
        let (outcome, _) = b
            .h2_send(proxy, &H2Request::get(&path("unknownTOKEN123")))
            .await;
        assert_eq!(outcome.status, 404, "HTTP/2 via {}", proxy.https());
    }

    // Withdrawn: 404 at once, on every proxy.
    let mut withdraw = ChangeSet::new();
    withdraw.delete_challenge(&ChallengeRecord::name_of("a.test", TOKEN));
    apply(&b, &withdraw).await;
    for proxy in [&b.fast, &b.pingora] {
        let a = get(&b, proxy, Transport::Plain, "a.test", &path(TOKEN)).await;
        assert_eq!(a.status, 404, "withdrawn, via {}: {a:?}", proxy.http);
    }
    b.redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn an_expired_challenge_is_not_answered_though_no_change_announced_it() {
    let b = bench(serde_json::json!([{"zone_id": "z", "upstreams": [{"url": "open"}]}])).await;
    // Its key lives a second; the proxies were told of it, never of its end.
    let mut publish = ChangeSet::new();
    publish.put_challenge(&challenge("a.test", TOKEN, time::Duration::seconds(-1)));
    publish.put_challenge(&challenge(
        "a.test",
        "liveToken",
        time::Duration::minutes(5),
    ));
    apply(&b, &publish).await;
    for proxy in [&b.fast, &b.pingora] {
        let a = get(&b, proxy, Transport::Plain, "a.test", &path(TOKEN)).await;
        assert_eq!(a.status, 404, "expired, via {}: {a:?}", proxy.http);
        let a = get(&b, proxy, Transport::Plain, "a.test", &path("liveToken")).await;
        assert_eq!(a.status, 200, "live, via {}: {a:?}", proxy.http);
    }
    b.redis.cleanup().await.unwrap();
}
