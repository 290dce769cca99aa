//! Uploaded certificates: a chain and key an operator brings (an EV/OV certificate, a
//! corporate CA's) for a domain — its wildcard and apex, stored under `*.<domain>` — or
//! for one exact hostname within it; and the answer to "which certificate does this
//! hostname get".
//!
//! An upload is checked whole before anything is stored ([`check`]): the chain (PEM
//! certificates, leaf first, each signed by the next), the leaf's names (they must cover
//! what it is uploaded for), its validity (not expired, not yet valid), its key type and
//! size (RSA 2048–8192 bits, ECDSA P-256/P-384, Ed25519), and that the private key is the
//! leaf's. Every refusal is a 422 naming the field (`chain_pem`, `key_pem`, `hostname`),
//! the problem and what is allowed. The key is sealed with `--secret-key` (context
//! [`KEY_CONTEXT`]) before it reaches PostgreSQL and never leaves the panel except to
//! Redis, where the proxies read it (`cert:uploaded:<name>`, written by the write-through
//! through the outbox like every routing change: [`super::sync`]).
//!
//! Uploaded certificates live in `uploaded_certificates`, which cert-worker never reads:
//! they are never ordered or renewed automatically. Which certificate serves a name is
//! decided by `switchyard_shared::certs` — the function the proxies' SNI choice uses —
//! over the certificates PostgreSQL holds ([`serving_index`]).

use std::collections::BTreeMap;

use sea_orm::sea_query::{Expr, ExprTrait as _, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, EntityTrait, QueryFilter, QueryOrder, Statement,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Digest as _;
use switchyard_shared::certs::{Candidate, CertIndex, CertSource, Coverage};
use switchyard_shared::model::{CertRecord, FieldError};
use switchyard_shared::secrets::SecretBox;
use switchyard_shared::{ChangeSet, HostPattern, normalize_hostname};
use time::OffsetDateTime;
use uuid::Uuid;

use super::write::{Answer, Write};
use super::{AuditEntry, Caller, ListQuery, Page, Stores, sync};
use crate::access::{Level, Need, Principal, Scope};
use crate::entity::{domains, uploaded_certificates, zones};
use crate::error::ApiError;

/// Associated data an uploaded certificate's key is sealed under.
pub const KEY_CONTEXT: &str = "uploaded_certificates.key";
/// Largest `chain_pem` accepted: a leaf and a few intermediates are a few KB.
pub const MAX_CHAIN_LEN: usize = 65_536;
/// Largest `key_pem` accepted: an RSA 8192 key in PEM is about 6.5 KB.
pub const MAX_KEY_LEN: usize = 16_384;
/// Most certificates a chain may hold.
pub const MAX_CHAIN_CERTS: usize = 10;
/// RSA modulus sizes accepted (ring's range; below 2048 is too weak).
pub const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;
/// What every key-type refusal says is allowed.
const ALLOWED_KEYS: &str = "RSA of 2048 to 8192 bits, ECDSA P-256 or P-384, or Ed25519";

/// `POST /domains/{id}/uploaded-certificates` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpload {
    /// One exact hostname within the domain the certificate is for; absent or `null`:
    /// the domain itself, its wildcard and apex (`*.example.com` and `example.com`).
    #[schema(max_length = 253)]
    pub hostname: Option<String>,
    /// PEM certificates, the leaf first, then each issuer in turn (the root may be
    /// left out).
    #[schema(max_length = 65536)]
    pub chain_pem: String,
    /// The leaf's private key in PEM: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE
    /// KEY`) or SEC1 (`EC PRIVATE KEY`), unencrypted.
    #[schema(max_length = 16384)]
    pub key_pem: String,
}

/// `PUT /uploaded-certificates/{id}` body: a new chain and key for the same names.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replacement {
    /// As in [`NewUpload::chain_pem`].
    #[schema(max_length = 65536)]
    pub chain_pem: String,
    /// As in [`NewUpload::key_pem`].
    #[schema(max_length = 16384)]
    pub key_pem: String,
}

/// An uploaded certificate as the API shows it: never its key.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UploadView {
    pub id: Uuid,
    pub domain_id: Uuid,
    /// The exact hostname it was uploaded for; `null`: the domain (wildcard and apex).
    pub hostname: Option<String>,
    /// What it is stored under: `*.example.com` or the hostname.
    pub name: String,
    /// The leaf's DNS names.
    pub names: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// SHA-256 of the leaf (DER), hex.
    pub fingerprint_sha256: String,
    /// The leaf's issuer (distinguished name).
    pub issuer: String,
    /// `rsa-2048`, `ecdsa-p256`, `ecdsa-p384`, `ed25519`.
    pub key_type: String,
    /// Its Redis key (under the deployment's prefix).
    pub redis_key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A domain's uploaded certificates.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadList {
    pub items: Vec<UploadView>,
}

fn view(stores: &Stores, m: uploaded_certificates::Model) -> UploadView {
    UploadView {
        redis_key: stores
            .store
            .keys()
            .cert(&CertSource::Uploaded.member(&m.name)),
        id: m.id,
        domain_id: m.domain_id,
        hostname: m.hostname,
        name: m.name,
        names: json_names(&m.names),
        not_before: m.not_before,
        not_after: m.not_after,
        fingerprint_sha256: m.fingerprint_sha256,
        issuer: m.issuer,
        key_type: m.key_type,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn json_names(names: &serde_json::Value) -> Vec<String> {
    names
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The audit summary of a row: never the key.
fn summary(m: &uploaded_certificates::Model) -> serde_json::Value {
    json!({
        "name": m.name,
        "hostname": m.hostname,
        "names": m.names,
        "not_before": m.not_before.to_string(),
        "not_after": m.not_after.to_string(),
        "fingerprint_sha256": m.fingerprint_sha256,
        "issuer": m.issuer,
        "key_type": m.key_type,
        "redis_member": CertSource::Uploaded.member(&m.name),
    })
}

// --- checking an upload ----------------------------------------------------------------

/// An upload that passed every check.
#[derive(Debug)]
pub struct Checked {
    /// The chain as PEM, normalised (one block per certificate).
    pub chain_pem: String,
    pub names: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub fingerprint_sha256: String,
    pub issuer: String,
    pub key_type: String,
}

fn problem(field: &str, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        problem: problem.into(),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// The leaf's key, as far as the checks need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa(usize),
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    fn label(self) -> String {
        match self {
            KeyKind::Rsa(bits) => format!("rsa-{bits}"),
            KeyKind::P256 => "ecdsa-p256".into(),
            KeyKind::P384 => "ecdsa-p384".into(),
            KeyKind::Ed25519 => "ed25519".into(),
        }
    }
}

/// The key type of a certificate's public key, or why it is not accepted.
fn key_kind(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Result<KeyKind, String> {
    use x509_parser::oid_registry::{
        OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
        OID_SIG_ED25519,
    };
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_PKCS1_RSAENCRYPTION {
        let bits = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa.key_size(),
            _ => return Err("holds an unreadable RSA key".into()),
        };
        if RSA_BITS.contains(&bits) {
            return Ok(KeyKind::Rsa(bits));
        }
        return Err(format!("has an RSA key of {bits} bits"));
    }
    if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == OID_EC_P256 => Ok(KeyKind::P256),
            Some(c) if c == OID_NIST_EC_P384 => Ok(KeyKind::P384),
            Some(c) => Err(format!("has an ECDSA key on curve {c}")),
            None => Err("has an ECDSA key without a named curve".into()),
        };
    }
    if *alg == OID_SIG_ED25519 {
        return Ok(KeyKind::Ed25519);
    }
    Err(format!("has a key of algorithm {alg}"))
}

/// The public key (as the certificate's `subjectPublicKey` holds it) of a PEM private
/// key, whose kind the leaf says; or why it cannot be read.
fn public_key_of(key_pem: &str, kind: KeyKind) -> Result<Vec<u8>, String> {
    use ring::signature::{self, KeyPair as _};
    let mut blocks = x509_parser::pem::Pem::iter_from_buffer(key_pem.as_bytes());
    let pem =
        match blocks.next() {
            Some(Ok(pem)) => pem,
            _ => return Err(
                "holds no PEM private key (expected a block such as `-----BEGIN PRIVATE KEY-----`)"
                    .into(),
            ),
        };
    if blocks.next().is_some() {
        return Err("holds more than one PEM block; give the leaf's private key alone".into());
    }
    let rng = ring::rand::SystemRandom::new();
    let der = pem.contents.as_slice();
    let mismatch = |what: &str| {
        format!(
            "is not an {} private key readable as {what}, but the leaf's key is {}",
            kind.label(),
            kind.label()
        )
    };
    match (pem.label.as_str(), kind) {
        ("ENCRYPTED PRIVATE KEY", _) => Err(
            "is encrypted; give it unencrypted (e.g. `openssl pkey -in key.pem -out plain.pem`): the panel seals it itself".into(),
        ),
        ("PRIVATE KEY", KeyKind::Rsa(_)) => signature::RsaKeyPair::from_pkcs8(der)
            .map(|k| k.public().as_ref().to_vec())
            .map_err(|_| mismatch("PKCS#8")),
        ("RSA PRIVATE KEY", KeyKind::Rsa(_)) => signature::RsaKeyPair::from_der(der)
            .map(|k| k.public().as_ref().to_vec())
            .map_err(|_| mismatch("PKCS#1")),
        ("PRIVATE KEY", KeyKind::P256 | KeyKind::P384) => {
            let alg = if kind == KeyKind::P256 {
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING
            } else {
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING
            };
            signature::EcdsaKeyPair::from_pkcs8(alg, der, &rng)
                .map(|k| k.public_key().as_ref().to_vec())
                .map_err(|_| mismatch("PKCS#8"))
        }
        ("EC PRIVATE KEY", KeyKind::P256 | KeyKind::P384) => {
            let alg = if kind == KeyKind::P256 {
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING
            } else {
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING
            };
            let (private, public) = sec1_parts(der).ok_or_else(|| {
                "is an SEC1 EC key without its public key; convert it with `openssl pkcs8 -topk8 -nocrypt -in key.pem`".to_owned()
            })?;
            signature::EcdsaKeyPair::from_private_key_and_public_key(alg, private, public, &rng)
                .map(|k| k.public_key().as_ref().to_vec())
                .map_err(|_| mismatch("SEC1"))
        }
        ("PRIVATE KEY", KeyKind::Ed25519) => {
            signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map(|k| k.public_key().as_ref().to_vec())
                .map_err(|_| mismatch("PKCS#8"))
        }
        (label @ ("RSA PRIVATE KEY" | "EC PRIVATE KEY"), _) => Err(format!(
            "is a `{label}` block, which cannot hold the leaf's {} key",
            kind.label()
        )),
        (label, _) => Err(format!(
            "is a `{label}` PEM block; allowed: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY` (SEC1)"
        )),
    }
}

/// One DER element: (tag, content, rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The private scalar and public point of an SEC1 `ECPrivateKey` (RFC 5915):
/// `SEQUENCE { version 1, privateKey OCTET STRING, [0] parameters, [1] publicKey }`.
fn sec1_parts(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (0x30, body, _) = der_element(der)? else {
        return None;
    };
    let (0x02, [1], rest) = der_element(body)? else {
        return None;
    };
    let (0x04, private, mut rest) = der_element(rest)? else {
        return None;
    };
    while !rest.is_empty() {
        let (tag, content, next) = der_element(rest)?;
        if tag == 0xa1 {
            // [1] EXPLICIT BIT STRING: unused-bits byte (0), then the point.
            let (0x03, [0, point @ ..], _) = der_element(content)? else {
                return None;
            };
            return Some((private, point));
        }
        rest = next;
    }
    None
}

/// Checks an upload for the names in `wanted` at time `now`; every problem found, each
/// naming its field.
pub fn check(
    chain_pem: &str,
    key_pem: &str,
    wanted: &[String],
    now: OffsetDateTime,
) -> Result<Checked, Vec<FieldError>> {
    let mut problems = Vec::new();
    if chain_pem.len() > MAX_CHAIN_LEN {
        problems.push(problem(
            "chain_pem",
            format!(
                "is {} bytes; at most {MAX_CHAIN_LEN} are accepted",
                chain_pem.len()
            ),
        ));
    }
    if key_pem.len() > MAX_KEY_LEN {
        problems.push(problem(
            "key_pem",
            format!(
                "is {} bytes; at most {MAX_KEY_LEN} are accepted",
                key_pem.len()
            ),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // The chain: PEM certificates only.
    let mut blocks = Vec::new();
    for (i, block) in x509_parser::pem::Pem::iter_from_buffer(chain_pem.as_bytes()).enumerate() {
        match block {
            Ok(pem) if pem.label == "CERTIFICATE" => blocks.push(pem),
            Ok(pem) => {
                problems.push(problem(
                    "chain_pem",
                    format!(
                        "block {} is a `{}` PEM block; only `CERTIFICATE` blocks are allowed here (the key goes in key_pem)",
                        i + 1,
                        pem.label
                    ),
                ));
            }
            Err(e) => {
                problems.push(problem(
                    "chain_pem",
                    format!("block {} is not readable PEM ({e})", i + 1),
                ));
                break;
            }
        }
    }
    if blocks.is_empty() && problems.is_empty() {
        problems.push(problem(
            "chain_pem",
            "holds no PEM certificate; expected the leaf certificate first (`-----BEGIN CERTIFICATE-----`), then its intermediates",
        ));
    }
    if blocks.len() > MAX_CHAIN_CERTS {
        problems.push(problem(
            "chain_pem",
            format!(
                "holds {} certificates; at most {MAX_CHAIN_CERTS} are allowed",
                blocks.len()
            ),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut certs = Vec::with_capacity(blocks.len());
    for (i, pem) in blocks.iter().enumerate() {
        match pem.parse_x509() {
            Ok(cert) => certs.push(cert),
            Err(e) => problems.push(problem(
                "chain_pem",
                format!(
                    "certificate {} is not a readable X.509 certificate ({e})",
                    i + 1
                ),
            )),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let leaf = &certs[0];
    // Order: each certificate signed by the next.
    for (i, pair) in certs.windows(2).enumerate() {
        let (cert, issuer) = (&pair[0], &pair[1]);
        let signed = cert.issuer() == issuer.subject()
            && cert.verify_signature(Some(issuer.public_key())).is_ok();
        if !signed {
            problems.push(problem(
                "chain_pem",
                format!(
                    "certificate {} ({}) is not signed by certificate {} ({}); give the leaf first, then each certificate's issuer right after it",
                    i + 1,
                    cert.subject(),
                    i + 2,
                    issuer.subject()
                ),
            ));
        }
    }
    // Validity of every certificate in the chain.
    for (i, cert) in certs.iter().enumerate() {
        let validity = cert.validity();
        let (from, until) = (
            validity.not_before.to_datetime(),
            validity.not_after.to_datetime(),
        );
        let which = if i == 0 {
            "the leaf".to_owned()
        } else {
            format!("certificate {}", i + 1)
        };
        if until <= now {
            problems.push(problem(
                "chain_pem",
                format!(
                    "{which} expired at {}; upload a certificate valid now",
                    rfc3339(until)
                ),
            ));
        } else if from > now {
            problems.push(problem(
                "chain_pem",
                format!(
                    "{which} is not valid before {}; upload it once it is valid",
                    rfc3339(from)
                ),
            ));
        }
    }
    // Names: the leaf's DNS names must cover every name it is uploaded for.
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(n) = name {
                let n = n.to_ascii_lowercase();
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    let uncovered: Vec<&String> = wanted
        .iter()
        .filter(|w| {
            switchyard_shared::certs::coverage(names.iter().map(String::as_str), w).is_none()
        })
        .collect();
    if !uncovered.is_empty() {
        let has = if names.is_empty() {
            "no DNS names".to_owned()
        } else {
            names.join(", ")
        };
        problems.push(problem(
            "chain_pem",
            format!(
                "the leaf's names ({has}) do not cover {}; it must name each (a `*.<parent>` name covers one label below <parent>)",
                uncovered
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    // Key type and size, and the key is the leaf's.
    let kind = match key_kind(leaf.public_key()) {
        Ok(kind) => Some(kind),
        Err(why) => {
            problems.push(problem(
                "chain_pem",
                format!("the leaf {why}; allowed: {ALLOWED_KEYS}"),
            ));
            None
        }
    };
    if let Some(kind) = kind {
        match public_key_of(key_pem, kind) {
            Ok(public) if public == leaf.public_key().subject_public_key.data.as_ref() => {}
            Ok(_) => problems.push(problem(
                "key_pem",
                "does not belong to the leaf certificate (its public key differs); give the private key the leaf was issued for",
            )),
            Err(why) => problems.push(problem("key_pem", why)),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let validity = leaf.validity();
    Ok(Checked {
        chain_pem: blocks
            .iter()
            .map(|b| {
                let body =
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &b.contents);
                let lines: Vec<&str> = body
                    .as_bytes()
                    .chunks(64)
                    .map(|c| std::str::from_utf8(c).unwrap_or_default())
                    .collect();
                format!(
                    "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                    lines.join("\n")
                )
            })
            .collect(),
        names,
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
        fingerprint_sha256: hex::encode(sha2::Sha256::digest(&blocks[0].contents)),
        issuer: leaf.issuer().to_string(),
        key_type: kind.map(KeyKind::label).unwrap_or_default(),
    })
}

fn refused(details: Vec<FieldError>) -> ApiError {
    ApiError::Invalid {
        message: "the certificate was not accepted; see details (nothing was stored)".into(),
        details,
    }
}

fn secrets(stores: &Stores) -> Result<&SecretBox, ApiError> {
    stores.secrets.as_ref().ok_or(ApiError::Unavailable(
        "uploaded certificates cannot be stored: the panel has no SWITCHYARD_SECRET_KEY to seal their keys with; nothing was changed",
    ))
}

/// The names an upload must cover, and the name it is stored under.
fn target(
    domain: &str,
    hostname: Option<&str>,
) -> Result<(Option<String>, String, Vec<String>), ApiError> {
    let Some(raw) = hostname else {
        let name = sync::cert_name(domain);
        return Ok((None, name.clone(), vec![name, domain.to_owned()]));
    };
    let host = normalize_hostname(raw).map_err(|e| {
        refused(vec![problem(
            "hostname",
            format!("\"{}\": {e}", raw.escape_debug()),
        )])
    })?;
    let within = host == domain || host.ends_with(&format!(".{domain}"));
    if host.contains('*') || !within {
        return Err(refused(vec![problem(
            "hostname",
            format!(
                "\"{host}\" is not an exact hostname within {domain}; give one such as app.{domain}, or leave hostname out for the domain's wildcard and apex"
            ),
        )]));
    }
    Ok((Some(host.clone()), host.clone(), vec![host]))
}

// --- the operations --------------------------------------------------------------------

async fn domain_of(conn: &impl ConnectionTrait, id: Uuid) -> Result<domains::Model, ApiError> {
    domains::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn readable(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: Uuid,
    level: Level,
) -> Result<uploaded_certificates::Model, ApiError> {
    let row = uploaded_certificates::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(ApiError::NotFound)?;
    // Outside the caller's grant it does not exist (404), as everywhere.
    crate::access::authorize(principal, Need::Domain(row.domain_id, level))?;
    Ok(row)
}

/// What an upload or a replacement stores: the hostname (`None`: the domain), the name
/// it is stored under, the checked chain, and the key sealed. Refusals before any write.
async fn checked_and_sealed(
    stores: &Stores,
    domain_id: Uuid,
    hostname: Option<&str>,
    chain_pem: &str,
    key_pem: &str,
) -> Result<(Option<String>, String, Checked, Vec<u8>), ApiError> {
    let domain = domain_of(&stores.db, domain_id).await?;
    let (hostname, name, wanted) = target(&domain.name, hostname)?;
    let checked = check(chain_pem, key_pem, &wanted, OffsetDateTime::now_utc()).map_err(refused)?;
    let sealed = secrets(stores)?
        .seal(KEY_CONTEXT, key_pem.as_bytes())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("sealing a certificate key: {e}")))?;
    Ok((hostname, name, checked, sealed))
}

/// The 409 of a name that has an upload (`id` when known).
fn taken(name: &str, id: Option<Uuid>) -> ApiError {
    let id = id.map_or_else(|| "{id}".to_owned(), |id| id.to_string());
    ApiError::Conflict {
        message: format!(
            "{name} already has an uploaded certificate ({id}); replace it with PUT /api/v1/uploaded-certificates/{id}"
        ),
        details: vec![problem("hostname", format!("{name} has one already"))],
    }
}

/// Uploads a certificate for a domain (or a hostname within it): checked, stored with
/// its key sealed, audited, and written to Redis; 409 when one exists for that name.
pub async fn create(
    stores: &Stores,
    caller: &Caller,
    domain_id: Uuid,
    input: NewUpload,
    dry_run: bool,
) -> Result<Answer<UploadView>, ApiError> {
    caller.authorize(Need::Domain(domain_id, Level::Edit))?;
    let (hostname, name, checked, sealed) = checked_and_sealed(
        stores,
        domain_id,
        input.hostname.as_deref(),
        &input.chain_pem,
        &input.key_pem,
    )
    .await?;
    let mut w = Write::begin(&stores.db, dry_run).await?;
    if let Some(there) = uploaded_certificates::Entity::find()
        .filter(uploaded_certificates::Column::Name.eq(&name))
        .one(w.txn())
        .await?
    {
        return Err(taken(&name, Some(there.id)));
    }
    let now = OffsetDateTime::now_utc();
    let row = uploaded_certificates::ActiveModel {
        id: Set(Uuid::new_v4()),
        domain_id: Set(domain_id),
        hostname: Set(hostname),
        name: Set(name.clone()),
        names: Set(json!(checked.names)),
        chain_pem: Set(checked.chain_pem),
        key_ciphertext: Set(sealed),
        not_before: Set(checked.not_before),
        not_after: Set(checked.not_after),
        fingerprint_sha256: Set(checked.fingerprint_sha256),
        issuer: Set(checked.issuer),
        key_type: Set(checked.key_type),
        created_by: Set(Some(caller.principal.user_id).filter(|id| !id.is_nil())),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(w.txn())
    .await
    .map_err(|e| match super::unique_violation(&e) {
        // Another request uploaded for the name meanwhile.
        Some(_) => taken(&name, None),
        None => e.into(),
    })?;
    w.audit(
        &caller.actor(),
        AuditEntry {
            action: "uploaded_certificate.create",
            resource_type: "uploaded_certificate",
            resource_id: row.id.to_string(),
            before: None,
            after: Some(summary(&row)),
        },
    )
    .await?;
    let view = view(stores, row);
    finish(stores, w, &name, view).await
}

/// Replaces an uploaded certificate's chain and key (same names); checked like an upload.
pub async fn replace(
    stores: &Stores,
    caller: &Caller,
    id: Uuid,
    input: Replacement,
    dry_run: bool,
) -> Result<Answer<UploadView>, ApiError> {
    let before = readable(&stores.db, &caller.principal, id, Level::Edit).await?;
    let (_, name, checked, sealed) = checked_and_sealed(
        stores,
        before.domain_id,
        before.hostname.as_deref(),
        &input.chain_pem,
        &input.key_pem,
    )
    .await?;
    let mut w = Write::begin(&stores.db, dry_run).await?;
    let mut row: uploaded_certificates::ActiveModel = before.clone().into();
    row.names = Set(json!(checked.names));
    row.chain_pem = Set(checked.chain_pem);
    row.key_ciphertext = Set(sealed);
    row.not_before = Set(checked.not_before);
    row.not_after = Set(checked.not_after);
    row.fingerprint_sha256 = Set(checked.fingerprint_sha256);
    row.issuer = Set(checked.issuer);
    row.key_type = Set(checked.key_type);
    row.updated_at = Set(OffsetDateTime::now_utc());
    let after = row.update(w.txn()).await?;
    w.audit(
        &caller.actor(),
        AuditEntry {
            action: "uploaded_certificate.replace",
            resource_type: "uploaded_certificate",
            resource_id: id.to_string(),
            before: Some(summary(&before)),
            after: Some(summary(&after)),
        },
    )
    .await?;
    let view = view(stores, after);
    finish(stores, w, &name, view).await
}

/// Queues the Redis write of the upload stored under `name` in the write's
/// transaction, then commits and writes it through (answering `value`), or rolls a dry
/// run back (answering its diff).
async fn finish<T>(stores: &Stores, w: Write, name: &str, value: T) -> Result<Answer<T>, ApiError> {
    let dry_run = w.dry_run();
    let (txn, changes) = w.into_parts();
    let mut pending = sync::Pending::default();
    sync::enqueue_certs(&txn, &mut pending, [CertSource::Uploaded.member(name)]).await?;
    if dry_run {
        txn.rollback().await?;
        return Ok(Answer::DryRun(super::zones::Diff {
            dry_run: true,
            changes,
            ..Default::default()
        }));
    }
    txn.commit().await?;
    sync::write_through(stores, pending).await;
    Ok(Answer::Done(value))
}

/// Deletes an uploaded certificate; its Redis key goes with it (the name falls back to
/// an issued certificate, if there is one).
pub async fn delete(
    stores: &Stores,
    caller: &Caller,
    id: Uuid,
    dry_run: bool,
) -> Result<Answer<()>, ApiError> {
    let before = readable(&stores.db, &caller.principal, id, Level::Edit).await?;
    let mut w = Write::begin(&stores.db, dry_run).await?;
    delete_in(&mut w, &caller.actor(), &before).await?;
    finish(stores, w, &before.name, ()).await
}

/// Deletes one row with its audit record, in `w` (a domain's deletion calls it for each
/// of the domain's uploads, then queues their Redis removal with its zones).
pub async fn delete_in(
    w: &mut Write,
    actor: &super::Actor,
    row: &uploaded_certificates::Model,
) -> Result<(), ApiError> {
    uploaded_certificates::Entity::delete_by_id(row.id)
        .exec(w.txn())
        .await?;
    w.audit(
        actor,
        AuditEntry {
            action: "uploaded_certificate.delete",
            resource_type: "uploaded_certificate",
            resource_id: row.id.to_string(),
            before: Some(summary(row)),
            after: None,
        },
    )
    .await?;
    Ok(())
}

/// The uploads of a domain (for its deletion).
pub async fn of_domain(
    conn: &impl ConnectionTrait,
    domain_id: Uuid,
) -> Result<Vec<uploaded_certificates::Model>, ApiError> {
    Ok(uploaded_certificates::Entity::find()
        .filter(uploaded_certificates::Column::DomainId.eq(domain_id))
        .order_by_asc(uploaded_certificates::Column::Name)
        .all(conn)
        .await?)
}

pub async fn get(stores: &Stores, principal: &Principal, id: Uuid) -> Result<UploadView, ApiError> {
    Ok(view(
        stores,
        readable(&stores.db, principal, id, Level::Read).await?,
    ))
}

pub async fn list(
    stores: &Stores,
    principal: &Principal,
    domain_id: Uuid,
) -> Result<UploadList, ApiError> {
    crate::access::authorize(principal, Need::Domain(domain_id, Level::Read))?;
    domain_of(&stores.db, domain_id).await?;
    Ok(UploadList {
        items: of_domain(&stores.db, domain_id)
            .await?
            .into_iter()
            .map(|m| view(stores, m))
            .collect(),
    })
}

/// The Redis record of an uploaded certificate member, from the committed row: `None`
/// when the row is gone (the key must go). The write-through's one renderer of uploads.
pub async fn render(
    conn: &impl ConnectionTrait,
    secrets: Option<&SecretBox>,
    name: &str,
) -> Result<Option<CertRecord>, String> {
    let row = uploaded_certificates::Entity::find()
        .filter(uploaded_certificates::Column::Name.eq(name))
        .one(conn)
        .await
        .map_err(|e| format!("reading uploaded certificates: {e}"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let secrets = secrets.ok_or_else(|| {
        format!("uploaded certificate {name}: no SWITCHYARD_SECRET_KEY to open its key with")
    })?;
    let key_pem = secrets
        .open_string(KEY_CONTEXT, &row.key_ciphertext)
        .map_err(|e| format!("uploaded certificate {name}: {e}"))?;
    let pattern = |n: &str| {
        HostPattern::parse(n).map_err(|e| format!("uploaded certificate {name}: name {n}: {e}"))
    };
    Ok(Some(CertRecord {
        name: pattern(&row.name)?,
        names: json_names(&row.names)
            .iter()
            .map(|n| pattern(n))
            .collect::<Result<_, _>>()?,
        chain_pem: row.chain_pem,
        key_pem,
        not_before: row.not_before,
        not_after: row.not_after,
        source: CertSource::Uploaded,
    }))
}

/// Adds to `changes` the write (or removal) of each uploaded member in `members`.
pub async fn render_into(
    conn: &impl ConnectionTrait,
    secrets: Option<&SecretBox>,
    members: impl IntoIterator<Item = &String>,
    changes: &mut ChangeSet,
) -> Result<(), String> {
    for member in members {
        let (CertSource::Uploaded, name) = CertSource::of_member(member) else {
            continue;
        };
        match render(conn, secrets, name).await? {
            Some(record) => changes.put_cert(&record),
            None => changes.delete_cert(member),
        };
    }
    Ok(())
}

// --- which certificate serves which name -------------------------------------------------

/// The certificate a name gets, as the panel shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Serving {
    /// `issued` (cert-worker, renewed automatically) or `uploaded`.
    pub source: CertSource,
    /// The certificate's id: an uploaded certificate's, or the issued one's.
    pub id: Uuid,
    /// What it is stored under (`*.example.com`, a hostname).
    pub name: String,
    /// Every name it covers.
    pub names: Vec<String>,
    /// `exact` (it names the hostname) or `wildcard` (by `*.<parent>`).
    pub coverage: Coverage,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// `GET /zones/{id}/certificate`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ZoneCertificate {
    pub zone_id: Uuid,
    pub hostname: String,
    /// The certificate a TLS handshake for the hostname gets today; `null`: none covers
    /// it (the handshake fails unless the proxies have a default certificate).
    pub certificate: Option<Serving>,
}

/// One zone whose hostname no certificate covers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Uncovered {
    pub zone_id: Uuid,
    pub domain_id: Uuid,
    pub hostname: String,
}

/// `GET /certificates/uncovered`.
pub type UncoveredPage = Page<Uncovered>;

/// Every certificate PostgreSQL holds that the proxies can serve — issued ones that have
/// been issued, and uploaded ones — indexed by `switchyard_shared::certs`, the proxies'
/// own choice; `names` limits it to certificates naming one of them (`None`: all).
pub async fn serving_index(
    conn: &impl ConnectionTrait,
    names: Option<&[String]>,
) -> Result<CertIndex<Serving>, ApiError> {
    let filter = if names.is_some() {
        "AND jsonb_exists_any(names, $1)"
    } else {
        ""
    };
    let values: Vec<sea_orm::Value> = names.map(|n| vec![n.to_vec().into()]).unwrap_or_default();
    let sql = format!(
        "SELECT id, 'issued' AS source, names, not_after FROM certificates \
           WHERE not_after IS NOT NULL {filter} \
         UNION ALL \
         SELECT id, 'uploaded' AS source, names, not_after FROM uploaded_certificates \
           WHERE true {filter}"
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    let mut index = CertIndex::new();
    for row in rows {
        let id: Uuid = row.try_get("", "id")?;
        let source = if row.try_get::<String>("", "source")? == "uploaded" {
            CertSource::Uploaded
        } else {
            CertSource::Issued
        };
        let names = json_names(&row.try_get::<serde_json::Value>("", "names")?);
        let not_after: OffsetDateTime = row.try_get("", "not_after")?;
        // The name it is stored under: an upload's `name`; cert-worker stores an issued
        // certificate under its first name (`*.example.com`, or a per-host hostname).
        let name = names.first().cloned().unwrap_or_default();
        let candidate = Candidate {
            member: source.member(&name),
            source,
            not_after,
        };
        let serving = Serving {
            source,
            id,
            name,
            names: names.clone(),
            coverage: Coverage::Exact,
            not_after,
        };
        index.insert(names.iter().map(String::as_str), &candidate, serving);
    }
    Ok(index)
}

/// Which certificate the hostname gets: the rule of `switchyard_shared::certs`, given
/// every certificate PostgreSQL holds.
pub fn serving_for(index: &CertIndex<Serving>, hostname: &str) -> Option<Serving> {
    index.for_name(hostname).map(|chosen| Serving {
        coverage: chosen.coverage,
        ..chosen.value.clone()
    })
}

/// `GET /zones/{id}/certificate`: read grant on the zone's domain.
pub async fn for_zone(
    db: &DatabaseConnection,
    principal: &Principal,
    zone_id: Uuid,
) -> Result<ZoneCertificate, ApiError> {
    let zone = zones::Entity::find_by_id(zone_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)?;
    crate::access::authorize(principal, Need::Domain(zone.domain_id, Level::Read))?;
    let candidates: Vec<String> = switchyard_shared::certs::covering_names(&zone.hostname)
        .map(|(_, n)| n.into_owned())
        .collect();
    let index = serving_index(db, Some(&candidates)).await?;
    Ok(ZoneCertificate {
        certificate: serving_for(&index, &zone.hostname),
        zone_id: zone.id,
        hostname: zone.hostname,
    })
}

/// `GET /certificates/uncovered`: the readable zones whose hostname no certificate
/// covers, by hostname. Every certificate is indexed once and every readable zone's
/// hostname looked up in it (two hash lookups each).
pub async fn uncovered(
    db: &DatabaseConnection,
    principal: &Principal,
    query: &ListQuery,
) -> Result<UncoveredPage, ApiError> {
    let index = serving_index(db, None).await?;
    let mut select = zones::Entity::find().order_by_asc(zones::Column::Hostname);
    if let Scope::Only(ids) = principal.domains(Level::Read) {
        select = select.filter(zones::Column::DomainId.is_in(ids));
    }
    if let Some(pattern) = query.like_pattern() {
        select = select
            .filter(Expr::col(zones::Column::Hostname).like(LikeExpr::new(pattern).escape('\\')));
    }
    let mut seen: BTreeMap<String, Uncovered> = BTreeMap::new();
    for zone in select.all(db).await? {
        if seen.contains_key(&zone.hostname) || serving_for(&index, &zone.hostname).is_some() {
            continue;
        }
        seen.insert(
            zone.hostname.clone(),
            Uncovered {
                zone_id: zone.id,
                domain_id: zone.domain_id,
                hostname: zone.hostname,
            },
        );
    }
    let total = seen.len() as u64;
    let items = seen
        .into_values()
        .skip(usize::try_from(query.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(query.limit()).unwrap_or(usize::MAX))
        .collect();
    Ok(Page::new(items, super::Count::exact(total), query))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(label: &str, der: &[u8]) -> String {
        let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    /// A self-signed leaf for `names` with a new key of `alg`: (chain, key PEM, key DER).
    fn leaf(alg: &'static rcgen::SignatureAlgorithm, names: &[&str]) -> (String, String, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem(), key.serialize_der())
    }

    fn wanted() -> Vec<String> {
        vec!["*.example.test".into(), "example.test".into()]
    }

    const NAMES: [&str; 2] = ["*.example.test", "example.test"];

    #[test]
    fn every_accepted_key_type_passes_and_is_named() {
        for (alg, label) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, "ecdsa-p256"),
            (&rcgen::PKCS_ECDSA_P384_SHA384, "ecdsa-p384"),
            (&rcgen::PKCS_ED25519, "ed25519"),
        ] {
            let (chain, key, _) = leaf(alg, &NAMES);
            let checked = check(&chain, &key, &wanted(), OffsetDateTime::now_utc())
                .unwrap_or_else(|e| panic!("{label}: {e:?}"));
            assert_eq!(checked.key_type, label);
            assert_eq!(checked.names, NAMES);
            assert_eq!(checked.fingerprint_sha256.len(), 64);
        }
    }

    /// An SEC1 `EC PRIVATE KEY` (what `openssl ecparam -genkey` writes) is read: the
    /// PKCS#8 key's inner `ECPrivateKey`, as its own PEM block.
    #[test]
    fn an_sec1_ec_key_is_read_and_checked() {
        let sec1 = |pkcs8: &[u8]| -> Vec<u8> {
            let (0x30, body, _) = der_element(pkcs8).unwrap() else {
                panic!("not a SEQUENCE")
            };
            let (_, _, rest) = der_element(body).unwrap();
            let (_, _, rest) = der_element(rest).unwrap();
            let (0x04, inner, _) = der_element(rest).unwrap() else {
                panic!("no OCTET STRING")
            };
            inner.to_vec()
        };
        let (chain, _, der) = leaf(&rcgen::PKCS_ECDSA_P256_SHA256, &NAMES);
        let key = pem("EC PRIVATE KEY", &sec1(&der));
        check(&chain, &key, &wanted(), OffsetDateTime::now_utc()).unwrap();
        // Another key in the same form: refused as not the leaf's.
        let (_, _, other) = leaf(&rcgen::PKCS_ECDSA_P256_SHA256, &NAMES);
        let other = pem("EC PRIVATE KEY", &sec1(&other));
        let problems = check(&chain, &other, &wanted(), OffsetDateTime::now_utc()).unwrap_err();
        assert_eq!(problems[0].field, "key_pem");
        assert!(problems[0].problem.contains("does not belong to the leaf"));
    }

    #[test]
    fn keys_of_another_type_encrypted_or_doubled_are_refused_by_name() {
        let (chain, _, _) = leaf(&rcgen::PKCS_ECDSA_P256_SHA256, &NAMES);
        let (_, ed_key, _) = leaf(&rcgen::PKCS_ED25519, &NAMES);
        let now = OffsetDateTime::now_utc();
        let problem_of = |key: &str| {
            let problems = check(&chain, key, &wanted(), now).unwrap_err();
            assert_eq!(problems[0].field, "key_pem", "{problems:?}");
            problems[0].problem.clone()
        };
        assert!(problem_of(&ed_key).contains("is not an ecdsa-p256 private key"));
        assert!(problem_of(&pem("ENCRYPTED PRIVATE KEY", b"\x30\x00")).contains("is encrypted"));
        assert!(problem_of(&pem("RSA PRIVATE KEY", b"\x30\x00")).contains("cannot hold"));
        assert!(problem_of(&pem("OPENSSH PRIVATE KEY", b"x")).contains("allowed: `PRIVATE KEY`"));
        assert!(problem_of(&format!("{ed_key}{ed_key}")).contains("more than one PEM block"));
    }

    #[test]
    fn a_wildcard_name_covers_a_hostname_one_label_down_only() {
        let (chain, key, _) = leaf(&rcgen::PKCS_ECDSA_P256_SHA256, &["*.example.test"]);
        let now = OffsetDateTime::now_utc();
        assert!(check(&chain, &key, &["app.example.test".into()], now).is_ok());
        let problems = check(&chain, &key, &["a.b.example.test".into()], now).unwrap_err();
        assert!(
            problems[0]
                .problem
                .contains("do not cover a.b.example.test")
        );
    }
}
