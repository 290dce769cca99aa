//! Routing rules cannot be walked past with path encodings, on either request path.
//!
//! Zone `a.test` has an `/admin` route allow-listed to 10.0.0.0/8 and an open `/` route;
//! the tests run from 127.0.0.1, so every way of spelling `/admin` must be refused (403,
//! or 400 for a target the proxy does not accept) and reach no backend. Each request is
//! sent raw on a fresh connection to two proxies on the same Redis: one with the HTTP/1
//! fast path (the default) and one with `--fast-path=false` (Pingora's path only), and a
//! recording backend behind each route shows exactly what arrived. Everything is sent
//! over plain HTTP and again over TLS (HTTP/1.1, which the fast path now serves too),
//! and over HTTP/2 (whose streams have a fast path too) when a client can send it. A
//! differential test then feeds generated targets and Host values to both and requires
//! the same route and the same forwarded target.

mod support;

use support::raw::{H2Request, Outcome, TRANSPORTS, Transport, bench};

/// `a.test/admin` allow-listed to 10.0.0.0/8, `a.test/` open to all.
fn admin_and_open() -> serde_json::Value {
    serde_json::json!([
        {"zone_id": "admin", "path_prefix": "/admin", "allow": ["10.0.0.0/8"], "upstreams": [{"url": "admin"}]},
        {"zone_id": "open", "path_prefix": "/", "upstreams": [{"url": "open"}]},
    ])
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: a.test\r\n\r\n").into_bytes()
}

trait ExpectRefused {
    /// Each target, on both paths and every transport (HTTP/1.1 plain and over TLS,
    /// HTTP/2), is answered `status` and reaches no backend. Over HTTP/2 a malformed
    /// target (400) may also be refused by resetting the stream.
    async fn expect_refused(&self, targets: &[&str], status: u16);
}

impl ExpectRefused for support::raw::Bench {
    async fn expect_refused(&self, targets: &[&str], status: u16) {
        for target in targets {
            // Targets an HTTP/2 client library can put in `:path` unchanged.
            let Ok(pq) = target.parse::<http::uri::PathAndQuery>() else {
                continue;
            };
            if pq.as_str() != *target {
                continue;
            }
            let outcomes = self.h2_both(&H2Request::get(target)).await;
            for (i, (outcome, _)) in outcomes.into_iter().enumerate() {
                let path = ["fast", "pingora"][i];
                assert_eq!(
                    outcome.reached, None,
                    "{target} over HTTP/2 on the {path} path"
                );
                assert!(
                    outcome.status == status || (status == 400 && outcome.status == 0),
                    "{target} over HTTP/2 on the {path} path: {} (want {status})",
                    outcome.status
                );
            }
        }
        for (target, transport) in targets.iter().flat_map(|t| TRANSPORTS.map(|x| (t, x))) {
            let outcomes = self.both(transport, &get(target)).await;
            for (i, (outcome, _)) in outcomes.into_iter().enumerate() {
                let path = format!("{} path over {transport:?}", ["fast", "pingora"][i]);
                assert_eq!(
                    outcome,
                    Outcome {
                        status,
                        reached: None
                    },
                    "{target} on the {path}"
                );
            }
        }
    }
}

#[tokio::test]
async fn spellings_of_a_protected_prefix_never_reach_a_backend() {
    let b = bench(admin_and_open()).await;
    // Refused with 403 by the allow-list: each is /admin once normalised (or as a
    // backend that decodes %2F or strips ;parameters reads it).
    let forbidden = [
        "/admin",
        "/admin/",
        "/admin/x?y=1",
        "/%61dmin/x",
        "/%61%64%6D%69%6E",
        "//admin/x",
        "///admin",
        "/./admin/x",
        "/x/../admin/x",
        "/x/./../admin",
        "/../admin",
        "/%2e%2e/admin",
        "/%2E/admin",
        "/admin;x=1/y",
        "/admin;",
        "/admin%2fx",
        "/admin%2Fx",
        "/admin%5cx",
        "/x%2F..%2Fadmin",
        "/x%2f%2e%2e%2fadmin",
        "/..;/admin",
        "/admin%3bx",
        "http://a.test/admin",
        "http://a.test/x/../admin",
    ];
    b.expect_refused(&forbidden, 403).await;
    // Refused with 400: a fragment, a backslash, an encoded control character, a bad
    // escape, an absolute-form target naming another host than `Host`.
    let refused = [
        "http://other.test/x/../admin",
        "/admin#frag",
        "/#/admin",
        "/admin\\x",
        "/\\admin",
        "/admin%00",
        "/adm%0ain",
        "/admin%zz",
        "/admin%2",
    ];
    b.expect_refused(&refused, 400).await;
    // Raw whitespace and control bytes in the request line: the fast path sees every
    // new connection's first request and refuses them. (Pingora's own parser would
    // percent-encode them; see docs/proxy.md.)
    for request in [
        &b"GET /ad min HTTP/1.1\r\nHost: a.test\r\n\r\n"[..],
        b"GET /admin\x01 HTTP/1.1\r\nHost: a.test\r\n\r\n",
        b"GET /admin\x7f HTTP/1.1\r\nHost: a.test\r\n\r\n",
        b"GET /x\tHTTP/1.1\r\nHost: a.test\r\n\r\n",
    ] {
        for transport in TRANSPORTS {
            let (outcome, _) = b.send(&b.fast, transport, request).await;
            assert_eq!(
                outcome,
                Outcome {
                    status: 400,
                    reached: None
                },
                "{} over {transport:?}",
                request.escape_ascii()
            );
        }
    }
    // And after each refusal the next request on a fresh connection is served.
    for transport in TRANSPORTS {
        for (outcome, _) in b.both(transport, &get("/x")).await {
            assert_eq!(outcome.status, 200);
        }
    }
}

#[tokio::test]
async fn the_backend_receives_the_path_that_was_matched() {
    let b = bench(admin_and_open()).await;
    for (target, forwarded) in [
        ("/x", "/x"),
        ("/x/", "/x/"),
        ("//x//y", "/x/y"),
        ("/a/./b/../c", "/a/c"),
        ("/%7Euser/%41", "/~user/A"),
        ("/admins", "/admins"),
        ("/x/admin", "/x/admin"),
        ("/x%2fy", "/x%2Fy"),
        ("/x;v=1", "/x;v=1"),
        ("/q?a=%2f..%2fadmin&b=/../c", "/q?a=%2f..%2fadmin&b=/../c"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("http://a.test/y/../z?q", "/z?q"),
    ] {
        for transport in TRANSPORTS {
            for (i, (outcome, heads)) in b
                .both(transport, &get(target))
                .await
                .into_iter()
                .enumerate()
            {
                let path = format!("{} path over {transport:?}", ["fast", "pingora"][i]);
                let proto = match transport {
                    Transport::Plain => "http",
                    Transport::Tls => "https",
                };
                assert!(
                    heads[0]
                        .to_ascii_lowercase()
                        .contains(&format!("x-forwarded-proto: {proto}\r\n")),
                    "{path}: {}",
                    heads[0]
                );
                assert_eq!(
                    outcome,
                    Outcome {
                        status: 200,
                        reached: Some(("open".into(), forwarded.into()))
                    },
                    "{target} on the {path}"
                );
            }
        }
    }
}

#[tokio::test]
async fn methods_header_names_and_lengths_are_checked_the_same_on_both_paths() {
    let b = bench(admin_and_open()).await;
    // Not upper-case tokens, or a header name a backend may read as another.
    for request in [
        &b"get /x HTTP/1.1\r\nHost: a.test\r\n\r\n"[..],
        b"Get /x HTTP/1.1\r\nHost: a.test\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: a.test\r\nTransfer_Encoding: chunked\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: a.test\r\nX_Forwarded_For: 10.0.0.1\r\n\r\n",
    ] {
        for transport in TRANSPORTS {
            for (i, (outcome, _)) in b.both(transport, request).await.into_iter().enumerate() {
                let path = format!("{} path over {transport:?}", ["fast", "pingora"][i]);
                assert_eq!(
                    outcome,
                    Outcome {
                        status: 400,
                        reached: None
                    },
                    "{} on the {path}",
                    request.escape_ascii()
                );
            }
        }
    }
    // Duplicate or listed lengths that agree reach the backend as one Content-Length.
    for request in [
        &b"POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"[..],
        b"POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3, 3\r\n\r\nabc",
    ] {
        for (i, (outcome, heads)) in b
            .both(Transport::Plain, request)
            .await
            .into_iter()
            .enumerate()
        {
            let path = ["fast", "pingora"][i];
            assert_eq!(outcome.status, 200, "{path}");
            let lengths: Vec<&str> = heads[0]
                .lines()
                .filter(|l| l.to_ascii_lowercase().starts_with("content-length:"))
                .collect();
            assert_eq!(lengths.len(), 1, "{path}: {}", heads[0]);
            assert_eq!(lengths[0].split_once(':').unwrap().1.trim(), "3", "{path}");
        }
    }
    // Lengths that disagree are refused.
    let request =
        b"POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
    for (outcome, _) in b.both(Transport::Plain, request).await {
        assert_eq!(
            outcome,
            Outcome {
                status: 400,
                reached: None
            }
        );
    }
}

/// xorshift64*: a reproducible stream of choices (the seed is printed on failure).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[tokio::test]
async fn both_paths_choose_the_same_route_and_forward_the_same_target() {
    let b = bench(admin_and_open()).await;
    let seed = 0x5eed_fa11_u64;
    let mut rng = Rng(seed);
    let pieces = [
        "/", "/", "//", ".", "..", "/./", "/../", "admin", "adm", "in", "x", "%61", "%2e", "%2E",
        "%2f", "%2F", "%5c", ";", ";v=1", "?", "&", "=", "#", "\\", "%", "%4", "%00", "%20", "~",
        "%7e", "%c3%a9", "a", "-", "_", "*", ":", "@", "!", "$", "'",
    ];
    let hosts = [
        "a.test",
        "A.Test",
        "a.test.",
        "a.test:80",
        "b.test",
        "a..test",
        "a.test:x",
        "*.test",
        "xn--a.test",
    ];
    for case in 0..300 {
        let mut target = String::from(if rng.next().is_multiple_of(8) {
            ""
        } else {
            "/"
        });
        for _ in 0..(rng.next() % 8) {
            target.push_str(rng.pick(&pieces));
        }
        if target.is_empty() {
            target.push('/');
        }
        let host = rng.pick(&hosts);
        let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        // Every third case over TLS (SNI a.test whatever the Host says).
        let transport = TRANSPORTS[usize::from(case % 3 == 0)];
        let [(fast, _), (pingora, _)] = b.both(transport, request.as_bytes()).await;
        assert_eq!(
            fast, pingora,
            "case {case} (seed {seed:#x}) over {transport:?}: GET {target} with Host {host}: fast path vs Pingora's"
        );
        // Every third case over HTTP/2 too, when a client can send it: HTTP/2 streams
        // have a fast path of their own (fast/h2.rs).
        if case % 3 == 1
            && target
                .parse::<http::uri::PathAndQuery>()
                .is_ok_and(|pq| pq.as_str() == target)
        {
            let mut req = H2Request::get(&target);
            req.authority = host.to_owned();
            let [(fast2, _), (pingora2, _)] = b.h2_both(&req).await;
            assert_eq!(
                fast2, pingora2,
                "case {case} (seed {seed:#x}) over HTTP/2: GET {target} with :authority {host}: fast path vs Pingora's"
            );
        }
        if let Some((backend, forwarded)) = &fast.reached {
            // Whatever was forwarded is already in the form routes are matched on, and
            // never a spelling of the protected prefix.
            assert_eq!(backend, "open", "case {case}: {target} reached {backend}");
            let again = switchyard_shared::RequestTarget::parse(forwarded.as_bytes()).unwrap();
            assert_eq!(again.as_str(), forwarded, "case {case}: {target}");
            assert!(
                !again.match_path().starts_with("/admin/") && again.match_path() != "/admin",
                "case {case}: {target} was forwarded as {forwarded}"
            );
        }
    }
}
