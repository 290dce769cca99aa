//! The built web panel served by panel-api (`--web-dir`): files, client routes answered
//! with `index.html`, cache headers, security headers on every answer, the API's own 404
//! kept for `/api/…`, CORS for a panel hosted elsewhere, and the cookie attributes a
//! cross-site panel needs.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use reqwest::Method;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap};

const INDEX_HTML: &str = "<!doctype html><html><head><title>Switchyard</title>\
    <script type=\"module\" src=\"/assets/app-abc123.js\"></script></head>\
    <body><div id=\"root\"></div></body></html>";
const APP_JS: &str = "console.log('switchyard panel');\n";
const ALLOWED_ORIGIN: &str = "https://panel.example.test";

/// A built panel in a directory of its own: index.html and one hashed bundle, with a
/// file next to (outside) it that must never be served. Removed on drop.
struct WebDir {
    root: PathBuf,
    /// `root/dist`, the directory given to `--web-dir`.
    dist: String,
}

impl WebDir {
    fn new() -> Self {
        let root = std::env::temp_dir().join(format!(
            "switchyard-web-assets-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(root.join("dist").join("assets")).expect("temp dir");
        std::fs::write(root.join("dist").join("index.html"), INDEX_HTML).expect("index");
        std::fs::write(
            root.join("dist").join("assets").join("app-abc123.js"),
            APP_JS,
        )
        .expect("bundle");
        std::fs::write(root.join("outside.txt"), "not part of the panel").expect("outside");
        let dist = root
            .join("dist")
            .to_str()
            .expect("UTF-8 temp path")
            .to_owned();
        WebDir { root, dist }
    }

    fn dist(&self) -> &str {
        &self.dist
    }

    fn path(&self) -> &Path {
        Path::new(&self.dist)
    }
}

impl Drop for WebDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The panel's origin (`http://127.0.0.1:port`), without `/api/v1`.
fn origin(panel: &Panel) -> String {
    panel.base.trim_end_matches("/api/v1").to_owned()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn assert_security_headers(headers: &HeaderMap, what: &str) {
    assert_eq!(
        header(headers, "content-security-policy"),
        panel_api::web::CONTENT_SECURITY_POLICY,
        "{what}"
    );
    let csp = header(headers, "content-security-policy");
    assert!(csp.contains("script-src 'self';"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert_eq!(header(headers, "x-frame-options"), "DENY", "{what}");
    assert_eq!(
        header(headers, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(header(headers, "referrer-policy"), "same-origin", "{what}");
}

#[tokio::test]
async fn the_built_panel_is_served_beside_the_api() -> anyhow::Result<()> {
    let web = WebDir::new();
    let panel = Panel::start_with(None, &["--web-dir", web.dist()]).await?;
    let root = origin(&panel);
    let http = &panel.http;

    // The panel's page, at / and at any client-side route, revalidated on every load.
    for path in ["/", "/zones/x", "/index.html", "/domains/42/certificate"] {
        let response = http.get(format!("{root}{path}")).send().await?;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert!(
            header(&headers, "content-type").starts_with("text/html"),
            "{path}: {headers:?}"
        );
        assert_eq!(header(&headers, "cache-control"), "no-cache", "{path}");
        assert_security_headers(&headers, path);
        assert_eq!(response.text().await?, INDEX_HTML, "{path}");
    }
    // A revalidation is a cheap 304.
    let first = http.get(format!("{root}/")).send().await?;
    let modified = header(first.headers(), "last-modified").to_owned();
    assert!(!modified.is_empty(), "no Last-Modified on index.html");
    let again = http
        .get(format!("{root}/zones/x"))
        .header("if-modified-since", &modified)
        .send()
        .await?;
    assert_eq!(again.status(), 304);
    assert_eq!(header(again.headers(), "cache-control"), "no-cache");
    let head = http.head(format!("{root}/")).send().await?;
    assert_eq!(head.status(), 200);

    // A hashed bundle: JavaScript, cached for a year.
    let response = http
        .get(format!("{root}/assets/app-abc123.js"))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(
        header(&headers, CONTENT_TYPE.as_str()).contains("javascript"),
        "{headers:?}"
    );
    assert_eq!(
        header(&headers, CACHE_CONTROL.as_str()),
        "public, max-age=31536000, immutable"
    );
    assert_security_headers(&headers, "/assets/app-abc123.js");
    assert_eq!(response.text().await?, APP_JS);

    // A missing bundle is a 404, never the page (a browser would run HTML as a script).
    for path in ["/assets/app-old999.js", "/assets/", "/assets/nested/x.css"] {
        let response = http.get(format!("{root}{path}")).send().await?;
        assert_eq!(response.status(), 404, "{path}");
        assert!(
            !header(response.headers(), "content-type").starts_with("text/html"),
            "{path}"
        );
        assert!(
            header(response.headers(), "cache-control").is_empty(),
            "{path}"
        );
        assert!(!response.text().await?.contains("<html"), "{path}");
    }

    // The API keeps /api: unknown paths there are its JSON 404, with the same headers.
    for path in ["/api/v1/nope", "/api/nope", "/api", "/api/v2/zones"] {
        let response = http.get(format!("{root}{path}")).send().await?;
        assert_eq!(response.status(), 404, "{path}");
        let headers = response.headers().clone();
        assert!(
            header(&headers, "content-type").starts_with("application/json"),
            "{path}: {headers:?}"
        );
        assert_security_headers(&headers, path);
        let body: serde_json::Value = serde_json::from_str(&response.text().await?)?;
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let health = http.get(format!("{root}/api/v1/health")).send().await?;
    assert_eq!(health.status(), 200);
    assert_security_headers(health.headers(), "/api/v1/health");
    assert!(
        header(health.headers(), "content-type").starts_with("application/json"),
        "the API still answers JSON"
    );
    // Only reads reach the files: anything else outside the API is the API's 404.
    let post = http.post(format!("{root}/zones")).send().await?;
    assert_eq!(post.status(), 404);
    assert!(header(post.headers(), "content-type").starts_with("application/json"));

    // Nothing outside the directory, however the path is spelled.
    for path in [
        "/..%2foutside.txt",
        "/%2e%2e/outside.txt",
        "/assets/..%2f..%2foutside.txt",
    ] {
        let response = http.get(format!("{root}{path}")).send().await?;
        let text = response.text().await?;
        assert!(!text.contains("not part of the panel"), "{path} escaped");
    }
    panel.stop().await
}

#[tokio::test]
async fn without_a_web_dir_only_the_api_answers() -> anyhow::Result<()> {
    let panel = Panel::start().await?;
    let root = origin(&panel);
    let response = panel.http.get(format!("{root}/")).send().await?;
    assert_eq!(response.status(), 404);
    assert_security_headers(response.headers(), "/ without a panel");
    let body: serde_json::Value = serde_json::from_str(&response.text().await?)?;
    assert_eq!(body["error"]["code"], "not_found");
    panel.stop().await?;

    // A web dir without a built panel stops the start, saying what to do.
    let empty = WebDir::new();
    std::fs::remove_file(empty.path().join("index.html"))?;
    let err = Panel::start_with(None, &["--web-dir", empty.dist()])
        .await
        .err()
        .expect("refused");
    let err = format!("{err:#}");
    assert!(err.contains("has no index.html"), "{err}");
    assert!(err.contains("npm run build"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_panel_hosted_elsewhere_gets_cors_for_its_origin_only() -> anyhow::Result<()> {
    let web = WebDir::new();
    let mut panel = Panel::start_with(
        None,
        &["--web-dir", web.dist(), "--cors-origins", ALLOWED_ORIGIN],
    )
    .await?;
    let url = format!("{}/zones", panel.base);
    let preflight = |origin: &str| {
        panel
            .http
            .request(Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "content-type,x-csrf-token",
            )
    };
    let response = preflight(ALLOWED_ORIGIN).send().await?;
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers().clone();
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        ALLOWED_ORIGIN
    );
    assert_eq!(header(&headers, "access-control-allow-credentials"), "true");
    assert!(
        header(&headers, "access-control-allow-headers")
            .to_lowercase()
            .contains("x-csrf-token")
    );
    assert!(header(&headers, "access-control-allow-methods").contains("PATCH"));
    // Another origin gets no Access-Control-Allow-Origin, so the browser refuses the
    // request (tower-http still sends the credentials flag, which alone grants nothing).
    let response = preflight("https://evil.example").send().await?;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // Same-site by default: the session cookie stays SameSite=Strict even with CORS on.
    let reply = panel
        .call(
            Method::POST,
            "/auth/login",
            Auth::None,
            Some(serde_json::json!({"username": ADMIN, "password": ADMIN_PASSWORD})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    for cookie in &reply.set_cookies {
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    }
    panel.stop().await
}

#[tokio::test]
async fn a_panel_on_another_site_gets_same_site_none_cookies() -> anyhow::Result<()> {
    let mut panel = Panel::start_with(
        None,
        &[
            "--cors-origins",
            ALLOWED_ORIGIN,
            "--cookie-same-site",
            "none",
            "--cookie-secure",
            "true",
        ],
    )
    .await?;
    let reply = panel
        .call(
            Method::POST,
            "/auth/login",
            Auth::None,
            Some(serde_json::json!({"username": ADMIN, "password": ADMIN_PASSWORD})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.set_cookies.len(), 2, "{:?}", reply.set_cookies);
    for cookie in &reply.set_cookies {
        assert!(cookie.contains("SameSite=None"), "{cookie}");
        assert!(cookie.contains("Secure"), "{cookie}");
    }
    panel.stop().await?;

    // Without an origin to allow, SameSite=None is refused at start.
    let err = Panel::start_with(
        None,
        &["--cookie-same-site", "none", "--cookie-secure", "true"],
    )
    .await
    .err()
    .expect("refused");
    assert!(
        format!("{err:#}").contains("SWITCHYARD_CORS_ORIGINS"),
        "{err:#}"
    );
    Ok(())
}
