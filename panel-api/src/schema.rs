//! The OpenAPI schemas that are not a Rust type's own: the error responses every
//! operation may answer (one JSON shape, [`crate::error::ErrorResponse`]) and the
//! either-or bodies of operations that answer one type or another (a dry run's diff).
//! The handlers name them in their `#[utoipa::path]` attributes; [`crate::openapi`]
//! lists them in the document's components.

use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder};

use crate::service::domains::DomainView;
use crate::service::zones::{Diff, ZoneWritten};

/// A response holding the one error shape.
pub fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorResponse")))
            .build(),
    )
}

macro_rules! error_responses {
    ($($name:ident: $description:literal;)*) => {$(
        #[doc = $description]
        pub struct $name;

        impl<'r> utoipa::ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), error_response($description).build().into())
            }
        }
    )*};
}

error_responses! {
    BadRequest: "`bad_request`: the body cannot be read (not JSON), or the request does not fit this operation";
    Unauthorized: "`unauthorized`: no credentials, or credentials that are unknown, revoked or expired";
    Forbidden: "`forbidden`: a request authenticated by the session cookie without its `X-CSRF-Token`; or, for `POST /me/password`, a `current_password` that is wrong. Nothing was changed";
    NotFound: "`not_found`: no such resource, or one the caller has no grant on (both answer the same)";
    Conflict: "`conflict`: the change conflicts with existing data (a duplicate, or still in use)";
    TooLarge: "`too_large`: the body is larger than accepted (2 MB; 32 MiB for bulk and import)";
    UnsupportedMediaType: "`unsupported_media_type`: the body is not declared as `Content-Type: application/json`";
    Invalid: "`invalid`: well-formed but invalid input (body or query); `details` lists every problem, and nothing was changed";
    Unavailable: "`unavailable`: PostgreSQL is unreachable; nothing was changed (reads of zones and domains are served from Redis meanwhile)";
    Internal: "`internal`: anything else; the details are in the server log under the response's `x-request-id`";
    ZoneConflict: "`conflict`: a zone with this hostname, path prefix and match conditions exists (or another request created one meanwhile); or a zone written has `policies` or `match` conditions, which need Redis data format 2, while Redis is below it and a live proxy reads only format 1 — the message names each such proxy with its `reads_format`: upgrade the proxies first (docs/redis-schema.md). Nothing was changed; a dry run answers the same";
    RollbackForbidden: "`forbidden`: the caller may read the zone but not change it (a rollback needs an edit grant on its domain, now and at the revision), or a session request without its `X-CSRF-Token`";
    ZoneUnavailable: "`unavailable`: PostgreSQL is unreachable; or a zone written has `policies` or `match` conditions while Redis is below data format 2 and Redis cannot be read to check that every proxy reads it (the message says why). Nothing was changed";
}

/// 429 with `Retry-After`.
pub struct TooManyRequests;

impl<'r> utoipa::ToResponse<'r> for TooManyRequests {
    fn response() -> (&'r str, RefOr<Response>) {
        (
            "TooManyRequests",
            error_response(
                "`rate_limited`: too many password checks for this username or from this \
                 address",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(<u64 as utoipa::PartialSchema>::schema()))
                    .description(Some("Seconds to wait"))
                    .build(),
            )
            .build()
            .into(),
        )
    }
}

/// `PUT /zones/{id}`: the zone as stored (with the write's version and commit time), or
/// with `?dry_run=true` the diff.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[expect(
    clippy::large_enum_variant,
    reason = "a schema only, never built: the handler answers either type directly"
)]
pub enum ZoneOrDiff {
    Zone(ZoneWritten),
    Diff(Diff),
}

/// `PATCH /domains/{id}`: the domain as changed, or with `?dry_run=true` the diff.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum DomainOrDiff {
    Domain(DomainView),
    Diff(Diff),
}

/// `PATCH /users/{id}`: the user as changed, or with `?dry_run=true` the diff.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum UserOrDiff {
    User(crate::service::users::UserView),
    Diff(Diff),
}

/// `PATCH /dns-credentials/{id}`: the credential as changed, or with `?dry_run=true`
/// the diff.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CredentialOrDiff {
    Credential(crate::service::dns_credentials::CredentialView),
    Diff(Diff),
}

/// `POST /domains/{id}/certificate/reissue`: the certificate, due now, or with
/// `?dry_run=true` the diff.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CertificateOrDiff {
    Certificate(crate::service::certificates::CertificateView),
    Diff(Diff),
}

/// `PUT /uploaded-certificates/{id}`: the certificate as replaced, or with
/// `?dry_run=true` the diff.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum UploadOrDiff {
    Upload(crate::service::cert_uploads::UploadView),
    Diff(Diff),
}
