//! Request targets: the one normalisation every routing decision is made on.
//!
//! A proxy that matches path prefixes on the raw request target can be walked past a
//! rule: `/%61dmin`, `//admin`, `/./admin`, `/x/../admin`, `/admin;x=1` and `/admin%2Fx`
//! all reach `/admin` at a backend that decodes, merges or strips them, while a raw
//! prefix match sends them to another route. [`RequestTarget::parse`] turns the target
//! into the form the proxy both matches and forwards, so the backend cannot see a path
//! other than the one that was matched:
//!
//! - only origin-form (`/path?query`) and absolute-form (`http://host/path?query`, whose
//!   path is taken) are accepted; a fragment (`#`), raw whitespace, control bytes and a
//!   backslash anywhere in the target are refused, as are malformed percent-escapes and
//!   escapes of control characters (`%00`–`%1F`, `%7F`);
//! - in the path (RFC 3986 §6.2.2): percent-encoded unreserved characters
//!   (`A–Z a–z 0–9 - . _ ~`) are decoded, every other escape is written with upper-case
//!   hex digits, bytes above 0x7F are percent-encoded, repeated slashes are merged and
//!   dot segments are removed (§5.2.4);
//! - the query is kept as sent (bytes above 0x7F percent-encoded).
//!
//! Encoded slashes and backslashes (`%2F`, `%5C`) and path parameters (`;…`, `%3B…`) stay
//! in the forwarded path, since backends differ in what they make of them; route
//! matching ([`RequestTarget::match_path`], used by [`crate::model::PathPrefix::matches`])
//! reads them as the most decoding backend would: `%2F` and `%5C` as `/`, everything
//! from `;` to the end of a segment dropped, then slashes merged and dot segments
//! removed again. So `/admin%2Fx`, `/admin;v=1/x` and `/x%2F..%2Fadmin` all fall under
//! the `/admin` route, whatever the backend does with them.
//!
//! This module decides; it never answers a client. The proxy turns a [`TargetError`]
//! into a 400 and the panel validates path prefixes with the same rules.

use std::fmt::Write as _;

/// Why a request target is refused (the proxy answers 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the request target is empty")]
    Empty,
    #[error("the request target must be a path (\"/…\") or an absolute http(s) URL")]
    NotOriginForm,
    #[error("the request target contains a fragment (\"#\")")]
    Fragment,
    #[error("the request target contains whitespace")]
    Whitespace,
    #[error("the request target contains a control character")]
    Control,
    #[error("the request target contains a backslash")]
    Backslash,
    #[error("the request target contains a malformed percent-escape")]
    BadEscape,
    #[error("the request target contains a percent-encoded control character")]
    EncodedControl,
}

/// A request target in the one form the proxy matches and forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget {
    /// Normalised path, then `?query` when there was one: what goes upstream.
    forward: String,
    /// Where the path ends in `forward`.
    path_end: usize,
    /// The path routes are matched on, when it differs from the forwarded one.
    matched: Option<String>,
}

impl RequestTarget {
    /// Normalises a request target as it appears on the request line (or in HTTP/2's
    /// `:path`).
    pub fn parse(raw: &[u8]) -> Result<Self, TargetError> {
        if let Some(plain) = Self::already_normal(raw) {
            return Ok(plain);
        }
        Self::normalise(raw)
    }

    /// The target as it is, when it is origin-form and already normal: ASCII without an
    /// escape, a path parameter, an empty segment or a segment starting with `.`, and no
    /// byte [`Self::normalise`] refuses. Most real targets are; one pass over the bytes
    /// and one copy then do what the general path does in several (its result is the
    /// same, which the tests check).
    fn already_normal(raw: &[u8]) -> Option<Self> {
        if raw.first() != Some(&b'/') {
            return None;
        }
        let mut path_end = raw.len();
        let mut previous = 0u8;
        for (i, &b) in raw.iter().enumerate() {
            let plain = match b {
                b'?' if path_end == raw.len() => {
                    path_end = i;
                    true
                }
                // In the path: what needs decoding, merging or a match view.
                b'%' | b';' => path_end != raw.len(),
                b'/' | b'.' => path_end != raw.len() || previous != b'/',
                // Refused, or encoded, by the general path.
                b'#' | b'\\' | 0..=0x20 | 0x7f..=0xff => false,
                _ => true,
            };
            if !plain {
                return None;
            }
            previous = b;
        }
        // ASCII throughout (checked above), so this cannot fail.
        let forward = std::str::from_utf8(raw).ok()?.to_owned();
        Some(Self {
            forward,
            path_end,
            matched: None,
        })
    }

    /// The general normalisation (see the module docs).
    fn normalise(raw: &[u8]) -> Result<Self, TargetError> {
        if raw.is_empty() {
            return Err(TargetError::Empty);
        }
        for &b in raw {
            match b {
                b'#' => return Err(TargetError::Fragment),
                b' ' | b'\t' => return Err(TargetError::Whitespace),
                b'\\' => return Err(TargetError::Backslash),
                0..=0x1f | 0x7f => return Err(TargetError::Control),
                _ => {}
            }
        }
        let origin = origin_part(raw)?;
        let (path, query) = match origin.iter().position(|&b| b == b'?') {
            Some(i) => (&origin[..i], Some(&origin[i + 1..])),
            None => (origin, None),
        };
        let decoded = decode_path(path)?;
        let mut forward = String::with_capacity(origin.len() + 8);
        remove_dot_segments(&decoded, &mut forward);
        let path_end = forward.len();
        let matched = needs_match_view(&forward).then(|| match_view(&forward[..path_end]));
        if let Some(query) = query {
            forward.push('?');
            push_encoded_high(&mut forward, query);
        }
        Ok(Self {
            forward,
            path_end,
            matched,
        })
    }

    /// The normalised path and query, as sent upstream.
    pub fn as_str(&self) -> &str {
        &self.forward
    }

    /// The normalised path (no query).
    pub fn path(&self) -> &str {
        &self.forward[..self.path_end]
    }

    /// The query without its `?`, when there is one.
    pub fn query(&self) -> Option<&str> {
        (self.forward.len() > self.path_end).then(|| &self.forward[self.path_end + 1..])
    }

    /// The path routes are matched on: [`Self::path`] with encoded slashes and
    /// backslashes read as `/` and path parameters dropped (see the module docs).
    pub fn match_path(&self) -> &str {
        self.matched.as_deref().unwrap_or(self.path())
    }
}

/// The path-and-query part of an origin-form or absolute-form target.
fn origin_part(raw: &[u8]) -> Result<&[u8], TargetError> {
    if raw[0] == b'/' {
        return Ok(raw);
    }
    let lower = |n: usize| raw.get(..n).map(|p| p.to_ascii_lowercase());
    let skip = if lower(7).as_deref() == Some(b"http://") {
        7
    } else if lower(8).as_deref() == Some(b"https://") {
        8
    } else {
        return Err(TargetError::NotOriginForm);
    };
    let rest = &raw[skip..];
    match rest.iter().position(|&b| b == b'/' || b == b'?') {
        Some(i) if rest[i] == b'/' => Ok(&rest[i..]),
        // `http://host` and `http://host?q` have the empty path, `/` in origin-form (the
        // query of such a target is dropped with it: nothing routes on it).
        _ => Ok(b"/"),
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-escapes: unreserved decoded, others upper-cased; high bytes encoded.
fn decode_path(path: &[u8]) -> Result<String, TargetError> {
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        if b == b'%' {
            let (Some(hi), Some(lo)) = (
                path.get(i + 1).copied().and_then(hex),
                path.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(TargetError::BadEscape);
            };
            let v = hi << 4 | lo;
            if v < 0x20 || v == 0x7f {
                return Err(TargetError::EncodedControl);
            }
            if is_unreserved(v) {
                out.push(v as char);
            } else {
                let _ = write!(out, "%{v:02X}");
            }
            i += 3;
        } else {
            push_byte(&mut out, b);
            i += 1;
        }
    }
    Ok(out)
}

fn push_byte(out: &mut String, b: u8) {
    if b.is_ascii() {
        out.push(b as char);
    } else {
        let _ = write!(out, "%{b:02X}");
    }
}

fn push_encoded_high(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        push_byte(out, b);
    }
}

/// Merges repeated slashes and removes `.` and `..` segments (RFC 3986 §5.2.4), writing
/// the result (always starting with `/`) to `out`.
fn remove_dot_segments(path: &str, out: &mut String) {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/') {
        match segment {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    let start = out.len();
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || out.len() == start {
        out.push('/');
    }
}

/// Whether the path holds something backends read differently: an encoded slash or
/// backslash, or a path parameter.
fn needs_match_view(path: &str) -> bool {
    path.contains(';') || path.contains("%2F") || path.contains("%5C") || path.contains("%3B")
}

/// The path as the most decoding backend reads it (see the module docs).
fn match_view(path: &str) -> String {
    let slashes = path.replace("%2F", "/").replace("%5C", "/");
    let mut stripped = String::with_capacity(slashes.len());
    for (i, segment) in slashes.split('/').enumerate() {
        if i > 0 {
            stripped.push('/');
        }
        let end = [segment.find(';'), segment.find("%3B")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(segment.len());
        stripped.push_str(&segment[..end]);
    }
    let mut out = String::with_capacity(stripped.len());
    remove_dot_segments(&stripped, &mut out);
    out
}

/// Whether `prefix` (a canonical [`crate::model::PathPrefix`], empty or `/a/b` without a
/// trailing slash) covers the target, segment-wise: `/api` covers `/api` and `/api/…`,
/// never `/apis`.
pub fn prefix_covers(prefix: &str, target: &RequestTarget) -> bool {
    match target.match_path().strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Canonical form of a route's path prefix, by the same rules as a request's path, or
/// why it cannot be one: a prefix must be a path a request can match exactly, so dot
/// segments, empty segments, path parameters and encoded separators are refused.
pub fn canonical_prefix(input: &str) -> Result<String, String> {
    let shown = input.escape_debug();
    if let Some(c) = input.chars().find(|c| matches!(c, '?' | '#')) {
        return Err(format!(
            "path prefix \"{shown}\" contains {c:?}; a prefix is a path without query or fragment"
        ));
    }
    if !input.starts_with('/') {
        return Err(format!(
            "path prefix \"{shown}\" must start with \"/\" (or be empty for the whole host)"
        ));
    }
    let target = RequestTarget::parse(input.as_bytes()).map_err(|e| {
        let problem = e.to_string();
        let problem = problem.trim_start_matches("the request target ");
        format!("path prefix \"{shown}\" {problem}; spaces and control characters must be percent-encoded")
    })?;
    let path = target.path();
    if path.contains(';') || path.contains("%2F") || path.contains("%5C") || path.contains("%3B") {
        return Err(format!(
            "path prefix \"{shown}\" contains \";\" or an encoded \"/\" or \"\\\"; prefixes are matched segment by segment on the decoded path, so these cannot appear in one"
        ));
    }
    let trimmed = path.trim_end_matches('/');
    let raw_trimmed = input.trim_end_matches('/');
    // Dot segments and empty segments are refused rather than silently rewritten: the
    // operator meant something else than the route they would get.
    let raw_segments = raw_trimmed.split('/').skip(1);
    for segment in raw_segments {
        if segment.is_empty() {
            return Err(format!(
                "path prefix \"{shown}\" contains an empty segment (\"//\")"
            ));
        }
        if matches!(segment, "." | "..")
            || decode_path(segment.as_bytes()).is_ok_and(|s| s == "." || s == "..")
        {
            return Err(format!(
                "path prefix \"{shown}\" contains a dot segment (\".\" or \"..\")"
            ));
        }
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> String {
        RequestTarget::parse(raw.as_bytes())
            .unwrap()
            .as_str()
            .to_owned()
    }

    fn view(raw: &str) -> String {
        RequestTarget::parse(raw.as_bytes())
            .unwrap()
            .match_path()
            .to_owned()
    }

    #[test]
    fn plain_targets_take_the_short_way_to_the_same_result() {
        for raw in [
            "/",
            "/a/b",
            "/a/b/",
            "/a?b=c",
            "/a?b=/./c;d%2F",
            "/.well-known/x",
            "/a/.b",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "/a;x",
            "/a%41",
            "/a?",
            "/?",
            "/a?é",
            "/é",
            "/a#b",
            "/a b",
            "/a\\b",
            "/a\tb",
            "/.",
            "/..",
            "//",
            "/a/b.c/d.",
            "/~user/",
        ] {
            let general = RequestTarget::normalise(raw.as_bytes());
            assert_eq!(RequestTarget::parse(raw.as_bytes()), general, "{raw:?}");
            if let Some(short) = RequestTarget::already_normal(raw.as_bytes()) {
                assert_eq!(Ok(short), general, "{raw:?}");
            }
        }
        assert!(RequestTarget::already_normal(b"/a/b?c=d").is_some());
        assert!(RequestTarget::already_normal(b"/a/./b").is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// The short way never changes a result: on random targets made of the pieces
        /// attacks are made of, `parse` answers what the general normalisation does.
        #[test]
        fn the_short_way_agrees_with_the_general_one(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "/", "//", ".", "..", "a", "b.c", "%2e", "%2F", "%41", ";", "?", "&", "=",
                "#", "\\", " ", "\t", "é", "~", "-", "_", ":", "@", "!", "$", "'", "(",
                "*", "+", ",", "\u{7f}",
            ]), 0..12)
        ) {
            let raw = format!("/{}", pieces.concat());
            proptest::prop_assert_eq!(
                RequestTarget::parse(raw.as_bytes()),
                RequestTarget::normalise(raw.as_bytes())
            );
        }
    }

    #[test]
    fn dot_segments_slashes_and_unreserved_escapes_are_normalised() {
        for (raw, want) in [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("//admin/x", "/admin/x"),
            ("/./admin/x", "/admin/x"),
            ("/x/../admin/x", "/admin/x"),
            ("/../../admin", "/admin"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/%61dmin/x", "/admin/x"),
            ("/%2e%2e/admin", "/admin"),
            ("/%2E/admin", "/admin"),
            ("/a%7eb", "/a~b"),
            ("/a%2fb", "/a%2Fb"),
            ("/a%20b", "/a%20b"),
            ("/a?x=1&y=%2f", "/a?x=1&y=%2f"),
            ("/a/../?q", "/?q"),
            ("/a?", "/a?"),
            ("http://a.test/admin/../x?y", "/x?y"),
            ("HTTPS://a.test", "/"),
            ("http://a.test?q=1", "/"),
            ("/\u{e9}t\u{e9}", "/%C3%A9t%C3%A9"),
        ] {
            assert_eq!(norm(raw), want, "{raw}");
        }
    }

    #[test]
    fn match_view_reads_encoded_separators_and_parameters() {
        for (raw, want) in [
            ("/admin;x=1/y", "/admin/y"),
            ("/admin%2fx", "/admin/x"),
            ("/admin%5Cx", "/admin/x"),
            ("/x%2F..%2Fadmin", "/admin"),
            ("/..;/admin", "/admin"),
            ("/admin%3Bx/y", "/admin/y"),
            ("/plain", "/plain"),
        ] {
            assert_eq!(view(raw), want, "{raw}");
        }
        // The forwarded path keeps what was sent (normalised).
        assert_eq!(norm("/admin;x=1/y"), "/admin;x=1/y");
        assert_eq!(norm("/x%2f..%2fadmin"), "/x%2F..%2Fadmin");
    }

    #[test]
    fn unsafe_targets_are_refused() {
        for (raw, want) in [
            (&b""[..], TargetError::Empty),
            (b"/admin#frag", TargetError::Fragment),
            (b"/a b", TargetError::Whitespace),
            (b"/a\tb", TargetError::Whitespace),
            (b"/admin\\x", TargetError::Backslash),
            (b"/a\x00", TargetError::Control),
            (b"/a\x7f", TargetError::Control),
            (b"/a?b\rc", TargetError::Control),
            (b"/a%zz", TargetError::BadEscape),
            (b"/a%4", TargetError::BadEscape),
            (b"/a%00b", TargetError::EncodedControl),
            (b"/a%0d%0a", TargetError::EncodedControl),
            (b"*", TargetError::NotOriginForm),
            (b"a.test:443", TargetError::NotOriginForm),
            (b"ftp://a.test/", TargetError::NotOriginForm),
        ] {
            assert_eq!(
                RequestTarget::parse(raw),
                Err(want),
                "{}",
                raw.escape_ascii()
            );
        }
    }

    #[test]
    fn prefixes_cover_whole_segments_of_the_match_view() {
        let t = |raw: &str| RequestTarget::parse(raw.as_bytes()).unwrap();
        assert!(prefix_covers("/admin", &t("/admin")));
        assert!(prefix_covers("/admin", &t("/admin/")));
        assert!(prefix_covers("/admin", &t("/admin?x")));
        assert!(prefix_covers("/admin", &t("/%61dmin/x")));
        assert!(prefix_covers("/admin", &t("/admin%2fx")));
        assert!(prefix_covers("/admin", &t("/admin;x=1/y")));
        assert!(!prefix_covers("/admin", &t("/admins")));
        assert!(!prefix_covers("/admin", &t("/x/admin")));
        assert!(prefix_covers("", &t("/anything")));
    }

    #[test]
    fn prefixes_are_canonical_or_refused() {
        assert_eq!(canonical_prefix("/api/").unwrap(), "/api");
        assert_eq!(canonical_prefix("/%61pi").unwrap(), "/api");
        assert_eq!(canonical_prefix("/a%2dz%c3%a9").unwrap(), "/a-z%C3%A9");
        for bad in [
            "api",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "/a/%2e%2e",
            "/a;b",
            "/a%2Fb",
            "/a b",
            "/a?b",
            "/a#b",
            "/a\\b",
            "/a%zz",
        ] {
            let e = canonical_prefix(bad).unwrap_err();
            assert!(e.contains("path prefix"), "{bad}: {e}");
        }
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for raw in [
            "/a/./b/../c//d/",
            "/%61%2f%2e.",
            "/x;y/../z?q=%20",
            "/é/%7e",
        ] {
            let once = norm(raw);
            assert_eq!(norm(&once), once, "{raw}");
        }
    }
}
