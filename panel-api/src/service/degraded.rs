//! Reads while PostgreSQL is down and Redis is up (DESIGN.md, "Degraded mode"): zones
//! from the routing records the proxies serve (rendered upstreams; a named backend's
//! template parameters are not there), domains from a copy the panel keeps in Redis,
//! both marked `"degraded": true`. Writes answer 503 meanwhile (nothing is changed).
//!
//! The services whose reads have such a fallback ([`crate::service::zones::read`],
//! [`crate::service::zones::list_or_degraded`], [`crate::service::domains::read`],
//! [`crate::service::domains::list_or_degraded`]) run it through [`or_degraded`], which
//! asks [`crate::liveness`] whether to try PostgreSQL at all. This module must never
//! write routing keys; those belong to [`crate::service::sync`].

use std::time::Duration;

use fred::prelude::KeysInterface as _;
use serde::Serialize;
use switchyard_shared::model::{BackendSpec, Timeouts, UpstreamSpec};
use switchyard_shared::policy::Policies;
use switchyard_shared::route_match::RouteMatch;
use uuid::Uuid;

use super::credentials::bounded;
use super::domains::DomainView;
use super::zones::ZoneCursor;
use super::{Count, ListQuery, Page, Stores};
use crate::access::Principal;
use crate::error::ApiError;

/// Writes the copy of every domain that degraded reads use; after each domain change
/// and at start. Best-effort: the reconciler rewrites it hourly.
pub async fn publish_domains(state: &Stores, domains: &[DomainView]) {
    let Ok(json) = serde_json::to_string(domains) else {
        return;
    };
    let key = state.store.keys().panel_domains();
    bounded(
        "publishing the domain list",
        state
            .store
            .client()
            .set::<(), _, _>(&key, json, None, None, false),
    )
    .await;
}

/// Reads every domain from PostgreSQL and publishes the copy; best-effort.
pub async fn refresh_domains(state: &Stores) {
    match super::domains::all(&state.db).await {
        Ok(all) => publish_domains(state, &all).await,
        Err(e) => tracing::warn!(error = %e, "cannot read domains to publish for degraded mode"),
    }
}

/// Every domain as last published; `None` when Redis does not answer or has none.
pub async fn domains(state: &Stores) -> Option<Vec<DomainView>> {
    let key = state.store.keys().panel_domains();
    let json: Option<String> = bounded("reading the domain list", state.store.client().get(&key))
        .await
        .flatten();
    serde_json::from_str(&json?).ok()
}

/// The most specific domain `hostname` lies within (the same rule as the database's).
fn domain_of<'a>(domains: &'a [DomainView], hostname: &str) -> Option<&'a DomainView> {
    let mut rest = hostname;
    loop {
        if let Some(d) = domains.iter().find(|d| d.name == rest) {
            return Some(d);
        }
        rest = rest.split_once('.')?.1;
    }
}

/// A page of a degraded list: the usual page, marked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DegradedPage<T> {
    #[serde(flatten)]
    pub page: Page<T>,
    pub degraded: bool,
}

/// A zone as Redis holds it: what the proxies serve.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DegradedZone {
    pub id: String,
    pub domain_id: Option<Uuid>,
    pub hostname: String,
    pub path_prefix: String,
    /// The upstreams as rendered; a named backend's name is in `named_backend`.
    pub backend: BackendSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_backend: Option<String>,
    pub force_https: bool,
    pub preserve_host: bool,
    pub allow: Vec<String>,
    pub timeouts: Timeouts,
    /// As the record holds them (normalised), but basic-auth users by username only:
    /// hashes are never returned. Absent when the route has none.
    #[serde(skip_serializing_if = "Policies::is_empty")]
    pub policies: Policies,
    /// The route's match conditions, as the record holds them. Absent when none.
    #[serde(rename = "match", skip_serializing_if = "RouteMatch::is_empty")]
    pub matching: RouteMatch,
    /// Their canonical JSON, the third part of the zone's identity (for the order).
    #[serde(skip)]
    pub match_key: String,
    pub degraded: bool,
}

/// Every zone in Redis the principal may read, ordered like the database's list.
async fn readable_zones(state: &Stores, principal: &Principal) -> Option<Vec<DegradedZone>> {
    let domains = domains(state).await.unwrap_or_default();
    let snapshot = tokio::time::timeout(Duration::from_secs(10), state.store.snapshot())
        .await
        .ok()?
        .ok()?;
    let readable = principal.domains(crate::access::Level::Read);
    let mut out = Vec::new();
    for record in snapshot.zones {
        let hostname = record.host.as_str().to_owned();
        let domain_id = domain_of(&domains, &hostname).map(|d| d.id);
        let allowed = match domain_id {
            Some(id) => readable.contains(id),
            None => principal.is_admin(),
        };
        if !allowed {
            continue;
        }
        for route in record.routes {
            let backend = if route.upstreams.is_empty() {
                BackendSpec::None
            } else {
                BackendSpec::Upstreams {
                    upstreams: route
                        .upstreams
                        .iter()
                        .map(|u| UpstreamSpec {
                            url: u.url.as_str().to_owned(),
                            weight: u.weight,
                        })
                        .collect(),
                }
            };
            let match_key = route.match_key();
            out.push(DegradedZone {
                id: route.zone_id.clone(),
                domain_id,
                hostname: hostname.clone(),
                path_prefix: route.path_prefix.as_str().to_owned(),
                backend,
                named_backend: route.named_backend.clone(),
                force_https: route.force_https,
                preserve_host: route.preserve_host,
                allow: route.allow.iter().map(|n| n.to_string()).collect(),
                timeouts: route.timeouts,
                policies: route.policies.map(|p| p.redacted()).unwrap_or_default(),
                match_key,
                matching: route.matching.map(|m| *m).unwrap_or_default(),
                degraded: true,
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.hostname, &a.path_prefix, &a.match_key, &a.id).cmp(&(
            &b.hostname,
            &b.path_prefix,
            &b.match_key,
            &b.id,
        ))
    });
    Some(out)
}

fn page_of<T>(items: Vec<T>, query: &ListQuery) -> DegradedPage<T> {
    let count = Count::exact(items.len() as u64);
    let items = items
        .into_iter()
        .skip(query.offset() as usize)
        .take(query.limit() as usize)
        .collect();
    DegradedPage {
        page: Page::new(items, count, query),
        degraded: true,
    }
}

fn matches(query: &ListQuery, text: &str) -> bool {
    query
        .q
        .as_deref()
        .filter(|q| !q.is_empty())
        .is_none_or(|q| text.contains(&q.to_lowercase()))
}

/// `GET /zones` from Redis. `None`: Redis cannot answer either.
pub async fn zone_list(
    state: &Stores,
    principal: &Principal,
    query: &ListQuery,
    after: Option<&ZoneCursor>,
    domain_id: Option<Uuid>,
) -> Option<DegradedPage<DegradedZone>> {
    let zones: Vec<DegradedZone> = readable_zones(state, principal)
        .await?
        .into_iter()
        .filter(|z| matches(query, &z.hostname))
        .filter(|z| domain_id.is_none() || z.domain_id == domain_id)
        .collect();
    // Counted before the cursor, as the database list does.
    let count = Count::exact(zones.len() as u64);
    let start = after.map_or(0, |c| {
        zones.partition_point(|z| {
            (
                z.hostname.as_str(),
                z.path_prefix.as_str(),
                z.match_key.as_str(),
            ) <= (
                c.hostname.as_str(),
                c.path_prefix.as_str(),
                c.match_key.as_str(),
            )
        })
    });
    let rest = &zones[start..];
    let offset = (query.offset() as usize).min(rest.len());
    let end = (offset + query.limit() as usize).min(rest.len());
    let next = (end < rest.len()).then(|| {
        let last = &rest[end - 1];
        ZoneCursor {
            hostname: last.hostname.clone(),
            path_prefix: last.path_prefix.clone(),
            match_key: last.match_key.clone(),
        }
        .encode()
    });
    Some(DegradedPage {
        page: Page {
            next,
            ..Page::new(rest[offset..end].to_vec(), count, query)
        },
        degraded: true,
    })
}

/// `GET /zones/{id}` from Redis: `Some(None)` when it is not there (or not readable).
pub async fn zone(state: &Stores, principal: &Principal, id: Uuid) -> Option<Option<DegradedZone>> {
    let id = id.to_string();
    Some(
        readable_zones(state, principal)
            .await?
            .into_iter()
            .find(|z| z.id == id),
    )
}

/// A domain as last published, marked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DegradedDomain {
    #[serde(flatten)]
    pub domain: DomainView,
    pub degraded: bool,
}

fn readable_domains(all: Vec<DomainView>, principal: &Principal) -> Vec<DegradedDomain> {
    let readable = principal.domains(crate::access::Level::Read);
    let mut out: Vec<DegradedDomain> = all
        .into_iter()
        .filter(|d| readable.contains(d.id))
        .map(|domain| DegradedDomain {
            domain,
            degraded: true,
        })
        .collect();
    out.sort_by(|a, b| a.domain.name.cmp(&b.domain.name));
    out
}

pub async fn domain_list(
    state: &Stores,
    principal: &Principal,
    query: &ListQuery,
) -> Option<DegradedPage<DegradedDomain>> {
    let all = domains(state).await?;
    let items = readable_domains(all, principal)
        .into_iter()
        .filter(|d| matches(query, &d.domain.name))
        .collect();
    Some(page_of(items, query))
}

pub async fn domain(
    state: &Stores,
    principal: &Principal,
    id: Uuid,
) -> Option<Option<DegradedDomain>> {
    let all = domains(state).await?;
    Some(
        readable_domains(all, principal)
            .into_iter()
            .find(|d| d.domain.id == id),
    )
}

/// Runs a database read unless PostgreSQL is known to be down (then answers 503 at
/// once, for the caller's degraded path); a read that finds it unreachable marks it so.
pub async fn unless_down<T>(
    state: &Stores,
    read: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    if !state.liveness.db_up() {
        return Err(ApiError::Unavailable(crate::error::DB_DOWN));
    }
    let result = read.await;
    if matches!(result, Err(ApiError::Unavailable(_))) {
        state.liveness.set_db_up(false);
    }
    result
}

/// What a read with a degraded fallback found.
pub enum Found<T, D> {
    /// In PostgreSQL.
    Stored(T),
    /// In Redis, while PostgreSQL is unreachable.
    Degraded(D),
}

/// A read from PostgreSQL, or — while PostgreSQL is unreachable — the same read from
/// Redis: `fallback` gives `Some(Some(_))` (found, marked degraded), `Some(None)` (not
/// there or not readable: 404) or `None` (Redis cannot say either: the original 503).
pub async fn or_degraded<T, D, F>(
    state: &Stores,
    read: impl Future<Output = Result<T, ApiError>>,
    fallback: impl FnOnce() -> F,
) -> Result<Found<T, D>, ApiError>
where
    F: Future<Output = Option<Option<D>>>,
{
    match unless_down(state, read).await {
        Ok(view) => Ok(Found::Stored(view)),
        Err(ApiError::Unavailable(why)) => match fallback().await {
            Some(Some(view)) => Ok(Found::Degraded(view)),
            Some(None) => Err(ApiError::NotFound),
            None => Err(ApiError::Unavailable(why)),
        },
        Err(e) => Err(e),
    }
}
