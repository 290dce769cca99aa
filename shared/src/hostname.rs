//! Hostname rules: normalisation, validation and wildcard patterns.
//!
//! Every hostname is normalised before it is stored or looked up (DESIGN.md "Hostname
//! rules"): lower-case, trailing dot dropped, IDNs in punycode, port stripped, labels of
//! 1–63 characters made of letters, digits and inner hyphens, names of at most 253
//! characters.
//!
//! A [`HostPattern`] may also contain wildcard labels:
//! - `*` is one whole label and matches exactly one label, in any position
//!   (`*.example.com`, `api.*.example.com`);
//! - `**` is the first or the last label and matches one or more labels
//!   (`**.example.com`, `payments.**`); a pattern holds at most one `**`.
//!
//! A pattern needs at least one literal label, so no single pattern swallows every host.

use std::borrow::Cow;
use std::fmt;

/// Longest hostname, in characters, once normalised (RFC 1035 without the root dot).
pub const MAX_HOSTNAME_LEN: usize = 253;
/// Longest label, in characters (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;
/// Most labels a name of 253 characters can have (one character and one dot each).
pub const MAX_LABELS: usize = 127;

/// Why a hostname or pattern was refused. Each message names the value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostnameError {
    #[error("hostname is empty; give a name such as \"app.example.com\"")]
    Empty,
    #[error("hostname \"{name}\" is {len} characters; names must be at most 253")]
    TooLong { name: String, len: usize },
    #[error("hostname \"{name}\" has an empty label; labels must be 1–63 characters")]
    EmptyLabel { name: String },
    #[error("label \"{label}\" in hostname \"{name}\" is {len} characters; labels must be 1–63")]
    LabelTooLong {
        name: String,
        label: String,
        len: usize,
    },
    #[error(
        "label \"{label}\" in hostname \"{name}\" contains {found}; use letters, digits and hyphens"
    )]
    BadCharacter {
        name: String,
        label: String,
        found: String,
    },
    #[error("label \"{label}\" in hostname \"{name}\" starts or ends with a hyphen")]
    EdgeHyphen { name: String, label: String },
    #[error("label \"{label}\" in hostname \"{name}\" is not a valid internationalised name")]
    BadIdn { name: String, label: String },
    #[error("hostname \"{name}\" has port \"{port}\"; ports must be 1–65535")]
    BadPort { name: String, port: String },
    #[error("hostname \"{name}\" contains a wildcard; wildcards are allowed only in zone patterns")]
    WildcardNotAllowed { name: String },
    #[error(
        "label \"{label}\" in pattern \"{name}\" mixes \"*\" with other characters; a wildcard must be a whole label (\"*\" or \"**\")"
    )]
    PartialWildcard { name: String, label: String },
    #[error(
        "pattern \"{name}\" has \"**\" in the middle; \"**\" may only be the first or last label"
    )]
    InnerDoubleWildcard { name: String },
    #[error("pattern \"{name}\" has more than one \"**\"; a pattern may hold at most one")]
    SeveralDoubleWildcards { name: String },
    #[error("pattern \"{name}\" has no literal label; add at least one, e.g. \"*.example.com\"")]
    NoLiteralLabel { name: String },
}

/// Normalises the host of a request (`Host` header or `:authority`) for lookup.
///
/// Strips a port, drops a trailing dot, lower-cases and converts IDNs to punycode.
/// Borrows the input when it is already normal, which is the common case on the hot
/// path. An IP literal (`[::1]`, `10.0.0.1`) is returned as written: it never matches
/// a zone, which the caller reports as "no zone".
pub fn normalize_request_host(host: &str) -> Result<Cow<'_, str>, HostnameError> {
    let name = strip_port(host)?;
    if name.starts_with('[') {
        return Ok(Cow::Borrowed(name));
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    if is_already_normal(name) {
        return Ok(Cow::Borrowed(name));
    }
    let normalized = normalize_labels(host, name, Wildcards::Refuse)?;
    Ok(Cow::Owned(normalized))
}

/// Normalises and validates a concrete hostname (no wildcards, no port).
pub fn normalize_hostname(name: &str) -> Result<String, HostnameError> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    normalize_labels(name, trimmed, Wildcards::Refuse)
}

/// Returns the host part of `host[:port]`, checking the port when one is given.
fn strip_port(host: &str) -> Result<&str, HostnameError> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        // IPv6 literal: "[::1]" or "[::1]:8080".
        match rest.find(']') {
            Some(end) => {
                let after = &rest[end + 1..];
                (&host[..end + 2], after.strip_prefix(':'))
            }
            None => (host, None),
        }
    } else {
        // A byte loop: `rsplit_once(':')`'s char searcher costs more to set up than
        // this takes on a host name (it runs per request).
        match host.bytes().rposition(|b| b == b':') {
            Some(i) => (&host[..i], Some(&host[i + 1..])),
            None => (host, None),
        }
    };
    if let Some(port) = port {
        match port.parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) => {}
            _ => {
                return Err(HostnameError::BadPort {
                    name: host.to_owned(),
                    port: port.to_owned(),
                });
            }
        }
    }
    Ok(name)
}

/// Whether `name` is already a normal, valid hostname (lower-case LDH labels, no
/// A-label to check): one pass over the bytes, since this runs for every request.
fn is_already_normal(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_HOSTNAME_LEN {
        return false;
    }
    let label_ok = |label: &[u8]| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && label[0] != b'-'
            && label[label.len() - 1] != b'-'
            && !label.starts_with(b"xn--")
    };
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'.' {
            if !label_ok(&bytes[start..i]) {
                return false;
            }
            start = i + 1;
        } else if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return false;
        }
    }
    label_ok(&bytes[start..])
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wildcards {
    Allow,
    Refuse,
}

/// Splits, normalises and validates every label; `original` is only used in messages.
fn normalize_labels(
    original: &str,
    name: &str,
    wildcards: Wildcards,
) -> Result<String, HostnameError> {
    if name.is_empty() {
        return Err(HostnameError::Empty);
    }
    let mut labels: Vec<Cow<'_, str>> = Vec::new();
    for label in name.split('.') {
        if label.is_ascii() {
            labels.push(Cow::Borrowed(label));
        } else {
            // UTS 46 mapping may turn a full-width dot into a separator: split again.
            let ascii = idna::domain_to_ascii_strict(label).map_err(|_| HostnameError::BadIdn {
                name: original.to_owned(),
                label: label.to_owned(),
            })?;
            labels.extend(ascii.split('.').map(|l| Cow::Owned(l.to_owned())));
        }
    }
    let mut out = String::with_capacity(name.len());
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        let label = label.as_ref();
        check_label(original, label, wildcards)?;
        if label.starts_with("xn--") || label.starts_with("XN--") {
            // An A-label given directly must decode to a valid U-label.
            let lower = label.to_ascii_lowercase();
            let (_, result) = idna::domain_to_unicode(&lower);
            if result.is_err() {
                return Err(HostnameError::BadIdn {
                    name: original.to_owned(),
                    label: label.to_owned(),
                });
            }
        }
        for b in label.bytes() {
            out.push(b.to_ascii_lowercase() as char);
        }
    }
    if out.len() > MAX_HOSTNAME_LEN {
        return Err(HostnameError::TooLong {
            len: out.len(),
            name: out,
        });
    }
    Ok(out)
}

fn check_label(name: &str, label: &str, wildcards: Wildcards) -> Result<(), HostnameError> {
    if label.is_empty() {
        return Err(HostnameError::EmptyLabel {
            name: name.to_owned(),
        });
    }
    if label.contains('*') {
        if wildcards == Wildcards::Refuse {
            return Err(HostnameError::WildcardNotAllowed {
                name: name.to_owned(),
            });
        }
        if label != "*" && label != "**" {
            return Err(HostnameError::PartialWildcard {
                name: name.to_owned(),
                label: label.to_owned(),
            });
        }
        return Ok(());
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(HostnameError::LabelTooLong {
            name: name.to_owned(),
            label: label.to_owned(),
            len: label.len(),
        });
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        let found = if bad.is_whitespace() || bad.is_control() {
            format!("the character U+{:04X}", bad as u32)
        } else {
            format!("the character '{bad}'")
        };
        return Err(HostnameError::BadCharacter {
            name: name.to_owned(),
            label: label.to_owned(),
            found,
        });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(HostnameError::EdgeHyphen {
            name: name.to_owned(),
            label: label.to_owned(),
        });
    }
    Ok(())
}

/// One label of a [`HostPattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternLabel<'a> {
    /// Matches exactly this label.
    Literal(&'a str),
    /// `*`: matches exactly one label.
    Any,
    /// `**`: matches one or more labels.
    AnyMany,
}

/// Which of the three precedence classes a pattern belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PatternKind {
    /// Holds a `**` label; the weakest.
    MultiWildcard = 0,
    /// Holds one or more `*` labels and no `**`.
    Wildcard = 1,
    /// Only literal labels; always wins.
    Exact = 2,
}

/// A normalised, validated hostname pattern: an exact name or one with wildcard labels.
///
/// Serialised as its text; deserialising validates (and rejects text that is not
/// already normalised, so stored data is never silently reinterpreted).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPattern {
    text: Box<str>,
}

impl HostPattern {
    /// Normalises and validates a pattern written by a user (`*.Example.COM.` → `*.example.com`).
    pub fn parse(input: &str) -> Result<Self, HostnameError> {
        let trimmed = input.strip_suffix('.').unwrap_or(input);
        let text = normalize_labels(input, trimmed, Wildcards::Allow)?;
        let labels: Vec<&str> = text.split('.').collect();
        let last = labels.len() - 1;
        let double: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == "**").collect();
        if double.len() > 1 {
            return Err(HostnameError::SeveralDoubleWildcards { name: text });
        }
        if let Some(&i) = double.first()
            && i != 0
            && i != last
        {
            return Err(HostnameError::InnerDoubleWildcard { name: text });
        }
        if labels.iter().all(|l| l.starts_with('*')) {
            return Err(HostnameError::NoLiteralLabel { name: text });
        }
        Ok(Self { text: text.into() })
    }

    /// The normalised text, e.g. `*.example.com`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The labels from left to right.
    pub fn labels(&self) -> impl DoubleEndedIterator<Item = PatternLabel<'_>> + Clone {
        self.text.split('.').map(|l| match l {
            "*" => PatternLabel::Any,
            "**" => PatternLabel::AnyMany,
            other => PatternLabel::Literal(other),
        })
    }

    /// Its precedence class.
    pub fn kind(&self) -> PatternKind {
        if self.text.split('.').any(|l| l == "**") {
            PatternKind::MultiWildcard
        } else if self.text.split('.').any(|l| l == "*") {
            PatternKind::Wildcard
        } else {
            PatternKind::Exact
        }
    }

    /// True when `**` is the last label (`payments.**`): matched from the left.
    pub fn is_prefix_anchored(&self) -> bool {
        self.text.ends_with(".**")
    }

    /// Whether this pattern matches a normalised hostname. This is the plain, linear
    /// definition; [`crate::matcher::HostMatcher`] gives the same answers in constant time.
    pub fn matches(&self, host: &str) -> bool {
        let host: Vec<&str> = host.split('.').collect();
        let pattern: Vec<PatternLabel<'_>> = self.labels().collect();
        let label_matches = |p: &PatternLabel<'_>, h: &str| match p {
            PatternLabel::Literal(l) => *l == h,
            PatternLabel::Any => true,
            PatternLabel::AnyMany => unreachable!("handled by the caller"),
        };
        let fixed = &pattern;
        match (pattern.first(), pattern.last()) {
            (Some(PatternLabel::AnyMany), _) => {
                let rest = &fixed[1..];
                host.len() > rest.len()
                    && rest
                        .iter()
                        .zip(&host[host.len() - rest.len()..])
                        .all(|(p, h)| label_matches(p, h))
            }
            (_, Some(PatternLabel::AnyMany)) => {
                let rest = &fixed[..fixed.len() - 1];
                host.len() > rest.len() && rest.iter().zip(&host).all(|(p, h)| label_matches(p, h))
            }
            _ => {
                host.len() == pattern.len()
                    && pattern.iter().zip(&host).all(|(p, h)| label_matches(p, h))
            }
        }
    }

    /// The apex a wildcard certificate pattern also covers: `*.example.com` → `example.com`.
    pub fn wildcard_apex(&self) -> Option<&str> {
        self.text
            .strip_prefix("*.")
            .filter(|rest| !rest.contains('*'))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for HostPattern {
    type Err = HostnameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let pattern = Self::parse(&text).map_err(serde::de::Error::custom)?;
        if pattern.as_str() != text {
            return Err(serde::de::Error::custom(format!(
                "hostname pattern \"{text}\" is not normalised; expected \"{pattern}\""
            )));
        }
        Ok(pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_hosts_are_normalised() {
        let cases = [
            ("example.com", "example.com"),
            ("Example.COM", "example.com"),
            ("example.com.", "example.com"),
            ("example.com:8080", "example.com"),
            ("EXAMPLE.com.:443", "example.com"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("BÜCHER.example", "xn--bcher-kva.example"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("[::1]:8080", "[::1]"),
            ("127.0.0.1:80", "127.0.0.1"),
        ];
        for (input, want) in cases {
            assert_eq!(
                normalize_request_host(input).unwrap(),
                want,
                "input {input:?}"
            );
        }
    }

    proptest::proptest! {
        /// The one-pass check claims "normal" exactly for the names the full
        /// normalisation leaves as they are (A-labels aside, which it leaves to the
        /// full check).
        #[test]
        fn the_quick_check_agrees_with_the_full_normalisation(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "a", "Z", "0", "-", ".", "xn--", "é", "_", "abc", "a-b", "..", "-a",
                "a-", "9", ":", " ",
            ]), 0..10)
        ) {
            let name = pieces.concat();
            let full = normalize_labels(&name, &name, Wildcards::Refuse);
            if is_already_normal(&name) {
                proptest::prop_assert_eq!(full.as_deref(), Ok(name.as_str()));
            } else if !name.split('.').any(|l| l.starts_with("xn--")) {
                proptest::prop_assert_ne!(full.as_deref(), Ok(name.as_str()));
            }
        }
    }

    #[test]
    fn normal_request_hosts_are_borrowed() {
        assert!(matches!(
            normalize_request_host("app.example.com").unwrap(),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            normalize_request_host("App.example.com").unwrap(),
            Cow::Owned(_)
        ));
    }

    #[test]
    fn bad_hostnames_are_refused_with_a_reason() {
        let long_label = "a".repeat(64);
        let long_name = vec!["abcdefghi"; 26].join(".");
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "hostname is empty"),
            ("a..b".into(), "has an empty label"),
            (
                format!("{long_label}.com"),
                "is 64 characters; labels must be 1–63",
            ),
            (long_name, "is 259 characters; names must be at most 253"),
            ("a_b.com".into(), "contains the character '_'"),
            ("a b.com".into(), "contains the character U+0020"),
            ("-a.com".into(), "starts or ends with a hyphen"),
            ("a-.com".into(), "starts or ends with a hyphen"),
            (
                "example.com:0".into(),
                "has port \"0\"; ports must be 1–65535",
            ),
            ("example.com:99999".into(), "has port \"99999\""),
            ("example.com:http".into(), "has port \"http\""),
            (
                "*.example.com".into(),
                "wildcards are allowed only in zone patterns",
            ),
            (
                "xn--zz.example".into(),
                "not a valid internationalised name",
            ),
        ];
        for (input, want) in cases {
            let err = normalize_hostname(input.split(':').next().unwrap())
                .and_then(|_| normalize_request_host(&input).map(|c| c.into_owned()))
                .expect_err(&input);
            let msg = err.to_string();
            assert!(
                msg.contains(want),
                "{input:?}: {msg:?} should contain {want:?}"
            );
        }
    }

    #[test]
    fn patterns_are_parsed_and_classified() {
        let cases = [
            ("App.Example.com.", "app.example.com", PatternKind::Exact),
            ("*.example.com", "*.example.com", PatternKind::Wildcard),
            (
                "api.*.example.com",
                "api.*.example.com",
                PatternKind::Wildcard,
            ),
            (
                "**.example.com",
                "**.example.com",
                PatternKind::MultiWildcard,
            ),
            ("payments.**", "payments.**", PatternKind::MultiWildcard),
            (
                "**.*.example.com",
                "**.*.example.com",
                PatternKind::MultiWildcard,
            ),
            (
                "*.bücher.example",
                "*.xn--bcher-kva.example",
                PatternKind::Wildcard,
            ),
        ];
        for (input, text, kind) in cases {
            let p = HostPattern::parse(input).unwrap();
            assert_eq!(p.as_str(), text);
            assert_eq!(p.kind(), kind, "{input}");
        }
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        let cases = [
            ("a*.example.com", "mixes \"*\" with other characters"),
            ("***.example.com", "mixes \"*\" with other characters"),
            (
                "a.**.example.com",
                "\"**\" may only be the first or last label",
            ),
            ("**.example.**", "at most one"),
            ("*", "no literal label"),
            ("**", "no literal label"),
            ("*.**", "no literal label"),
            ("", "hostname is empty"),
        ];
        for (input, want) in cases {
            let msg = HostPattern::parse(input).expect_err(input).to_string();
            assert!(
                msg.contains(want),
                "{input:?}: {msg:?} should contain {want:?}"
            );
        }
    }

    #[test]
    fn pattern_matching_follows_the_rules() {
        let cases = [
            ("app.example.com", "app.example.com", true),
            ("app.example.com", "x.app.example.com", false),
            ("*.example.com", "app.example.com", true),
            ("*.example.com", "example.com", false),
            ("*.example.com", "a.b.example.com", false),
            ("api.*.example.com", "api.eu.example.com", true),
            ("api.*.example.com", "web.eu.example.com", false),
            ("**.example.com", "a.example.com", true),
            ("**.example.com", "a.b.c.example.com", true),
            ("**.example.com", "example.com", false),
            ("payments.**", "payments.example.com", true),
            ("payments.**", "payments.a.b", true),
            ("payments.**", "payments", false),
            ("payments.**", "x.payments.com", false),
        ];
        for (pattern, host, want) in cases {
            let p = HostPattern::parse(pattern).unwrap();
            assert_eq!(p.matches(host), want, "{pattern} vs {host}");
        }
    }

    #[test]
    fn serde_round_trips_and_rejects_unnormalised_text() {
        let p: HostPattern = serde_json::from_str("\"*.example.com\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"*.example.com\"");
        let err = serde_json::from_str::<HostPattern>("\"*.Example.com\"").unwrap_err();
        assert!(err.to_string().contains("not normalised"), "{err}");
        let err = serde_json::from_str::<HostPattern>("\"a*.example.com\"").unwrap_err();
        assert!(err.to_string().contains("whole label"), "{err}");
    }

    #[test]
    fn wildcard_certificates_cover_their_apex() {
        let p = HostPattern::parse("*.example.com").unwrap();
        assert_eq!(p.wildcard_apex(), Some("example.com"));
        assert_eq!(
            HostPattern::parse("a.example.com").unwrap().wildcard_apex(),
            None
        );
    }
}
