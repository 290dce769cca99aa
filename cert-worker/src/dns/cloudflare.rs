//! Cloudflare's v4 API (`https://api.cloudflare.com/client/v4`), with an API token
//! that has `Zone:Read` and `DNS:Edit` on the zones it serves.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{DnsError, DnsProvider, TxtRecord, Zone, parse, send};

pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";
const NAME: &str = "cloudflare";
/// Cloudflare's lowest TTL: the record is gone from caches soon after it is deleted.
const TTL: u32 = 60;

#[derive(Deserialize)]
pub struct Credentials {
    pub api_token: String,
}

pub struct Cloudflare {
    http: reqwest::Client,
    base: String,
    token: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    result: T,
}

#[derive(Deserialize)]
struct Item {
    id: String,
    #[serde(default)]
    name: String,
}

impl Cloudflare {
    pub fn new(http: reqwest::Client, base: Option<String>, c: Credentials) -> Self {
        Self {
            http,
            base: base
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            token: c.api_token,
        }
    }
}

#[async_trait]
impl DnsProvider for Cloudflare {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn zone_named(&self, name: &str) -> Result<Option<Zone>, DnsError> {
        let action = format!("looking up zone {name}");
        let (status, body) = send(
            NAME,
            &action,
            self.http
                .get(format!("{}/zones", self.base))
                .query(&[("name", name)])
                .bearer_auth(&self.token),
        )
        .await?;
        let zones: Envelope<Vec<Item>> = parse(NAME, &action, status, &body)?;
        Ok(zones
            .result
            .into_iter()
            .find(|z| z.name.eq_ignore_ascii_case(name))
            .map(|z| Zone {
                name: z.name,
                id: z.id,
            }))
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
                .post(format!("{}/zones/{}/dns_records", self.base, zone.id))
                .bearer_auth(&self.token)
                .json(&json!({"type": "TXT", "name": fqdn, "content": value, "ttl": TTL})),
        )
        .await?;
        let record: Envelope<Item> = parse(NAME, &action, status, &body)?;
        Ok(TxtRecord {
            zone: zone.name.clone(),
            zone_id: zone.id.clone(),
            fqdn: fqdn.to_owned(),
            value: value.to_owned(),
            id: record.result.id,
        })
    }

    async fn delete_txt(&self, record: &TxtRecord) -> Result<(), DnsError> {
        let result = send(
            NAME,
            format!("deleting TXT {} (id {})", record.fqdn, record.id),
            self.http
                .delete(format!(
                    "{}/zones/{}/dns_records/{}",
                    self.base, record.zone_id, record.id
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
