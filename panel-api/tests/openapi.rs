//! The OpenAPI document (`GET /api/v1/openapi.json`): valid OpenAPI 3.1, documenting
//! exactly the routes the router serves, with schemas that follow the Rust types.
//!
//! The served set of routes is found three ways, none of them the document: the axum
//! router's own route table (walked through its `Debug` output), a request to every
//! documented method and path (served, not the fallback's 404, not a 405) and to every
//! other method of those paths (405), and the table [`ROUTES`] below.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// Every route under `/api/v1`. A route added to the router without a
/// `#[utoipa::path]` fails `the_router_serves_exactly_the_documented_routes`; one added
/// with it fails here until it is listed.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/api-keys"),
    ("POST", "/api/v1/api-keys"),
    ("DELETE", "/api/v1/api-keys/{id}"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/me/password"),
    ("GET", "/api/v1/domains"),
    ("POST", "/api/v1/domains"),
    ("GET", "/api/v1/domains/{id}"),
    ("PATCH", "/api/v1/domains/{id}"),
    ("DELETE", "/api/v1/domains/{id}"),
    ("GET", "/api/v1/domains/{id}/certificate"),
    ("GET", "/api/v1/domains/{id}/dns-check"),
    ("GET", "/api/v1/zones/{id}/dns-check"),
    ("POST", "/api/v1/domains/{id}/certificate/reissue"),
    ("GET", "/api/v1/zones"),
    ("POST", "/api/v1/zones"),
    ("POST", "/api/v1/zones/bulk"),
    ("GET", "/api/v1/zones/{id}"),
    ("PUT", "/api/v1/zones/{id}"),
    ("DELETE", "/api/v1/zones/{id}"),
    ("GET", "/api/v1/named-backends"),
    ("POST", "/api/v1/named-backends"),
    ("GET", "/api/v1/named-backends/{id}"),
    ("PUT", "/api/v1/named-backends/{id}"),
    ("DELETE", "/api/v1/named-backends/{id}"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users/{id}"),
    ("PATCH", "/api/v1/users/{id}"),
    ("DELETE", "/api/v1/users/{id}"),
    ("GET", "/api/v1/grants"),
    ("POST", "/api/v1/grants"),
    ("DELETE", "/api/v1/grants/{id}"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/export"),
    ("POST", "/api/v1/import"),
    ("POST", "/api/v1/import/flat"),
    ("GET", "/api/v1/dns-credentials"),
    ("POST", "/api/v1/dns-credentials"),
    ("PATCH", "/api/v1/dns-credentials/{id}"),
    ("DELETE", "/api/v1/dns-credentials/{id}"),
    ("GET", "/api/v1/revisions"),
    ("GET", "/api/v1/revisions/{number}"),
    ("GET", "/api/v1/zones/{id}/revisions"),
    ("POST", "/api/v1/zones/{id}/rollback"),
    ("POST", "/api/v1/rollback"),
    ("GET", "/api/v1/domains/{id}/uploaded-certificates"),
    ("POST", "/api/v1/domains/{id}/uploaded-certificates"),
    ("GET", "/api/v1/uploaded-certificates/{id}"),
    ("PUT", "/api/v1/uploaded-certificates/{id}"),
    ("DELETE", "/api/v1/uploaded-certificates/{id}"),
    ("GET", "/api/v1/zones/{id}/certificate"),
    ("GET", "/api/v1/certificates/uncovered"),
];

/// The operations that need no credentials.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/auth/login"),
];

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

fn doc() -> Value {
    serde_json::from_str(panel_api::openapi::document_json()).expect("the document is JSON")
}

/// (method, path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("a path item") {
            assert!(
                METHODS.contains(&method.to_uppercase().as_str()),
                "{path}: unexpected key {method}"
            );
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// What the axum router serves, from its route table: its `Debug` output lists each
/// route's path (`RouteId(n): "/path"`) and the `Allow` header of its method router.
fn served() -> BTreeSet<(String, String)> {
    let router = axum::Router::from(panel_api::app::routes());
    let text = format!("{router:?}");
    let route_id = |s: &str| -> String {
        let end = s.find(')').expect("RouteId(n)");
        s[..end].to_owned()
    };
    // The path router's node: `node: Node { paths: {RouteId(1): "/a", …} }`.
    let node = text
        .split("node: Node { paths: {")
        .nth(1)
        .expect("the router's Debug output names its paths (axum changed it?)");
    // Paths hold braces (`{id}`); the map ends at the first quote-brace.
    let node = &node[..node.find("\"}").expect("end of paths") + 1];
    let mut paths = BTreeMap::new();
    for entry in node.split("RouteId(").skip(1) {
        let id = route_id(entry);
        let path = entry.split('"').nth(1).expect("a quoted path").to_owned();
        paths.insert(id, path);
    }
    let routes = text
        .split("routes: {")
        .nth(1)
        .expect("the router's Debug output lists its routes");
    let routes = &routes[..routes.find("node: Node").expect("routes, then node")];
    let mut out = BTreeSet::new();
    for entry in routes.split("RouteId(").skip(1) {
        let id = route_id(entry);
        let allow = entry
            .split("allow_header: Bytes(b\"")
            .nth(1)
            .unwrap_or_else(|| panic!("route {id} has no plain method list: {entry}"));
        let allow = &allow[..allow.find('"').expect("end of the Allow header")];
        let path = paths
            .get(&id)
            .unwrap_or_else(|| panic!("route {id} has no path"));
        for method in allow.split(',').filter(|m| *m != "HEAD") {
            out.insert((method.to_owned(), path.clone()));
        }
    }
    assert!(
        out.len() > 10,
        "walking the router found only {out:?}: axum's Debug output changed?"
    );
    out
}

#[test]
fn the_router_serves_exactly_the_documented_routes() {
    let doc = doc();
    let served = served();
    let (api, other): (BTreeSet<_>, BTreeSet<_>) = served
        .into_iter()
        .partition(|(_, path)| path.starts_with("/api/v1/"));
    let documented = documented(&doc);
    let undocumented: Vec<_> = api.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&api).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not documented: {undocumented:?}; documented but not served: {unserved:?}"
    );
    // Outside /api/v1 the panel serves its metrics only.
    assert_eq!(
        other,
        BTreeSet::from([("GET".to_owned(), "/metrics".to_owned())])
    );
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(table.len(), ROUTES.len(), "ROUTES lists a route twice");
    assert_eq!(
        documented,
        table,
        "the document and ROUTES differ: only documented {:?}, only listed {:?}",
        documented.difference(&table).collect::<Vec<_>>(),
        table.difference(&documented).collect::<Vec<_>>()
    );
}

#[test]
fn the_document_is_valid_openapi_3() {
    let text = panel_api::openapi::document_json();
    let spec = oas3::from_json(text).expect("oas3 parses the document as OpenAPI 3.1");
    let version = spec
        .validate_version()
        .expect("a supported OpenAPI version");
    assert_eq!(version.major, 3);
    assert_eq!(spec.info.version, env!("CARGO_PKG_VERSION"));
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let mut ids = BTreeSet::new();
    let mut count = 0;
    for (path, method, op) in spec.operations() {
        count += 1;
        let name = format!("{method} {path}");
        let id = op.operation_id.clone().unwrap_or_default();
        assert!(!id.is_empty(), "{name}: no operationId");
        assert!(ids.insert(id.clone()), "{name}: operationId {id} twice");
        assert_eq!(op.tags.len(), 1, "{name}: one tag per operation");
        // Every reference resolves, and every path template is a declared parameter.
        let params: Vec<_> = op
            .parameters
            .iter()
            .map(|p| p.resolve(&spec).unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect();
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let param = segment.trim_matches(['{', '}']);
            assert!(
                params.iter().any(|p| p.name == param
                    && p.location == oas3::spec::ParameterIn::Path
                    && p.required == Some(true)),
                "{name}: path parameter {param} is not declared"
            );
        }
        if let Some(body) = &op.request_body {
            let body = body.resolve(&spec).expect("request body resolves");
            assert!(
                body.content.contains_key("application/json"),
                "{name}: JSON body"
            );
        }
        let responses = op.responses.as_ref().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{name}: no success response"
        );
        assert!(responses.contains_key("500"), "{name}: no 500");
        for (status, response) in responses {
            let response = response
                .resolve(&spec)
                .unwrap_or_else(|e| panic!("{name} {status}: {e}"));
            if !status.starts_with('2') {
                let schema = &response.content["application/json"].schema;
                let schema = serde_json::to_value(schema).unwrap();
                assert_eq!(
                    schema["$ref"], "#/components/schemas/ErrorResponse",
                    "{name} {status}: the error shape"
                );
            }
        }
    }
    assert_eq!(count, ROUTES.len());

    // Every `$ref` anywhere points at a component that exists.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        assert!(
            doc.pointer(r.trim_start_matches('#')).is_some(),
            "dangling reference {r}"
        );
    }
}

#[test]
fn security_is_documented_per_operation() {
    let doc = doc();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "sy_session");
    assert_eq!(schemes["csrf"]["in"], "header");
    assert_eq!(schemes["csrf"]["name"], "X-CSRF-Token");
    assert_eq!(schemes["basic"]["scheme"], "basic");
    for (method, path) in ROUTES {
        let op = &doc["paths"][path][method.to_lowercase()];
        let name = format!("{method} {path}");
        let security: Vec<BTreeSet<&str>> = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no security"))
            .iter()
            .map(|r| r.as_object().unwrap().keys().map(String::as_str).collect())
            .collect();
        let set = |names: &[&'static str]| names.iter().copied().collect::<BTreeSet<_>>();
        let responses = &op["responses"];
        if PUBLIC.contains(&(*method, *path)) {
            assert!(security.is_empty(), "{name} needs no credentials");
            continue;
        }
        assert_eq!(
            responses["401"]["$ref"], "#/components/responses/Unauthorized",
            "{name}"
        );
        let session = if *method == "GET" {
            set(&["session"])
        } else {
            // A zone's rollback also refuses a reader with 403; its response says both.
            let forbidden = if *path == "/api/v1/zones/{id}/rollback" {
                "#/components/responses/RollbackForbidden"
            } else {
                "#/components/responses/Forbidden"
            };
            assert_eq!(responses["403"]["$ref"], forbidden, "{name}: CSRF");
            set(&["session", "csrf"])
        };
        let expected = match (*method, *path) {
            ("POST", "/api/v1/api-keys") => vec![set(&["bearer"]), session, set(&["basic"])],
            ("POST", "/api/v1/auth/logout") => vec![session],
            _ => vec![set(&["bearer"]), session],
        };
        assert_eq!(security, expected, "{name}");
    }
    assert_eq!(
        doc["paths"]["/api/v1/auth/login"]["post"]["responses"]["429"]["$ref"],
        "#/components/responses/TooManyRequests"
    );
    assert!(
        doc["components"]["responses"]["TooManyRequests"]["headers"]["Retry-After"].is_object()
    );
}

#[test]
fn schemas_follow_the_rust_types() {
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let required = |s: &Value| -> BTreeSet<String> {
        s["required"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };

    // ZoneSpec: defaults are optional, unknown fields refused, the backend by `kind`.
    let zone = &schemas["ZoneSpec"];
    assert_eq!(
        required(zone),
        BTreeSet::from(["hostname".into(), "backend".into()])
    );
    assert_eq!(zone["additionalProperties"], false);
    assert_eq!(
        zone["properties"]["backend"]["$ref"],
        "#/components/schemas/BackendSpec"
    );
    let variants = schemas["BackendSpec"]["oneOf"].as_array().expect("oneOf");
    let mut kinds = BTreeMap::new();
    for v in variants {
        assert!(required(v).contains("kind"), "{v}");
        let kind = v["properties"]["kind"]["enum"]
            .as_array()
            .expect("kind is an enum of one");
        assert_eq!(kind.len(), 1);
        kinds.insert(kind[0].as_str().unwrap().to_owned(), v.clone());
    }
    assert_eq!(
        kinds.keys().collect::<Vec<_>>(),
        ["named", "none", "upstreams"]
    );
    assert_eq!(
        required(&kinds["named"]),
        BTreeSet::from(["kind".into(), "name".into()])
    );
    assert_eq!(
        kinds["named"]["properties"]["params"]["additionalProperties"]["type"],
        "string"
    );
    assert_eq!(
        kinds["upstreams"]["properties"]["upstreams"]["items"]["$ref"],
        "#/components/schemas/UpstreamSpec"
    );
    assert_eq!(
        required(&schemas["UpstreamSpec"]),
        BTreeSet::from(["url".into()])
    );
    assert_eq!(
        schemas["UpstreamSpec"]["properties"]["weight"]["default"],
        1
    );
    // skip_serializing_if + default: optional.
    assert!(required(&schemas["Timeouts"]).is_empty());

    // ZoneView flattens ZoneSpec: one object with both's fields, nothing else.
    let view = &schemas["ZoneView"];
    assert_eq!(view["additionalProperties"], false);
    for field in [
        "id",
        "domain_id",
        "hostname",
        "backend",
        "timeouts",
        "created_at",
    ] {
        assert!(view["properties"][field].is_object(), "ZoneView.{field}");
    }
    assert!(!required(view).contains("named_backend_id"));

    // The one error shape.
    let error = &schemas["ErrorResponse"];
    assert_eq!(required(error), BTreeSet::from(["error".into()]));
    assert_eq!(
        error["properties"]["error"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    let body = &schemas["ErrorBody"];
    assert_eq!(
        required(body),
        BTreeSet::from(["code".into(), "message".into(), "details".into()])
    );
    assert_eq!(
        body["properties"]["details"]["items"]["$ref"],
        "#/components/schemas/FieldError"
    );
    assert_eq!(
        required(&schemas["FieldError"]),
        BTreeSet::from(["field".into(), "problem".into()])
    );

    // Query parameters from the query types.
    let params = |method: &str, path: &str| -> BTreeSet<String> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .map(|p| {
                p.iter()
                    .map(|p| {
                        format!(
                            "{}:{}",
                            p["in"].as_str().unwrap(),
                            p["name"].as_str().unwrap()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        params("get", "/api/v1/zones"),
        set(&[
            "query:limit",
            "query:offset",
            "query:q",
            "query:after",
            "query:domain_id",
            "query:named_backend_id"
        ])
    );
    assert_eq!(
        params("put", "/api/v1/zones/{id}"),
        set(&["path:id", "query:dry_run"])
    );
    assert_eq!(
        params("get", "/api/v1/audit"),
        set(&[
            "query:actor",
            "query:resource_type",
            "query:resource_id",
            "query:action",
            "query:since",
            "query:until",
            "query:limit",
            "query:offset"
        ])
    );
    assert_eq!(
        params("get", "/api/v1/grants"),
        set(&[
            "query:user_id",
            "query:domain_id",
            "query:named_backend_id",
            "query:limit",
            "query:offset"
        ])
    );
    assert_eq!(
        params("get", "/api/v1/users"),
        set(&["query:limit", "query:offset", "query:q"])
    );
    // Bodies and statuses.
    let zones_post = &doc["paths"]["/api/v1/zones"]["post"];
    assert_eq!(
        zones_post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ZoneSpec"
    );
    assert_eq!(
        zones_post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ZoneWritten"
    );
    let written = &doc["components"]["schemas"]["ZoneWritten"];
    for field in ["id", "hostname", "version", "committed_at"] {
        assert!(
            written["properties"][field].is_object(),
            "ZoneWritten.{field}: {written}"
        );
    }
    let zones_delete = &doc["paths"]["/api/v1/zones/{id}"]["delete"]["responses"]["204"];
    for header in ["X-Switchyard-Version", "X-Switchyard-Committed-At"] {
        assert!(
            zones_delete["headers"][header].is_object(),
            "DELETE /zones/{{id}} 204 {header}: {zones_delete}"
        );
    }
    assert_eq!(
        zones_post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Diff"
    );
    for status in ["400", "401", "403", "409", "413", "415", "422", "503"] {
        assert!(
            zones_post["responses"][status].is_object(),
            "POST /zones {status}"
        );
    }
}

/// Route policies are in the zone schemas with every nested type, a basic-auth
/// `password` is documented as write-only, and the zone writes document the data format
/// gate's 409 and 503.
#[test]
fn policies_and_the_format_gate_are_documented() {
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let required = |s: &Value| -> BTreeSet<String> {
        s["required"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    for zone in ["ZoneSpec", "ZoneView", "ZoneWritten", "DegradedZone"] {
        assert_eq!(
            schemas[zone]["properties"]["policies"]["$ref"], "#/components/schemas/Policies",
            "{zone}"
        );
        assert!(!required(&schemas[zone]).contains("policies"), "{zone}");
    }
    let record_policies = &schemas["RouteRecord"]["properties"]["policies"];
    assert!(
        record_policies
            .to_string()
            .contains("#/components/schemas/Policies")
    );
    assert_eq!(schemas["Policies"]["additionalProperties"], false);
    assert!(required(&schemas["Policies"]).is_empty());
    for nested in [
        "Rewrite",
        "Redirect",
        "HeaderRules",
        "HeaderValue",
        "Hsts",
        "BasicAuth",
        "BasicUser",
        "RateLimit",
        "RateKey",
        "ErrorPage",
    ] {
        assert!(schemas[nested].is_object(), "schema {nested}");
    }
    let user = &schemas["BasicUser"];
    assert_eq!(required(user), BTreeSet::from(["username".into()]));
    assert_eq!(user["properties"]["password"]["writeOnly"], true, "{user}");
    assert!(user["properties"]["hash"].is_object());
    assert_eq!(
        required(&schemas["RateLimit"]),
        BTreeSet::from(["requests".into()])
    );
    assert!(schemas["ProxyView"]["properties"]["reads_format"].is_object());

    for (method, path) in [
        ("post", "/api/v1/zones"),
        ("put", "/api/v1/zones/{id}"),
        ("post", "/api/v1/zones/bulk"),
        ("post", "/api/v1/import"),
    ] {
        let responses = &doc["paths"][path][method]["responses"];
        assert_eq!(
            responses["409"]["$ref"], "#/components/responses/ZoneConflict",
            "{method} {path}"
        );
        assert_eq!(
            responses["503"]["$ref"], "#/components/responses/ZoneUnavailable",
            "{method} {path}"
        );
    }
    let conflict = doc["components"]["responses"]["ZoneConflict"]["description"]
        .as_str()
        .unwrap();
    assert!(conflict.contains("upgrade the proxies first"), "{conflict}");
}

/// The schemas written out for `switchyard-shared` types that have no `ToSchema` of
/// their own hold what the real types serialise, field for field.
#[test]
fn mirrored_schemas_match_the_real_types() {
    use panel_api::mirror;
    use switchyard_shared::fleet::{ExpiringCert, ExpiryWhy, ProxyView};

    let doc = doc();
    let properties = |name: &str| -> BTreeSet<String> {
        doc["components"]["schemas"][name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {name}"))
            .keys()
            .cloned()
            .collect()
    };
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };

    let proxy = serde_json::to_value(ProxyView {
        id: "p1".into(),
        version: 3,
        applied_version: 3,
        applied_at: time::OffsetDateTime::UNIX_EPOCH,
        heartbeat_age_secs: 1.5,
        stale: false,
        current: true,
        zones: 10,
        certs: 2,
        reads_format: 2,
        endpoints_down: 1,
        replica_versions_behind: Some(2),
    })
    .unwrap();
    serde_json::from_value::<mirror::ProxyView>(proxy.clone()).expect("the mirror reads it");
    assert_eq!(keys(&proxy), properties("ProxyView"));

    // A zone record as the write path gives it to Redis, every field set.
    let record = switchyard_shared::model::HostRecord::from_json(
        "app.example.com",
        json!({"host": "app.example.com", "routes": [{
            "zone_id": "z1", "path_prefix": "/api",
            "upstreams": [{"url": "http://10.0.0.5:8080", "weight": 3}],
            "named_backend": "svc", "force_https": true, "preserve_host": true,
            "allow": ["10.0.0.0/8"], "timeouts": {"connect_ms": 500, "read_ms": 3000},
            "policies": {"hsts": {"max_age_secs": 600}},
            "match": {"methods": ["GET"]}}]})
        .to_string()
        .as_bytes(),
    )
    .expect("a valid record");
    let record: Value = serde_json::from_str(&record.to_json()).unwrap();
    serde_json::from_value::<mirror::ZoneRecord>(record.clone()).expect("the mirror reads it");
    assert_eq!(keys(&record), properties("ZoneRecord"));
    assert_eq!(keys(&record["routes"][0]), properties("RouteRecord"));
    assert_eq!(
        keys(&record["routes"][0]["upstreams"][0]),
        properties("UpstreamRecord")
    );

    let mut cert = ExpiringCert {
        name: "*.example.com".into(),
        not_after: time::OffsetDateTime::UNIX_EPOCH,
        days_left: -3.0,
        source: switchyard_shared::certs::CertSource::Issued,
        why: ExpiryWhy::RenewalUnknown,
        error: None,
    };
    cert.explain(Some("ACME CA (finalize): badCSR".into()));
    let cert = serde_json::to_value(cert).unwrap();
    serde_json::from_value::<mirror::ExpiringCert>(cert.clone()).expect("the mirror reads it");
    assert_eq!(keys(&cert), properties("ExpiringCert"));
    for why in [
        ExpiryWhy::RenewalFailing,
        ExpiryWhy::NotRenewable,
        ExpiryWhy::RenewalScheduled,
        ExpiryWhy::RenewalUnknown,
    ] {
        let value = serde_json::to_value(why).unwrap();
        serde_json::from_value::<mirror::ExpiryWhy>(value.clone())
            .unwrap_or_else(|e| panic!("the mirror reads {value}: {e}"));
        assert!(
            doc["components"]["schemas"]["ExpiryWhy"]["enum"]
                .as_array()
                .is_some_and(|values| values.contains(&value)),
            "{value} in the document's ExpiryWhy"
        );
    }

    for input in [
        json!({"env": {"domains": "app1.com:app1,status.com", "services": "app1:app1:8080"}}),
        json!({"domains": [{"domain": "a.com", "service": "s"}, null, {"domain": "b.com"}],
               "services": [{"name": "s", "host": "h", "port": 80}]}),
        json!({}),
    ] {
        serde_json::from_value::<panel_api::service::transfer::FlatInput>(input.clone())
            .unwrap_or_else(|e| panic!("the real type reads {input}: {e}"));
        serde_json::from_value::<mirror::FlatInput>(input.clone())
            .unwrap_or_else(|e| panic!("the mirror reads {input}: {e}"));
    }
    for bad in [
        json!({"env": {"domains": "a.com"}, "colour": "red"}),
        json!({"domains": [{"domain": "a.com", "colour": "red"}]}),
        json!({"services": [{"name": "s", "host": "h"}]}),
    ] {
        assert!(
            serde_json::from_value::<panel_api::service::transfer::FlatInput>(bad.clone()).is_err()
        );
        assert!(
            serde_json::from_value::<mirror::FlatInput>(bad.clone()).is_err(),
            "{bad}"
        );
    }
    let config = switchyard_shared::flat::FlatConfig::parse_env("a.com:s,,b.com", "s:h:80")
        .expect("a valid flat form");
    let config = serde_json::to_value(config).unwrap();
    serde_json::from_value::<mirror::FlatConfig>(config.clone()).expect("the mirror reads it");
    assert_eq!(keys(&config), properties("FlatConfig"));
    assert_eq!(keys(&config["services"][0]), properties("FlatService"));
    assert_eq!(keys(&config["domains"][0]), properties("FlatDomain"));
}

/// Every documented operation is served (not the fallback's 404, not a 405), every
/// other method on those paths answers 405, and the document itself is served without
/// credentials as `application/json`.
#[tokio::test]
async fn every_documented_route_is_served_and_the_document_is_public() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let doc = doc();

    let response = panel
        .http
        .get(format!("{}/openapi.json", panel.base))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str()?.to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let served: Value = serde_json::from_str(&response.text().await?)?;
    assert_eq!(served, doc);

    let documented = documented(&doc);
    let some_id = "0b6f1f3e-8f9c-4d47-9a4e-2f7f1d3c5a10";
    let mut paths = BTreeSet::new();
    for (method, path) in &documented {
        paths.insert(path.clone());
        let url = path
            .strip_prefix("/api/v1")
            .unwrap()
            .replace("{id}", some_id);
        let reply = panel.call(method.parse()?, &url, Auth::None, None).await?;
        let public = PUBLIC.contains(&(method.as_str(), path.as_str()));
        // Without credentials every protected route answers 401 before it looks
        // anything up; the fallback would answer 404 and an unserved method 405.
        if public {
            assert!(
                ![404, 405].contains(&reply.status),
                "{method} {path}: {} {}",
                reply.status,
                reply.json
            );
        } else {
            assert_eq!(reply.status, 401, "{method} {path}: {}", reply.json);
        }
        // The answer has a documented status.
        let responses = &doc["paths"][path][method.to_lowercase()]["responses"];
        assert!(
            responses[reply.status.to_string()].is_object(),
            "{method} {path}: {} is not documented",
            reply.status
        );
    }
    for path in &paths {
        let url = path
            .strip_prefix("/api/v1")
            .unwrap()
            .replace("{id}", some_id);
        for method in METHODS {
            if documented.contains(&(method.to_string(), path.clone())) {
                continue;
            }
            let reply = panel.call(method.parse()?, &url, Auth::None, None).await?;
            assert_eq!(
                reply.status, 405,
                "{method} {path} is served but not documented"
            );
        }
    }
    panel.stop().await
}

/// Real answers carry exactly the fields the schemas name (flattened types included).
#[tokio::test]
async fn real_answers_fit_their_schemas() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&key, "openapi.example").await?;
    let zone = panel.zone(&key, "www.openapi.example").await?;

    let fits = |name: &str, value: &Value| {
        let schema = &schemas[name];
        let properties: BTreeSet<&str> = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has properties"))
            .keys()
            .map(String::as_str)
            .collect();
        let object = value.as_object().unwrap_or_else(|| panic!("{value}"));
        for k in object.keys() {
            assert!(
                properties.contains(k.as_str()),
                "{name}: {k} is not in the schema"
            );
        }
        for r in schema["required"].as_array().into_iter().flatten() {
            assert!(
                object.contains_key(r.as_str().unwrap()),
                "{name}: {r} missing in {value}"
            );
        }
    };
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{zone}"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200);
    fits("ZoneView", &reply.json);
    let reply = panel
        .call(
            Method::GET,
            &format!("/domains/{domain}"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    fits("DomainView", &reply.json);
    let reply = panel
        .call(Method::GET, "/zones?limit=5", Auth::Bearer(&key), None)
        .await?;
    fits("Page_ZoneView", &reply.json);
    fits("ZoneView", &reply.json["items"][0]);
    let reply = panel
        .call(Method::GET, "/me", Auth::Bearer(&key), None)
        .await?;
    fits("Me", &reply.json);
    let reply = panel.call(Method::GET, "/health", Auth::None, None).await?;
    fits("Health", &reply.json);
    let reply = panel
        .call(
            Method::POST,
            "/zones?dry_run=true",
            Auth::Bearer(&key),
            Some(zone_json("api.openapi.example")),
        )
        .await?;
    assert_eq!(reply.status, 200);
    fits("Diff", &reply.json);
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(json!({"hostname": "x.openapi.example", "backend": {"kind": "magic"}})),
        )
        .await?;
    assert_eq!(reply.status, 422);
    fits("ErrorResponse", &reply.json);
    fits("ErrorBody", &reply.json["error"]);
    fits("FieldError", &reply.json["error"]["details"][0]);
    // A zone with policies, as written and answered.
    let mut with_policies = zone_json("policies.openapi.example");
    with_policies["path_prefix"] = json!("/app");
    with_policies["policies"] = json!({
        "rewrite": {"kind": "strip_prefix"},
        "request_headers": {"set": [{"name": "X-A", "value": "{host}"}]},
        "hsts": {"max_age_secs": 600},
        "basic_auth": {"users": [{"username": "ann", "password": "pw-1"}]},
        "rate_limit": {"requests": 5},
        "error_pages": {"429": {"body": "slow"}}
    });
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(with_policies),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    fits("ZoneWritten", &reply.json);
    let policies = &reply.json["policies"];
    fits("Policies", policies);
    fits("BasicAuth", &policies["basic_auth"]);
    fits("BasicUser", &policies["basic_auth"]["users"][0]);
    fits("RateLimit", &policies["rate_limit"]);
    fits("Hsts", &policies["hsts"]);
    fits("HeaderRules", &policies["request_headers"]);
    fits("HeaderValue", &policies["request_headers"]["set"][0]);
    fits("ErrorPage", &policies["error_pages"]["429"]);
    panel.stop().await
}

fn zone_json(host: &str) -> Value {
    json!({"hostname": host, "backend": {"kind": "upstreams", "upstreams": [{"url": "http://127.0.0.1:9001"}]}})
}

/// The document says what the panel enforces: the bounds of every query parameter are
/// the constants the services use (and `crate::input` checks queries against exactly
/// these), every operation with parameters or a body documents the 422 that refuses
/// them, every tagged enum's variants are closed like the Rust type, free text carries
/// the no-NUL pattern, and creates and lists link to the operations on what they answer.
#[test]
fn bounds_closed_objects_and_links_are_documented() {
    use panel_api::service::{self, api_keys, users};
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let param = |method: &str, path: &str, name: &str| -> Value {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{method} {path}: no parameter {name}"))["schema"]
            .clone()
    };
    let nul = panel_api::input::NO_NUL_PATTERN;
    for list in [
        "/api/v1/api-keys",
        "/api/v1/audit",
        "/api/v1/dns-credentials",
        "/api/v1/domains",
        "/api/v1/grants",
        "/api/v1/named-backends",
        "/api/v1/users",
        "/api/v1/zones",
    ] {
        let limit = param("get", list, "limit");
        assert_eq!(limit["minimum"], 1, "{list}");
        assert_eq!(limit["maximum"], service::MAX_PAGE, "{list}");
        let offset = param("get", list, "offset");
        assert_eq!(offset["minimum"], 0, "{list}");
        assert_eq!(offset["maximum"], service::MAX_OFFSET, "{list}");
        assert!(service::MAX_OFFSET <= i64::MAX as u64);
        if !list.ends_with("audit") && !list.ends_with("grants") {
            let q = param("get", list, "q");
            assert_eq!(q["maxLength"], service::MAX_SEARCH_LEN, "{list}");
            assert_eq!(q["pattern"], nul, "{list}");
        }
    }
    for name in ["resource_type", "resource_id", "action"] {
        let p = param("get", "/api/v1/audit", name);
        assert_eq!(p["maxLength"], service::MAX_SEARCH_LEN, "{name}");
        assert_eq!(p["pattern"], nul, "{name}");
    }
    assert_eq!(param("get", "/api/v1/grants", "user_id")["format"], "uuid");

    // Bodies' bounds are the services' constants.
    let user = &schemas["NewUser"]["properties"];
    assert_eq!(user["password"]["minLength"], users::MIN_PASSWORD_LEN);
    assert_eq!(user["password"]["maxLength"], users::MAX_PASSWORD_LEN);
    assert_eq!(
        user["username"]["pattern"],
        format!("^[A-Za-z0-9._@-]{{1,{}}}$", users::MAX_USERNAME_LEN)
    );
    assert_eq!(
        schemas["UserPatch"]["properties"]["password"]["maxLength"],
        users::MAX_PASSWORD_LEN
    );
    assert_eq!(
        schemas["NewApiKey"]["properties"]["name"]["maxLength"],
        api_keys::MAX_NAME_LEN
    );

    // 422 wherever something is read from the request, with the error shape.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let reads = op["requestBody"].is_object()
                || op["parameters"].as_array().is_some_and(|p| !p.is_empty());
            if reads {
                assert_eq!(
                    op["responses"]["422"]["$ref"], "#/components/responses/Invalid",
                    "{method} {path}"
                );
            }
        }
    }

    // Every tagged enum (a oneOf of objects told apart by a one-value property) has
    // closed variants, and each is a Rust type that refuses unknown fields: a new tagged
    // enum must be added here once that is checked.
    let mut tagged = BTreeSet::new();
    for (name, schema) in schemas.as_object().unwrap() {
        let Some(variants) = schema["oneOf"].as_array() else {
            continue;
        };
        let is_tagged = variants.iter().all(|v| {
            v["type"] == "object"
                && v["properties"].as_object().is_some_and(|p| {
                    p.values()
                        .any(|p| p["enum"].as_array().is_some_and(|e| e.len() == 1))
                })
        });
        if is_tagged {
            for v in variants {
                // A unit variant is the tag alone, and serde ignores anything else.
                let unit = v["properties"].as_object().unwrap().len() == 1;
                let closed = if unit {
                    Value::Null
                } else {
                    Value::Bool(false)
                };
                assert_eq!(v["additionalProperties"], closed, "{name}: {v}");
            }
            tagged.insert(name.as_str());
        }
    }
    assert_eq!(
        tagged,
        BTreeSet::from(["BackendSpec", "RateKey", "Rewrite", "Sticky"]),
        "the tagged enums changed: check the new one refuses unknown fields, then list it"
    );
    use switchyard_shared::model::BackendSpec;
    use switchyard_shared::policy::{RateKey, Rewrite, Sticky};
    let refused = [
        serde_json::from_value::<BackendSpec>(
            json!({"kind": "upstreams", "upstreams": [], "x": 1}),
        )
        .is_err(),
        serde_json::from_value::<BackendSpec>(json!({"kind": "named", "name": "a", "x": 1}))
            .is_err(),
        serde_json::from_value::<Rewrite>(json!({"kind": "replace_prefix", "with": "/a", "x": 1}))
            .is_err(),
        serde_json::from_value::<Rewrite>(
            json!({"kind": "regex", "pattern": "a", "replacement": "b", "x": 1}),
        )
        .is_err(),
        serde_json::from_value::<RateKey>(json!({"kind": "header", "name": "a", "x": 1})).is_err(),
        serde_json::from_value::<Sticky>(json!({"kind": "cookie", "name": "a", "x": 1})).is_err(),
    ];
    assert!(refused.iter().all(|r| *r), "{refused:?}");
    // Unit variants take what else their object holds, as the document says.
    assert!(serde_json::from_value::<BackendSpec>(json!({"kind": "none", "x": 1})).is_ok());
    assert!(serde_json::from_value::<Rewrite>(json!({"kind": "strip_prefix", "x": 1})).is_ok());
    // The flat import's `env` form is closed too.
    let flat = schemas["FlatInput"]["oneOf"].as_array().unwrap();
    for v in flat {
        let v = match v["$ref"].as_str() {
            Some(r) => &schemas[r.rsplit('/').next().unwrap()],
            None => v,
        };
        assert_eq!(v["additionalProperties"], false, "{v}");
    }

    // Free text, anywhere, carries the no-NUL pattern.
    assert_eq!(
        schemas["ZoneSpec"]["properties"]["hostname"]["pattern"],
        nul
    );
    assert_eq!(schemas["NewApiKey"]["properties"]["name"]["pattern"], nul);

    // Links: a create's 201 and a list's 200 lead to the operations on the id.
    let links = &doc["paths"]["/api/v1/zones"]["post"]["responses"]["201"]["links"];
    for (op, pointer) in [
        ("zones_read", "/id"),
        ("zones_update", "/id"),
        ("zones_remove", "/id"),
    ] {
        assert_eq!(links[op]["operationId"], op, "{links}");
        assert_eq!(
            links[op]["parameters"]["id"],
            format!("$response.body#{pointer}")
        );
    }
    let links = &doc["paths"]["/api/v1/domains"]["get"]["responses"]["200"]["links"];
    assert_eq!(
        links["domains_reissue"]["parameters"]["id"],
        "$response.body#/items/0/id"
    );
}
