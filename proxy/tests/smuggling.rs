//! Request smuggling: every head two HTTP/1 parsers could frame differently is refused
//! with 400 and the connection closed, never forwarded, on the fast path and on
//! Pingora's path, over plain HTTP and TLS.
//!
//! Each case is sent raw on a fresh connection to both proxies of the bench
//! (`support::raw`), with a recording backend behind `a.test`; the test asserts the
//! answer, that the proxy closed the connection, that the backend received nothing, and
//! that a well-formed request on a fresh connection is then served (the case left no
//! trace). A second table covers requests that are odd but unambiguous: the backend
//! receives exactly one well-formed request, framed as the client meant.
//!
//! The same cases are also sent as the second request of a connection the fast path
//! handed to Pingora (after a 404), where Pingora's parser reads them.

mod support;

use std::time::Duration;

use support::raw::{Bench, Io, TRANSPORTS, Transport, bench};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLOSE_DEADLINE: Duration = Duration::from_secs(5);

fn open_zone() -> serde_json::Value {
    serde_json::json!([{"zone_id": "open", "path_prefix": "/", "upstreams": [{"url": "open"}]}])
}

/// Requests that must be refused: (what, raw bytes).
const AMBIGUOUS: &[(&str, &[u8])] = &[
    (
        "Content-Length with Transfer-Encoding",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n",
    ),
    (
        "Transfer-Encoding with Content-Length",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
    ),
    (
        "conflicting Content-Length",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc",
    ),
    (
        "conflicting Content-Length list",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3, 40\r\n\r\nabc",
    ),
    (
        "signed Content-Length",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: +3\r\n\r\nabc",
    ),
    (
        "hex Content-Length",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0x3\r\n\r\nabc",
    ),
    (
        "Content-Length with a space inside",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1 3\r\n\r\nabc",
    ),
    (
        "empty Content-Length",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: \r\n\r\nabc",
    ),
    (
        "overflowing Content-Length",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 18446744073709551617\r\n\r\nabc",
    ),
    (
        "chunked not last",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    ),
    (
        "no chunked",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    ),
    (
        "chunked twice",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "chunked then another coding in a second header",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n",
    ),
    (
        "a coding like chunked",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "Transfer-Encoding in HTTP/1.0",
        b"POST / HTTP/1.0\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "obs-fold",
        b"GET / HTTP/1.1\r\nHost: a.test\r\nX-A: b\r\n c\r\n\r\n",
    ),
    (
        "obs-fold of Transfer-Encoding",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "whitespace before a colon",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "bare LF line endings",
        b"GET / HTTP/1.1\nHost: a.test\n\n",
    ),
    (
        "a bare LF among CRLFs",
        b"GET / HTTP/1.1\r\nHost: a.test\nX-A: b\r\n\r\n",
    ),
    (
        "bare CR",
        b"GET / HTTP/1.1\r\nHost: a.test\rX-A: b\r\n\r\n",
    ),
    (
        "control character in a value",
        b"GET / HTTP/1.1\r\nHost: a.test\r\nX-A: b\x01c\r\n\r\n",
    ),
    (
        "NUL in a value",
        b"GET / HTTP/1.1\r\nHost: a.test\r\nX-A: b\x00c\r\n\r\n",
    ),
    (
        "invalid header name",
        b"GET / HTTP/1.1\r\nHost: a.test\r\nX(A): b\r\n\r\n",
    ),
    (
        "empty header name",
        b"GET / HTTP/1.1\r\nHost: a.test\r\n: b\r\n\r\n",
    ),
    (
        "underscore header name",
        b"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer_Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
    ),
    (
        "double space in the request line",
        b"GET  / HTTP/1.1\r\nHost: a.test\r\n\r\n",
    ),
    (
        "unknown version",
        b"GET / HTTP/1.2\r\nHost: a.test\r\n\r\n",
    ),
    (
        "HTTP/2 version on HTTP/1",
        b"GET / HTTP/2.0\r\nHost: a.test\r\n\r\n",
    ),
    (
        "lower-case method",
        b"get / HTTP/1.1\r\nHost: a.test\r\n\r\n",
    ),
    (
        "two Host headers",
        b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
    ),
];

/// Reads one answer (head and Content-Length body) and returns its status; `None` when
/// the connection ends first.
async fn read_status(conn: &mut Box<dyn Io>, buf: &mut Vec<u8>) -> Option<u16> {
    loop {
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut hs);
        if let Ok(httparse::Status::Complete(n)) = resp.parse(buf) {
            let status = resp.code.unwrap();
            let len: usize = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                .unwrap_or(0);
            while buf.len() < n + len {
                let mut chunk = [0u8; 8192];
                match conn.read(&mut chunk).await {
                    Ok(k) if k > 0 => buf.extend_from_slice(&chunk[..k]),
                    _ => break,
                }
            }
            buf.drain(..(n + len).min(buf.len()));
            return Some(status);
        }
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(CLOSE_DEADLINE, conn.read(&mut chunk)).await {
            Ok(Ok(k)) if k > 0 => buf.extend_from_slice(&chunk[..k]),
            _ => return None,
        }
    }
}

/// Sends `request` after an optional `prelude` (a request answered first on the same
/// connection), reads the last answer's status and whether the proxy then closed.
async fn exchange(
    b: &Bench,
    fast_path: bool,
    transport: Transport,
    prelude: Option<&[u8]>,
    request: &[u8],
) -> (u16, bool) {
    let proxy = if fast_path { &b.fast } else { &b.pingora };
    let mut conn = b.connect(proxy, transport).await;
    let mut buf = Vec::new();
    if let Some(prelude) = prelude {
        conn.write_all(prelude).await.unwrap();
        assert_eq!(read_status(&mut conn, &mut buf).await, Some(404), "prelude");
    }
    conn.write_all(request).await.unwrap();
    let status = read_status(&mut conn, &mut buf)
        .await
        .unwrap_or_else(|| panic!("no answer to {}", request.escape_ascii()));
    // Closed: EOF (or a reset) before the deadline, with nothing more sent.
    let mut rest = [0u8; 1024];
    let closed = match tokio::time::timeout(CLOSE_DEADLINE, conn.read(&mut rest)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(n)) => panic!(
            "after the {status} answer to {} the proxy sent more: {:?}",
            request.escape_ascii(),
            String::from_utf8_lossy(&rest[..n])
        ),
        Err(_) => false,
    };
    (status, closed)
}

const NOT_FOUND: &[u8] = b"GET / HTTP/1.1\r\nHost: nowhere.test\r\n\r\n";

#[tokio::test]
async fn ambiguous_heads_are_refused_and_the_connection_closed() {
    let b = bench(open_zone()).await;
    for &(what, request) in AMBIGUOUS {
        for transport in TRANSPORTS {
            for fast_path in [true, false] {
                // First on a new connection, then after the connection was handed over
                // to Pingora (a 404 is Pingora's to answer).
                for prelude in [None, Some(NOT_FOUND)] {
                    let path = format!(
                        "{} path over {transport:?}{}",
                        if fast_path { "fast" } else { "Pingora's" },
                        if prelude.is_some() {
                            ", after a hand-over"
                        } else {
                            ""
                        }
                    );
                    b.seen.lock().unwrap().clear();
                    let (status, closed) =
                        exchange(&b, fast_path, transport, prelude, request).await;
                    assert_eq!(status, 400, "{what} on the {path}");
                    assert!(closed, "{what} on the {path}: the connection stays open");
                    let seen = std::mem::take(&mut *b.seen.lock().unwrap());
                    assert!(
                        seen.is_empty(),
                        "{what} on the {path} reached the backend: {seen:?}"
                    );
                }
            }
        }
        // Nothing of the case lingers: a fresh request is served.
        for (outcome, _) in b
            .both(
                Transport::Plain,
                b"GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n",
            )
            .await
        {
            assert_eq!(outcome.status, 200, "after {what}");
        }
    }
}

#[tokio::test]
async fn unambiguous_requests_reach_the_backend_once_and_framed_as_sent() {
    let b = bench(open_zone()).await;
    // (what, request, what the backend's head must contain, body length it must read)
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "chunked upload",
            b"POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "transfer-encoding: chunked",
        ),
        (
            "gzip then chunked",
            b"POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "chunked",
        ),
        (
            "agreeing duplicate lengths",
            b"POST /l HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            "content-length: 3",
        ),
        (
            "length with surrounding spaces",
            b"POST /l HTTP/1.1\r\nHost: a.test\r\nContent-Length:    3   \r\n\r\nabc",
            "content-length: 3",
        ),
        (
            "zero length",
            b"POST /z HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\n\r\n",
            "content-length: 0",
        ),
    ];
    for &(what, request, want) in cases {
        for transport in TRANSPORTS {
            for (i, (outcome, heads)) in b.both(transport, request).await.into_iter().enumerate() {
                let path = format!("{} path over {transport:?}", ["fast", "Pingora's"][i]);
                assert_eq!(outcome.status, 200, "{what} on the {path}");
                assert_eq!(heads.len(), 1, "{what} on the {path}");
                let head = heads[0].to_ascii_lowercase();
                assert!(head.contains(want), "{what} on the {path}: {head}");
                // Never both framings upstream.
                assert!(
                    !(head.contains("content-length:") && head.contains("transfer-encoding:")),
                    "{what} on the {path}: {head}"
                );
            }
        }
    }
}
