//! DNS providers: one trait — find the zone for a name, create a TXT record, delete it —
//! and a client per provider's real HTTP API (Cloudflare with the endpoint definitions of
//! Cloudflare's own `cloudflare` crate; DigitalOcean and Porkbun, which publish no Rust
//! client, by hand),
//! each with a configurable base URL (`dns_credentials.api_base_url`, used by tests).
//!
//! Credentials are stored sealed in `dns_credentials.secret_ciphertext` (see
//! [`switchyard_shared::secrets`], context [`CREDENTIALS_CONTEXT`]) as JSON:
//! Cloudflare `{"api_token": "..."}`, DigitalOcean `{"token": "..."}`, Porkbun
//! `{"api_key": "pk1_...", "secret_api_key": "sk1_..."}`. `manual` has no secret: an
//! operator publishes the record by hand (see [`crate::worker`]).
//!
//! Errors name the provider, what was being done and the provider's own answer (status
//! and body), never a credential.

pub mod cloudflare;
pub mod digitalocean;
pub mod porkbun;
pub mod propagation;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchyard_shared::secrets::SecretBox;

/// Associated data for sealed DNS credentials; the panel seals with the same context.
pub const CREDENTIALS_CONTEXT: &str = "dns_credentials.secret";

/// Provider API calls that take longer than this fail the attempt instead of hanging it.
const API_TIMEOUT: Duration = Duration::from_secs(30);

/// Provider answers are quoted in errors up to this many bytes.
const MAX_BODY_IN_ERROR: usize = 600;

/// A TXT record this worker created, with what it takes to delete it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtRecord {
    /// The zone as the provider names it (`example.com`).
    pub zone: String,
    /// The provider's id for the zone (Cloudflare) or the zone name (others).
    pub zone_id: String,
    /// Fully qualified record name (`_acme-challenge.example.com`).
    pub fqdn: String,
    pub value: String,
    /// The provider's id for the record.
    pub id: String,
}

/// A TXT record as the order log keeps it (`acme_orders.dns_records`), so that a worker
/// other than the one that created it can delete it. `id` is `None` from just before the
/// provider's create call until its answer has been written down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedTxtRecord {
    pub zone: String,
    pub zone_id: String,
    pub fqdn: String,
    pub value: String,
    pub id: Option<String>,
}

impl LoggedTxtRecord {
    /// A record about to be created in `zone`.
    pub fn planned(zone: &Zone, fqdn: &str, value: &str) -> Self {
        LoggedTxtRecord {
            zone: zone.name.clone(),
            zone_id: zone.id.clone(),
            fqdn: fqdn.to_owned(),
            value: value.to_owned(),
            id: None,
        }
    }

    /// What it takes to delete it, once the provider has named it.
    pub fn record(&self) -> Option<TxtRecord> {
        self.id.as_ref().map(|id| TxtRecord {
            zone: self.zone.clone(),
            zone_id: self.zone_id.clone(),
            fqdn: self.fqdn.clone(),
            value: self.value.clone(),
            id: id.clone(),
        })
    }
}

impl From<&TxtRecord> for LoggedTxtRecord {
    fn from(r: &TxtRecord) -> Self {
        LoggedTxtRecord {
            zone: r.zone.clone(),
            zone_id: r.zone_id.clone(),
            fqdn: r.fqdn.clone(),
            value: r.value.clone(),
            id: Some(r.id.clone()),
        }
    }
}

/// A zone hosted at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub id: String,
}

/// What went wrong talking to a DNS provider.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("{provider}: {action} failed: HTTP {status}: {body}")]
    Api {
        provider: &'static str,
        action: String,
        status: u16,
        body: String,
    },
    #[error("{provider}: {action} failed: {message}")]
    Transport {
        provider: &'static str,
        action: String,
        message: String,
    },
    #[error(
        "{provider}: no zone in this account covers {name} (tried {tried}); add the domain at the provider or pick another DNS credential"
    )]
    NoZone {
        provider: &'static str,
        name: String,
        tried: String,
    },
    #[error("DNS credential {credential:?}: {problem}")]
    Credentials { credential: String, problem: String },
}

/// One DNS provider account.
#[async_trait]
pub trait DnsProvider: Send + Sync {
    /// `cloudflare`, `digitalocean`, `porkbun`.
    fn name(&self) -> &'static str;
    /// The zone that holds `fqdn`: the longest suffix of it that the account hosts.
    async fn find_zone(&self, fqdn: &str) -> Result<Zone, DnsError> {
        let labels: Vec<&str> = fqdn.split('.').collect();
        let mut tried = Vec::new();
        // A zone has at least two labels; try the longest candidate first.
        for start in 0..labels.len().saturating_sub(1) {
            let candidate = labels[start..].join(".");
            if let Some(zone) = self.zone_named(&candidate).await? {
                return Ok(zone);
            }
            tried.push(candidate);
        }
        Err(DnsError::NoZone {
            provider: self.name(),
            name: fqdn.to_owned(),
            tried: tried.join(", "),
        })
    }
    /// The zone called exactly `name`, if the account hosts it.
    async fn zone_named(&self, name: &str) -> Result<Option<Zone>, DnsError>;
    /// Creates a TXT record `fqdn` with `value` in `zone`.
    async fn create_txt(&self, zone: &Zone, fqdn: &str, value: &str)
    -> Result<TxtRecord, DnsError>;
    /// Deletes a record made by [`DnsProvider::create_txt`]; deleting one that is already
    /// gone succeeds.
    async fn delete_txt(&self, record: &TxtRecord) -> Result<(), DnsError>;
}

/// The record name relative to its zone (`_acme-challenge` in `example.com`).
pub fn relative_name(fqdn: &str, zone: &str) -> String {
    match fqdn.strip_suffix(zone) {
        Some("") => "@".to_owned(),
        Some(rest) => rest.trim_end_matches('.').to_owned(),
        None => fqdn.to_owned(),
    }
}

/// How a domain's DNS-01 challenges are answered.
pub enum Solver {
    /// Through a provider's API.
    Api(Box<dyn DnsProvider>),
    /// An operator publishes the record; the order shows what to publish.
    Manual,
}

/// A `dns_credentials` row, as read from Postgres.
#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub name: String,
    pub provider: String,
    pub secret_ciphertext: Option<Vec<u8>>,
    pub api_base_url: Option<String>,
}

impl Solver {
    /// Builds the solver for a credential, opening its sealed secret.
    pub fn from_credential(
        row: &CredentialRow,
        secrets: &SecretBox,
        http: &reqwest::Client,
    ) -> Result<Solver, DnsError> {
        let bad = |problem: String| DnsError::Credentials {
            credential: row.name.clone(),
            problem,
        };
        if row.provider == "manual" {
            return Ok(Solver::Manual);
        }
        let sealed = row.secret_ciphertext.as_deref().ok_or_else(|| {
            bad(format!(
                "provider {} needs a secret but none is stored",
                row.provider
            ))
        })?;
        let plain = secrets
            .open_string(CREDENTIALS_CONTEXT, sealed)
            .map_err(|e| bad(e.to_string()))?;
        let base = row.api_base_url.clone();
        fn json<T: for<'de> Deserialize<'de>>(
            plain: &str,
            provider: &str,
            shape: &str,
        ) -> Result<T, String> {
            serde_json::from_str(plain).map_err(|_| {
                format!("the stored secret is not {provider} credentials; expected JSON {shape}")
            })
        }
        let provider: Box<dyn DnsProvider> = match row.provider.as_str() {
            "cloudflare" => {
                let c: cloudflare::Credentials =
                    json(&plain, "Cloudflare", r#"{"api_token": "..."}"#).map_err(bad)?;
                Box::new(cloudflare::Cloudflare::new(http.clone(), base, c).map_err(bad)?)
            }
            "digitalocean" => {
                let c: digitalocean::Credentials =
                    json(&plain, "DigitalOcean", r#"{"token": "..."}"#).map_err(bad)?;
                Box::new(digitalocean::DigitalOcean::new(http.clone(), base, c))
            }
            "porkbun" => {
                let c: porkbun::Credentials = json(
                    &plain,
                    "Porkbun",
                    r#"{"api_key": "...", "secret_api_key": "..."}"#,
                )
                .map_err(bad)?;
                Box::new(porkbun::Porkbun::new(http.clone(), base, c))
            }
            other => {
                return Err(bad(format!(
                    "unknown provider {other:?}; expected cloudflare, digitalocean, porkbun or manual"
                )));
            }
        };
        Ok(Solver::Api(provider))
    }
}

/// What the worker calls itself to the providers' APIs.
pub const USER_AGENT: &str = concat!("switchyard-cert-worker/", env!("CARGO_PKG_VERSION"));

/// The HTTP client the providers share.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(API_TIMEOUT)
        .user_agent(USER_AGENT)
        .build()
        .expect("the HTTP client configuration is static")
}

/// Sends a request and returns the body of a 2xx answer; anything else becomes a
/// [`DnsError`] quoting the provider's answer.
pub(crate) async fn send(
    provider: &'static str,
    action: impl Into<String>,
    request: reqwest::RequestBuilder,
) -> Result<(u16, String), DnsError> {
    let action = action.into();
    let response = request.send().await.map_err(|e| DnsError::Transport {
        provider,
        action: action.clone(),
        message: without_url(e),
    })?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| DnsError::Transport {
        provider,
        action: action.clone(),
        message: without_url(e),
    })?;
    if !(200..300).contains(&status) {
        return Err(DnsError::Api {
            provider,
            action,
            status,
            body: truncate(&body),
        });
    }
    Ok((status, body))
}

/// Parses a 2xx body, reporting a body of the wrong shape as the provider's error.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(
    provider: &'static str,
    action: &str,
    status: u16,
    body: &str,
) -> Result<T, DnsError> {
    serde_json::from_str(body).map_err(|e| DnsError::Api {
        provider,
        action: format!("{action} (unexpected answer: {e})"),
        status,
        body: truncate(body),
    })
}

pub(crate) fn truncate(body: &str) -> String {
    let body = body.trim();
    if body.len() <= MAX_BODY_IN_ERROR {
        return body.to_owned();
    }
    let mut end = MAX_BODY_IN_ERROR;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &body[..end], body.len())
}

/// The error and its causes, without the request URL (it may carry credentials in
/// some APIs' query strings).
pub(crate) fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_relative_to_their_zone() {
        assert_eq!(
            relative_name("_acme-challenge.example.com", "example.com"),
            "_acme-challenge"
        );
        assert_eq!(
            relative_name("_acme-challenge.a.example.com", "example.com"),
            "_acme-challenge.a"
        );
        assert_eq!(relative_name("example.com", "example.com"), "@");
    }

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(400);
        let cut = truncate(&body);
        assert!(cut.ends_with("(800 bytes)"), "{cut}");
    }
}
