use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::ApiQuery;
use crate::service::Page;
use crate::service::audit_reads::{self as service, AuditQuery, AuditView};
use crate::state::AppState;

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
    Ok(Json(
        service::list(&state.db, &caller.principal, query).await?,
    ))
}
