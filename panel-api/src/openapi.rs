//! The OpenAPI 3.1 document of `/api/v1`, served at `GET /api/v1/openapi.json`.
//!
//! Nothing in it is written by hand that the code already says: every operation comes
//! from a handler's `#[utoipa::path]` attribute, registered with the router by
//! `utoipa_axum::routes!` in the same call that serves it ([`crate::app::routes`]), and
//! every schema from the Rust type's `utoipa::ToSchema` derive, which reads the serde
//! attributes (`tag`, `rename_all`, `flatten`, `default`, `skip_serializing_if`,
//! `deny_unknown_fields`). The zone types of `switchyard-shared` derive it behind that
//! crate's `openapi` feature.
//!
//! What follows from the extractors is added here once for every operation
//! ([`Conventions`]), so no handler can forget it: the security requirements (a
//! bearer API key or the session cookie, plus `X-CSRF-Token` on unsafe methods with the
//! cookie), 401 where credentials are needed, 403 for a missing CSRF token, 400/413/415/
//! 422 for a JSON body, 422 for query parameters, 503 when PostgreSQL is down, 500.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::path::{HttpMethod, Operation, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder,
};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::service::domains::DomainView;
use crate::service::zones::{Diff, ZoneView, ZoneWritten};

/// The document's fixed part; [`document`] adds the operations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard panel API",
        description = "Switchyard's control plane: domains, zones (hostname → backend), named \
            backends, certificates, users, grants, API keys and the audit log, over \
            PostgreSQL and written through to Redis. Every failure is \
            `{\"error\":{\"code\",\"message\",\"details\":[{\"field\",\"problem\"}]}}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "health", description = "Liveness and the state of PostgreSQL, Redis, the proxies and the cert worker"),
        (name = "meta", description = "This document"),
        (name = "auth", description = "Cookie sessions and the caller"),
        (name = "api-keys", description = "The caller's API keys (`Authorization: Bearer sy_…`)"),
        (name = "users", description = "Users (admins only)"),
        (name = "grants", description = "Read/edit grants on domains and named backends (admins only)"),
        (name = "domains", description = "Domains and their wildcard certificates"),
        (name = "zones", description = "Zones: hostname (+ path prefix) → backend"),
        (name = "named-backends", description = "Reusable URL templates zones refer to by name"),
        (name = "dns-credentials", description = "DNS provider credentials for DNS-01 (admins only; secrets never returned)"),
        (name = "transfer", description = "Export and import of the caller's configuration"),
        (name = "audit", description = "The audit log"),
        (name = "revisions", description = "The numbered history of the routing configuration, and rollback"),
    ),
    components(
        schemas(crate::error::ErrorResponse),
        responses(
            BadRequest, Unauthorized, Forbidden, NotFound, Conflict, TooLarge,
            UnsupportedMediaType, Invalid, TooManyRequests, Unavailable, Internal,
            ZoneConflict, ZoneUnavailable, RollbackForbidden
        )
    ),
)]
struct Fixed;

/// The whole document, built once from [`crate::app::routes`].
pub fn document() -> &'static serde_json::Value {
    static DOC: LazyLock<serde_json::Value> = LazyLock::new(|| {
        let mut doc = crate::app::routes().into_openapi();
        let fixed = Fixed::openapi();
        doc.info = fixed.info.clone();
        doc.merge(fixed);
        Conventions.modify(&mut doc);
        let mut json = serde_json::to_value(&doc).expect("the OpenAPI document serialises");
        close_flattened(&mut json);
        close_tagged_variants(&mut json);
        write_only_fields(&mut json);
        no_nul_strings(&mut json);
        links(&mut json);
        json
    });
    &DOC
}

/// The document as served.
pub fn document_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        serde_json::to_string_pretty(document()).expect("the OpenAPI document serialises")
    });
    &JSON
}

/// `#[serde(flatten)]` of a `deny_unknown_fields` type (a `ZoneSpec` in a `ZoneView`)
/// comes out of utoipa as `allOf: [ZoneSpec (additionalProperties: false), {id, …}]`,
/// which no instance can satisfy: ZoneSpec's part refuses `id`. What serde writes is one
/// object with the fields of both, so that is what such an `allOf` becomes.
fn close_flattened(doc: &mut serde_json::Value) {
    let components = doc
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_default();
    close_in(doc, &components);
}

/// utoipa leaves out a field serde reads but never writes (`#[serde(skip_serializing)]`),
/// so a client generated from the document could not send it: a basic-auth user's
/// `password`, which the panel replaces by its hash (`switchyard_shared::policy::BasicUser`).
/// It is added here as `writeOnly`, unless the type's schema already has it (with
/// `skip_serializing_if` and `schema(write_only)` on the field, utoipa writes it itself).
fn write_only_fields(doc: &mut serde_json::Value) {
    if let Some(serde_json::Value::Object(properties)) =
        doc.pointer_mut("/components/schemas/BasicUser/properties")
    {
        properties.entry("password").or_insert_with(|| {
            serde_json::json!({
                "type": ["string", "null"],
                "writeOnly": true,
                "description": "Write-only: give a password instead of `hash` and the panel \
                    stores its argon2id hash (answers show `hash`); never stored or returned."
            })
        });
    }
}

/// A `#[serde(tag = "…")]` enum comes out of utoipa as a `oneOf` of objects, one per
/// variant, each with the tag as a one-value `enum` property — but without the
/// container's `deny_unknown_fields`, which utoipa applies to structs only. Every tagged
/// enum of this API denies unknown fields (the OpenAPI tests check each one against its
/// Rust type), and serde writes a variant with exactly its fields, so each variant with
/// fields is closed here. A unit variant (the tag alone, `{"kind":"none"}`) stays open:
/// serde ignores whatever else such an object holds.
fn close_tagged_variants(doc: &mut serde_json::Value) {
    use serde_json::Value;
    fn tag_of(variant: &Value) -> Option<&str> {
        let properties = variant.get("properties")?.as_object()?;
        let required = variant.get("required")?.as_array()?;
        properties.iter().find_map(|(name, p)| {
            let one = p.get("enum")?.as_array()?.len() == 1;
            (one && required.iter().any(|r| r == name)).then_some(name.as_str())
        })
    }
    fn walk(value: &mut Value) {
        match value {
            Value::Array(items) => items.iter_mut().for_each(walk),
            Value::Object(map) => {
                if let Some(Value::Array(variants)) = map.get_mut("oneOf") {
                    let tags: Vec<Option<String>> = variants
                        .iter()
                        .map(|v| tag_of(v).map(str::to_owned))
                        .collect();
                    let tagged = tags.first().and_then(Option::as_ref).is_some()
                        && tags.iter().all(|t| t == &tags[0])
                        && variants
                            .iter()
                            .all(|v| v.get("type") == Some(&"object".into()));
                    if tagged {
                        for v in variants.iter_mut() {
                            let fields = v
                                .get("properties")
                                .and_then(Value::as_object)
                                .map_or(0, serde_json::Map::len);
                            if let Value::Object(v) = v
                                && fields > 1
                            {
                                v.entry("additionalProperties").or_insert(false.into());
                            }
                        }
                    }
                }
                map.values_mut().for_each(walk);
            }
            _ => {}
        }
    }
    walk(doc);
}

/// OpenAPI links from what answers an id to the operations on that id, so a client (and
/// Schemathesis's stateful phase) can follow create → read → change → delete: a
/// collection's `POST` (its 201's `id`) and `GET` (its first item's `id`) link to every
/// operation under the collection's `/{id}`. Derived from the paths alone.
fn links(doc: &mut serde_json::Value) {
    use serde_json::{Map, Value, json};
    let Some(Value::Object(paths)) = doc.get("paths").cloned() else {
        return;
    };
    for (collection, item) in &paths {
        let prefix = format!("{collection}/{{id}}");
        let mut targets = Map::new();
        for (path, sub) in &paths {
            if path != &prefix && !path.starts_with(&format!("{prefix}/")) {
                continue;
            }
            for op in sub.as_object().into_iter().flat_map(|m| m.values()) {
                if let Some(id) = op["operationId"].as_str() {
                    targets.insert(id.to_owned(), Value::Null);
                }
            }
        }
        if targets.is_empty() {
            continue;
        }
        for (method, status, pointer) in [("post", "201", "/id"), ("get", "200", "/items/0/id")] {
            if item[method]["responses"][status]["content"].is_null() {
                continue;
            }
            let links: Map<String, Value> = targets
                .keys()
                .map(|id| {
                    let link = json!({
                        "operationId": id,
                        "parameters": {"id": format!("$response.body#{pointer}")},
                    });
                    (id.clone(), link)
                })
                .collect();
            if let Some(response) = doc.pointer_mut(&format!(
                "/paths/{}/{method}/responses/{status}",
                escape(collection)
            )) {
                response["links"] = Value::Object(links);
            }
        }
    }
    /// A JSON pointer's escaping of one key.
    fn escape(key: &str) -> String {
        key.replace('~', "~0").replace('/', "~1")
    }
}

/// No text the API takes may hold a NUL (`crate::input` refuses it: PostgreSQL cannot
/// store one), so every free-text string in the document — one without a `format`,
/// `enum`, `const` or `pattern` of its own — gets [`crate::input::NO_NUL_PATTERN`].
/// Answers never hold one either, so the same schemas stay true for them.
fn no_nul_strings(doc: &mut serde_json::Value) {
    use serde_json::Value;
    fn is_string(schema: &serde_json::Map<String, Value>) -> bool {
        match schema.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
            _ => false,
        }
    }
    fn walk(value: &mut Value) {
        match value {
            Value::Array(items) => items.iter_mut().for_each(walk),
            Value::Object(map) => {
                if is_string(map)
                    && ["format", "enum", "const", "pattern"]
                        .iter()
                        .all(|k| !map.contains_key(*k))
                {
                    map.insert("pattern".into(), crate::input::NO_NUL_PATTERN.into());
                }
                map.values_mut().for_each(walk);
            }
            _ => {}
        }
    }
    if let Some(paths) = doc.get_mut("paths") {
        walk(paths);
    }
    if let Some(schemas) = doc.pointer_mut("/components/schemas") {
        walk(schemas);
    }
}

fn close_in(value: &mut serde_json::Value, components: &serde_json::Value) {
    use serde_json::{Map, Value};
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| close_in(v, components)),
        Value::Object(map) => {
            map.values_mut().for_each(|v| close_in(v, components));
            let Some(Value::Array(parts)) = map.get("allOf") else {
                return;
            };
            let resolved: Vec<Value> = parts
                .iter()
                .map(|p| match p.get("$ref").and_then(Value::as_str) {
                    Some(r) => r
                        .strip_prefix("#/components/schemas/")
                        .and_then(|name| components.get(name))
                        .cloned()
                        .unwrap_or(Value::Null),
                    None => p.clone(),
                })
                .collect();
            let plain_object = |p: &Value| {
                p.get("type") == Some(&Value::from("object"))
                    && ["allOf", "oneOf", "anyOf"]
                        .iter()
                        .all(|k| p.get(k).is_none())
            };
            let closed = |p: &Value| p.get("additionalProperties") == Some(&Value::Bool(false));
            if !resolved.iter().all(plain_object) || !resolved.iter().any(closed) {
                return;
            }
            let mut properties = Map::new();
            let mut required = Vec::new();
            for part in &resolved {
                if let Some(Value::Object(p)) = part.get("properties") {
                    properties.extend(p.clone());
                }
                if let Some(Value::Array(r)) = part.get("required") {
                    required.extend(r.iter().cloned());
                }
            }
            map.remove("allOf");
            map.insert("type".into(), "object".into());
            map.insert("properties".into(), Value::Object(properties));
            map.insert("required".into(), Value::Array(required));
            map.insert("additionalProperties".into(), false.into());
        }
        _ => {}
    }
}

/// This document: OpenAPI 3.1, generated from the code.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object)),
)]
pub async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
}

/// Security scheme names.
pub const BEARER: &str = "bearer";
pub const SESSION: &str = "session";
pub const CSRF: &str = "csrf";
pub const BASIC: &str = "basic";

/// Security schemes, and what every operation's extractors imply (see the module doc).
pub struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.security_schemes.insert(
            BEARER.into(),
            RefOr::T(SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sy_<prefix>_<secret>")
                    .description(Some(
                        "An API key, `Authorization: Bearer sy_<prefix>_<secret>` \
                         (POST /api/v1/api-keys makes one).",
                    ))
                    .build(),
            )),
        );
        components.security_schemes.insert(
            SESSION.into(),
            RefOr::T(SecurityScheme::ApiKey(ApiKey::Cookie(
                ApiKeyValue::with_description(
                    crate::auth::SESSION_COOKIE,
                    "The session cookie POST /api/v1/auth/login sets (HttpOnly, SameSite=Strict by default). \
                 Unsafe methods (POST, PUT, PATCH, DELETE) need `X-CSRF-Token` with it.",
                ),
            ))),
        );
        components.security_schemes.insert(
            CSRF.into(),
            RefOr::T(SecurityScheme::ApiKey(ApiKey::Header(
                ApiKeyValue::with_description(
                    "X-CSRF-Token",
                    "The session's CSRF token (login's `csrf_token`, also the `sy_csrf` cookie); \
                 required with the session cookie on unsafe methods, else 403.",
                ),
            ))),
        );
        components.security_schemes.insert(
            BASIC.into(),
            RefOr::T(SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "Username and password; accepted only by POST /api/v1/api-keys, to \
                         make the first key. Rate limited like a login (429).",
                    ))
                    .build(),
            )),
        );
        for item in doc.paths.paths.values_mut() {
            for (method, op) in [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Put, &mut item.put),
                (HttpMethod::Patch, &mut item.patch),
                (HttpMethod::Delete, &mut item.delete),
            ] {
                if let Some(op) = op {
                    conventions(method, op);
                }
            }
        }
    }
}

fn conventions(method: HttpMethod, op: &mut Operation) {
    // Handlers are named for what they do within their resource (`list`, `create`), so
    // the operation id is the tag and the name: `zones_list`, `api_keys_create`.
    let tag = op
        .tags
        .iter()
        .flatten()
        .next()
        .map(|t| t.replace('-', "_"))
        .unwrap_or_default();
    if let Some(id) = &op.operation_id
        && *id != tag
    {
        op.operation_id = Some(format!("{tag}_{id}"));
    }
    let unsafe_method = method != HttpMethod::Get;
    // `security(())` on the handler marks an operation that needs no credentials.
    let public = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()));
    if public {
        op.security = Some(Vec::new());
    } else if op.security.is_none() {
        let session = if unsafe_method {
            SecurityRequirement::new(SESSION, Vec::<String>::new()).add(CSRF, Vec::<String>::new())
        } else {
            SecurityRequirement::new(SESSION, Vec::<String>::new())
        };
        op.security = Some(vec![
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
            session,
        ]);
    }
    let mut add = |status: &str, name: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    };
    if !public {
        add("401", "Unauthorized");
        if unsafe_method {
            add("403", "Forbidden");
        }
    }
    // Query and path parameters are checked by `crate::input` (bounds, formats, no NUL,
    // no unknown or repeated names): a 422 naming the parameter.
    let has_params = op.parameters.iter().flatten().any(|p| match p {
        RefOr::T(p) => matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Path),
        RefOr::Ref(_) => false,
    });
    if op.request_body.is_some() {
        add("400", "BadRequest");
        add("413", "TooLarge");
        add("415", "UnsupportedMediaType");
    }
    if op.request_body.is_some() || has_params {
        add("422", "Invalid");
    }
    let serves_itself = op
        .tags
        .iter()
        .flatten()
        .any(|t| t == "health" || t == "meta");
    if !serves_itself {
        add("503", "Unavailable");
    }
    add("500", "Internal");
}

/// A response holding the one error shape.
fn error_response(description: &str) -> ResponseBuilder {
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

/// `GET /zones/{id}`: the zone, or while PostgreSQL is down, the zone as Redis holds it.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ZoneRead {
    Zone(ZoneView),
    Degraded(crate::degraded::DegradedZone),
}

/// `GET /zones`: a page of zones, or while PostgreSQL is down, of zones from Redis.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ZonePage {
    Page(crate::service::Page<ZoneView>),
    Degraded(crate::degraded::DegradedPage<crate::degraded::DegradedZone>),
}

/// `GET /domains/{id}`: the domain, or while PostgreSQL is down, as last published.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum DomainRead {
    Domain(DomainView),
    Degraded(crate::degraded::DegradedDomain),
}

/// `GET /domains`: a page of domains, or while PostgreSQL is down, as last published.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum DomainPage {
    Page(crate::service::Page<DomainView>),
    Degraded(crate::degraded::DegradedPage<crate::degraded::DegradedDomain>),
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

/// Schemas of types `switchyard-shared` defines outside its model (in `fleet` and
/// `flat`), which have no `ToSchema` of their own; a test compares each with what the
/// real type serialises, so they cannot drift unnoticed.
pub mod mirror {
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
        Env(crate::service::transfer::FlatEnvInput),
        Document(FlatConfig),
    }
}
