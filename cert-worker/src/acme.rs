//! The ACME side: the account (created once, kept sealed in Postgres) and the steps of
//! one order: DNS-01 for a domain's `*.<domain>` and `<domain>`, HTTP-01 for one exact
//! hostname ([`ChallengeType`] chooses).
//!
//! Client: `instant-acme` — async on tokio and hyper, maintained, RFC 8555 complete with
//! External Account Binding, and it hands back the CA's problem documents intact, which
//! become the certificate's `last_error`. (`acme-lib` is synchronous and unmaintained.)
//! It speaks through [`ca_client::CaClient`], which also notes the CA's rate-limit answers
//! and their `Retry-After` (instant-acme drops response headers from its errors).
//!
//! ARI (RFC 9773): [`Acme::renewal_info`] asks the CA's `renewalInfo` for a certificate's
//! suggested renewal window, and a renewal order names the certificate it replaces
//! ([`Acme::place_order`]) — both only when the CA's directory offers `renewalInfo`.

use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType,
    ExternalAccountKey, Identifier, NewAccount, NewOrder, Order, OrderStatus, RenewalInfo,
    RetryPolicy,
};
use sea_orm::DatabaseConnection;
use switchyard_shared::secrets::SecretBox;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::config::AcmeConfig;
use crate::db;

pub mod ca_client;

pub use ca_client::{LastAnswer, RATE_LIMITED, last_answer, observe};

/// Associated data of the sealed account credentials.
pub const ACCOUNT_CONTEXT: &str = "acme_accounts.credentials";
/// Associated data of sealed certificate keys.
pub const KEY_CONTEXT: &str = "certificates.key";
/// The problem type of a request signed by an account the CA does not know (RFC 8555
/// §7.3.1).
pub const ACCOUNT_DOES_NOT_EXIST: &str = "urn:ietf:params:acme:error:accountDoesNotExist";

/// What went wrong on the ACME side.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA answered with a problem document.
    #[error("ACME CA ({action}): {problem}")]
    Problem { action: String, problem: String },
    /// The CA does not know the account (RFC 8555 `accountDoesNotExist`): its state was
    /// reset (Pebble at every start, a wiped staging CA). [`Acme::replace_account`]
    /// registers a new one.
    #[error("ACME CA ({action}): {problem}")]
    AccountUnknown { action: String, problem: String },
    #[error("ACME ({action}): {message}")]
    Client { action: String, message: String },
    #[error("ACME account: {0}")]
    Account(String),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

/// Whether the CA answered that it does not know the account.
fn account_unknown(e: &instant_acme::Error) -> bool {
    matches!(e, instant_acme::Error::Api(p) if p.r#type.as_deref() == Some(ACCOUNT_DOES_NOT_EXIST))
}

fn acme_err(action: &str) -> impl Fn(instant_acme::Error) -> AcmeError + '_ {
    move |e| match e {
        instant_acme::Error::Api(p) if p.r#type.as_deref() == Some(ACCOUNT_DOES_NOT_EXIST) => {
            AcmeError::AccountUnknown {
                action: action.to_owned(),
                problem: problem_text(&p),
            }
        }
        instant_acme::Error::Api(p) => AcmeError::Problem {
            action: action.to_owned(),
            problem: problem_text(&p),
        },
        other => AcmeError::Client {
            action: action.to_owned(),
            message: other.to_string(),
        },
    }
}

/// The problem document as an operator wants to read it: type, detail, status and the
/// per-identifier subproblems.
pub fn problem_text(p: &instant_acme::Problem) -> String {
    let mut s = String::new();
    if let Some(t) = &p.r#type {
        s.push_str(t);
    }
    if let Some(d) = &p.detail {
        s.push_str(if s.is_empty() { "" } else { ": " });
        s.push_str(d);
    }
    if let Some(st) = p.status {
        s.push_str(&format!(" (HTTP {st})"));
    }
    for sub in &p.subproblems {
        s.push_str(&format!("; {sub}"));
    }
    s
}

/// The account, loaded or created on first use, and replaced when the CA forgot it.
pub struct Acme {
    config: AcmeConfig,
    secrets: SecretBox,
    /// A lock rather than a once-cell: [`Acme::replace_account`] swaps it, and holding
    /// it while registering keeps this instance from registering twice at once.
    account: Mutex<Option<(Uuid, Account)>>,
}

/// One challenge to answer. DNS-01: publish `value` as TXT at `fqdn`. HTTP-01: answer
/// `http://<name>/.well-known/acme-challenge/<token>` with `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The name validated (`d` for both `*.d` and `d`).
    pub name: String,
    /// DNS-01: the TXT record's name, `_acme-challenge.<name>`; HTTP-01: `<name>`.
    pub fqdn: String,
    /// The challenge's token (HTTP-01: the last segment of the URL the CA fetches).
    pub token: String,
    /// DNS-01: the TXT value; HTTP-01: the key authorization, the body the CA expects.
    pub value: String,
}

/// An issued certificate.
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

impl Acme {
    pub fn new(config: AcmeConfig, secrets: SecretBox) -> Self {
        Self {
            config,
            secrets,
            account: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &AcmeConfig {
        &self.config
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, AcmeError> {
        let client =
            ca_client::CaClient::new(self.config.ca_file.as_deref()).map_err(AcmeError::Account)?;
        Ok(Account::builder_with_http(Box::new(client)))
    }

    /// The account for the configured directory: restored from Postgres, or registered
    /// once (under an advisory lock, so two instances never register two).
    pub async fn account(&self, db: &DatabaseConnection) -> Result<(Uuid, Account), AcmeError> {
        let mut cached = self.account.lock().await;
        if let Some(account) = &*cached {
            return Ok(account.clone());
        }
        let account = self.load_or_register(db, None).await?;
        *cached = Some(account.clone());
        Ok(account)
    }

    /// The CA answered that it does not know `stale` ([`AcmeError::AccountUnknown`]):
    /// a new account is registered and stored in place of the old one, under the same
    /// row, so the order log and its rate-limit counts stay. When another instance has
    /// replaced it already, its account is used instead of registering a third.
    pub async fn replace_account(
        &self,
        db: &DatabaseConnection,
        stale: &Account,
    ) -> Result<(Uuid, Account), AcmeError> {
        let mut cached = self.account.lock().await;
        let account = self.load_or_register(db, Some(stale.id())).await?;
        *cached = Some(account.clone());
        Ok(account)
    }

    /// The stored account, unless it is `stale_id`; otherwise a new registration, stored.
    async fn load_or_register(
        &self,
        db: &DatabaseConnection,
        stale_id: Option<&str>,
    ) -> Result<(Uuid, Account), AcmeError> {
        let url = &self.config.directory_url;
        let txn = db::lock_account_creation(db, url).await?;
        let stored = db::load_account(&txn, url).await?;
        if let Some(stored) = &stored {
            let json = self
                .secrets
                .open_string(ACCOUNT_CONTEXT, &stored.credentials_ciphertext)
                .map_err(|e| AcmeError::Account(e.to_string()))?;
            let credentials: AccountCredentials = serde_json::from_str(&json)
                .map_err(|e| AcmeError::Account(format!("stored credentials: {e}")))?;
            let account = self
                .builder()?
                .from_credentials(credentials)
                .await
                .map_err(acme_err("restoring the account"))?;
            if stale_id != Some(account.id()) {
                txn.commit().await?;
                return Ok((stored.id, account));
            }
        }
        let contact = self.config.contact.as_ref().map(|c| format!("mailto:{c}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let eab = self
            .config
            .eab
            .as_ref()
            .map(|e| ExternalAccountKey::new(e.kid.clone(), &e.hmac_key));
        let (account, credentials) = self
            .builder()?
            .create(
                &NewAccount {
                    contact: &contacts,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                url.clone(),
                eab.as_ref(),
            )
            .await
            .map_err(acme_err("registering the account"))?;
        let json =
            serde_json::to_string(&credentials).map_err(|e| AcmeError::Account(e.to_string()))?;
        let sealed = self
            .secrets
            .seal(ACCOUNT_CONTEXT, json.as_bytes())
            .map_err(|e| AcmeError::Account(e.to_string()))?;
        let id = match &stored {
            Some(stored) => {
                db::replace_account_credentials(&txn, stored.id, sealed).await?;
                tracing::warn!(
                    directory = %url,
                    forgotten = stale_id.unwrap_or_default(),
                    account = account.id(),
                    "the ACME CA no longer knows the stored account (its state was reset); registered a new one"
                );
                stored.id
            }
            None => {
                let id =
                    db::insert_account(&txn, url, self.config.contact.as_deref(), sealed).await?;
                tracing::info!(directory = %url, account = account.id(), "registered ACME account");
                id
            }
        };
        txn.commit().await?;
        Ok((id, account))
    }

    /// Places an order for `names` and returns it with the challenges of `kind` to
    /// publish. `replaces`: the certificate this order renews, named to a CA that offers
    /// ARI (RFC 9773 §5), which may then exempt the order from rate limits. A CA that
    /// turns that down (`alreadyReplaced`, or an answer that does not echo it) gets the
    /// order again without it, unless it said "rate limited".
    pub async fn place_order(
        &self,
        account: &Account,
        names: &[String],
        kind: ChallengeType,
        replaces: Option<&CertificateIdentifier<'_>>,
    ) -> Result<(Order, Vec<Challenge>), AcmeError> {
        let identifiers: Vec<Identifier> =
            names.iter().map(|n| Identifier::Dns(n.clone())).collect();
        let placed = match replaces {
            Some(id) => {
                let naming = NewOrder::new(&identifiers).replaces(id.clone());
                match account.new_order(&naming).await {
                    Err(e) if !account_unknown(&e) && !last_answer().rate_limited => {
                        tracing::warn!(replaces = %id, error = %e, "the CA did not take the order naming the certificate it replaces; ordering without");
                        account.new_order(&NewOrder::new(&identifiers)).await
                    }
                    placed => placed,
                }
            }
            None => account.new_order(&NewOrder::new(&identifiers)).await,
        };
        let mut order = placed.map_err(acme_err("placing the order"))?;
        let challenges = challenges(&mut order, kind).await?;
        Ok((order, challenges))
    }

    /// The CA's suggested renewal window for a certificate (RFC 9773 §4.2), and how
    /// long it asks to wait before asking again (its `Retry-After`). `None` when its
    /// directory offers no `renewalInfo`.
    pub async fn renewal_info(
        &self,
        account: &Account,
        certificate: &CertificateIdentifier<'_>,
    ) -> Result<Option<(RenewalInfo, Duration)>, AcmeError> {
        match account.renewal_info(certificate).await {
            Ok(answer) => Ok(Some(answer)),
            Err(instant_acme::Error::Unsupported(_)) => Ok(None),
            Err(e) => Err(acme_err("reading the renewal window")(e)),
        }
    }

    /// Re-opens an order placed earlier (a manual DNS-01 order resumed by URL).
    pub async fn resume_order(
        &self,
        account: &Account,
        url: &str,
    ) -> Result<(Order, Vec<Challenge>), AcmeError> {
        let mut order = account
            .order(url.to_owned())
            .await
            .map_err(acme_err("re-opening the order"))?;
        let challenges = challenges(&mut order, ChallengeType::Dns01).await?;
        Ok((order, challenges))
    }

    /// Tells the CA the answers of `kind` are in place (TXT records, or the proxies'
    /// HTTP answers), waits for validation, finalizes with a fresh key and downloads
    /// the chain.
    pub async fn complete(
        &self,
        order: &mut Order,
        kind: ChallengeType,
    ) -> Result<Issued, AcmeError> {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(acme_err("reading authorizations"))?;
            if authz.status != AuthorizationStatus::Pending {
                continue;
            }
            let mut challenge = authz
                .challenge(kind.clone())
                .ok_or_else(|| AcmeError::Client {
                    action: "answering the challenge".into(),
                    message: format!("the CA offers no {} challenge", kind_name(&kind)),
                })?;
            challenge
                .set_ready()
                .await
                .map_err(acme_err("answering the challenge"))?;
        }
        let retries = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .backoff(1.5)
            .timeout(self.config.timeout);
        let status = match order.poll_ready(&retries).await {
            Ok(status) => status,
            // The order's own problem is generic ("no TXT records found"); the failed
            // challenges say which name failed and why.
            Err(instant_acme::Error::Api(problem)) => {
                let detail = rejection(order).await;
                return Err(AcmeError::Problem {
                    action: "validating the challenge".into(),
                    problem: if detail.is_empty() {
                        problem_text(&problem)
                    } else {
                        detail
                    },
                });
            }
            Err(e) => return Err(acme_err("waiting for validation")(e)),
        };
        if status != OrderStatus::Ready {
            return Err(AcmeError::Problem {
                action: "validating the challenge".into(),
                problem: rejection(order).await,
            });
        }
        let key_pem = order.finalize().await.map_err(acme_err("finalizing"))?;
        let chain_pem = order
            .poll_certificate(&retries)
            .await
            .map_err(acme_err("downloading the certificate"))?;
        Ok(Issued { chain_pem, key_pem })
    }

    /// Seals a certificate key for Postgres.
    pub fn seal_key(&self, key_pem: &str) -> Result<Vec<u8>, AcmeError> {
        self.secrets
            .seal(KEY_CONTEXT, key_pem.as_bytes())
            .map_err(|e| AcmeError::Account(e.to_string()))
    }

    /// Opens a stored certificate key.
    pub fn open_key(&self, sealed: &[u8]) -> Result<String, AcmeError> {
        self.secrets
            .open_string(KEY_CONTEXT, sealed)
            .map_err(|e| AcmeError::Account(e.to_string()))
    }
}

/// The challenges of `kind` of an order's pending authorizations. DNS-01: both `*.d`
/// and `d` are validated at `_acme-challenge.d`, with two different values.
async fn challenges(order: &mut Order, kind: ChallengeType) -> Result<Vec<Challenge>, AcmeError> {
    let mut out = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.map_err(acme_err("reading authorizations"))?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(AcmeError::Client {
                    action: "reading authorizations".into(),
                    message: format!("authorization for {} is {other:?}", authz.identifier()),
                });
            }
        }
        let identifier = authz.identifier();
        let Identifier::Dns(domain) = identifier.identifier else {
            return Err(AcmeError::Client {
                action: "reading authorizations".into(),
                message: format!("unexpected identifier {identifier}"),
            });
        };
        let domain = domain.clone();
        let challenge = authz
            .challenge(kind.clone())
            .ok_or_else(|| AcmeError::Client {
                action: "reading authorizations".into(),
                message: format!(
                    "the CA offers no {} challenge for {domain}",
                    kind_name(&kind)
                ),
            })?;
        let key_authorization = challenge.key_authorization();
        let (fqdn, value) = match kind {
            ChallengeType::Dns01 => (
                format!("_acme-challenge.{domain}"),
                key_authorization.dns_value(),
            ),
            _ => (domain.clone(), key_authorization.as_str().to_owned()),
        };
        out.push(Challenge {
            token: challenge.token.clone(),
            name: domain,
            fqdn,
            value,
        });
    }
    Ok(out)
}

/// The RFC 8555 name of a challenge type, for messages.
fn kind_name(kind: &ChallengeType) -> &'static str {
    match kind {
        ChallengeType::Http01 => "http-01",
        ChallengeType::Dns01 => "dns-01",
        ChallengeType::TlsAlpn01 => "tls-alpn-01",
        _ => "requested",
    }
}

/// Why the CA turned the order down: the failed challenges' problem documents (empty
/// when none carries one).
async fn rejection(order: &mut Order) -> String {
    let mut problems = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        let name = authz.identifier().to_string();
        if let Ok(state) = authz.refresh().await {
            for c in &state.challenges {
                if let Some(p) = &c.error {
                    problems.push(format!("{name}: {}", problem_text(p)));
                }
            }
        }
    }
    problems.join("; ")
}

/// The ARI identifier of the leaf of a PEM chain (RFC 9773 §4.1):
/// `base64url(AKI keyIdentifier) "." base64url(serial)`, the serial as its DER content
/// octets (a leading zero included).
pub fn certificate_id(chain_pem: &str) -> Result<CertificateIdentifier<'static>, String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (_, pem) = x509_parser::pem::parse_x509_pem(chain_pem.as_bytes())
        .map_err(|e| format!("no PEM certificate: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    let aki = cert
        .iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .ok_or("the certificate has no authority key identifier")?;
    Ok(CertificateIdentifier {
        authority_key_identifier: URL_SAFE_NO_PAD.encode(aki).into(),
        serial: URL_SAFE_NO_PAD
            .encode(cert.tbs_certificate.raw_serial())
            .into(),
    })
}

/// Validity and names of the leaf of a PEM chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafInfo {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub dns_names: Vec<String>,
}

/// Reads the first certificate of a chain.
pub fn leaf_info(chain_pem: &str) -> Result<LeafInfo, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(chain_pem.as_bytes())
        .map_err(|e| format!("the CA returned no PEM certificate: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("the CA returned an unreadable certificate: {e}"))?;
    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(n) = name {
                dns_names.push((*n).to_owned());
            }
        }
    }
    Ok(LeafInfo {
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        dns_names,
    })
}
