//! HTTP handlers, one router per resource. Each handler is HTTP in → permission check
//! ([`crate::auth::authorize`], directly or inside the service where the answer depends
//! on the row: a zone's domain) → one service call → HTTP out.

pub mod revisions;

pub mod health {
    use std::time::Duration;

    use axum::Json;
    use axum::extract::State;
    use fred::prelude::ClientLike as _;
    use serde::Serialize;
    use switchyard_shared::fleet::{EXPIRY_WARNING, ExpiringCert, Fleet, ProxyView};
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;

    use crate::app::AppState;

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
        #[schema(value_type = Vec<crate::openapi::mirror::ProxyView>)]
        pub proxies: Vec<ProxyView>,
        /// Certificates served that expire within 30 days (or have expired).
        #[schema(value_type = Vec<crate::openapi::mirror::ExpiringCert>)]
        pub expiring_certificates: Vec<ExpiringCert>,
    }

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(health))
            .routes(routes!(crate::openapi::serve))
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
        let postgres = tokio::time::timeout(PROBE_TIMEOUT, crate::degraded::probe_database(&state));
        let redis = tokio::time::timeout(PROBE_TIMEOUT, async {
            state.store.client().ping::<String>(None).await?;
            let fleet = state.store.fleet().await?;
            let expiring = state.store.expiring_certs(EXPIRY_WARNING).await?;
            Ok::<_, switchyard_shared::StoreError>((fleet, expiring))
        });
        let (postgres, redis) = tokio::join!(postgres, redis);
        let postgres_up = matches!(postgres, Ok(true));
        let redis = match redis {
            Ok(Ok(found)) => Some(found),
            _ => None,
        };
        use crate::app::Dependency;
        let mut health = verdict(Some(postgres_up), redis);
        // The database watcher notices an outage within a second; the probe here may be
        // the first to see it (or to see it end).
        health.postgres_down_since = state.outages.note(Dependency::Postgres, postgres_up);
        health.redis_down_since = state.outages.note(Dependency::Redis, health.redis == "up");
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
                        "certificate \"{}\" expires in {:.1} days",
                        c.name, c.days_left
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
}

pub mod api_keys {
    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    use uuid::Uuid;

    use super::zones::WriteQuery;
    use crate::app::{ApiJson, ApiPath, ApiQuery, AppState, RequestMeta};
    use crate::auth::{Caller, KeyCreator, Need};
    use crate::error::ApiError;
    use crate::service::api_keys::{self as service, ApiKeyView, CreatedApiKey, NewApiKey};
    use crate::service::write::Answer;
    use crate::service::zones::Diff;
    use crate::service::{ListQuery, Page};

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(list, create))
            .routes(routes!(revoke))
    }

    /// Bearer key or HTTP Basic (the bootstrap path); the key is in this answer only.
    /// A dry run answers what it would record, never a key.
    #[utoipa::path(
        post, path = "/api-keys", tag = "api-keys", params(WriteQuery), request_body = NewApiKey,
        security(("bearer" = []), ("session" = [], "csrf" = []), ("basic" = [])),
        responses((status = 201, description = "The key, with its secret shown this once", body = CreatedApiKey), (status = 200, description = "`?dry_run=true`: what it would create (`changes`; no key), nothing changed", body = Diff), (status = 429, response = crate::openapi::TooManyRequests))
    )]
    async fn create(
        State(state): State<AppState>,
        meta: RequestMeta,
        KeyCreator(principal): KeyCreator,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(input): ApiJson<NewApiKey>,
    ) -> Result<Response, ApiError> {
        let caller = Caller::new(principal, meta);
        caller.authorize(Need::Authenticated)?;
        let answer = service::create(
            &state.db,
            &caller.actor(),
            caller.principal.user_id,
            input,
            query.dry_run,
        )
        .await?;
        Ok(answer.respond(StatusCode::CREATED))
    }

    #[utoipa::path(
        get, path = "/api-keys", tag = "api-keys", params(ListQuery),
        responses((status = 200, description = "The caller's keys", body = Page<ApiKeyView>))
    )]
    async fn list(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<ListQuery>,
    ) -> Result<Json<Page<ApiKeyView>>, ApiError> {
        caller.authorize(Need::Authenticated)?;
        Ok(Json(
            service::list(&state.db, caller.principal.user_id, &query).await?,
        ))
    }

    #[utoipa::path(
        delete, path = "/api-keys/{id}", tag = "api-keys", params(("id" = Uuid, Path, description = "The key's id"), WriteQuery),
        responses((status = 204, description = "Revoked"), (status = 200, description = "`?dry_run=true`: the diff (`changes`), nothing changed", body = Diff), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn revoke(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<WriteQuery>,
    ) -> Result<Response, ApiError> {
        caller.authorize(Need::Authenticated)?;
        let answer = service::revoke(
            &state.db,
            &caller.actor(),
            caller.principal.user_id,
            id,
            query.dry_run,
        )
        .await?;
        Ok(match answer {
            Answer::DryRun(diff) => Json(diff).into_response(),
            Answer::Done(digest) => {
                // The revoked key must not live on in degraded mode's memory.
                crate::degraded::forget_auth(&state, &crate::degraded::key_token(&digest)).await;
                StatusCode::NO_CONTENT.into_response()
            }
        })
    }
}

pub mod domains {
    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use serde::Deserialize;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    use uuid::Uuid;

    use super::zones::WriteQuery;
    use crate::app::{ApiJson, ApiPath, ApiQuery, AppState};
    use crate::auth::{Caller, Need};
    use crate::error::ApiError;
    use crate::service::certificates::{self, CertificateView};
    use axum::response::{IntoResponse, Response};

    use crate::degraded;
    use crate::service::ListQuery;
    use crate::service::domains::{self as service, DomainPatch, NewDomain};
    use crate::service::zones::Diff;

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(list, create))
            .routes(routes!(read, update, remove))
            .routes(routes!(certificate))
            .routes(routes!(reissue))
    }

    /// `DELETE /domains/{id}`: `?cascade=true` deletes the domain's zones with it;
    /// `?dry_run=true` answers the diff and changes nothing.
    #[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    #[serde(deny_unknown_fields)]
    pub struct DeleteQuery {
        /// Answer what the delete would do (zones, certificate, grants) and change nothing.
        #[serde(default)]
        pub dry_run: bool,
        /// Delete the zones that use the domain too; without it a domain in use is a 409
        /// naming them.
        #[serde(default)]
        pub cascade: bool,
    }

    /// The domain's wildcard certificate: status, last error, expiry.
    #[utoipa::path(
        get, path = "/domains/{id}/certificate", tag = "domains", params(("id" = Uuid, Path, description = "The domain's id")),
        responses((status = 200, description = "The certificate's status (never key material)", body = CertificateView), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn certificate(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
    ) -> Result<Json<CertificateView>, ApiError> {
        Ok(Json(
            certificates::get(&state.db, &caller.principal, id).await?,
        ))
    }

    /// Starts the certificate's schedule over, due now (edit grant on the domain).
    #[utoipa::path(
        post, path = "/domains/{id}/certificate/reissue", tag = "domains", params(("id" = Uuid, Path, description = "The domain's id"), WriteQuery),
        responses((status = 200, description = "The certificate, due now; with `?dry_run=true` the diff (nothing changed)", body = crate::openapi::CertificateOrDiff), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn reissue(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<WriteQuery>,
    ) -> Result<Response, ApiError> {
        let answer = certificates::reissue(
            &state.db,
            &caller.principal,
            &caller.actor(),
            id,
            query.dry_run,
        )
        .await?;
        Ok(answer.respond(StatusCode::OK))
    }

    #[utoipa::path(
        get, path = "/domains/{id}", tag = "domains", params(("id" = Uuid, Path, description = "The domain's id")),
        responses((status = 200, description = "The domain (marked `degraded` while PostgreSQL is down)", body = crate::openapi::DomainRead), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn read(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
    ) -> Result<Response, ApiError> {
        degraded::read_or_degraded(
            &state,
            service::get(&state.db, &caller.principal, id),
            || degraded::domain(&state, &caller.principal, id),
        )
        .await
    }

    #[utoipa::path(
        post, path = "/domains", tag = "domains", params(WriteQuery), request_body = NewDomain,
        responses((status = 201, description = "Created, with a pending certificate order", body = crate::service::domains::DomainView), (status = 200, description = "`?dry_run=true`: what it would create (`changes`), nothing changed", body = Diff), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict))
    )]
    async fn create(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(input): ApiJson<NewDomain>,
    ) -> Result<Response, ApiError> {
        // Domains are apex names tenants are granted, so only admins create them.
        caller.authorize(Need::Admin)?;
        let answer = service::create(&state.db, &caller.actor(), input, query.dry_run).await?;
        if !answer.is_dry_run() {
            crate::degraded::refresh_domains(&state).await;
        }
        Ok(answer.respond(StatusCode::CREATED))
    }

    /// Changes the domain's DNS credential (admins). The certificate's next attempt uses
    /// it; `POST …/certificate/reissue` makes that now.
    #[utoipa::path(
        patch, path = "/domains/{id}", tag = "domains", params(("id" = Uuid, Path, description = "The domain's id"), WriteQuery), request_body = DomainPatch,
        responses((status = 200, description = "The domain as changed, or with `?dry_run=true` the diff (nothing changed)", body = crate::openapi::DomainOrDiff), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn update(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(patch): ApiJson<DomainPatch>,
    ) -> Result<Response, ApiError> {
        caller.authorize(Need::Admin)?;
        let answer = service::update(&state, &caller.actor(), id, patch, query.dry_run).await?;
        if !answer.is_dry_run() {
            crate::degraded::refresh_domains(&state).await;
        }
        Ok(answer.respond(StatusCode::OK))
    }

    /// Deletes the domain (admins) with its certificate (row, ACME orders, Redis key) and
    /// the grants on it. While zones use it: 409 naming them, unless `cascade=true`,
    /// which deletes them too (their Redis records with them, like any zone delete).
    #[utoipa::path(
        delete, path = "/domains/{id}", tag = "domains", params(("id" = Uuid, Path, description = "The domain's id"), DeleteQuery),
        responses((status = 204, description = "Deleted", headers(("X-Switchyard-Version" = u64, description = "The global Redis version the write produced; absent when Redis did not answer and the change is queued"), ("X-Switchyard-Committed-At" = String, description = "When the change was committed to PostgreSQL (RFC 3339)"))), (status = 200, description = "`?dry_run=true`: the diff — zones `deleted` with their Redis `records`, and the domain, certificate and grants in `changes`; nothing changed", body = Diff), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict))
    )]
    async fn remove(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<DeleteQuery>,
    ) -> Result<Response, ApiError> {
        caller.authorize(Need::Admin)?;
        let diff =
            service::delete(&state, &caller.actor(), id, query.cascade, query.dry_run).await?;
        if diff.dry_run {
            return Ok(Json(diff).into_response());
        }
        crate::degraded::refresh_domains(&state).await;
        // The users who held grants on it: what degraded mode remembers of them is stale.
        for effect in diff.changes.iter().filter(|e| e.action == "grant.delete") {
            if let Some(user) = effect
                .before
                .as_ref()
                .and_then(|b| b["user_id"].as_str())
                .and_then(|u| u.parse().ok())
            {
                crate::degraded::forget_user(&state, user, None).await;
            }
        }
        Ok(super::zones::deleted(&diff))
    }

    /// From Redis, marked `degraded`, while PostgreSQL is unreachable.
    #[utoipa::path(
        get, path = "/domains", tag = "domains", params(ListQuery),
        responses((status = 200, description = "The readable domains (marked `degraded` while PostgreSQL is down)", body = crate::openapi::DomainPage))
    )]
    async fn list(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<ListQuery>,
    ) -> Result<Response, ApiError> {
        caller.authorize(Need::Authenticated)?;
        degraded::read_or_degraded(
            &state,
            service::list(&state.db, &caller.principal, &query),
            || async {
                degraded::domain_list(&state, &caller.principal, &query)
                    .await
                    .map(Some)
            },
        )
        .await
    }
}

pub mod zones {
    use axum::Json;
    use axum::extract::{DefaultBodyLimit, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use serde::Deserialize;
    use switchyard_shared::model::ZoneSpec;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::router::UtoipaMethodRouterExt as _;
    use utoipa_axum::routes;
    use uuid::Uuid;

    use crate::app::{ApiJson, ApiPath, ApiQuery, AppState};
    use crate::auth::Caller;
    use crate::degraded;
    use crate::error::ApiError;
    use crate::service::zones::{
        self as service, BulkRequest, Diff, ZoneListQuery, ZoneView, ZoneWritten,
    };

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(list, create))
            .routes(routes!(bulk).layer(DefaultBodyLimit::max(BULK_BODY_LIMIT)))
            .routes(routes!(read, update, remove))
    }

    /// Largest bulk or import body: 20,000 zones with long upstream lists and CIDR
    /// allow-lists fit; other bodies keep axum's 2 MB default.
    pub const BULK_BODY_LIMIT: usize = 32 << 20;

    /// `?dry_run=true` on every write: answer with the diff, change nothing.
    #[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    #[serde(deny_unknown_fields)]
    pub struct WriteQuery {
        #[serde(default)]
        pub dry_run: bool,
    }

    /// Response headers of a real `DELETE /zones/{id}` (its answer has no body): the
    /// Redis version the write produced (absent when Redis did not answer and the change
    /// is queued) and its commit time (RFC 3339).
    pub const VERSION_HEADER: &str = "x-switchyard-version";
    pub const COMMITTED_AT_HEADER: &str = "x-switchyard-committed-at";

    /// A real write's zone with what the write reports (version, commit time).
    fn written(zone: ZoneView, diff: &Diff) -> ZoneWritten {
        ZoneWritten::new(
            zone,
            diff.version,
            diff.committed_at
                .unwrap_or_else(time::OffsetDateTime::now_utc),
        )
    }

    /// The diff of a dry run (200), or the real answer made from it.
    fn answer(diff: Diff, real: impl FnOnce(Diff) -> Response) -> Response {
        if diff.dry_run {
            (StatusCode::OK, Json(diff)).into_response()
        } else {
            real(diff)
        }
    }

    #[utoipa::path(
        post, path = "/zones", tag = "zones", params(WriteQuery), request_body = ZoneSpec,
        responses((status = 201, description = "Created: the zone as stored, with the Redis version the write produced and its commit time", body = ZoneWritten), (status = 200, description = "`?dry_run=true`: the diff it would apply", body = Diff), (status = 409, response = crate::openapi::ZoneConflict), (status = 503, response = crate::openapi::ZoneUnavailable))
    )]
    async fn create(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(spec): ApiJson<ZoneSpec>,
    ) -> Result<Response, ApiError> {
        // The permission check is the hostname's domain: the service refuses a hostname
        // outside every domain the caller may edit.
        let diff = service::create(
            &state,
            &caller.principal,
            &caller.actor(),
            spec,
            query.dry_run,
        )
        .await?;
        Ok(answer(diff, |mut d| {
            let zone = written(d.created.remove(0), &d);
            (StatusCode::CREATED, Json(zone)).into_response()
        }))
    }

    /// All-or-nothing create / replace / delete of many zones; answers the diff.
    #[utoipa::path(
        post, path = "/zones/bulk", tag = "zones", params(WriteQuery), request_body = BulkRequest,
        responses((status = 200, description = "The diff applied (or, with `?dry_run=true`, that would be)", body = Diff), (status = 409, response = crate::openapi::ZoneConflict), (status = 503, response = crate::openapi::ZoneUnavailable))
    )]
    async fn bulk(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(request): ApiJson<BulkRequest>,
    ) -> Result<Json<Diff>, ApiError> {
        Ok(Json(
            service::bulk(
                &state,
                &caller.principal,
                &caller.actor(),
                request,
                query.dry_run,
            )
            .await?,
        ))
    }

    #[utoipa::path(
        get, path = "/zones", tag = "zones", params(ZoneListQuery),
        responses((status = 200, description = "A page of readable zones (from Redis, marked `degraded`, while PostgreSQL is down)", body = crate::openapi::ZonePage))
    )]
    async fn list(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<ZoneListQuery>,
    ) -> Result<Response, ApiError> {
        let after = query.cursor()?;
        // PostgreSQL down: what the proxies serve, from Redis, marked degraded.
        degraded::read_or_degraded(
            &state,
            service::list(&state.db, &caller.principal, &query),
            || async {
                let page = query.page();
                degraded::zone_list(
                    &state,
                    &caller.principal,
                    &page,
                    after.as_ref(),
                    query.domain_id,
                )
                .await
                .map(Some)
            },
        )
        .await
    }

    #[utoipa::path(
        get, path = "/zones/{id}", tag = "zones", params(("id" = Uuid, Path, description = "The zone's id")),
        responses((status = 200, description = "The zone (from Redis, marked `degraded`, while PostgreSQL is down)", body = crate::openapi::ZoneRead), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn read(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
    ) -> Result<Response, ApiError> {
        degraded::read_or_degraded(
            &state,
            service::get(&state.db, &caller.principal, id),
            || degraded::zone(&state, &caller.principal, id),
        )
        .await
    }

    #[utoipa::path(
        put, path = "/zones/{id}", tag = "zones", params(("id" = Uuid, Path, description = "The zone's id"), WriteQuery), request_body = ZoneSpec,
        responses((status = 200, description = "The zone as stored, or with `?dry_run=true` the diff", body = crate::openapi::ZoneOrDiff), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::ZoneConflict), (status = 503, response = crate::openapi::ZoneUnavailable))
    )]
    async fn update(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(spec): ApiJson<ZoneSpec>,
    ) -> Result<Response, ApiError> {
        let diff = service::update(
            &state,
            &caller.principal,
            &caller.actor(),
            id,
            spec,
            query.dry_run,
        )
        .await?;
        Ok(answer(diff, |mut d| {
            let zone = written(d.changed.remove(0).after, &d);
            Json(zone).into_response()
        }))
    }

    #[utoipa::path(
        delete, path = "/zones/{id}", tag = "zones", params(("id" = Uuid, Path, description = "The zone's id"), WriteQuery),
        responses((status = 204, description = "Deleted", headers(("X-Switchyard-Version" = u64, description = "The global Redis version the write produced; absent when Redis did not answer and the change is queued"), ("X-Switchyard-Committed-At" = String, description = "When the change was committed to PostgreSQL (RFC 3339)"))), (status = 200, description = "`?dry_run=true`: the diff it would apply", body = Diff), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn remove(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<WriteQuery>,
    ) -> Result<Response, ApiError> {
        let diff = service::delete(
            &state,
            &caller.principal,
            &caller.actor(),
            id,
            query.dry_run,
        )
        .await?;
        Ok(answer(diff, |d| deleted(&d)))
    }

    /// A real delete's 204, with the version and commit time headers of the write.
    pub(super) fn deleted(d: &Diff) -> Response {
        let mut headers = axum::http::HeaderMap::new();
        if let Some(v) = d.version {
            headers.insert(VERSION_HEADER, v.into());
        }
        if let Some(at) = d.committed_at.and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        }) && let Ok(value) = axum::http::HeaderValue::from_str(&at)
        {
            headers.insert(COMMITTED_AT_HEADER, value);
        }
        (StatusCode::NO_CONTENT, headers).into_response()
    }
}

pub mod named_backends {
    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    use uuid::Uuid;

    use super::zones::WriteQuery;
    use crate::app::{ApiJson, ApiPath, ApiQuery, AppState};
    use crate::auth::{Caller, Need};
    use crate::error::ApiError;
    use crate::service::named_backends::{
        self as service, BackendDiff, NamedBackendUpdate, NamedBackendView, NewNamedBackend,
    };
    use crate::service::{ListQuery, Page};

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(list, create))
            .routes(routes!(read, update, remove))
    }

    #[utoipa::path(
        post, path = "/named-backends", tag = "named-backends", params(WriteQuery), request_body = NewNamedBackend,
        responses((status = 201, description = "Created", body = NamedBackendView), (status = 200, description = "`?dry_run=true`: the diff it would apply", body = BackendDiff), (status = 409, response = crate::openapi::Conflict))
    )]
    async fn create(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(input): ApiJson<NewNamedBackend>,
    ) -> Result<Response, ApiError> {
        // Anyone may define backends of their own; presets are checked in the service.
        caller.authorize(Need::Authenticated)?;
        let diff = service::create(
            &state,
            &caller.principal,
            &caller.actor(),
            input,
            query.dry_run,
        )
        .await?;
        Ok(if diff.dry_run {
            Json(diff).into_response()
        } else {
            (StatusCode::CREATED, Json(diff.after)).into_response()
        })
    }

    #[utoipa::path(
        get, path = "/named-backends", tag = "named-backends", params(ListQuery),
        responses((status = 200, description = "Presets, the caller's own and those granted to them", body = Page<NamedBackendView>))
    )]
    async fn list(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<ListQuery>,
    ) -> Result<Json<Page<NamedBackendView>>, ApiError> {
        caller.authorize(Need::Authenticated)?;
        Ok(Json(
            service::list(&state.db, &caller.principal, &query).await?,
        ))
    }

    #[utoipa::path(
        get, path = "/named-backends/{id}", tag = "named-backends", params(("id" = Uuid, Path, description = "The named backend's id")),
        responses((status = 200, description = "The named backend", body = NamedBackendView), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn read(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
    ) -> Result<Json<NamedBackendView>, ApiError> {
        Ok(Json(service::get(&state.db, &caller.principal, id).await?))
    }

    /// Answers the diff: the backend before and after, and every zone re-rendered.
    #[utoipa::path(
        put, path = "/named-backends/{id}", tag = "named-backends", params(("id" = Uuid, Path, description = "The named backend's id"), WriteQuery), request_body = NamedBackendUpdate,
        responses((status = 200, description = "The diff: the backend before and after, and every zone re-rendered", body = BackendDiff), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict))
    )]
    async fn update(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(input): ApiJson<NamedBackendUpdate>,
    ) -> Result<Json<BackendDiff>, ApiError> {
        Ok(Json(
            service::update(
                &state,
                &caller.principal,
                &caller.actor(),
                id,
                input,
                query.dry_run,
            )
            .await?,
        ))
    }

    #[utoipa::path(
        delete, path = "/named-backends/{id}", tag = "named-backends", params(("id" = Uuid, Path, description = "The named backend's id"), WriteQuery),
        responses((status = 204, description = "Deleted"), (status = 200, description = "`?dry_run=true`: the diff it would apply", body = BackendDiff), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict))
    )]
    async fn remove(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<WriteQuery>,
    ) -> Result<Response, ApiError> {
        let diff = service::delete(
            &state,
            &caller.principal,
            &caller.actor(),
            id,
            query.dry_run,
        )
        .await?;
        Ok(if diff.dry_run {
            Json(diff).into_response()
        } else {
            StatusCode::NO_CONTENT.into_response()
        })
    }
}

pub mod sessions {
    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum_extra::extract::CookieJar;
    use axum_extra::extract::cookie::Cookie;
    use serde::{Deserialize, Serialize};
    use time::OffsetDateTime;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;

    use super::zones::WriteQuery;
    use crate::app::{ApiJson, ApiQuery, AppState, RequestMeta};
    use crate::auth::{self, CSRF_COOKIE, Caller, Grant, Need, SESSION_COOKIE};
    use crate::degraded;
    use crate::error::ApiError;
    use crate::service::Actor;
    use crate::service::sessions as service;
    use crate::service::users::{self, PasswordChange, UserView};
    use crate::service::write::Answer;

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(login))
            .routes(routes!(logout))
            .routes(routes!(me))
            .routes(routes!(change_password))
    }

    /// The caller changes their own password, proving the current one (403 when wrong;
    /// counted against the login limits, 429 over them). Every other session of theirs
    /// ends; the one this request came with stays valid. API keys stay valid: they are
    /// separate credentials, each revoked on its own (`DELETE /api-keys/{id}`).
    /// `?dry_run=true` checks everything (the current password too) and changes nothing.
    #[utoipa::path(
        post, path = "/me/password", tag = "auth", params(WriteQuery), request_body = PasswordChange,
        responses((status = 204, description = "Changed; the caller's other sessions are revoked"), (status = 200, description = "`?dry_run=true`: the diff, nothing changed", body = crate::service::zones::Diff), (status = 429, response = crate::openapi::TooManyRequests))
    )]
    async fn change_password(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(change): ApiJson<PasswordChange>,
    ) -> Result<axum::response::Response, ApiError> {
        use axum::response::IntoResponse as _;
        caller.authorize(Need::Authenticated)?;
        let addr = caller
            .meta
            .source_addr
            .as_deref()
            .and_then(|a| a.parse().ok());
        let answer = users::change_own_password(
            &state.db,
            &caller.actor(),
            caller.principal.user_id,
            caller.principal.session_id,
            change,
            query.dry_run,
            || state.identity.check_login(&caller.principal.username, addr),
        )
        .await?;
        Ok(match answer {
            Answer::DryRun(diff) => Json(diff).into_response(),
            Answer::Done(view) => {
                // The old password and the other sessions must not live on in degraded
                // mode's memory (this session is remembered again on its next request).
                degraded::forget_user(&state, view.id, Some(&view.username)).await;
                StatusCode::NO_CONTENT.into_response()
            }
        })
    }

    /// `POST /api/v1/auth/login` body.
    #[derive(Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    struct Login {
        username: String,
        password: String,
    }

    #[derive(Serialize, utoipa::ToSchema)]
    struct LoggedIn {
        /// The user (with `"degraded": true` and no times for a login checked against
        /// Redis while the database is down).
        user: serde_json::Value,
        /// Echo in `X-CSRF-Token` on every unsafe request (also in the `sy_csrf` cookie).
        csrf_token: String,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    }

    fn cookie(
        state: &AppState,
        name: &'static str,
        value: String,
        http_only: bool,
    ) -> Cookie<'static> {
        Cookie::build((name, value))
            .http_only(http_only)
            .same_site(state.identity.cookie_same_site)
            .secure(state.identity.cookie_secure)
            .path("/")
            .max_age(
                time::Duration::try_from(state.identity.session_ttl)
                    .unwrap_or(time::Duration::HOUR),
            )
            .build()
    }

    /// Password → session cookie + CSRF token. Rate limited per username and address.
    #[utoipa::path(
        post, path = "/auth/login", tag = "auth", request_body = Login, security(()),
        responses((status = 200, description = "Logged in: sets the `sy_session` (HttpOnly) and `sy_csrf` cookies", body = LoggedIn, headers(("Set-Cookie" = String, description = "`sy_session=…; HttpOnly; SameSite=Strict; Path=/` (SameSite as configured) and `sy_csrf=…`"))), (status = 401, response = crate::openapi::Unauthorized), (status = 429, response = crate::openapi::TooManyRequests))
    )]
    async fn login(
        State(state): State<AppState>,
        meta: RequestMeta,
        jar: CookieJar,
        ApiJson(input): ApiJson<Login>,
    ) -> Result<(CookieJar, Json<LoggedIn>), ApiError> {
        let addr = meta.source_addr.as_deref().and_then(|a| a.parse().ok());
        let (user, session) =
            match auth::password_login(&state, &input.username, &input.password, addr).await? {
                auth::LoggedIn::Database(user) => {
                    let actor = Actor {
                        user_id: Some(user.id),
                        label: format!("{} (password)", user.username),
                        source_addr: meta.source_addr.clone(),
                        request_id: Some(meta.request_id.clone()),
                    };
                    let session =
                        service::create(&state.db, &actor, &user, state.identity.session_ttl)
                            .await?;
                    let view = serde_json::to_value(UserView::from(user)).unwrap_or_default();
                    (view, session)
                }
                auth::LoggedIn::Remembered(login) => {
                    let session = degraded::login_session(&state, &login).await?;
                    let view = serde_json::json!({
                        "id": login.user_id,
                        "username": login.username,
                        "role": login.role,
                        "disabled": false,
                        "degraded": true,
                    });
                    (view, session)
                }
            };
        let jar = jar
            .add(cookie(&state, SESSION_COOKIE, session.token, true))
            .add(cookie(
                &state,
                CSRF_COOKIE,
                session.csrf_token.clone(),
                false,
            ));
        Ok((
            jar,
            Json(LoggedIn {
                user,
                csrf_token: session.csrf_token,
                expires_at: session.expires_at,
            }),
        ))
    }

    /// Revokes the cookie's session (CSRF-checked like every unsafe request) and clears
    /// the cookies.
    #[utoipa::path(
        post, path = "/auth/logout", tag = "auth", security(("session" = [], "csrf" = [])),
        responses((status = 204, description = "The session is revoked and the cookies cleared"), (status = 400, response = crate::openapi::BadRequest))
    )]
    async fn logout(
        State(state): State<AppState>,
        caller: Caller,
        jar: CookieJar,
    ) -> Result<(StatusCode, CookieJar), ApiError> {
        let Some(session_id) = caller.principal.session_id else {
            return Err(ApiError::BadRequest(
                "logout ends a cookie session; this request carries an API key — revoke \
                 keys with DELETE /api/v1/api-keys/{id}"
                    .into(),
            ));
        };
        if let Some(token) = jar.get(SESSION_COOKIE) {
            let token = degraded::session_token(&auth::hash_secret(token.value()));
            degraded::forget_auth(&state, &token).await;
        }
        // A session of a degraded login exists in Redis only, and is gone now.
        if !caller
            .principal
            .via
            .starts_with(degraded::REDIS_ONLY_SESSION)
        {
            match service::revoke(&state.db, &caller.actor(), session_id).await {
                Ok(()) => {}
                // PostgreSQL is down: the session is forgotten in Redis already (it no
                // longer authenticates) and its revocation waits there for PostgreSQL.
                Err(ApiError::Unavailable(why)) => {
                    state.set_db_up(false);
                    if !degraded::queue_revocation(&state, session_id, &caller.actor()).await {
                        return Err(ApiError::Unavailable(why));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // With the attributes they were set with: a browser takes a cross-site panel's
        // removal only as SameSite=None; Secure, like the cookie itself.
        let jar = jar
            .remove(cookie(&state, SESSION_COOKIE, String::new(), true))
            .remove(cookie(&state, CSRF_COOKIE, String::new(), false));
        Ok((StatusCode::NO_CONTENT, jar))
    }

    #[derive(Serialize, utoipa::ToSchema)]
    struct Me {
        user_id: uuid::Uuid,
        username: String,
        role: &'static str,
        via: String,
        grants: Vec<GrantSummary>,
    }

    #[derive(Serialize, utoipa::ToSchema)]
    struct GrantSummary {
        domain_id: Option<uuid::Uuid>,
        named_backend_id: Option<uuid::Uuid>,
        level: &'static str,
    }

    /// Who the caller is and what they hold: what a front end needs to draw itself.
    #[utoipa::path(
        get, path = "/me", tag = "auth",
        responses((status = 200, description = "The caller and their grants", body = Me))
    )]
    async fn me(caller: Caller) -> Result<Json<Me>, ApiError> {
        caller.authorize(Need::Authenticated)?;
        let p = caller.principal;
        let role = if p.is_admin() { "admin" } else { "user" };
        Ok(Json(Me {
            user_id: p.user_id,
            username: p.username,
            role,
            via: p.via,
            grants: p
                .grants
                .into_iter()
                .map(
                    |Grant {
                         domain_id,
                         named_backend_id,
                         level,
                     }| GrantSummary {
                        domain_id,
                        named_backend_id,
                        level: level.as_str(),
                    },
                )
                .collect(),
        }))
    }
}

pub mod users {
    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    use uuid::Uuid;

    use super::zones::WriteQuery;
    use crate::app::{ApiJson, ApiPath, ApiQuery, AppState};
    use crate::auth::{Caller, Need};
    use crate::error::ApiError;
    use crate::service::users::{self as service, NewUser, UserPatch, UserView};
    use crate::service::write::Answer;
    use crate::service::zones::Diff;
    use crate::service::{ListQuery, Page};

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(list, create))
            .routes(routes!(read, update, remove))
    }

    #[utoipa::path(
        post, path = "/users", tag = "users", params(WriteQuery), request_body = NewUser,
        responses((status = 201, description = "Created", body = UserView), (status = 200, description = "`?dry_run=true`: what it would create (`changes`), nothing changed", body = Diff), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict))
    )]
    async fn create(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(input): ApiJson<NewUser>,
    ) -> Result<Response, ApiError> {
        caller.authorize(Need::Admin)?;
        let answer =
            service::create_checked(&state.db, &caller.actor(), input, query.dry_run).await?;
        Ok(answer.respond(StatusCode::CREATED))
    }

    #[utoipa::path(
        get, path = "/users", tag = "users", params(ListQuery),
        responses((status = 200, description = "A page of users", body = Page<UserView>), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn list(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<ListQuery>,
    ) -> Result<Json<Page<UserView>>, ApiError> {
        caller.authorize(Need::Admin)?;
        Ok(Json(service::list(&state.db, &query).await?))
    }

    #[utoipa::path(
        get, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path, description = "The user's id")),
        responses((status = 200, description = "The user", body = UserView), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn read(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
    ) -> Result<Json<UserView>, ApiError> {
        caller.authorize(Need::Admin)?;
        Ok(Json(service::get(&state.db, id).await?))
    }

    /// A new password or disabling ends the user's sessions. The last enabled admin can
    /// be neither demoted nor disabled (409).
    #[utoipa::path(
        patch, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path, description = "The user's id"), WriteQuery), request_body = UserPatch,
        responses((status = 200, description = "The user as changed, or with `?dry_run=true` the diff (nothing changed)", body = crate::openapi::UserOrDiff), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict))
    )]
    async fn update(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(patch): ApiJson<UserPatch>,
    ) -> Result<Response, ApiError> {
        caller.authorize(Need::Admin)?;
        let answer = service::update(&state.db, &caller.actor(), id, patch, query.dry_run).await?;
        if let Answer::Done(view) = &answer {
            // A disabled user or a new password ends what degraded mode remembers.
            crate::degraded::forget_user(&state, id, Some(&view.username)).await;
        }
        Ok(answer.respond(StatusCode::OK))
    }

    /// Deletes a user with their sessions, API keys, grants and own named backends, in
    /// one transaction. Never oneself, never the last enabled admin, nor a user whose
    /// named backends zones still use (409).
    #[utoipa::path(
        delete, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path, description = "The user's id"), WriteQuery),
        responses((status = 204, description = "Deleted, with everything of theirs"), (status = 200, description = "`?dry_run=true`: the diff (`changes`: the user, their grants and named backends), nothing changed", body = Diff), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict))
    )]
    async fn remove(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<WriteQuery>,
    ) -> Result<Response, ApiError> {
        caller.authorize(Need::Admin)?;
        Ok(
            match service::delete(&state.db, &caller.actor(), id, query.dry_run).await? {
                Answer::DryRun(diff) => Json(diff).into_response(),
                Answer::Done(deleted) => {
                    // Their keys and sessions must not live on in degraded mode's memory.
                    crate::degraded::forget_user(&state, id, Some(&deleted.username)).await;
                    StatusCode::NO_CONTENT.into_response()
                }
            },
        )
    }
}

pub mod grants {
    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    use uuid::Uuid;

    use super::zones::WriteQuery;
    use crate::app::{ApiJson, ApiPath, ApiQuery, AppState};
    use crate::auth::{Caller, Need};
    use crate::error::ApiError;
    use crate::service::Page;
    use crate::service::grants::{self as service, GrantQuery, GrantView, NewGrant};
    use crate::service::write::Answer;
    use crate::service::zones::Diff;

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(list, create))
            .routes(routes!(remove))
    }

    #[utoipa::path(
        post, path = "/grants", tag = "grants", params(WriteQuery), request_body = NewGrant,
        responses((status = 201, description = "Created", body = GrantView), (status = 200, description = "`?dry_run=true`: what it would create (`changes`), nothing changed", body = Diff), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict))
    )]
    async fn create(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(input): ApiJson<NewGrant>,
    ) -> Result<Response, ApiError> {
        caller.authorize(Need::Admin)?;
        let answer = service::create(&state.db, &caller.actor(), input, query.dry_run).await?;
        if let Answer::Done(created) = &answer {
            crate::degraded::forget_user(&state, created.user_id, None).await;
        }
        Ok(answer.respond(StatusCode::CREATED))
    }

    #[utoipa::path(
        get, path = "/grants", tag = "grants", params(GrantQuery),
        responses((status = 200, description = "A page of grants", body = Page<GrantView>), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn list(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<GrantQuery>,
    ) -> Result<Json<Page<GrantView>>, ApiError> {
        caller.authorize(Need::Admin)?;
        Ok(Json(service::list(&state.db, &query).await?))
    }

    #[utoipa::path(
        delete, path = "/grants/{id}", tag = "grants", params(("id" = Uuid, Path, description = "The grant's id"), WriteQuery),
        responses((status = 204, description = "Deleted"), (status = 200, description = "`?dry_run=true`: the diff (`changes`), nothing changed", body = Diff), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn remove(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<WriteQuery>,
    ) -> Result<Response, ApiError> {
        caller.authorize(Need::Admin)?;
        Ok(
            match service::delete(&state.db, &caller.actor(), id, query.dry_run).await? {
                Answer::DryRun(diff) => Json(diff).into_response(),
                Answer::Done(user_id) => {
                    // What degraded mode remembers of the user carries the old grants.
                    crate::degraded::forget_user(&state, user_id, None).await;
                    StatusCode::NO_CONTENT.into_response()
                }
            },
        )
    }
}

pub mod audit {
    use axum::Json;
    use axum::extract::State;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;

    use crate::app::{ApiQuery, AppState};
    use crate::auth::{Caller, Need};
    use crate::error::ApiError;
    use crate::service::Page;
    use crate::service::audit_reads::{self as service, AuditQuery, AuditView};

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new().routes(routes!(list))
    }

    /// Admins: every record; users: their own actions (the service filters).
    #[utoipa::path(
        get, path = "/audit", tag = "audit", params(AuditQuery),
        responses((status = 200, description = "Audit records, newest first (a user's own actions unless admin)", body = Page<AuditView>))
    )]
    async fn list(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<AuditQuery>,
    ) -> Result<Json<Page<AuditView>>, ApiError> {
        caller.authorize(Need::Authenticated)?;
        Ok(Json(
            service::list(&state.db, &caller.principal, query).await?,
        ))
    }
}

pub mod transfer {
    use axum::Json;
    use axum::extract::{DefaultBodyLimit, State};
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::router::UtoipaMethodRouterExt as _;
    use utoipa_axum::routes;

    use crate::app::{ApiJson, ApiQuery, AppState};
    use crate::auth::{Caller, Need};
    use crate::error::ApiError;
    use crate::routes::zones::{BULK_BODY_LIMIT, WriteQuery};
    use crate::service::transfer::{self as service, Document, ExportQuery};
    use crate::service::zones::Diff;

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(export))
            .routes(routes!(import).layer(DefaultBodyLimit::max(BULK_BODY_LIMIT)))
            .routes(routes!(import_flat).layer(DefaultBodyLimit::max(BULK_BODY_LIMIT)))
    }

    /// `POST /import/flat`: the `DOMAINS`/`SERVICES` form, as the two variables' values
    /// (`{"env":{"domains":"app1.com:app1,status.com","services":"app1:app1:8080"}}`) or
    /// as the equivalent document (`{"domains":[...],"services":[...]}`), applied like an
    /// import (all or nothing, `?dry_run=true`). Problems name the entry they are about.
    #[utoipa::path(
        post, path = "/import/flat", tag = "transfer", params(WriteQuery), request_body = crate::openapi::mirror::FlatInput,
        responses((status = 200, description = "The diff applied (or, with `?dry_run=true`, that would be)", body = Diff))
    )]
    async fn import_flat(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(input): ApiJson<service::FlatInput>,
    ) -> Result<Json<Diff>, ApiError> {
        caller.authorize(Need::Authenticated)?;
        Ok(Json(
            service::import_flat(
                &state,
                &caller.principal,
                &caller.actor(),
                input,
                query.dry_run,
            )
            .await?,
        ))
    }

    /// The caller's readable slice of the configuration (format `switchyard-export/2`):
    /// domains with their DNS credential by name (admins; never a secret), named
    /// backends, zones, and with `?include=users` (admins) every user and grant (never a
    /// password hash or API key). The one answer that carries basic-auth password hashes
    /// (`policies.basic_auth.users[].hash`), so that a panel can be rebuilt from the
    /// file: treat it as a secret (docs/policies.md).
    #[utoipa::path(
        get, path = "/export", tag = "transfer", params(ExportQuery),
        responses((status = 200, description = "The caller's readable slice; basic-auth users keep their `hash` (the only answer that returns one)", body = Document), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn export(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<ExportQuery>,
    ) -> Result<Json<Document>, ApiError> {
        let with_users = match query.include.as_deref() {
            None => false,
            Some("users") => {
                // Users and grants are admins' to see, like /users.
                caller.authorize(Need::Admin)?;
                true
            }
            Some(other) => {
                return Err(ApiError::invalid_field(
                    "include",
                    format!("\"{}\" cannot be included: use users", other.escape_debug()),
                ));
            }
        };
        caller.authorize(Need::Authenticated)?;
        Ok(Json(
            service::export(&state.db, &caller.principal, with_users).await?,
        ))
    }

    /// All or nothing; `?dry_run=true` answers the diff only. Reads formats
    /// `switchyard-export/2` and `/1`. Users (admins) are created with no usable
    /// password and listed in `users_created`: set each one's with `PATCH /users/{id}`.
    #[utoipa::path(
        post, path = "/import", tag = "transfer", params(WriteQuery), request_body = Document,
        responses((status = 200, description = "The diff applied (or, with `?dry_run=true`, that would be); domains, users and grants in `changes`, users created in `users_created`", body = Diff), (status = 409, response = crate::openapi::ZoneConflict), (status = 503, response = crate::openapi::ZoneUnavailable))
    )]
    async fn import(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(document): ApiJson<Document>,
    ) -> Result<Json<Diff>, ApiError> {
        caller.authorize(Need::Authenticated)?;
        Ok(Json(
            service::import(
                &state,
                &caller.principal,
                &caller.actor(),
                document,
                query.dry_run,
            )
            .await?,
        ))
    }
}

pub mod dns_credentials {
    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    use uuid::Uuid;

    use super::zones::WriteQuery;
    use crate::app::{ApiJson, ApiPath, ApiQuery, AppState};
    use crate::auth::{Caller, Need};
    use crate::error::ApiError;
    use crate::service::dns_credentials::{
        self as service, CredentialPatch, CredentialView, NewCredential,
    };
    use crate::service::write::Answer;
    use crate::service::zones::Diff;
    use crate::service::{ListQuery, Page};

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(list, create))
            .routes(routes!(update, remove))
    }

    #[utoipa::path(
        post, path = "/dns-credentials", tag = "dns-credentials", params(WriteQuery), request_body = NewCredential,
        responses((status = 201, description = "Created; the secret is sealed and never returned", body = CredentialView), (status = 200, description = "`?dry_run=true`: what it would create (`changes`, never the secret), nothing changed", body = Diff), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict))
    )]
    async fn create(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(input): ApiJson<NewCredential>,
    ) -> Result<Response, ApiError> {
        caller.authorize(Need::Admin)?;
        let answer = service::create(
            &state.db,
            &state.identity,
            &caller.actor(),
            input,
            query.dry_run,
        )
        .await?;
        Ok(answer.respond(StatusCode::CREATED))
    }

    #[utoipa::path(
        get, path = "/dns-credentials", tag = "dns-credentials", params(ListQuery),
        responses((status = 200, description = "A page of credentials (`\"secret\":\"set\"`, never the secret)", body = Page<CredentialView>), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn list(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<ListQuery>,
    ) -> Result<Json<Page<CredentialView>>, ApiError> {
        caller.authorize(Need::Admin)?;
        Ok(Json(service::list(&state.db, &query).await?))
    }

    #[utoipa::path(
        patch, path = "/dns-credentials/{id}", tag = "dns-credentials", params(("id" = Uuid, Path, description = "The credential's id"), WriteQuery), request_body = CredentialPatch,
        responses((status = 200, description = "The credential as changed, or with `?dry_run=true` the diff (nothing changed)", body = crate::openapi::CredentialOrDiff), (status = 404, response = crate::openapi::NotFound))
    )]
    async fn update(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<WriteQuery>,
        ApiJson(input): ApiJson<CredentialPatch>,
    ) -> Result<Response, ApiError> {
        caller.authorize(Need::Admin)?;
        let answer = service::update(
            &state.db,
            &state.identity,
            &caller.actor(),
            id,
            input,
            query.dry_run,
        )
        .await?;
        Ok(answer.respond(StatusCode::OK))
    }

    #[utoipa::path(
        delete, path = "/dns-credentials/{id}", tag = "dns-credentials", params(("id" = Uuid, Path, description = "The credential's id"), WriteQuery),
        responses((status = 204, description = "Deleted"), (status = 200, description = "`?dry_run=true`: the diff (`changes`), nothing changed", body = Diff), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict))
    )]
    async fn remove(
        State(state): State<AppState>,
        caller: Caller,
        ApiPath(id): ApiPath<Uuid>,
        ApiQuery(query): ApiQuery<WriteQuery>,
    ) -> Result<Response, ApiError> {
        caller.authorize(Need::Admin)?;
        Ok(
            match service::delete(&state.db, &caller.actor(), id, query.dry_run).await? {
                Answer::DryRun(diff) => Json(diff).into_response(),
                Answer::Done(()) => StatusCode::NO_CONTENT.into_response(),
            },
        )
    }
}
