//! A route's policies compiled for the request path: patterns compiled, header templates
//! parsed, rate-limit buckets and the basic-auth cache allocated — once, when the
//! snapshot is built ([`RoutePolicy::compile`]).
//!
//! Every policy *decision* is made here or in the decision core (`decide.rs`), never in a
//! path: which headers an edit drops and which it appends ([`HeaderEdits`],
//! [`RoutePolicy::drops_answer_header`], [`RoutePolicy::answer_additions`]), what an
//! answer of the proxy's own looks like ([`RoutePolicy::page`]), whether a request
//! passes basic auth or its rate limit. The HTTP/1 fast path, its HTTP/2 counterpart and
//! Pingora's path only apply the result in their own representation of a head.
//!
//! A `jwt` policy is checked here too ([`RoutePolicy::admit`]): signature, algorithm and
//! claims against a key compiled once, or the route's cached JWK set ([`crate::jwks`]);
//! the claims it copies to request headers come back from `admit` and travel with the
//! decision to whichever path forwards the request, which applies them together with the
//! route's request header edits ([`HeaderEdits::each_appended`],
//! [`HeaderEdits::write_appended`]). A `forward_auth` policy needs a sub-request, which
//! the decision core cannot make: [`RoutePolicy::forward_auth`] only says it is needed
//! (see `crate::forward_auth`). A `retry` policy is compiled here with its budget
//! ([`RoutePolicy::retry`]); the retry decision itself is `crate::resilience`'s, and a
//! `circuit_breaker` lives in the route's balancers (`crate::upstreams`).
//!
//! Must never: block on I/O (an unknown JWT `kid` is refused and asks for a refresh, it
//! never waits for one), or keep a credential in clear (the basic-auth cache keys on a
//! SHA-256 digest of the `Authorization` value).

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use switchyard_shared::BackendUrl;
use switchyard_shared::model::Upstream as UpstreamSpec;
use switchyard_shared::policy::{
    BasicAuth, CircuitBreaker, ForwardAuth, HeaderRules, HealthCheck, Jwt, Piece, Policies,
    RateKey, RateScope, Rewrite, Split, Sticky, parse_template,
};

use crate::decide::HeaderLookup;
use crate::fleet_limit::FleetWindow;
use crate::jwks::JwkSource;
use crate::resilience::RetryPolicy;
use crate::upstreams::{Balancer, Registry};

/// Request header fields one request adds besides the route's edits: the claims a `jwt`
/// policy copies, the headers a forward-auth service answered with. Decided once, by
/// admission; applied by each path with the edits.
pub type AddedHeaders = Vec<(String, Vec<u8>)>;

/// What a header template may refer to, and what else shapes a request's edits.
pub struct Vars<'a> {
    pub client_ip: Option<IpAddr>,
    pub request_id: &'a str,
    pub host: &'a str,
    pub tls: bool,
    /// The split group the request went to (its answer may set the sticky cookie).
    pub cohort: Option<Cohort>,
}

/// A parsed header value template.
#[derive(Debug)]
pub struct Template(Vec<Piece>);

impl Template {
    fn parse(text: &str) -> Self {
        // The record was validated when it was read: a template that fails here cannot
        // occur; it is kept as text rather than dropped.
        Self(parse_template(text).unwrap_or_else(|_| vec![Piece::Text(text.to_owned())]))
    }

    /// Appends the value to `out`.
    pub fn render(&self, vars: &Vars<'_>, out: &mut Vec<u8>) {
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.extend_from_slice(t.as_bytes()),
                Piece::ClientIp => {
                    if let Some(ip) = vars.client_ip {
                        crate::access_log::ip_addr(out, ip);
                    }
                }
                Piece::RequestId => out.extend_from_slice(vars.request_id.as_bytes()),
                Piece::Host => out.extend_from_slice(vars.host.as_bytes()),
                Piece::Scheme => out.extend_from_slice(if vars.tls { b"https" } else { b"http" }),
            }
        }
    }
}

/// Header edits of one direction: names whose existing fields are dropped (removed and
/// set ones) and fields appended (set, then added), in order.
#[derive(Debug, Default)]
pub struct HeaderEdits {
    drop: Vec<String>,
    append: Vec<(String, Template)>,
}

impl HeaderEdits {
    /// `also_drop`: names whose client fields are dropped because a policy writes them
    /// per request (claim headers, forward-auth copies).
    fn compile(rules: &HeaderRules, also_drop: &[String]) -> Self {
        let mut drop: Vec<String> = rules.remove.clone();
        drop.extend(rules.set.iter().map(|h| h.name.clone()));
        drop.extend(also_drop.iter().cloned());
        drop.sort();
        drop.dedup();
        let append = rules
            .set
            .iter()
            .chain(&rules.add)
            .map(|h| (h.name.clone(), Template::parse(&h.value)))
            .collect();
        Self { drop, append }
    }

    pub fn is_empty(&self) -> bool {
        self.drop.is_empty() && self.append.is_empty()
    }

    /// Whether an existing field with this name is left out.
    pub fn drops(&self, name: &str) -> bool {
        self.drop.iter().any(|d| name.eq_ignore_ascii_case(d))
    }

    /// The names [`Self::drops`] is true for (lower case).
    pub fn dropped_names(&self) -> &[String] {
        &self.drop
    }

    /// The appended fields: name and value template, in order.
    pub fn appended(&self) -> impl Iterator<Item = (&str, &Template)> {
        self.append.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// Calls `add` with each appended field: name and rendered value, then each of
    /// `added` (the request's [`AddedHeaders`]; empty for answers).
    pub fn each_appended(
        &self,
        vars: &Vars<'_>,
        added: &[(String, Vec<u8>)],
        mut add: impl FnMut(&str, &[u8]),
    ) {
        let mut value = Vec::new();
        for (name, template) in self.appended() {
            value.clear();
            template.render(vars, &mut value);
            add(name, &value);
        }
        for (name, value) in added {
            add(name, value);
        }
    }

    /// Writes each appended field as `name: value\r\n` into an HTTP/1 head, rendering
    /// the value in place, then `added` (the HTTP/1 fast path's form of
    /// [`Self::each_appended`]).
    pub fn write_appended(&self, vars: &Vars<'_>, added: &[(String, Vec<u8>)], out: &mut Vec<u8>) {
        for (name, template) in self.appended() {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            template.render(vars, out);
            out.extend_from_slice(b"\r\n");
        }
        for (name, value) in added {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// The security-header preset: set on answers that lack them.
pub const SECURITY_HEADERS: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
];

/// A rewrite, compiled.
#[derive(Debug)]
enum CompiledRewrite {
    StripPrefix,
    ReplacePrefix(String),
    Regex(regex::Regex, String),
}

/// A redirect rule, compiled.
#[derive(Debug)]
struct CompiledRedirect {
    code: u16,
    pattern: regex::Regex,
    target: String,
    keep_query: bool,
}

/// Successful basic-auth verifications remembered per route, by digest of the header:
/// verifying an argon2id or bcrypt hash costs milliseconds of CPU by design.
const AUTH_CACHE_MAX: usize = 1024;

struct BasicCheck {
    realm: String,
    users: Vec<(String, String)>,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for BasicCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCheck")
            .field("realm", &self.realm)
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

/// Keyed GCRA buckets of one route on this proxy. The map hashes with foldhash's
/// quality variant (seeded per process) rather than std's SipHash, which is slower per
/// lookup and buys nothing here.
type Buckets =
    RateLimiter<u128, DashMapStateStore<u128, foldhash::quality::RandomState>, DefaultClock>;

struct Limiter {
    limiter: Buckets,
    key: RateKey,
    hasher: foldhash::fast::RandomState,
    checks: AtomicU64,
    /// The fleet-wide count, with `scope: "fleet"` ([`crate::fleet_limit`]).
    fleet: Option<Arc<FleetWindow>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Why a request did not pass a route's access policies.
pub enum Refusal {
    /// 429, retry after this many seconds.
    RateLimited(u64),
    /// 401 with this `WWW-Authenticate` value (basic auth).
    Unauthorized(String),
    /// 401 with this `WWW-Authenticate: Bearer …` value: no valid JSON Web Token.
    InvalidToken(String),
}

/// Where a `jwt` policy's key comes from.
enum JwtKeys {
    /// `secret` or `public_key_pem`, parsed once.
    Fixed(jsonwebtoken::DecodingKey),
    /// `jwks_url`: the shared, refreshed set.
    Set(Arc<JwkSource>),
    /// The key could not be compiled (cannot happen for a validated record): every
    /// token is refused — fail closed, never open.
    Unusable,
}

/// A `jwt` policy, compiled.
struct JwtCheck {
    validation: jsonwebtoken::Validation,
    keys: JwtKeys,
    /// The header the token is in (`None`: the cookie).
    header: Option<String>,
    cookie: Option<String>,
    /// (claim, request header) pairs.
    claims: Vec<(String, String)>,
    /// `Bearer realm="…"`: the challenge without a token.
    challenge: String,
}

impl std::fmt::Debug for JwtCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCheck")
            .field("algorithms", &self.validation.algorithms)
            .field("header", &self.header)
            .field("cookie", &self.cookie)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// One route's policies, ready for requests.
#[derive(Debug)]
pub struct RoutePolicy {
    rewrite: Option<CompiledRewrite>,
    redirect: Option<CompiledRedirect>,
    pub request: HeaderEdits,
    pub response: HeaderEdits,
    hsts: Option<String>,
    security_headers: bool,
    pub max_body: Option<u64>,
    pub max_head: Option<usize>,
    basic: Option<BasicCheck>,
    jwt: Option<JwtCheck>,
    forward_auth: Option<ForwardAuth>,
    limiter: Option<Limiter>,
    pages: Vec<(u16, String, Template)>,
    split: Option<CompiledSplit>,
    retry: Option<RetryPolicy>,
}

impl RoutePolicy {
    /// Compiles validated policies (records are checked when read from Redis); a
    /// split's upstreams come from `registry`, shared with every route naming them.
    /// `label` names the route (`host/prefix`) for its circuit breakers in `/status`.
    pub fn compile(p: &Policies, registry: &Registry, label: &str, zone_id: &str) -> Self {
        let rewrite = p.rewrite.as_ref().and_then(|r| match r {
            Rewrite::StripPrefix => Some(CompiledRewrite::StripPrefix),
            Rewrite::ReplacePrefix { with } => Some(CompiledRewrite::ReplacePrefix(with.clone())),
            Rewrite::Regex {
                pattern,
                replacement,
            } => switchyard_shared::policy::compile_regex(pattern)
                .ok()
                .map(|re| CompiledRewrite::Regex(re, replacement.clone())),
        });
        let redirect = p.redirect.as_ref().and_then(|r| {
            let pattern = r.pattern.as_deref().unwrap_or("^.*$");
            switchyard_shared::policy::compile_regex(pattern)
                .ok()
                .map(|pattern| CompiledRedirect {
                    code: r.code,
                    pattern,
                    target: r.target.clone(),
                    keep_query: r.keep_query,
                })
        });
        let basic = p
            .basic_auth
            .as_ref()
            .map(|BasicAuth { realm, users }| BasicCheck {
                realm: realm.clone(),
                users: users
                    .iter()
                    .filter_map(|u| Some((u.username.clone(), u.hash.clone()?)))
                    .collect(),
                verified: Mutex::new(HashSet::new()),
            });
        let limiter = p.rate_limit.as_ref().and_then(|r| {
            let burst = NonZeroU32::new(r.burst())?;
            let period = Duration::from_secs(r.per_secs.into()) / r.requests.max(1);
            let quota = Quota::with_period(period)?.allow_burst(burst);
            Some(Limiter {
                limiter: Buckets::dashmap_with_hasher(
                    quota,
                    foldhash::quality::RandomState::default(),
                ),
                key: r.key.clone(),
                hasher: foldhash::fast::RandomState::default(),
                checks: AtomicU64::new(0),
                fleet: (r.scope == RateScope::Fleet)
                    .then(|| FleetWindow::new(zone_id, r.requests, r.per_secs)),
            })
        });
        let pages = p
            .error_pages
            .iter()
            .filter_map(|(status, page)| {
                Some((
                    status.parse().ok()?,
                    page.content_type.clone(),
                    Template::parse(
                        &page
                            .body
                            .replace('{', "{{")
                            .replace('}', "}}")
                            .replace("{{request_id}}", "{request_id}"),
                    ),
                ))
            })
            .collect();
        let jwt = p.jwt.as_ref().map(JwtCheck::compile);
        // Headers written per request: the client's own fields of those names never
        // reach the upstream, whatever the token or the auth service said.
        let mut written: Vec<String> = Vec::new();
        if let Some(j) = &p.jwt {
            written.extend(j.claims_to_headers.values().cloned());
        }
        if let Some(fa) = &p.forward_auth {
            written.extend(fa.response_headers.iter().cloned());
        }
        Self {
            rewrite,
            redirect,
            request: HeaderEdits::compile(&p.request_headers, &written),
            response: HeaderEdits::compile(&p.response_headers, &[]),
            hsts: p.hsts.map(|h| h.value()),
            security_headers: p.security_headers,
            max_body: p.max_body_bytes,
            max_head: p.max_header_bytes.map(|n| n as usize),
            basic,
            jwt,
            forward_auth: p.forward_auth.clone(),
            limiter,
            pages,
            split: p.split.as_ref().map(|s| {
                CompiledSplit::compile(
                    s,
                    registry,
                    p.circuit_breaker.as_ref(),
                    p.health_check.as_ref(),
                    label,
                )
            }),
            retry: p.retry.as_ref().map(RetryPolicy::compile),
        }
    }

    /// The route's retry policy, if it has one ([`crate::resilience`]).
    pub fn retry(&self) -> Option<&RetryPolicy> {
        self.retry.as_ref()
    }

    /// The route's traffic split, if it has one.
    pub fn split(&self) -> Option<&CompiledSplit> {
        self.split.as_ref()
    }

    /// The route's forward-auth policy: the request must be cleared by the service
    /// before it goes upstream (done by Pingora's path, `crate::forward_auth`).
    pub fn forward_auth(&self) -> Option<&ForwardAuth> {
        self.forward_auth.as_ref()
    }

    /// Whether the request passes the rate limit, basic auth and the JWT check (in that
    /// order: a client guessing credentials is limited first); when it does, the
    /// request headers its token's claims add ([`AddedHeaders`], empty without a `jwt`
    /// policy).
    pub fn admit(
        &self,
        client_ip: Option<IpAddr>,
        headers: &dyn HeaderLookup,
    ) -> Result<AddedHeaders, Refusal> {
        let header = |name: &str| headers.header(name);
        if let Some(l) = &self.limiter {
            let key = match &l.key {
                RateKey::ClientIp => match client_ip {
                    Some(IpAddr::V4(v4)) => u128::from(v4.to_ipv6_mapped()),
                    Some(IpAddr::V6(v6)) => u128::from(v6),
                    None => 0,
                },
                RateKey::Header { name } => {
                    let mut h = l.hasher.build_hasher();
                    h.write(header(name).unwrap_or_default());
                    u128::from(h.finish()) | (1 << 127)
                }
            };
            let local = || match l.limiter.check_key(&key) {
                Ok(_) => Ok(()),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    Err(Refusal::RateLimited(
                        wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                    ))
                }
            };
            match &l.fleet {
                None => local()?,
                Some(fleet) => {
                    // A digest every proxy computes alike (the local key's hasher is
                    // seeded per process).
                    let fleet_key = match &l.key {
                        RateKey::ClientIp => key,
                        RateKey::Header { name } => {
                            crate::fleet_limit::digest(header(name).unwrap_or_default())
                        }
                    };
                    fleet.admit(fleet_key, local, Refusal::RateLimited)?;
                }
            }
            // Buckets of keys that are full again are forgotten now and then, so the
            // table is as large as the set of recently active clients.
            if l.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
                l.limiter.retain_recent();
                l.limiter.shrink_to_fit();
            }
        }
        if let Some(b) = &self.basic {
            let passes = header("authorization").is_some_and(|value| b.passes(value));
            if !passes {
                return Err(Refusal::Unauthorized(format!(
                    "Basic realm=\"{}\", charset=\"UTF-8\"",
                    b.realm
                )));
            }
        }
        match &self.jwt {
            Some(j) => j.admit(headers),
            None => Ok(Vec::new()),
        }
    }

    /// The redirect for `path` (normalised, without query) and `query`, if the rule
    /// matches: status and `Location`.
    pub fn redirect(&self, path: &str, query: Option<&str>) -> Option<(u16, String)> {
        let r = self.redirect.as_ref()?;
        let caps = r.pattern.captures(path)?;
        let mut location = String::new();
        caps.expand(&r.target, &mut location);
        if r.keep_query
            && let Some(q) = query
        {
            location.push(if location.contains('?') { '&' } else { '?' });
            location.push_str(q);
        }
        Some((r.code, location))
    }

    /// The path sent upstream instead of `path` (normalised, without query), if a
    /// rewrite applies. `prefix` is the route's path prefix.
    pub fn rewrite(&self, prefix: &str, path: &str) -> Option<String> {
        match self.rewrite.as_ref()? {
            CompiledRewrite::StripPrefix => Some(match after_prefix(prefix, path) {
                "" => "/".to_owned(),
                rest if rest.starts_with('/') => rest.to_owned(),
                rest => format!("/{rest}"),
            }),
            CompiledRewrite::ReplacePrefix(with) => {
                let base = with.strip_suffix('/').unwrap_or(with);
                Some(match after_prefix(prefix, path) {
                    "" if base.is_empty() => "/".to_owned(),
                    rest if rest.is_empty() || rest.starts_with('/') => format!("{base}{rest}"),
                    rest => format!("{base}/{rest}"),
                })
            }
            CompiledRewrite::Regex(re, replacement) => {
                let out = re.replace(path, replacement.as_str());
                Some(if out.starts_with('/') {
                    out.into_owned()
                } else {
                    format!("/{out}")
                })
            }
        }
    }

    /// Whether an upstream answer's header is left out (replaced or removed).
    pub fn drops_answer_header(&self, name: &str, tls: bool) -> bool {
        self.response.drops(name)
            || (tls
                && self.hsts.is_some()
                && name.eq_ignore_ascii_case("strict-transport-security"))
    }

    /// The names [`Self::drops_answer_header`] is true for.
    pub fn answer_dropped_names(&self, tls: bool) -> impl Iterator<Item = &str> {
        self.response
            .dropped_names()
            .iter()
            .map(String::as_str)
            .chain((tls && self.hsts.is_some()).then_some("strict-transport-security"))
    }

    /// The answer's added fields: the edits, HSTS over HTTPS, and the security preset
    /// where the answer has none of its own (`has` says whether it has a header).
    pub fn answer_additions(
        &self,
        vars: &Vars<'_>,
        has: impl Fn(&str) -> bool,
        mut add: impl FnMut(&str, &[u8]),
    ) {
        self.response.each_appended(vars, &[], &mut add);
        self.answer_fixed(vars, has, add);
    }

    /// [`Self::answer_additions`] written as `name: value\r\n` lines into an HTTP/1 head.
    pub fn write_answer_additions(
        &self,
        vars: &Vars<'_>,
        has: impl Fn(&str) -> bool,
        out: &mut Vec<u8>,
    ) {
        self.response.write_appended(vars, &[], out);
        self.answer_fixed(vars, has, |name, value| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        });
    }

    /// HSTS over HTTPS, the security preset where the answer lacks it, and the split's
    /// sticky cookie when the request was given a group ([`Cohort::set_cookie`]).
    fn answer_fixed(
        &self,
        vars: &Vars<'_>,
        has: impl Fn(&str) -> bool,
        mut add: impl FnMut(&str, &[u8]),
    ) {
        let tls = vars.tls;
        if let (Some(split), Some(cohort)) = (&self.split, vars.cohort)
            && let Some(cookie) = split.set_cookie(cohort, tls)
        {
            add("set-cookie", cookie.as_bytes());
        }
        if tls && let Some(v) = &self.hsts {
            add("strict-transport-security", v.as_bytes());
        }
        if self.security_headers {
            for (name, value) in SECURITY_HEADERS {
                if !has(name) && !self.response.drops(name) {
                    add(name, value.as_bytes());
                }
            }
        }
    }

    /// Whether answers need editing at all.
    pub fn edits_answers(&self) -> bool {
        !self.response.is_empty()
            || self.hsts.is_some()
            || self.security_headers
            || self.split.as_ref().is_some_and(CompiledSplit::sets_cookies)
    }

    /// The route's page for an answer of the proxy's own: content type and body.
    pub fn page(&self, status: u16, request_id: &str) -> Option<(&str, String)> {
        let (_, content_type, body) = self.pages.iter().find(|(s, _, _)| *s == status)?;
        let mut out = Vec::new();
        body.render(
            &Vars {
                client_ip: None,
                request_id,
                host: "",
                tls: false,
                cohort: None,
            },
            &mut out,
        );
        Some((content_type, String::from_utf8_lossy(&out).into_owned()))
    }
}

/// The part of `path` after the route's `prefix`. The route was matched on the path's
/// match view (path parameters dropped, encoded slashes read as `/`), so the forwarded
/// path may not start with the prefix's exact bytes; then nothing is stripped.
fn after_prefix<'p>(prefix: &str, path: &'p str) -> &'p str {
    path.strip_prefix(prefix).unwrap_or(path)
}

impl JwtCheck {
    /// Records are validated when read: a key that fails to compile here cannot occur;
    /// if it did, the route would refuse every token ([`JwtKeys::Unusable`]).
    fn compile(j: &Jwt) -> Self {
        use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
        let algorithms: Vec<Algorithm> =
            j.algorithms.iter().filter_map(|a| a.parse().ok()).collect();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = algorithms.clone();
        validation.leeway = j.leeway_secs.into();
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if let Some(iss) = &j.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        if j.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&j.audiences);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        let fixed = |key: Option<DecodingKey>| key.map_or(JwtKeys::Unusable, JwtKeys::Fixed);
        let keys = if let Some(secret) = &j.secret {
            fixed(DecodingKey::from_secret(secret.as_bytes()).ok())
        } else if let Some(pem) = &j.public_key_pem {
            let pem = pem.as_bytes();
            fixed(match algorithms.first().map(|a| a.family()) {
                Some(AlgorithmFamily::Rsa) => DecodingKey::from_rsa_pem(pem).ok(),
                Some(AlgorithmFamily::Ec) => DecodingKey::from_ec_pem(pem).ok(),
                Some(AlgorithmFamily::Ed) => DecodingKey::from_ed_pem(pem).ok(),
                _ => None,
            })
        } else if let Some(url) = &j.jwks_url {
            JwtKeys::Set(crate::jwks::source_for(url))
        } else {
            JwtKeys::Unusable
        };
        Self {
            validation,
            keys,
            header: j.token_header().map(str::to_owned),
            cookie: j.cookie.clone(),
            claims: j
                .claims_to_headers
                .iter()
                .map(|(c, h)| (c.clone(), h.clone()))
                .collect(),
            challenge: format!("Bearer realm=\"{}\"", j.realm),
        }
    }

    /// The token the request carries, if any (a cookie's value is copied: cookie
    /// fields are lent one by one).
    fn token<'h>(&self, headers: &'h dyn HeaderLookup) -> Option<Cow<'h, [u8]>> {
        if let Some(name) = &self.header {
            let value = headers.header(name)?.trim_ascii();
            let token = match value.get(..7) {
                Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => value[7..].trim_ascii(),
                // `Authorization` carries a scheme; another header may carry the bare token.
                _ if name == "authorization" => return None,
                _ => value,
            };
            return (!token.is_empty()).then_some(Cow::Borrowed(token));
        }
        cookie_value(headers, self.cookie.as_deref()?).map(Cow::Owned)
    }

    fn admit(&self, headers: &dyn HeaderLookup) -> Result<AddedHeaders, Refusal> {
        let Some(token) = self.token(headers) else {
            // RFC 6750 §3.1: a request without a token gets the challenge, no error code.
            return Err(Refusal::InvalidToken(self.challenge.clone()));
        };
        let invalid =
            || Refusal::InvalidToken(format!("{}, error=\"invalid_token\"", self.challenge));
        let token = std::str::from_utf8(&token).map_err(|_| invalid())?;
        let head = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        if !self.validation.algorithms.contains(&head.alg) {
            return Err(invalid());
        }
        let from_set;
        let key = match &self.keys {
            JwtKeys::Unusable => return Err(invalid()),
            JwtKeys::Fixed(key) => key,
            JwtKeys::Set(source) => match source.key(head.kid.as_deref(), head.alg) {
                Some(key) => {
                    from_set = key;
                    &from_set
                }
                None => {
                    // A key the cached set lacks (rotation): fetch again, but never
                    // wait for it — this request is refused, a later one may pass.
                    source.request_refresh();
                    return Err(invalid());
                }
            },
        };
        if key.family() != head.alg.family() {
            return Err(invalid());
        }
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            key,
            &self.validation,
        )
        .map_err(|_| invalid())?;
        let mut added = Vec::with_capacity(self.claims.len());
        for (claim, header) in &self.claims {
            if let Some(value) = data.claims.get(claim).and_then(claim_text) {
                added.push((header.clone(), value.into_bytes()));
            }
        }
        Ok(added)
    }
}

/// The value of the request's first cookie called `name` (quotes removed), if it has a
/// non-empty one. Cookie fields are lent one by one, so the value is copied.
pub fn cookie_value(headers: &dyn HeaderLookup, name: &str) -> Option<Vec<u8>> {
    let name = name.as_bytes();
    let mut found: Option<Vec<u8>> = None;
    headers.each("cookie", &mut |value| {
        for pair in value.split(|&b| b == b';') {
            if let Some(eq) = pair.iter().position(|&b| b == b'=')
                && found.is_none()
                && pair[..eq].trim_ascii() == name
            {
                let v = pair[eq + 1..].trim_ascii();
                let v = v
                    .strip_prefix(b"\"")
                    .and_then(|v| v.strip_suffix(b"\""))
                    .unwrap_or(v);
                found = Some(v.to_vec());
            }
        }
    });
    found.filter(|t| !t.is_empty())
}

/// The group a split sent a request to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cohort {
    /// Index into the split's groups.
    pub group: u8,
    /// The answer sets the sticky cookie: the request was drawn, not recognised.
    pub set_cookie: bool,
}

/// What keeps a user on a group, compiled.
#[derive(Debug)]
enum StickyKey {
    Cookie(String),
    Header(String),
}

/// A split group, compiled.
#[derive(Debug)]
struct Group {
    name: String,
    weight: u32,
    /// `None`: the route's own upstreams.
    balancer: Option<Balancer>,
    /// `Set-Cookie` values for this group: over plain HTTP, over HTTPS (`Secure`).
    cookie: Option<[String; 2]>,
}

/// A `split` policy, compiled: the groups with their balancers, cumulative weights.
#[derive(Debug)]
pub struct CompiledSplit {
    groups: Vec<Group>,
    /// Cumulative weights: a point `p` in `0..total` falls to the first group whose
    /// value exceeds it.
    cumulative: Vec<u32>,
    sticky: Option<StickyKey>,
    force_header: Option<String>,
    force_cookie: Option<String>,
}

impl CompiledSplit {
    /// `check`: the route's `health_check`, which judges the groups' own upstreams too;
    /// `breaker`: its circuit breaker, one circuit per group upstream (`label` names the
    /// route in `/status`).
    fn compile(
        s: &Split,
        registry: &Registry,
        breaker: Option<&CircuitBreaker>,
        check: Option<&HealthCheck>,
        label: &str,
    ) -> Self {
        let mut total = 0;
        let cumulative = s
            .groups
            .iter()
            .map(|g| {
                total += g.weight;
                total
            })
            .collect();
        let groups = s
            .groups
            .iter()
            .map(|g| Group {
                name: g.name.clone(),
                weight: g.weight,
                balancer: g.upstreams.as_ref().map(|list| {
                    let specs: Vec<UpstreamSpec> = list
                        .iter()
                        .filter_map(|u| {
                            Some(UpstreamSpec {
                                url: BackendUrl::parse(&u.url).ok()?,
                                weight: u.weight,
                            })
                        })
                        .collect();
                    registry
                        .balancer_checked(&specs, check)
                        .with_breakers(breaker, || format!("{label} group {}", g.name))
                }),
                cookie: match &s.sticky {
                    Some(Sticky::Cookie { name, max_age_secs }) => {
                        let plain = format!(
                            "{name}={}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax",
                            g.name
                        );
                        let secure = format!("{plain}; Secure");
                        Some([plain, secure])
                    }
                    _ => None,
                },
            })
            .collect();
        let sticky = s.sticky.as_ref().map(|k| match k {
            Sticky::Cookie { name, .. } => StickyKey::Cookie(name.clone()),
            Sticky::Header { name } => StickyKey::Header(name.clone()),
        });
        let force = s.force.clone().unwrap_or_default();
        Self {
            groups,
            cumulative,
            sticky,
            force_header: force.header,
            force_cookie: force.cookie,
        }
    }

    /// Whether answers may carry the sticky cookie.
    pub fn sets_cookies(&self) -> bool {
        matches!(self.sticky, Some(StickyKey::Cookie(_)))
    }

    /// A group's name (empty for an index the split does not have).
    pub fn name(&self, group: u8) -> &str {
        self.groups
            .get(usize::from(group))
            .map_or("", |g| g.name.as_str())
    }

    /// A group's own balancer; `None` when it uses the route's upstreams.
    pub fn balancer(&self, group: u8) -> Option<&Balancer> {
        self.groups.get(usize::from(group))?.balancer.as_ref()
    }

    /// The `Set-Cookie` value for the answer, when the request was drawn.
    fn set_cookie(&self, cohort: Cohort, tls: bool) -> Option<&str> {
        if !cohort.set_cookie {
            return None;
        }
        let [plain, secure] = self
            .groups
            .get(usize::from(cohort.group))?
            .cookie
            .as_ref()?;
        Some(if tls { secure } else { plain })
    }

    /// The group whose name is `value` (ASCII case ignored, surrounding spaces too).
    fn named(&self, value: &[u8]) -> Option<u8> {
        let value = value.trim_ascii();
        self.groups
            .iter()
            .position(|g| g.name.as_bytes().eq_ignore_ascii_case(value))
            .map(|i| i as u8)
    }

    /// The group a weight point (`0..total`) falls to.
    fn at(&self, point: u32) -> u8 {
        self.cumulative.partition_point(|&c| c <= point) as u8
    }

    fn total(&self) -> u32 {
        self.cumulative.last().copied().unwrap_or(0).max(1)
    }

    /// Chooses the request's group: a forced cohort naming a group (header, then
    /// cookie) wins; else the sticky key — a cookie naming a group with a share, or the
    /// hash of the sticky header's value ([`sticky_point`]); else a random draw by
    /// weight, and with cookie stickiness the answer sets the cookie.
    pub fn choose(&self, headers: &dyn HeaderLookup) -> Cohort {
        let found = |group| Cohort {
            group,
            set_cookie: false,
        };
        if let Some(g) = self
            .force_header
            .as_deref()
            .and_then(|h| headers.header(h))
            .and_then(|v| self.named(v))
        {
            return found(g);
        }
        if let Some(g) = self
            .force_cookie
            .as_deref()
            .and_then(|c| cookie_value(headers, c))
            .and_then(|v| self.named(&v))
        {
            return found(g);
        }
        let total = self.total();
        match &self.sticky {
            Some(StickyKey::Cookie(name)) => {
                if let Some(g) = cookie_value(headers, name)
                    .and_then(|v| self.named(&v))
                    .filter(|&g| self.groups[usize::from(g)].weight > 0)
                {
                    return found(g);
                }
                Cohort {
                    group: self.at(random_below(total)),
                    set_cookie: true,
                }
            }
            Some(StickyKey::Header(name)) => match headers.header(name) {
                Some(v) if !v.trim_ascii().is_empty() => {
                    found(self.at((sticky_point(v.trim_ascii()) % u64::from(total)) as u32))
                }
                _ => found(self.at(random_below(total))),
            },
            None => found(self.at(random_below(total))),
        }
    }
}

/// Where a sticky header's value falls: the first 8 bytes of its SHA-256 digest, as a
/// big-endian number (then taken modulo the total weight). Fixed, so every proxy — and
/// any tool — puts a user in the same group without sharing state.
pub fn sticky_point(value: &[u8]) -> u64 {
    let digest = Sha256::digest(value);
    u64::from_be_bytes(digest[..8].try_into().expect("a digest has 32 bytes"))
}

/// A uniform draw in `0..n` (`n` > 0) from a per-thread SplitMix64 generator seeded by
/// std's per-process random hasher keys: fast, and unpredictable enough to split
/// traffic (it is no secret).
fn random_below(n: u32) -> u32 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish()
        );
    }
    let x = STATE.with(|s| {
        let next = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(next);
        next
    });
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // Lemire's multiply-shift: no modulo bias worth speaking of for n ≤ 8,000.
    ((u128::from(z) * u128::from(n)) >> 64) as u32
}

/// A claim's value as a header value: strings as they are, numbers and booleans as
/// text, a list of those joined with ", "; `None` for objects, nulls and anything with
/// control characters (it could not be a header value).
fn claim_text(value: &serde_json::Value) -> Option<String> {
    fn scalar(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    let text = match value {
        serde_json::Value::Array(items) => items
            .iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()?
            .join(", "),
        other => scalar(other)?,
    };
    (!text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)).then_some(text)
}

impl BasicCheck {
    fn passes(&self, header: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(header).into();
        if self
            .verified
            .lock()
            .expect("never poisoned")
            .contains(&digest)
        {
            return true;
        }
        let Some(encoded) = header
            .strip_prefix(b"Basic ")
            .or_else(|| header.strip_prefix(b"basic "))
        else {
            return false;
        };
        use base64::Engine;
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim_ascii())
        else {
            return false;
        };
        let Ok(text) = std::str::from_utf8(&decoded) else {
            return false;
        };
        let Some((username, password)) = text.split_once(':') else {
            return false;
        };
        let ok = self.users.iter().any(|(u, hash)| {
            u == username && switchyard_shared::policy::verify_password(hash, password)
        });
        if ok {
            let mut verified = self.verified.lock().expect("never poisoned");
            if verified.len() >= AUTH_CACHE_MAX {
                verified.clear();
            }
            verified.insert(digest);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (n, v) in pairs {
            map.append(*n, v.parse().unwrap());
        }
        map
    }

    fn policy(json: serde_json::Value) -> RoutePolicy {
        let mut p: Policies = serde_json::from_value(json).unwrap();
        let mut out = Vec::new();
        p.check("policies", true, &mut out);
        assert!(out.is_empty(), "{out:?}");
        RoutePolicy::compile(&p, &Registry::new(Default::default()), "t.test", "z")
    }

    #[test]
    fn rewrites_prefixes_and_patterns() {
        let p = policy(serde_json::json!({"rewrite": {"kind": "strip_prefix"}}));
        assert_eq!(p.rewrite("/api", "/api/v1/x").as_deref(), Some("/v1/x"));
        assert_eq!(p.rewrite("/api", "/api").as_deref(), Some("/"));
        let p = policy(serde_json::json!({"rewrite": {"kind": "replace_prefix", "with": "/v2/"}}));
        assert_eq!(p.rewrite("/api", "/api/x").as_deref(), Some("/v2/x"));
        assert_eq!(p.rewrite("/api", "/api").as_deref(), Some("/v2"));
        let p = policy(serde_json::json!({"rewrite": {
            "kind": "regex", "pattern": "^/users/(\\d+)$", "replacement": "/u?id=$1"}}));
        assert_eq!(p.rewrite("", "/users/42").as_deref(), Some("/u?id=42"));
        assert_eq!(p.rewrite("", "/other").as_deref(), Some("/other"));
    }

    #[test]
    fn redirects_expand_captures_and_keep_the_query_when_asked() {
        let p = policy(serde_json::json!({"redirect": {
            "code": 301, "pattern": "^/old/(?P<rest>.*)$", "target": "https://new.example/${rest}",
            "keep_query": true}}));
        assert_eq!(
            p.redirect("/old/a/b", Some("x=1")),
            Some((301, "https://new.example/a/b?x=1".to_owned()))
        );
        assert_eq!(p.redirect("/new", None), None);
    }

    #[test]
    fn the_rate_limit_allows_the_burst_then_says_when_to_retry() {
        let p =
            policy(serde_json::json!({"rate_limit": {"requests": 1, "per_secs": 60, "burst": 2}}));
        let ip = Some("192.0.2.1".parse().unwrap());
        assert!(p.admit(ip, &with(&[])).is_ok());
        assert!(p.admit(ip, &with(&[])).is_ok());
        match p.admit(ip, &with(&[])) {
            Err(Refusal::RateLimited(s)) => assert!((1..=60).contains(&s), "{s}"),
            _ => panic!("the third request should be limited"),
        }
        // Another client has its own bucket.
        assert!(
            p.admit(Some("192.0.2.2".parse().unwrap()), &with(&[]))
                .is_ok()
        );
    }

    #[test]
    fn basic_auth_checks_the_header_and_remembers_success() {
        let p = policy(serde_json::json!({"basic_auth": {"realm": "Ops", "users": [
            {"username": "ann", "password": "pw"}]}}));
        use base64::Engine;
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ann:pw")
        );
        let bad = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ann:px")
        );
        assert!(p.admit(None, &with(&[("authorization", &good)])).is_ok());
        assert!(p.admit(None, &with(&[("authorization", &good)])).is_ok());
        match p.admit(None, &with(&[("authorization", &bad)])) {
            Err(Refusal::Unauthorized(v)) => {
                assert_eq!(v, "Basic realm=\"Ops\", charset=\"UTF-8\"")
            }
            _ => panic!("a wrong password must not pass"),
        }
        assert!(p.admit(None, &with(&[])).is_err());
    }

    #[test]
    fn jwt_checks_the_token_and_returns_its_claim_headers() {
        let secret = "0123456789abcdef0123456789abcdef";
        let p = policy(
            serde_json::json!({"jwt": {"algorithms": ["HS256"], "secret": secret,
            "cookie": "tok", "claims_to_headers": {"sub": "x-user", "n": "x-n", "o": "x-o"}}}),
        );
        let exp = jsonwebtoken::get_current_timestamp() + 60;
        let token = |claims: serde_json::Value, key: &str| {
            jsonwebtoken::encode(
                &jsonwebtoken::Header::default(),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()).unwrap(),
            )
            .unwrap()
        };
        let good = token(
            serde_json::json!({"sub": "ann", "n": 7, "o": {"x": 1}, "exp": exp}),
            secret,
        );
        let cookie = format!("a=b; tok={good}");
        let added = p
            .admit(None, &with(&[("cookie", "x=y"), ("cookie", &cookie)]))
            .ok()
            .unwrap();
        assert_eq!(
            added,
            [
                ("x-n".to_owned(), b"7".to_vec()),
                ("x-user".to_owned(), b"ann".to_vec())
            ]
        );
        assert!(p.request.drops("X-User") && p.request.drops("x-o"));
        let forged = token(
            serde_json::json!({"sub": "ann", "exp": exp}),
            "another secret of 32 bytes....",
        );
        match p.admit(None, &with(&[("cookie", &format!("tok={forged}"))])) {
            Err(Refusal::InvalidToken(v)) => {
                assert_eq!(v, "Bearer realm=\"api\", error=\"invalid_token\"")
            }
            _ => panic!("a forged token must not pass"),
        }
        match p.admit(None, &with(&[])) {
            Err(Refusal::InvalidToken(v)) => assert_eq!(v, "Bearer realm=\"api\""),
            _ => panic!("no token, no entry"),
        }
        // A key that cannot be used refuses every token (fail closed).
        let mut broken: Policies = serde_json::from_value(serde_json::json!({
            "jwt": {"algorithms": ["HS256"]}}))
        .unwrap();
        broken.jwt.as_mut().unwrap().secret = None;
        let broken =
            RoutePolicy::compile(&broken, &Registry::new(Default::default()), "t.test", "z");
        assert!(
            broken
                .admit(None, &with(&[("authorization", &format!("Bearer {good}"))]))
                .is_err()
        );
    }

    #[test]
    fn answer_edits_hsts_and_the_preset() {
        let p = policy(serde_json::json!({
            "response_headers": {"remove": ["Server"], "set": [{"name": "X-Frame-Options", "value": "DENY"}]},
            "hsts": {"max_age_secs": 600},
            "security_headers": true
        }));
        assert!(p.drops_answer_header("server", false));
        assert!(p.drops_answer_header("Strict-Transport-Security", true));
        assert!(!p.drops_answer_header("Strict-Transport-Security", false));
        let vars = Vars {
            client_ip: None,
            request_id: "r1",
            host: "a.test",
            tls: true,
            cohort: None,
        };
        let mut added = Vec::new();
        p.answer_additions(
            &vars,
            |n| n == "referrer-policy",
            |n, v| added.push(format!("{n}: {}", String::from_utf8_lossy(v))),
        );
        assert_eq!(
            added,
            [
                "x-frame-options: DENY",
                "strict-transport-security: max-age=600",
                "x-content-type-options: nosniff"
            ]
        );
    }

    #[test]
    fn a_split_forces_then_sticks_then_draws_by_weight() {
        let p = policy(serde_json::json!({"split": {
            "groups": [
                {"name": "stable", "weight": 3},
                {"name": "canary", "weight": 1, "upstreams": [{"url": "http://127.0.0.1:9"}]},
                {"name": "dark", "weight": 0, "upstreams": [{"url": "http://127.0.0.1:8"}]}
            ],
            "sticky": {"kind": "cookie", "name": "sy", "max_age_secs": 60},
            "force": {"header": "x-cohort", "cookie": "force"}
        }}));
        let split = p.split().unwrap();
        let chosen = |pairs: &[(&'static str, &str)]| split.choose(&with(pairs));
        let named = |group: &str| Cohort {
            group: match group {
                "stable" => 0,
                "canary" => 1,
                _ => 2,
            },
            set_cookie: false,
        };
        assert_eq!(chosen(&[("x-cohort", " DARK ")]), named("dark"));
        assert_eq!(
            chosen(&[("cookie", "force=dark; sy=stable")]),
            named("dark")
        );
        assert_eq!(chosen(&[("cookie", "sy=\"canary\"")]), named("canary"));
        // A cookie naming a group without a share (or none) is drawn anew, and set.
        for cookie in ["sy=dark", "sy=gone", "other=1"] {
            let c = chosen(&[("x-cohort", "nope"), ("cookie", cookie)]);
            assert!(c.set_cookie && c.group < 2, "{cookie}: {c:?}");
        }
        let drawn = (0..4000).filter(|_| chosen(&[]).group == 1).count();
        // 1 in 4 of 4,000: mean 1,000, σ ≈ 27.
        assert!((890..=1110).contains(&drawn), "{drawn}");
        assert!(p.edits_answers());
        let cohort = chosen(&[]);
        let vars = |tls| Vars {
            client_ip: None,
            request_id: "r",
            host: "a.test",
            tls,
            cohort: Some(cohort),
        };
        let mut added = Vec::new();
        p.answer_additions(
            &vars(true),
            |_| false,
            |n, v| added.push(format!("{n}: {}", String::from_utf8_lossy(v))),
        );
        assert_eq!(
            added,
            [format!(
                "set-cookie: sy={}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure",
                split.name(cohort.group)
            )]
        );
        // The split's own upstreams; the route's for a group without them.
        assert_eq!(split.balancer(1).unwrap().upstreams()[0].url.port(), 9);
        assert!(split.balancer(0).is_none());
    }

    #[test]
    fn a_sticky_header_hashes_to_the_same_group_every_time() {
        let p = policy(serde_json::json!({"split": {
            "groups": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50,
                "upstreams": [{"url": "http://127.0.0.1:9"}]}],
            "sticky": {"kind": "header", "name": "x-user"}
        }}));
        let split = p.split().unwrap();
        // The point: SHA-256's first 8 bytes as a number, modulo the total weight.
        let point = sticky_point(b"user-1") % 100;
        let expected = u8::from(point >= 50);
        for _ in 0..20 {
            let c = split.choose(&with(&[("x-user", "user-1")]));
            assert_eq!(c.group, expected);
            assert!(!c.set_cookie);
        }
        let b_users = (0..1000)
            .filter(|u| split.choose(&with(&[("x-user", &format!("u{u}"))])).group == 1)
            .count();
        assert!((400..=600).contains(&b_users), "{b_users}");
        assert!(!p.edits_answers(), "a header split sets no cookie");
    }

    #[test]
    fn pages_keep_the_request_id_and_literal_braces() {
        let p = policy(serde_json::json!({"error_pages": {
            "503": {"body": "<p>down {x} id={request_id}</p>"}}}));
        let (ct, body) = p.page(503, "abc").unwrap();
        assert_eq!(ct, "text/html; charset=utf-8");
        assert_eq!(body, "<p>down {x} id=abc</p>");
        assert!(p.page(502, "abc").is_none());
    }
}
