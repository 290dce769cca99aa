//! The decision core: what to do with a request, decided once for every path.
//!
//! [`Router::decide`] takes the live snapshot and the facts of a request (method, raw
//! `Host`, raw target, client address, TLS or not, whether a header name has an `_`)
//! and returns either [`Decision::Forward`] — the zone's route, the chosen upstream and
//! the normalised target to send it — or [`Decision::Answer`], an answer the proxy makes
//! itself (400, 404, 403, 308, 503; a 503 with `X-Switchyard-Circuit: open` when every
//! upstream's circuit breaker is open; the key authorization of an ACME HTTP-01
//! challenge, see [`acme_challenge_token`]). The fast path (`fast.rs` for HTTP/1, `fast/h2.rs`
//! for HTTP/2 streams) and Pingora's HTTP/1 and HTTP/2 path (`service.rs`) all call it,
//! so they cannot route the same request differently; none has a routing rule of its
//! own.
//!
//! `GET /.well-known/acme-challenge/<token>` is answered right after the host and target
//! are read, before the zone is looked up: from the challenges the cert worker published
//! in the snapshot (200, `text/plain`, the key authorization), or 404 — never by a
//! backend, and whatever the zone's allow-list, auth or HTTPS redirect say, so a CA
//! validates a per-host certificate through whichever proxy it reaches.
//!
//! After the route, its policies ([`crate::policy::RoutePolicy`]) in this order: head
//! size (431, [`head_size`]), rate limit (429), basic auth (401), JWT (401, `Bearer`
//! challenge), redirect rule, body size by `Content-Length` (413), the path rewrite, the
//! split group ([`Forward::cohort`]), then the upstream from the group's balancer. A request
//! whose route has no policies pays one branch for them. The request headers a JWT's
//! claims add travel in [`Forward::added`]; a route with forward auth is decided as
//! [`Forward`] with [`Forward::forward_auth`] set, and the sub-request that clears it is
//! made by Pingora's path alone (`crate::forward_auth`), the one path that may wait.
//!
//! Routes are chosen on the normalised target ([`RequestTarget`], see
//! `switchyard_shared::path`) and the upstream is sent exactly that target, so a backend
//! cannot see a path other than the one the route and its allow-list were decided on.
//!
//! Must never: do I/O, wait, or allocate more than the answer needs; it runs for every
//! request. (The one costly step is a route's basic auth meeting a credential it has not
//! verified before: one password-hash verification, milliseconds of CPU by design.)

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use switchyard_shared::policy::is_tchar;
use switchyard_shared::{RequestTarget, normalize_request_host};

use crate::policy::{AddedHeaders, Cohort, Refusal};
use crate::service::Router;
use crate::snapshot::RouteEntry;
use crate::upstreams::{Pick, Upstream};

/// What the decision needs to know of a request.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub method: &'a [u8],
    /// The `Host` header (or the authority of an absolute-form target / `:authority`).
    pub host: &'a [u8],
    /// The request target as sent (HTTP/1 request line, HTTP/2 `:path`).
    pub target: &'a [u8],
    pub client_ip: Option<IpAddr>,
    pub tls: bool,
    /// Some header name contains `_`.
    pub underscore_header: bool,
    /// Why the request's framing is ambiguous ([`crate::framing::check`]), if it is.
    pub framing: Option<crate::framing::Refusal>,
    /// The body's declared length (`Content-Length`), when it has one.
    pub content_length: Option<u64>,
    /// The request's headers, for the route's policies (basic auth, a rate-limit key).
    pub headers: &'a dyn HeaderLookup,
}

/// The size of a request head as HTTP/1.1 writes it: `method SP target SP HTTP/1.1 CRLF`,
/// then `name: value CRLF` per field, then the blank line — the one measure of
/// `max_header_bytes` for every protocol. Computed only for a route that has the limit.
pub fn head_size(facts: &Facts<'_>) -> usize {
    facts.method.len()
        + 1
        + facts.target.len()
        + " HTTP/1.1\r\n".len()
        + facts.headers.field_bytes()
        + 2
}

/// Looks a request header up by name (any case); the first field of that name.
pub trait HeaderLookup {
    fn header(&self, name: &str) -> Option<&[u8]>;
    /// Calls `f` with every field of that name, in order.
    fn each(&self, name: &str, f: &mut dyn FnMut(&[u8]));
    /// Every field as HTTP/1.1 writes it (`name: value CRLF`), in bytes ([`head_size`]).
    fn field_bytes(&self) -> usize;
}

impl std::fmt::Debug for dyn HeaderLookup + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<headers>")
    }
}

/// The headers httparse parsed from an HTTP/1 head.
pub struct H1Headers<'a, 'b>(pub &'a [httparse::Header<'b>]);

impl HeaderLookup for H1Headers<'_, '_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    fn each(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for h in self.0.iter().filter(|h| h.name.eq_ignore_ascii_case(name)) {
            f(h.value);
        }
    }

    fn field_bytes(&self) -> usize {
        self.0
            .iter()
            .map(|h| h.name.len() + 2 + h.value.len() + 2)
            .sum()
    }
}

impl HeaderLookup for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(|v| v.as_bytes())
    }

    fn each(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for v in self.get_all(name) {
            f(v.as_bytes());
        }
    }

    fn field_bytes(&self) -> usize {
        self.iter()
            .map(|(n, v)| n.as_str().len() + 2 + v.as_bytes().len() + 2)
            .sum()
    }
}

/// The client's address: the TCP peer's, unless the peer is one of the `trusted`
/// proxies (`--trusted-proxies`); then the rightmost `X-Forwarded-For` entry that is not
/// itself trusted, walking from the peer towards the client as nginx's `real_ip_recursive`
/// does. An entry that is not an address ends the walk at the last trusted hop; a chain
/// of trusted hops only gives its leftmost one.
pub fn client_address(
    trusted: &[ipnet::IpNet],
    peer: Option<IpAddr>,
    headers: &dyn HeaderLookup,
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer?;
    if trusted.is_empty() || !is_trusted(&peer) {
        return Some(peer);
    }
    // Each entry as an address, or `None` where it is not one.
    let mut entries: Vec<Option<IpAddr>> = Vec::new();
    headers.each("x-forwarded-for", &mut |value| {
        entries.extend(value.split(|&b| b == b',').map(|entry| {
            std::str::from_utf8(entry.trim_ascii())
                .ok()
                .and_then(|t| t.parse::<IpAddr>().ok())
        }));
    });
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = entry else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    Some(client)
}

/// The proxy's answer to a request.
pub enum Decision {
    Forward(Box<Forward>),
    Answer(Box<Answer>),
}

/// Send the request upstream.
pub struct Forward {
    /// Normalised host.
    pub host: String,
    /// Normalised target: what the route was matched on and what goes upstream.
    pub target: RequestTarget,
    pub route: Arc<RouteEntry>,
    pub upstream: Arc<Upstream>,
    /// The path and query sent upstream when the route rewrites it (else `target`'s).
    pub rewritten: Option<String>,
    /// Request header fields this request adds besides the route's edits (a JWT's
    /// claims); forward auth adds the service's answer headers later, on Pingora's path.
    pub added: AddedHeaders,
    /// The route's forward-auth service must clear the request before it goes upstream:
    /// only Pingora's path forwards it (the fast paths hand it over).
    pub forward_auth: bool,
    /// The split group the request goes to, when the route splits its traffic: retries
    /// pick from that group ([`RouteEntry::balancer_for`]), and its answer may set the
    /// sticky cookie.
    pub cohort: Option<Cohort>,
}

impl Forward {
    /// What goes upstream: the rewritten target, else the normalised one.
    pub fn upstream_target(&self) -> &str {
        self.rewritten.as_deref().unwrap_or(self.target.as_str())
    }
}

/// Answer the request without an upstream.
pub struct Answer {
    pub status: u16,
    pub category: Category,
    /// First line of the body (the request id follows).
    pub message: String,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// Normalised host, when it was valid.
    pub host: String,
    /// The route, when one was found (for metrics and the access log).
    pub route: Option<Arc<RouteEntry>>,
    /// The connection ends after the answer: the request was malformed (nothing after
    /// it on the connection can be trusted to be framed as the client meant), or its
    /// body was refused unread.
    pub close: bool,
    /// Further headers of the answer (`Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
    /// The whole body (`text/plain`), in place of the message and the request id: an
    /// ACME HTTP-01 challenge's key authorization, which the CA compares byte for byte.
    pub body: Option<String>,
}

/// Why a request was answered or failed, as the access log, metrics and traces name it
/// (`Category::as_str`); one enum for both paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    BadHost,
    BadTarget,
    BadMethod,
    BadHeader,
    BadFraming,
    NoZone,
    /// `/.well-known/acme-challenge/<token>`: answered from the published HTTP-01
    /// challenges (200 with the key authorization, or 404 for an unknown token).
    AcmeChallenge,
    Forbidden,
    Redirect,
    /// The route's rate limit (429).
    RateLimited,
    /// The route's basic auth or JWT check refused the credentials, or there were
    /// none (401).
    Unauthorized,
    /// The route's forward-auth service answered other than 2xx; its answer was passed
    /// back.
    AuthRefused,
    /// The route's forward-auth service did not answer (in time), or answered 5xx: 503.
    AuthUnavailable,
    /// The body is larger than the route allows (413).
    BodyTooLarge,
    /// The request head is larger than the route allows (431).
    HeadTooLarge,
    NotConfigured,
    AllUpstreamsDown,
    /// Every upstream of the route has its circuit open (503).
    CircuitOpen,
    /// The upstream did not answer in time (504).
    UpstreamTimeout,
    /// No connection to the upstream (502).
    UpstreamConnect,
    /// The upstream connection broke (502).
    UpstreamError,
    /// TLS with the upstream failed (502).
    UpstreamTls,
    /// The upstream's host name has no address yet.
    UnresolvedUpstream,
    /// The client went away or stopped reading.
    ClientGone,
    /// A request Pingora's parser refused.
    BadRequest,
    /// Pingora answered with a status of its own.
    HttpStatus,
    /// Any other failure.
    Error,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::UpstreamTimeout => "upstream_timeout",
            Category::UpstreamConnect => "upstream_connect",
            Category::UpstreamError => "upstream_error",
            Category::UpstreamTls => "upstream_tls",
            Category::UnresolvedUpstream => "unresolved_upstream",
            Category::ClientGone => "client_gone",
            Category::BadRequest => "bad_request",
            Category::HttpStatus => "http_status",
            Category::Error => "error",
            Category::BadHost => "bad_host",
            Category::BadTarget => "bad_target",
            Category::BadMethod => "bad_method",
            Category::BadHeader => "bad_header",
            Category::BadFraming => "bad_framing",
            Category::NoZone => "no_zone",
            Category::AcmeChallenge => "acme_challenge",
            Category::Forbidden => "forbidden",
            Category::Redirect => "redirect",
            Category::RateLimited => "rate_limited",
            Category::Unauthorized => "unauthorized",
            Category::AuthRefused => "auth_refused",
            Category::AuthUnavailable => "auth_unavailable",
            Category::BodyTooLarge => "body_too_large",
            Category::HeadTooLarge => "head_too_large",
            Category::NotConfigured => "not_configured",
            Category::AllUpstreamsDown => "all_upstreams_down",
            Category::CircuitOpen => "circuit_open",
        }
    }
}

/// Where HTTP-01 challenges are answered (RFC 8555 §8.3).
pub const ACME_CHALLENGE_PATH: &str = "/.well-known/acme-challenge/";

/// The token a `GET` or `HEAD` of `/.well-known/acme-challenge/<token>` asks for (on
/// the normalised path; the query is ignored). Such a request is the fleet's to answer,
/// whatever the host's zone says: an answer for a token that is not a possible ACME
/// token (a further `/`, other characters) is a 404 like an unknown one.
pub fn acme_challenge_token<'t>(method: &[u8], target: &'t RequestTarget) -> Option<&'t str> {
    if method != b"GET" && method != b"HEAD" {
        return None;
    }
    target.path().strip_prefix(ACME_CHALLENGE_PATH)
}

/// A method is a token; upper-case only unless `allow_lowercase`.
pub fn method_allowed(method: &[u8], allow_lowercase: bool) -> bool {
    !method.is_empty()
        && method.iter().all(|&b| is_tchar(b))
        && (allow_lowercase || !method.iter().any(u8::is_ascii_lowercase))
}

impl Router {
    /// Decides a request (see the module docs). `failed` are upstream addresses this
    /// request already failed to connect to (a retry picks another).
    pub fn decide(&self, facts: &Facts<'_>, failed: &[SocketAddr]) -> Decision {
        let answer = |status, category, message: String| {
            Decision::Answer(Box::new(Answer {
                status,
                category,
                message,
                location: None,
                host: String::new(),
                route: None,
                close: status == 400,
                headers: Vec::new(),
                body: None,
            }))
        };
        if !method_allowed(facts.method, self.settings.allow_lowercase_methods) {
            return answer(
                400,
                Category::BadMethod,
                format!(
                    "400 Bad Request: method \"{}\" is not allowed; methods are upper-case tokens (e.g. GET, POST)",
                    facts.method.escape_ascii()
                ),
            );
        }
        if let Some(why) = facts.framing {
            return answer(400, Category::BadFraming, format!("400 Bad Request: {why}"));
        }
        if facts.underscore_header && !self.settings.allow_underscore_headers {
            return answer(
                400,
                Category::BadHeader,
                "400 Bad Request: header names with \"_\" are not accepted; use \"-\"".to_owned(),
            );
        }
        let host = match std::str::from_utf8(facts.host)
            .map_err(|_| "the Host header is not UTF-8".to_owned())
            .and_then(|h| normalize_request_host(h).map_err(|e| e.to_string()))
        {
            Ok(h) => h.into_owned(),
            Err(e) => return answer(400, Category::BadHost, format!("400 Bad Request: {e}")),
        };
        let target = match RequestTarget::parse(facts.target) {
            Ok(t) => t,
            Err(e) => {
                return Decision::Answer(Box::new(Answer {
                    status: 400,
                    category: Category::BadTarget,
                    message: format!("400 Bad Request: {e}"),
                    location: None,
                    host,
                    route: None,
                    close: true,
                    headers: Vec::new(),
                    body: None,
                }));
            }
        };
        // HTTP-01 validation: before the zone and any of its policies (allow-list, auth,
        // HTTPS redirect), because the CA must reach it whatever they say.
        if let Some(token) = acme_challenge_token(facts.method, &target) {
            let answer = self
                .live
                .load()
                .challenge_answer(&host, token, time::OffsetDateTime::now_utc())
                .map(str::to_owned);
            let (status, message) = match &answer {
                Some(_) => (200, String::new()),
                None if switchyard_shared::model::is_challenge_token(token) => (
                    404,
                    format!("404 Not Found: no ACME challenge \"{token}\" for host \"{host}\""),
                ),
                None => (404, "404 Not Found: not an ACME challenge token".to_owned()),
            };
            return Decision::Answer(Box::new(Answer {
                status,
                category: Category::AcmeChallenge,
                message,
                location: None,
                host,
                route: None,
                close: false,
                headers: Vec::new(),
                body: answer,
            }));
        }
        let route = {
            let snapshot = self.live.load();
            snapshot
                .lookup(&host)
                .and_then(|e| e.route_for(facts.method, &target, facts.headers))
                .cloned()
        };
        let own = |status, category, message: String, route, location| {
            Decision::Answer(Box::new(Answer {
                status,
                category,
                message,
                location,
                host: host.clone(),
                route,
                close: false,
                headers: Vec::new(),
                body: None,
            }))
        };
        let Some(route) = route else {
            let message = format!("404 Not Found: no zone for host \"{host}\"");
            return own(404, Category::NoZone, message, None, None);
        };
        let r = &route.route;
        if !r.allow.is_empty()
            && !facts
                .client_ip
                .is_some_and(|ip| r.allow.iter().any(|net| net.contains(&ip)))
        {
            return own(
                403,
                Category::Forbidden,
                "403 Forbidden: your address may not use this host".to_owned(),
                Some(route),
                None,
            );
        }
        if r.force_https && !facts.tls && !self.settings.local_mode {
            let port = match self.settings.https_port {
                443 => String::new(),
                p => format!(":{p}"),
            };
            let location = format!("https://{host}{port}{}", target.as_str());
            return own(
                308,
                Category::Redirect,
                "308 Permanent Redirect to HTTPS".to_owned(),
                Some(route),
                Some(location),
            );
        }
        let mut rewritten = None;
        let mut added = Vec::new();
        let mut forward_auth = false;
        let mut cohort = None;
        if let Some(policy) = &route.policy {
            if let Some(max) = policy.max_head
                && head_size(facts) > max
            {
                return Decision::Answer(Box::new(Answer {
                    status: 431,
                    category: Category::HeadTooLarge,
                    message: format!(
                        "431 Request Header Fields Too Large: the request head is {} bytes; this host accepts at most {max}",
                        head_size(facts)
                    ),
                    location: None,
                    host,
                    route: Some(route.clone()),
                    // A body, if any, is not read: nothing after it can be framed.
                    close: true,
                    headers: Vec::new(),
                    body: None,
                }));
            }
            match policy.admit(facts.client_ip, facts.headers) {
                Ok(headers) => added = headers,
                Err(refusal) => {
                    let (status, category, message, header) = match refusal {
                        Refusal::RateLimited(secs) => (
                            429,
                            Category::RateLimited,
                            "429 Too Many Requests: this client's rate limit for this host is used up; retry later",
                            ("retry-after", secs.to_string()),
                        ),
                        Refusal::Unauthorized(challenge) => (
                            401,
                            Category::Unauthorized,
                            "401 Unauthorized: this host needs a user name and password",
                            ("www-authenticate", challenge),
                        ),
                        Refusal::InvalidToken(challenge) => (
                            401,
                            Category::Unauthorized,
                            "401 Unauthorized: this host needs a valid bearer token",
                            ("www-authenticate", challenge),
                        ),
                    };
                    return Decision::Answer(Box::new(Answer {
                        status,
                        category,
                        message: message.to_owned(),
                        location: None,
                        host,
                        route: Some(route.clone()),
                        close: false,
                        headers: vec![header],
                        body: None,
                    }));
                }
            }
            forward_auth = policy.forward_auth().is_some();
            if let Some((code, location)) = policy.redirect(target.path(), target.query()) {
                let message = format!(
                    "{code} {}",
                    http::StatusCode::from_u16(code)
                        .ok()
                        .and_then(|c| c.canonical_reason())
                        .unwrap_or("Redirect")
                );
                return own(
                    code,
                    Category::Redirect,
                    message,
                    Some(route.clone()),
                    Some(location),
                );
            }
            if let (Some(max), Some(len)) = (policy.max_body, facts.content_length)
                && len > max
            {
                return Decision::Answer(Box::new(Answer {
                    status: 413,
                    category: Category::BodyTooLarge,
                    message: format!(
                        "413 Content Too Large: the body is {len} bytes; this host accepts at most {max}"
                    ),
                    location: None,
                    host,
                    route: Some(route.clone()),
                    // The body is not read: nothing after it can be framed.
                    close: true,
                    headers: Vec::new(),
                    body: None,
                }));
            }
            if let Some(path) = policy.rewrite(r.path_prefix.as_str(), target.path()) {
                rewritten = Some(match target.query() {
                    Some(q) if path.contains('?') => format!("{path}&{q}"),
                    Some(q) => format!("{path}?{q}"),
                    None => path,
                });
            }
            cohort = policy.split().map(|s| s.choose(facts.headers));
        }
        match route
            .balancer_for(cohort)
            .pick(self.registry.config(), failed)
        {
            Pick::Upstream(upstream) => Decision::Forward(Box::new(Forward {
                host,
                target,
                route,
                upstream,
                rewritten,
                added,
                forward_auth,
                cohort,
            })),
            Pick::NotConfigured => own(
                503,
                Category::NotConfigured,
                "503 Service Unavailable: service not configured for this host".to_owned(),
                Some(route),
                None,
            ),
            Pick::AllDown => {
                // A split group's users are not moved to another group: they get what
                // a route whose upstreams are all down gets, the group named.
                let message = match route.group_name(cohort) {
                    "" => "503 Service Unavailable: every upstream of this host is down".to_owned(),
                    group => format!(
                        "503 Service Unavailable: every upstream of this host's group \"{group}\" is down"
                    ),
                };
                own(503, Category::AllUpstreamsDown, message, Some(route), None)
            }
            Pick::CircuitOpen => {
                crate::resilience::note_rejected();
                Decision::Answer(Box::new(Answer {
                    status: 503,
                    category: Category::CircuitOpen,
                    message: "503 Service Unavailable: every upstream of this host is failing; its circuit is open".to_owned(),
                    location: None,
                    host,
                    route: Some(route),
                    close: false,
                    headers: vec![("x-switchyard-circuit", "open".to_owned())],
                    body: None,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_upper_case_tokens() {
        for ok in ["GET", "POST", "M-SEARCH", "PROPFIND", "X_Y"] {
            assert!(method_allowed(ok.as_bytes(), false), "{ok}");
        }
        for bad in ["get", "Get", "", "G ET", "GE(T", "GET\r"] {
            assert!(!method_allowed(bad.as_bytes(), false), "{bad}");
        }
        assert!(method_allowed(b"get", true));
        assert!(!method_allowed(b"g(t", true));
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_forwarded_address() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |t: &str| Some(t.parse::<IpAddr>().unwrap());
        let with = |values: &[&str]| {
            let mut map = http::HeaderMap::new();
            for v in values {
                map.append("x-forwarded-for", v.parse().unwrap());
            }
            map
        };
        let of = |peer: &str, values: &[&str]| client_address(&trusted, ip(peer), &with(values));
        assert_eq!(of("192.0.2.1", &["198.51.100.1"]), ip("192.0.2.1"));
        assert_eq!(of("10.0.0.1", &["198.51.100.1"]), ip("198.51.100.1"));
        assert_eq!(
            of("10.0.0.1", &["1.1.1.1, 198.51.100.1", "10.9.9.9"]),
            ip("198.51.100.1")
        );
        assert_eq!(of("10.0.0.1", &["10.2.2.2, 10.3.3.3"]), ip("10.2.2.2"));
        assert_eq!(of("10.0.0.1", &["198.51.100.1, nonsense"]), ip("10.0.0.1"));
        assert_eq!(of("10.0.0.1", &[]), ip("10.0.0.1"));
        assert_eq!(of("10.0.0.1", &["::ffff:198.51.100.1"]), ip("198.51.100.1"));
        assert_eq!(
            client_address(&[], ip("10.0.0.1"), &with(&["1.1.1.1"])),
            ip("10.0.0.1")
        );
    }
}
