//! A route's match conditions compiled for requests: path patterns compiled, methods
//! and names ready to compare — once, when the snapshot is built ([`Conditions::compile`]).
//!
//! What the conditions mean and how routes are ordered is decided in
//! `switchyard_shared::route_match`; this module only evaluates them, for every path
//! (HTTP/1 fast path, HTTP/2, Pingora) through the decision core.
//!
//! Must never: allocate for a request whose route has no conditions, or run a pattern
//! other than the `regex` crate's (linear time, size-limited).

use switchyard_shared::RequestTarget;
use switchyard_shared::policy::compile_regex;
use switchyard_shared::route_match::RouteMatch;

use crate::decide::HeaderLookup;

#[derive(Debug)]
enum Path {
    Exact(Box<str>),
    Pattern(regex::Regex),
}

#[derive(Debug)]
enum Test {
    Present,
    Equals(Box<[u8]>),
    Pattern(regex::Regex),
}

impl Test {
    fn passes(&self, value: &[u8]) -> bool {
        match self {
            Test::Present => true,
            Test::Equals(want) => value == &**want,
            Test::Pattern(re) => std::str::from_utf8(value).is_ok_and(|v| re.is_match(v)),
        }
    }
}

/// A query parameter's name and, unless presence is enough, the value it must have.
type QueryTest = (Box<str>, Option<Box<str>>);

/// The conditions of one route, ready to evaluate.
#[derive(Debug)]
pub struct Conditions {
    path: Option<Path>,
    methods: Box<[Box<[u8]>]>,
    headers: Box<[(Box<str>, Test)]>,
    query: Box<[QueryTest]>,
}

impl Conditions {
    /// Compiles validated conditions (a pattern that fails here cannot occur: the record
    /// was validated when it was read; such a condition never matches rather than
    /// matching everything).
    pub fn compile(m: &RouteMatch) -> Self {
        let never = || regex::Regex::new(r"[^\s\S]").expect("a valid pattern");
        let pattern = |p: &str| compile_regex(p).unwrap_or_else(|_| never());
        let path = match (&m.path_exact, &m.path_regex) {
            (Some(exact), _) => Some(Path::Exact(exact.as_str().into())),
            (None, Some(p)) => Some(Path::Pattern(pattern(p))),
            (None, None) => None,
        };
        Self {
            path,
            methods: m.methods.iter().map(|x| x.as_bytes().into()).collect(),
            headers: m
                .headers
                .iter()
                .map(|h| {
                    let test = match (&h.equals, &h.regex) {
                        (Some(v), _) => Test::Equals(v.as_bytes().into()),
                        (None, Some(p)) => Test::Pattern(pattern(p)),
                        (None, None) => Test::Present,
                    };
                    (h.name.as_str().into(), test)
                })
                .collect(),
            query: m
                .query
                .iter()
                .map(|q| (q.name.as_str().into(), q.equals.as_deref().map(Into::into)))
                .collect(),
        }
    }

    /// Whether a request meets every condition (its path prefix already matched).
    pub fn admit(&self, method: &[u8], target: &RequestTarget, headers: &dyn HeaderLookup) -> bool {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| **m == *method) {
            return false;
        }
        match &self.path {
            Some(Path::Exact(p)) if **p != *target.match_path() => return false,
            Some(Path::Pattern(re)) if !re.is_match(target.match_path()) => return false,
            _ => {}
        }
        for (name, test) in &*self.headers {
            let mut found = false;
            headers.each(name, &mut |v| found = found || test.passes(trim_ows(v)));
            if !found {
                return false;
            }
        }
        if !self.query.is_empty() {
            let query = target.query().unwrap_or("");
            for (name, want) in &*self.query {
                let found = form_urlencoded::parse(query.as_bytes())
                    .any(|(k, v)| *k == **name && want.as_deref().is_none_or(|w| *v == *w));
                if !found {
                    return false;
                }
            }
        }
        true
    }
}

/// A field value without the optional whitespace around it (RFC 9110 §5.5).
fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &v[start..end]
}
