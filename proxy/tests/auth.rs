//! Access-control policies that ask more than a password, end to end on the real binary:
//! `jwt` (a public key, a JWK set served by a local server that rotates its keys and goes
//! down) and `forward_auth` (a local authorisation service that allows, refuses,
//! redirects or is not there). Each on the fast path's proxy and on Pingora's, over plain
//! HTTP/1, TLS and HTTP/2, which must answer alike.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use support::raw::{
    Answer, Bench, H2Request, Seen, TRANSPORTS, Transport, bench, h2_connect, h2_request,
    read_answer, recorder, served_cert,
};
use support::{Proxy, ProxyOptions, put_certs, put_zones, zone_json};
use switchyard_tests::eventually::eventually;
use switchyard_tests::redis::TestRedis;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// An ES256 key pair: the signing key, its public PEM and its JWK (with `kid`).
struct Signer {
    encoding: EncodingKey,
    public_pem: String,
    kid: String,
    jwk: serde_json::Value,
}

fn signer(kid: &str) -> Signer {
    let pair = rcgen::KeyPair::generate().unwrap();
    let raw = pair.public_key_raw();
    assert_eq!(raw.len(), 65, "an uncompressed P-256 point");
    Signer {
        encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
        public_pem: pair.public_key_pem(),
        kid: kid.to_owned(),
        jwk: serde_json::json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": B64.encode(&raw[1..33]), "y": B64.encode(&raw[33..]),
        }),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Good claims: issuer `https://idp.test`, audience `api`, an hour to live.
fn claims() -> serde_json::Value {
    serde_json::json!({"sub": "alice", "iss": "https://idp.test", "aud": "api",
                       "exp": now() + 3600, "roles": ["a", "b"]})
}

fn token(s: &Signer, claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(s.kid.clone());
    jsonwebtoken::encode(&header, claims, &s.encoding).unwrap()
}

/// Sends `request` over HTTP/1.1 on a fresh connection; the answer and the heads the
/// recording backends got.
async fn send(
    b: &Bench,
    proxy: &Proxy,
    transport: Transport,
    request: &str,
) -> (Answer, Vec<String>) {
    send_to(&b.seen, &b.tls, proxy, transport, request).await
}

async fn send_to(
    seen: &Seen,
    tls: &Arc<tokio_rustls::rustls::ClientConfig>,
    proxy: &Proxy,
    transport: Transport,
    request: &str,
) -> (Answer, Vec<String>) {
    seen.lock().unwrap().clear();
    let mut conn: Box<dyn support::raw::Io> = match transport {
        Transport::Plain => Box::new(tokio::net::TcpStream::connect(proxy.http).await.unwrap()),
        Transport::Tls => {
            let tcp = tokio::net::TcpStream::connect(proxy.https()).await.unwrap();
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from("a.test").unwrap();
            Box::new(
                tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .unwrap(),
            )
        }
    };
    conn.write_all(request.as_bytes()).await.unwrap();
    let answer = read_answer(&mut conn).await;
    let heads = std::mem::take(&mut *seen.lock().unwrap())
        .into_iter()
        .map(|(_, h)| h)
        .collect();
    (answer, heads)
}

/// The same over HTTP/2 (TLS, ALPN h2).
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

fn headers_of(head: &str, name: &str) -> Vec<String> {
    head.lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
        .collect()
}

/// A tiny HTTP/1.1 server answering each request (head as text) with `answer`'s
/// result, then closing the connection; aborting the handle takes it down (new
/// connections are refused).
async fn tiny_server(
    answer: impl Fn(&str) -> String + Send + Sync + 'static,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut chunk = [0u8; 4096];
                    match conn.read(&mut chunk).await {
                        Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
                let text = answer(&String::from_utf8_lossy(&buf));
                let _ = conn.write_all(text.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), task)
}

fn http_answer(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}

fn jwt_routes(policy: serde_json::Value) -> serde_json::Value {
    serde_json::json!([{"zone_id": "z", "upstreams": [{"url": "open"}], "policies": {"jwt": policy}}])
}

#[tokio::test]
async fn jwt_lets_valid_tokens_through_with_their_claims_and_nothing_else() {
    let key = signer("k1");
    let other = signer("k1");
    let b = bench(jwt_routes(serde_json::json!({
        "algorithms": ["ES256"], "public_key_pem": key.public_pem,
        "issuer": "https://idp.test", "audiences": ["api"],
        "claims_to_headers": {"sub": "x-user", "roles": "x-roles"}
    })))
    .await;
    let good = token(&key, &claims());
    let mut expired = claims();
    expired["exp"] = (now() - 3600).into();
    let mut wrong_iss = claims();
    wrong_iss["iss"] = "https://evil.test".into();
    let mut wrong_aud = claims();
    wrong_aud["aud"] = "other".into();
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(key.public_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let refused = [
        ("expired", Some(token(&key, &expired))),
        ("wrong issuer", Some(token(&key, &wrong_iss))),
        ("wrong audience", Some(token(&key, &wrong_aud))),
        ("wrong algorithm", Some(hs)),
        ("bad signature", Some(token(&other, &claims()))),
        ("garbage", Some("not.a.token".to_owned())),
        ("missing", None),
    ];
    for proxy in [&b.fast, &b.pingora] {
        for transport in TRANSPORTS {
            let what = format!("{transport:?} via {}", proxy.http);
            let request = get(
                "/",
                &format!("authorization: Bearer {good}\r\nx-user: mallory\r\nX-User: eve\r\n"),
            );
            let (a, heads) = send(&b, proxy, transport, &request).await;
            assert_eq!(a.status, 200, "{what}: {a:?}");
            assert_eq!(
                headers_of(&heads[0], "x-user"),
                ["alice"],
                "{what}: spoofed claim header kept: {}",
                heads[0]
            );
            assert_eq!(headers_of(&heads[0], "x-roles"), ["a, b"], "{what}");
            for (case, token) in &refused {
                let extra = token
                    .as_ref()
                    .map(|t| format!("authorization: Bearer {t}\r\n"))
                    .unwrap_or_default();
                let (a, heads) = send(&b, proxy, transport, &get("/", &extra)).await;
                assert_eq!(a.status, 401, "{what} {case}: {a:?}");
                assert!(
                    heads.is_empty(),
                    "{what} {case}: a refused request reached the backend"
                );
                let want = if token.is_some() {
                    "Bearer realm=\"api\", error=\"invalid_token\""
                } else {
                    "Bearer realm=\"api\""
                };
                assert_eq!(a.header("www-authenticate"), Some(want), "{what} {case}");
                assert!(a.body.contains("request id: "), "{}", a.body);
            }
        }
        let mut req = H2Request::get("/");
        req.headers
            .push(("authorization", format!("Bearer {good}")));
        req.headers.push(("x-user", "mallory".into()));
        let (a, heads) = send_h2(&b, proxy, &req).await;
        assert_eq!(a.status, 200, "h2: {a:?}");
        assert_eq!(
            headers_of(&heads[0], "x-user"),
            ["alice"],
            "h2: {}",
            heads[0]
        );
        let mut req = H2Request::get("/");
        req.headers
            .push(("authorization", format!("Bearer {}", token(&key, &expired))));
        let (a, heads) = send_h2(&b, proxy, &req).await;
        assert_eq!(a.status, 401, "h2 expired: {a:?}");
        assert!(heads.is_empty());
        assert_eq!(
            a.header("www-authenticate"),
            Some("Bearer realm=\"api\", error=\"invalid_token\"")
        );
    }
    b.redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn jwks_rotation_is_picked_up_and_a_key_server_outage_keeps_the_last_keys() {
    let first = signer("k1");
    let second = signer("k2");
    let third = signer("k3");
    let served = Arc::new(Mutex::new(
        serde_json::json!({"keys": [first.jwk]}).to_string(),
    ));
    let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (url, server) = {
        let served = served.clone();
        let fetches = fetches.clone();
        tiny_server(move |_| {
            fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            http_answer(
                "200 OK",
                &[("content-type", "application/json")],
                &served.lock().unwrap(),
            )
        })
        .await
    };
    let redis = TestRedis::new().await.unwrap();
    let seen: Seen = Arc::default();
    let open = recorder("open", seen.clone()).await;
    let start = |extra: &[&str]| {
        let mut o = ProxyOptions::new(redis.url(), redis.prefix()).arg("--jwks-min-refresh-ms=200");
        for e in extra {
            o = o.arg(e);
        }
        o.start()
    };
    let fast = start(&[]).await;
    let pingora = start(&["--fast-path=false"]).await;
    let zone = zone_json(
        "a.test",
        serde_json::json!([{"zone_id": "z", "upstreams": [{"url": open}], "policies": {"jwt": {
            "algorithms": ["ES256"], "jwks_url": format!("{url}/keys"),
            "claims_to_headers": {"sub": "x-user"}}}}]),
    );
    put_zones(&redis.store(), &[zone]).await;
    let (record, tls) = served_cert("a.test");
    let v = put_certs(&redis.store(), &[record]).await;
    fast.wait_for_version(v.version).await;
    pingora.wait_for_version(v.version).await;

    // Shared with the closures' futures; dropped (and the processes stopped) at the end.
    let fast = Arc::new(fast);
    let pingora = Arc::new(pingora);
    let status_of = |proxy: Arc<Proxy>, transport: Transport, t: String| {
        let seen = seen.clone();
        let tls = tls.clone();
        async move {
            let (a, _) = send_to(
                &seen,
                &tls,
                &proxy,
                transport,
                &get("/", &format!("authorization: Bearer {t}\r\n")),
            )
            .await;
            a.status
        }
    };
    for proxy in [&fast, &pingora] {
        // The first fetch happens in the background: poll until the key is there.
        eventually(Duration::from_secs(10), "the JWK set's key is used", || {
            let t = token(&first, &claims());
            let proxy = Arc::clone(proxy);
            async move {
                match status_of(proxy, Transport::Plain, t).await {
                    200 => Ok(()),
                    s => Err(format!("status {s}")),
                }
            }
        })
        .await
        .unwrap();
    }
    // Rotation: the server now publishes k2 as well; a token with the new kid is
    // refused at first (never waiting for a fetch), then passes once it triggered one.
    *served.lock().unwrap() = serde_json::json!({"keys": [first.jwk, second.jwk]}).to_string();
    for proxy in [&fast, &pingora] {
        for transport in TRANSPORTS {
            eventually(
                Duration::from_secs(10),
                "a rotated key is picked up",
                || {
                    let t = token(&second, &claims());
                    let proxy = Arc::clone(proxy);
                    async move {
                        match status_of(proxy, transport, t).await {
                            200 => Ok(()),
                            s => Err(format!("status {s}")),
                        }
                    }
                },
            )
            .await
            .unwrap();
        }
    }
    // The key server goes away: tokens of a key it never published (k3) ask for fetches
    // that fail, and the keys already known keep working.
    server.abort();
    let before = fetches.load(std::sync::atomic::Ordering::SeqCst);
    for proxy in [&fast, &pingora] {
        eventually(Duration::from_secs(10), "a failed fetch is logged", || {
            let t = token(&third, &claims());
            let proxy = Arc::clone(proxy);
            async move {
                assert_eq!(
                    status_of(Arc::clone(&proxy), Transport::Plain, t).await,
                    401
                );
                if proxy.log_text().contains("JWK set fetch failed") {
                    Ok(())
                } else {
                    Err("no failed fetch logged".to_owned())
                }
            }
        })
        .await
        .unwrap();
        for transport in TRANSPORTS {
            assert_eq!(
                status_of(Arc::clone(proxy), transport, token(&first, &claims())).await,
                200
            );
            assert_eq!(
                status_of(Arc::clone(proxy), transport, token(&second, &claims())).await,
                200
            );
        }
    }
    assert_eq!(
        fetches.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "the server is down"
    );
    redis.cleanup().await.unwrap();
}

/// What the authorisation service saw: request heads.
type AuthSeen = Arc<Mutex<Vec<String>>>;

/// An authorisation service deciding by the client's `x-auth` header (sent to it as a
/// configured request header): `allow`, `deny`, `login`, `broken`.
async fn auth_service(seen: AuthSeen) -> String {
    let (url, task) = tiny_server(move |head| {
        seen.lock().unwrap().push(head.to_owned());
        let said = headers_of(head, "x-auth")
            .first()
            .cloned()
            .unwrap_or_default();
        match said.as_str() {
            "allow" => http_answer("200 OK", &[("x-auth-user", "bob"), ("x-other", "no")], ""),
            "login" => http_answer(
                "302 Found",
                &[
                    ("location", "https://sso.test/login?rd=x"),
                    ("set-cookie", "a=1"),
                    ("set-cookie", "b=2"),
                ],
                "",
            ),
            "broken" => http_answer("500 Internal Server Error", &[], "oops"),
            _ => http_answer(
                "401 Unauthorized",
                &[
                    ("www-authenticate", "Bearer realm=\"sso\""),
                    ("content-type", "text/plain"),
                ],
                "who are you?",
            ),
        }
    })
    .await;
    // The server lives as long as the test process.
    std::mem::forget(task);
    format!("{url}/check")
}

#[tokio::test]
async fn forward_auth_allows_refuses_redirects_and_fails_closed() {
    let auth_seen: AuthSeen = Arc::default();
    let auth = auth_service(auth_seen.clone()).await;
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/check", l.local_addr().unwrap())
    };
    let b = bench(serde_json::json!([
        {"zone_id": "z", "path_prefix": "/down", "upstreams": [{"url": "open"}],
         "policies": {"forward_auth": {"url": down, "timeout_ms": 2000}}},
        {"zone_id": "z", "upstreams": [{"url": "open"}],
         "policies": {"forward_auth": {"url": auth, "request_headers": ["x-auth", "cookie"],
                                       "response_headers": ["x-auth-user"]}}}
    ]))
    .await;
    for proxy in [&b.fast, &b.pingora] {
        for transport in TRANSPORTS {
            let what = format!("{transport:?} via {}", proxy.http);
            let scheme = match transport {
                Transport::Plain => "http",
                Transport::Tls => "https",
            };
            auth_seen.lock().unwrap().clear();
            let (a, heads) = send(&b, proxy, transport,
                &get("/app?q=1", "x-auth: allow\r\nx-auth-user: mallory\r\ncookie: s=1\r\nauthorization: Basic eA==\r\n")).await;
            assert_eq!(a.status, 200, "{what}: {a:?}");
            assert_eq!(
                headers_of(&heads[0], "x-auth-user"),
                ["bob"],
                "{what}: {}",
                heads[0]
            );
            assert!(
                headers_of(&heads[0], "x-other").is_empty(),
                "{what}: only named headers are copied"
            );
            let asked = auth_seen.lock().unwrap().clone();
            assert_eq!(asked.len(), 1, "{what}: one sub-request");
            let asked = &asked[0];
            assert!(asked.starts_with("GET /check HTTP/1.1"), "{asked}");
            for (name, want) in [
                ("x-forwarded-method", "GET"),
                ("x-forwarded-proto", scheme),
                ("x-forwarded-host", "a.test"),
                ("x-forwarded-uri", "/app?q=1"),
                ("x-forwarded-for", "127.0.0.1"),
                ("x-auth", "allow"),
                ("cookie", "s=1"),
            ] {
                assert_eq!(headers_of(asked, name), [want], "{what}: {name} in {asked}");
            }
            assert!(
                headers_of(asked, "authorization").is_empty(),
                "{what}: unnamed headers stay"
            );

            let (a, heads) = send(&b, proxy, transport, &get("/", "x-auth: deny\r\n")).await;
            assert_eq!(a.status, 401, "{what}: {a:?}");
            assert!(heads.is_empty(), "{what}: refused, yet forwarded");
            assert_eq!(a.header("www-authenticate"), Some("Bearer realm=\"sso\""));
            assert_eq!(a.body, "who are you?");
            assert!(a.header("x-request-id").is_some());

            let (a, heads) = send(&b, proxy, transport, &get("/", "x-auth: login\r\n")).await;
            assert_eq!(a.status, 302, "{what}: {a:?}");
            assert!(heads.is_empty());
            assert_eq!(a.header("location"), Some("https://sso.test/login?rd=x"));
            assert_eq!(a.all("set-cookie"), ["a=1", "b=2"]);

            let (a, heads) = send(&b, proxy, transport, &get("/", "x-auth: broken\r\n")).await;
            assert_eq!(
                a.status, 503,
                "{what}: a 5xx of the service fails closed: {a:?}"
            );
            assert!(heads.is_empty());

            let (a, heads) = send(&b, proxy, transport, &get("/down/x", "")).await;
            assert_eq!(
                a.status, 503,
                "{what}: an unreachable service fails closed: {a:?}"
            );
            assert!(heads.is_empty());
            assert!(a.body.contains("authorisation service"), "{}", a.body);

            let body = "x".repeat(100_000);
            let post = format!(
                "POST /upload HTTP/1.1\r\nhost: a.test\r\nx-auth: allow\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let (a, heads) = send(&b, proxy, transport, &post).await;
            assert_eq!(a.status, 200, "{what}: POST {a:?}");
            assert_eq!(
                headers_of(&heads[0], "content-length"),
                ["100000"],
                "{what}"
            );
            assert_eq!(headers_of(&heads[0], "x-auth-user"), ["bob"]);
            let (a, heads) = send(
                &b,
                proxy,
                transport,
                &post.replace("x-auth: allow", "x-auth: deny"),
            )
            .await;
            assert_eq!(a.status, 401, "{what}: {a:?}");
            assert!(heads.is_empty());
        }
        let mut req = H2Request::get("/h2");
        req.headers.push(("x-auth", "allow".into()));
        req.headers.push(("x-auth-user", "mallory".into()));
        let (a, heads) = send_h2(&b, proxy, &req).await;
        assert_eq!(a.status, 200, "h2: {a:?}");
        assert_eq!(headers_of(&heads[0], "x-auth-user"), ["bob"]);
        let mut req = H2Request::get("/h2");
        req.method = "POST";
        req.body = b"hello".to_vec();
        req.headers.push(("x-auth", "allow".into()));
        req.headers.push(("content-length", "5".into()));
        let (a, heads) = send_h2(&b, proxy, &req).await;
        assert_eq!(a.status, 200, "h2 POST: {a:?}");
        assert_eq!(headers_of(&heads[0], "content-length"), ["5"]);
        let mut req = H2Request::get("/h2");
        req.headers.push(("x-auth", "login".into()));
        let (a, heads) = send_h2(&b, proxy, &req).await;
        assert_eq!(a.status, 302, "h2: {a:?}");
        assert!(heads.is_empty());
        assert_eq!(a.header("location"), Some("https://sso.test/login?rd=x"));
        let (a, heads) = send_h2(&b, proxy, &H2Request::get("/down")).await;
        assert_eq!(a.status, 503, "h2: {a:?}");
        assert!(heads.is_empty());
    }
    b.redis.cleanup().await.unwrap();
}
