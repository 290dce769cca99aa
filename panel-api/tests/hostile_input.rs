//! Whatever a client sends, the panel answers in its JSON error shape with a 4xx that
//! names the field, the value and what is allowed — never a 5xx, never a dropped
//! connection: hostile query and path parameters on every list and item endpoint,
//! bodies that are not JSON, not declared as JSON, too large or holding a NUL, methods a
//! path does not serve — and a handler that panics answers a logged 500 with the request
//! id instead of closing the connection.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// Every list endpoint and the query parameters it takes besides `limit` and `offset`.
const LISTS: &[(&str, &[&str])] = &[
    ("/api-keys", &["q"]),
    (
        "/audit",
        &[
            "actor",
            "resource_type",
            "resource_id",
            "action",
            "since",
            "until",
        ],
    ),
    ("/dns-credentials", &["q"]),
    ("/domains", &["q"]),
    ("/grants", &["user_id", "domain_id", "named_backend_id"]),
    ("/named-backends", &["q"]),
    ("/users", &["q"]),
    ("/zones", &["q", "after", "domain_id", "named_backend_id"]),
];

/// A hostile value of a parameter: the query string, the field the answer must name,
/// and text its problem must hold (the value, or what is allowed).
struct Case {
    query: String,
    field: String,
    says: Vec<String>,
}

fn case(query: impl Into<String>, field: impl Into<String>, says: &[&str]) -> Case {
    Case {
        query: query.into(),
        field: field.into(),
        says: says.iter().map(|s| s.to_string()).collect(),
    }
}

/// The hostile values of `limit`, `offset` and whatever else `params` holds.
fn cases(params: &[&'static str]) -> Vec<Case> {
    let long = "x".repeat(10_000);
    let mut out = vec![
        // One past i64::MAX: sea-query's conversion panicked on it.
        case(
            "offset=9223372036854775808",
            "offset",
            &["9223372036854775808", "from 0 to 1000000000"],
        ),
        case(
            "offset=18446744073709551616",
            "offset",
            &["18446744073709551616"],
        ),
        case(
            "offset=99999999999999999999999999999999999999999",
            "offset",
            &["from 0 to 1000000000"],
        ),
        case(
            "offset=1000000001",
            "offset",
            &["1000000001", "from 0 to 1000000000"],
        ),
        case("offset=-1", "offset", &["\"-1\"", "from 0 to 1000000000"]),
        case("offset=1e3", "offset", &["\"1e3\""]),
        case("limit=0", "limit", &["\"0\"", "from 1 to 500"]),
        case("limit=-5", "limit", &["\"-5\"", "from 1 to 500"]),
        case("limit=501", "limit", &["\"501\"", "from 1 to 500"]),
        case("limit=ten", "limit", &["\"ten\"", "from 1 to 500"]),
        case("limit=1.5", "limit", &["\"1.5\""]),
        case("limit=", "limit", &["\"\"", "from 1 to 500"]),
        case("limit=%00", "limit", &["NUL"]),
        case("limit=1&limit=2", "limit", &["more than once"]),
        case(
            "colour=red",
            "colour",
            &["not a query parameter", "limit", "offset"],
        ),
        // A name is quoted up to 64 characters.
        case(
            format!("{long}=1"),
            format!("{}…", &long[..64]),
            &["not a query parameter"],
        ),
    ];
    for &param in params {
        match param {
            "q" | "resource_type" | "resource_id" | "action" | "after" => {
                out.push(case(format!("{param}=%00"), param, &["NUL"]));
                out.push(case(format!("{param}=abc%00def"), param, &["NUL"]));
                out.push(case(
                    format!("{param}={long}"),
                    param,
                    &["10000 characters", "at most"],
                ));
            }
            "since" | "until" => {
                out.push(case(
                    format!("{param}=yesterday"),
                    param,
                    &["\"yesterday\"", "RFC 3339"],
                ));
                out.push(case(format!("{param}=%00"), param, &["NUL"]));
            }
            "actor" | "user_id" | "domain_id" | "named_backend_id" => {
                out.push(case(format!("{param}=null"), param, &["\"null\"", "UUID"]));
                out.push(case(format!("{param}=%00"), param, &["NUL"]));
                // The hyphenated form only, as `format: uuid` says.
                out.push(case(
                    format!("{param}=0b7a5c4e2f1d4c3b9a8e6d5f4e3c2b1a"),
                    param,
                    &["UUID"],
                ));
                out.push(case(format!("{param}={long}"), param, &["UUID"]));
            }
            other => panic!("no hostile values for {other}"),
        }
    }
    if params.contains(&"after") {
        // Cursors the panel never made: not base64, and base64 of a NUL.
        out.push(case(
            "after=not%20a%20cursor",
            "after",
            &["not a page cursor"],
        ));
        out.push(case("after=AA", "after", &["not a page cursor"]));
    }
    out
}

/// The reply is the API's error shape with `status` and `code`; its details.
fn error_details(reply: &Reply, status: u16, code: &str, what: &str) -> Vec<(String, String)> {
    assert_eq!(reply.status, status, "{what}: {}", reply.json);
    let content_type = reply.headers["content-type"].to_str().unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: {content_type}"
    );
    assert_eq!(reply.json["error"]["code"], code, "{what}: {}", reply.json);
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {}",
        reply.json
    );
    reply.json["error"]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no details array: {}", reply.json))
        .iter()
        .map(|d| {
            (
                d["field"].as_str().unwrap_or_default().to_owned(),
                d["problem"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn hostile_query_and_path_parameters_are_refused_naming_the_field() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "example.com").await?;
    panel.zone(&key, "app.example.com").await?;

    let mut checked = 0;
    for (list, params) in LISTS {
        for case in cases(params) {
            let path = format!("{list}?{}", case.query);
            let shown: String = path.chars().take(120).collect();
            let reply = panel
                .call(Method::GET, &path, Auth::Bearer(&key), None)
                .await?;
            let details = error_details(&reply, 422, "invalid", &shown);
            let problem = details
                .iter()
                .find(|(field, _)| *field == case.field)
                .map(|(_, problem)| problem.clone())
                .unwrap_or_else(|| {
                    panic!("{shown}: no problem about `{}`: {details:?}", case.field)
                });
            for text in &case.says {
                assert!(
                    problem.contains(text.as_str()),
                    "{shown}: {problem:?} lacks {text:?}"
                );
            }
            checked += 1;
        }
        // What is within bounds still answers.
        let reply = panel
            .call(
                Method::GET,
                &format!("{list}?limit=500&offset=1000000000"),
                Auth::Bearer(&key),
                None,
            )
            .await?;
        assert_eq!(reply.status, 200, "{list}: {}", reply.json);
        assert_eq!(reply.json["items"], json!([]), "{list}");
    }
    assert!(checked > 150, "{checked}");

    // Search text is text, whatever it holds (invalid UTF-8 is read as U+FFFD).
    for q in [
        "%FF%FE",
        "%27%3B%20DROP%20TABLE%20zones%3B--",
        "%F0%9F%A6%80",
        "%25_%5C",
    ] {
        for list in [
            "/zones",
            "/domains",
            "/users",
            "/api-keys",
            "/named-backends",
        ] {
            let reply = panel
                .call(
                    Method::GET,
                    &format!("{list}?q={q}"),
                    Auth::Bearer(&key),
                    None,
                )
                .await?;
            assert_eq!(reply.status, 200, "{list}?q={q}: {}", reply.json);
        }
    }

    // Path parameters: every `{id}` is a UUID, and anything else is a 422 naming `id`.
    let long = "a".repeat(5_000);
    let ids = [
        "null,null",
        "%00",
        "123",
        "0b7a5c4e-2f1d-4c3b-9a8e-6d5f4e3c2b1",
        long.as_str(),
    ];
    let items: &[(Method, &str)] = &[
        (Method::DELETE, "/api-keys/{}"),
        (Method::GET, "/domains/{}"),
        (Method::GET, "/domains/{}/certificate"),
        (Method::POST, "/domains/{}/certificate/reissue"),
        (Method::GET, "/zones/{}"),
        (Method::DELETE, "/zones/{}"),
        (Method::GET, "/named-backends/{}"),
        (Method::DELETE, "/named-backends/{}"),
        (Method::GET, "/users/{}"),
        (Method::DELETE, "/grants/{}"),
        (Method::DELETE, "/dns-credentials/{}"),
    ];
    for (method, template) in items {
        for id in ids {
            let path = template.replace("{}", id);
            let shown: String = path.chars().take(80).collect();
            let reply = panel
                .call(method.clone(), &path, Auth::Bearer(&key), None)
                .await?;
            let details = error_details(&reply, 422, "invalid", &format!("{method} {shown}"));
            assert_eq!(details.len(), 1, "{method} {shown}: {details:?}");
            assert_eq!(details[0].0, "id", "{method} {shown}: {details:?}");
            assert!(
                details[0].1.contains("UUID"),
                "{method} {shown}: {details:?}"
            );
        }
    }
    // With a body too: the id is refused before the body is read.
    let reply = panel
        .call(
            Method::PUT,
            "/zones/not-an-id",
            Auth::Bearer(&key),
            Some(zone("app.example.com", "", "http://127.0.0.1:9001")),
        )
        .await?;
    let details = error_details(&reply, 422, "invalid", "PUT /zones/not-an-id");
    assert_eq!(details[0].0, "id");
    assert!(details[0].1.contains("\"not-an-id\""), "{details:?}");

    // Nothing failed inside: no 500 was logged.
    assert!(
        !panel.logs.text().contains("internal error"),
        "an internal error was logged"
    );
    panel.stop().await
}

#[tokio::test]
async fn hostile_bodies_and_methods_answer_the_error_shape() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let url = |path: &str| format!("{}{path}", panel.base);

    // (what, request, status, code, field named)
    let requests: Vec<(&str, reqwest::RequestBuilder, u16, &str, Option<&str>)> = vec![
        (
            "text/plain",
            panel
                .http
                .post(url("/domains"))
                .header("content-type", "text/plain")
                .body(r#"{"name":"a.com"}"#),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "no content type",
            panel.http.post(url("/domains")).body(r#"{"name":"a.com"}"#),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "form encoded",
            panel
                .http
                .post(url("/users"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("username=a&password=b"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "broken JSON",
            panel
                .http
                .post(url("/domains"))
                .header("content-type", "application/json")
                .body(r#"{"name":"#),
            400,
            "bad_request",
            None,
        ),
        (
            "empty body",
            panel
                .http
                .post(url("/domains"))
                .header("content-type", "application/json"),
            400,
            "bad_request",
            None,
        ),
        (
            "an array, not an object",
            panel
                .http
                .post(url("/domains"))
                .header("content-type", "application/json")
                .body("[]"),
            422,
            "invalid",
            Some("."),
        ),
        (
            "a number for a string",
            panel
                .http
                .post(url("/domains"))
                .header("content-type", "application/json")
                .body(r#"{"name":5}"#),
            422,
            "invalid",
            Some("name"),
        ),
        (
            "an unknown field",
            panel
                .http
                .post(url("/users"))
                .header("content-type", "application/json")
                .body(r#"{"username":"abc","password":"long-enough-password","colour":"red"}"#),
            422,
            "invalid",
            Some("colour"),
        ),
        (
            "a NUL in a value",
            panel
                .http
                .post(url("/api-keys"))
                .header("content-type", "application/json")
                .body(r#"{"name":"a\u0000b"}"#),
            422,
            "invalid",
            Some("name"),
        ),
        (
            "a NUL deep inside",
            panel
                .http
                .post(url("/zones"))
                .header("content-type", "application/json")
                .body(
                    json!({"hostname": "a.example.com", "backend": {"kind": "upstreams",
                        "upstreams": [{"url": "http://127.0.0.1:9\u{0}"}]}})
                    .to_string(),
                ),
            422,
            "invalid",
            Some("backend.upstreams[0].url"),
        ),
        (
            "a NUL in a field's name",
            panel
                .http
                .post(url("/domains"))
                .header("content-type", "application/json")
                .body(r#"{"na\u0000me":"a.com"}"#),
            422,
            "invalid",
            Some("na\\u0000me"),
        ),
        (
            "a NUL in a login",
            panel
                .http
                .post(url("/auth/login"))
                .header("content-type", "application/json")
                .body(r#"{"username":"root\u0000","password":"x"}"#),
            422,
            "invalid",
            Some("username"),
        ),
        (
            "3 MB body",
            panel
                .http
                .post(url("/domains"))
                .header("content-type", "application/json")
                .body(format!(r#"{{"name":"{}"}}"#, "a".repeat(3 << 20))),
            413,
            "too_large",
            None,
        ),
        (
            "a method the path does not serve",
            panel.http.put(url("/domains")),
            405,
            "method_not_allowed",
            None,
        ),
        (
            "a path that does not exist",
            panel.http.get(url("/no-such-thing")),
            404,
            "not_found",
            None,
        ),
    ];
    for (what, request, status, code, field) in requests {
        let response = request.bearer_auth(&key).send().await?;
        let got = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
        let reply = Reply {
            status: got,
            json,
            set_cookies: Vec::new(),
            headers,
        };
        let details = error_details(&reply, status, code, what);
        if let Some(field) = field {
            assert!(
                details.iter().any(|(f, _)| f == field),
                "{what}: no problem about {field}: {details:?}"
            );
        }
        if status == 405 {
            let allow = reply.headers["allow"].to_str()?;
            assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
            let message = reply.json["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("PUT") && message.contains("Allow"),
                "{message}"
            );
        }
    }
    // The NUL did not reach PostgreSQL: nothing failed inside.
    assert!(
        !panel.logs.text().contains("internal error"),
        "an internal error was logged"
    );
    panel.stop().await
}

/// A deliberately panicking handler, served by the test only.
async fn panics() -> &'static str {
    panic!("deliberate panic in a test handler")
}

#[tokio::test]
async fn a_panicking_handler_answers_a_logged_500_with_the_request_id() -> anyhow::Result<()> {
    let routes = axum::Router::new().route("/api/v1/test/panic", axum::routing::get(panics));
    let mut panel = Panel::start_with_routes(routes).await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;

    let reply = panel
        .call(Method::GET, "/test/panic", Auth::Bearer(&key), None)
        .await?;
    let details = error_details(&reply, 500, "internal", "the panicking handler");
    assert!(details.is_empty(), "{details:?}");
    let message = reply.json["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("deliberate"),
        "the panic's text reached the client: {message}"
    );
    let request_id = reply.headers["x-request-id"].to_str()?.to_owned();
    assert_eq!(request_id.len(), 32, "{request_id}");

    // The log has the panic, under the answer's request id, and the request's own line
    // with status 500.
    let logs = panel.logs.text();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|l: &Value| l["span"]["request_id"] == request_id.as_str())
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("deliberate panic in a test handler"))),
        "no log line with the panic for request {request_id}: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "request" && l["fields"]["status"] == 500),
        "no request line with status 500: {lines:?}"
    );

    // The panel goes on serving, on the same client.
    let reply = panel
        .call(Method::GET, "/me", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    panel.stop().await
}
