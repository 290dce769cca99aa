//! The records the panel writes to Redis and the proxy serves, and the zone
//! specification the panel validates before it writes anything.
//!
//! Everything here is JSON with explicit field names. Deserialising rejects unknown
//! fields and invalid values; [`HostRecord::from_json`] and [`CertRecord::from_json`] are
//! what readers of Redis use, so a record that fails validation is refused whole.

use std::collections::BTreeMap;
use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::{BackendUrl, UrlTemplate};
use crate::certs::CertSource;
use crate::hostname::HostPattern;
use crate::policy::Policies;
use crate::route_match::RouteMatch;

/// Highest upstream weight; weights are relative, so a small range is enough.
pub const MAX_WEIGHT: u32 = 1000;
/// Longest accepted connect timeout: beyond a minute a backend is down, not slow.
pub const MAX_CONNECT_TIMEOUT_MS: u32 = 60_000;
/// Longest accepted read timeout: one hour, for long polling and slow exports.
pub const MAX_READ_TIMEOUT_MS: u32 = 3_600_000;
/// Longest accepted client idle timeout: one hour, as the read timeout.
pub const MAX_IDLE_TIMEOUT_MS: u32 = 3_600_000;
/// Longest accepted total timeout: a day, for very long downloads.
pub const MAX_TOTAL_TIMEOUT_MS: u32 = 86_400_000;
/// Longest path prefix; real prefixes are short, this bounds memory per route.
pub const MAX_PATH_PREFIX_LEN: usize = 1024;

/// One problem with one field, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// Dotted path of the field, e.g. `backend.upstreams[1].url`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

/// Every problem found in one item, with the item named (`zone 3 ("app.example.com")`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors {
    pub item: String,
    pub errors: Vec<FieldError>,
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", self.item, e.problem)?;
        }
        Ok(())
    }
}

/// A path prefix: empty (everything) or `/segment[/segment…]` without a trailing slash.
/// `/api` matches `/api` and `/api/…`, not `/apis`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathPrefix(String);

impl PathPrefix {
    /// Normalises and validates a prefix: `/` → empty, trailing slash dropped,
    /// percent-escapes in the canonical form requests are matched in
    /// ([`crate::path::canonical_prefix`]); dot segments, empty segments, path
    /// parameters, encoded separators, query, fragment, spaces and control characters
    /// are refused.
    pub fn parse(input: &str) -> Result<Self, String> {
        if input.is_empty() || input == "/" {
            return Ok(Self::default());
        }
        if input.len() > MAX_PATH_PREFIX_LEN {
            return Err(format!(
                "path prefix is {} characters; at most {MAX_PATH_PREFIX_LEN} are allowed",
                input.len()
            ));
        }
        crate::path::canonical_prefix(input).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a request falls under this prefix: segment-wise, on the target's
    /// normalised match path ([`crate::path::RequestTarget::match_path`]).
    pub fn matches(&self, target: &crate::path::RequestTarget) -> bool {
        crate::path::prefix_covers(&self.0, target)
    }
}

impl Serialize for PathPrefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PathPrefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn default_weight() -> u32 {
    1
}

/// One upstream endpoint of a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    pub url: BackendUrl,
    /// Relative share of requests, 1–1000.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

/// Per-route timeouts; `None` means the proxy's configured default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Milliseconds to connect to an upstream, 1–60,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 60_000))]
    pub connect_ms: Option<u32>,
    /// Milliseconds to wait for an upstream's answer, 1–3,600,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3_600_000))]
    pub read_ms: Option<u32>,
    /// Milliseconds the client may leave the exchange idle — sending no byte of its
    /// body, or reading no byte of the answer — 1–3,600,000 (data format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3_600_000))]
    pub idle_ms: Option<u32>,
    /// Milliseconds a whole exchange may take, from the request's arrival to the
    /// answer's last byte, 1–86,400,000 (data format 2). Exceeded before the answer
    /// starts: 504; after: the connection is cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 86_400_000))]
    pub total_ms: Option<u32>,
}

impl Timeouts {
    /// Whether only format-1 fields are set (`connect_ms`, `read_ms`).
    pub fn format_one(&self) -> bool {
        self.idle_ms.is_none() && self.total_ms.is_none()
    }
}

/// One zone as the proxy serves it: named backends are already rendered to upstreams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The zone's id in the panel (for logs and metrics).
    pub zone_id: String,
    /// Empty for the whole host.
    #[serde(default)]
    pub path_prefix: PathPrefix,
    /// Empty means "service not configured for this host" (503).
    #[serde(default)]
    pub upstreams: Vec<Upstream>,
    /// The named backend the upstreams were rendered from, if any (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named_backend: Option<String>,
    /// Redirect plain HTTP requests to HTTPS (308).
    #[serde(default)]
    pub force_https: bool,
    /// Send the client's Host header upstream instead of the upstream's own.
    #[serde(default)]
    pub preserve_host: bool,
    /// Client networks allowed; empty allows everyone.
    #[serde(default)]
    pub allow: Vec<IpNet>,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// What the route does besides forwarding; absent when nothing (data format 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Box<Policies>>,
    /// What a request must also meet besides host and path prefix; absent when nothing
    /// (data format 1). See [`crate::route_match`].
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub matching: Option<Box<RouteMatch>>,
}

impl Route {
    /// The route's match conditions as part of its identity ([`RouteMatch::key`]).
    pub fn match_key(&self) -> String {
        self.matching
            .as_deref()
            .map(RouteMatch::key)
            .unwrap_or_default()
    }

    /// The lowest data format that can carry this route (see [`HostRecord::format_needed`]).
    pub fn format_needed(&self) -> u32 {
        let empty = (Policies::default(), RouteMatch::default());
        route_format(
            self.policies.as_deref().unwrap_or(&empty.0),
            self.matching.as_deref().unwrap_or(&empty.1),
            &self.timeouts,
        )
        .0
    }

    /// Checks what serde cannot: weight and timeout ranges, and the policies.
    fn problems(&self, field: &str, out: &mut Vec<FieldError>) {
        if let Some(m) = &self.matching {
            let mut copy = (**m).clone();
            copy.check(&format!("{field}.match"), &self.path_prefix, out);
        }
        if let Some(p) = &self.policies {
            let f = format!("{field}.policies");
            let passwords = p
                .basic_auth
                .iter()
                .flat_map(|a| &a.users)
                .any(|u| u.password.is_some());
            if passwords {
                out.push(FieldError {
                    field: format!("{f}.basic_auth"),
                    problem: "holds a password in clear; records hold only hashes".into(),
                });
            } else {
                let mut copy = (**p).clone();
                copy.check(&f, !self.path_prefix.as_str().is_empty(), out);
            }
        }
        for (i, u) in self.upstreams.iter().enumerate() {
            weight_problem(
                &format!("{field}.upstreams[{i}].weight"),
                u.url.as_str(),
                u.weight,
                out,
            );
        }
        timeout_problems(&format!("{field}.timeouts"), &self.timeouts, out);
    }
}

fn weight_problem(field: &str, url: &str, weight: u32, out: &mut Vec<FieldError>) {
    if weight == 0 || weight > MAX_WEIGHT {
        out.push(FieldError {
            field: field.to_owned(),
            problem: format!(
                "backend \"{url}\" has weight {weight}; weights must be 1–{MAX_WEIGHT}"
            ),
        });
    }
}

/// Adds a problem for each timeout out of range; `field` names the timeouts object.
fn timeout_problems(field: &str, t: &Timeouts, out: &mut Vec<FieldError>) {
    for (name, value, max) in [
        ("connect_ms", t.connect_ms, MAX_CONNECT_TIMEOUT_MS),
        ("read_ms", t.read_ms, MAX_READ_TIMEOUT_MS),
        ("idle_ms", t.idle_ms, MAX_IDLE_TIMEOUT_MS),
        ("total_ms", t.total_ms, MAX_TOTAL_TIMEOUT_MS),
    ] {
        if let Some(v) = value
            && (v == 0 || v > max)
        {
            out.push(FieldError {
                field: format!("{field}.{name}"),
                problem: format!("timeout {name} is {v}; it must be 1–{max} milliseconds"),
            });
        }
    }
}

fn format_one() -> u32 {
    1
}

/// The one rule for the data format a route needs: 2 when it has policies, match
/// conditions or a timeout format 1 did not know (`idle_ms`, `total_ms`), else 1 (such a
/// record is exactly what format 1 wrote); with the spec field that needs it
/// (`policies` first), for messages.
pub fn route_format(
    policies: &Policies,
    matching: &RouteMatch,
    timeouts: &Timeouts,
) -> (u32, &'static str) {
    [
        (policies.format_needed(), "policies"),
        (if matching.is_empty() { 1 } else { 2 }, "match"),
        (if timeouts.format_one() { 1 } else { 2 }, "timeouts"),
    ]
    .into_iter()
    .fold((1, "policies"), |best, (format, field)| {
        if format > best.0 {
            (format, field)
        } else {
            best
        }
    })
}

/// Why a record read from Redis was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{kind} record \"{key}\" is not valid JSON for this format: {source}")]
    Json {
        kind: &'static str,
        key: String,
        source: serde_json::Error,
    },
    #[error("{kind} record \"{key}\" is invalid: {problems}")]
    Invalid {
        kind: &'static str,
        key: String,
        problems: ValidationErrors,
    },
}

/// Everything routed for one hostname pattern: the value of `zone:<pattern>` in Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostRecord {
    pub host: HostPattern,
    /// One route per path prefix, in any order (the proxy picks the longest match).
    pub routes: Vec<Route>,
}

impl HostRecord {
    /// Parses and validates a record stored under the key for `key_host`.
    pub fn from_json(key_host: &str, json: &[u8]) -> Result<Self, RecordError> {
        let record: HostRecord =
            serde_json::from_slice(json).map_err(|source| RecordError::Json {
                kind: "zone",
                key: key_host.to_owned(),
                source,
            })?;
        let problems = record.problems(key_host);
        if !problems.is_empty() {
            return Err(RecordError::Invalid {
                kind: "zone",
                key: key_host.to_owned(),
                problems: ValidationErrors {
                    item: format!("zone \"{key_host}\""),
                    errors: problems,
                },
            });
        }
        Ok(record)
    }

    fn problems(&self, key_host: &str) -> Vec<FieldError> {
        let mut out = Vec::new();
        if self.host.as_str() != key_host {
            out.push(FieldError {
                field: "host".into(),
                problem: format!(
                    "record says host \"{}\" but is stored under \"{key_host}\"",
                    self.host
                ),
            });
        }
        if self.routes.is_empty() {
            out.push(FieldError {
                field: "routes".into(),
                problem: "has no routes; delete the key instead".into(),
            });
        }
        let mut seen = std::collections::HashSet::new();
        for (i, route) in self.routes.iter().enumerate() {
            if !seen.insert((route.path_prefix.as_str(), route.match_key())) {
                out.push(FieldError {
                    field: format!("routes[{i}].path_prefix"),
                    problem: format!(
                        "path prefix \"{}\" appears twice with the same match conditions",
                        route.path_prefix.as_str()
                    ),
                });
            }
            route.problems(&format!("routes[{i}]"), &mut out);
        }
        out
    }

    /// The JSON stored in Redis.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("records always serialise")
    }

    /// The lowest data format that can carry this record: 2 when a route has policies
    /// or match conditions, else 1 (such a record is exactly what format 1 wrote).
    pub fn format_needed(&self) -> u32 {
        self.routes
            .iter()
            .map(Route::format_needed)
            .max()
            .unwrap_or(1)
    }
}

/// A certificate and its key: the value of `cert:<name>` in Redis.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertRecord {
    /// The name it is stored under, e.g. `*.example.com`.
    pub name: HostPattern,
    /// Every name it covers (`*.example.com`, `example.com`).
    pub names: Vec<HostPattern>,
    /// PEM chain, leaf first.
    pub chain_pem: String,
    /// PEM private key. Never logged: `Debug` hides it.
    pub key_pem: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Issued (absent from the JSON, as before uploads existed) or uploaded: the proxy
    /// prefers an uploaded certificate for a name ([`crate::certs`]), and it is stored
    /// under another key ([`CertRecord::member`]).
    #[serde(default, skip_serializing_if = "CertSource::is_issued")]
    pub source: CertSource,
}

impl fmt::Debug for CertRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertRecord")
            .field("name", &self.name)
            .field("names", &self.names)
            .field(
                "chain_pem",
                &format_args!("<{} bytes>", self.chain_pem.len()),
            )
            .field("key_pem", &format_args!("<redacted>"))
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("source", &self.source)
            .finish()
    }
}

impl CertRecord {
    /// Its name in Redis: the key `cert:<member>`, the `certs` index, the change feed
    /// (`*.example.com` issued, `uploaded:*.example.com` uploaded).
    pub fn member(&self) -> String {
        self.source.member(self.name.as_str())
    }

    /// What [`crate::certs`]'s choice knows of it.
    pub fn candidate(&self) -> crate::certs::Candidate {
        crate::certs::Candidate {
            member: self.member(),
            source: self.source,
            not_after: self.not_after,
        }
    }

    /// Parses and validates a record stored under the key for `key_name`.
    pub fn from_json(key_name: &str, json: &[u8]) -> Result<Self, RecordError> {
        let record: CertRecord =
            serde_json::from_slice(json).map_err(|source| RecordError::Json {
                kind: "cert",
                key: key_name.to_owned(),
                source,
            })?;
        let mut errors = Vec::new();
        if record.member() != key_name {
            errors.push(FieldError {
                field: "name".into(),
                problem: format!(
                    "record says name \"{}\" ({}) but is stored under \"{key_name}\"",
                    record.name,
                    record.source.as_str()
                ),
            });
        }
        if record.names.is_empty() {
            errors.push(FieldError {
                field: "names".into(),
                problem: "covers no names".into(),
            });
        }
        if !record.chain_pem.contains("-----BEGIN CERTIFICATE-----") {
            errors.push(FieldError {
                field: "chain_pem".into(),
                problem: "holds no PEM certificate".into(),
            });
        }
        if !record.key_pem.contains("PRIVATE KEY-----") {
            errors.push(FieldError {
                field: "key_pem".into(),
                problem: "holds no PEM private key".into(),
            });
        }
        if record.not_after <= record.not_before {
            errors.push(FieldError {
                field: "not_after".into(),
                problem: "is not after not_before".into(),
            });
        }
        if !errors.is_empty() {
            return Err(RecordError::Invalid {
                kind: "cert",
                key: key_name.to_owned(),
                problems: ValidationErrors {
                    item: format!("certificate \"{key_name}\""),
                    errors,
                },
            });
        }
        Ok(record)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("records always serialise")
    }
}

/// The longest ACME challenge token accepted. RFC 8555 tokens carry at least 128 bits
/// of entropy in base64url (22+ characters); CAs use 43. This bounds memory and keys.
pub const MAX_CHALLENGE_TOKEN_LEN: usize = 128;

/// An HTTP-01 challenge the fleet answers while a CA validates a per-host order: the
/// value of `acme-challenge:<host>/<token>` in Redis, written by the cert worker with a
/// TTL and deleted once the CA has decided. Every proxy answers
/// `GET http://<host>/.well-known/acme-challenge/<token>` with `key_authorization`
/// until `expires_at` (the key's TTL ends then too; the proxy checks the time itself,
/// because an expiry sends no change notification).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRecord {
    /// The exact, normalised hostname being validated.
    pub host: String,
    /// The challenge token: the last segment of the URL path.
    pub token: String,
    /// `<token>.<account key thumbprint>`: the whole answer body (RFC 8555 §8.3).
    pub key_authorization: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Whether `token` is a possible ACME token: 1–[`MAX_CHALLENGE_TOKEN_LEN`] base64url
/// characters (RFC 8555 §8.1). Anything else is never looked up.
pub fn is_challenge_token(token: &str) -> bool {
    (1..=MAX_CHALLENGE_TOKEN_LEN).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ChallengeRecord {
    /// The name it is stored under and listed by in the feed: `<host>/<token>`, the
    /// same as the URL it answers (`host` + `/.well-known/acme-challenge/` + `token`).
    pub fn name(&self) -> String {
        Self::name_of(&self.host, &self.token)
    }

    /// The name of the challenge of `host` with `token`.
    pub fn name_of(host: &str, token: &str) -> String {
        format!("{host}/{token}")
    }

    /// Parses and validates a record stored under the key for `key_name`.
    pub fn from_json(key_name: &str, json: &[u8]) -> Result<Self, RecordError> {
        let record: ChallengeRecord =
            serde_json::from_slice(json).map_err(|source| RecordError::Json {
                kind: "challenge",
                key: key_name.to_owned(),
                source,
            })?;
        let mut errors = Vec::new();
        match crate::hostname::normalize_hostname(&record.host) {
            Ok(normal) if normal == record.host => {}
            Ok(normal) => errors.push(FieldError {
                field: "host".into(),
                problem: format!(
                    "\"{}\" is not in normal form (expected \"{normal}\")",
                    record.host
                ),
            }),
            Err(e) => errors.push(FieldError {
                field: "host".into(),
                problem: format!("\"{}\": {e}; an exact hostname is required", record.host),
            }),
        }
        if !is_challenge_token(&record.token) {
            errors.push(FieldError {
                field: "token".into(),
                problem: format!(
                    "is not 1–{MAX_CHALLENGE_TOKEN_LEN} base64url characters (A–Z, a–z, 0–9, -, _)"
                ),
            });
        }
        let thumbprint = record
            .key_authorization
            .strip_prefix(record.token.as_str())
            .and_then(|rest| rest.strip_prefix('.'));
        if !thumbprint.is_some_and(is_challenge_token) {
            errors.push(FieldError {
                field: "key_authorization".into(),
                problem: "is not \"<token>.<base64url account key thumbprint>\"".into(),
            });
        }
        if record.name() != key_name {
            errors.push(FieldError {
                field: "host".into(),
                problem: format!(
                    "record is for \"{}\" but is stored under \"{key_name}\"",
                    record.name()
                ),
            });
        }
        if !errors.is_empty() {
            return Err(RecordError::Invalid {
                kind: "challenge",
                key: key_name.to_owned(),
                problems: ValidationErrors {
                    item: format!("ACME challenge \"{key_name}\""),
                    errors,
                },
            });
        }
        Ok(record)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("records always serialise")
    }
}

/// What a proxy publishes about itself in the `proxies` hash. Unknown fields are
/// ignored, so a proxy upgraded before the panel (the upgrade order) can publish more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStatus {
    /// The highest data format it reads ([`crate::FORMAT_VERSION`] of its build);
    /// absent from proxies older than format 2, which read only format 1.
    #[serde(default = "format_one")]
    pub reads_format: u32,
    pub id: String,
    /// The global version its snapshot reflects.
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub heartbeat_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub applied_at: OffsetDateTime,
    pub zones: u64,
    pub certs: u64,
    /// A proxy reading a replica (`--redis-read-url`): how many versions its snapshot
    /// was behind the primary when it wrote this status. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_versions_behind: Option<u64>,
    /// Upstream endpoints it cannot send to now: down by its TCP check or passive
    /// ejection, or by a route's HTTP health check (absent from older proxies: 0).
    #[serde(default)]
    pub endpoints_down: u64,
}

/// How a zone's backend is given by a user or script, before rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackendSpec {
    /// No backend yet: the proxy answers 503 "service not configured for this host".
    None,
    /// Upstream URLs with weights.
    Upstreams { upstreams: Vec<UpstreamSpec> },
    /// A named backend plus the values of its template parameters.
    Named {
        name: String,
        #[serde(default)]
        params: BTreeMap<String, String>,
    },
}

/// An upstream as given by a user: the URL is validated by [`ZoneSpec::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// `http://` or `https://`, a host and an optional port (1–65535).
    pub url: String,
    /// Relative share of requests, 1–1000.
    #[serde(default = "default_weight")]
    #[cfg_attr(feature = "openapi", schema(default = 1, minimum = 1, maximum = 1000))]
    pub weight: u32,
}

/// A zone as a user or script gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    pub hostname: String,
    #[serde(default)]
    pub path_prefix: String,
    pub backend: BackendSpec,
    #[serde(default)]
    pub force_https: bool,
    #[serde(default)]
    pub preserve_host: bool,
    /// CIDRs or single addresses; empty allows everyone.
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Rewrites, redirects, header edits, HSTS, limits, basic auth, rate limit, error
    /// pages ([`Policies`]); empty by default.
    #[serde(default, skip_serializing_if = "Policies::is_empty")]
    pub policies: Policies,
    /// What a request must also meet besides hostname and path prefix: an exact or
    /// regular-expression path, methods, headers, query parameters
    /// ([`RouteMatch`]); empty by default. Part of the zone's identity: two zones may
    /// share a hostname and path prefix when their conditions differ.
    #[serde(
        rename = "match",
        default,
        skip_serializing_if = "RouteMatch::is_empty"
    )]
    pub matching: RouteMatch,
}

/// The named backends a zone may reference, by name.
pub trait NamedBackends {
    fn template(&self, name: &str) -> Option<&UrlTemplate>;
    /// Every name, for "available: …" in messages.
    fn names(&self) -> Vec<String>;
}

impl NamedBackends for BTreeMap<String, UrlTemplate> {
    fn template(&self, name: &str) -> Option<&UrlTemplate> {
        self.get(name)
    }
    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

/// A validated zone: its normalised pattern and the route the proxy will serve.
/// `route.policies` is the normalised form of the spec's policies (header names
/// lower-cased, passwords replaced by hashes): store that, never the spec's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidZone {
    pub host: HostPattern,
    pub route: Route,
}

impl ZoneSpec {
    /// The data format this zone's record needs and the field that needs it
    /// ([`route_format`]).
    pub fn format_needed(&self) -> (u32, &'static str) {
        route_format(&self.policies, &self.matching, &self.timeouts)
    }

    /// Validates everything at once and renders a named backend.
    ///
    /// `item` names the zone in messages (e.g. `zone 3`); the hostname is added to it.
    /// Returns every problem found, not just the first.
    pub fn validate(
        &self,
        item: &str,
        zone_id: &str,
        named: &dyn NamedBackends,
    ) -> Result<ValidZone, ValidationErrors> {
        let mut errors = Vec::new();
        let host = match HostPattern::parse(&self.hostname) {
            Ok(h) => Some(h),
            Err(e) => {
                errors.push(FieldError {
                    field: "hostname".into(),
                    problem: e.to_string(),
                });
                None
            }
        };
        let label = match &host {
            Some(h) => format!("{item} (\"{h}\")"),
            None => format!("{item} (\"{}\")", self.hostname.escape_debug()),
        };
        let path_prefix = PathPrefix::parse(&self.path_prefix).unwrap_or_else(|problem| {
            errors.push(FieldError {
                field: "path_prefix".into(),
                problem,
            });
            PathPrefix::default()
        });
        let mut allow = Vec::new();
        for (i, text) in self.allow.iter().enumerate() {
            match parse_cidr(text) {
                Ok(net) => allow.push(net),
                Err(problem) => errors.push(FieldError {
                    field: format!("allow[{i}]"),
                    problem,
                }),
            }
        }
        let (upstreams, named_backend) = match &self.backend {
            BackendSpec::None => (Vec::new(), None),
            BackendSpec::Upstreams { upstreams } => {
                let mut out = Vec::new();
                if upstreams.is_empty() {
                    errors.push(FieldError {
                        field: "backend.upstreams".into(),
                        problem: "lists no upstream; give at least one, or use kind \"none\""
                            .into(),
                    });
                }
                for (i, u) in upstreams.iter().enumerate() {
                    let field = format!("backend.upstreams[{i}]");
                    weight_problem(&format!("{field}.weight"), &u.url, u.weight, &mut errors);
                    match BackendUrl::parse(&u.url) {
                        Ok(url) => out.push(Upstream {
                            url,
                            weight: u.weight,
                        }),
                        Err(e) => errors.push(FieldError {
                            field: format!("{field}.url"),
                            problem: e.to_string(),
                        }),
                    }
                }
                (out, None)
            }
            BackendSpec::Named { name, params } => match named.template(name) {
                None => {
                    let available = named.names();
                    let available = if available.is_empty() {
                        "none are defined".to_owned()
                    } else {
                        format!("available: {}", available.join(", "))
                    };
                    errors.push(FieldError {
                        field: "backend.name".into(),
                        problem: format!(
                            "references named backend \"{name}\" which does not exist; {available}"
                        ),
                    });
                    (Vec::new(), Some(name.clone()))
                }
                Some(template) => {
                    let rendered = host
                        .as_ref()
                        .map(|h| template.render(name, h.as_str(), params));
                    match rendered {
                        Some(Ok(url)) => (vec![Upstream { url, weight: 1 }], Some(name.clone())),
                        Some(Err(e)) => {
                            errors.push(FieldError {
                                field: "backend.params".into(),
                                problem: e.to_string(),
                            });
                            (Vec::new(), Some(name.clone()))
                        }
                        None => (Vec::new(), Some(name.clone())),
                    }
                }
            },
        };
        let mut policies = self.policies.clone();
        policies.check("policies", !path_prefix.as_str().is_empty(), &mut errors);
        let mut matching = self.matching.clone();
        matching.check("match", &path_prefix, &mut errors);
        let route = Route {
            zone_id: zone_id.to_owned(),
            path_prefix,
            upstreams,
            named_backend,
            force_https: self.force_https,
            preserve_host: self.preserve_host,
            allow,
            timeouts: self.timeouts,
            policies: (!policies.is_empty()).then(|| Box::new(policies)),
            matching: (!matching.is_empty()).then(|| Box::new(matching)),
        };
        timeout_problems("timeouts", &route.timeouts, &mut errors);
        match host {
            Some(host) if errors.is_empty() => Ok(ValidZone { host, route }),
            _ => Err(ValidationErrors {
                item: label,
                errors,
            }),
        }
    }
}

/// Parses a CIDR or a single address (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`).
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    if let Ok(addr) = text.parse::<std::net::IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    Err(format!(
        "\"{}\" is not an IP network; write a CIDR such as 10.0.0.0/8 or 2001:db8::/32, or a single address",
        text.escape_debug()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named() -> BTreeMap<String, UrlTemplate> {
        BTreeMap::from([
            (
                "api".to_owned(),
                UrlTemplate::parse("http://{first_label}.api.internal:{port}").unwrap(),
            ),
            (
                "static".to_owned(),
                UrlTemplate::parse("http://static.internal").unwrap(),
            ),
        ])
    }

    fn spec(json: serde_json::Value) -> ZoneSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_valid_zone_becomes_a_route() {
        let z = spec(serde_json::json!({
            "hostname": "Shop.Example.com",
            "path_prefix": "/api/",
            "backend": {"kind": "upstreams", "upstreams": [
                {"url": "http://10.0.0.1:8080", "weight": 3}, {"url": "http://10.0.0.2:8080"}]},
            "allow": ["10.0.0.0/8", "2001:db8::1"],
            "timeouts": {"connect_ms": 500}
        }));
        let v = z.validate("zone 1", "z1", &named()).unwrap();
        assert_eq!(v.host.as_str(), "shop.example.com");
        assert_eq!(v.route.path_prefix.as_str(), "/api");
        assert_eq!(v.route.upstreams.len(), 2);
        assert_eq!(v.route.upstreams[1].weight, 1);
        assert_eq!(v.route.allow[1].to_string(), "2001:db8::1/128");
    }

    #[test]
    fn idle_and_total_timeouts_are_checked_and_need_format_two() {
        let base = serde_json::json!({
            "hostname": "t.example.com",
            "backend": {"kind": "upstreams", "upstreams": [{"url": "http://10.0.0.1:80"}]},
            "timeouts": {"connect_ms": 500, "read_ms": 1000}
        });
        assert_eq!(spec(base.clone()).format_needed(), (1, "policies"));
        let mut with_total = base.clone();
        with_total["timeouts"]["total_ms"] = 5000.into();
        let z = spec(with_total);
        assert_eq!(z.format_needed(), (2, "timeouts"));
        let v = z.validate("zone 1", "z1", &named()).unwrap();
        assert_eq!(v.route.timeouts.total_ms, Some(5000));
        assert_eq!(v.route.format_needed(), 2);
        let mut bad = base;
        bad["timeouts"]["idle_ms"] = 0.into();
        bad["timeouts"]["total_ms"] = 86_400_001.into();
        let text = spec(bad)
            .validate("zone 1", "z1", &named())
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("timeout idle_ms is 0; it must be 1–3600000 milliseconds"),
            "{text}"
        );
        assert!(
            text.contains("timeout total_ms is 86400001; it must be 1–86400000 milliseconds"),
            "{text}"
        );
    }

    #[test]
    fn named_backends_are_rendered_at_write_time() {
        let z = spec(serde_json::json!({
            "hostname": "shop.example.com",
            "backend": {"kind": "named", "name": "api", "params": {"port": "9000"}}
        }));
        let v = z.validate("zone 1", "z1", &named()).unwrap();
        assert_eq!(
            v.route.upstreams[0].url.as_str(),
            "http://shop.api.internal:9000"
        );
        assert_eq!(v.route.named_backend.as_deref(), Some("api"));
    }

    #[test]
    fn every_problem_is_reported_with_the_zone_named() {
        let z = spec(serde_json::json!({
            "hostname": "app.example.com",
            "path_prefix": "api",
            "backend": {"kind": "upstreams", "upstreams": [
                {"url": "http://app:99999"}, {"url": "http://ok:80", "weight": 0}]},
            "allow": ["not-a-network"],
            "timeouts": {"read_ms": 0}
        }));
        let err = z.validate("zone 3", "z3", &named()).unwrap_err();
        let text = err.to_string();
        for want in [
            "zone 3 (\"app.example.com\"): backend \"http://app:99999\" has port 99999; ports must be 1–65535",
            "path prefix \"api\" must start with \"/\"",
            "\"not-a-network\" is not an IP network",
            "backend \"http://ok:80\" has weight 0; weights must be 1–1000",
            "timeout read_ms is 0",
        ] {
            assert!(text.contains(want), "{text:?} should contain {want:?}");
        }
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "path_prefix",
                "allow[0]",
                "backend.upstreams[0].url",
                "backend.upstreams[1].weight",
                "timeouts.read_ms"
            ]
        );
    }

    #[test]
    fn unknown_named_backend_lists_the_available_ones() {
        let z = spec(serde_json::json!({
            "hostname": "a.example.com",
            "backend": {"kind": "named", "name": "web"}
        }));
        let err = z
            .validate("zone 1", "z1", &named())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "zone 1 (\"a.example.com\"): references named backend \"web\" which does not exist; available: api, static"
            ),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let err = serde_json::from_value::<ZoneSpec>(serde_json::json!({
            "hostname": "a.example.com", "backend": {"kind": "none"}, "colour": "red"
        }))
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
        let err = serde_json::from_value::<ZoneSpec>(serde_json::json!({
            "hostname": "a.example.com", "backend": {"kind": "magic"}
        }))
        .unwrap_err();
        assert!(err.to_string().contains("unknown variant `magic`"), "{err}");
    }

    #[test]
    fn path_prefixes_match_whole_segments() {
        let t = |raw: &str| crate::path::RequestTarget::parse(raw.as_bytes()).unwrap();
        let p = PathPrefix::parse("/api/").unwrap();
        assert!(p.matches(&t("/api")));
        assert!(p.matches(&t("/api/v1")));
        assert!(p.matches(&t("/api?x=1")));
        assert!(p.matches(&t("//api/../api/v1")));
        assert!(!p.matches(&t("/apis")));
        assert!(PathPrefix::parse("/").unwrap().matches(&t("/anything")));
        assert!(PathPrefix::parse("/a//b").is_err());
        assert!(PathPrefix::parse("/a b").is_err());
    }

    fn record_json(host: &str) -> serde_json::Value {
        serde_json::json!({
            "host": host,
            "routes": [{"zone_id": "z1", "upstreams": [{"url": "http://127.0.0.1:8080"}]}]
        })
    }

    #[test]
    fn host_records_are_validated_when_read() {
        let ok = serde_json::to_vec(&record_json("a.example.com")).unwrap();
        let r = HostRecord::from_json("a.example.com", &ok).unwrap();
        assert_eq!(r.routes[0].upstreams[0].url.port(), 8080);
        assert_eq!(
            HostRecord::from_json("a.example.com", r.to_json().as_bytes()).unwrap(),
            r
        );

        let wrong_key = HostRecord::from_json("b.example.com", &ok).unwrap_err();
        assert!(
            wrong_key
                .to_string()
                .contains("stored under \"b.example.com\"")
        );

        let mut bad = record_json("a.example.com");
        bad["routes"][0]["upstreams"][0]["url"] = "http://x:0".into();
        let err = HostRecord::from_json("a.example.com", &serde_json::to_vec(&bad).unwrap());
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("ports must be 1–65535")
        );

        let mut extra = record_json("a.example.com");
        extra["routes"][0]["surprise"] = true.into();
        let err = HostRecord::from_json("a.example.com", &serde_json::to_vec(&extra).unwrap());
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("unknown field `surprise`")
        );

        let err = HostRecord::from_json("a.example.com", b"{not json").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"));
    }

    #[test]
    fn cert_records_hide_their_key_when_printed() {
        let json = serde_json::json!({
            "name": "*.example.com",
            "names": ["*.example.com", "example.com"],
            "chain_pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "key_pem": "-----BEGIN PRIVATE KEY-----\nSECRETKEY\n-----END PRIVATE KEY-----\n",
            "not_before": "2026-01-01T00:00:00Z",
            "not_after": "2026-04-01T00:00:00Z"
        });
        let r =
            CertRecord::from_json("*.example.com", &serde_json::to_vec(&json).unwrap()).unwrap();
        let printed = format!("{r:?}");
        assert!(!printed.contains("SECRETKEY"), "{printed}");
        assert!(printed.contains("<redacted>"));
        let mut bad = json.clone();
        bad["not_after"] = "2025-01-01T00:00:00Z".into();
        let err = CertRecord::from_json("*.example.com", &serde_json::to_vec(&bad).unwrap());
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("not after not_before")
        );
    }

    #[test]
    fn challenge_records_are_checked_against_their_key() {
        let good = serde_json::json!({
            "host": "shop.example.net",
            "token": "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0",
            "key_authorization": "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI",
            "expires_at": "2026-01-01T00:10:00Z"
        });
        let key = "shop.example.net/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
        let r = ChallengeRecord::from_json(key, &serde_json::to_vec(&good).unwrap()).unwrap();
        assert_eq!(r.name(), key);
        assert_eq!(
            ChallengeRecord::from_json(key, r.to_json().as_bytes()).unwrap(),
            r
        );
        for (field, value, problem) in [
            ("host", "Shop.Example.NET", "not in normal form"),
            ("host", "*.example.net", "exact hostname"),
            ("token", "a/b", "base64url"),
            ("key_authorization", "other.9jg46WB3rR", "<token>."),
            (
                "key_authorization",
                "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.",
                "<token>.",
            ),
        ] {
            let mut bad = good.clone();
            bad[field] = value.into();
            let err = ChallengeRecord::from_json(key, &serde_json::to_vec(&bad).unwrap())
                .unwrap_err()
                .to_string();
            assert!(err.contains(problem), "{field}={value}: {err}");
        }
        let err =
            ChallengeRecord::from_json("other.example.net/x", &serde_json::to_vec(&good).unwrap())
                .unwrap_err()
                .to_string();
        assert!(err.contains("stored under"), "{err}");
        assert!(is_challenge_token("a-Z_0"));
        assert!(!is_challenge_token(""));
        assert!(!is_challenge_token(
            &"a".repeat(MAX_CHALLENGE_TOKEN_LEN + 1)
        ));
    }

    #[test]
    fn uploaded_cert_records_live_under_their_own_member_name() {
        let json = serde_json::json!({
            "name": "*.example.com",
            "names": ["*.example.com", "example.com"],
            "chain_pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "key_pem": "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n",
            "not_before": "2026-01-01T00:00:00Z",
            "not_after": "2026-04-01T00:00:00Z",
            "source": "uploaded"
        });
        let bytes = serde_json::to_vec(&json).unwrap();
        let r = CertRecord::from_json("uploaded:*.example.com", &bytes).unwrap();
        assert_eq!(r.source, CertSource::Uploaded);
        assert_eq!(r.member(), "uploaded:*.example.com");
        // Stored under the issued name it is refused: the two never overwrite each other.
        let err = CertRecord::from_json("*.example.com", &bytes).unwrap_err();
        assert!(err.to_string().contains("uploaded"), "{err}");
        // An issued record is written exactly as before: no `source` field.
        let mut issued = r.clone();
        issued.source = CertSource::Issued;
        assert!(!issued.to_json().contains("source"));
        assert_eq!(issued.member(), "*.example.com");
    }
}
