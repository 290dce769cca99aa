//! The built web panel (the React SPA from `web/`, `npm run build` → `web/dist`), served
//! by the panel at `/` when `--web-dir` names it; without it the panel serves the API
//! only.
//!
//! Files come from `tower-http`'s [`ServeDir`] / [`ServeFile`] (path traversal refused,
//! MIME types, ranges, `Last-Modified` and conditional requests), read from disk on every
//! request, so a rebuilt panel is live without a restart. The rules around them:
//! - the API keeps `/api/…` to itself: an unknown `/api/…` path is the API's JSON 404,
//!   never `index.html` (the router's fallback asks [`WebPanel::serves`] first);
//! - `/assets/…` are Vite's content-hashed bundles: a hit is cached for a year
//!   ([`IMMUTABLE`]), a miss is a 404 (a stale `index.html` asking for an old bundle
//!   must fail loudly, not get HTML as JavaScript);
//! - any other GET that is no file is a client-side route and gets `index.html`;
//!   `index.html` and the other unhashed files are revalidated on every load
//!   ([`REVALIDATE`]), so a new build is picked up at once;
//! - every response of the panel, API included, carries [`SECURITY_HEADERS`]
//!   ([`security_headers`]): a CSP without inline scripts or styles, no framing, no MIME
//!   sniffing, referrers only to the same origin.
//!
//! It never writes to the directory, and never serves anything outside it.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, HeaderName};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use tower_http::services::{ServeDir, ServeFile};

use crate::error::ApiError;

/// The page every client-side route is answered with.
pub const INDEX: &str = "index.html";
/// Where Vite puts its content-hashed bundles (`build.assetsDir`, default `assets`).
pub const ASSETS_PREFIX: &str = "/assets/";
/// A hashed file never changes under its name: one year (the longest value caches
/// honour), and `immutable` so browsers do not even revalidate on reload.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `index.html` names the current bundles: a browser may keep it but must ask (a cheap
/// 304 thanks to `Last-Modified`) before using it, so a deploy is seen on the next load.
pub const REVALIDATE: &str = "no-cache";
/// Scripts, styles, fonts, API calls only from the panel's own origin; no inline
/// script or style (the SPA has none: Vite emits files), `data:` images only (icons
/// inlined by the bundler), no plugins, no framing, forms and `<base>` to itself only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'self'; form-action 'self'; object-src 'none'";

/// Added to every response that does not set them itself. Harmless on JSON answers and
/// protective on HTML ones; the same set everywhere keeps it simple to audit.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    // The legacy twin of `frame-ancestors 'none'`, for browsers without CSP level 2.
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

/// The built panel in one directory.
#[derive(Clone)]
pub struct WebPanel {
    dir: PathBuf,
    /// Everything but `/assets/`: files, else `index.html` (client routes).
    pages: ServeDir<ServeFile>,
    /// `/assets/…`: files only, a miss is a 404.
    assets: ServeDir,
}

impl std::fmt::Debug for WebPanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebPanel").field("dir", &self.dir).finish()
    }
}

impl WebPanel {
    /// The panel built into `dir`; refused (with what to do) when `dir` has no
    /// `index.html`, so that a wrong path fails at start rather than as 404s.
    pub fn open(dir: &Path) -> Result<WebPanel, String> {
        let index = dir.join(INDEX);
        if !index.is_file() {
            return Err(format!(
                "SWITCHYARD_WEB_DIR / --web-dir \"{}\" has no {INDEX}: point it at the built \
                 panel (cd web && npm ci && npm run build writes web/dist), or leave it unset \
                 to serve the API only",
                dir.display()
            ));
        }
        Ok(WebPanel {
            dir: dir.to_owned(),
            pages: ServeDir::new(dir).fallback(ServeFile::new(index)),
            assets: ServeDir::new(dir),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a request the API did not route is the panel's: a GET or HEAD outside
    /// `/api` (whose unknown paths stay JSON 404s).
    pub fn serves(method: &Method, path: &str) -> bool {
        let api = path == "/api" || path.starts_with("/api/");
        (method == Method::GET || method == Method::HEAD) && !api
    }

    /// Serves a file, `index.html` for a client route, or a 404 for a missing asset.
    pub async fn serve(&self, request: Request) -> Response {
        let asset = request.uri().path().starts_with(ASSETS_PREFIX);
        let served = if asset {
            self.assets.clone().try_call(request).await
        } else {
            self.pages.clone().try_call(request).await
        };
        let mut response = match served {
            Ok(response) if response.status() == StatusCode::NOT_FOUND => {
                return ApiError::NotFound.into_response();
            }
            Ok(response) => response.map(Body::new),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound) => {
                return ApiError::NotFound.into_response();
            }
            Err(e) => {
                return ApiError::Internal(anyhow::anyhow!(
                    "reading the web panel from {}: {e}",
                    self.dir.display()
                ))
                .into_response();
            }
        };
        let status = response.status();
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            let policy = if asset { IMMUTABLE } else { REVALIDATE };
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static(policy));
        }
        response
    }
}

/// Middleware: [`SECURITY_HEADERS`] on every response, unless a handler set its own.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_never_the_panels() {
        assert!(WebPanel::serves(&Method::GET, "/"));
        assert!(WebPanel::serves(&Method::HEAD, "/zones/x"));
        assert!(WebPanel::serves(&Method::GET, "/apis"));
        assert!(!WebPanel::serves(&Method::GET, "/api"));
        assert!(!WebPanel::serves(&Method::GET, "/api/v1/nope"));
        assert!(!WebPanel::serves(&Method::GET, "/api/v2"));
        assert!(!WebPanel::serves(&Method::POST, "/zones"));
    }

    #[test]
    fn a_directory_without_index_is_refused() {
        let err = WebPanel::open(Path::new("/nonexistent/web/dist")).expect_err("no index");
        assert!(err.contains("npm run build"), "{err}");
    }

    #[test]
    fn the_policy_allows_no_inline_script() {
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-eval"));
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
        for (name, value) in SECURITY_HEADERS {
            HeaderName::from_static(name);
            HeaderValue::from_static(value);
        }
    }
}
