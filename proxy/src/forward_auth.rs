//! Forward authentication: the sub-request that clears a request before it goes
//! upstream (Traefik's ForwardAuth, nginx's `auth_request`).
//!
//! The decision core marks a request of a route with a `forward_auth` policy
//! ([`crate::decide::Forward::forward_auth`]); both fast paths hand such requests to
//! Pingora's path, whose `request_filter` calls [`ask`] — the one place the sub-request
//! is made. The service gets `GET <url>` with `X-Forwarded-Method`, `-Proto`, `-Host`,
//! `-Uri` and `-For` and the client headers the policy names; the request's body stays
//! with the client connection until the verdict is known, then goes upstream untouched.
//!
//! Verdicts ([`Verdict`]): a 2xx clears the request, with the answer's fields named in
//! `response_headers` added to it; any other status below 500 is the client's answer
//! (status, body up to 64 KiB, `Location`, `WWW-Authenticate`, `Set-Cookie`,
//! `Content-Type`), so a 302 to a login page works; a 5xx, a timeout or no connection
//! is a 503 — the request is never forwarded unless the service said yes.
//!
//! Must never: forward a request the service did not clear, follow the service's
//! redirects itself, or log the client's credentials or the service's answer body.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use switchyard_shared::policy::ForwardAuth;

use crate::policy::AddedHeaders;

/// Largest answer body of the service passed back to the client.
pub const MAX_ANSWER_BODY: usize = 64 * 1024;

/// Headers of a refusing answer passed back to the client.
pub const PASSED_BACK: [&str; 4] = ["location", "www-authenticate", "set-cookie", "content-type"];

/// What the request is, as the service is told.
pub struct Asked<'a> {
    pub method: &'a str,
    pub tls: bool,
    /// The host the client asked for (its `Host`).
    pub host: &'a str,
    /// The normalised path and query the route was chosen on.
    pub uri: &'a str,
    /// The client's address ([`crate::decide::client_address`]).
    pub client_ip: Option<IpAddr>,
    /// The client's request headers.
    pub headers: &'a http::HeaderMap,
}

/// The service's verdict.
pub enum Verdict {
    /// 2xx: forward, with these fields added to the upstream request.
    Allow(AddedHeaders),
    /// Another status below 500: answer the client with it.
    Deny {
        status: u16,
        headers: Vec<(&'static str, HeaderValue)>,
        body: Bytes,
    },
    /// No usable answer: 503. Why, for the log (no credential in it).
    Unavailable(String),
}

/// The HTTP client of every forward-auth sub-request: one pool for the process, no
/// redirects followed (a redirect is the client's to follow), no proxy from the
/// environment, system roots for `https://` services.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with default TLS settings builds")
    })
}

/// Asks the policy's service about a request (see the module docs).
pub async fn ask(policy: &ForwardAuth, asked: &Asked<'_>) -> Verdict {
    let mut req = client()
        .get(&policy.url)
        .timeout(Duration::from_millis(policy.timeout_ms.into()));
    for name in &policy.request_headers {
        for value in asked.headers.get_all(name.as_str()) {
            req = req.header(name.as_str(), value.clone());
        }
    }
    req = req
        .header("x-forwarded-method", asked.method)
        .header(
            "x-forwarded-proto",
            if asked.tls { "https" } else { "http" },
        )
        .header("x-forwarded-host", asked.host)
        .header("x-forwarded-uri", asked.uri);
    if let Some(ip) = asked.client_ip {
        req = req.header("x-forwarded-for", ip.to_string());
    }
    let mut resp = match req.send().await {
        Ok(resp) => resp,
        Err(e) => return Verdict::Unavailable(describe(&e)),
    };
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        let mut added = Vec::new();
        for name in &policy.response_headers {
            for value in resp.headers().get_all(name.as_str()) {
                added.push((name.clone(), value.as_bytes().to_vec()));
            }
        }
        return Verdict::Allow(added);
    }
    if status >= 500 {
        return Verdict::Unavailable(format!("the service answered {status}"));
    }
    let mut headers = Vec::new();
    for name in PASSED_BACK {
        for value in resp.headers().get_all(name) {
            headers.push((name, value.clone()));
        }
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ANSWER_BODY - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() == MAX_ANSWER_BODY {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => return Verdict::Unavailable(describe(&e)),
        }
    }
    Verdict::Deny {
        status,
        headers,
        body: Bytes::from(body),
    }
}

/// A failure in words, without the URL (it might carry a credential in its query).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "no answer in time"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the exchange failed"
    };
    let mut source = std::error::Error::source(e);
    let mut text = kind.to_owned();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
