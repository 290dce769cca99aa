//! A small HTTP client for tests: send a request with any `Host` to a local port.
//!
//! Tests talk to a proxy (or an [`crate::upstream::Upstream`]) listening on 127.0.0.1 but
//! must present a real host name, both as the `Host` header and, over TLS, as the SNI name
//! the certificate is checked against. [`client`] builds a `reqwest` client that resolves
//! that one name to the given local address (no DNS, no system proxy, no redirects
//! followed, a 30 s overall timeout), and [`http_get`] / [`https_get`] wrap the common
//! case of one GET read into a [`Response`]. Any other request (methods, headers, bodies)
//! is built on [`client`] with [`url`] and read with [`Response::read`].
//! [`presented_leaf`] is the TLS handshake alone: which certificate a server presents
//! for an SNI name.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use http::{HeaderMap, StatusCode};

/// Overall timeout of one request made through [`client`]; far above any test's needs,
/// it only keeps a broken server from hanging a test forever.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A response read in full.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, decoded as UTF-8 (invalid sequences replaced).
    pub body: String,
}

impl Response {
    /// Reads a `reqwest` response in full.
    pub async fn read(resp: reqwest::Response) -> reqwest::Result<Response> {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    /// The first value of header `name`, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON (e.g. an echo upstream's description of the request).
    pub fn json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_str(&self.body)
    }
}

/// A client builder that sends requests for `host` to `addr`, whatever the port in `addr`:
/// use it with URLs from [`url`] (which carry no port, so the `Host` header is exactly
/// `host`). `host` must be a DNS name without a port; an IP literal would bypass the
/// override. Add roots (`add_root_certificate`) or options before `build()`.
pub fn client(host: &str, addr: SocketAddr) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .resolve(host, addr)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
}

/// `"{scheme}://{host}{path}"` — no port, so that a [`client`] for `host` reaches its
/// overridden address and sends `Host: {host}`. `path` starts with `/` (query allowed).
pub fn url(scheme: &str, host: &str, path: &str) -> String {
    format!("{scheme}://{host}{path}")
}

/// `GET http://{host}{path}` sent to `addr` with `Host: {host}`, read in full.
///
/// Errors are `reqwest`'s: `is_connect()` for a refused connection, `is_timeout()` after
/// [`REQUEST_TIMEOUT`]; a non-2xx status is not an error.
pub async fn http_get(addr: SocketAddr, host: &str, path: &str) -> reqwest::Result<Response> {
    let resp = client(host, addr)
        .build()?
        .get(url("http", host, path))
        .send()
        .await?;
    Response::read(resp).await
}

/// `GET https://{host}{path}` sent to `addr` (SNI and `Host` are `host`), trusting only the
/// CA certificate(s) in `ca_pem` — e.g. [`crate::upstream::TestCert::ca_pem`]. A server
/// whose certificate does not chain to that CA or does not cover `host` is an error.
pub async fn https_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    ca_pem: &str,
) -> reqwest::Result<Response> {
    let mut builder = client(host, addr).tls_built_in_root_certs(false);
    for ca in reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())? {
        builder = builder.add_root_certificate(ca);
    }
    let resp = builder
        .build()?
        .get(url("https", host, path))
        .send()
        .await?;
    Response::read(resp).await
}

/// The leaf certificate (DER) a TLS server at `addr` presents for the SNI name `host`,
/// verified against the CA certificate(s) in `ca_pem` only: a certificate that does not
/// chain to them or does not cover `host` is an error. Only the handshake; nothing is
/// sent over the connection.
pub async fn presented_leaf(addr: SocketAddr, host: &str, ca_pem: &str) -> anyhow::Result<Vec<u8>> {
    use std::sync::Arc;
    use tokio_rustls::TlsConnector;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};

    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(ca?)?;
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = tokio::time::timeout(
        REQUEST_TIMEOUT,
        TlsConnector::from(Arc::new(config)).connect(ServerName::try_from(host.to_owned())?, tcp),
    )
    .await??;
    let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
    Ok(leaf
        .context("the server presented no certificate")?
        .as_ref()
        .to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_has_no_port() {
        assert_eq!(url("http", "a.test", "/x?y=1"), "http://a.test/x?y=1");
    }

    #[test]
    fn header_lookup_is_case_insensitive() {
        let mut headers = HeaderMap::new();
        headers.insert("x-upstream", "a".parse().expect("value"));
        let resp = Response {
            status: StatusCode::OK,
            headers,
            body: "{\"k\": 1}".to_owned(),
        };
        assert_eq!(resp.header("X-Upstream"), Some("a"));
        assert_eq!(resp.header("missing"), None);
        assert_eq!(resp.json().expect("JSON")["k"], 1);
    }
}
