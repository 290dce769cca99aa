//! Conditions a route puts on a request besides its host and path prefix — an exact or
//! regular-expression path, a method set, headers, query parameters — and the one
//! precedence rule that orders the routes of a host.
//!
//! A route serves a request when its host pattern won (see [`crate::matcher`]), its path
//! prefix covers the request's path, and every condition of its [`RouteMatch`] holds.
//! Among the routes of a host that serve a request, the one with the greatest
//! [`Precedence`] is chosen:
//! 1. a route with an exact path beats every route without one;
//! 2. then the longer path prefix wins (as before conditions existed);
//! 3. then a route with a path pattern beats one without;
//! 4. then a route with a method set beats one without;
//! 5. then more header conditions win, then more query conditions;
//! 6. last, between routes equal on all of that, the smaller [`RouteMatch::key`] wins
//!    (the canonical JSON of the conditions): arbitrary, but the same on every proxy and
//!    on every build of the snapshot, whatever the order the routes were stored in.
//!
//! Paths are compared on the request's match path ([`crate::RequestTarget::match_path`],
//! the form prefixes are matched in), so `/%61pi` and `/./api` meet `path_exact: "/api"`.
//! A path pattern is a [`regex`] (linear time, size-limited), not anchored unless it says
//! `^`/`$`. Header names are compared without case and values exactly (any field of that
//! name may match); query parameters are decoded as `application/x-www-form-urlencoded`
//! and compared exactly (any occurrence may match).
//!
//! This module validates, normalises and orders; the proxy evaluates (`proxy/src/route_match.rs`).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::model::{FieldError, PathPrefix};
use crate::policy::{compile_regex, is_token};

/// Most conditions of one kind a route may have.
pub const MAX_CONDITIONS: usize = 16;
/// Longest exact path or header / query value.
pub const MAX_VALUE_LEN: usize = 1024;
/// Longest [`RouteMatch::key`]: the conditions are part of a zone's identity, which the
/// panel indexes beside the hostname and path prefix.
pub const MAX_KEY_LEN: usize = 1024;

/// What a request must also meet for a route to serve it. Empty (the default) matches
/// every request under the route's path prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// The whole normalised path equals this (and lies under the path prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_exact: Option<String>,
    /// The normalised path matches this regular expression (not anchored unless it says
    /// so). Not together with `path_exact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_regex: Option<String>,
    /// Request methods accepted (upper-case tokens, e.g. `GET`); empty accepts any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Every one of these must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderCondition>,
    /// Every one of these must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<QueryCondition>,
}

/// A request header that must be present, equal a value, or match a pattern.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeaderCondition {
    /// Header name, any case (stored lower-case).
    pub name: String,
    /// Some field of that name has exactly this value. Without `equals` and `regex`, the
    /// header only has to be present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// Some field of that name matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// A query parameter that must be present or equal a value (after decoding).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QueryCondition {
    pub name: String,
    /// Some occurrence of the parameter has exactly this value; without it, the
    /// parameter only has to be present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
}

fn push(out: &mut Vec<FieldError>, field: impl Into<String>, problem: impl Into<String>) {
    out.push(FieldError {
        field: field.into(),
        problem: problem.into(),
    });
}

fn value_problem(value: &str) -> Option<String> {
    if value.len() > MAX_VALUE_LEN {
        Some(format!(
            "value is {} characters; at most {MAX_VALUE_LEN} are allowed",
            value.len()
        ))
    } else if value.chars().any(|c| c.is_control()) {
        Some(format!(
            "value \"{}\" holds a control character",
            value.escape_debug()
        ))
    } else {
        None
    }
}

impl RouteMatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The conditions as canonical JSON (normalised by [`Self::check`] first): part of a
    /// zone's identity beside its hostname and path prefix; empty when there are none.
    pub fn key(&self) -> String {
        if self.is_empty() {
            String::new()
        } else {
            serde_json::to_string(self).expect("conditions always serialise")
        }
    }

    /// Validates and normalises in place (methods sorted and de-duplicated, header names
    /// lower-cased, conditions sorted, the exact path in match form). `field` names the
    /// conditions object in messages; `prefix` is the route's path prefix.
    pub fn check(&mut self, field: &str, prefix: &PathPrefix, out: &mut Vec<FieldError>) {
        let before = out.len();
        if self.path_exact.is_some() && self.path_regex.is_some() {
            push(
                out,
                format!("{field}.path_regex"),
                "path_exact and path_regex cannot both be set; a route has one path condition",
            );
        }
        if let Some(exact) = &mut self.path_exact {
            let f = format!("{field}.path_exact");
            match exact_path(exact) {
                Err(problem) => push(out, f, problem),
                Ok(target) => {
                    let path = target.match_path().to_owned();
                    if !prefix.matches(&target) {
                        push(
                            out,
                            f,
                            format!(
                                "path \"{path}\" is not under the zone's path prefix \"{}\", so no request could match; use a path under it or an empty prefix",
                                prefix.as_str()
                            ),
                        );
                    }
                    *exact = path;
                }
            }
        }
        if let Some(pattern) = &self.path_regex
            && let Err(problem) = compile_regex(pattern)
        {
            push(out, format!("{field}.path_regex"), problem);
        }
        if self.methods.len() > MAX_CONDITIONS {
            push(
                out,
                format!("{field}.methods"),
                format!(
                    "{} methods given; at most {MAX_CONDITIONS} are allowed",
                    self.methods.len()
                ),
            );
        }
        for (i, m) in self.methods.iter().enumerate() {
            if !is_token(m) || m.bytes().any(|b| b.is_ascii_lowercase()) {
                push(
                    out,
                    format!("{field}.methods[{i}]"),
                    format!(
                        "method \"{}\" is not an upper-case token (e.g. GET, POST, DELETE)",
                        m.escape_debug()
                    ),
                );
            }
        }
        self.methods.sort();
        self.methods.dedup();
        for (kind, len) in [("headers", self.headers.len()), ("query", self.query.len())] {
            if len > MAX_CONDITIONS {
                push(
                    out,
                    format!("{field}.{kind}"),
                    format!("{len} conditions given; at most {MAX_CONDITIONS} are allowed"),
                );
            }
        }
        for (i, h) in self.headers.iter_mut().enumerate() {
            let f = format!("{field}.headers[{i}]");
            if !is_token(&h.name) {
                push(
                    out,
                    format!("{f}.name"),
                    format!(
                        "header name \"{}\" is not a token (letters, digits and !#$%&'*+-.^_`|~)",
                        h.name.escape_debug()
                    ),
                );
            }
            h.name.make_ascii_lowercase();
            if h.equals.is_some() && h.regex.is_some() {
                push(
                    out,
                    format!("{f}.regex"),
                    "equals and regex cannot both be set; give one, or neither to require only that the header is present",
                );
            }
            if let Some(v) = &h.equals
                && let Some(problem) = value_problem(v)
            {
                push(out, format!("{f}.equals"), problem);
            }
            if let Some(p) = &h.regex
                && let Err(problem) = compile_regex(p)
            {
                push(out, format!("{f}.regex"), problem);
            }
        }
        for (i, q) in self.query.iter().enumerate() {
            let f = format!("{field}.query[{i}]");
            if q.name.is_empty() {
                push(out, format!("{f}.name"), "the parameter name is empty");
            } else if let Some(problem) = value_problem(&q.name) {
                push(out, format!("{f}.name"), problem);
            }
            if let Some(v) = &q.equals
                && let Some(problem) = value_problem(v)
            {
                push(out, format!("{f}.equals"), problem);
            }
        }
        if out.len() == before {
            self.headers.sort();
            self.headers.dedup();
            self.query.sort();
            self.query.dedup();
            let len = self.key().len();
            if len > MAX_KEY_LEN {
                push(
                    out,
                    field,
                    format!(
                        "the conditions take {len} characters as JSON; at most {MAX_KEY_LEN} are allowed (shorten patterns or values)"
                    ),
                );
            }
        }
    }
}

/// An exact path parsed as a request's (its match path is the form stored), or why it
/// cannot be one.
fn exact_path(input: &str) -> Result<crate::RequestTarget, String> {
    if input.len() > MAX_VALUE_LEN {
        return Err(format!(
            "path is {} characters; at most {MAX_VALUE_LEN} are allowed",
            input.len()
        ));
    }
    if !input.starts_with('/') {
        return Err(format!(
            "path \"{}\" does not start with \"/\"",
            input.escape_debug()
        ));
    }
    if input.contains(['?', '#']) {
        return Err(format!(
            "path \"{}\" holds a query or fragment; give the path alone (query conditions go in `query`)",
            input.escape_debug()
        ));
    }
    crate::RequestTarget::parse(input.as_bytes())
        .map_err(|e| format!("path \"{}\" is not a valid path: {e}", input.escape_debug()))
}

/// How specific a route is; a greater value wins (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precedence<'a> {
    exact: bool,
    prefix_len: usize,
    regex: bool,
    methods: bool,
    headers: usize,
    query: usize,
    key: std::borrow::Cow<'a, str>,
}

impl<'a> Precedence<'a> {
    /// The precedence of a route with this prefix and these conditions.
    pub fn of(prefix: &PathPrefix, conditions: Option<&'a RouteMatch>) -> Self {
        let empty = RouteMatch::default();
        let m = conditions.unwrap_or(&empty);
        Self {
            exact: m.path_exact.is_some(),
            prefix_len: prefix.as_str().len(),
            regex: m.path_regex.is_some(),
            methods: !m.methods.is_empty(),
            headers: m.headers.len(),
            query: m.query.len(),
            key: match conditions {
                Some(c) => c.key().into(),
                None => "".into(),
            },
        }
    }
}

impl Ord for Precedence<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        (
            self.exact,
            self.prefix_len,
            self.regex,
            self.methods,
            self.headers,
            self.query,
        )
            .cmp(&(
                other.exact,
                other.prefix_len,
                other.regex,
                other.methods,
                other.headers,
                other.query,
            ))
            // The smaller key wins, so it is the greater precedence.
            .then_with(|| other.key.cmp(&self.key))
    }
}

impl PartialOrd for Precedence<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(mut m: RouteMatch, prefix: &str) -> Result<RouteMatch, Vec<FieldError>> {
        let mut out = Vec::new();
        m.check("match", &PathPrefix::parse(prefix).unwrap(), &mut out);
        if out.is_empty() { Ok(m) } else { Err(out) }
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn conditions_are_normalised_so_equal_conditions_have_one_key() {
        let a = checked(
            RouteMatch {
                path_exact: Some("/api/./v1//x/%61".into()),
                methods: vec!["POST".into(), "GET".into(), "POST".into()],
                headers: vec![
                    HeaderCondition {
                        name: "X-B".into(),
                        equals: Some("1".into()),
                        regex: None,
                    },
                    HeaderCondition {
                        name: "x-a".into(),
                        equals: None,
                        regex: None,
                    },
                ],
                ..Default::default()
            },
            "/api",
        )
        .unwrap();
        assert_eq!(a.path_exact.as_deref(), Some("/api/v1/x/a"));
        assert_eq!(a.methods, ["GET", "POST"]);
        assert_eq!(a.headers[0].name, "x-a");
        assert_eq!(a.headers[1].name, "x-b");
        let b = checked(
            RouteMatch {
                path_exact: Some("/api/v1/x/a".into()),
                methods: vec!["GET".into(), "POST".into()],
                headers: vec![a.headers[1].clone(), a.headers[0].clone()],
                ..Default::default()
            },
            "/api",
        )
        .unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(RouteMatch::default().key(), "");
    }

    #[test]
    fn bad_conditions_are_refused_naming_the_field() {
        let errors = checked(
            RouteMatch {
                path_exact: Some("/other".into()),
                path_regex: Some("(".into()),
                methods: vec!["get".into()],
                headers: vec![HeaderCondition {
                    name: "bad name".into(),
                    equals: Some("x".into()),
                    regex: Some("y".into()),
                }],
                query: vec![QueryCondition {
                    name: String::new(),
                    equals: Some("a\u{7}".into()),
                }],
            },
            "/api",
        )
        .unwrap_err();
        let fields = fields(errors);
        for f in [
            "match.path_regex",
            "match.path_exact",
            "match.methods[0]",
            "match.headers[0].name",
            "match.headers[0].regex",
            "match.query[0].name",
            "match.query[0].equals",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
        }
        let errors = checked(
            RouteMatch {
                path_exact: Some("/a?b=1".into()),
                ..Default::default()
            },
            "",
        )
        .unwrap_err();
        assert!(errors[0].problem.contains("query"), "{errors:?}");
    }

    #[test]
    fn precedence_follows_the_documented_order() {
        let p = |s: &str| PathPrefix::parse(s).unwrap();
        let exact = RouteMatch {
            path_exact: Some("/a".into()),
            ..Default::default()
        };
        let regex = RouteMatch {
            path_regex: Some("^/a".into()),
            ..Default::default()
        };
        let get = RouteMatch {
            methods: vec!["GET".into()],
            ..Default::default()
        };
        let two_headers = RouteMatch {
            headers: vec![
                HeaderCondition {
                    name: "a".into(),
                    equals: None,
                    regex: None,
                },
                HeaderCondition {
                    name: "b".into(),
                    equals: None,
                    regex: None,
                },
            ],
            ..Default::default()
        };
        let root = p("");
        let a = p("/a");
        let ranked = [
            Precedence::of(&root, Some(&exact)),
            Precedence::of(&a, None),
            Precedence::of(&root, Some(&regex)),
            Precedence::of(&root, Some(&get)),
            Precedence::of(&root, Some(&two_headers)),
            Precedence::of(&root, None),
        ];
        for pair in ranked.windows(2) {
            assert!(pair[0] > pair[1], "{:?} should beat {:?}", pair[0], pair[1]);
        }
    }
}
