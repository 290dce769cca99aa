//! Secrets at rest: [`SecretBox`] seals small values (DNS provider credentials, ACME
//! account keys, certificate private keys) before they go into PostgreSQL.
//!
//! The key is 32 random bytes given as base64 in the environment
//! (`SWITCHYARD_SECRET_KEY`, shared by `panel-api` and `cert-worker`; make one with
//! `head -c 32 /dev/urandom | base64`). Sealing uses XChaCha20-Poly1305 (RustCrypto's
//! `chacha20poly1305`): an AEAD, so a changed byte is detected rather than decrypted to
//! garbage, with 24-byte random nonces that are safe to pick at random for any number of
//! messages.
//!
//! Each sealed value is `key id (1 byte) ‖ nonce (24 bytes) ‖ ciphertext+tag`. The key id
//! names the key that sealed it, so a later key rotation can keep opening old values
//! while sealing new ones with the new key. A *context* string (what the value is, e.g.
//! `certificates.key`) is bound as associated data: a ciphertext copied into another
//! column does not open there.
//!
//! The key never appears in `Debug` output, errors or logs, and neither do plaintexts.

use std::fmt;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// The environment variable holding the base64 key, shared by every service.
pub const SECRET_KEY_ENV: &str = "SWITCHYARD_SECRET_KEY";

/// Bytes of key material: XChaCha20-Poly1305 takes a 256-bit key.
pub const KEY_LEN: usize = 32;

/// The key id written by this version. Key rotation will add ids; id 0 is never used so
/// an all-zero column is never mistaken for a sealed value.
pub const CURRENT_KEY_ID: u8 = 1;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// What can go wrong with keys and sealed values. Messages never contain key material or
/// plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "{SECRET_KEY_ENV} is not valid base64 ({0}); expected 32 random bytes in base64, e.g. from `head -c 32 /dev/urandom | base64`"
    )]
    KeyNotBase64(String),
    #[error(
        "{SECRET_KEY_ENV} decodes to {0} bytes; expected exactly {KEY_LEN} (e.g. `head -c 32 /dev/urandom | base64`)"
    )]
    KeyLength(usize),
    #[error("sealed {context} is {len} bytes, too short to be a sealed value (at least {min})")]
    TooShort {
        context: String,
        len: usize,
        min: usize,
    },
    #[error(
        "sealed {context} was sealed with key id {found}; this service only has key id {expected}"
    )]
    UnknownKeyId {
        context: String,
        found: u8,
        expected: u8,
    },
    #[error(
        "sealed {context} does not open: it was sealed with a different {SECRET_KEY_ENV}, was changed, or belongs to another field"
    )]
    Tampered { context: String },
    #[error("sealing {context} failed")]
    Seal { context: String },
}

/// Seals and opens secrets with the deployment's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    key_id: u8,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox")
            .field("key_id", &self.key_id)
            .field("key", &format_args!("<redacted>"))
            .finish()
    }
}

impl SecretBox {
    /// A box over the base64 key from the configuration (`SWITCHYARD_SECRET_KEY`).
    pub fn from_base64(key: &str) -> Result<Self, SecretError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|e| SecretError::KeyNotBase64(e.to_string()))?;
        Self::from_bytes(&bytes)
    }

    /// A box over 32 raw key bytes.
    pub fn from_bytes(key: &[u8]) -> Result<Self, SecretError> {
        if key.len() != KEY_LEN {
            return Err(SecretError::KeyLength(key.len()));
        }
        Ok(Self {
            cipher: XChaCha20Poly1305::new_from_slice(key)
                .map_err(|_| SecretError::KeyLength(key.len()))?,
            key_id: CURRENT_KEY_ID,
        })
    }

    /// Seals `plaintext`; `context` names what it is (`certificates.key`) and must be
    /// given again to open it.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, SecretError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(self.key_id, context);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| SecretError::Seal {
                context: context.to_owned(),
            })?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(self.key_id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a value sealed by [`SecretBox::seal`] with the same context.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        let min = 1 + NONCE_LEN + TAG_LEN;
        if sealed.len() < min {
            return Err(SecretError::TooShort {
                context: context.to_owned(),
                len: sealed.len(),
                min,
            });
        }
        if sealed[0] != self.key_id {
            return Err(SecretError::UnknownKeyId {
                context: context.to_owned(),
                found: sealed[0],
                expected: self.key_id,
            });
        }
        let nonce: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN]
            .try_into()
            .expect("length checked above");
        let nonce = XNonce::from(nonce);
        let aad = associated_data(sealed[0], context);
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| SecretError::Tampered {
                context: context.to_owned(),
            })
    }

    /// [`SecretBox::open`] for values that are UTF-8 text (PEM keys, JSON credentials).
    pub fn open_string(&self, context: &str, sealed: &[u8]) -> Result<String, SecretError> {
        String::from_utf8(self.open(context, sealed)?).map_err(|_| SecretError::Tampered {
            context: context.to_owned(),
        })
    }
}

/// The key id is authenticated too, so it cannot be rewritten to steer a future
/// multi-key box towards the wrong key.
fn associated_data(key_id: u8, context: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + context.len());
    aad.push(key_id);
    aad.extend_from_slice(context.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_B: &str = "HxwdHhscGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

    #[test]
    fn round_trip() {
        let sb = SecretBox::from_base64(KEY_A).unwrap();
        let sealed = sb
            .seal("certificates.key", b"-----BEGIN PRIVATE KEY-----")
            .unwrap();
        assert_eq!(sealed[0], CURRENT_KEY_ID);
        assert!(
            !sealed.windows(5).any(|w| w == b"BEGIN"),
            "plaintext leaked"
        );
        assert_eq!(
            sb.open_string("certificates.key", &sealed).unwrap(),
            "-----BEGIN PRIVATE KEY-----"
        );
        // Random nonces: the same plaintext never seals to the same bytes.
        assert_ne!(
            sealed,
            sb.seal("certificates.key", b"-----BEGIN PRIVATE KEY-----")
                .unwrap()
        );
    }

    #[test]
    fn tampering_is_detected() {
        let sb = SecretBox::from_base64(KEY_A).unwrap();
        let sealed = sb.seal("dns_credentials.secret", b"token").unwrap();
        for i in 1..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                sb.open("dns_credentials.secret", &bad),
                Err(SecretError::Tampered {
                    context: "dns_credentials.secret".into()
                }),
                "flipping byte {i} went unnoticed"
            );
        }
        let mut bad_id = sealed.clone();
        bad_id[0] = 2;
        assert!(matches!(
            sb.open("dns_credentials.secret", &bad_id),
            Err(SecretError::UnknownKeyId { found: 2, .. })
        ));
        assert!(matches!(
            sb.open("dns_credentials.secret", &sealed[..10]),
            Err(SecretError::TooShort { len: 10, .. })
        ));
        // Moved to another column: does not open.
        assert!(matches!(
            sb.open("certificates.key", &sealed),
            Err(SecretError::Tampered { .. })
        ));
    }

    #[test]
    fn wrong_key_does_not_open() {
        let sealed = SecretBox::from_base64(KEY_A)
            .unwrap()
            .seal("acme_accounts.credentials", b"{}")
            .unwrap();
        let err = SecretBox::from_base64(KEY_B)
            .unwrap()
            .open("acme_accounts.credentials", &sealed)
            .unwrap_err();
        assert!(
            err.to_string().contains("different SWITCHYARD_SECRET_KEY"),
            "{err}"
        );
    }

    #[test]
    fn bad_keys_are_explained_and_never_printed() {
        assert_eq!(
            SecretBox::from_base64("c2hvcnQ=").unwrap_err(),
            SecretError::KeyLength(5)
        );
        let err = SecretBox::from_base64("not base64!").unwrap_err();
        assert!(
            err.to_string()
                .contains("SWITCHYARD_SECRET_KEY is not valid base64"),
            "{err}"
        );
        let debug = format!("{:?}", SecretBox::from_base64(KEY_A).unwrap());
        assert_eq!(debug, "SecretBox { key_id: 1, key: <redacted> }");
    }
}
