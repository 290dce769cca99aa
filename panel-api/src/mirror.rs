//! Schemas of types `switchyard-shared` defines outside its model (in `fleet` and
//! `flat`), which have no `ToSchema` of their own; a test compares each with what the
//! real type serialises, so they cannot drift unnoticed.
//!
//! It depends on nothing else in the crate: the services, the handlers and the OpenAPI
//! document all refer to it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One proxy as the fleet view shows it (`switchyard_shared::fleet::ProxyView`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyView {
    pub id: String,
    /// The version its snapshot reflects (the same as `applied_version`).
    pub version: u64,
    /// The version its snapshot reflects.
    pub applied_version: u64,
    /// When it applied that version (the proxy's clock; published right after it
    /// applies a new version). Minus a write's `committed_at`: how long the write
    /// took to go live on this proxy.
    #[serde(with = "time::serde::rfc3339")]
    pub applied_at: time::OffsetDateTime,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_secs: f64,
    /// Its heartbeat is old: stopped, or cut off from Redis.
    pub stale: bool,
    /// Fresh, and applying the version Redis holds now.
    pub current: bool,
    pub zones: u64,
    pub certs: u64,
    /// The highest Redis data format it reads: 1 for proxies older than format 2
    /// (route policies and match conditions), which the panel does not write while
    /// such a proxy is live.
    pub reads_format: u32,
    /// Upstream endpoints it judges down (by its TCP check, passive ejection, or a
    /// route's HTTP `health_check`); its admin API's `GET /upstreams?down=1` lists
    /// them. 0 from proxies that do not report it.
    pub endpoints_down: u64,
    /// A proxy reading a Redis replica (`--redis-read-url`): how many versions its
    /// snapshot was behind the primary at its last heartbeat. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_versions_behind: Option<u64>,
}

/// The routes of one hostname pattern as Redis holds them under `zone:<pattern>`
/// (`switchyard_shared::model::HostRecord`): what the proxies read.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneRecord {
    pub host: String,
    /// One route per (path prefix, match conditions).
    pub routes: Vec<RouteRecord>,
}

/// One route of a [`ZoneRecord`] (`switchyard_shared::model::Route`): named backends
/// already rendered to upstreams.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRecord {
    pub zone_id: String,
    pub path_prefix: String,
    /// Empty: the proxy answers 503 "service not configured for this host".
    pub upstreams: Vec<UpstreamRecord>,
    /// The named backend the upstreams were rendered from (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named_backend: Option<String>,
    pub force_https: bool,
    pub preserve_host: bool,
    /// Client networks allowed; empty allows everyone.
    pub allow: Vec<String>,
    pub timeouts: switchyard_shared::model::Timeouts,
    /// The route's policies, normalised (as shown: basic-auth users by username only,
    /// the hash the record holds is never returned); absent when
    /// it has none (such a record is data format 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<switchyard_shared::policy::Policies>,
    /// What a request must also meet besides host and path prefix, normalised;
    /// absent when nothing (such a record is data format 1).
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub matching: Option<switchyard_shared::route_match::RouteMatch>,
}

/// One upstream of a [`RouteRecord`] (`switchyard_shared::model::Upstream`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamRecord {
    pub url: String,
    pub weight: u32,
}

/// A certificate that expires soon (`switchyard_shared::fleet::ExpiringCert`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpiringCert {
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: time::OffsetDateTime,
    /// Below 0 once expired.
    pub days_left: f64,
    pub source: switchyard_shared::certs::CertSource,
    pub why: ExpiryWhy,
    /// With `renewal_failing`: the last attempt's error, in the CA's or the DNS
    /// provider's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a certificate near its expiry has not been replaced
/// (`switchyard_shared::fleet::ExpiryWhy`): `renewal_failing` (issued; the cert
/// worker's attempts fail, `error` says how), `not_renewable` (uploaded: upload its
/// successor), `renewal_scheduled` (issued; queued or under way, nothing failed),
/// `renewal_unknown` (issued; PostgreSQL was not read).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryWhy {
    RenewalFailing,
    NotRenewable,
    RenewalScheduled,
    RenewalUnknown,
}

/// One `domain[:service]` entry (`switchyard_shared::flat::FlatDomain`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlatDomain {
    pub domain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// One `name:host:port` entry (`switchyard_shared::flat::FlatService`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlatService {
    pub name: String,
    pub host: String,
    pub port: i64,
}

/// The flat form as a document (`switchyard_shared::flat::FlatConfig`); `null`
/// entries stand for the empty entries of the environment form.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlatConfig {
    #[serde(default)]
    pub domains: Vec<Option<FlatDomain>>,
    #[serde(default)]
    pub services: Vec<Option<FlatService>>,
}

/// `POST /import/flat`'s body (`crate::service::transfer::FlatInput`): the two
/// variables' values, or the equivalent document.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum FlatInput {
    Env(FlatEnvInput),
    Document(FlatConfig),
}

/// `{"env": {...}}` and nothing else (a struct of its own: an untagged enum's struct
/// variant would take unknown fields).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlatEnvInput {
    pub env: FlatEnv,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlatEnv {
    #[serde(default)]
    pub domains: String,
    #[serde(default)]
    pub services: String,
}
