//! Route policies end to end, on the real binary with recording backends: header edits,
//! HSTS and the security preset, basic auth, rate limits (charged once per request, and
//! recovering), redirect rules, path rewrites, body limits and error pages — each on
//! the fast path and on Pingora's path, over plain HTTP, TLS and HTTP/2, which must
//! answer alike. Traffic splits: the ratio, sticky headers and cookies, forced cohorts,
//! a group whose upstreams fail. Plus the data format guard: a proxy keeps its snapshot when Redis holds
//! a format it does not read.

mod support;

use std::time::Duration;

use base64::Engine;
use support::raw::{
    Answer, Bench, H2Request, TRANSPORTS, Transport, bench, bench_with, h2_connect, h2_request,
    read_answer,
};
use support::{Proxy, ProxyOptions, put_zones, zone, zone_json};
use switchyard_tests::eventually::eventually;
use switchyard_tests::redis::TestRedis;
use switchyard_tests::upstream::Upstream;
use tokio::io::AsyncWriteExt;

/// Sends one HTTP/1.1 request on a fresh connection; the answer and the request heads
/// the backends received.
async fn send(
    b: &Bench,
    proxy: &Proxy,
    transport: Transport,
    request: &str,
) -> (Answer, Vec<String>) {
    b.seen.lock().unwrap().clear();
    let mut conn = b.connect(proxy, transport).await;
    conn.write_all(request.as_bytes()).await.unwrap();
    let answer = read_answer(&mut conn).await;
    let heads = std::mem::take(&mut *b.seen.lock().unwrap())
        .into_iter()
        .map(|(_, h)| h)
        .collect();
    (answer, heads)
}

/// Sends over HTTP/2 on a fresh connection; the answer (status, lower-case headers,
/// body) and the backends' heads.
async fn send_h2(b: &Bench, proxy: &Proxy, req: &H2Request) -> (Answer, Vec<String>) {
    b.seen.lock().unwrap().clear();
    let mut conn = h2_connect(proxy.https(), &b.tls, "a.test").await;
    let a = h2_request(&mut conn, req).await.expect("an HTTP/2 answer");
    let heads = std::mem::take(&mut *b.seen.lock().unwrap())
        .into_iter()
        .map(|(_, h)| h)
        .collect();
    let answer = Answer {
        status: a.status,
        headers: a
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&a.body).into_owned(),
    };
    (answer, heads)
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: a.test\r\n{extra}\r\n")
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// bcrypt at the lowest cost: verified in microseconds even in a debug build.
fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

fn header_of(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

#[tokio::test]
async fn header_edits_hsts_and_the_security_preset_apply_on_every_path() {
    let b = bench(serde_json::json!([{
        "zone_id": "z", "upstreams": [{"url": "open"}],
        "policies": {
            "request_headers": {
                "remove": ["x-debug"],
                "set": [{"name": "x-env", "value": "prod {client_ip} {scheme}"}],
                "add": [{"name": "x-tag", "value": "{{literal}} {host}"}]
            },
            "response_headers": {"add": [{"name": "x-served-by", "value": "edge {request_id}"}]},
            "hsts": {"max_age_secs": 600, "include_subdomains": true},
            "security_headers": true
        }
    }]))
    .await;
    let request = get(
        "/x",
        "x-debug: 1\r\nx-env: client-said\r\nx-request-id: rid-1\r\n",
    );
    for proxy in [&b.fast, &b.pingora] {
        for transport in TRANSPORTS {
            let (a, heads) = send(&b, proxy, transport, &request).await;
            let scheme = match transport {
                Transport::Plain => "http",
                Transport::Tls => "https",
            };
            let what = format!("{transport:?} via port {}", proxy.http);
            assert_eq!(a.status, 200, "{what}: {a:?}");
            assert_eq!(heads.len(), 1, "{what}");
            let head = &heads[0];
            assert_eq!(header_of(head, "x-debug"), None, "{what}: {head}");
            assert_eq!(
                header_of(head, "x-env").as_deref(),
                Some(format!("prod 127.0.0.1 {scheme}").as_str()),
                "{what}: {head}"
            );
            assert_eq!(head.matches("x-env").count(), 1, "{what}: {head}");
            assert_eq!(
                header_of(head, "x-tag").as_deref(),
                Some("{literal} a.test"),
                "{what}"
            );
            assert_eq!(a.header("x-served-by"), Some("edge rid-1"), "{what}");
            assert_eq!(
                a.header("x-content-type-options"),
                Some("nosniff"),
                "{what}"
            );
            assert_eq!(a.header("x-frame-options"), Some("SAMEORIGIN"), "{what}");
            assert_eq!(
                a.header("strict-transport-security"),
                matches!(transport, Transport::Tls).then_some("max-age=600; includeSubDomains"),
                "{what}: HSTS only over HTTPS"
            );
        }
        let mut req = H2Request::get("/x");
        req.headers.push(("x-debug", "1".into()));
        let (a, heads) = send_h2(&b, proxy, &req).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(header_of(&heads[0], "x-debug"), None);
        assert_eq!(
            header_of(&heads[0], "x-env").as_deref(),
            Some("prod 127.0.0.1 https")
        );
        assert_eq!(
            a.header("strict-transport-security"),
            Some("max-age=600; includeSubDomains")
        );
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
        assert!(
            a.header("x-served-by")
                .is_some_and(|v| v.starts_with("edge "))
        );
    }
    b.redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn basic_auth_lets_the_right_password_through_and_nothing_else() {
    let b = bench(serde_json::json!([{
        "zone_id": "z", "upstreams": [{"url": "admin"}],
        "policies": {"basic_auth": {"realm": "Ops", "users": [
            {"username": "ann", "hash": hash("right")},
            {"username": "bob", "hash": hash("other")}
        ]}}
    }]))
    .await;
    for proxy in [&b.fast, &b.pingora] {
        for transport in TRANSPORTS {
            for (auth, want) in [
                (Some(basic("ann", "right")), 200),
                (Some(basic("ann", "right")), 200),
                (Some(basic("bob", "other")), 200),
                (Some(basic("ann", "wrong")), 401),
                (Some(basic("ann", "other")), 401),
                (Some(basic("eve", "right")), 401),
                (Some("Bearer abc".to_owned()), 401),
                (Some("Basic !!!".to_owned()), 401),
                (None, 401),
            ] {
                let extra = auth
                    .as_ref()
                    .map(|a| format!("authorization: {a}\r\n"))
                    .unwrap_or_default();
                let (a, heads) = send(&b, proxy, transport, &get("/", &extra)).await;
                assert_eq!(a.status, want, "{transport:?} {auth:?}: {a:?}");
                if want == 401 {
                    assert!(heads.is_empty(), "a refused request reached the backend");
                    assert_eq!(
                        a.header("www-authenticate"),
                        Some("Basic realm=\"Ops\", charset=\"UTF-8\"")
                    );
                    assert!(a.body.contains("request id: "), "{}", a.body);
                } else {
                    assert_eq!(a.body, "admin");
                }
            }
        }
        let mut req = H2Request::get("/");
        let (a, _) = send_h2(&b, proxy, &req).await;
        assert_eq!(a.status, 401);
        req.headers.push(("authorization", basic("ann", "right")));
        let (a, _) = send_h2(&b, proxy, &req).await;
        assert_eq!(a.status, 200);
    }
    b.redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_rate_limit_is_charged_once_per_request_and_recovers() {
    let b = bench(serde_json::json!([
        {"zone_id": "guarded", "path_prefix": "/guarded", "upstreams": [{"url": "open"}],
         "policies": {
            "rate_limit": {"requests": 3, "per_secs": 3600},
            "basic_auth": {"users": [{"username": "ann", "hash": hash("pw")}]}
         }},
        {"zone_id": "quick", "path_prefix": "/quick", "upstreams": [{"url": "open"}],
         "policies": {"rate_limit": {"requests": 1, "per_secs": 1}}},
        {"zone_id": "keyed", "path_prefix": "/keyed", "upstreams": [{"url": "open"}],
         "policies": {"rate_limit": {"requests": 1, "per_secs": 3600,
                                     "key": {"kind": "header", "name": "X-Api-Key"}}}}
    ]))
    .await;
    for proxy in [&b.fast, &b.pingora] {
        // Three requests without credentials use up the bucket: each is refused 401 (the
        // fast path decides and Pingora writes the answer — charged once, not twice),
        // over plain HTTP, TLS and HTTP/2 alike; the fourth, with the right password,
        // is over the limit.
        for transport in TRANSPORTS {
            let (a, _) = send(&b, proxy, transport, &get("/guarded", "")).await;
            assert_eq!(a.status, 401, "{transport:?}: {a:?}");
        }
        let (a, _) = send_h2(&b, proxy, &H2Request::get("/guarded")).await;
        assert_eq!(
            a.status, 401,
            "the third request is within the limit: {a:?}"
        );
        let auth = format!("authorization: {}\r\n", basic("ann", "pw"));
        let (a, heads) = send(&b, proxy, Transport::Plain, &get("/guarded", &auth)).await;
        assert_eq!(a.status, 429, "the fourth request is over the limit: {a:?}");
        assert!(heads.is_empty());
        let retry: u64 = a.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
        assert!(a.body.contains("429 Too Many Requests"), "{}", a.body);

        // One per second: the second at once is refused, and a later one passes.
        let (a, _) = send(&b, proxy, Transport::Plain, &get("/quick", "")).await;
        assert_eq!(a.status, 200);
        let (a, _) = send(&b, proxy, Transport::Tls, &get("/quick", "")).await;
        assert_eq!(a.status, 429);
        assert_eq!(a.header("retry-after"), Some("1"));
        eventually(Duration::from_secs(5), "the bucket refills", || async {
            let (a, _) = send(&b, proxy, Transport::Plain, &get("/quick", "")).await;
            if a.status == 200 {
                Ok(())
            } else {
                Err(format!("still {}", a.status))
            }
        })
        .await
        .unwrap();

        // Keyed by a header: each key has its own bucket.
        for (key, want) in [("k1", 200), ("k1", 429), ("k2", 200), ("K1", 200)] {
            let (a, _) = send(
                &b,
                proxy,
                Transport::Plain,
                &get("/keyed", &format!("x-api-key: {key}\r\n")),
            )
            .await;
            assert_eq!(a.status, want, "key {key}");
        }
    }
    b.redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn redirects_rewrites_body_limits_and_error_pages() {
    let b = bench(serde_json::json!([
        {"zone_id": "root", "upstreams": [{"url": "open"}]},
        {"zone_id": "old", "path_prefix": "/old", "upstreams": [{"url": "open"}],
         "policies": {"redirect": {"code": 301, "pattern": "^/old/(?P<rest>.+)$",
                                   "target": "/new/${rest}", "keep_query": true}}},
        {"zone_id": "api", "path_prefix": "/api", "upstreams": [{"url": "admin"}],
         "policies": {"rewrite": {"kind": "strip_prefix"}}},
        {"zone_id": "v1", "path_prefix": "/v1", "upstreams": [{"url": "admin"}],
         "policies": {"rewrite": {"kind": "regex", "pattern": "^/v1/users/(\\d+)$",
                                  "replacement": "/users?id=$1"}}},
        {"zone_id": "small", "path_prefix": "/small", "upstreams": [{"url": "open"}],
         "policies": {"max_body_bytes": 10}},
        {"zone_id": "none", "path_prefix": "/none",
         "policies": {"error_pages": {"503": {"body": "<h1>Soon</h1><!-- {request_id} -->"}}}}
    ]))
    .await;
    for proxy in [&b.fast, &b.pingora] {
        for transport in TRANSPORTS {
            let t = format!("{transport:?}");
            let (a, heads) = send(&b, proxy, transport, &get("/old/a/b?x=1", "")).await;
            assert_eq!(a.status, 301, "{t}");
            assert_eq!(a.header("location"), Some("/new/a/b?x=1"), "{t}");
            assert!(heads.is_empty());
            // `/old` alone does not match the pattern: forwarded.
            let (a, _) = send(&b, proxy, transport, &get("/old", "")).await;
            assert_eq!(a.status, 200, "{t}");

            let (a, heads) = send(&b, proxy, transport, &get("/api/v2/items?q=1", "")).await;
            assert_eq!(a.status, 200, "{t}");
            assert!(
                heads[0].starts_with("GET /v2/items?q=1 HTTP/1.1"),
                "{t}: {}",
                heads[0]
            );
            let (_, heads) = send(&b, proxy, transport, &get("/api", "")).await;
            assert!(heads[0].starts_with("GET / HTTP/1.1"), "{t}: {}", heads[0]);
            let (_, heads) = send(&b, proxy, transport, &get("/v1/users/42?x=1", "")).await;
            assert!(
                heads[0].starts_with("GET /users?id=42&x=1 HTTP/1.1"),
                "{t}: {}",
                heads[0]
            );

            let post = |len: usize| {
                format!(
                    "POST /small HTTP/1.1\r\nhost: a.test\r\ncontent-length: {len}\r\n\r\n{}",
                    "b".repeat(len)
                )
            };
            let (a, heads) = send(&b, proxy, transport, &post(10)).await;
            assert_eq!(a.status, 200, "{t}");
            assert_eq!(heads.len(), 1);
            let (a, heads) = send(&b, proxy, transport, &post(11)).await;
            assert_eq!(a.status, 413, "{t}: {a:?}");
            assert!(heads.is_empty(), "{t}");
            // A chunked body is counted as it comes.
            let chunked = "POST /small HTTP/1.1\r\nhost: a.test\r\ntransfer-encoding: chunked\r\n\r\n\
                           8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n";
            let (a, heads) = send(&b, proxy, transport, chunked).await;
            assert_eq!(a.status, 413, "{t}: {a:?}");
            assert!(heads.is_empty(), "{t}: {heads:?}");

            let (a, _) = send(&b, proxy, transport, &get("/none", "")).await;
            assert_eq!(a.status, 503, "{t}");
            assert_eq!(a.header("content-type"), Some("text/html; charset=utf-8"));
            let id = a.header("x-request-id").unwrap();
            assert_eq!(a.body, format!("<h1>Soon</h1><!-- {id} -->"), "{t}");
        }
        let (a, _) = send_h2(&b, proxy, &H2Request::get("/old/z")).await;
        assert_eq!((a.status, a.header("location")), (301, Some("/new/z")));
        let (_, heads) = send_h2(&b, proxy, &H2Request::get("/api/h2")).await;
        assert!(heads[0].starts_with("GET /h2 HTTP/1.1"), "{}", heads[0]);
        let mut req = H2Request::get("/small");
        req.method = "POST";
        req.body = b"0123456789abc".to_vec();
        let (a, heads) = send_h2(&b, proxy, &req).await;
        assert_eq!(a.status, 413, "a body without a length over HTTP/2: {a:?}");
        assert!(heads.is_empty());
    }
    b.redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_502_from_the_fast_path_uses_the_zones_page() {
    let redis = TestRedis::new().await.unwrap();
    let proxy = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let refused = Upstream::refusing();
    let v = put_zones(
        &redis.store(),
        &[zone_json(
            "down.test",
            serde_json::json!([{"zone_id": "d", "upstreams": [{"url": format!("http://{refused}")}],
                "policies": {"error_pages": {"502": {"content_type": "text/plain", "body": "down, id {request_id}"}}}}]),
        )],
    )
    .await;
    proxy.wait_for_version(v.version).await;
    let a = proxy.get("down.test", "/").await;
    assert_eq!(a.status, 502);
    let id = a.header("x-request-id").unwrap().to_owned();
    assert_eq!(a.body, format!("down, id {id}"));
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_proxy_keeps_its_snapshot_when_redis_holds_a_newer_format() {
    let redis = TestRedis::new().await.unwrap();
    let proxy = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let echo = Upstream::echo("old").await;
    let v = put_zones(&redis.store(), &[zone("kept.test", &[&echo.url()])]).await;
    proxy.wait_for_version(v.version).await;

    // What a newer writer leaves: the format raised past this build's, a new record
    // and its feed entry.
    let keys = redis.keys().clone();
    let client = redis.client();
    use fred::prelude::*;
    let _: () = client
        .set(keys.format(), "99", None, None, false)
        .await
        .unwrap();
    let new_zone = zone("new.test", &[&echo.url()]).to_json();
    let _: () = client
        .set(keys.zone("new.test"), new_zone, None, None, false)
        .await
        .unwrap();
    let _: () = client.sadd(keys.zone_index(), "new.test").await.unwrap();
    let next: u64 = client.incr(keys.version()).await.unwrap();
    let _: String = client
        .xadd(
            keys.changes(),
            false,
            None,
            "*",
            vec![
                ("v", next.to_string()),
                ("format", "99".to_owned()),
                ("zones", "[\"new.test\"]".to_owned()),
                ("certs", "[]".to_owned()),
            ],
        )
        .await
        .unwrap();

    eventually(
        Duration::from_secs(10),
        "the proxy reports the format",
        || async {
            let log = proxy.log_text();
            if log.contains("data format 99") {
                Ok(())
            } else {
                Err("no mention of data format 99 in the log yet".to_owned())
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(proxy.get("kept.test", "/").await.status, 200);
    assert_eq!(proxy.get("new.test", "/").await.status, 404);
    assert_eq!(proxy.status().await.unwrap()["version"], v.version);
    redis.cleanup().await.unwrap();
}

/// GET with an `X-Forwarded-For` header through `proxy`'s plain listener.
async fn get_forwarded(proxy: &Proxy, xff: Option<&str>) -> switchyard_tests::client::Response {
    use switchyard_tests::client::{Response, client, url};
    let mut req =
        client("trust.test", proxy.http)
            .build()
            .unwrap()
            .get(url("http", "trust.test", "/"));
    if let Some(xff) = xff {
        req = req.header("x-forwarded-for", xff);
    }
    Response::read(req.send().await.unwrap()).await.unwrap()
}

#[tokio::test]
async fn the_client_behind_a_trusted_proxy_is_named_by_x_forwarded_for() {
    let redis = TestRedis::new().await.unwrap();
    let echo = Upstream::echo("echo").await;
    let trusting = |fast: bool| {
        ProxyOptions::new(redis.url(), redis.prefix())
            .arg("--trusted-proxies=127.0.0.1,10.0.0.0/8")
            .arg(if fast {
                "--fast-path=true"
            } else {
                "--fast-path=false"
            })
    };
    let fast = trusting(true).start().await;
    let pingora = trusting(false).start().await;
    let untrusting = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let v = put_zones(
        &redis.store(),
        &[zone_json(
            "trust.test",
            serde_json::json!([{"zone_id": "t", "allow": ["203.0.113.0/24"],
                                "upstreams": [{"url": echo.url()}]}]),
        )],
    )
    .await;
    for p in [&fast, &pingora, &untrusting] {
        p.wait_for_version(v.version).await;
    }
    for proxy in [&fast, &pingora] {
        for (xff, want, real_ip) in [
            (Some("203.0.113.7"), 200, "203.0.113.7"),
            // A trusted hop on the way is walked past.
            (Some("203.0.113.7, 10.1.2.3"), 200, "203.0.113.7"),
            // What the client itself wrote (leftmost) is not believed.
            (Some("198.51.100.1, 203.0.113.8"), 200, "203.0.113.8"),
            (Some("198.51.100.1"), 403, ""),
            (Some("203.0.113.7, junk"), 403, ""),
            (None, 403, ""),
        ] {
            let a = get_forwarded(proxy, xff).await;
            assert_eq!(a.status, want, "{xff:?}: {}", a.body);
            if want == 200 {
                let seen = &a.json().unwrap()["headers"];
                assert_eq!(seen["x-real-ip"], real_ip, "{xff:?}");
                assert_eq!(
                    seen["x-forwarded-for"],
                    format!("{}, 127.0.0.1", xff.unwrap()),
                    "the peer is appended to the chain"
                );
            }
        }
    }
    // Without --trusted-proxies the header changes nothing.
    let a = get_forwarded(&untrusting, Some("203.0.113.7")).await;
    assert_eq!(a.status, 403);
    redis.cleanup().await.unwrap();
}

/// Match conditions (docs/routing.md): methods, headers, exact and pattern paths, query
/// parameters choose among routes of one host, by the documented precedence, alike on
/// every path; an allow-listed route stays shut to a method it matches whatever the
/// path's encoding.
#[tokio::test]
async fn match_conditions_choose_the_route_alike_on_every_path() {
    let b = bench(serde_json::json!([
        {"zone_id": "root", "upstreams": [{"url": "open"}]},
        {"zone_id": "writes", "match": {"methods": ["POST", "PUT"]}, "upstreams": [{"url": "admin"}]},
        {"zone_id": "beta", "match": {"headers": [{"name": "X-Beta", "equals": "1"}]}, "upstreams": [{"url": "admin"}]},
        {"zone_id": "health", "match": {"path_exact": "/health"}, "upstreams": [{"url": "admin"}]},
        {"zone_id": "versioned", "match": {"path_regex": "^/v[0-9]+/"}, "upstreams": [{"url": "admin"}]},
        {"zone_id": "debug", "match": {"query": [{"name": "debug", "equals": "on"}]}, "upstreams": [{"url": "admin"}]},
        {"zone_id": "api", "path_prefix": "/api", "allow": ["10.0.0.0/8"], "upstreams": [{"url": "admin"}]},
        {"zone_id": "api-reads", "path_prefix": "/api", "match": {"methods": ["GET"]}, "upstreams": [{"url": "open"}]}
    ]))
    .await;
    // (method, target, extra header lines, expected status, expected backend)
    let cases: &[(&str, &str, &str, u16, Option<&str>)] = &[
        ("GET", "/x", "", 200, Some("open")),
        ("POST", "/x", "content-length: 0\r\n", 200, Some("admin")),
        ("DELETE", "/x", "", 200, Some("open")),
        ("GET", "/x", "x-beta: 1\r\n", 200, Some("admin")),
        ("GET", "/x", "X-BETA:  1 \r\n", 200, Some("admin")),
        ("GET", "/x", "x-beta: 2\r\n", 200, Some("open")),
        ("GET", "/health", "", 200, Some("admin")),
        ("GET", "/./%68ealth", "", 200, Some("admin")),
        ("GET", "/health/x", "", 200, Some("open")),
        ("GET", "/v2/users", "", 200, Some("admin")),
        ("GET", "/v/users", "", 200, Some("open")),
        ("GET", "/x?debug=on", "", 200, Some("admin")),
        ("GET", "/x?a=1&debug=%6Fn", "", 200, Some("admin")),
        ("GET", "/x?debug=off", "", 200, Some("open")),
        // The longer prefix wins over conditions on a shorter one; at one prefix the
        // method set wins, and the allow-listed route keeps every other method.
        ("GET", "/api/x", "", 200, Some("open")),
        ("GET", "/%61pi//x", "", 200, Some("open")),
        ("POST", "/api/x", "content-length: 0\r\n", 403, None),
        ("POST", "/x/../api/x", "content-length: 0\r\n", 403, None),
        ("DELETE", "/api;v=1/x", "", 403, None),
    ];
    for proxy in [&b.fast, &b.pingora] {
        for transport in TRANSPORTS {
            for &(method, target, extra, status, backend) in cases {
                let what = format!(
                    "{method} {target} {extra:?} {transport:?} via port {}",
                    proxy.http
                );
                b.seen.lock().unwrap().clear();
                let mut conn = b.connect(proxy, transport).await;
                let request = format!("{method} {target} HTTP/1.1\r\nhost: a.test\r\n{extra}\r\n");
                conn.write_all(request.as_bytes()).await.unwrap();
                let a = read_answer(&mut conn).await;
                assert_eq!(a.status, status, "{what}: {a:?}");
                let seen: Vec<String> = std::mem::take(&mut *b.seen.lock().unwrap())
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect();
                assert_eq!(
                    seen,
                    backend.into_iter().map(str::to_owned).collect::<Vec<_>>(),
                    "{what}"
                );
            }
        }
        // HTTP/2 decides on the same facts.
        for (method, path, header, backend) in [
            ("GET", "/x", None, "open"),
            ("PUT", "/x", None, "admin"),
            ("GET", "/x", Some("1"), "admin"),
            ("GET", "/health", None, "admin"),
            ("GET", "/x?debug=on", None, "admin"),
            ("GET", "/api/x", None, "open"),
        ] {
            let mut req = H2Request::get(path);
            req.method = method;
            if let Some(v) = header {
                req.headers.push(("x-beta", v.to_owned()));
            }
            b.seen.lock().unwrap().clear();
            let mut conn = h2_connect(proxy.https(), &b.tls, "a.test").await;
            let a = h2_request(&mut conn, &req).await.expect("an HTTP/2 answer");
            assert_eq!(a.status, 200, "h2 {method} {path}");
            let seen: Vec<String> = std::mem::take(&mut *b.seen.lock().unwrap())
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            assert_eq!(seen, [backend], "h2 {method} {path} {header:?}");
        }
    }
    // The admin lookup answers with the same choice.
    let lookup = switchyard_tests::client::http_get(
        b.fast.admin,
        "admin",
        "/route?host=a.test&path=%2Fx&method=PUT",
    )
    .await
    .unwrap();
    assert_eq!(
        lookup.json().unwrap()["route"]["zone_id"],
        "writes",
        "{}",
        lookup.body
    );
    b.redis.cleanup().await.unwrap();
}

/// `max_header_bytes`: a head over the route's limit is answered 431 and never
/// forwarded, on every path; one under it passes. The measure is the head as HTTP/1.1
/// writes it, so HTTP/2 is held to the same number.
#[tokio::test]
async fn a_head_over_the_routes_limit_is_refused_with_431_on_every_path() {
    let b = bench(serde_json::json!([{
        "zone_id": "z", "upstreams": [{"url": "open"}],
        "policies": {"max_header_bytes": 2048}
    }]))
    .await;
    let big = "v".repeat(2100);
    let small = "v".repeat(1500);
    for proxy in [&b.fast, &b.pingora] {
        for transport in TRANSPORTS {
            let what = format!("{transport:?} via port {}", proxy.http);
            let (a, heads) = send(
                &b,
                proxy,
                transport,
                &get("/x", &format!("x-big: {big}\r\n")),
            )
            .await;
            assert_eq!(a.status, 431, "{what}: {a:?}");
            assert!(a.body.contains("at most 2048"), "{what}: {}", a.body);
            assert!(heads.is_empty(), "{what}: forwarded {heads:?}");
            let (a, heads) = send(
                &b,
                proxy,
                transport,
                &get("/x", &format!("x-small: {small}\r\n")),
            )
            .await;
            assert_eq!(a.status, 200, "{what}: {a:?}");
            assert_eq!(heads.len(), 1, "{what}");
        }
        let mut req = H2Request::get("/x");
        req.headers.push(("x-big", big.clone()));
        let (a, heads) = send_h2(&b, proxy, &req).await;
        assert_eq!(a.status, 431, "h2: {a:?}");
        assert!(heads.is_empty(), "h2: forwarded {heads:?}");
        let mut req = H2Request::get("/x");
        req.headers.push(("x-small", small.clone()));
        let (a, _) = send_h2(&b, proxy, &req).await;
        assert_eq!(a.status, 200, "h2: {a:?}");
    }
    b.redis.cleanup().await.unwrap();
}

/// Sends `n` requests one after another on one keep-alive connection; how many answers
/// came from each backend (by body), and every other status seen.
async fn tally(
    b: &Bench,
    proxy: &Proxy,
    transport: Transport,
    n: usize,
    extra: &str,
) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    let mut conn = b.connect(proxy, transport).await;
    let request = get("/s", extra);
    for _ in 0..n {
        conn.write_all(request.as_bytes()).await.unwrap();
        let a = read_answer(&mut conn).await;
        let key = if a.status == 200 {
            a.body
        } else {
            format!("status {}", a.status)
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    b.seen.lock().unwrap().clear();
    counts
}

/// `count` of `n` draws with probability `p` lies within four standard deviations.
fn within_binomial(count: usize, n: usize, p: f64) -> bool {
    let mean = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    (count as f64 - mean).abs() <= 4.0 * sigma
}

/// A 90/10 split: "stable" is the route's own upstream ("open"), "canary" its own
/// ("admin").
fn split_route(sticky: serde_json::Value) -> serde_json::Value {
    let mut split = serde_json::json!({
        "groups": [
            {"name": "stable", "weight": 90},
            {"name": "canary", "weight": 10, "upstreams": [{"url": "admin"}]}
        ],
        "force": {"header": "x-canary-cohort", "cookie": "force_cohort"}
    });
    if !sticky.is_null() {
        split["sticky"] = sticky;
    }
    serde_json::json!([{"zone_id": "z", "upstreams": [{"url": "open"}],
        "policies": {"split": split}}])
}

#[tokio::test]
async fn a_split_divides_traffic_by_weight_on_every_path() {
    let b = bench(split_route(serde_json::Value::Null)).await;
    // The fast path over plain HTTP: 10,000 requests, 90/10 within 4σ.
    let n = 10_000;
    let counts = tally(&b, &b.fast, Transport::Plain, n, "").await;
    let canary = counts.get("admin").copied().unwrap_or(0);
    assert_eq!(
        canary + counts.get("open").copied().unwrap_or(0),
        n,
        "{counts:?}"
    );
    assert!(within_binomial(canary, n, 0.1), "{counts:?}");
    // Pingora's path (plain and TLS) and HTTP/2 on both: fewer, the same rule.
    for transport in TRANSPORTS {
        let n = 1000;
        let counts = tally(&b, &b.pingora, transport, n, "").await;
        let canary = counts.get("admin").copied().unwrap_or(0);
        assert_eq!(
            canary + counts.get("open").copied().unwrap_or(0),
            n,
            "{transport:?}: {counts:?}"
        );
        assert!(within_binomial(canary, n, 0.1), "{transport:?}: {counts:?}");
    }
    for proxy in [&b.fast, &b.pingora] {
        let mut seen = std::collections::BTreeMap::new();
        for _ in 0..200 {
            let (a, _) = send_h2(&b, proxy, &H2Request::get("/s")).await;
            assert_eq!(a.status, 200, "{a:?}");
            *seen.entry(a.body).or_insert(0) += 1;
        }
        assert!(
            within_binomial(seen.get("admin").copied().unwrap_or(0), 200, 0.1),
            "{seen:?}"
        );
    }
    // The access line names the group.
    for proxy in [&b.fast, &b.pingora] {
        eventually(
            Duration::from_secs(10),
            "the access line names the group",
            || async {
                let log = proxy.log_text();
                (log.contains("\"group\":\"canary\"") && log.contains("\"group\":\"stable\""))
                    .then_some(())
                    .ok_or_else(|| "no access line with the group yet".to_owned())
            },
        )
        .await
        .unwrap();
    }
    b.redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_sticky_header_keeps_a_user_on_one_group_and_a_forced_cohort_wins() {
    let b = bench(split_route(
        serde_json::json!({"kind": "header", "name": "x-user-id"}),
    ))
    .await;
    let mut canary_users = 0;
    for user in 0..200 {
        let extra = format!("x-user-id: user-{user}\r\n");
        // Every proxy, every path puts the user in the same group, every time.
        let first = tally(&b, &b.fast, Transport::Plain, 3, &extra).await;
        assert_eq!(first.len(), 1, "user-{user}: {first:?}");
        let group = first.keys().next().unwrap().clone();
        let again = tally(&b, &b.pingora, Transport::Tls, 2, &extra).await;
        assert_eq!(
            again.keys().collect::<Vec<_>>(),
            [&group],
            "user-{user} on Pingora's path"
        );
        if user % 20 == 0 {
            let mut req = H2Request::get("/s");
            req.headers.push(("x-user-id", format!("user-{user}")));
            for proxy in [&b.fast, &b.pingora] {
                let (a, _) = send_h2(&b, proxy, &req).await;
                assert_eq!(a.body, group, "user-{user} over HTTP/2");
            }
        }
        canary_users += usize::from(group == "admin");
    }
    assert!(
        within_binomial(canary_users, 200, 0.1),
        "{canary_users} of 200"
    );

    // A forced cohort wins over the sticky header; an unknown name is ignored.
    let stable_user = (0..200)
        .map(|u| format!("user-{u}"))
        .find(|u| {
            // The same hash the proxy uses: SHA-256's first 8 bytes, modulo 100.
            use sha2::Digest;
            let d = sha2::Sha256::digest(u.as_bytes());
            u64::from_be_bytes(d[..8].try_into().unwrap()) % 100 < 90
        })
        .unwrap();
    let plain = format!("x-user-id: {stable_user}\r\n");
    let counts = tally(&b, &b.fast, Transport::Plain, 2, &plain).await;
    assert_eq!(counts.keys().collect::<Vec<_>>(), ["open"], "{counts:?}");
    for (extra, expected) in [
        ("x-canary-cohort: canary\r\n", "admin"),
        ("x-canary-cohort: Canary\r\n", "admin"),
        ("cookie: a=1; force_cohort=canary\r\n", "admin"),
        ("x-canary-cohort: nope\r\n", "open"),
    ] {
        let extra = format!("{plain}{extra}");
        for proxy in [&b.fast, &b.pingora] {
            let counts = tally(&b, proxy, Transport::Plain, 5, &extra).await;
            assert_eq!(
                counts.keys().collect::<Vec<_>>(),
                [expected],
                "{extra:?}: {counts:?}"
            );
        }
    }
    b.redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_sticky_cookie_is_set_on_the_first_answer_and_keeps_the_user() {
    let b = bench(split_route(
        serde_json::json!({"kind": "cookie", "name": "sy_cohort", "max_age_secs": 600}),
    ))
    .await;
    let backend = |group: &str| if group == "canary" { "admin" } else { "open" };
    for proxy in [&b.fast, &b.pingora] {
        for transport in TRANSPORTS {
            let what = format!("{transport:?} via port {}", proxy.http);
            let secure = if matches!(transport, Transport::Tls) {
                "; Secure"
            } else {
                ""
            };
            // Without the cookie: a group is drawn and the answer sets the cookie to it.
            let mut groups = std::collections::BTreeSet::new();
            for _ in 0..40 {
                let (a, _) = send(&b, proxy, transport, &get("/s", "")).await;
                assert_eq!(a.status, 200, "{what}");
                let cookie = a.header("set-cookie").expect("a sticky cookie").to_owned();
                let group = cookie
                    .strip_prefix("sy_cohort=")
                    .and_then(|c| c.split(';').next())
                    .unwrap()
                    .to_owned();
                assert_eq!(
                    cookie,
                    format!(
                        "sy_cohort={group}; Path=/; Max-Age=600; HttpOnly; SameSite=Lax{secure}"
                    ),
                    "{what}"
                );
                assert_eq!(
                    a.body,
                    backend(&group),
                    "{what}: served by the group it names"
                );
                groups.insert(group);
            }
            assert!(groups.contains("stable"), "{what}: {groups:?}");
            // With it: the same group every time, and no new cookie.
            for group in ["stable", "canary"] {
                for _ in 0..10 {
                    let extra = format!("cookie: x=1; sy_cohort={group}\r\n");
                    let (a, _) = send(&b, proxy, transport, &get("/s", &extra)).await;
                    assert_eq!(a.body, backend(group), "{what}");
                    assert_eq!(a.header("set-cookie"), None, "{what}");
                }
            }
            // A cookie naming no group is replaced.
            let (a, _) = send(
                &b,
                proxy,
                transport,
                &get("/s", "cookie: sy_cohort=gone\r\n"),
            )
            .await;
            assert!(a.header("set-cookie").is_some(), "{what}");
            // A forced cohort wins over the cookie and does not replace it.
            let extra = "cookie: sy_cohort=stable\r\nx-canary-cohort: canary\r\n";
            let (a, _) = send(&b, proxy, transport, &get("/s", extra)).await;
            assert_eq!(a.body, "admin", "{what}");
            assert_eq!(a.header("set-cookie"), None, "{what}");
        }
        // HTTP/2: the cookie is set (Secure) and read alike.
        let (a, _) = send_h2(&b, proxy, &H2Request::get("/s")).await;
        let cookie = a.header("set-cookie").expect("a sticky cookie over HTTP/2");
        assert!(
            cookie.ends_with("; HttpOnly; SameSite=Lax; Secure"),
            "{cookie}"
        );
        let mut req = H2Request::get("/s");
        req.headers.push(("cookie", "sy_cohort=canary".into()));
        let (a, _) = send_h2(&b, proxy, &req).await;
        assert_eq!((a.body.as_str(), a.header("set-cookie")), ("admin", None));
    }
    b.redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_groups_users_stay_in_it_when_its_upstreams_fail() {
    let refusing = Upstream::refusing();
    // The stable group's route upstream is "open"; canary has a refusing upstream and
    // a working one; "dark" has only a refusing one.
    let routes = split_route(serde_json::Value::Null).to_string();
    let mut routes: serde_json::Value = serde_json::from_str(&routes).unwrap();
    let split = &mut routes[0]["policies"]["split"];
    split["groups"][1]["upstreams"] = serde_json::json!([
        {"url": format!("http://{refusing}")}, {"url": "admin"}
    ]);
    split["groups"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "dark", "weight": 0,
            "upstreams": [{"url": format!("http://{refusing}")}]}));
    // No active checks: the refusing upstream is only found out by connecting to it,
    // so requests do meet it and are retried.
    let b = bench_with(routes, &["--health-check-ms=0"]).await;
    // Connection failures are retried within the group (never in another): canary
    // answers from "admin".
    for proxy in [&b.fast, &b.pingora] {
        for transport in TRANSPORTS {
            let counts = tally(&b, proxy, transport, 20, "x-canary-cohort: canary\r\n").await;
            assert_eq!(
                counts.keys().collect::<Vec<_>>(),
                ["admin"],
                "{transport:?}: {counts:?}"
            );
        }
    }
    // A group whose every upstream is down answers as a route whose upstreams are all
    // down (502 while it is tried, then 503 naming the group); its users are never
    // moved to another group, and the other groups are unaffected.
    for proxy in [&b.fast, &b.pingora] {
        // Passive health: after three refused connections it is ejected.
        eventually(
            Duration::from_secs(10),
            "the dark group is marked down",
            || async {
                let (a, heads) = send(
                    &b,
                    proxy,
                    Transport::Plain,
                    &get("/s", "x-canary-cohort: dark\r\n"),
                )
                .await;
                if !heads.is_empty() {
                    return Err(format!("a dark request reached a backend: {heads:?}"));
                }
                match a.status {
                    503 if a
                        .body
                        .contains("every upstream of this host's group \"dark\" is down") =>
                    {
                        Ok(())
                    }
                    502 | 503 => Err(format!("{} {}", a.status, a.body)),
                    other => panic!("a dark request got {other}: {a:?}"),
                }
            },
        )
        .await
        .unwrap();
        let counts = tally(&b, proxy, Transport::Plain, 200, "").await;
        assert_eq!(counts.values().sum::<usize>(), 200, "{counts:?}");
        assert!(
            counts.keys().all(|k| k == "open" || k == "admin"),
            "{counts:?}"
        );
    }
    b.redis.cleanup().await.unwrap();
}

/// The sum of every fleet rate-limit count this test's proxies wrote to Redis.
async fn fleet_total(redis: &TestRedis) -> u64 {
    use fred::interfaces::KeysInterface as _;
    let mut total = 0;
    let mut cursor = "0".to_owned();
    loop {
        let (next, keys): (String, Vec<String>) = redis
            .client()
            .scan_page(
                cursor,
                format!("{}ratelimit:*", redis.prefix()),
                Some(1000),
                None,
            )
            .await
            .unwrap();
        for key in keys {
            let n: Option<u64> = redis.client().get(&key).await.unwrap();
            total += n.unwrap_or(0);
        }
        if next == "0" {
            return total;
        }
        cursor = next;
    }
}

#[tokio::test]
async fn a_fleet_rate_limit_is_shared_through_redis_and_falls_back_to_the_local_one() {
    let redis = TestRedis::new().await.unwrap();
    let echo = Upstream::echo("echo").await;
    // Proxy C reaches Redis through a relay the test cuts.
    let mut relay =
        switchyard_tests::relay::Relay::start(redis.url().trim_start_matches("redis://"))
            .await
            .unwrap();
    let relayed_url = format!("redis://{}", relay.addr());
    let a = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let b = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let c = ProxyOptions::new(&relayed_url, redis.prefix())
        .start()
        .await;
    // Counts are per fixed window of an hour: start well inside one.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if 3600 - now % 3600 < 60 {
        tokio::time::sleep(Duration::from_secs(3600 - now % 3600 + 1)).await;
    }
    let v = put_zones(
        &redis.store(),
        &[zone_json(
            "fleet.test",
            serde_json::json!([{
                "zone_id": "fleet", "upstreams": [{"url": echo.url()}],
                "policies": {"rate_limit": {"requests": 10, "per_secs": 3600, "scope": "fleet"}}
            }]),
        )],
    )
    .await;
    for p in [&a, &b, &c] {
        p.wait_for_version(v.version).await;
    }
    let status = |p: &Proxy| {
        let http = p.http;
        async move {
            switchyard_tests::client::http_get(http, "fleet.test", "/")
                .await
                .unwrap()
                .status
                .as_u16()
        }
    };
    let synced = |want: u64| {
        let redis = &redis;
        async move {
            eventually(
                Duration::from_secs(10),
                &format!("Redis counts {want} requests"),
                || async move {
                    match fleet_total(redis).await {
                        n if n == want => Ok(()),
                        n => Err(format!("{n} counted")),
                    }
                },
            )
            .await
            .unwrap();
        }
    };
    // Six through A (each proxy alone would allow ten).
    for _ in 0..6 {
        assert_eq!(status(&a).await, 200);
    }
    synced(6).await;
    // B, one request at a time, each counted before the next: four more, then 429.
    for n in 1..=4 {
        assert_eq!(status(&b).await, 200, "request {n} through B");
        synced(6 + n).await;
    }
    let refused = switchyard_tests::client::http_get(b.http, "fleet.test", "/")
        .await
        .unwrap();
    assert_eq!(refused.status, 429, "the fleet's ten are used up");
    assert!(refused.header("retry-after").is_some());
    // C sees the fleet's count once it has counted its own first request.
    assert_eq!(status(&c).await, 200);
    synced(11).await;
    assert_eq!(status(&c).await, 429);
    // Without Redis, C applies its own limit alone: its bucket of ten has nine left
    // (the requests the fleet refused did not use it).
    relay.cut().await;
    eventually(
        Duration::from_secs(10),
        "C falls back to its local limit",
        || {
            let c = &c;
            async move {
                match status(c).await {
                    200 => Ok(()),
                    s => Err(format!("answered {s}")),
                }
            }
        },
    )
    .await
    .unwrap();
    let mut more = 1;
    while status(&c).await == 200 {
        more += 1;
        assert!(more <= 9, "C's local limit allows nine more");
    }
    assert_eq!(more, 9);
}
