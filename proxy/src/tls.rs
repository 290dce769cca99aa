//! Certificate choice at TLS handshake time, per SNI, from the live snapshot.
//!
//! One rule decides, `switchyard_shared::certs` (the same one the panel answers "which
//! certificate does this hostname get" with): an exact certificate for the server name
//! wins, then the wildcard of its parent (a wildcard certificate `*.example.com` also
//! covers `example.com`, which it lists among its names); for the same name an uploaded
//! certificate beats an issued one, then the one expiring last. A certificate written to
//! Redis is used from the next handshake on. With no certificate for the name and no
//! default configured, the handshake fails.

use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use pingora::tls::ext;
use pingora::tls::ssl::NameType;
use switchyard_shared::normalize_request_host;

use crate::snapshot::{CertEntry, Snapshot};

/// Picks the certificate for each handshake.
pub struct CertSelector {
    pub live: Arc<ArcSwap<Snapshot>>,
    /// Stored name of a certificate to use when no other covers the server name
    /// (`*.example.com`); where an uploaded and an issued one share it, the rule picks.
    pub default_cert: Option<String>,
}

impl CertSelector {
    /// The certificate for a server name (or the default one).
    pub fn choose(&self, server_name: Option<&str>) -> Option<Arc<CertEntry>> {
        let snapshot = self.live.load();
        let by_name = server_name
            .and_then(|n| normalize_request_host(n).ok())
            .and_then(|n| snapshot.cert_for(&n).cloned());
        by_name.or_else(|| {
            let default = self.default_cert.as_deref()?;
            snapshot.cert_for(default).cloned()
        })
    }
}

#[async_trait]
impl TlsAccept for CertSelector {
    async fn certificate_callback(&self, ssl: &mut TlsRef) {
        let server_name = ssl.servername(NameType::HOST_NAME).map(str::to_owned);
        let Some(cert) = self.choose(server_name.as_deref()) else {
            tracing::debug!(
                sni = server_name.as_deref().unwrap_or(""),
                "no certificate for this name"
            );
            return;
        };
        let result = ext::ssl_use_certificate(ssl, &cert.leaf)
            .and_then(|()| ext::ssl_use_private_key(ssl, &cert.key))
            .and_then(|()| {
                cert.chain
                    .iter()
                    .try_for_each(|c| ext::ssl_add_chain_cert(ssl, c))
            });
        if let Err(e) = result {
            tracing::error!(cert = %cert.record.name, error = %e, "cannot use certificate");
        }
    }
}
