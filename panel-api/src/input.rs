//! What the API reads from a request — the JSON body ([`ApiJson`]), the query string
//! ([`ApiQuery`]) and the path's parameters ([`ApiPath`]) — and how it refuses what it
//! cannot take: always in the API's JSON error shape ([`ApiError`]), naming the field,
//! the value and what is allowed, never a 5xx and never axum's plain-text rejections.
//!
//! A query string is checked against the very parameters the OpenAPI document publishes
//! for it (the type's `utoipa::IntoParams`, with their `minimum`, `maximum`,
//! `maxLength`, `format` and `enum`), so the bounds a client reads are the bounds the
//! panel enforces: there is no second copy to drift. Every problem is reported at once.
//!
//! No text anywhere in a request may hold a NUL character: PostgreSQL cannot store one
//! (it refuses the statement, which would be a 500), so a NUL is refused up front — in a
//! body (anywhere, key or value), in a query parameter and in the cursor of a page. The
//! document says so with [`NO_NUL_PATTERN`] on its strings.
//!
//! A whole number written with a fraction (`7.0`) is the integer it is, as JSON Schema's
//! `integer` has it: a body that fails only for that is read again with such numbers as
//! integers.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchyard_shared::model::FieldError;
use utoipa::IntoParams;
use utoipa::openapi::path::ParameterIn;

use crate::error::ApiError;

/// The `pattern` of every free-text string in the document: anything but NUL.
pub const NO_NUL_PATTERN: &str = "^[^\\u0000]*$";

/// What a refused NUL is told.
const NUL_PROBLEM: &str = "contains a NUL character (\\u0000), which no text accepts";

/// `axum::Json`, with every refusal an [`ApiError`]: not declared as JSON (415), too
/// large (413), not JSON at all (400), well-formed but of the wrong shape or holding a
/// NUL character (422, naming the field).
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(request.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be JSON, sent with `Content-Type: application/json`".into(),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| match e {
                BytesRejection::FailedToBufferBody(ref inner)
                    if inner.status() == StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    ApiError::TooLarge(format!(
                        "the body is larger than this operation accepts: {}",
                        e.body_text()
                    ))
                }
                other => ApiError::BadRequest(format!(
                    "the body could not be read: {}",
                    other.body_text()
                )),
            })?;
        if has_nul_escape(&bytes) {
            // Rare: find where, for the answer (a body that is not JSON at all is told
            // so by the parse below instead).
            if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
                let mut details = Vec::new();
                nul_fields(&value, &mut String::new(), &mut details);
                if !details.is_empty() {
                    return Err(ApiError::Invalid {
                        message: "the request is invalid; see details".into(),
                        details,
                    });
                }
            }
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => {
                // JSON Schema's `integer` takes `7.0` (RFC 8259 numbers have no type),
                // serde's integers do not: a body that failed with whole numbers
                // written with a fraction is read again with them as integers. Only
                // on failure, so the usual body is parsed once.
                if let Ok(mut value) = serde_json::from_slice::<Value>(&bytes)
                    && whole_numbers_as_integers(&mut value)
                    && let Ok(taken) = serde_json::from_value::<T>(value)
                {
                    return Ok(ApiJson(taken));
                }
                Err(ApiError::from(rejection))
            }
        }
    }
}

/// Turns every float without a fraction (and exactly representable: |x| ≤ 2^53) into
/// the integer it is; tells whether it changed anything.
fn whole_numbers_as_integers(value: &mut Value) -> bool {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Value::Number(n) if n.is_f64() => {
            let Some(f) = n.as_f64() else {
                return false;
            };
            if f.fract() != 0.0 || f.abs() > EXACT {
                return false;
            }
            *value = Value::from(f as i64);
            true
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| whole_numbers_as_integers(v) | changed),
        Value::Object(fields) => fields
            .values_mut()
            .fold(false, |changed, v| whole_numbers_as_integers(v) | changed),
        _ => false,
    }
}

/// `application/json`, with parameters or not, or any `application/*+json`: what
/// `axum::Json` accepts.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether JSON text holds the escape `\u0000` (a raw NUL is not valid JSON at all): a
/// backslash that is not itself escaped, then `u0000`. Outside strings valid JSON has no
/// backslash, so the scan needs no notion of where strings are.
fn has_nul_escape(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            // Skip the escaped character, so `\\u0000` (a backslash, then text) is not
            // taken for an escape.
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Every string (value or key) holding a NUL, by its path as serde names fields
/// (`zones[3].hostname`; `.` for the body itself).
fn nul_fields(value: &Value, path: &mut String, out: &mut Vec<FieldError>) {
    let here = |path: &str| {
        if path.is_empty() {
            ".".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => out.push(FieldError {
            field: here(path),
            problem: NUL_PROBLEM.into(),
        }),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                nul_fields(item, path, out);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                if key.contains('\0') {
                    path.push_str(&key.replace('\0', "\\u0000"));
                    out.push(FieldError {
                        field: here(path),
                        problem: format!("the name of this field {NUL_PROBLEM}"),
                    });
                } else {
                    path.push_str(key);
                    nul_fields(item, path, out);
                }
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// The query string, checked against the parameters `T` documents (see the module doc)
/// and then read into `T`; every problem is a 422 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + IntoParams,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let documented: Vec<Value> = T::into_params(|| Some(ParameterIn::Query))
            .iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .collect();
        let problems = check_query(query, &documented);
        if !problems.is_empty() {
            return Err(ApiError::Invalid {
                message: "the query string is invalid; see details".into(),
                details: problems,
            });
        }
        // Checked above, so this reads; should a type and its parameters ever disagree,
        // the answer is still a 422 naming the field.
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| {
                let text = std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.body_text());
                let (field, problem) = crate::error::split_serde_path(&text);
                ApiError::invalid_field(&field, problem)
            })
    }
}

/// Problems of a query string against documented parameters (each the JSON of an
/// OpenAPI parameter object): unknown or repeated names and values outside their
/// schema.
pub fn check_query(query: &str, documented: &[Value]) -> Vec<FieldError> {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let names = || {
        documented
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        // Named as given, up to a sane length.
        let mut field: String = name.chars().take(64).collect();
        if field.len() < name.len() {
            field.push('…');
        }
        let field = field.replace('\0', "\\u0000");
        let Some(param) = documented.iter().find(|p| p["name"] == *name) else {
            let takes = if documented.is_empty() {
                "this operation takes no query parameters".to_owned()
            } else {
                format!("this operation takes {}", names())
            };
            problems.push(FieldError {
                field,
                problem: format!("is not a query parameter of this operation; {takes}"),
            });
            continue;
        };
        if !seen.insert(name.to_string()) {
            problems.push(FieldError {
                field,
                problem: "is given more than once; give it once".into(),
            });
            continue;
        }
        if let Err(problem) = check_value(&value, &param["schema"]) {
            problems.push(FieldError { field, problem });
        }
    }
    problems
}

/// A query value against its parameter's schema; the problem names the value (shortened
/// when long) and what is allowed.
fn check_value(value: &str, schema: &Value) -> Result<(), String> {
    let shown = shown(value);
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec!["string"],
    };
    if value.contains('\0') {
        return Err(NUL_PROBLEM.into());
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if allowed.iter().any(|a| a.as_str() == Some(value)) {
            return Ok(());
        }
        let list: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        return Err(format!("{shown} is not allowed; use {}", list.join(", ")));
    }
    if types.contains(&"integer") {
        let (min, max) = (schema["minimum"].as_i64(), schema["maximum"].as_i64());
        let range = match (min, max) {
            (Some(min), Some(max)) => format!("a whole number from {min} to {max}"),
            (Some(min), None) => format!("a whole number of at least {min}"),
            (None, Some(max)) => format!("a whole number of at most {max}"),
            (None, None) => "a whole number".to_owned(),
        };
        let in_range = value.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            && value.parse::<i128>().is_ok_and(|n| {
                min.is_none_or(|m| n >= i128::from(m)) && max.is_none_or(|m| n <= i128::from(m))
            });
        return if in_range {
            Ok(())
        } else {
            Err(format!("{shown} is not allowed; give {range}"))
        };
    }
    if types.contains(&"boolean") {
        return match value {
            "true" | "false" => Ok(()),
            _ => Err(format!("{shown} is not allowed; give true or false")),
        };
    }
    match schema["format"].as_str() {
        Some("uuid") => {
            // The hyphenated form only, as the API writes ids (and as `format: uuid`
            // means).
            if value.len() == 36 && uuid::Uuid::try_parse(value).is_ok() {
                return Ok(());
            }
            return Err(format!(
                "{shown} is not an id; give a UUID such as 0b7a5c4e-2f1d-4c3b-9a8e-6d5f4e3c2b1a, \
                 as the API returns ids"
            ));
        }
        Some("date-time") => {
            return time::OffsetDateTime::parse(
                value,
                &time::format_description::well_known::Rfc3339,
            )
            .map(|_| ())
            .map_err(|_| {
                format!("{shown} is not a time; give an RFC 3339 time such as 2026-01-31T12:00:00Z")
            });
        }
        _ => {}
    }
    let chars = value.chars().count();
    if let Some(max) = schema["maxLength"].as_u64()
        && chars as u64 > max
    {
        return Err(format!("has {chars} characters; at most {max} are allowed"));
    }
    if let Some(min) = schema["minLength"].as_u64()
        && (chars as u64) < min
    {
        return Err(format!(
            "{shown} has {chars} characters; at least {min} are needed"
        ));
    }
    Ok(())
}

/// A value as a problem quotes it: JSON-quoted, at most 64 characters of it.
fn shown(value: &str) -> String {
    let mut short: String = value.chars().take(64).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    format!("{short:?}")
}

/// `axum::extract::Path`, with a value that does not parse refused as a 422 naming the
/// parameter and the value (axum answers such a path with a plain-text 400).
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        use axum::extract::path::ErrorKind;
        let rejection = match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => return Ok(ApiPath(value)),
            Err(rejection) => rejection,
        };
        let PathRejection::FailedToDeserializePathParams(e) = rejection else {
            // A route without the parameters its handler reads: a bug, logged as one.
            return Err(ApiError::Internal(anyhow::anyhow!(
                "path parameters: {}",
                rejection.body_text()
            )));
        };
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .ok();
        // The parameter a value came from, when the error does not say.
        let name_of = |value: &str| -> String {
            raw.as_ref()
                .and_then(|r| {
                    r.iter()
                        .find(|(_, v)| *v == value)
                        .map(|(k, _)| k.to_owned())
                })
                .unwrap_or_else(|| "path".to_owned())
        };
        let (field, value, expected) = match e.into_kind() {
            ErrorKind::ParseErrorAtKey {
                key,
                value,
                expected_type,
            } => (key, value, expected_type),
            ErrorKind::DeserializeError { key, value, .. } => {
                (key, value, std::any::type_name::<T>())
            }
            ErrorKind::ParseError {
                value,
                expected_type,
            } => (name_of(&value), value, expected_type),
            ErrorKind::ParseErrorAtIndex {
                value,
                expected_type,
                ..
            } => (name_of(&value), value, expected_type),
            ErrorKind::InvalidUtf8InPathParam { key } => {
                return Err(ApiError::invalid_field(
                    &key,
                    "is not valid UTF-8 once percent-decoded",
                ));
            }
            other => {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "path parameters: {other}"
                )));
            }
        };
        let what = if expected.ends_with("Uuid") {
            "an id; give a UUID such as 0b7a5c4e-2f1d-4c3b-9a8e-6d5f4e3c2b1a, as the API returns ids"
                .to_owned()
        } else {
            format!(
                "a valid {}",
                expected.rsplit("::").next().unwrap_or(expected)
            )
        };
        Err(ApiError::invalid_field(
            &field,
            format!("{} is not {what}", shown(&value)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(has_nul_escape(br#"{"a":"x\u0000y"}"#));
        assert!(has_nul_escape(br#"{"a":"\\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a":"\\u0000"}"#));
        assert!(has_nul_escape(br#"{"a":"\u00001"}"#));
        assert!(!has_nul_escape(br#"{"a":"\u0001"}"#));
        assert!(!has_nul_escape(br#"{"a":"plain"}"#));
        let mut out = Vec::new();
        nul_fields(
            &json!({"zones": [{"hostname": "a\u{0}"}], "k\u{0}": 1, "ok": "fine"}),
            &mut String::new(),
            &mut out,
        );
        let fields: Vec<&str> = out.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["k\\u0000", "zones[0].hostname"]);
        let mut out = Vec::new();
        nul_fields(&json!("\u{0}"), &mut String::new(), &mut out);
        assert_eq!(out[0].field, ".");
    }

    #[test]
    fn whole_numbers_written_with_a_fraction_are_integers() {
        let mut v = json!({"a": 7.0, "b": [1.0, 2.5, -3.0], "c": {"d": 1e300}, "e": 4});
        assert!(whole_numbers_as_integers(&mut v));
        assert_eq!(
            v,
            json!({"a": 7, "b": [1, 2.5, -3], "c": {"d": 1e300}, "e": 4})
        );
        let mut plain = json!({"a": 1, "b": "x", "c": 0.5});
        assert!(!whole_numbers_as_integers(&mut plain));
    }

    #[tokio::test]
    async fn a_body_takes_whole_numbers_written_with_a_fraction() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            revision: i64,
        }
        let request = |body: &'static str| {
            Request::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(body))
                .expect("a request")
        };
        let ApiJson(body) = ApiJson::<Body>::from_request(request(r#"{"revision": 1541.0}"#), &())
            .await
            .expect("7.0 is the integer 7");
        assert_eq!(body.revision, 1541);
        for refused in [r#"{"revision": 1.5}"#, r#"{"revision": 1.0, "x": 1}"#] {
            let Err(err) = ApiJson::<Body>::from_request(request(refused), &()).await else {
                panic!("{refused} was taken");
            };
            assert!(
                matches!(err, ApiError::Invalid { .. }),
                "{refused}: {err:?}"
            );
        }
    }

    #[test]
    fn json_content_types() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
            json_content_type(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonx"));
        assert!(!json_content_type(&HeaderMap::new()));
    }

    #[test]
    fn query_values_are_checked_against_their_schema() {
        let documented = vec![
            json!({"name": "limit", "in": "query", "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 500}}),
            json!({"name": "q", "in": "query", "schema": {"type": ["string", "null"], "maxLength": 5}}),
            json!({"name": "id", "in": "query", "schema": {"type": ["string", "null"], "format": "uuid"}}),
            json!({"name": "dry_run", "in": "query", "schema": {"type": "boolean"}}),
            json!({"name": "since", "in": "query", "schema": {"type": ["string", "null"], "format": "date-time"}}),
        ];
        let fields = |q: &str| -> Vec<(String, String)> {
            check_query(q, &documented)
                .into_iter()
                .map(|e| (e.field, e.problem))
                .collect()
        };
        assert!(fields("limit=500&q=abc&dry_run=true&since=2026-01-31T12:00:00Z").is_empty());
        assert!(fields("id=0b7a5c4e-2f1d-4c3b-9a8e-6d5f4e3c2b1a").is_empty());
        for bad in [
            "limit=0",
            "limit=501",
            "limit=-1",
            "limit=9223372036854775808",
            "limit=1e3",
            "limit=+5",
            "limit=",
        ] {
            let found = fields(bad);
            assert_eq!(found.len(), 1, "{bad}: {found:?}");
            assert_eq!(found[0].0, "limit");
            assert!(found[0].1.contains("from 1 to 500"), "{bad}: {found:?}");
        }
        let found = fields("q=abcdef");
        assert_eq!(found[0].0, "q");
        assert!(found[0].1.contains("at most 5"), "{found:?}");
        let found = fields("q=%00");
        assert!(found[0].1.contains("NUL"), "{found:?}");
        let found = fields("id=0b7a5c4e2f1d4c3b9a8e6d5f4e3c2b1a");
        assert!(found[0].1.contains("UUID"), "{found:?}");
        let found = fields("dry_run=yes");
        assert!(found[0].1.contains("true or false"), "{found:?}");
        let found = fields("since=yesterday");
        assert!(found[0].1.contains("RFC 3339"), "{found:?}");
        let found = fields("colour=red&limit=1&limit=2");
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, "colour");
        assert!(
            found[0].1.contains("limit, q, id, dry_run, since"),
            "{found:?}"
        );
        assert!(found[1].1.contains("more than once"), "{found:?}");
    }
}

/// Where a request came from and its id, for logs and the audit log.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub source_addr: Option<String>,
}

impl RequestMeta {
    pub fn from_parts(parts: &Parts) -> Self {
        RequestMeta {
            request_id: parts
                .extensions
                .get::<RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default(),
            source_addr: parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta::from_parts(parts))
    }
}

/// The request's id, put in its extensions by the request-context layer.
#[derive(Clone)]
pub struct RequestId(pub String);
