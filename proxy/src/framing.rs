//! Request framing (RFC 9112 §6): how long a request's body is, or why the head is too
//! ambiguous to forward.
//!
//! Request smuggling lives in the gap between two parsers that frame the same bytes
//! differently. So anything two parsers could read two ways is refused (400, connection
//! closed) instead of being "repaired": `Content-Length` together with
//! `Transfer-Encoding`, `Content-Length` values that are malformed or disagree,
//! `Transfer-Encoding` whose last coding is not exactly `chunked` (or that names
//! `chunked` twice, or comes with HTTP/1.0), line endings other than CRLF, and more than
//! one `Host`. What
//! `httparse` already refuses (obs-fold, whitespace before a colon, control characters,
//! invalid names or request lines) never gets here.
//!
//! Both HTTP/1 paths call [`check`]: the fast path on the head it parsed, Pingora's path
//! ([`check_raw`]) on the raw head of every request it reads, so a request a connection
//! carries after it was handed over to Pingora is held to the same rules.

use std::mem::MaybeUninit;

/// How the body of an accepted request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No `Content-Length`, no `Transfer-Encoding`: no body.
    None,
    Length(u64),
    Chunked,
}

/// Why a head is refused.
pub type Refusal = &'static str;

/// `Content-Length` digits (at most 19, so the value fits in a u64), nothing else.
pub fn parse_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The framing of a request head `httparse` accepted. `head` is its raw bytes (for the
/// line endings), `version` the minor HTTP/1 version.
pub fn check(
    head: &[u8],
    version: u8,
    headers: &[httparse::Header<'_>],
) -> Result<BodyFraming, Refusal> {
    if has_bare_lf(head) {
        return Err("line endings must be CRLF");
    }
    let mut length: Option<u64> = None;
    let mut codings: Vec<&[u8]> = Vec::new();
    let mut has_te = false;
    let mut hosts = 0;
    for h in headers {
        if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
            if hosts > 1 {
                // RFC 9112 §3.2: a request with more than one Host is a 400.
                return Err("more than one Host header");
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            // A list of agreeing values (`5, 5`) is one value (RFC 9110 §8.6).
            for part in h.value.split(|&b| b == b',') {
                let Some(n) = parse_length(part) else {
                    return Err("malformed Content-Length");
                };
                if length.replace(n).is_some_and(|m| m != n) {
                    return Err("conflicting Content-Length values");
                }
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            has_te = true;
            codings.extend(
                h.value
                    .split(|&b| b == b',')
                    .map(<[u8]>::trim_ascii)
                    .filter(|c| !c.is_empty()),
            );
        }
    }
    if !has_te {
        return Ok(length.map_or(BodyFraming::None, BodyFraming::Length));
    }
    if length.is_some() {
        return Err("Content-Length together with Transfer-Encoding");
    }
    if version == 0 {
        return Err("Transfer-Encoding in an HTTP/1.0 request");
    }
    let chunked = |c: &[u8]| c.eq_ignore_ascii_case(b"chunked");
    match codings.last() {
        Some(last) if chunked(last) && codings.iter().filter(|c| chunked(c)).count() == 1 => {
            Ok(BodyFraming::Chunked)
        }
        _ => Err("Transfer-Encoding must end with exactly one \"chunked\""),
    }
}

/// A request head parsed from the start of a buffer, as the fast path reads it.
pub enum Parsed<'h, 'b> {
    /// More bytes are needed.
    Partial,
    /// More header lines than the fast path parses: Pingora's to read.
    TooManyHeaders,
    /// Malformed or ambiguous: 400 and close.
    Refuse(Refusal),
    Head {
        req: httparse::Request<'h, 'b>,
        head_len: usize,
        framing: BodyFraming,
    },
}

/// Parses the head at the start of `buf` with `httparse` (strict defaults) and checks its
/// framing ([`check`]). The fast path reads every request through this. `headers` is
/// left uninitialised until parsed into: initialising the fast path's 128 cost ~130
/// instructions per request.
pub fn parse_head<'h, 'b>(
    buf: &'b [u8],
    headers: &'h mut [MaybeUninit<httparse::Header<'b>>],
) -> Parsed<'h, 'b> {
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, headers) {
        Ok(httparse::Status::Complete(head_len)) => {
            match check(&buf[..head_len], req.version.unwrap_or(1), req.headers) {
                Ok(framing) => Parsed::Head {
                    req,
                    head_len,
                    framing,
                },
                Err(why) => Parsed::Refuse(why),
            }
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::TooManyHeaders,
        // Anything else httparse refuses (a target with spaces or control bytes, a bad
        // method or version, obs-fold, whitespace before a colon, bare CR).
        Err(_) => Parsed::Refuse("malformed request head"),
    }
}

/// [`check`] for a raw request head (Pingora's path keeps one per request).
pub fn check_raw(head: &[u8]) -> Result<BodyFraming, Refusal> {
    let mut headers = [MaybeUninit::uninit(); 256];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, &mut headers) {
        Ok(httparse::Status::Complete(n)) => {
            let version = req.version.unwrap_or(1);
            check(&head[..n], version, req.headers)
        }
        // Pingora parsed it (perhaps after percent-encoding an illegal request line,
        // which this parser then accepts too): nothing more to say about framing here.
        _ => Ok(BodyFraming::None),
    }
}

fn has_bare_lf(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framing(head: &str) -> Result<BodyFraming, Refusal> {
        check_raw(head.as_bytes())
    }

    #[test]
    fn plain_lengths_and_chunked_are_accepted() {
        let ok = [
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", BodyFraming::None),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
                BodyFraming::Length(5),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
                BodyFraming::Length(5),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
                BodyFraming::Length(5),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                BodyFraming::Chunked,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
                BodyFraming::Chunked,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
                BodyFraming::Chunked,
            ),
        ];
        for (head, want) in ok {
            assert_eq!(framing(head), Ok(want), "{head:?}");
        }
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        for head in [
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\nHost: a\n\n",
            "GET / HTTP/1.1\r\nHost: a\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
        ] {
            assert!(framing(head).is_err(), "{head:?} was accepted");
        }
    }

    mod props {
        //! Random heads, split anywhere and mutated: the fast path's parser accepts only
        //! what httparse accepts, frames the body as a plain reading of RFC 9112 §6.3
        //! does, and never accepts a prefix of a head as a head of its own.
        use super::super::*;
        use proptest::prelude::*;

        /// RFC 9112 §6.3 read plainly, on httparse's view of the head (`None`: refuse).
        fn reference(
            head: &[u8],
            version: u8,
            headers: &[httparse::Header<'_>],
        ) -> Option<BodyFraming> {
            let text = String::from_utf8_lossy(head);
            if text.replace("\r\n", "").contains('\n') {
                return None;
            }
            let values = |name: &str| -> Vec<String> {
                headers
                    .iter()
                    .filter(|h| h.name.to_ascii_lowercase() == name)
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
                    .collect()
            };
            if values("host").len() > 1 {
                return None;
            }
            let lengths = values("content-length");
            let codings: Vec<String> = values("transfer-encoding")
                .join(",")
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty())
                .collect();
            let has_te = !values("transfer-encoding").is_empty();
            let mut length = None;
            for v in lengths.join(",").split(',').filter(|_| !lengths.is_empty()) {
                let v = v.trim_matches(|c| c == ' ' || c == '\t');
                if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let n: u64 = v.parse().ok()?;
                if length.is_some_and(|m| m != n) {
                    return None;
                }
                length = Some(n);
            }
            if has_te {
                let ok = length.is_none()
                    && version == 1
                    && codings.last().map(String::as_str) == Some("chunked")
                    && codings.iter().filter(|c| *c == "chunked").count() == 1;
                return ok.then_some(BodyFraming::Chunked);
            }
            Some(length.map_or(BodyFraming::None, BodyFraming::Length))
        }

        fn line() -> impl Strategy<Value = String> {
            prop::sample::select(vec![
                "Host: a.test",
                "Host: b.test",
                "X-A: b",
                "Content-Length: 5",
                "Content-Length: 5, 5",
                "Content-Length: 6",
                "Content-Length: +5",
                "Content-Length: 05",
                "Content-Length: ",
                "content-length:5",
                "Content-Length: 99999999999999999999",
                "Transfer-Encoding: chunked",
                "Transfer-Encoding: gzip, chunked",
                "Transfer-Encoding: chunked, gzip",
                "transfer-encoding: CHUNKED",
                "Transfer-Encoding: chunked, chunked",
                "Transfer-Encoding : chunked",
                " X-Fold: y",
                "X_A: b",
                "Connection: close",
            ])
            .prop_map(str::to_owned)
        }

        fn head() -> impl Strategy<Value = Vec<u8>> {
            (
                prop::sample::select(vec!["GET", "POST", "get", "PUT"]),
                prop::sample::select(vec!["/", "/a?b", "/a b", "*", "http://a.test/"]),
                prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0", "HTTP/1.2"]),
                prop::collection::vec(
                    (
                        line(),
                        prop::sample::select(vec!["\r\n", "\r\n", "\r\n", "\n"]),
                    ),
                    0..6,
                ),
                prop::sample::select(vec!["\r\n", "\r\n", "\n"]),
            )
                .prop_map(|(method, target, version, lines, end)| {
                    let mut head = format!("{method} {target} {version}\r\n");
                    for (l, eol) in lines {
                        head.push_str(&l);
                        head.push_str(eol);
                    }
                    head.push_str(end);
                    head.push_str("hello");
                    head.into_bytes()
                })
        }

        /// A head, perhaps with one byte changed, inserted or removed.
        fn input() -> impl Strategy<Value = Vec<u8>> {
            (head(), 0u8..4, any::<prop::sample::Index>(), any::<u8>()).prop_map(
                |(mut h, m, at, b)| {
                    let i = at.index(h.len());
                    match m {
                        1 => h[i] = b,
                        2 => h.insert(i, b),
                        3 => {
                            h.remove(i);
                        }
                        _ => {}
                    }
                    h
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]

            #[test]
            fn only_what_httparse_accepts_and_framed_as_the_rfc_says(buf in input()) {
                let mut reference_headers = [httparse::EMPTY_HEADER; 64];
                let mut reference_req = httparse::Request::new(&mut reference_headers);
                let by_httparse = reference_req.parse(&buf);
                let mut headers = [MaybeUninit::uninit(); 64];
                match parse_head(&buf, &mut headers) {
                    Parsed::Head { head_len, framing, .. } => {
                        prop_assert_eq!(by_httparse, Ok(httparse::Status::Complete(head_len)));
                        let want = reference(&buf[..head_len], reference_req.version.unwrap_or(1), reference_req.headers);
                        prop_assert_eq!(Some(framing), want);
                        // No prefix of the head is a head.
                        for cut in 0..head_len {
                            let mut headers = [MaybeUninit::uninit(); 64];
                            let partial = matches!(parse_head(&buf[..cut], &mut headers), Parsed::Partial);
                            prop_assert!(partial, "prefix of {} bytes: {:?}", cut, buf[..cut].escape_ascii().to_string());
                        }
                    }
                    Parsed::Refuse(_) => {
                        // Refused: httparse refused it, or its framing is ambiguous.
                        if let Ok(httparse::Status::Complete(n)) = by_httparse {
                            let want = reference(&buf[..n], reference_req.version.unwrap_or(1), reference_req.headers);
                            prop_assert_eq!(want, None, "refused a head the RFC frames: {:?}", buf.escape_ascii().to_string());
                        }
                    }
                    Parsed::Partial => prop_assert_eq!(by_httparse, Ok(httparse::Status::Partial)),
                    Parsed::TooManyHeaders => prop_assert_eq!(by_httparse, Err(httparse::Error::TooManyHeaders)),
                }
            }
        }
    }
}
