//! A front for Pebble's ACME directory, for what Debian's Pebble 2.4 cannot do: ARI
//! (RFC 9773 `renewalInfo`) and rate-limit answers.
//!
//! [`DirectoryFront`] listens on `https://127.0.0.1:<port>` with Pebble's own listener
//! certificate (so a client trusting [`Pebble::listener_ca_file`] trusts it too) and
//! serves, at `/dir`, Pebble's directory document as Pebble serves it at that moment,
//! with two changes the test controls:
//!
//! * `renewalInfo` pointing at the front ([`DirectoryFront::offer_renewal_info`]): each
//!   `GET /renewal-info/<AKI>.<serial>` is recorded ([`DirectoryFront::renewal_info_asked`])
//!   and answered with the window set by [`DirectoryFront::set_window`] and
//!   `Retry-After: 21600` (404 while no window is set);
//! * `newOrder` pointing at the front ([`DirectoryFront::rate_limit_new_orders`]): every
//!   new-order is counted ([`DirectoryFront::new_orders`]) and answered `429` with a
//!   `rateLimited` problem document and the given `Retry-After`.
//!
//! Everything else (nonces, accounts, orders, challenges, certificates) goes straight to
//! Pebble through the URLs of its directory: the JWS of an ACME request names the URL it
//! is sent to, so requests cannot be relayed; the front only rewrites the directory.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use switchyard_tests::acme::AcmeEnv;
//! use switchyard_tests::acme_front::DirectoryFront;
//! let env = AcmeEnv::start().await?;
//! let front = DirectoryFront::start(&env.pebble).await;
//! front.offer_renewal_info(true);
//! // the worker's --acme-directory: front.directory_url()
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{Method, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::acme::Pebble;
use crate::upstream::{accept_loop, bind};

/// The `Retry-After` of the front's `renewalInfo` answers (the six hours Let's Encrypt
/// sends).
pub const RENEWAL_INFO_RETRY_AFTER_SECS: u64 = 21_600;

/// The problem type of a rate-limit answer (RFC 8555 §6.7).
pub const RATE_LIMITED: &str = "urn:ietf:params:acme:error:rateLimited";

#[derive(Default)]
struct State {
    offer_renewal_info: bool,
    window: Option<(OffsetDateTime, OffsetDateTime)>,
    asked: Vec<String>,
    rate_limit_retry_after: Option<String>,
    new_orders: u64,
}

struct Ctx {
    state: Mutex<State>,
    base: String,
    pebble_directory: String,
    pebble: reqwest::Client,
}

impl Ctx {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running front; dropping it stops the server.
pub struct DirectoryFront {
    addr: SocketAddr,
    ctx: Arc<Ctx>,
    server: JoinHandle<()>,
}

impl Drop for DirectoryFront {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl DirectoryFront {
    /// Starts the front before `pebble`, offering nothing beyond Pebble's directory.
    ///
    /// # Panics
    /// If it cannot bind 127.0.0.1:0 or Pebble's listener identity is unusable.
    pub async fn start(pebble: &Pebble) -> DirectoryFront {
        let (chain_pem, key_pem) = pebble.listener_identity();
        let certs = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("Pebble's listener certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("Pebble's key PEM");
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .expect("TLS config of the directory front");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tls = TlsAcceptor::from(Arc::new(config));
        let (listener, addr) = bind("acme directory front").await;
        let ctx = Arc::new(Ctx {
            state: Mutex::new(State::default()),
            base: format!("https://{addr}"),
            pebble_directory: pebble.directory_url(),
            pebble: pebble.client().expect("an HTTPS client trusting Pebble"),
        });
        let server = tokio::spawn(accept_loop(listener, {
            let ctx = Arc::clone(&ctx);
            move |stream| {
                let (ctx, tls) = (Arc::clone(&ctx), tls.clone());
                async move {
                    let Ok(stream) = tls.accept(stream).await else {
                        return;
                    };
                    let service = service_fn(move |req| {
                        let ctx = Arc::clone(&ctx);
                        async move { Ok::<_, Infallible>(answer(&ctx, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        }));
        DirectoryFront { addr, ctx, server }
    }

    /// The directory URL to give the ACME client.
    pub fn directory_url(&self) -> String {
        format!("https://{}/dir", self.addr)
    }

    /// Whether the directory lists `renewalInfo` (from the next directory fetch on).
    pub fn offer_renewal_info(&self, offer: bool) {
        self.ctx.state().offer_renewal_info = offer;
    }

    /// The suggested window every `renewalInfo` answer carries from now on.
    pub fn set_window(&self, start: OffsetDateTime, end: OffsetDateTime) {
        self.ctx.state().window = Some((start, end));
    }

    /// The certificate ids (`base64url(AKI).base64url(serial)`) asked for so far.
    pub fn renewal_info_asked(&self) -> Vec<String> {
        self.ctx.state().asked.clone()
    }

    /// From the next directory fetch on, new orders go to the front, which answers each
    /// with `429`, a `rateLimited` problem and `Retry-After: <retry_after>`.
    pub fn rate_limit_new_orders(&self, retry_after: &str) {
        self.ctx.state().rate_limit_retry_after = Some(retry_after.to_owned());
    }

    /// How many new-order requests reached the front.
    pub fn new_orders(&self) -> u64 {
        self.ctx.state().new_orders
    }
}

fn reply(status: StatusCode, content_type: &str, body: Value) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from(body.to_string())));
    *rsp.status_mut() = status;
    rsp.headers_mut()
        .insert(CONTENT_TYPE, content_type.parse().expect("a content type"));
    rsp
}

fn problem(status: StatusCode, kind: &str, detail: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        "application/problem+json",
        json!({"type": kind, "detail": detail, "status": status.as_u16()}),
    )
}

async fn answer(ctx: &Ctx, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/dir") => directory(ctx).await,
        (&Method::GET, p) if p.starts_with("/renewal-info/") => {
            let id = p.trim_start_matches("/renewal-info/").to_owned();
            let window = {
                let mut state = ctx.state();
                state.asked.push(id);
                state.window
            };
            match window {
                Some((start, end)) => {
                    let mut rsp = reply(
                        StatusCode::OK,
                        "application/json",
                        json!({"suggestedWindow": {
                            "start": start.format(&Rfc3339).expect("RFC 3339"),
                            "end": end.format(&Rfc3339).expect("RFC 3339"),
                        }}),
                    );
                    rsp.headers_mut()
                        .insert(RETRY_AFTER, RENEWAL_INFO_RETRY_AFTER_SECS.into());
                    rsp
                }
                None => problem(
                    StatusCode::NOT_FOUND,
                    "urn:ietf:params:acme:error:malformed",
                    "no window set for this certificate",
                ),
            }
        }
        (&Method::POST, "/new-order") => {
            let retry_after = {
                let mut state = ctx.state();
                state.new_orders += 1;
                state.rate_limit_retry_after.clone()
            };
            let mut rsp = problem(
                StatusCode::TOO_MANY_REQUESTS,
                RATE_LIMITED,
                "too many new orders recently (the test's directory front)",
            );
            if let Some(value) = retry_after.and_then(|v| v.parse().ok()) {
                rsp.headers_mut().insert(RETRY_AFTER, value);
            }
            rsp
        }
        _ => problem(
            StatusCode::NOT_FOUND,
            "urn:ietf:params:acme:error:malformed",
            "the directory front serves only /dir, /renewal-info/ and /new-order",
        ),
    }
}

/// Pebble's directory with the front's changes.
async fn directory(ctx: &Ctx) -> Response<Full<Bytes>> {
    let fetched = async {
        let body = ctx
            .pebble
            .get(&ctx.pebble_directory)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        Ok::<Value, anyhow::Error>(serde_json::from_slice(&body)?)
    }
    .await;
    let mut dir = match fetched {
        Ok(dir) => dir,
        Err(e) => {
            return problem(
                StatusCode::BAD_GATEWAY,
                "urn:ietf:params:acme:error:serverInternal",
                &format!("Pebble's directory: {e}"),
            );
        }
    };
    let (offer, rate_limit) = {
        let state = ctx.state();
        (
            state.offer_renewal_info,
            state.rate_limit_retry_after.is_some(),
        )
    };
    if let Some(fields) = dir.as_object_mut() {
        fields.remove("renewalInfo");
        if offer {
            fields.insert(
                "renewalInfo".into(),
                Value::String(format!("{}/renewal-info", ctx.base)),
            );
        }
        if rate_limit {
            fields.insert(
                "newOrder".into(),
                Value::String(format!("{}/new-order", ctx.base)),
            );
        }
    }
    reply(StatusCode::OK, "application/json", dir)
}
