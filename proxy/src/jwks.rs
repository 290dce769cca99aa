//! JWK sets of `jwt` policies, fetched and cached per URL.
//!
//! A route whose `jwt` policy names a `jwks_url` holds a [`JwkSource`] for it, got from
//! [`source_for`] when the snapshot compiles the route: routes (and snapshots) naming
//! the same URL share one source and one background task that fetches it. The task runs
//! on a small runtime of its own (one thread), because snapshots are compiled on
//! blocking threads and in tests without any runtime; it fetches at once, then every
//! `--jwks-refresh-secs`, and sooner when a request met an unknown `kid`
//! ([`JwkSource::request_refresh`]) — but never twice within `--jwks-min-refresh-ms`,
//! so tokens with made-up `kid`s cannot make the proxy hammer the key server. A failed
//! fetch keeps the last good key set. The task ends when no route holds its source any
//! more.
//!
//! The request path only reads the current key set ([`JwkSource::key`]): it never waits
//! for a fetch. Until the first fetch succeeds every token is refused (fail closed).
//!
//! Must never: block a request, accept an HMAC (`oct`) key from a URL (a public key set
//! that smuggles in a shared secret would let its publisher's readers forge tokens), or
//! log more of the URL than scheme, host and path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

/// Default interval between fetches of a JWK set.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// Default shortest time between two fetches of one set (unknown `kid`s, failures).
pub const DEFAULT_MIN_REFRESH: Duration = Duration::from_secs(10);
/// Largest JWK set document read.
const MAX_DOCUMENT: usize = 1024 * 1024;
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

struct Timing {
    refresh: Duration,
    min_refresh: Duration,
}

static TIMING: OnceLock<Timing> = OnceLock::new();

/// Sets the refresh intervals (`--jwks-refresh-secs`, `--jwks-min-refresh-ms`); the
/// first call wins, before any source exists.
pub fn configure(refresh: Duration, min_refresh: Duration) {
    let _ = TIMING.set(Timing {
        refresh: refresh.max(Duration::from_secs(1)),
        min_refresh,
    });
}

fn timing() -> &'static Timing {
    TIMING.get_or_init(|| Timing {
        refresh: DEFAULT_REFRESH,
        min_refresh: DEFAULT_MIN_REFRESH,
    })
}

/// One key of a set: its `kid`, the algorithm it is restricted to (`alg`), the key.
struct Key {
    kid: Option<String>,
    alg: Option<Algorithm>,
    key: DecodingKey,
}

/// The cached keys of one JWK set URL.
pub struct JwkSource {
    url: String,
    keys: ArcSwap<Vec<Key>>,
    wake: tokio::sync::Notify,
    /// Milliseconds since [`epoch`] of the last refresh request let through.
    last_wake_ms: AtomicU64,
}

impl std::fmt::Debug for JwkSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwkSource")
            .field("url", &shown_url(&self.url))
            .field("keys", &self.keys.load().len())
            .finish()
    }
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl JwkSource {
    /// The key for a token's `kid` and `alg`: the key with that `kid` (when the token
    /// names one), else the only key of the algorithm's family. `None` when the set has
    /// no such key (then [`Self::request_refresh`]).
    pub fn key(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        let keys = self.keys.load();
        let fits = |k: &&Key| k.key.family() == alg.family() && k.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) => keys
                .iter()
                .filter(fits)
                .find(|k| k.kid.as_deref() == Some(kid))
                .map(|k| k.key.clone()),
            None => {
                let mut candidates = keys.iter().filter(fits);
                let only = candidates.next()?;
                candidates.next().is_none().then(|| only.key.clone())
            }
        }
    }

    /// Asks the background task to fetch the set again (a token named a `kid` the set
    /// lacks); at most once per minimum refresh interval, never waiting.
    pub fn request_refresh(&self) {
        let now = epoch().elapsed().as_millis() as u64;
        let last = self.last_wake_ms.load(Ordering::Relaxed);
        let min = timing().min_refresh.as_millis() as u64;
        if (last == 0 || now.saturating_sub(last) >= min)
            && self
                .last_wake_ms
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.wake.notify_one();
        }
    }
}

/// The sources alive, by URL.
fn sources() -> &'static Mutex<HashMap<String, Weak<JwkSource>>> {
    static SOURCES: OnceLock<Mutex<HashMap<String, Weak<JwkSource>>>> = OnceLock::new();
    SOURCES.get_or_init(Mutex::default)
}

/// The runtime the fetch tasks run on: one thread of its own.
fn runtime() -> &'static tokio::runtime::Handle {
    static HANDLE: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a one-thread tokio runtime starts");
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("jwks".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .expect("the jwks thread starts");
        handle
    })
}

/// The source for `url`, shared by every route naming it; its fetch task is started
/// when it is new.
pub fn source_for(url: &str) -> Arc<JwkSource> {
    let mut map = sources().lock().expect("never poisoned");
    if let Some(source) = map.get(url).and_then(Weak::upgrade) {
        return source;
    }
    map.retain(|_, s| s.strong_count() > 0);
    let source = Arc::new(JwkSource {
        url: url.to_owned(),
        keys: ArcSwap::from_pointee(Vec::new()),
        wake: tokio::sync::Notify::new(),
        last_wake_ms: AtomicU64::new(0),
    });
    map.insert(url.to_owned(), Arc::downgrade(&source));
    runtime().spawn(keep_fresh(Arc::downgrade(&source), url.to_owned()));
    source
}

/// The HTTP client of the fetch tasks: no redirects followed, no proxy from the
/// environment, system roots.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(FETCH_TIMEOUT)
            .build()
            .expect("an HTTP client with default TLS settings builds")
    })
}

/// The fetch loop of one source; ends when the source is dropped.
async fn keep_fresh(source: Weak<JwkSource>, url: String) {
    // Weak until the first fetch: a source dropped before it was ever used ends here.
    let shown = shown_url(&url);
    loop {
        let started = Instant::now();
        let fetched = fetch(&url).await;
        let Some(s) = source.upgrade() else {
            return;
        };
        match fetched {
            Ok(keys) => {
                tracing::info!(url = %shown, keys = keys.len(), "JWK set fetched");
                s.keys.store(Arc::new(keys));
            }
            Err(e) => tracing::warn!(
                url = %shown,
                error = %e,
                keys_kept = s.keys.load().len(),
                "JWK set fetch failed; keeping the last keys"
            ),
        }
        let timing = timing();
        // The next periodic fetch, or sooner on a refresh request. The task's own
        // reference keeps the source alive meanwhile (a snapshot compiled in between
        // finds it); a source only the task holds afterwards is no longer used.
        let _ = tokio::time::timeout(timing.refresh, s.wake.notified()).await;
        if Arc::strong_count(&s) == 1 {
            return;
        }
        drop(s);
        let earliest = started + timing.min_refresh;
        tokio::time::sleep_until(earliest.into()).await;
    }
}

/// `scheme://host/path`, without a query that might carry a credential.
fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.path()
        ),
        Err(_) => "<invalid>".to_owned(),
    }
}

/// Fetches and parses one JWK set; keys of a kind this proxy cannot use are skipped.
async fn fetch(url: &str) -> Result<Vec<Key>, String> {
    let mut resp = client()
        .get(url)
        .send()
        .await
        .map_err(|e| crate::forward_auth::describe(&e))?;
    if !resp.status().is_success() {
        return Err(format!("status {}", resp.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| crate::forward_auth::describe(&e))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(format!("the document is larger than {MAX_DOCUMENT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    parse_set(&body)
}

/// The usable keys of a JWK set document (`{"keys": [...]}`).
fn parse_set(body: &[u8]) -> Result<Vec<Key>, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Some(items) = doc.get("keys").and_then(|k| k.as_array()) else {
        return Err("no \"keys\" list".to_owned());
    };
    let mut keys = Vec::new();
    for item in items {
        // One key in a format this build does not know leaves the others usable.
        let Ok(jwk) = serde_json::from_value::<Jwk>(item.clone()) else {
            continue;
        };
        if matches!(
            jwk.algorithm,
            AlgorithmParameters::OctetKey(_) | AlgorithmParameters::Other(_)
        ) {
            continue;
        }
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
        {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        if key.family() == AlgorithmFamily::Hmac {
            continue;
        }
        // A key restricted to an algorithm that is not a signature one (RSA-OAEP…)
        // is for encryption: skipped.
        let alg = match jwk.common.key_algorithm {
            None => None,
            Some(a) => match a.to_string().parse::<Algorithm>() {
                Ok(alg) => Some(alg),
                Err(_) => continue,
            },
        };
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_keep_public_signature_keys_only() {
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "kid": "h"},
            {"kty": "EC", "crv": "P-256", "kid": "e1", "use": "sig", "alg": "ES256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "weird"}
        ]});
        let keys = parse_set(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("e1"));
        assert!(parse_set(b"{}").is_err());
    }
}
