//! DigitalOcean's v2 API (`https://api.digitalocean.com/v2`), with a personal access
//! token that may write domains.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{DnsError, DnsProvider, TxtRecord, Zone, parse, relative_name, send};

pub const DEFAULT_BASE_URL: &str = "https://api.digitalocean.com/v2";
const NAME: &str = "digitalocean";
/// DigitalOcean's lowest TTL.
const TTL: u32 = 30;

#[derive(Deserialize)]
pub struct Credentials {
    pub token: String,
}

pub struct DigitalOcean {
    http: reqwest::Client,
    base: String,
    token: String,
}

#[derive(Deserialize)]
struct DomainEnvelope {
    domain: DomainItem,
}

#[derive(Deserialize)]
struct DomainItem {
    name: String,
}

#[derive(Deserialize)]
struct RecordEnvelope {
    domain_record: RecordItem,
}

#[derive(Deserialize)]
struct RecordItem {
    id: u64,
}

impl DigitalOcean {
    pub fn new(http: reqwest::Client, base: Option<String>, c: Credentials) -> Self {
        Self {
            http,
            base: base
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            token: c.token,
        }
    }
}

#[async_trait]
impl DnsProvider for DigitalOcean {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn zone_named(&self, name: &str) -> Result<Option<Zone>, DnsError> {
        let action = format!("looking up domain {name}");
        let result = send(
            NAME,
            &action,
            self.http
                .get(format!("{}/domains/{name}", self.base))
                .bearer_auth(&self.token),
        )
        .await;
        match result {
            Ok((status, body)) => {
                let d: DomainEnvelope = parse(NAME, &action, status, &body)?;
                Ok(Some(Zone {
                    id: d.domain.name.clone(),
                    name: d.domain.name,
                }))
            }
            Err(DnsError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_txt(
        &self,
        zone: &Zone,
        fqdn: &str,
        value: &str,
    ) -> Result<TxtRecord, DnsError> {
        let action = format!("creating TXT {fqdn}");
        let (status, body) = send(
            NAME,
            &action,
            self.http
                .post(format!("{}/domains/{}/records", self.base, zone.name))
                .bearer_auth(&self.token)
                .json(&json!({
                    "type": "TXT",
                    "name": relative_name(fqdn, &zone.name),
                    "data": value,
                    "ttl": TTL,
                })),
        )
        .await?;
        let record: RecordEnvelope = parse(NAME, &action, status, &body)?;
        Ok(TxtRecord {
            zone: zone.name.clone(),
            zone_id: zone.id.clone(),
            fqdn: fqdn.to_owned(),
            value: value.to_owned(),
            id: record.domain_record.id.to_string(),
        })
    }

    async fn delete_txt(&self, record: &TxtRecord) -> Result<(), DnsError> {
        let result = send(
            NAME,
            format!("deleting TXT {} (id {})", record.fqdn, record.id),
            self.http
                .delete(format!(
                    "{}/domains/{}/records/{}",
                    self.base, record.zone, record.id
                ))
                .bearer_auth(&self.token),
        )
        .await;
        match result {
            Ok(_) | Err(DnsError::Api { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
