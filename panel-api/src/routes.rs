//! HTTP handlers, one router per resource. Each handler is HTTP in → permission check
//! → one service call → HTTP out.

pub mod health {
    use std::time::Duration;

    use axum::extract::State;
    use axum::routing::get;
    use axum::{Json, Router};
    use fred::prelude::ClientLike as _;
    use serde::Serialize;

    use crate::app::AppState;

    /// A health probe must answer quickly even when a dependency hangs.
    pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

    #[derive(Debug, Serialize)]
    pub struct Health {
        /// `ok` when both are up, `degraded` otherwise.
        pub status: &'static str,
        pub postgres: &'static str,
        pub redis: &'static str,
    }

    pub fn router() -> Router<AppState> {
        Router::new().route("/health", get(health))
    }

    /// Always 200 while the panel runs: the body says which service is down, because
    /// the panel still does useful work with either one missing.
    async fn health(State(state): State<AppState>) -> Json<Health> {
        let postgres = tokio::time::timeout(PROBE_TIMEOUT, state.db.ping());
        let redis = tokio::time::timeout(PROBE_TIMEOUT, state.store.client().ping::<String>(None));
        let (postgres, redis) = tokio::join!(postgres, redis);
        let up = |ok: bool| if ok { "up" } else { "down" };
        let postgres = up(matches!(postgres, Ok(Ok(()))));
        let redis = up(matches!(redis, Ok(Ok(_))));
        Json(Health {
            status: if postgres == "up" && redis == "up" {
                "ok"
            } else {
                "degraded"
            },
            postgres,
            redis,
        })
    }
}

pub mod api_keys {
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::{delete, get};
    use axum::{Json, Router};
    use uuid::Uuid;

    use crate::app::{ApiJson, AppState, RequestMeta};
    use crate::auth::{Action, Caller, KeyCreator};
    use crate::error::ApiError;
    use crate::service::api_keys::{self as service, ApiKeyView, CreatedApiKey, NewApiKey};

    pub fn router() -> Router<AppState> {
        Router::new()
            .route("/api-keys", get(list).post(create))
            .route("/api-keys/{id}", delete(revoke))
    }

    /// Bearer key or HTTP Basic (the bootstrap path); the key is in this answer only.
    async fn create(
        State(state): State<AppState>,
        meta: RequestMeta,
        KeyCreator(principal): KeyCreator,
        ApiJson(input): ApiJson<NewApiKey>,
    ) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
        let caller = Caller::new(principal, meta);
        caller.authorize(Action::OwnApiKeys)?;
        let created =
            service::create(&state.db, &caller.actor(), caller.principal.user_id, input).await?;
        Ok((StatusCode::CREATED, Json(created)))
    }

    async fn list(
        State(state): State<AppState>,
        caller: Caller,
    ) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
        caller.authorize(Action::OwnApiKeys)?;
        Ok(Json(
            service::list(&state.db, caller.principal.user_id).await?,
        ))
    }

    async fn revoke(
        State(state): State<AppState>,
        caller: Caller,
        Path(id): Path<Uuid>,
    ) -> Result<StatusCode, ApiError> {
        caller.authorize(Action::OwnApiKeys)?;
        service::revoke(&state.db, &caller.actor(), caller.principal.user_id, id).await?;
        Ok(StatusCode::NO_CONTENT)
    }
}

pub mod domains {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::{Json, Router};

    use crate::app::{ApiJson, ApiQuery, AppState};
    use crate::auth::{Action, Caller};
    use crate::error::ApiError;
    use crate::service::domains::{self as service, DomainView, NewDomain};
    use crate::service::{ListQuery, Page};

    pub fn router() -> Router<AppState> {
        Router::new().route("/domains", get(list).post(create))
    }

    async fn create(
        State(state): State<AppState>,
        caller: Caller,
        ApiJson(input): ApiJson<NewDomain>,
    ) -> Result<(StatusCode, Json<DomainView>), ApiError> {
        caller.authorize(Action::EditDomains)?;
        let created = service::create(&state.db, &caller.actor(), input).await?;
        Ok((StatusCode::CREATED, Json(created)))
    }

    async fn list(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<ListQuery>,
    ) -> Result<Json<Page<DomainView>>, ApiError> {
        caller.authorize(Action::ReadDomains)?;
        Ok(Json(service::list(&state.db, &query).await?))
    }
}

pub mod zones {
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::{Json, Router};
    use switchyard_shared::model::ZoneSpec;
    use uuid::Uuid;

    use crate::app::{ApiJson, ApiQuery, AppState};
    use crate::auth::{Action, Caller};
    use crate::error::ApiError;
    use crate::service::zones::{self as service, ZoneView};
    use crate::service::{ListQuery, Page};

    pub fn router() -> Router<AppState> {
        Router::new()
            .route("/zones", get(list).post(create))
            .route("/zones/{id}", get(read).put(update).delete(remove))
    }

    async fn create(
        State(state): State<AppState>,
        caller: Caller,
        ApiJson(spec): ApiJson<ZoneSpec>,
    ) -> Result<(StatusCode, Json<ZoneView>), ApiError> {
        caller.authorize(Action::EditZones)?;
        let created = service::create(&state, &caller.actor(), spec).await?;
        Ok((StatusCode::CREATED, Json(created)))
    }

    async fn list(
        State(state): State<AppState>,
        caller: Caller,
        ApiQuery(query): ApiQuery<ListQuery>,
    ) -> Result<Json<Page<ZoneView>>, ApiError> {
        caller.authorize(Action::ReadZones)?;
        Ok(Json(service::list(&state.db, &query).await?))
    }

    async fn read(
        State(state): State<AppState>,
        caller: Caller,
        Path(id): Path<Uuid>,
    ) -> Result<Json<ZoneView>, ApiError> {
        caller.authorize(Action::ReadZones)?;
        Ok(Json(service::get(&state.db, id).await?))
    }

    async fn update(
        State(state): State<AppState>,
        caller: Caller,
        Path(id): Path<Uuid>,
        ApiJson(spec): ApiJson<ZoneSpec>,
    ) -> Result<Json<ZoneView>, ApiError> {
        caller.authorize(Action::EditZones)?;
        Ok(Json(
            service::update(&state, &caller.actor(), id, spec).await?,
        ))
    }

    async fn remove(
        State(state): State<AppState>,
        caller: Caller,
        Path(id): Path<Uuid>,
    ) -> Result<StatusCode, ApiError> {
        caller.authorize(Action::EditZones)?;
        service::delete(&state, &caller.actor(), id).await?;
        Ok(StatusCode::NO_CONTENT)
    }
}
