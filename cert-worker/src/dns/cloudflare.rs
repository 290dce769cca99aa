//! Cloudflare's v4 API, as Cloudflare's own `cloudflare` crate defines it, with an API
//! token that has `Zone:Read` and `DNS:Edit` on the zones it serves.
//!
//! The crate's endpoint definitions decide each call — method, path, JSON body
//! (`CreateDnsRecord`, `DeleteDnsRecord`) — and its types read the answers
//! (`ApiSuccess<DnsRecord>`, `DeleteDnsRecordResponse`); its token credentials make the
//! header. Two of its parts are not used, for what they cannot do:
//! - its client's error path: the crate reads an error answer's `errors[].code` as a
//!   `u16`, and Cloudflare's DNS errors are five-digit codes (81044 "Record does not
//!   exist", 81057/81058 "identical record already exists"), so such an answer fails to
//!   parse and the client reports the status with an empty error list — the operator
//!   would never see Cloudflare's reason. The requests go through the worker's shared
//!   HTTP client ([`super::send`]), which quotes Cloudflare's answer whole;
//! - its `Zone` type and `ListZones`: `Zone` requires fields the API leaves out or sends
//!   as `null` (`activated_on` of a zone not yet active; `meta` and `plan` vary by
//!   plan), and the worker needs a zone's id and name only ([`FindZone`], an endpoint of
//!   ours on the crate's `EndpointSpec`).

use async_trait::async_trait;
use cloudflare::endpoints::dns::dns::{
    CreateDnsRecord, CreateDnsRecordParams, DeleteDnsRecord, DeleteDnsRecordResponse, DnsContent,
    DnsRecord,
};
use cloudflare::framework::Environment;
use cloudflare::framework::auth::Credentials as Token;
use cloudflare::framework::endpoint::spec::EndpointSpec;
use cloudflare::framework::endpoint::{Method, RequestBody};
use cloudflare::framework::response::{ApiResult, ApiSuccess};
use serde::Deserialize;

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
    environment: Environment,
    token: Token,
}

impl Cloudflare {
    /// A client for `base` (Cloudflare's own API when `None`); `Err` names what is
    /// wrong with a configured base URL.
    pub fn new(
        http: reqwest::Client,
        base: Option<String>,
        c: Credentials,
    ) -> Result<Self, String> {
        let environment = match base {
            None => Environment::Production,
            Some(base) => {
                // Endpoint paths are joined onto the base, which therefore ends in a
                // slash; and the crate unwraps its parse, so it is checked here.
                let base = format!("{}/", base.trim_end_matches('/'));
                let url = url::Url::parse(&base)
                    .map_err(|e| format!("api_base_url {base:?} is not a URL: {e}"))?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(format!(
                        "api_base_url {base:?} must be an http:// or https:// URL with a host"
                    ));
                }
                Environment::Custom(base)
            }
        };
        Ok(Self {
            http,
            environment,
            token: Token::UserAuthToken { token: c.api_token },
        })
    }

    /// Sends the crate's `endpoint` and reads its `result`; a non-2xx answer is a
    /// [`DnsError::Api`] quoting Cloudflare's answer.
    async fn call<E>(&self, action: &str, endpoint: &E) -> Result<E::JsonResponse, DnsError>
    where
        E: EndpointSpec,
        E::JsonResponse: ApiResult,
    {
        let mut request = self
            .http
            .request(endpoint.method(), endpoint.url(&self.environment));
        if let Some(RequestBody::Json(json)) = endpoint.body() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json);
        }
        for (name, value) in self.token.headers() {
            request = request.header(name, value);
        }
        let (status, body) = send(NAME, action, request).await?;
        let answer: ApiSuccess<E::JsonResponse> = parse(NAME, action, status, &body)?;
        Ok(answer.result)
    }
}

/// `GET zones?name=…`: the zones called `name` (at most one), with only what the worker
/// reads of them.
#[derive(Debug)]
struct FindZone<'a> {
    name: &'a str,
}

#[derive(Debug, Deserialize)]
struct ZoneRef {
    id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct ZoneRefs(Vec<ZoneRef>);

impl ApiResult for ZoneRefs {}

impl EndpointSpec for FindZone<'_> {
    type JsonResponse = ZoneRefs;
    type ResponseType = ApiSuccess<ZoneRefs>;

    fn method(&self) -> Method {
        Method::GET
    }

    fn path(&self) -> String {
        "zones".to_owned()
    }

    fn query(&self) -> Option<String> {
        Some(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("name", self.name)
                .finish(),
        )
    }
}

#[async_trait]
impl DnsProvider for Cloudflare {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn zone_named(&self, name: &str) -> Result<Option<Zone>, DnsError> {
        let zones = self
            .call(&format!("looking up zone {name}"), &FindZone { name })
            .await?;
        Ok(zones
            .0
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
        let endpoint = CreateDnsRecord {
            zone_identifier: &zone.id,
            params: CreateDnsRecordParams {
                ttl: Some(TTL),
                priority: None,
                proxied: None,
                name: fqdn,
                content: DnsContent::TXT {
                    content: value.to_owned(),
                },
            },
        };
        let record: DnsRecord = self
            .call(&format!("creating TXT {fqdn}"), &endpoint)
            .await?;
        Ok(TxtRecord {
            zone: zone.name.clone(),
            zone_id: zone.id.clone(),
            fqdn: fqdn.to_owned(),
            value: value.to_owned(),
            id: record.id,
        })
    }

    async fn delete_txt(&self, record: &TxtRecord) -> Result<(), DnsError> {
        let endpoint = DeleteDnsRecord {
            zone_identifier: &record.zone_id,
            identifier: &record.id,
        };
        let action = format!("deleting TXT {} (id {})", record.fqdn, record.id);
        match self.call::<_>(&action, &endpoint).await {
            Ok(DeleteDnsRecordResponse { .. }) => Ok(()),
            // Already gone (Cloudflare: 404, code 81044): what deleting it was for.
            Err(DnsError::Api { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Json;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{delete, get, post};
    use serde_json::{Value, json};

    use super::*;

    /// A record as Cloudflare answers it (`POST /zones/{id}/dns_records`).
    fn record(name: &str, content: &str) -> Value {
        json!({
            "id": "372e67954025e0ba6aaa6d586b9e0b59",
            "zone_id": "023e105f4ecef8ad9ca31a8372d0c353",
            "zone_name": "example.com",
            "name": name,
            "type": "TXT",
            "content": content,
            "proxiable": false,
            "proxied": false,
            "ttl": 60,
            "settings": {},
            "meta": {},
            "comment": null,
            "tags": [],
            "created_on": "2026-12-06T10:00:00.000000Z",
            "modified_on": "2026-12-06T10:00:00.000000Z"
        })
    }

    async fn fake() -> String {
        let app = axum::Router::new()
            .route(
                "/client/v4/zones",
                get(|| async {
                    // A zone not yet active: `activated_on` is null (the crate's own
                    // `Zone` type refuses this).
                    Json(json!({"success": true, "errors": [], "messages": [],
                        "result": [{"id": "023e105f4ecef8ad9ca31a8372d0c353",
                            "name": "example.com", "status": "pending",
                            "activated_on": null, "paused": false}],
                        "result_info": {"page": 1, "per_page": 20, "count": 1, "total_count": 1}}))
                }),
            )
            .route(
                "/client/v4/zones/{zone}/dns_records",
                post(|headers: HeaderMap, Json(body): Json<Value>| async move {
                    assert_eq!(headers["authorization"], "Bearer tok");
                    assert_eq!(body["type"], "TXT");
                    assert_eq!(body["ttl"], 60);
                    if body["content"] == "dup" {
                        return (
                            StatusCode::BAD_REQUEST,
                            Json(json!({"success": false, "messages": [], "result": null,
                                "errors": [{"code": 81058, "message": "An identical record already exists."}]})),
                        );
                    }
                    let name = body["name"].as_str().unwrap().to_owned();
                    let content = body["content"].as_str().unwrap().to_owned();
                    (
                        StatusCode::OK,
                        Json(json!({"success": true, "errors": [], "messages": [],
                            "result": record(&name, &content)})),
                    )
                }),
            )
            .route(
                "/client/v4/zones/{zone}/dns_records/{id}",
                delete(|| async {
                    (
                        StatusCode::NOT_FOUND,
                        Json(json!({"success": false, "messages": [], "result": null,
                            "errors": [{"code": 81044, "message": "Record does not exist."}]})),
                    )
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/client/v4")
    }

    fn client(base: String) -> Cloudflare {
        let token = Credentials {
            api_token: "tok".into(),
        };
        Cloudflare::new(super::super::http_client(), Some(base), token).unwrap()
    }

    #[tokio::test]
    async fn records_are_made_and_deleted_with_the_crates_endpoints() {
        let cf = client(fake().await);
        let zone = cf
            .zone_named("example.com")
            .await
            .unwrap()
            .expect("pending zones count");
        assert_eq!(zone.id, "023e105f4ecef8ad9ca31a8372d0c353");
        let made = cf
            .create_txt(&zone, "_acme-challenge.example.com", "v1")
            .await
            .unwrap();
        assert_eq!(made.id, "372e67954025e0ba6aaa6d586b9e0b59");
        // Deleting a record that is already gone (404, code 81044) succeeds.
        cf.delete_txt(&made).await.unwrap();
    }

    #[tokio::test]
    async fn cloudflares_five_digit_error_codes_reach_the_operator() {
        let cf = client(fake().await);
        let zone = Zone {
            name: "example.com".into(),
            id: "023e105f4ecef8ad9ca31a8372d0c353".into(),
        };
        let error = cf
            .create_txt(&zone, "_acme-challenge.example.com", "dup")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("HTTP 400"), "{error}");
        assert!(error.contains("81058"), "{error}");
        assert!(
            error.contains("An identical record already exists."),
            "{error}"
        );
        assert!(!error.contains("tok\""), "{error}");
    }

    #[test]
    fn a_base_url_that_is_not_one_is_named() {
        for bad in ["not a url", "ftp://example.com/", "file:///tmp"] {
            let token = Credentials {
                api_token: "tok".into(),
            };
            let Err(problem) = Cloudflare::new(reqwest::Client::new(), Some(bad.into()), token)
            else {
                panic!("{bad} was accepted");
            };
            assert!(problem.contains("api_base_url"), "{problem}");
        }
    }
}
