//! The Redis key schema: every key Switchyard uses, built under one prefix.
//!
//! This module is the only place key names are spelled; `docs/redis-schema.md` shows the
//! same keys as `redis-cli` commands. With the default prefix `switchyard:`:
//!
//! | key | type | value |
//! |---|---|---|
//! | `switchyard:format` | string | data format version ([`FORMAT_VERSION`]) |
//! | `switchyard:version` | string (integer) | global version, bumped once per write batch |
//! | `switchyard:zone:<pattern>` | string | [`HostRecord`](crate::model::HostRecord) JSON |
//! | `switchyard:zones` | set | every pattern that has a `zone:` key |
//! | `switchyard:cert:<name>` | string | an issued [`CertRecord`](crate::model::CertRecord) JSON |
//! | `switchyard:cert:uploaded:<name>` | string | an uploaded one ([`crate::certs::CertSource::member`]) |
//! | `switchyard:certs` | set | every member name (`<name>`, `uploaded:<name>`) that has a `cert:` key |
//! | `switchyard:acme-challenge:<host>/<token>` | string, TTL | [`ChallengeRecord`](crate::model::ChallengeRecord) JSON: an HTTP-01 answer |
//! | `switchyard:acme-challenges` | sorted set | every `<host>/<token>` with a challenge key, scored by its expiry (Unix seconds) |
//! | `switchyard:changes` | stream | one entry per version: which zones, certs and challenges changed |
//! | `switchyard:proxies` | hash | proxy id → [`ProxyStatus`](crate::model::ProxyStatus) JSON |
//! | `switchyard:tls:ticket-keys` | hash | the TLS session ticket key ring the proxies share: `generation`, `rotated_at`, `keys` |
//! | `switchyard:heartbeat:cert-worker` | string | last cert-worker heartbeat (RFC 3339) |
//! | `switchyard:panel:domains` | string | the panel's copy of every domain (degraded reads) |
//! | `switchyard:panel:login:<user>` | string, 5 min | a password login remembered for degraded mode |
//! | `switchyard:panel:auth:<kind>:<sha256>` | string, ≤ 1 h | a verified API key or session |
//! | `switchyard:panel:auth-of:<user id>` | set | that user's `panel:auth:` keys |
//!
//! The `panel:` keys hold credentials' digests and argon2id hashes: only the panel's own
//! Redis user needs them (docs/redis-schema.md, ACLs).
//!
//! For Redis Cluster, choose a prefix with a hash tag (`{switchyard}:`) so that every key
//! lands in one slot and the write script stays atomic.

/// The highest data format version this build reads and writes. Format 2 added route
/// policies ([`crate::policy::Policies`]); a record without policies is written exactly
/// as format 1 wrote it. Writers raise the `format` key to what a batch needs (never
/// lower it); a reader that finds a format above its own refuses the data and keeps
/// what it has instead of misrouting. Upgrade order: proxies first, then the panel
/// and the cert worker (docs/redis-schema.md).
pub const FORMAT_VERSION: u32 = 2;

/// Whether a `format` value (the key, or a feed entry's field) is one this build reads:
/// 1 up to [`FORMAT_VERSION`].
pub fn readable_format(text: &str) -> bool {
    text.parse::<u32>()
        .is_ok_and(|f| (1..=FORMAT_VERSION).contains(&f))
}

/// The prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "switchyard:";

/// Why a key prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "key prefix \"{0}\" is not allowed; use 1–64 visible ASCII characters without spaces, glob characters (* ? [ ]) or backslashes, e.g. \"switchyard:\""
)]
pub struct PrefixError(pub String);

/// Builds every key name under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Default for Keys {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}

impl Keys {
    /// A schema under `prefix`. Glob characters are refused so that
    /// `SCAN MATCH <prefix>*` selects exactly this deployment's keys.
    pub fn new(prefix: &str) -> Result<Self, PrefixError> {
        let ok = !prefix.is_empty()
            && prefix.len() <= 64
            && prefix
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'*' | b'?' | b'[' | b']' | b'\\'));
        if ok {
            Ok(Self {
                prefix: prefix.to_owned(),
            })
        } else {
            Err(PrefixError(prefix.escape_debug().to_string()))
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// String: the data format version.
    pub fn format(&self) -> String {
        format!("{}format", self.prefix)
    }

    /// String (integer): the global version.
    pub fn version(&self) -> String {
        format!("{}version", self.prefix)
    }

    /// String: the routes of one hostname pattern.
    pub fn zone(&self, pattern: &str) -> String {
        format!("{}zone:{pattern}", self.prefix)
    }

    /// Set: every pattern with a zone key.
    pub fn zone_index(&self) -> String {
        format!("{}zones", self.prefix)
    }

    /// String: one certificate, by its member name (`*.example.com` issued,
    /// `uploaded:*.example.com` uploaded: [`crate::certs::CertSource::member`]).
    pub fn cert(&self, member: &str) -> String {
        format!("{}cert:{member}", self.prefix)
    }

    /// Set: every name with a cert key.
    pub fn cert_index(&self) -> String {
        format!("{}certs", self.prefix)
    }

    /// String, expiring: one HTTP-01 challenge answer, by its name `<host>/<token>`
    /// ([`crate::model::ChallengeRecord::name`]), as the URL it answers reads.
    pub fn acme_challenge(&self, name: &str) -> String {
        format!("{}acme-challenge:{name}", self.prefix)
    }

    /// Sorted set: every challenge name with a key, scored by its expiry (Unix
    /// seconds), so a writer prunes what a dead worker left to expire.
    pub fn acme_challenge_index(&self) -> String {
        format!("{}acme-challenges", self.prefix)
    }

    /// Stream: the change feed.
    pub fn changes(&self) -> String {
        format!("{}changes", self.prefix)
    }

    /// Hash: proxy id → status JSON.
    pub fn proxies(&self) -> String {
        format!("{}proxies", self.prefix)
    }

    /// Hash: the TLS session ticket key ring every proxy uses (`generation`,
    /// `rotated_at` in Unix seconds, `keys`: next, current and previous key in hex,
    /// comma-separated). Written and rotated by the proxies (proxy/src/tickets.rs).
    pub fn ticket_keys(&self) -> String {
        format!("{}tls:ticket-keys", self.prefix)
    }

    /// String: the heartbeat of a named background service (`cert-worker`).
    pub fn heartbeat(&self, service: &str) -> String {
        format!("{}heartbeat:{service}", self.prefix)
    }

    /// String, expiring (5 min): the panel's memory of a successful password login, for
    /// logging in while PostgreSQL is down (argon2id hash, role, grants).
    pub fn panel_login(&self, username: &str) -> String {
        format!("{}panel:login:{username}", self.prefix)
    }

    /// String, expiring: an API key or session the panel's database accepted
    /// (`key:<sha256>` / `session:<sha256>`), so it keeps working for reads while
    /// PostgreSQL is down.
    pub fn panel_auth(&self, token: &str) -> String {
        format!("{}panel:auth:{token}", self.prefix)
    }

    /// Set: the `panel:auth:` keys of one user, to drop them all at once.
    pub fn panel_auth_of_user(&self, user_id: &str) -> String {
        format!("{}panel:auth-of:{user_id}", self.prefix)
    }

    /// Hash: session id → JSON of who logged out, for logouts made while PostgreSQL was
    /// down; the panel records them in PostgreSQL before it leaves degraded mode.
    pub fn panel_revocations(&self) -> String {
        format!("{}panel:revocations", self.prefix)
    }

    /// String: every domain as JSON, for the panel's reads while PostgreSQL is down.
    pub fn panel_domains(&self) -> String {
        format!("{}panel:domains", self.prefix)
    }

    /// A `SCAN MATCH` pattern selecting every key of this deployment.
    pub fn all_keys_pattern(&self) -> String {
        format!("{}*", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_under_the_prefix() {
        let k = Keys::new("t1:").unwrap();
        assert_eq!(k.zone("*.example.com"), "t1:zone:*.example.com");
        assert_eq!(k.cert("*.example.com"), "t1:cert:*.example.com");
        assert_eq!(k.version(), "t1:version");
        assert_eq!(k.format(), "t1:format");
        assert_eq!(k.changes(), "t1:changes");
        assert_eq!(k.zone_index(), "t1:zones");
        assert_eq!(k.proxies(), "t1:proxies");
        assert_eq!(k.heartbeat("cert-worker"), "t1:heartbeat:cert-worker");
        assert_eq!(
            k.acme_challenge("a.example.com/tok"),
            "t1:acme-challenge:a.example.com/tok"
        );
        assert_eq!(k.acme_challenge_index(), "t1:acme-challenges");
        assert_eq!(Keys::default().version(), "switchyard:version");
        assert_eq!(Keys::new("{sy}:").unwrap().version(), "{sy}:version");
    }

    #[test]
    fn glob_and_blank_prefixes_are_refused() {
        for bad in ["", "a*", "a?", "a b", "a[1]", "a\\b", &"x".repeat(65)] {
            let err = Keys::new(bad).unwrap_err().to_string();
            assert!(err.contains("is not allowed"), "{bad:?}: {err}");
        }
    }
}
