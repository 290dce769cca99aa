//! What a route does besides forwarding: its policies, as users write them and as the
//! Redis record carries them.
//!
//! One type, [`Policies`], serves both: a zone spec's `policies` object is validated by
//! [`Policies::check`] (every problem with its field named, e.g.
//! `policies.rate_limit.requests`) and normalised (header names lower-cased, a basic-auth
//! password replaced by its argon2id hash), and the normalised value is what the record
//! stores and the proxy compiles. A route without policies stores none, so its record is
//! unchanged from data format 1 ([`Policies::is_empty`], [`crate::model::HostRecord::format_needed`]).
//!
//! A `health_check` is data like the rest: [`Policies::check`] bounds it (interval ≥ 1 s,
//! timeout below the interval, thresholds 1–10) and [`parse_status_ranges`] is the one
//! reading of its `expected_status`, for the panel and the proxy's probes alike.
//!
//! Must never: keep a password in clear (only hashes leave [`Policies::check`]), accept a
//! regular expression without a size limit, or accept a header edit that changes how a
//! message is framed (`Content-Length`, `Transfer-Encoding`, `Connection`, …).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::FieldError;

/// Compiled size limit of a rewrite or redirect pattern (the `regex` crate's
/// `size_limit`): patterns are matched in linear time, and this bounds their memory.
pub const REGEX_SIZE_LIMIT: usize = 64 * 1024;
/// Longest pattern text accepted.
pub const MAX_PATTERN_LEN: usize = 1024;
/// Longest header value template, redirect target or rewrite replacement.
pub const MAX_TEMPLATE_LEN: usize = 4096;
/// Header edits per direction (set + add + remove).
pub const MAX_HEADER_RULES: usize = 64;
/// Basic-auth users per route.
pub const MAX_BASIC_USERS: usize = 1000;
/// Largest custom error page body.
pub const MAX_ERROR_PAGE_BYTES: usize = 64 * 1024;
/// Largest `max_body_bytes`: 64 GiB (beyond that, say nothing and stream).
pub const MAX_BODY_LIMIT: u64 = 64 << 30;
/// `max_header_bytes` range: below 1 KiB ordinary browsers fail; above 64 KiB is what
/// the proxy refuses for every route anyway.
pub const MIN_HEADER_LIMIT: u32 = 1024;
pub const MAX_HEADER_LIMIT: u32 = 64 * 1024;
/// Longest HSTS max-age: two years, the preload list's recommendation.
pub const MAX_HSTS_AGE: u32 = 63_072_000;
/// The preload list's minimum max-age: one year.
pub const PRELOAD_MIN_AGE: u32 = 31_536_000;
/// Highest rate: a million requests per window.
pub const MAX_RATE: u32 = 1_000_000;
/// Longest rate window: an hour.
pub const MAX_RATE_WINDOW: u32 = 3600;

/// Algorithms a `jwt` policy may allow (`none` never).
pub const JWT_ALGORITHMS: [&str; 12] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256",
    "HS384", "HS512",
];
/// Shortest HMAC secret of a `jwt` policy: 32 bytes, the output size of SHA-256 (RFC 7518
/// §3.2 asks for a key at least as long as the hash).
pub const MIN_JWT_SECRET: usize = 32;
/// Longest HMAC secret or public key PEM.
pub const MAX_JWT_KEY: usize = 16 * 1024;
/// Longest clock leeway of a `jwt` policy: ten minutes.
pub const MAX_JWT_LEEWAY: u32 = 600;
/// Claims copied to request headers, audiences, and headers a forward-auth policy names.
pub const MAX_AUTH_LIST: usize = 32;
/// Longest forward-auth timeout: a minute.
pub const MAX_FORWARD_AUTH_TIMEOUT_MS: u32 = 60_000;

/// Groups of a `split` policy: 2–8.
pub const MAX_SPLIT_GROUPS: usize = 8;
/// Highest weight of a split group (0 takes no share: reachable only when forced).
pub const MAX_SPLIT_WEIGHT: u32 = 1000;
/// Longest split group name.
pub const MAX_GROUP_NAME: usize = 32;
/// Upstreams of one split group.
pub const MAX_GROUP_UPSTREAMS: usize = 64;
/// Default lifetime of a split's sticky cookie: a day.
pub const DEFAULT_STICKY_MAX_AGE: u32 = 86_400;
/// Longest lifetime of a split's sticky cookie: a year.
pub const MAX_STICKY_MAX_AGE: u32 = 31_536_000;

/// Most tries of one request under a `retry` policy, the first included.
pub const MAX_RETRY_ATTEMPTS: u32 = 5;
/// Upstream answers a `retry` policy may send again (idempotent requests only).
pub const RETRY_STATUSES: [u16; 3] = [502, 503, 504];
/// Longest backoff before a retry.
pub const MAX_RETRY_BACKOFF_MS: u32 = 10_000;
/// Highest floor of retries per second a retry budget always allows.
pub const MAX_RETRY_FLOOR: u32 = 1000;
/// Most consecutive failures a circuit breaker may wait for.
pub const MAX_BREAKER_FAILURES: u32 = 1000;
/// Longest window of a circuit breaker's error share, in seconds.
pub const MAX_BREAKER_WINDOW: u32 = 300;
/// Most requests a circuit breaker's error share may wait for.
pub const MAX_BREAKER_MIN_REQUESTS: u32 = 100_000;
/// Longest time a circuit stays open before it lets probes through, in seconds.
pub const MAX_BREAKER_OPEN_SECS: u32 = 3600;
/// Most probe requests of a half-open circuit.
pub const MAX_BREAKER_PROBES: u32 = 100;
/// Active HTTP health checks: interval 1 s – 5 min (a faster probe is load, not news).
pub const MIN_CHECK_INTERVAL_MS: u32 = 1000;
pub const MAX_CHECK_INTERVAL_MS: u32 = 300_000;
/// Longest timeout of one health probe: a minute (and always shorter than the interval).
pub const MAX_CHECK_TIMEOUT_MS: u32 = 60_000;
/// Consecutive results that change an endpoint's state: 1–10.
pub const MAX_CHECK_THRESHOLD: u32 = 10;
/// Longest health check path (with its query).
pub const MAX_CHECK_PATH: usize = 1024;
/// Status codes and ranges one `expected_status` may list.
pub const MAX_STATUS_RANGES: usize = 16;
/// Default `expected_status` of a health check: success and redirects, as HAProxy and
/// most load balancers count them.
pub const DEFAULT_EXPECTED_STATUS: &str = "200-399";
/// Default health check interval, timeout and thresholds.
pub const DEFAULT_CHECK_INTERVAL_MS: u32 = 5000;
pub const DEFAULT_CHECK_TIMEOUT_MS: u32 = 1000;
pub const DEFAULT_HEALTHY_THRESHOLD: u32 = 2;
pub const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;

/// Statuses the proxy answers itself for a route, which a custom page may replace.
pub const ERROR_PAGE_STATUSES: [u16; 7] = [401, 403, 413, 429, 502, 503, 504];

/// Request headers the proxy sets itself from what it knows of the client; a rule would
/// contradict them (use `preserve_host` and trusted-proxy settings instead).
pub const FORWARDING_HEADERS: [&str; 4] = [
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Variables a header value template may use.
pub const HEADER_VARIABLES: [&str; 4] = ["client_ip", "request_id", "host", "scheme"];

/// Headers no rule may set, add or remove: they frame the message or the connection,
/// or are the proxy's own (`Host` is `preserve_host`'s; forwarding headers are rebuilt).
pub const PROTECTED_HEADERS: [&str; 10] = [
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-request-id",
];

fn is_false(b: &bool) -> bool {
    !*b
}

/// For fields that are read but never written out.
fn never<T>(_: &T) -> bool {
    true
}

/// Everything a route does besides forwarding. Empty (the default) costs nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Policies {
    /// Rewrites the path sent upstream (the route is still chosen on the request's path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<Rewrite>,
    /// Answers with a redirect instead of forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Redirect>,
    /// Edits of the request sent upstream.
    #[serde(default, skip_serializing_if = "HeaderRules::is_empty")]
    pub request_headers: HeaderRules,
    /// Edits of the answer sent to the client.
    #[serde(default, skip_serializing_if = "HeaderRules::is_empty")]
    pub response_headers: HeaderRules,
    /// `Strict-Transport-Security` on answers over HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsts: Option<Hsts>,
    /// Adds `X-Content-Type-Options: nosniff`, `X-Frame-Options: SAMEORIGIN` and
    /// `Referrer-Policy: strict-origin-when-cross-origin` to answers that lack them.
    #[serde(default, skip_serializing_if = "is_false")]
    pub security_headers: bool,
    /// Largest request body accepted, in bytes; larger bodies are answered 413.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 68_719_476_736_u64))]
    pub max_body_bytes: Option<u64>,
    /// Largest request head accepted, in bytes (the request line and every header field
    /// as HTTP/1.1 writes them, whatever the protocol); larger heads are answered 431.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1024, maximum = 65536))]
    pub max_header_bytes: Option<u32>,
    /// Users who may pass, by HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Requests must carry a valid JSON Web Token (else 401 with a `Bearer` challenge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<Jwt>,
    /// Each request is first sent to an authorisation service (its 2xx lets the request
    /// through; any other answer goes back to the client; no answer is a 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_auth: Option<ForwardAuth>,
    /// Requests per window per client (or per header value), answered 429 beyond it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Divides the route's traffic between named upstream groups by weight (a canary
    /// release), sticky per user, with an optional forced cohort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Split>,
    /// Sends a request again, to another upstream, when its attempt failed in a way that
    /// is safe to repeat — within a budget, so retries cannot multiply an outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Takes an upstream endpoint out of this route's rotation after failures, and lets
    /// it back after probes succeed (503 with `X-Switchyard-Circuit: open` when every
    /// endpoint is out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Pages for the proxy's own answers, by status ("401", "403", "413", "429", "502",
    /// "503", "504").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_pages: BTreeMap<String, ErrorPage>,
    /// An active HTTP health check of the route's upstreams (its split groups' included):
    /// they are judged by its probes instead of the proxy's TCP connect check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

fn default_expected_status() -> String {
    DEFAULT_EXPECTED_STATUS.to_owned()
}
fn default_check_interval() -> u32 {
    DEFAULT_CHECK_INTERVAL_MS
}
fn default_check_timeout() -> u32 {
    DEFAULT_CHECK_TIMEOUT_MS
}
fn default_healthy_threshold() -> u32 {
    DEFAULT_HEALTHY_THRESHOLD
}
fn default_unhealthy_threshold() -> u32 {
    DEFAULT_UNHEALTHY_THRESHOLD
}

/// An active HTTP health check: every `interval_ms` each proxy sends `GET path` to each
/// of the route's upstream endpoints (over HTTP or HTTPS, as the upstream's URL says)
/// and counts an answer with an expected status within `timeout_ms` as a pass. An
/// endpoint is taken out of the route's rotation after `unhealthy_threshold` failures
/// in a row and put back after `healthy_threshold` passes in a row. Routes naming the
/// same endpoint with the same check share one probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// The path (and optional query) to ask for, e.g. `/healthz`.
    pub path: String,
    /// Statuses that count as healthy: codes and ranges separated by commas, e.g.
    /// `200-399` (the default) or `200,204,301-302`; codes 100–599.
    #[serde(default = "default_expected_status")]
    #[cfg_attr(feature = "openapi", schema(default = "200-399"))]
    pub expected_status: String,
    /// Time between two probes of an endpoint, 1,000–300,000 ms.
    #[serde(default = "default_check_interval")]
    #[cfg_attr(
        feature = "openapi",
        schema(default = 5000, minimum = 1000, maximum = 300_000)
    )]
    pub interval_ms: u32,
    /// How long a probe may take (connecting included), 1–60,000 ms and shorter than
    /// `interval_ms`; a probe that takes longer fails.
    #[serde(default = "default_check_timeout")]
    #[cfg_attr(
        feature = "openapi",
        schema(default = 1000, minimum = 1, maximum = 60000)
    )]
    pub timeout_ms: u32,
    /// Passes in a row that bring a down endpoint back, 1–10.
    #[serde(default = "default_healthy_threshold")]
    #[cfg_attr(feature = "openapi", schema(default = 2, minimum = 1, maximum = 10))]
    pub healthy_threshold: u32,
    /// Failures in a row that take an endpoint out, 1–10.
    #[serde(default = "default_unhealthy_threshold")]
    #[cfg_attr(feature = "openapi", schema(default = 3, minimum = 1, maximum = 10))]
    pub unhealthy_threshold: u32,
    /// The `Host` header of the probe (`name` or `name:port`); absent: the upstream's
    /// own authority (its URL's host and port), as requests without `preserve_host`
    /// send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// Parses an `expected_status` (`200-399`, `200,204,301-302`) into inclusive ranges, or
/// says what is wrong. The one parser of the panel's check and the proxy's probes.
pub fn parse_status_ranges(text: &str) -> Result<Vec<(u16, u16)>, String> {
    let shown = text.escape_debug();
    let pieces: Vec<&str> = text.split(',').map(str::trim).collect();
    if pieces.len() > MAX_STATUS_RANGES {
        return Err(format!(
            "\"{shown}\" lists {} codes or ranges; at most {MAX_STATUS_RANGES} are allowed",
            pieces.len()
        ));
    }
    let code = |t: &str| -> Option<u16> {
        (t.len() == 3 && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<u16>().ok())
            .flatten()
            .filter(|c| (100..=599).contains(c))
    };
    let mut out = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let range = match piece.split_once('-') {
            None => code(piece).map(|c| (c, c)),
            Some((from, to)) => code(from.trim()).zip(code(to.trim())),
        };
        match range {
            Some((from, to)) if from <= to => out.push((from, to)),
            Some(_) => {
                return Err(format!(
                    "\"{shown}\": the range \"{}\" ends before it starts",
                    piece.escape_debug()
                ));
            }
            None => {
                return Err(format!(
                    "\"{shown}\" is not a list of status codes (100–599) and ranges such as \"200-399\" or \"200,204,301-302\""
                ));
            }
        }
    }
    Ok(out)
}

/// The canonical text of status ranges: `200-299,302`.
fn status_ranges_text(ranges: &[(u16, u16)]) -> String {
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn check_health_check(hc: &mut HealthCheck, field: &str, out: &mut Vec<FieldError>) {
    let f = |name: &str| format!("{field}.{name}");
    let path = &hc.path;
    if !path.starts_with('/') {
        push(
            out,
            f("path"),
            format!(
                "path \"{}\" must start with \"/\" (an absolute path such as /healthz)",
                path.escape_debug()
            ),
        );
    } else if path.len() > MAX_CHECK_PATH {
        push(
            out,
            f("path"),
            format!(
                "path is {} characters; at most {MAX_CHECK_PATH} are allowed",
                path.len()
            ),
        );
    } else if let Some(c) = path
        .chars()
        .find(|c| !c.is_ascii() || c.is_ascii_control() || matches!(c, ' ' | '#' | '\\'))
    {
        push(
            out,
            f("path"),
            format!(
                "path \"{}\" contains {c:?}; a path is ASCII without spaces, control characters, \"#\" or \"\\\" (percent-encode the others)",
                path.escape_debug()
            ),
        );
    }
    match parse_status_ranges(&hc.expected_status) {
        Ok(ranges) => hc.expected_status = status_ranges_text(&ranges),
        Err(p) => push(out, f("expected_status"), format!("expected_status {p}")),
    }
    if !(MIN_CHECK_INTERVAL_MS..=MAX_CHECK_INTERVAL_MS).contains(&hc.interval_ms) {
        push(
            out,
            f("interval_ms"),
            format!(
                "interval_ms is {}; it must be {MIN_CHECK_INTERVAL_MS}–{MAX_CHECK_INTERVAL_MS} (1 s – 5 min)",
                hc.interval_ms
            ),
        );
    }
    if hc.timeout_ms == 0 || hc.timeout_ms > MAX_CHECK_TIMEOUT_MS {
        push(
            out,
            f("timeout_ms"),
            format!(
                "timeout_ms is {}; it must be 1–{MAX_CHECK_TIMEOUT_MS} and shorter than interval_ms",
                hc.timeout_ms
            ),
        );
    } else if hc.timeout_ms >= hc.interval_ms {
        push(
            out,
            f("timeout_ms"),
            format!(
                "timeout_ms is {}; it must be shorter than interval_ms ({}), or probes would overlap",
                hc.timeout_ms, hc.interval_ms
            ),
        );
    }
    for (name, value) in [
        ("healthy_threshold", hc.healthy_threshold),
        ("unhealthy_threshold", hc.unhealthy_threshold),
    ] {
        if value == 0 || value > MAX_CHECK_THRESHOLD {
            push(
                out,
                f(name),
                format!("{name} is {value}; it must be 1–{MAX_CHECK_THRESHOLD} probes in a row"),
            );
        }
    }
    if let Some(host) = &mut hc.host {
        let ok = !host.is_empty()
            && host.len() <= 261
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
            });
        if ok {
            *host = host.to_ascii_lowercase();
        } else {
            push(
                out,
                f("host"),
                format!(
                    "host \"{}\" must be a host name or address with an optional port (e.g. app.internal:8080), at most 261 characters; leave it out to send the upstream's own",
                    host.escape_debug()
                ),
            );
        }
    }
}

/// How the upstream path is rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rewrite {
    /// Removes the route's path prefix: route `/api`, request `/api/v1` → `/v1`.
    StripPrefix,
    /// Replaces the route's path prefix: with `/v2`, `/api/x` → `/v2/x`.
    ReplacePrefix { with: String },
    /// Replaces the first match of `pattern` in the path; `replacement` may use `$1`,
    /// `${name}`. The query is kept.
    Regex {
        pattern: String,
        replacement: String,
    },
}

fn default_redirect_code() -> u16 {
    302
}

/// A redirect rule: paths matching `pattern` (every path when absent) are answered with
/// `code` and `Location: target`, where `$1`, `${name}` are the pattern's captures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    /// 301, 302, 307 or 308.
    #[serde(default = "default_redirect_code")]
    #[cfg_attr(feature = "openapi", schema(default = 302))]
    pub code: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// An absolute URL (`https://…`) or a path (`/…`).
    pub target: String,
    /// Append the request's query to the target.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_query: bool,
}

/// One header name and value template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeaderValue {
    pub name: String,
    /// Text; `{client_ip}`, `{request_id}`, `{host}`, `{scheme}` are replaced; `{{` and
    /// `}}` are literal braces.
    pub value: String,
}

/// Header edits of one direction, applied in order: remove, then set (replacing), then
/// add (appending).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeaderRules {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<HeaderValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<HeaderValue>,
}

impl HeaderRules {
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }
}

/// `Strict-Transport-Security`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Hsts {
    /// Seconds, 0–63,072,000 (0 tells browsers to forget the host).
    #[cfg_attr(feature = "openapi", schema(maximum = 63_072_000))]
    pub max_age_secs: u32,
    #[serde(default)]
    pub include_subdomains: bool,
    /// Needs `include_subdomains` and a max-age of at least a year.
    #[serde(default)]
    pub preload: bool,
}

impl Hsts {
    /// The header value.
    pub fn value(&self) -> String {
        let mut v = format!("max-age={}", self.max_age_secs);
        if self.include_subdomains {
            v.push_str("; includeSubDomains");
        }
        if self.preload {
            v.push_str("; preload");
        }
        v
    }
}

fn default_realm() -> String {
    "Restricted".to_owned()
}

/// HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// Shown by browsers in their login prompt.
    #[serde(default = "default_realm")]
    #[cfg_attr(feature = "openapi", schema(default = "Restricted"))]
    pub realm: String,
    pub users: Vec<BasicUser>,
}

/// One basic-auth user: a hash (argon2id PHC string, or bcrypt `$2a$`/`$2b$`/`$2y$`),
/// or — when written — a password the panel hashes (argon2id) and then forgets. The
/// panel's answers show users by `username` only (`Policies::redacted`); on an update,
/// a user given with neither `hash` nor `password` keeps the password stored for that
/// username in the zone being updated.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BasicUser {
    pub username: String,
    /// Write: a hash to store as is (argon2id PHC string, or bcrypt `$2a$`/`$2b$`/`$2y$`).
    /// Never returned by the panel API (zones, dry runs and their record previews, the
    /// audit log, degraded reads): users are shown by `username` only. Only the export
    /// file (`GET /api/v1/export`) carries it, so that a panel can be rebuilt from it. On an update, leave out both `hash` and
    /// `password` to keep the user's stored password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Write-only: replaced by its hash before anything is stored; never returned.
    /// (`skip_serializing_if = "never"` rather than `skip_serializing`, so the OpenAPI
    /// document still lists it, as `writeOnly`.)
    #[serde(default, skip_serializing_if = "never")]
    #[cfg_attr(feature = "openapi", schema(write_only))]
    pub password: Option<String>,
}

impl std::fmt::Debug for BasicUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicUser")
            .field("username", &self.username)
            .field("hash", &self.hash.as_ref().map(|_| "<redacted>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn default_bearer_realm() -> String {
    "api".to_owned()
}

fn default_leeway() -> u32 {
    30
}

/// JSON Web Token validation (RFC 7519): a request passes with a token whose signature,
/// algorithm, `exp` (required), `nbf`, issuer and audience check out; otherwise it is
/// answered 401 with `WWW-Authenticate: Bearer realm="…"` (and `error="invalid_token"`
/// when a token was sent, RFC 6750 §3.1).
///
/// The key comes from exactly one of `secret` (HMAC), `public_key_pem` or `jwks_url`.
/// The token is read from the `Authorization: Bearer …` header unless `header` or
/// `cookie` names another place.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Jwt {
    /// The `iss` the token must carry (absent: any, or none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The token's `aud` must name one of these (empty: not checked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Algorithms accepted, e.g. `["RS256"]`: RS256, RS384, RS512, PS256, PS384, PS512,
    /// ES256, ES384, EdDSA (with `public_key_pem` or `jwks_url`) or HS256, HS384, HS512
    /// (with `secret`). Never `none`.
    pub algorithms: Vec<String>,
    /// Write-only: the HMAC secret (at least 32 bytes). Kept in the Redis record for the
    /// proxies; never returned by the panel API (zones, dry runs, the audit log, degraded
    /// reads). On an update, leave out all three key sources to keep the stored secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(write_only))]
    pub secret: Option<String>,
    /// A PEM public key (RSA, EC P-256/P-384 or Ed25519) matching `algorithms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_pem: Option<String>,
    /// A JWK set the proxy fetches and caches (`https://`, or `http://` to a loopback
    /// address only); refreshed every few minutes and when a token names an unknown `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// The request header carrying the token (default `authorization`, which is read as
    /// `Bearer <token>`; any other header carries the bare token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The cookie carrying the token, instead of a header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// Claim name → request header sent upstream with the claim's value (strings as
    /// they are, numbers and booleans as text, lists of strings joined with ", "). The
    /// client's own fields of those names are always removed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims_to_headers: BTreeMap<String, String>,
    /// Clock skew allowed on `exp` and `nbf`, 0–600 seconds.
    #[serde(default = "default_leeway")]
    #[cfg_attr(feature = "openapi", schema(default = 30, maximum = 600))]
    pub leeway_secs: u32,
    /// The `realm` of the `WWW-Authenticate: Bearer` challenge.
    #[serde(default = "default_bearer_realm")]
    #[cfg_attr(feature = "openapi", schema(default = "api"))]
    pub realm: String,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("public_key_pem", &self.public_key_pem.is_some())
            .field("jwks_url", &self.jwks_url)
            .field("header", &self.header)
            .field("cookie", &self.cookie)
            .field("claims_to_headers", &self.claims_to_headers)
            .field("leeway_secs", &self.leeway_secs)
            .finish_non_exhaustive()
    }
}

impl Jwt {
    /// The request header the token is read from, when not a cookie (lower case).
    pub fn token_header(&self) -> Option<&str> {
        match (&self.header, &self.cookie) {
            (_, Some(_)) => None,
            (Some(h), None) => Some(h.as_str()),
            (None, None) => Some("authorization"),
        }
    }
}

fn default_forward_auth_timeout() -> u32 {
    5000
}

/// Forward authentication (Traefik's ForwardAuth, nginx's `auth_request`): before a
/// request goes upstream the proxy sends `GET url` with the request's
/// `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri` and `-For` and the client headers
/// named in `request_headers`. A 2xx answer lets the request through, with the answer's
/// `response_headers` copied onto it; any other status is returned to the client with
/// its body and its `Location`, `WWW-Authenticate` and `Set-Cookie` headers; no answer
/// in `timeout_ms`, a connection failure or a 5xx is a 503 — the request is never
/// forwarded unless the service said yes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForwardAuth {
    /// The authorisation service, `http://` or `https://`.
    pub url: String,
    /// Client request headers sent to the service (e.g. `authorization`, `cookie`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_headers: Vec<String>,
    /// Headers of the service's 2xx answer copied onto the upstream request (the
    /// client's own fields of those names are always removed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers: Vec<String>,
    /// How long the service may take, 1–60,000 ms.
    #[serde(default = "default_forward_auth_timeout")]
    #[cfg_attr(
        feature = "openapi",
        schema(default = 5000, minimum = 1, maximum = 60000)
    )]
    pub timeout_ms: u32,
}

/// What a rate limit counts by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RateKey {
    /// The client's address (as trusted-proxy settings determine it).
    ClientIp,
    /// A request header's value (e.g. an API key header); requests without it share one
    /// bucket.
    Header { name: String },
}

fn default_window() -> u32 {
    1
}

/// Where a rate limit is counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RateScope {
    /// Each proxy keeps its own buckets: N proxies allow up to N× the rate.
    #[default]
    Proxy,
    /// Every proxy on the same Redis counts together, per fixed window of `per_secs`
    /// (synchronised in the background; each proxy's local limit applies too, and alone
    /// while Redis does not answer).
    Fleet,
}

impl RateScope {
    fn is_proxy(&self) -> bool {
        *self == RateScope::Proxy
    }
}

fn default_rate_key() -> RateKey {
    RateKey::ClientIp
}

/// A token bucket (GCRA) per key and per proxy: `requests` per `per_secs` seconds on
/// average, up to `burst` at once; with `scope: "fleet"` also a count per key over fixed
/// windows of `per_secs`, shared by every proxy on the same Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// 1–1,000,000.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
    pub requests: u32,
    /// The window, 1–3,600 seconds.
    #[serde(default = "default_window")]
    #[cfg_attr(feature = "openapi", schema(default = 1, minimum = 1, maximum = 3600))]
    pub per_secs: u32,
    /// Requests allowed at once before the rate applies (default: `requests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
    pub burst: Option<u32>,
    #[serde(default = "default_rate_key")]
    pub key: RateKey,
    /// `proxy` (default) or `fleet`.
    #[serde(default, skip_serializing_if = "RateScope::is_proxy")]
    pub scope: RateScope,
}

impl RateLimit {
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(self.requests)
    }
}

fn default_retry_statuses() -> Vec<u16> {
    RETRY_STATUSES.to_vec()
}

fn yes() -> bool {
    true
}

fn default_budget_percent() -> u32 {
    20
}

fn default_retry_floor() -> u32 {
    10
}

fn default_backoff_ms() -> u32 {
    25
}

fn default_max_backoff_ms() -> u32 {
    250
}

/// When and how often a request is sent again (see docs/policies.md). A connection that
/// could not be made is always tried on another upstream; an answer in `on_status` or a
/// connection that broke before the answer's first byte (`on_reset`) only for an
/// idempotent method (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) whose body the proxy still
/// holds whole — never a POST. Each retry waits a random time up to
/// `backoff_ms × 2^(retry − 1)` (at most `max_backoff_ms`), and is made only while the
/// route's retries over the last 10 seconds stay within `budget_percent` of its requests
/// (or under `min_per_sec` a second).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Tries in all, the first included: 2–5.
    #[cfg_attr(feature = "openapi", schema(minimum = 2, maximum = 5))]
    pub attempts: u32,
    /// Upstream answers that are tried again, among 502, 503 and 504 (default: all
    /// three; empty: none).
    #[serde(default = "default_retry_statuses")]
    #[cfg_attr(feature = "openapi", schema(default = json!([502, 503, 504])))]
    pub on_status: Vec<u16>,
    /// Whether a connection that broke before any byte of the answer is tried again.
    #[serde(default = "yes")]
    #[cfg_attr(feature = "openapi", schema(default = true))]
    pub on_reset: bool,
    /// Retries may add at most this share of the route's requests, 1–100 percent.
    #[serde(default = "default_budget_percent")]
    #[cfg_attr(feature = "openapi", schema(default = 20, minimum = 1, maximum = 100))]
    pub budget_percent: u32,
    /// Retries a second the budget always allows, 0–1000 (so a quiet route can retry).
    #[serde(default = "default_retry_floor")]
    #[cfg_attr(feature = "openapi", schema(default = 10, minimum = 0, maximum = 1000))]
    pub min_per_sec: u32,
    /// Base of the exponential backoff, 0–10,000 ms (0: retry at once).
    #[serde(default = "default_backoff_ms")]
    #[cfg_attr(
        feature = "openapi",
        schema(default = 25, minimum = 0, maximum = 10000)
    )]
    pub backoff_ms: u32,
    /// Longest backoff, `backoff_ms`–10,000 ms.
    #[serde(default = "default_max_backoff_ms")]
    #[cfg_attr(
        feature = "openapi",
        schema(default = 250, minimum = 0, maximum = 10000)
    )]
    pub max_backoff_ms: u32,
}

fn default_breaker_failures() -> u32 {
    5
}

fn default_breaker_window() -> u32 {
    10
}

fn default_breaker_min_requests() -> u32 {
    20
}

fn default_breaker_open_secs() -> u32 {
    10
}

fn default_breaker_probes() -> u32 {
    1
}

/// A circuit breaker per upstream endpoint of the route. A failure is an attempt that got
/// no answer (no connection, a broken one, a timeout) or an answer with a status of
/// 500–599. An endpoint's circuit opens after `consecutive_failures` failures in a row,
/// or when `error_percent` is set and failures reach that share of at least
/// `min_requests` attempts over the last `window_secs`; it stays open `open_secs`, then
/// lets `half_open_requests` probes through: that many successes close it, a failure
/// opens it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// 1–1000 (default 5).
    #[serde(default = "default_breaker_failures")]
    #[cfg_attr(feature = "openapi", schema(default = 5, minimum = 1, maximum = 1000))]
    pub consecutive_failures: u32,
    /// 1–100 percent; absent: only consecutive failures open the circuit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub error_percent: Option<u32>,
    /// 1–300 seconds (default 10).
    #[serde(default = "default_breaker_window")]
    #[cfg_attr(feature = "openapi", schema(default = 10, minimum = 1, maximum = 300))]
    pub window_secs: u32,
    /// 1–100,000 (default 20).
    #[serde(default = "default_breaker_min_requests")]
    #[cfg_attr(
        feature = "openapi",
        schema(default = 20, minimum = 1, maximum = 100000)
    )]
    pub min_requests: u32,
    /// 1–3600 seconds (default 10).
    #[serde(default = "default_breaker_open_secs")]
    #[cfg_attr(feature = "openapi", schema(default = 10, minimum = 1, maximum = 3600))]
    pub open_secs: u32,
    /// 1–100 (default 1).
    #[serde(default = "default_breaker_probes")]
    #[cfg_attr(feature = "openapi", schema(default = 1, minimum = 1, maximum = 100))]
    pub half_open_requests: u32,
}

/// A traffic split: each request of the route goes to one of `groups`, chosen by
/// weight. A forced cohort (`force`) naming a group wins; else the sticky key
/// (`sticky`) decides; else a random draw by weight. See docs/policies.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// 2–8 groups with unique names; weights 0–1000 with a positive total.
    pub groups: Vec<SplitGroup>,
    /// What keeps a user on one group (absent: every request is drawn anew).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
    /// A header or cookie whose value, naming a group, sends the request there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<ForceCohort>,
}

/// One side of a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SplitGroup {
    /// 1–32 of `a-z`, `0-9`, `-`, `_`; it is the sticky cookie's value and what a
    /// forced cohort names.
    pub name: String,
    /// Share of the route's traffic, 0–1000 (0: only forced requests).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1000))]
    pub weight: u32,
    /// The group's own upstreams; absent: the route's own upstreams (its backend). At
    /// most one group may leave them out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstreams: Option<Vec<SplitUpstream>>,
}

/// An upstream of a split group, as a route's upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SplitUpstream {
    /// `http://` or `https://`, a host and an optional port (1–65535).
    pub url: String,
    /// Relative share within the group, 1–1000.
    #[serde(default = "default_upstream_weight")]
    #[cfg_attr(feature = "openapi", schema(default = 1, minimum = 1, maximum = 1000))]
    pub weight: u32,
}

fn default_upstream_weight() -> u32 {
    1
}

fn default_sticky_max_age() -> u32 {
    DEFAULT_STICKY_MAX_AGE
}

/// What keeps a user on the group they were given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Sticky {
    /// A cookie holding the group's name; the proxy sets it on the answer of a request
    /// that had none (or one naming no group with a share).
    Cookie {
        name: String,
        /// The cookie's `Max-Age`, 1–31,536,000 seconds (default a day).
        #[serde(default = "default_sticky_max_age")]
        #[cfg_attr(
            feature = "openapi",
            schema(default = 86400, minimum = 1, maximum = 31_536_000)
        )]
        max_age_secs: u32,
    },
    /// A request header identifying the user (e.g. `x-user-id`): its value's hash picks
    /// the group, the same on every proxy.
    Header { name: String },
}

/// Where a forced cohort is read; its value names a group (unknown names are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForceCohort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

/// Whether `name` is a valid split group name (see [`SplitGroup::name`]).
pub fn is_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_GROUP_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Checks a `retry` policy; sorts and dedups its statuses.
fn check_retry(r: &mut Retry, field: &str, out: &mut Vec<FieldError>) {
    if !(2..=MAX_RETRY_ATTEMPTS).contains(&r.attempts) {
        push(
            out,
            format!("{field}.attempts"),
            format!(
                "attempts is {}; a retry policy allows 2–{MAX_RETRY_ATTEMPTS} tries in all, the first included",
                r.attempts
            ),
        );
    }
    for (i, status) in r.on_status.iter().enumerate() {
        if !RETRY_STATUSES.contains(status) {
            push(
                out,
                format!("{field}.on_status[{i}]"),
                format!(
                    "status {status} is not retried; answers that may be retried are 502, 503 and 504"
                ),
            );
        }
    }
    r.on_status.sort_unstable();
    r.on_status.dedup();
    if !(1..=100).contains(&r.budget_percent) {
        push(
            out,
            format!("{field}.budget_percent"),
            format!("budget_percent is {}; it must be 1–100", r.budget_percent),
        );
    }
    if r.min_per_sec > MAX_RETRY_FLOOR {
        push(
            out,
            format!("{field}.min_per_sec"),
            format!(
                "min_per_sec is {}; it must be 0–{MAX_RETRY_FLOOR}",
                r.min_per_sec
            ),
        );
    }
    if r.backoff_ms > MAX_RETRY_BACKOFF_MS {
        push(
            out,
            format!("{field}.backoff_ms"),
            format!(
                "backoff_ms is {}; it must be 0–{MAX_RETRY_BACKOFF_MS}",
                r.backoff_ms
            ),
        );
    }
    if r.max_backoff_ms > MAX_RETRY_BACKOFF_MS || r.max_backoff_ms < r.backoff_ms {
        push(
            out,
            format!("{field}.max_backoff_ms"),
            format!(
                "max_backoff_ms is {}; it must be backoff_ms ({})–{MAX_RETRY_BACKOFF_MS}",
                r.max_backoff_ms, r.backoff_ms
            ),
        );
    }
}

/// Checks a `circuit_breaker` policy.
fn check_breaker(b: &CircuitBreaker, field: &str, out: &mut Vec<FieldError>) {
    let mut range = |name: &str, value: u32, max: u32| {
        if !(1..=max).contains(&value) {
            push(
                out,
                format!("{field}.{name}"),
                format!("{name} is {value}; it must be 1–{max}"),
            );
        }
    };
    range(
        "consecutive_failures",
        b.consecutive_failures,
        MAX_BREAKER_FAILURES,
    );
    if let Some(p) = b.error_percent {
        range("error_percent", p, 100);
    }
    range("window_secs", b.window_secs, MAX_BREAKER_WINDOW);
    range("min_requests", b.min_requests, MAX_BREAKER_MIN_REQUESTS);
    range("open_secs", b.open_secs, MAX_BREAKER_OPEN_SECS);
    range(
        "half_open_requests",
        b.half_open_requests,
        MAX_BREAKER_PROBES,
    );
}

fn check_split(split: &mut Split, field: &str, out: &mut Vec<FieldError>) {
    let n = split.groups.len();
    if !(2..=MAX_SPLIT_GROUPS).contains(&n) {
        push(
            out,
            format!("{field}.groups"),
            format!("lists {n} groups; a split has 2–{MAX_SPLIT_GROUPS}"),
        );
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut total = 0u32;
    let mut own = 0;
    for (i, g) in split.groups.iter_mut().enumerate() {
        let gf = format!("{field}.groups[{i}]");
        if !is_group_name(&g.name) {
            push(
                out,
                format!("{gf}.name"),
                format!(
                    "group name \"{}\" must be 1–{MAX_GROUP_NAME} of a-z, 0-9, \"-\", \"_\"",
                    g.name.escape_debug()
                ),
            );
        } else if seen.contains(&g.name.as_str()) {
            push(
                out,
                format!("{gf}.name"),
                format!("group name \"{}\" is used twice; names are unique", g.name),
            );
        }
        seen.push(&g.name);
        if g.weight > MAX_SPLIT_WEIGHT {
            push(
                out,
                format!("{gf}.weight"),
                format!(
                    "group \"{}\" has weight {}; weights must be 0–{MAX_SPLIT_WEIGHT}",
                    g.name.escape_debug(),
                    g.weight
                ),
            );
        }
        total = total.saturating_add(g.weight);
        match &mut g.upstreams {
            None => own += 1,
            Some(list) if list.is_empty() => push(
                out,
                format!("{gf}.upstreams"),
                "lists no upstreams; leave upstreams out to use the route's own",
            ),
            Some(list) if list.len() > MAX_GROUP_UPSTREAMS => push(
                out,
                format!("{gf}.upstreams"),
                format!(
                    "lists {} upstreams; at most {MAX_GROUP_UPSTREAMS} are allowed",
                    list.len()
                ),
            ),
            Some(list) => {
                for (j, u) in list.iter_mut().enumerate() {
                    let uf = format!("{gf}.upstreams[{j}]");
                    match crate::backend::BackendUrl::parse(&u.url) {
                        Ok(url) => u.url = url.as_str().to_owned(),
                        Err(e) => push(out, format!("{uf}.url"), e.to_string()),
                    }
                    if u.weight == 0 || u.weight > crate::model::MAX_WEIGHT {
                        push(
                            out,
                            format!("{uf}.weight"),
                            format!(
                                "backend \"{}\" has weight {}; weights must be 1–{}",
                                u.url.escape_debug(),
                                u.weight,
                                crate::model::MAX_WEIGHT
                            ),
                        );
                    }
                }
            }
        }
    }
    if own > 1 {
        push(
            out,
            format!("{field}.groups"),
            format!(
                "{own} groups leave upstreams out; only one group may use the route's own upstreams"
            ),
        );
    }
    if n > 0 && total == 0 {
        push(
            out,
            format!("{field}.groups"),
            "every group has weight 0; at least one needs a share of the traffic",
        );
    }
    let token = |name: &str, f: String, what: &str, out: &mut Vec<FieldError>| {
        if !is_token(name) {
            push(
                out,
                f,
                format!("{what} name \"{}\" is not a token", name.escape_debug()),
            );
        }
    };
    match &mut split.sticky {
        None => {}
        Some(Sticky::Cookie { name, max_age_secs }) => {
            token(name, format!("{field}.sticky.name"), "cookie", out);
            if *max_age_secs == 0 || *max_age_secs > MAX_STICKY_MAX_AGE {
                push(
                    out,
                    format!("{field}.sticky.max_age_secs"),
                    format!(
                        "max_age_secs is {max_age_secs}; it must be 1–{MAX_STICKY_MAX_AGE} (a year)"
                    ),
                );
            }
        }
        Some(Sticky::Header { name }) => {
            token(name, format!("{field}.sticky.name"), "header", out);
            *name = name.to_ascii_lowercase();
        }
    }
    if let Some(force) = &mut split.force {
        if force.header.is_none() && force.cookie.is_none() {
            push(
                out,
                format!("{field}.force"),
                "names neither a header nor a cookie; give one or both, or leave force out",
            );
        }
        if let Some(h) = &mut force.header {
            token(h, format!("{field}.force.header"), "header", out);
            *h = h.to_ascii_lowercase();
        }
        if let Some(c) = &mut force.cookie {
            token(c, format!("{field}.force.cookie"), "cookie", out);
        }
    }
}

fn default_content_type() -> String {
    "text/html; charset=utf-8".to_owned()
}

/// A page the proxy answers with instead of its plain-text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorPage {
    #[serde(default = "default_content_type")]
    #[cfg_attr(feature = "openapi", schema(default = "text/html; charset=utf-8"))]
    pub content_type: String,
    /// Up to 64 KiB; `{request_id}` is replaced by the request's id.
    pub body: String,
}

/// Adds one problem.
fn push(out: &mut Vec<FieldError>, field: impl Into<String>, problem: impl Into<String>) {
    out.push(FieldError {
        field: field.into(),
        problem: problem.into(),
    });
}

/// `tchar` of RFC 9110 §5.6.2: a byte of a token (method, header name).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// A token of RFC 9110 §5.6.2: one or more [`is_tchar`] bytes.
pub fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_tchar)
}

/// One piece of a parsed header value template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    ClientIp,
    RequestId,
    Host,
    Scheme,
}

/// Parses a header value template into pieces, or says what is wrong.
pub fn parse_template(value: &str) -> Result<Vec<Piece>, String> {
    if value.len() > MAX_TEMPLATE_LEN {
        return Err(format!(
            "is {} bytes; at most {MAX_TEMPLATE_LEN} are allowed",
            value.len()
        ));
    }
    if let Some(b) = value
        .bytes()
        .find(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(format!(
            "contains the control byte 0x{b:02x}; header values are visible text, spaces and tabs"
        ));
    }
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = value;
    while let Some(i) = rest.find(['{', '}']) {
        text.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            text.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            text.push('}');
            rest = after;
        } else if tail.starts_with('}') {
            return Err("has a lone \"}\"; write \"}}\" for a literal brace".to_owned());
        } else {
            let Some(end) = tail.find('}') else {
                return Err(
                    "has a \"{\" that is never closed; write \"{{\" for a literal brace".to_owned(),
                );
            };
            let name = &tail[1..end];
            let piece = match name {
                "client_ip" => Piece::ClientIp,
                "request_id" => Piece::RequestId,
                "host" => Piece::Host,
                "scheme" => Piece::Scheme,
                other => {
                    return Err(format!(
                        "uses the unknown variable {{{}}}; available: {}",
                        other.escape_debug(),
                        HEADER_VARIABLES.map(|v| format!("{{{v}}}")).join(", ")
                    ));
                }
            };
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(piece);
            rest = &tail[end + 1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Compiles a user's pattern with the size limit, or says why not.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "pattern is {} characters; at most {MAX_PATTERN_LEN} are allowed",
            pattern.len()
        ));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => format!(
                "pattern \"{}\" compiles to more than {} KiB; simplify it",
                pattern.escape_debug(),
                REGEX_SIZE_LIMIT / 1024
            ),
            other => format!(
                "pattern \"{}\" is not a valid regular expression: {}",
                pattern.escape_debug(),
                other.to_string().lines().last().unwrap_or("syntax error")
            ),
        })
}

/// Checks a `$1` / `${name}` replacement against the pattern's groups.
fn replacement_problem(re: &regex::Regex, replacement: &str) -> Option<String> {
    if replacement.len() > MAX_TEMPLATE_LEN {
        return Some(format!(
            "is {} bytes; at most {MAX_TEMPLATE_LEN} are allowed",
            replacement.len()
        ));
    }
    let bytes = replacement.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'$') {
            i += 2;
            continue;
        }
        let (name, next) = if bytes.get(i + 1) == Some(&b'{') {
            match replacement[i + 2..].find('}') {
                Some(end) => (&replacement[i + 2..i + 2 + end], i + 3 + end),
                None => return Some("has a \"${\" that is never closed".to_owned()),
            }
        } else {
            let len = replacement[i + 1..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            (&replacement[i + 1..i + 1 + len], i + 1 + len)
        };
        if name.is_empty() {
            return Some(
                "has a \"$\" without a group; write \"$$\" for a literal dollar".to_owned(),
            );
        }
        let known = match name.parse::<usize>() {
            Ok(n) => n < re.captures_len(),
            Err(_) => re.capture_names().flatten().any(|n| n == name),
        };
        if !known {
            return Some(format!(
                "refers to group \"{name}\", which the pattern does not have (it has {} numbered group{})",
                re.captures_len() - 1,
                if re.captures_len() == 2 { "" } else { "s" }
            ));
        }
        i = next;
    }
    None
}

/// A path for rewrites: starts with `/`, no query, fragment, spaces or control bytes.
fn path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some(format!("\"{}\" must start with \"/\"", path.escape_debug()));
    }
    if path.len() > MAX_TEMPLATE_LEN {
        return Some(format!("is longer than {MAX_TEMPLATE_LEN} characters"));
    }
    if let Some(c) = path
        .chars()
        .find(|c| c.is_control() || matches!(c, ' ' | '?' | '#' | '\\'))
    {
        return Some(format!(
            "\"{}\" contains {:?}; a path has no spaces, control characters, \"?\", \"#\" or \"\\\"",
            path.escape_debug(),
            c
        ));
    }
    None
}

fn check_header_name(
    name: &str,
    field: String,
    request: bool,
    out: &mut Vec<FieldError>,
) -> String {
    let lower = name.to_ascii_lowercase();
    if !is_token(name) {
        push(
            out,
            field,
            format!(
                "header name \"{}\" is not a token (letters, digits and !#$%&'*+-.^_`|~)",
                name.escape_debug()
            ),
        );
    } else if PROTECTED_HEADERS.contains(&lower.as_str()) {
        push(
            out,
            field,
            format!(
                "header \"{lower}\" cannot be edited: it frames the message or is the proxy's own ({})",
                PROTECTED_HEADERS.join(", ")
            ),
        );
    } else if request && FORWARDING_HEADERS.contains(&lower.as_str()) {
        push(
            out,
            field,
            format!(
                "request header \"{lower}\" is set by the proxy from the client's connection ({}); it cannot be edited",
                FORWARDING_HEADERS.join(", ")
            ),
        );
    }
    lower
}

impl HeaderRules {
    fn check(&mut self, field: &str, request: bool, out: &mut Vec<FieldError>) {
        let count = self.remove.len() + self.set.len() + self.add.len();
        if count > MAX_HEADER_RULES {
            push(
                out,
                field,
                format!("has {count} header edits; at most {MAX_HEADER_RULES} are allowed"),
            );
        }
        for (i, name) in self.remove.iter_mut().enumerate() {
            *name = check_header_name(name, format!("{field}.remove[{i}]"), request, out);
        }
        for (kind, list) in [("set", &mut self.set), ("add", &mut self.add)] {
            for (i, h) in list.iter_mut().enumerate() {
                h.name =
                    check_header_name(&h.name, format!("{field}.{kind}[{i}].name"), request, out);
                if let Err(problem) = parse_template(&h.value) {
                    push(
                        out,
                        format!("{field}.{kind}[{i}].value"),
                        format!("value of header \"{}\" {problem}", h.name),
                    );
                }
            }
        }
    }
}

/// Whether `hash` is a PHC argon2id string or a bcrypt hash this build can verify.
fn hash_problem(hash: &str) -> Option<String> {
    if hash.starts_with("$argon2") {
        return match argon2::PasswordHash::new(hash) {
            Ok(h) if h.algorithm.as_str() == "argon2id" => None,
            Ok(h) => Some(format!(
                "is an {} hash; only argon2id among the argon2 variants is accepted",
                h.algorithm
            )),
            Err(e) => Some(format!("is not a valid argon2id hash: {e}")),
        };
    }
    if let Some(rest) = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .find_map(|p| hash.strip_prefix(p))
    {
        // $2b$<cost>$<53 characters of salt and hash>
        let ok = rest.len() == 56
            && rest[..2].bytes().all(|b| b.is_ascii_digit())
            && rest.as_bytes()[2] == b'$'
            && (4..=31).contains(&rest[..2].parse::<u32>().unwrap_or(0))
            && rest[3..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
        return (!ok).then(|| "is not a valid bcrypt hash ($2b$<cost>$<53 characters>)".to_owned());
    }
    Some(
        "is neither an argon2id hash ($argon2id$…) nor a bcrypt hash ($2b$…); passwords are never stored in plain text — give \"password\" instead and the panel hashes it"
            .to_owned(),
    )
}

/// Hashes a password with argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> String {
    use argon2::PasswordHasher;
    let salt =
        argon2::password_hash::SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// [`Policies::redacted`] for JSON already rendered (a Redis record a dry run shows, an
/// audit row written before hashes were redacted): drops `hash` (and `password`) from
/// every `basic_auth.users[]` entry and `secret` from every `jwt` object anywhere in
/// `value`.
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(jwt) = map.get_mut("jwt").and_then(|j| j.as_object_mut()) {
                jwt.remove("secret");
            }
            if let Some(users) = map
                .get_mut("basic_auth")
                .and_then(|a| a.get_mut("users"))
                .and_then(|u| u.as_array_mut())
            {
                for user in users.iter_mut().filter_map(|u| u.as_object_mut()) {
                    user.remove("hash");
                    user.remove("password");
                }
            }
            map.values_mut().for_each(redact_json);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// Whether `password` matches a hash [`Policies::check`] accepted.
pub fn verify_password(hash: &str, password: &str) -> bool {
    if hash.starts_with("$argon2") {
        use argon2::PasswordVerifier;
        argon2::PasswordHash::new(hash).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    } else {
        bcrypt::verify(password, hash).unwrap_or(false)
    }
}

impl Policies {
    /// Nothing set: the route only forwards.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The data format a route with these policies needs: 1 when empty (a format-1
    /// record), else 2 — the one rule the record writer and the panel's gate follow.
    pub fn format_needed(&self) -> u32 {
        if self.is_empty() { 1 } else { 2 }
    }

    /// These policies as the panel's API shows them: basic-auth users by `username`
    /// only, never a hash (nor a password); a `jwt` policy without its `secret`. The one rule for every answer and audit row;
    /// only the Redis record and the admin export file keep hashes.
    pub fn redacted(&self) -> Policies {
        let mut shown = self.clone();
        if let Some(auth) = &mut shown.basic_auth {
            for user in &mut auth.users {
                user.hash = None;
                user.password = None;
            }
        }
        if let Some(jwt) = &mut shown.jwt {
            jwt.secret = None;
        }
        shown
    }

    /// For an update: each basic-auth user given with neither `hash` nor `password`
    /// keeps the hash `stored` holds for the same username (a user `stored` lacks stays
    /// as given, and [`Policies::check`] refuses it naming the field).
    ///
    /// Likewise a `jwt` policy given without any key source keeps the stored `secret`.
    pub fn keep_stored_hashes(&mut self, stored: &Policies) {
        if let (Some(jwt), Some(old)) = (&mut self.jwt, &stored.jwt)
            && jwt.secret.is_none()
            && jwt.public_key_pem.is_none()
            && jwt.jwks_url.is_none()
        {
            jwt.secret = old.secret.clone();
        }
        let (Some(auth), Some(old)) = (&mut self.basic_auth, &stored.basic_auth) else {
            return;
        };
        for user in &mut auth.users {
            if user.hash.is_none() && user.password.is_none() {
                user.hash = old
                    .users
                    .iter()
                    .find(|u| u.username == user.username)
                    .and_then(|u| u.hash.clone());
            }
        }
    }

    /// Validates and normalises in place; `field` names the policies object
    /// (`policies`, `routes[0].policies`). `has_prefix`: the route has a path prefix
    /// (a prefix rewrite needs one).
    pub fn check(&mut self, field: &str, has_prefix: bool, out: &mut Vec<FieldError>) {
        match &self.rewrite {
            None => {}
            Some(Rewrite::StripPrefix) if !has_prefix => push(
                out,
                format!("{field}.rewrite"),
                "strip_prefix needs a route with a path prefix; this route covers the whole host",
            ),
            Some(Rewrite::StripPrefix) => {}
            Some(Rewrite::ReplacePrefix { with }) => {
                if !has_prefix {
                    push(
                        out,
                        format!("{field}.rewrite"),
                        "replace_prefix needs a route with a path prefix; this route covers the whole host",
                    );
                }
                if let Some(p) = path_problem(with) {
                    push(
                        out,
                        format!("{field}.rewrite.with"),
                        format!("replacement path {p}"),
                    );
                }
            }
            Some(Rewrite::Regex {
                pattern,
                replacement,
            }) => match compile_regex(pattern) {
                Err(p) => push(out, format!("{field}.rewrite.pattern"), p),
                Ok(re) => {
                    if let Some(p) = replacement_problem(&re, replacement) {
                        push(
                            out,
                            format!("{field}.rewrite.replacement"),
                            format!("replacement \"{}\" {p}", replacement.escape_debug()),
                        );
                    } else if !replacement.starts_with('/') && !replacement.starts_with('$') {
                        push(
                            out,
                            format!("{field}.rewrite.replacement"),
                            format!(
                                "replacement \"{}\" must start with \"/\" (or a group that holds one)",
                                replacement.escape_debug()
                            ),
                        );
                    }
                }
            },
        }
        if let Some(r) = &self.redirect {
            if ![301, 302, 307, 308].contains(&r.code) {
                push(
                    out,
                    format!("{field}.redirect.code"),
                    format!("redirect code {} is not one of 301, 302, 307, 308", r.code),
                );
            }
            let re = match &r.pattern {
                None => compile_regex("^.*$").ok(),
                Some(p) => match compile_regex(p) {
                    Ok(re) => Some(re),
                    Err(problem) => {
                        push(out, format!("{field}.redirect.pattern"), problem);
                        None
                    }
                },
            };
            let target_field = format!("{field}.redirect.target");
            if let Some(re) = re
                && let Some(p) = replacement_problem(&re, &r.target)
            {
                push(
                    out,
                    target_field.clone(),
                    format!("target \"{}\" {p}", r.target.escape_debug()),
                );
            }
            let absolute = r.target.starts_with("https://") || r.target.starts_with("http://");
            if !absolute && !r.target.starts_with('/') && !r.target.starts_with('$') {
                push(
                    out,
                    target_field,
                    format!(
                        "target \"{}\" must be an http(s):// URL or a path starting with \"/\"",
                        r.target.escape_debug()
                    ),
                );
            } else if let Some(c) = r.target.chars().find(|c| c.is_control() || *c == ' ') {
                push(
                    out,
                    target_field,
                    format!(
                        "target \"{}\" contains {c:?}; encode spaces as %20",
                        r.target.escape_debug()
                    ),
                );
            }
        }
        self.request_headers
            .check(&format!("{field}.request_headers"), true, out);
        self.response_headers
            .check(&format!("{field}.response_headers"), false, out);
        if let Some(h) = &self.hsts {
            if h.max_age_secs > MAX_HSTS_AGE {
                push(
                    out,
                    format!("{field}.hsts.max_age_secs"),
                    format!(
                        "max-age {} is longer than two years ({MAX_HSTS_AGE} seconds)",
                        h.max_age_secs
                    ),
                );
            }
            if h.preload && (!h.include_subdomains || h.max_age_secs < PRELOAD_MIN_AGE) {
                push(
                    out,
                    format!("{field}.hsts.preload"),
                    format!(
                        "preload needs include_subdomains and a max-age of at least {PRELOAD_MIN_AGE} seconds (one year), as the preload list requires"
                    ),
                );
            }
        }
        if let Some(n) = self.max_body_bytes
            && (n == 0 || n > MAX_BODY_LIMIT)
        {
            push(
                out,
                format!("{field}.max_body_bytes"),
                format!("max_body_bytes is {n}; it must be 1–{MAX_BODY_LIMIT} (64 GiB)"),
            );
        }
        if let Some(n) = self.max_header_bytes
            && !(MIN_HEADER_LIMIT..=MAX_HEADER_LIMIT).contains(&n)
        {
            push(
                out,
                format!("{field}.max_header_bytes"),
                format!(
                    "max_header_bytes is {n}; it must be {MIN_HEADER_LIMIT}–{MAX_HEADER_LIMIT} (1–64 KiB)"
                ),
            );
        }
        if let Some(auth) = &mut self.basic_auth {
            check_basic_auth(auth, &format!("{field}.basic_auth"), out);
        }
        if let Some(jwt) = &mut self.jwt {
            check_jwt(jwt, &format!("{field}.jwt"), out);
        }
        if let Some(fa) = &mut self.forward_auth {
            check_forward_auth(fa, &format!("{field}.forward_auth"), out);
        }
        check_auth_combinations(self, field, out);
        if let Some(r) = &self.rate_limit {
            let f = format!("{field}.rate_limit");
            if r.requests == 0 || r.requests > MAX_RATE {
                push(
                    out,
                    format!("{f}.requests"),
                    format!("requests is {}; it must be 1–{MAX_RATE}", r.requests),
                );
            }
            if r.per_secs == 0 || r.per_secs > MAX_RATE_WINDOW {
                push(
                    out,
                    format!("{f}.per_secs"),
                    format!(
                        "per_secs is {}; the window must be 1–{MAX_RATE_WINDOW} seconds",
                        r.per_secs
                    ),
                );
            }
            if let Some(b) = r.burst
                && (b == 0 || b > MAX_RATE)
            {
                push(
                    out,
                    format!("{f}.burst"),
                    format!("burst is {b}; it must be 1–{MAX_RATE}"),
                );
            }
            if let RateKey::Header { name } = &r.key
                && !is_token(name)
            {
                push(
                    out,
                    format!("{f}.key.name"),
                    format!("header name \"{}\" is not a token", name.escape_debug()),
                );
            }
        }
        if let Some(RateLimit {
            key: RateKey::Header { name },
            ..
        }) = &mut self.rate_limit
        {
            *name = name.to_ascii_lowercase();
        }
        if let Some(split) = &mut self.split {
            check_split(split, &format!("{field}.split"), out);
        }
        if let Some(retry) = &mut self.retry {
            check_retry(retry, &format!("{field}.retry"), out);
        }
        if let Some(breaker) = &self.circuit_breaker {
            check_breaker(breaker, &format!("{field}.circuit_breaker"), out);
        }
        if let Some(hc) = &mut self.health_check {
            check_health_check(hc, &format!("{field}.health_check"), out);
        }
        for (status, page) in &self.error_pages {
            let f = format!("{field}.error_pages.{status}");
            if !status
                .parse::<u16>()
                .is_ok_and(|s| ERROR_PAGE_STATUSES.contains(&s))
            {
                push(
                    out,
                    f.clone(),
                    format!(
                        "status \"{}\" has no page of its own; pages can replace {}",
                        status.escape_debug(),
                        ERROR_PAGE_STATUSES.map(|s| s.to_string()).join(", ")
                    ),
                );
            }
            if page.body.len() > MAX_ERROR_PAGE_BYTES {
                push(
                    out,
                    format!("{f}.body"),
                    format!(
                        "page is {} bytes; at most {MAX_ERROR_PAGE_BYTES} (64 KiB) are allowed",
                        page.body.len()
                    ),
                );
            }
            if let Err(p) = parse_template(&page.content_type) {
                push(
                    out,
                    format!("{f}.content_type"),
                    format!("content type {p}"),
                );
            } else if !page.content_type.contains('/') {
                push(
                    out,
                    format!("{f}.content_type"),
                    format!(
                        "content type \"{}\" is not a media type such as text/html",
                        page.content_type.escape_debug()
                    ),
                );
            }
        }
    }
}

fn check_basic_auth(auth: &mut BasicAuth, field: &str, out: &mut Vec<FieldError>) {
    if auth.realm.is_empty()
        || auth.realm.len() > 200
        || auth
            .realm
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        push(
            out,
            format!("{field}.realm"),
            format!(
                "realm \"{}\" must be 1–200 characters without quotes, backslashes or control characters",
                auth.realm.escape_debug()
            ),
        );
    }
    if auth.users.is_empty() {
        push(
            out,
            format!("{field}.users"),
            "lists no user; nobody could pass (remove basic_auth to open the route)",
        );
    }
    if auth.users.len() > MAX_BASIC_USERS {
        push(
            out,
            format!("{field}.users"),
            format!(
                "lists {} users; at most {MAX_BASIC_USERS} are allowed",
                auth.users.len()
            ),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (i, user) in auth.users.iter_mut().enumerate() {
        let f = format!("{field}.users[{i}]");
        if user.username.is_empty()
            || user.username.len() > 128
            || user.username.contains(':')
            || user.username.chars().any(char::is_control)
        {
            push(
                out,
                format!("{f}.username"),
                format!(
                    "username \"{}\" must be 1–128 characters without \":\" or control characters",
                    user.username.escape_debug()
                ),
            );
        } else if !seen.insert(user.username.clone()) {
            push(
                out,
                format!("{f}.username"),
                format!(
                    "username \"{}\" appears twice",
                    user.username.escape_debug()
                ),
            );
        }
        match (&user.hash, user.password.take()) {
            (Some(_), Some(_)) => push(out, f, "gives both hash and password; give one".to_owned()),
            (None, None) => push(
                out,
                f,
                format!(
                    "gives neither hash nor password, and this zone has no stored password for \"{}\" to keep",
                    user.username.escape_debug()
                ),
            ),
            (None, Some(password)) => {
                if password.is_empty() || password.len() > 1024 {
                    push(
                        out,
                        format!("{f}.password"),
                        "password must be 1–1024 bytes".to_owned(),
                    );
                } else {
                    user.hash = Some(hash_password(&password));
                }
            }
            (Some(hash), None) => {
                if let Some(p) = hash_problem(hash) {
                    push(out, format!("{f}.hash"), format!("hash {p}"));
                }
            }
        }
    }
}

/// A URL the proxy fetches: `http(s)://host…` without credentials or fragment; plain
/// `http` only to a loopback address when `loopback_http_only`.
fn url_problem(text: &str, loopback_http_only: bool) -> Option<String> {
    let shown = text.escape_debug();
    let Ok(url) = url::Url::parse(text) else {
        return Some(format!(
            "\"{shown}\" is not a URL such as https://auth.example/check"
        ));
    };
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if !loopback_http_only || loopback => {}
        "http" => {
            return Some(format!(
                "\"{shown}\" must use https:// (http:// only to a loopback address such as 127.0.0.1): keys fetched in clear could be forged"
            ));
        }
        other => {
            return Some(format!(
                "\"{shown}\" has the scheme \"{other}\"; use https://{}",
                if loopback_http_only {
                    ""
                } else {
                    " or http://"
                }
            ));
        }
    }
    if url.host().is_none() {
        return Some(format!("\"{shown}\" names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some(format!(
            "\"{shown}\" carries credentials; they would be logged and shown — put none in the URL"
        ));
    }
    if url.fragment().is_some() {
        return Some(format!("\"{shown}\" has a fragment (#…); remove it"));
    }
    if text.len() > MAX_TEMPLATE_LEN {
        return Some(format!("is longer than {MAX_TEMPLATE_LEN} characters"));
    }
    None
}

fn check_jwt(jwt: &mut Jwt, field: &str, out: &mut Vec<FieldError>) {
    use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
    let f = |name: &str| format!("{field}.{name}");
    if let Some(iss) = &jwt.issuer
        && (iss.is_empty() || iss.len() > 1024 || iss.chars().any(char::is_control))
    {
        push(
            out,
            f("issuer"),
            "issuer must be 1–1024 characters without control characters (leave it out to accept any)",
        );
    }
    if jwt.audiences.len() > MAX_AUTH_LIST {
        push(
            out,
            f("audiences"),
            format!(
                "lists {} audiences; at most {MAX_AUTH_LIST} are allowed",
                jwt.audiences.len()
            ),
        );
    }
    for (i, aud) in jwt.audiences.iter().enumerate() {
        if aud.is_empty() || aud.len() > 1024 || aud.chars().any(char::is_control) {
            push(
                out,
                format!("{field}.audiences[{i}]"),
                "audience must be 1–1024 characters without control characters",
            );
        }
    }
    let allowed = JWT_ALGORITHMS.join(", ");
    if jwt.algorithms.is_empty() {
        push(
            out,
            f("algorithms"),
            format!(
                "lists no algorithm; name the ones your tokens are signed with, from {allowed}"
            ),
        );
    }
    let mut families = Vec::new();
    for (i, name) in jwt.algorithms.iter().enumerate() {
        let af = format!("{field}.algorithms[{i}]");
        if name.eq_ignore_ascii_case("none") {
            push(
                out,
                af,
                format!(
                    "\"{}\" is not allowed: an unsigned token proves nothing; use one of {allowed}",
                    name.escape_debug()
                ),
            );
            continue;
        }
        match name.parse::<Algorithm>() {
            Ok(alg) if JWT_ALGORITHMS.contains(&name.as_str()) => {
                if jwt.algorithms[..i].contains(name) {
                    push(out, af, format!("\"{name}\" appears twice"));
                }
                families.push(alg.family());
            }
            _ => push(
                out,
                af,
                format!(
                    "\"{}\" is not an algorithm; use one of {allowed}",
                    name.escape_debug()
                ),
            ),
        }
    }
    let hmac = families.contains(&AlgorithmFamily::Hmac);
    let public: Vec<AlgorithmFamily> = families
        .iter()
        .copied()
        .filter(|f| *f != AlgorithmFamily::Hmac)
        .collect();
    let sources = [
        jwt.secret.is_some(),
        jwt.public_key_pem.is_some(),
        jwt.jwks_url.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count();
    if sources != 1 {
        push(
            out,
            field.to_owned(),
            format!(
                "gives {} key sources; give exactly one of secret (HMAC), public_key_pem or jwks_url{}",
                if sources == 0 { "no" } else { "several" },
                if sources == 0 {
                    " (on an update, a route with a stored secret keeps it when none is given)"
                } else {
                    ""
                }
            ),
        );
    }
    if let Some(secret) = &jwt.secret {
        if secret.len() < MIN_JWT_SECRET || secret.len() > MAX_JWT_KEY {
            push(
                out,
                f("secret"),
                format!(
                    "secret is {} bytes; an HMAC secret must be {MIN_JWT_SECRET}–{MAX_JWT_KEY} bytes",
                    secret.len()
                ),
            );
        }
        if !public.is_empty() {
            push(
                out,
                f("algorithms"),
                "a secret verifies HS256, HS384 or HS512 only; the other algorithms need public_key_pem or jwks_url",
            );
        }
    } else if hmac && sources == 1 {
        push(
            out,
            f("algorithms"),
            "HS256, HS384 and HS512 need a secret; public_key_pem and jwks_url carry public keys for RS*, PS*, ES* and EdDSA",
        );
    }
    if let Some(pem) = &jwt.public_key_pem {
        let mut distinct = public.clone();
        distinct.dedup();
        if pem.len() > MAX_JWT_KEY {
            push(
                out,
                f("public_key_pem"),
                format!("is {} bytes; at most {MAX_JWT_KEY} are allowed", pem.len()),
            );
        } else if distinct.len() > 1 {
            push(
                out,
                f("algorithms"),
                "one public key serves one family (RS*/PS*, ES* or EdDSA); list algorithms of one family",
            );
        } else if let Some(family) = distinct.first() {
            let parsed = match family {
                AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(pem.as_bytes()),
                AlgorithmFamily::Ec => DecodingKey::from_ec_pem(pem.as_bytes()),
                _ => DecodingKey::from_ed_pem(pem.as_bytes()),
            };
            if parsed.is_err() || !pem.contains("PUBLIC KEY-----") {
                push(
                    out,
                    f("public_key_pem"),
                    format!(
                        "is not a PEM public key (-----BEGIN PUBLIC KEY-----) for {}; give the public key that matches the algorithms",
                        jwt.algorithms.join(", ")
                    ),
                );
            }
        }
    }
    if let Some(url) = &jwt.jwks_url
        && let Some(p) = url_problem(url, true)
    {
        push(out, f("jwks_url"), format!("jwks_url {p}"));
    }
    match (&mut jwt.header, &jwt.cookie) {
        (Some(_), Some(_)) => push(
            out,
            field.to_owned(),
            "gives both header and cookie; the token is read from one place",
        ),
        (Some(h), None) => {
            if !is_token(h) {
                push(
                    out,
                    f("header"),
                    format!("header name \"{}\" is not a token", h.escape_debug()),
                );
            }
            *h = h.to_ascii_lowercase();
        }
        (None, Some(c)) => {
            if !is_token(c) || c.len() > 256 {
                push(
                    out,
                    f("cookie"),
                    format!(
                        "cookie name \"{}\" must be a token of at most 256 characters",
                        c.escape_debug()
                    ),
                );
            }
        }
        (None, None) => {}
    }
    if jwt.claims_to_headers.len() > MAX_AUTH_LIST {
        push(
            out,
            f("claims_to_headers"),
            format!(
                "maps {} claims; at most {MAX_AUTH_LIST} are allowed",
                jwt.claims_to_headers.len()
            ),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (claim, header) in std::mem::take(&mut jwt.claims_to_headers) {
        let cf = format!("{field}.claims_to_headers.{claim}");
        if claim.is_empty() || claim.len() > 128 || claim.chars().any(char::is_control) {
            push(
                out,
                cf.clone(),
                "claim name must be 1–128 characters without control characters",
            );
        }
        let lower = check_header_name(&header, cf.clone(), true, out);
        if !seen.insert(lower.clone()) {
            push(
                out,
                cf,
                format!("header \"{lower}\" already carries another claim; one claim per header"),
            );
        }
        jwt.claims_to_headers.insert(claim, lower);
    }
    if jwt.leeway_secs > MAX_JWT_LEEWAY {
        push(
            out,
            f("leeway_secs"),
            format!(
                "leeway_secs is {}; it must be 0–{MAX_JWT_LEEWAY}",
                jwt.leeway_secs
            ),
        );
    }
    if jwt.realm.is_empty()
        || jwt.realm.len() > 200
        || jwt
            .realm
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        push(
            out,
            f("realm"),
            format!(
                "realm \"{}\" must be 1–200 characters without quotes, backslashes or control characters",
                jwt.realm.escape_debug()
            ),
        );
    }
}

fn check_forward_auth(fa: &mut ForwardAuth, field: &str, out: &mut Vec<FieldError>) {
    if let Some(p) = url_problem(&fa.url, false) {
        push(out, format!("{field}.url"), format!("url {p}"));
    }
    if fa.timeout_ms == 0 || fa.timeout_ms > MAX_FORWARD_AUTH_TIMEOUT_MS {
        push(
            out,
            format!("{field}.timeout_ms"),
            format!(
                "timeout_ms is {}; it must be 1–{MAX_FORWARD_AUTH_TIMEOUT_MS}",
                fa.timeout_ms
            ),
        );
    }
    for (kind, list) in [
        ("request_headers", &mut fa.request_headers),
        ("response_headers", &mut fa.response_headers),
    ] {
        if list.len() > MAX_AUTH_LIST {
            push(
                out,
                format!("{field}.{kind}"),
                format!(
                    "lists {} headers; at most {MAX_AUTH_LIST} are allowed",
                    list.len()
                ),
            );
        }
        for (i, name) in list.iter_mut().enumerate() {
            let hf = format!("{field}.{kind}[{i}]");
            if kind == "request_headers" {
                // Any client header may be shown to the service (Authorization, Cookie…).
                if !is_token(name) {
                    push(
                        out,
                        hf,
                        format!("header name \"{}\" is not a token", name.escape_debug()),
                    );
                }
                *name = name.to_ascii_lowercase();
            } else {
                // Copied onto the upstream request: the rules of request header edits.
                *name = check_header_name(name, hf, true, out);
            }
        }
    }
}

/// Whether `a` and `b`, policies of one route, contradict each other: two credentials in
/// one `Authorization` header, or two policies writing the same request header.
fn check_auth_combinations(p: &Policies, field: &str, out: &mut Vec<FieldError>) {
    if let (Some(jwt), Some(_)) = (&p.jwt, &p.basic_auth)
        && jwt.token_header() == Some("authorization")
    {
        push(
            out,
            format!("{field}.jwt"),
            "jwt and basic_auth both read the Authorization header, which carries one credential; read the token from another header or a cookie, or keep one of them",
        );
    }
    let edited: Vec<&str> = p
        .request_headers
        .remove
        .iter()
        .chain(p.request_headers.set.iter().map(|h| &h.name))
        .chain(p.request_headers.add.iter().map(|h| &h.name))
        .map(String::as_str)
        .collect();
    let mut written: Vec<(String, &str)> = Vec::new();
    if let Some(jwt) = &p.jwt {
        for (claim, header) in &jwt.claims_to_headers {
            written.push((format!("{field}.jwt.claims_to_headers.{claim}"), header));
        }
    }
    if let Some(fa) = &p.forward_auth {
        for (i, header) in fa.response_headers.iter().enumerate() {
            written.push((
                format!("{field}.forward_auth.response_headers[{i}]"),
                header,
            ));
        }
    }
    for (i, (f, header)) in written.iter().enumerate() {
        if edited.iter().any(|e| e.eq_ignore_ascii_case(header)) {
            push(
                out,
                f.clone(),
                format!(
                    "header \"{header}\" is also edited by request_headers; one policy may write it"
                ),
            );
        } else if written[..i]
            .iter()
            .any(|(_, h)| h.eq_ignore_ascii_case(header))
        {
            push(
                out,
                f.clone(),
                format!(
                    "header \"{header}\" is written by both jwt and forward_auth; one policy may write it"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: serde_json::Value) -> Result<Policies, Vec<FieldError>> {
        let mut p: Policies = serde_json::from_value(json).unwrap();
        let mut out = Vec::new();
        p.check("policies", true, &mut out);
        if out.is_empty() { Ok(p) } else { Err(out) }
    }

    fn fields(json: serde_json::Value) -> Vec<String> {
        check(json)
            .unwrap_err()
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.problem))
            .collect()
    }

    #[test]
    fn retry_and_breaker_policies_take_defaults_and_name_bad_fields() {
        let p = check(serde_json::json!({
            "retry": {"attempts": 3, "on_status": [504, 502, 502]},
            "circuit_breaker": {}
        }))
        .unwrap();
        let r = p.retry.unwrap();
        assert_eq!(r.on_status, vec![502, 504], "sorted, duplicates dropped");
        assert!(r.on_reset);
        assert_eq!((r.budget_percent, r.min_per_sec), (20, 10));
        assert_eq!((r.backoff_ms, r.max_backoff_ms), (25, 250));
        let b = p.circuit_breaker.unwrap();
        assert_eq!(
            (
                b.consecutive_failures,
                b.error_percent,
                b.open_secs,
                b.half_open_requests
            ),
            (5, None, 10, 1)
        );
        let text = fields(serde_json::json!({
            "retry": {"attempts": 9, "on_status": [500], "budget_percent": 0,
                      "min_per_sec": 5000, "backoff_ms": 300, "max_backoff_ms": 100},
            "circuit_breaker": {"consecutive_failures": 0, "error_percent": 101,
                                "window_secs": 301, "min_requests": 0, "open_secs": 0,
                                "half_open_requests": 101}
        }))
        .join("\n");
        for want in [
            "policies.retry.attempts: attempts is 9; a retry policy allows 2–5 tries in all",
            "policies.retry.on_status[0]: status 500 is not retried; answers that may be retried are 502, 503 and 504",
            "policies.retry.budget_percent: budget_percent is 0; it must be 1–100",
            "policies.retry.min_per_sec: min_per_sec is 5000; it must be 0–1000",
            "policies.retry.max_backoff_ms: max_backoff_ms is 100; it must be backoff_ms (300)–10000",
            "policies.circuit_breaker.consecutive_failures: consecutive_failures is 0; it must be 1–1000",
            "policies.circuit_breaker.error_percent: error_percent is 101; it must be 1–100",
            "policies.circuit_breaker.window_secs: window_secs is 301; it must be 1–300",
            "policies.circuit_breaker.min_requests: min_requests is 0; it must be 1–100000",
            "policies.circuit_breaker.open_secs: open_secs is 0; it must be 1–3600",
            "policies.circuit_breaker.half_open_requests: half_open_requests is 101; it must be 1–100",
        ] {
            assert!(text.contains(want), "{text}\nshould contain {want}");
        }
        assert!(
            serde_json::from_value::<Policies>(
                serde_json::json!({"retry": {"attempts": 2, "tries": 1}})
            )
            .is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn a_split_is_normalised_and_its_problems_name_their_fields() {
        let p = check(serde_json::json!({"split": {
            "groups": [
                {"name": "stable", "weight": 90},
                {"name": "canary", "weight": 10, "upstreams": [{"url": "HTTP://10.0.0.1:80"}]}
            ],
            "sticky": {"kind": "header", "name": "X-User-Id"},
            "force": {"header": "X-Canary-Cohort"}
        }}))
        .unwrap();
        let split = p.split.unwrap();
        assert_eq!(
            split.groups[1].upstreams.as_ref().unwrap()[0].url,
            "http://10.0.0.1"
        );
        assert_eq!(
            split.sticky,
            Some(Sticky::Header {
                name: "x-user-id".into()
            })
        );
        assert_eq!(
            split.force.unwrap().header.as_deref(),
            Some("x-canary-cohort")
        );
        let cookie: Split = serde_json::from_value(serde_json::json!({
            "groups": [{"name": "a", "weight": 1}, {"name": "b", "weight": 0, "upstreams": [{"url": "http://b"}]}],
            "sticky": {"kind": "cookie", "name": "sy_cohort"}}))
        .unwrap();
        assert_eq!(
            cookie.sticky,
            Some(Sticky::Cookie {
                name: "sy_cohort".into(),
                max_age_secs: DEFAULT_STICKY_MAX_AGE
            })
        );

        let text = fields(serde_json::json!({"split": {
            "groups": [
                {"name": "stable", "weight": 90},
                {"name": "Canary!", "weight": 1001, "upstreams": [
                    {"url": "ftp://x"}, {"url": "http://ok", "weight": 0}]},
                {"name": "stable", "weight": 0},
                {"name": "empty", "weight": 1, "upstreams": []}
            ],
            "sticky": {"kind": "cookie", "name": "a b", "max_age_secs": 0},
            "force": {}
        }}));
        assert_eq!(
            text,
            [
                "policies.split.groups[1].name: group name \"Canary!\" must be 1–32 of a-z, 0-9, \"-\", \"_\"",
                "policies.split.groups[1].weight: group \"Canary!\" has weight 1001; weights must be 0–1000",
                "policies.split.groups[1].upstreams[0].url: backend \"ftp://x\" uses scheme \"ftp\"; only http and https are allowed",
                "policies.split.groups[1].upstreams[1].weight: backend \"http://ok\" has weight 0; weights must be 1–1000",
                "policies.split.groups[2].name: group name \"stable\" is used twice; names are unique",
                "policies.split.groups[3].upstreams: lists no upstreams; leave upstreams out to use the route's own",
                "policies.split.groups: 2 groups leave upstreams out; only one group may use the route's own upstreams",
                "policies.split.sticky.name: cookie name \"a b\" is not a token",
                "policies.split.sticky.max_age_secs: max_age_secs is 0; it must be 1–31536000 (a year)",
                "policies.split.force: names neither a header nor a cookie; give one or both, or leave force out",
            ]
        );
        let text = fields(serde_json::json!({"split": {"groups": [
            {"name": "a", "weight": 0}]}}));
        assert_eq!(
            text,
            [
                "policies.split.groups: lists 1 groups; a split has 2–8",
                "policies.split.groups: every group has weight 0; at least one needs a share of the traffic",
            ]
        );
    }

    #[test]
    fn a_health_check_is_normalised_with_defaults() {
        let p = check(serde_json::json!({"health_check": {
            "path": "/healthz?full=1",
            "expected_status": " 200-299 , 302,404 ",
            "host": "App.Internal:8080"
        }}))
        .unwrap();
        let hc = p.health_check.unwrap();
        assert_eq!(hc.path, "/healthz?full=1");
        assert_eq!(hc.expected_status, "200-299,302,404");
        assert_eq!(hc.host.as_deref(), Some("app.internal:8080"));
        assert_eq!(
            (
                hc.interval_ms,
                hc.timeout_ms,
                hc.healthy_threshold,
                hc.unhealthy_threshold
            ),
            (5000, 1000, 2, 3)
        );
        let p = check(serde_json::json!({"health_check": {"path": "/"}})).unwrap();
        assert_eq!(p.health_check.unwrap().expected_status, "200-399");
        assert_eq!(
            parse_status_ranges("200,301-308").unwrap(),
            [(200, 200), (301, 308)]
        );
    }

    #[test]
    fn health_check_problems_name_their_fields() {
        let text = fields(serde_json::json!({"health_check": {
            "path": "healthz",
            "expected_status": "200-abc",
            "interval_ms": 500,
            "timeout_ms": 0,
            "healthy_threshold": 0,
            "unhealthy_threshold": 11,
            "host": "a b"
        }}));
        assert_eq!(
            text,
            [
                "policies.health_check.path: path \"healthz\" must start with \"/\" (an absolute path such as /healthz)",
                "policies.health_check.expected_status: expected_status \"200-abc\" is not a list of status codes (100–599) and ranges such as \"200-399\" or \"200,204,301-302\"",
                "policies.health_check.interval_ms: interval_ms is 500; it must be 1000–300000 (1 s – 5 min)",
                "policies.health_check.timeout_ms: timeout_ms is 0; it must be 1–60000 and shorter than interval_ms",
                "policies.health_check.healthy_threshold: healthy_threshold is 0; it must be 1–10 probes in a row",
                "policies.health_check.unhealthy_threshold: unhealthy_threshold is 11; it must be 1–10 probes in a row",
                "policies.health_check.host: host \"a b\" must be a host name or address with an optional port (e.g. app.internal:8080), at most 261 characters; leave it out to send the upstream's own",
            ]
        );
        let text = fields(serde_json::json!({"health_check": {
            "path": "/ok #x", "expected_status": "399-200", "interval_ms": 2000, "timeout_ms": 2000
        }}));
        assert_eq!(
            text,
            [
                "policies.health_check.path: path \"/ok #x\" contains ' '; a path is ASCII without spaces, control characters, \"#\" or \"\\\" (percent-encode the others)",
                "policies.health_check.expected_status: expected_status \"399-200\": the range \"399-200\" ends before it starts",
                "policies.health_check.timeout_ms: timeout_ms is 2000; it must be shorter than interval_ms (2000), or probes would overlap",
            ]
        );
        for bad in [
            "",
            "99",
            "600",
            "2000",
            "200-",
            "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
        ] {
            assert!(
                parse_status_ranges(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn empty_policies_serialise_to_nothing() {
        let p = Policies::default();
        assert!(p.is_empty());
        assert_eq!(serde_json::to_string(&p).unwrap(), "{}");
    }

    #[test]
    fn a_password_is_replaced_by_its_argon2id_hash() {
        let p = check(serde_json::json!({
            "basic_auth": {"users": [{"username": "ann", "password": "s3cret"}]}
        }))
        .unwrap();
        let user = &p.basic_auth.as_ref().unwrap().users[0];
        assert!(user.password.is_none());
        let hash = user.hash.as_deref().unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(hash, "s3cret"));
        assert!(!verify_password(hash, "S3cret"));
        let json = serde_json::to_string(&p).unwrap();
        assert!(!json.contains("s3cret"), "{json}");
        assert_eq!(p.basic_auth.unwrap().realm, "Restricted");
    }

    #[test]
    fn bcrypt_hashes_are_accepted_and_verified() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let p = check(serde_json::json!({
            "basic_auth": {"users": [{"username": "bob", "hash": hash}]}
        }))
        .unwrap();
        let h = p.basic_auth.unwrap().users[0].hash.clone().unwrap();
        assert!(verify_password(&h, "pw"));
        assert!(!verify_password(&h, "px"));
    }

    #[test]
    fn plain_text_and_broken_hashes_are_refused() {
        let errs = fields(serde_json::json!({
            "basic_auth": {"realm": "a\"b", "users": [
                {"username": "a", "hash": "hunter2"},
                {"username": "a:b", "hash": "$2b$04$short"},
                {"username": "c"},
                {"username": "d", "hash": "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA"}
            ]}
        }));
        let text = errs.join("\n");
        for want in [
            "policies.basic_auth.realm: realm \"a\\\"b\" must be",
            "policies.basic_auth.users[0].hash: hash is neither an argon2id hash",
            "policies.basic_auth.users[1].username: username \"a:b\"",
            "policies.basic_auth.users[1].hash: hash is not a valid bcrypt hash",
            "policies.basic_auth.users[2]: gives neither hash nor password",
            "policies.basic_auth.users[3].hash: hash is an argon2i hash",
        ] {
            assert!(text.contains(want), "{text}\nshould contain {want}");
        }
    }

    #[test]
    fn hashes_are_redacted_and_kept_by_username() {
        let stored = check(serde_json::json!({
            "basic_auth": {"users": [{"username": "ann", "password": "pw"}]}
        }))
        .unwrap();
        let shown = serde_json::to_value(stored.redacted()).unwrap();
        assert_eq!(
            shown["basic_auth"]["users"],
            serde_json::json!([{"username": "ann"}])
        );
        let mut json =
            serde_json::json!({"routes": [{"policies": serde_json::to_value(&stored).unwrap()}]});
        redact_json(&mut json);
        assert_eq!(
            json["routes"][0]["policies"]["basic_auth"]["users"],
            serde_json::json!([{"username": "ann"}])
        );
        let mut p: Policies = serde_json::from_value(serde_json::json!({
            "basic_auth": {"users": [{"username": "ann"}, {"username": "bob"}]}
        }))
        .unwrap();
        p.keep_stored_hashes(&stored);
        let users = &p.basic_auth.as_ref().unwrap().users;
        assert_eq!(
            users[0].hash,
            stored.basic_auth.as_ref().unwrap().users[0].hash
        );
        assert_eq!(users[1].hash, None);
        let mut out = Vec::new();
        p.check("policies", true, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].field, "policies.basic_auth.users[1]");
        assert!(
            out[0].problem.contains("no stored password for \"bob\""),
            "{out:?}"
        );
    }

    #[test]
    fn header_rules_are_normalised_and_framing_headers_refused() {
        let p = check(serde_json::json!({
            "request_headers": {"remove": ["X-Debug"], "set": [{"name": "X-Client", "value": "{client_ip}"}]}
        }))
        .unwrap();
        assert_eq!(p.request_headers.remove, ["x-debug"]);
        assert_eq!(p.request_headers.set[0].name, "x-client");
        let text = fields(serde_json::json!({
            "request_headers": {"set": [{"name": "Transfer-Encoding", "value": "chunked"}],
                                "remove": ["X-Forwarded-For"]},
            "response_headers": {"add": [
                {"name": "X A", "value": "1"},
                {"name": "x-b", "value": "{nope}"},
                {"name": "x-c", "value": "a\r\nb"}
            ]}
        }))
        .join("\n");
        for want in [
            "policies.request_headers.set[0].name: header \"transfer-encoding\" cannot be edited",
            "policies.request_headers.remove[0]: request header \"x-forwarded-for\" is set by the proxy",
            "policies.response_headers.add[0].name: header name \"X A\" is not a token",
            "policies.response_headers.add[1].value: value of header \"x-b\" uses the unknown variable {nope}; available: {client_ip}",
            "policies.response_headers.add[2].value: value of header \"x-c\" contains the control byte 0x0d",
        ] {
            assert!(text.contains(want), "{text}\nshould contain {want}");
        }
    }

    #[test]
    fn templates_parse_into_pieces() {
        assert_eq!(
            parse_template("ip={client_ip} {{x}}").unwrap(),
            [
                Piece::Text("ip=".into()),
                Piece::ClientIp,
                Piece::Text(" {x}".into())
            ]
        );
        assert!(parse_template("a}b").is_err());
        assert!(parse_template("{client_ip").is_err());
    }

    #[test]
    fn patterns_and_replacements_are_checked() {
        let text = fields(serde_json::json!({
            "rewrite": {"kind": "regex", "pattern": "^/old/(.*)$", "replacement": "/new/$2"},
            "redirect": {"code": 303, "pattern": "(", "target": "example.com/x"}
        }))
        .join("\n");
        for want in [
            "policies.rewrite.replacement: replacement \"/new/$2\" refers to group \"2\", which the pattern does not have (it has 1 numbered group)",
            "policies.redirect.code: redirect code 303 is not one of 301, 302, 307, 308",
            "policies.redirect.pattern: pattern \"(\" is not a valid regular expression",
            "policies.redirect.target: target \"example.com/x\" must be an http(s):// URL",
        ] {
            assert!(text.contains(want), "{text}\nshould contain {want}");
        }
        let huge = "^(a|b|c|d){1000}$";
        let text = fields(serde_json::json!({
            "rewrite": {"kind": "regex", "pattern": huge, "replacement": "/"}
        }))
        .join("\n");
        assert!(text.contains("compiles to more than 64 KiB"), "{text}");
        let mut p: Policies = serde_json::from_value(serde_json::json!({
            "rewrite": {"kind": "strip_prefix"}
        }))
        .unwrap();
        let mut out = Vec::new();
        p.check("policies", false, &mut out);
        assert_eq!(out[0].field, "policies.rewrite");
    }

    #[test]
    fn limits_hsts_and_pages_are_bounded() {
        let text = fields(serde_json::json!({
            "hsts": {"max_age_secs": 600, "preload": true},
            "max_body_bytes": 0,
            "rate_limit": {"requests": 0, "per_secs": 7200, "key": {"kind": "header", "name": "x key"}},
            "error_pages": {"418": {"body": "teapot"}, "503": {"content_type": "html", "body": "x"}}
        }))
        .join("\n");
        for want in [
            "policies.hsts.preload: preload needs include_subdomains",
            "policies.max_body_bytes: max_body_bytes is 0; it must be 1–",
            "policies.rate_limit.requests: requests is 0",
            "policies.rate_limit.per_secs: per_secs is 7200",
            "policies.rate_limit.key.name: header name \"x key\" is not a token",
            "policies.error_pages.418: status \"418\" has no page of its own; pages can replace 401, 403, 413, 429, 502, 503, 504",
            "policies.error_pages.503.content_type: content type \"html\" is not a media type",
        ] {
            assert!(text.contains(want), "{text}\nshould contain {want}");
        }
        let p = check(serde_json::json!({
            "hsts": {"max_age_secs": 31536000, "include_subdomains": true, "preload": true},
            "rate_limit": {"requests": 10, "key": {"kind": "header", "name": "X-Api-Key"}}
        }))
        .unwrap();
        assert_eq!(
            p.hsts.unwrap().value(),
            "max-age=31536000; includeSubDomains; preload"
        );
        let r = p.rate_limit.unwrap();
        assert_eq!((r.per_secs, r.burst()), (1, 10));
        assert_eq!(
            r.key,
            RateKey::Header {
                name: "x-api-key".into()
            }
        );
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    /// An EC P-256 public key (for the PEM check only).
    const EC_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\nq9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n-----END PUBLIC KEY-----\n";

    #[test]
    fn jwt_policies_are_normalised() {
        let p = check(serde_json::json!({"jwt": {
            "algorithms": ["ES256"], "public_key_pem": EC_PEM, "issuer": "https://idp.test",
            "audiences": ["api"], "claims_to_headers": {"sub": "X-User", "email": "X-Email"},
            "header": "X-Token"
        }}))
        .unwrap();
        let jwt = p.jwt.unwrap();
        assert_eq!(jwt.claims_to_headers["sub"], "x-user");
        assert_eq!(jwt.header.as_deref(), Some("x-token"));
        assert_eq!((jwt.leeway_secs, jwt.realm.as_str()), (30, "api"));
        let p = check(serde_json::json!({"jwt": {
            "algorithms": ["HS256"], "secret": SECRET, "cookie": "session"}}))
        .unwrap();
        assert_eq!(p.jwt.unwrap().token_header(), None);
        assert!(
            check(serde_json::json!({"jwt": {
                "algorithms": ["RS256"], "jwks_url": "http://127.0.0.1:9/keys"}}))
            .is_ok()
        );
    }

    #[test]
    fn jwt_problems_name_their_fields() {
        let text = fields(serde_json::json!({"jwt": {
            "algorithms": ["none", "XS256", "ES256", "ES256"],
            "jwks_url": "http://idp.example/keys",
            "leeway_secs": 601,
            "claims_to_headers": {"sub": "Host", "email": "x user"},
            "header": "authorization", "cookie": "c",
            "realm": "a\"b"
        }}))
        .join("\n");
        for want in [
            "policies.jwt.algorithms[0]: \"none\" is not allowed: an unsigned token proves nothing; use one of RS256, RS384",
            "policies.jwt.algorithms[1]: \"XS256\" is not an algorithm; use one of RS256",
            "policies.jwt.algorithms[3]: \"ES256\" appears twice",
            "policies.jwt.jwks_url: jwks_url \"http://idp.example/keys\" must use https://",
            "policies.jwt.leeway_secs: leeway_secs is 601; it must be 0–600",
            "policies.jwt.claims_to_headers.sub: header \"host\" cannot be edited",
            "policies.jwt.claims_to_headers.email: header name \"x user\" is not a token",
            "policies.jwt: gives both header and cookie",
            "policies.jwt.realm: realm",
        ] {
            assert!(text.contains(want), "{text}\nshould contain {want}");
        }
        let text = fields(serde_json::json!({"jwt": {"algorithms": []}})).join("\n");
        assert!(
            text.contains("policies.jwt.algorithms: lists no algorithm"),
            "{text}"
        );
        assert!(
            text.contains("policies.jwt: gives no key sources"),
            "{text}"
        );
        let text = fields(serde_json::json!({"jwt": {
            "algorithms": ["RS256"], "secret": "short", "jwks_url": "ftp://x/keys"}}))
        .join("\n");
        for want in [
            "policies.jwt: gives several key sources",
            "policies.jwt.secret: secret is 5 bytes; an HMAC secret must be 32–",
            "policies.jwt.algorithms: a secret verifies HS256, HS384 or HS512 only",
            "policies.jwt.jwks_url: jwks_url \"ftp://x/keys\" has the scheme \"ftp\"",
        ] {
            assert!(text.contains(want), "{text}\nshould contain {want}");
        }
        let text = fields(serde_json::json!({"jwt": {
            "algorithms": ["RS256"], "public_key_pem": EC_PEM}}))
        .join("\n");
        assert!(
            text.contains("policies.jwt.public_key_pem: is not a PEM public key"),
            "{text}"
        );
        let text = fields(serde_json::json!({"jwt": {
            "algorithms": ["HS256"], "public_key_pem": EC_PEM}}))
        .join("\n");
        assert!(
            text.contains("policies.jwt.algorithms: HS256, HS384 and HS512 need a secret"),
            "{text}"
        );
    }

    #[test]
    fn forward_auth_problems_name_their_fields() {
        let p = check(serde_json::json!({"forward_auth": {
            "url": "https://auth.example/check", "request_headers": ["Cookie", "Authorization"],
            "response_headers": ["X-Auth-User"]}}))
        .unwrap();
        let fa = p.forward_auth.unwrap();
        assert_eq!(fa.request_headers, ["cookie", "authorization"]);
        assert_eq!(fa.response_headers, ["x-auth-user"]);
        assert_eq!(fa.timeout_ms, 5000);
        let text = fields(serde_json::json!({"forward_auth": {
            "url": "auth.example/check", "timeout_ms": 60001,
            "request_headers": ["bad header"],
            "response_headers": ["Content-Length", "X-Forwarded-For"]}}))
        .join("\n");
        for want in [
            "policies.forward_auth.url: url \"auth.example/check\" is not a URL",
            "policies.forward_auth.timeout_ms: timeout_ms is 60001; it must be 1–60000",
            "policies.forward_auth.request_headers[0]: header name \"bad header\" is not a token",
            "policies.forward_auth.response_headers[0]: header \"content-length\" cannot be edited",
            "policies.forward_auth.response_headers[1]: request header \"x-forwarded-for\" is set by the proxy",
        ] {
            assert!(text.contains(want), "{text}\nshould contain {want}");
        }
        let text = fields(serde_json::json!({"forward_auth": {
            "url": "http://user:pw@auth.example/", "timeout_ms": 0}}))
        .join("\n");
        assert!(text.contains("carries credentials"), "{text}");
        assert!(text.contains("timeout_ms is 0"), "{text}");
    }

    #[test]
    fn contradicting_auth_policies_are_refused() {
        let text = fields(serde_json::json!({
            "basic_auth": {"users": [{"username": "ann", "hash": bcrypt::hash("pw", 4).unwrap()}]},
            "jwt": {"algorithms": ["HS256"], "secret": SECRET,
                    "claims_to_headers": {"sub": "x-user", "role": "x-role"}},
            "forward_auth": {"url": "https://auth.example/", "response_headers": ["X-User"]},
            "request_headers": {"set": [{"name": "x-role", "value": "guest"}]}
        }))
        .join("\n");
        for want in [
            "policies.jwt: jwt and basic_auth both read the Authorization header",
            "policies.jwt.claims_to_headers.role: header \"x-role\" is also edited by request_headers",
            "policies.forward_auth.response_headers[0]: header \"x-user\" is written by both jwt and forward_auth",
        ] {
            assert!(text.contains(want), "{text}\nshould contain {want}");
        }
        // With the token in a cookie, basic auth keeps Authorization to itself.
        assert!(
            check(serde_json::json!({
                "basic_auth": {"users": [{"username": "ann", "hash": bcrypt::hash("pw", 4).unwrap()}]},
                "jwt": {"algorithms": ["HS256"], "secret": SECRET, "cookie": "token"}
            }))
            .is_ok()
        );
    }

    #[test]
    fn the_jwt_secret_is_redacted_and_kept() {
        let stored =
            check(serde_json::json!({"jwt": {"algorithms": ["HS256"], "secret": SECRET}})).unwrap();
        let shown = serde_json::to_string(&stored.redacted()).unwrap();
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!format!("{stored:?}").contains(SECRET));
        let mut json =
            serde_json::json!({"routes": [{"policies": serde_json::to_value(&stored).unwrap()}]});
        redact_json(&mut json);
        assert!(!json.to_string().contains(SECRET), "{json}");
        let mut p: Policies = serde_json::from_str(&shown).unwrap();
        p.keep_stored_hashes(&stored);
        assert_eq!(p, stored);
        let mut out = Vec::new();
        p.check("policies", true, &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(p.format_needed(), 2);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err =
            serde_json::from_value::<Policies>(serde_json::json!({"cors": true})).unwrap_err();
        assert!(err.to_string().contains("unknown field `cors`"), "{err}");
    }
}
