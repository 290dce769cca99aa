//! TLS session tickets whose keys the whole fleet shares, through Redis.
//!
//! OpenSSL's default ticket key is random per process: a client resumes its TLS session
//! only with the process that issued its ticket, so behind a load balancer most
//! resumptions fail, and every restart or upgrade forgets them all. Here every proxy on
//! one Redis prefix uses one ring of keys, kept in the hash `<prefix>tls:ticket-keys`
//! ([`Keys::ticket_keys`]): the *current* key encrypts new tickets; *next*, *current* and
//! *previous* decrypt. Every resumed handshake brings the client a new ticket (TLS 1.3
//! clients use each ticket once; OpenSSL would otherwise renew only on request).
//!
//! Rotation: any proxy that finds the ring older than `--tls-ticket-rotate-secs` rotates
//! it (next becomes current, current becomes previous, a new random next) with a
//! compare-and-set on the ring's generation, so a fleet rotates once per period however
//! many proxies notice; every proxy reads the ring every few seconds. A key is *next*
//! for a whole period before anything is encrypted with it, so every proxy can decrypt
//! a ticket before any proxy issues one under it; and it decrypts for a period after it
//! stopped encrypting. Until the ring is read (Redis down at start-up) a proxy uses a
//! ring of its own, as OpenSSL would.
//!
//! Must never: log, expose or persist key material anywhere but in that Redis hash; let
//! a ticket decrypt under a key that has left the ring; panic inside the OpenSSL
//! callback.

use std::ffi::{c_int, c_uchar};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use fred::prelude::*;
use fred::types::scripts::Script;
use openssl_sys::{EVP_CIPHER_CTX, HMAC_CTX, SSL};
use pingora::tls::ssl::SslContextBuilder;
use switchyard_shared::Store;
use switchyard_shared::keys::Keys;

/// Bytes of one key: name (16), HMAC-SHA256 secret (32), AES-256 key (32).
const KEY_LEN: usize = 80;
/// `SSL_CTRL_SET_TLSEXT_TICKET_KEY_CB` (ssl.h; openssl-sys has no constant for it).
const SSL_CTRL_SET_TLSEXT_TICKET_KEY_CB: c_int = 72;

/// One ticket key.
#[derive(Clone, PartialEq, Eq)]
struct TicketKey([u8; KEY_LEN]);

impl TicketKey {
    fn random() -> Self {
        let mut key = [0u8; KEY_LEN];
        // SAFETY: RAND_bytes writes exactly `KEY_LEN` bytes into the buffer.
        let ok = unsafe { openssl_sys::RAND_bytes(key.as_mut_ptr(), KEY_LEN as c_int) };
        assert_eq!(ok, 1, "OpenSSL's random generator failed");
        Self(key)
    }

    fn name(&self) -> &[u8] {
        &self.0[..16]
    }

    fn hmac(&self) -> &[u8] {
        &self.0[16..48]
    }

    fn aes(&self) -> &[u8] {
        &self.0[48..]
    }

    fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn from_hex(text: &str) -> Option<Self> {
        if text.len() != KEY_LEN * 2 || !text.is_ascii() {
            return None;
        }
        let mut key = [0u8; KEY_LEN];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(key))
    }
}

/// The keys in use: `keys[0]` is next, `keys[1]` current, `keys[2]` (if any) previous.
#[derive(Clone, PartialEq, Eq)]
pub struct Ring {
    /// 0 for a proxy's own ring (never stored), else the stored ring's generation.
    pub generation: u64,
    /// Unix time of the last rotation.
    rotated_at: u64,
    keys: Vec<TicketKey>,
}

impl Ring {
    /// A fresh ring: a current and a next key.
    fn fresh(generation: u64, now: u64) -> Self {
        Self {
            generation,
            rotated_at: now,
            keys: vec![TicketKey::random(), TicketKey::random()],
        }
    }

    /// The ring one rotation later.
    fn rotated(&self, now: u64) -> Self {
        let mut keys = vec![TicketKey::random()];
        keys.extend(self.keys.iter().take(2).cloned());
        Self {
            generation: self.generation + 1,
            rotated_at: now,
            keys,
        }
    }

    fn current(&self) -> &TicketKey {
        &self.keys[1]
    }

    fn stored_keys(&self) -> String {
        self.keys
            .iter()
            .map(TicketKey::hex)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The ring as stored (`generation`, `rotated_at`, `keys`); `None` when absent or
    /// unreadable (it is then rotated afresh).
    fn parse(
        generation: Option<String>,
        rotated_at: Option<String>,
        keys: Option<String>,
    ) -> Option<Self> {
        let generation: u64 = generation?.parse().ok()?;
        let rotated_at: u64 = rotated_at?.parse().ok()?;
        let keys: Vec<TicketKey> = keys?
            .split(',')
            .map(TicketKey::from_hex)
            .collect::<Option<_>>()?;
        (generation > 0 && (2..=3).contains(&keys.len())).then_some(Self {
            generation,
            rotated_at,
            keys,
        })
    }
}

/// The ring the OpenSSL callback uses (one proxy per process).
static RING: ArcSwapOption<Ring> = ArcSwapOption::const_empty();
/// The generation of the ring in use, for `/status`.
static GENERATION: AtomicU64 = AtomicU64::new(0);

fn install_ring(ring: Ring) {
    GENERATION.store(ring.generation, Ordering::Relaxed);
    RING.store(Some(Arc::new(ring)));
}

/// The generation of the ring in use (0: the proxy's own, none read from Redis yet).
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// Makes the HTTPS listener's context encrypt and decrypt session tickets with the
/// ring, starting with a ring of the proxy's own.
pub fn install(ctx: &mut SslContextBuilder) {
    if RING.load().is_none() {
        install_ring(Ring::fresh(0, unix_now()));
    }
    type Callback = unsafe extern "C" fn(
        *mut SSL,
        *mut c_uchar,
        *mut c_uchar,
        *mut EVP_CIPHER_CTX,
        *mut HMAC_CTX,
        c_int,
    ) -> c_int;
    let callback: Callback = ticket_key_callback;
    // SAFETY: `ctx` is a live SSL_CTX (the builder owns it). OpenSSL calls the function
    // back with the signature of `SSL_CTX_set_tlsext_ticket_key_cb`, which is
    // `callback`'s; the pointer is only stored under the command that expects exactly
    // that signature.
    unsafe {
        let generic = std::mem::transmute::<Callback, unsafe extern "C" fn()>(callback);
        openssl_sys::SSL_CTX_callback_ctrl__fixed_rust(
            ctx.as_ptr(),
            SSL_CTRL_SET_TLSEXT_TICKET_KEY_CB,
            Some(generic),
        );
    }
}

/// OpenSSL's ticket key callback (`SSL_CTX_set_tlsext_ticket_key_cb`): with `enc` 1, set
/// up encryption of a new ticket under the current key (its name, a random IV); else
/// find the key named in a ticket and set up its decryption. Returns 1 (encryption set
/// up), 2 (decryption set up; issue a new ticket), 0 (no such key: full handshake) or
/// -1 (failure).
unsafe extern "C" fn ticket_key_callback(
    _ssl: *mut SSL,
    name: *mut c_uchar,
    iv: *mut c_uchar,
    cipher: *mut EVP_CIPHER_CTX,
    hmac: *mut HMAC_CTX,
    enc: c_int,
) -> c_int {
    let ring = RING.load();
    let Some(ring) = ring.as_deref() else {
        return 0;
    };
    // SAFETY: OpenSSL passes a 16-byte key name buffer, an IV buffer of
    // EVP_MAX_IV_LENGTH (16) bytes and initialised cipher and HMAC contexts.
    unsafe {
        let key = if enc == 1 {
            let key = ring.current();
            std::ptr::copy_nonoverlapping(key.name().as_ptr(), name, 16);
            if openssl_sys::RAND_bytes(iv, 16) != 1 {
                return -1;
            }
            key
        } else {
            let wanted = std::slice::from_raw_parts(name, 16);
            match ring.keys.iter().find(|k| k.name() == wanted) {
                Some(key) => key,
                None => return 0,
            }
        };
        // AES-256-CBC and HMAC-SHA256, as OpenSSL's own ticket keys.
        if openssl_sys::EVP_CipherInit_ex(
            cipher,
            openssl_sys::EVP_aes_256_cbc(),
            std::ptr::null_mut(),
            key.aes().as_ptr(),
            iv,
            enc,
        ) != 1
            || openssl_sys::HMAC_Init_ex(
                hmac,
                key.hmac().as_ptr().cast(),
                32,
                openssl_sys::EVP_sha256(),
                std::ptr::null_mut(),
            ) != 1
        {
            return -1;
        }
    }
    // Decrypting: always 2, "renew": a resumed handshake then brings a new ticket
    // (OpenSSL sends none otherwise), and TLS 1.3 clients use each ticket once.
    if enc == 1 { 1 } else { 2 }
}

/// Rotates the stored ring if `generation` is still the stored one.
const ROTATE_SCRIPT: &str = r#"
local g = redis.call('HGET', KEYS[1], 'generation') or '0'
if g ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'generation', ARGV[2], 'rotated_at', ARGV[3], 'keys', ARGV[4])
return 1
"#;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads the stored ring, rotating it first when it is missing or older than `period`.
async fn refresh(store: &Store, keys: &Keys, period: Duration) -> Result<Ring, fred::error::Error> {
    let key = keys.ticket_keys();
    let client = store.client();
    let script = Script::from_lua(ROTATE_SCRIPT);
    for _ in 0..3 {
        let (generation, rotated_at, stored): (Option<String>, Option<String>, Option<String>) =
            client
                .hmget(&key, vec!["generation", "rotated_at", "keys"])
                .await?;
        let expected = generation.clone().unwrap_or_else(|| "0".to_owned());
        let now = unix_now();
        let ring = Ring::parse(generation, rotated_at, stored);
        let next = match &ring {
            Some(r) if now.saturating_sub(r.rotated_at) < period.as_secs().max(1) => {
                return Ok(r.clone());
            }
            Some(r) => r.rotated(now),
            None => Ring::fresh(expected.parse::<u64>().unwrap_or(0) + 1, now),
        };
        let args = vec![
            expected,
            next.generation.to_string(),
            next.rotated_at.to_string(),
            next.stored_keys(),
        ];
        let rotated: i64 = script
            .evalsha_with_reload(client, vec![key.clone()], args)
            .await?;
        if rotated == 1 {
            tracing::info!(generation = next.generation, "TLS ticket keys rotated");
            return Ok(next);
        }
        // Another proxy rotated first: read its ring.
    }
    Err(fred::error::Error::new(
        fred::error::ErrorKind::Unknown,
        "the ticket key ring kept changing",
    ))
}

/// Keeps the ring in use in step with Redis until `shutdown`: reads (and when due,
/// rotates) it every 2 s (every `period / 4` for periods under 8 s, at least 250 ms),
/// so a rotation reaches the fleet long before its new current key is used.
pub async fn keep_in_step(
    store: Store,
    keys: Keys,
    period: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let every = (period / 4).clamp(Duration::from_millis(250), Duration::from_secs(2));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => return,
        }
        match refresh(&store, &keys, period).await {
            Ok(ring) => {
                let same = RING.load().as_deref() == Some(&ring);
                if !same {
                    install_ring(ring);
                }
            }
            // The ring in use stays (Redis down, or no write permission for the key).
            Err(e) => tracing::debug!(error = %e, "cannot read the TLS ticket keys"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_survives_storage_and_rotates_its_keys_down() {
        let ring = Ring::fresh(1, 100);
        let again = Ring::parse(
            Some("1".into()),
            Some("100".into()),
            Some(ring.stored_keys()),
        )
        .expect("readable");
        assert!(again == ring);
        let next = ring.rotated(200);
        assert_eq!(next.generation, 2);
        assert_eq!(next.keys.len(), 3);
        assert!(next.current() == &ring.keys[0], "next became current");
        assert!(next.keys[2] == ring.keys[1], "current became previous");
        let later = next.rotated(300);
        assert_eq!(later.keys.len(), 3, "the oldest key leaves the ring");
        assert!(!later.keys.contains(&ring.keys[1]));
    }

    #[test]
    fn unreadable_rings_are_refused() {
        let key = TicketKey::random().hex();
        for (g, keys) in [
            ("0", format!("{key},{key}")),
            ("x", format!("{key},{key}")),
            ("1", key.clone()),
            ("1", format!("{key},zz")),
            ("1", format!("{key},{key},{key},{key}")),
        ] {
            assert!(
                Ring::parse(Some(g.into()), Some("1".into()), Some(keys.clone())).is_none(),
                "{g} {keys}"
            );
        }
    }
}
