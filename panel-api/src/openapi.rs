//! The OpenAPI 3.1 document of `/api/v1`, served at `GET /api/v1/openapi.json`.
//!
//! Nothing in it is written by hand that the code already says: every operation comes
//! from a handler's `#[utoipa::path]` attribute, registered with the router by
//! `utoipa_axum::routes!` in the same call that serves it ([`crate::routes::all`]), and
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
use utoipa::openapi::path::{HttpMethod, Operation, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::schema::{
    BadRequest, Conflict, Forbidden, Internal, Invalid, NotFound, RollbackForbidden, TooLarge,
    TooManyRequests, Unauthorized, Unavailable, UnsupportedMediaType, ZoneConflict,
    ZoneUnavailable,
};

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
        (name = "certificates", description = "Uploaded certificates, and which certificate serves each zone's hostname"),
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

/// Every route the panel serves ([`crate::routes::all_with`]) and this document at
/// `GET /api/v1/openapi.json`, which is built from them.
pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::state::AppState> {
    crate::routes::all_with(
        utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(serve)),
    )
}

/// The whole document, built once from [`routes`].
pub fn document() -> &'static serde_json::Value {
    static DOC: LazyLock<serde_json::Value> = LazyLock::new(|| {
        let mut doc = routes().into_openapi();
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
                    crate::access::SESSION_COOKIE,
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
