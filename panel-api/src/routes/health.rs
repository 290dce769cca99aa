use std::time::Duration;

use axum::Json;
use axum::extract::State;
use fred::prelude::ClientLike as _;
use serde::Serialize;
use switchyard_shared::fleet::{EXPIRY_WARNING, ExpiringCert, ExpiryWhy, Fleet, ProxyView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// A health probe must answer quickly even when a dependency hangs.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when every part below is fine, `degraded` otherwise; `problems` says why.
    pub status: &'static str,
    pub problems: Vec<String>,
    /// Worth knowing, but not a degradation of the platform: upstream endpoints the
    /// proxies judge down ("proxy \"p1\": 3 upstream endpoints down"). A backend's
    /// health is its owner's; with thousands of hostnames some backend is always
    /// down, and the panel's own status must not cry wolf.
    pub notices: Vec<String>,
    pub postgres: &'static str,
    pub redis: &'static str,
    /// Since when PostgreSQL has been failing, as this panel saw it (the first
    /// failure after it last answered); `null` while it answers.
    #[serde(with = "time::serde::rfc3339::option")]
    pub postgres_down_since: Option<time::OffsetDateTime>,
    /// Since when Redis has been failing, as this panel saw it; `null` while it
    /// answers.
    #[serde(with = "time::serde::rfc3339::option")]
    pub redis_down_since: Option<time::OffsetDateTime>,
    /// `up` (heartbeat fresher than 3 beats), `down`, or `unknown` (Redis down).
    pub cert_worker: &'static str,
    pub cert_worker_heartbeat_age_secs: Option<f64>,
    /// The version Redis holds; `None` when Redis is down.
    pub version: Option<u64>,
    /// Each proxy's applied version, heartbeat age, and whether it is current.
    #[schema(value_type = Vec<crate::mirror::ProxyView>)]
    pub proxies: Vec<ProxyView>,
    /// Certificates served that expire within 30 days (or have expired), soonest first,
    /// each with its source and why it is not replaced yet.
    #[schema(value_type = Vec<crate::mirror::ExpiringCert>)]
    pub expiring_certificates: Vec<ExpiringCert>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// Always 200 while the panel runs: the body says which part is down, because the
/// panel still does useful work with either store missing. Nothing in it is secret;
/// the panel itself should not face the internet.
#[utoipa::path(
    get, path = "/health", tag = "health", security(()),
    responses((status = 200, description = "Always, while the panel runs; `status` says whether anything is degraded", body = Health))
)]
async fn health(State(state): State<AppState>) -> Json<Health> {
    // The same probe as the database watcher's: it also follows a failover.
    let postgres = tokio::time::timeout(PROBE_TIMEOUT, state.liveness.probe());
    let redis = tokio::time::timeout(PROBE_TIMEOUT, async {
        state.store.client().ping::<String>(None).await?;
        let fleet = state.store.fleet().await?;
        let expiring = state.store.expiring_certs(EXPIRY_WARNING).await?;
        Ok::<_, switchyard_shared::StoreError>((fleet, expiring))
    });
    let (postgres, redis) = tokio::join!(postgres, redis);
    let postgres_up = matches!(postgres, Ok(true));
    let mut redis = match redis {
        Ok(Ok(found)) => Some(found),
        _ => None,
    };
    // Why each issued certificate is still expiring is PostgreSQL's to say; without it
    // they stay `renewal_unknown`.
    if let (true, Some((_, expiring))) = (postgres_up, redis.as_mut()) {
        let explained = tokio::time::timeout(
            PROBE_TIMEOUT,
            crate::service::expiry::explain(&state.db, expiring),
        )
        .await;
        if !matches!(explained, Ok(Ok(()))) {
            tracing::warn!(
                "health: the renewal state of expiring certificates could not be read from PostgreSQL"
            );
        }
    }
    use crate::liveness::Dependency;
    let mut health = verdict(Some(postgres_up), redis);
    // The database watcher notices an outage within a second; the probe here may be
    // the first to see it (or to see it end).
    health.postgres_down_since = state
        .liveness
        .outages()
        .note(Dependency::Postgres, postgres_up);
    health.redis_down_since = state
        .liveness
        .outages()
        .note(Dependency::Redis, health.redis == "up");
    Json(health)
}

/// The overall verdict from what the probes found; `postgres` is `None` when it was
/// not checked (the status command without a database URL).
pub fn verdict(postgres: Option<bool>, redis: Option<(Fleet, Vec<ExpiringCert>)>) -> Health {
    let up = |ok: bool| if ok { "up" } else { "down" };
    let mut problems = Vec::new();
    if postgres == Some(false) {
        problems.push(
            "PostgreSQL does not answer: reads come from Redis, writes answer 503".to_owned(),
        );
    }
    let mut health = Health {
        status: "ok",
        problems: Vec::new(),
        notices: Vec::new(),
        postgres: postgres.map_or("unchecked", up),
        redis: up(redis.is_some()),
        postgres_down_since: None,
        redis_down_since: None,
        cert_worker: "unknown",
        cert_worker_heartbeat_age_secs: None,
        version: None,
        proxies: Vec::new(),
        expiring_certificates: Vec::new(),
    };
    match redis {
        None => problems.push(
            "Redis does not answer: changes are kept in PostgreSQL and written once it is back"
                .to_owned(),
        ),
        Some((fleet, expiring)) => {
            // The worker's heartbeat key expires after three missed beats.
            let fresh = fleet.cert_worker_heartbeat_age_secs.is_some();
            health.cert_worker = up(fresh);
            if !fresh {
                problems.push("the cert worker has no recent heartbeat: certificates are not being issued or renewed".to_owned());
            }
            for p in fleet
                .proxies
                .iter()
                .filter(|p| !p.stale && p.endpoints_down > 0)
            {
                health.notices.push(format!(
                    "proxy \"{}\": {} upstream endpoint{} down (its admin API lists them: GET /upstreams?down=1)",
                    p.id,
                    p.endpoints_down,
                    if p.endpoints_down == 1 { "" } else { "s" }
                ));
            }
            for p in &fleet.proxies {
                if p.stale {
                    problems.push(format!(
                        "proxy \"{}\" last reported {:.0} s ago (stopped or cut off from Redis; remove its entry from the proxies hash if it is retired)",
                        p.id, p.heartbeat_age_secs
                    ));
                } else if !p.current {
                    problems.push(format!(
                        "proxy \"{}\" applies version {} of {}",
                        p.id, p.version, fleet.version
                    ));
                }
            }
            problems.extend(fleet.unreadable.iter().cloned());
            for c in &expiring {
                problems.push(format!(
                    "{} certificate \"{}\" expires in {:.1} days: {}",
                    c.source.as_str(),
                    c.name,
                    c.days_left,
                    expiry_why_text(c)
                ));
            }
            health.cert_worker_heartbeat_age_secs = fleet.cert_worker_heartbeat_age_secs;
            health.version = Some(fleet.version);
            health.proxies = fleet.proxies;
            health.expiring_certificates = expiring;
        }
    }
    if !problems.is_empty() {
        health.status = "degraded";
    }
    health.problems = problems;
    health
}

/// Why an expiring certificate is not replaced yet, in words (the health problems and
/// the status command).
pub fn expiry_why_text(c: &ExpiringCert) -> String {
    match c.why {
        ExpiryWhy::RenewalFailing => format!(
            "renewal failing: {}",
            c.error.as_deref().unwrap_or("no error recorded")
        ),
        ExpiryWhy::NotRenewable => {
            "uploaded, never renewed automatically: upload its successor".to_owned()
        }
        ExpiryWhy::RenewalScheduled => "renewal scheduled".to_owned(),
        ExpiryWhy::RenewalUnknown => "renewal state unknown (PostgreSQL not read)".to_owned(),
    }
}
