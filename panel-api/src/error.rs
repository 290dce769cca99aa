//! The one error type of the HTTP boundary and its JSON shape.
//!
//! Every failure leaves the API as
//! `{"error":{"code":"…","message":"…","details":[{"field":"…","problem":"…"}]}}`.
//! Each variant's doc names its HTTP status. Internal failures are logged with their full
//! detail (and the request id) but the client only learns that something failed.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchyard_shared::model::{FieldError, ValidationErrors};

/// What can go wrong handling a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read at all (not JSON, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    /// 413: the body is larger than the API accepts (axum's default limit, 2 MB).
    #[error("{0}")]
    TooLarge(String),
    /// 415: the body is not declared as `Content-Type: application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 401: no credentials, or credentials that are unknown, revoked or expired. The
    /// message never says which, so probing learns nothing.
    #[error(
        "authentication required: send a valid API key as `Authorization: Bearer sy_…` or \
         log in at /api/v1/auth/login for a session cookie"
    )]
    Unauthorized,
    /// 403: a cookie-authenticated unsafe request (POST, PUT, PATCH, DELETE) without the
    /// session's CSRF token in `X-CSRF-Token`.
    #[error("{0}")]
    Forbidden(String),
    /// 429: too many login attempts for this username or from this address; the
    /// `Retry-After` header says how many seconds to wait.
    #[error("too many login attempts for this {scope}; retry in {retry_after_secs} s")]
    TooManyRequests {
        scope: &'static str,
        retry_after_secs: u64,
    },
    /// 404: the resource does not exist *or* the caller has no grant on it; both answer
    /// the same so that existence is not revealed.
    #[error("not found")]
    NotFound,
    /// 409: the change conflicts with existing data (e.g. a duplicate name).
    #[error("{message}")]
    Conflict {
        message: String,
        details: Vec<FieldError>,
    },
    /// 422: the input is well-formed JSON but invalid; `details` lists every problem.
    #[error("{message}")]
    Invalid {
        message: String,
        details: Vec<FieldError>,
    },
    /// 503: a service the request needs (PostgreSQL) is unreachable; nothing was changed.
    #[error("{0}")]
    Unavailable(&'static str),
    /// 503: a write needs to know what only Redis can say — whether every live proxy
    /// reads the data format the write needs ([`crate::service::format_gate`]) — and
    /// Redis cannot be read; the message says why. Nothing was changed.
    #[error("{0}")]
    RedisUnavailable(String),
    /// 500: anything else. Logged with detail; the client sees a generic message.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Every failure's body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorResponse<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// `bad_request`, `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`,
    /// `conflict`, `too_large`, `unsupported_media_type`, `invalid`, `rate_limited`,
    /// `unavailable`, `internal`.
    code: &'static str,
    /// What went wrong, for a person.
    message: String,
    /// One entry per problem (422, some 409); empty otherwise.
    details: &'a [FieldError],
}

impl ApiError {
    /// A 422 with one field problem.
    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        ApiError::Invalid {
            message: "the request is invalid; see details".into(),
            details: vec![FieldError {
                field: field.into(),
                problem: problem.into(),
            }],
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            ApiError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::Unavailable(_) | ApiError::RedisUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError::Invalid {
            message: format!("{} is invalid; see details", e.item),
            details: e.errors,
        }
    }
}

/// Whether `e` says PostgreSQL cannot serve the panel now (unreachable, shutting down,
/// or read-only after a failover) rather than that a statement failed: the one rule
/// both services use, [`switchyard_db::unavailable`].
pub fn database_unreachable(e: &sea_orm::DbErr) -> bool {
    switchyard_db::unavailable(e)
}

/// The 503 message while PostgreSQL is unreachable.
pub const DB_DOWN: &str = "the database (PostgreSQL) is unreachable, so the panel is read-only: \
     zone and domain reads come from Redis, marked \"degraded\", and nothing was changed; \
     retry the write once the database is back (GET /api/v1/health shows it)";

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        match e {
            // Pool or connection failures, or a connection lost mid-query: PostgreSQL is
            // down or unreachable.
            ref e if database_unreachable(e) => {
                tracing::warn!(error = %e, "PostgreSQL unavailable");
                ApiError::Unavailable(DB_DOWN)
            }
            other => ApiError::Internal(anyhow::Error::new(other).context("database")),
        }
    }
}

impl<E> From<sea_orm::TransactionError<E>> for ApiError
where
    E: Into<ApiError> + std::error::Error,
{
    fn from(e: sea_orm::TransactionError<E>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(inner) => inner.into(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    /// Well-formed JSON that does not fit the schema (unknown field, wrong type, missing
    /// field, bad value) is a 422 naming the field; a body too large is a 413, one not
    /// declared as JSON a 415, and anything else unreadable a 400.
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                let text = std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.body_text());
                let (field, problem) = split_serde_path(&text);
                ApiError::invalid_field(&field, problem)
            }
            other => match other.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(other.body_text()),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                    ApiError::UnsupportedMediaType(other.body_text())
                }
                _ => ApiError::BadRequest(other.body_text()),
            },
        }
    }
}

/// serde_path_to_error (used by axum) renders `path: message`. For an unknown field the
/// path usually already ends in the field's name; when it does not (`.`, the root), the
/// name is taken from the message (`unknown field \`x\``).
pub(crate) fn split_serde_path(text: &str) -> (String, String) {
    let (path, message) = match text.split_once(": ") {
        Some((p, m)) if !p.contains(' ') => (p.to_owned(), m.to_owned()),
        _ => (".".to_owned(), text.to_owned()),
    };
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    let field = match message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
    {
        Some(name) if path == "." => name.to_owned(),
        Some(name) if path.rsplit('.').next() != Some(name) => format!("{path}.{name}"),
        _ => path,
    };
    (field, message)
}

/// The JSON error shape for a status nothing in the panel chose a code for.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    }
}

/// Answers under `/api/` that something other than [`ApiError`] made — axum itself (405
/// with its `Allow` header, an extractor's plain-text rejection), a layer — are put in
/// the API's JSON error shape, keeping their status and headers, so that a client reads
/// every failure the same way. The panel's own handlers answer [`ApiError`] already; this
/// catches what they cannot.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // What axum wrote, when short text: its rejections say what was wrong.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let message = match status {
        // axum adds `Allow` to the answer outside this layer.
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "{method} is not an operation of {path}; the Allow header lists the methods it \
             answers"
        ),
        _ => text.unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("the request failed")
                .to_lowercase()
        }),
    };
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), %message, "answered without ApiError");
    }
    let body = ErrorResponse {
        error: ErrorBody {
            code: code_of(status),
            message,
            details: &[],
        },
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// What a handler that panicked answers (tower-http's `CatchPanic`): a 500 like any
/// internal error, the panic's message logged (in the request's span, so with its id),
/// never sent.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    ApiError::Internal(anyhow::anyhow!("a handler panicked: {message}")).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let (message, details): (String, &[FieldError]) = match &self {
            ApiError::Internal(e) => {
                // The only place internal detail goes: the log, never the client.
                tracing::error!(error = format!("{e:#}"), "internal error");
                (
                    "internal error; the details are in the server log".into(),
                    &[],
                )
            }
            ApiError::Invalid { message, details } | ApiError::Conflict { message, details } => {
                (message.clone(), details)
            }
            other => (other.to_string(), &[]),
        };
        let body = ErrorResponse {
            error: ErrorBody {
                code,
                message,
                details,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = self
        {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_named() {
        let (field, problem) =
            split_serde_path("unknown field `colour`, expected one of `a`, `b` at line 1 column 9");
        assert_eq!(field, "colour");
        assert!(problem.starts_with("unknown field"));
        let (field, _) = split_serde_path("backend.x: unknown field `x`, expected `kind`");
        assert_eq!(field, "backend.x");
        let (field, _) = split_serde_path("colour: unknown field `colour`, expected `a`");
        assert_eq!(field, "colour");
    }

    #[test]
    fn typed_errors_keep_their_path() {
        let (field, _) = split_serde_path("timeouts.connect_ms: invalid type: string \"a\"");
        assert_eq!(field, "timeouts.connect_ms");
    }
}
