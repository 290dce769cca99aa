//! Porkbun's v3 JSON API (`https://api.porkbun.com/api/json/v3`): every call is a POST
//! carrying the API key and secret in its body; API access must be enabled per domain.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{DnsError, DnsProvider, TxtRecord, Zone, parse, relative_name, send, truncate};

pub const DEFAULT_BASE_URL: &str = "https://api.porkbun.com/api/json/v3";
const NAME: &str = "porkbun";
/// Porkbun's lowest TTL.
const TTL: &str = "600";

#[derive(Deserialize)]
pub struct Credentials {
    pub api_key: String,
    pub secret_api_key: String,
}

pub struct Porkbun {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
}

/// Porkbun answers `{"status": "SUCCESS", ...}` or `{"status": "ERROR", "message": ...}`.
#[derive(Deserialize)]
struct Status {
    status: String,
    #[serde(default)]
    id: Option<serde_json::Value>,
}

impl Porkbun {
    pub fn new(http: reqwest::Client, base: Option<String>, credentials: Credentials) -> Self {
        Self {
            http,
            base: base
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            credentials,
        }
    }

    async fn call(
        &self,
        action: &str,
        path: &str,
        mut body: serde_json::Value,
    ) -> Result<Status, DnsError> {
        body["apikey"] = self.credentials.api_key.clone().into();
        body["secretapikey"] = self.credentials.secret_api_key.clone().into();
        let (status, text) = send(
            NAME,
            action,
            self.http.post(format!("{}{path}", self.base)).json(&body),
        )
        .await?;
        let answer: Status = parse(NAME, action, status, &text)?;
        if answer.status != "SUCCESS" {
            return Err(DnsError::Api {
                provider: NAME,
                action: action.to_owned(),
                status,
                body: truncate(&text),
            });
        }
        Ok(answer)
    }
}

#[async_trait]
impl DnsProvider for Porkbun {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn zone_named(&self, name: &str) -> Result<Option<Zone>, DnsError> {
        // Porkbun has no "get domain"; retrieving its records succeeds exactly when the
        // account holds the domain with API access on. It answers 400 otherwise.
        match self
            .call(
                &format!("looking up domain {name}"),
                &format!("/dns/retrieve/{name}"),
                json!({}),
            )
            .await
        {
            Ok(_) => Ok(Some(Zone {
                name: name.to_owned(),
                id: name.to_owned(),
            })),
            Err(DnsError::Api { status, body, .. })
                if status == 400 && body.contains("Invalid domain") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn create_txt(
        &self,
        zone: &Zone,
        fqdn: &str,
        value: &str,
    ) -> Result<TxtRecord, DnsError> {
        let answer = self
            .call(
                &format!("creating TXT {fqdn}"),
                &format!("/dns/create/{}", zone.name),
                json!({
                    "name": relative_name(fqdn, &zone.name).replace('@', ""),
                    "type": "TXT",
                    "content": value,
                    "ttl": TTL,
                }),
            )
            .await?;
        let id = match answer.id {
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => {
                return Err(DnsError::Api {
                    provider: NAME,
                    action: format!("creating TXT {fqdn} (answer has no record id)"),
                    status: 200,
                    body: String::new(),
                });
            }
        };
        Ok(TxtRecord {
            zone: zone.name.clone(),
            zone_id: zone.id.clone(),
            fqdn: fqdn.to_owned(),
            value: value.to_owned(),
            id,
        })
    }

    async fn delete_txt(&self, record: &TxtRecord) -> Result<(), DnsError> {
        self.call(
            &format!("deleting TXT {} (id {})", record.fqdn, record.id),
            &format!("/dns/delete/{}/{}", record.zone, record.id),
            json!({}),
        )
        .await
        .map(|_| ())
    }
}
