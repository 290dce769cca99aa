//! Waiting until a TXT record is visible before the CA is asked to look: the record is
//! queried directly at the zone's authoritative name servers (or the resolvers given in
//! the configuration), every server must answer with every expected value, and polling
//! stops at a deadline — never a fixed sleep.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{
    NameServerConfig, NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{Name, TokioResolver};

/// One query may take this long before the server counts as not answering this round.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a record is not (yet) visible.
#[derive(Debug, thiserror::Error)]
pub enum PropagationError {
    #[error("TXT {fqdn} did not become visible within {timeout:?}; last seen: {last}")]
    Timeout {
        fqdn: String,
        timeout: Duration,
        last: String,
    },
    #[error("cannot find the name servers of zone {zone}: {message}")]
    NameServers { zone: String, message: String },
}

/// Where and how long to look.
#[derive(Debug, Clone)]
pub struct Propagation {
    /// Asked instead of the authoritative servers when not empty.
    pub resolvers: Vec<SocketAddr>,
    pub timeout: Duration,
    pub poll: Duration,
}

impl Propagation {
    /// Polls until every server returns every value for `fqdn`, or the deadline passes.
    pub async fn wait_visible(
        &self,
        zone: &str,
        fqdn: &str,
        values: &[String],
    ) -> Result<(), PropagationError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let servers = self.servers(zone).await?;
        let mut ticks = tokio::time::interval(self.poll);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match visible_at(&servers, fqdn, values).await {
                Ok(()) => return Ok(()),
                Err(last) if tokio::time::Instant::now() >= deadline => {
                    return Err(PropagationError::Timeout {
                        fqdn: fqdn.to_owned(),
                        timeout: self.timeout,
                        last,
                    });
                }
                Err(last) => tracing::debug!(%fqdn, %last, "TXT record not visible yet"),
            }
        }
    }

    /// One look: `Ok(())` when visible, otherwise what was seen.
    pub async fn check_once(
        &self,
        zone: &str,
        fqdn: &str,
        values: &[String],
    ) -> Result<Result<(), String>, PropagationError> {
        let servers = self.servers(zone).await?;
        Ok(visible_at(&servers, fqdn, values).await)
    }

    async fn servers(&self, zone: &str) -> Result<Vec<SocketAddr>, PropagationError> {
        if !self.resolvers.is_empty() {
            return Ok(self.resolvers.clone());
        }
        authoritative_servers(zone).await
    }
}

/// The zone's NS records resolved to addresses, through the system resolver.
async fn authoritative_servers(zone: &str) -> Result<Vec<SocketAddr>, PropagationError> {
    let err = |message: String| PropagationError::NameServers {
        zone: zone.to_owned(),
        message,
    };
    let system = TokioResolver::builder_tokio()
        .map_err(|e| err(format!("no system resolver: {e}")))?
        .build();
    let ns = system
        .ns_lookup(absolute(zone))
        .await
        .map_err(|e| err(e.to_string()))?;
    let mut servers = Vec::new();
    for host in ns.iter() {
        if let Ok(ips) = system.lookup_ip(host.0.clone()).await {
            servers.extend(ips.iter().map(|ip| SocketAddr::new(ip, 53)));
        }
    }
    if servers.is_empty() {
        return Err(err("its NS records resolve to no address".to_owned()));
    }
    Ok(servers)
}

/// Asks every server; all must return all values.
async fn visible_at(servers: &[SocketAddr], fqdn: &str, values: &[String]) -> Result<(), String> {
    for server in servers {
        let seen = txt_at(*server, fqdn).await?;
        let missing: Vec<&String> = values.iter().filter(|v| !seen.contains(v)).collect();
        if !missing.is_empty() {
            return Err(format!(
                "{server} answers {} value(s) {:?}, missing {:?}",
                seen.len(),
                seen,
                missing
            ));
        }
    }
    Ok(())
}

/// The TXT values of `fqdn` at one server, without any cache in between.
async fn txt_at(server: SocketAddr, fqdn: &str) -> Result<Vec<String>, String> {
    let mut ns = NameServerConfig::new(server, Protocol::Udp);
    ns.trust_negative_responses = true;
    let config = ResolverConfig::from_parts(None, vec![], NameServerConfigGroup::from(vec![ns]));
    let mut options = ResolverOpts::default();
    options.cache_size = 0;
    options.attempts = 1;
    options.timeout = QUERY_TIMEOUT;
    options.use_hosts_file = ResolveHosts::Never;
    options.recursion_desired = true;
    let resolver = TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        .with_options(options)
        .build();
    match resolver.txt_lookup(absolute(fqdn)).await {
        Ok(answer) => Ok(answer
            .iter()
            .map(|txt| {
                txt.iter()
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect::<String>()
            })
            .collect()),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
        Err(e) => Err(format!("{server}: {e}")),
    }
}

/// `name.` — fully qualified, so no search domain is ever appended.
fn absolute(name: &str) -> Name {
    let mut n = Name::from_ascii(name.trim_end_matches('.')).unwrap_or_else(|_| Name::root());
    n.set_fqdn(true);
    n
}
