//! Waiting until a TXT record is visible before the CA is asked to look: the record is
//! queried directly at the zone's authoritative name servers (or the resolvers given in
//! the configuration), every server must answer with every expected value, and polling
//! stops at a deadline — never a fixed sleep.

use std::net::SocketAddr;
use std::time::Duration;

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

/// The TXT values of `fqdn` at one server, without any cache in between: one DNS query
/// sent straight to the server (UDP, TCP when the answer is truncated). Not through a
/// stub resolver, which would also answer special-use names itself (`*.localhost`
/// never leaves hickory's resolver, RFC 6761) instead of asking the server.
async fn txt_at(server: SocketAddr, fqdn: &str) -> Result<Vec<String>, String> {
    use hickory_resolver::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_resolver::proto::rr::{RData, RecordType};

    let id = {
        let random = uuid::Uuid::new_v4();
        let b = random.as_bytes();
        u16::from_le_bytes([b[0], b[1]])
    };
    let mut query = Message::new();
    query
        .set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(absolute(fqdn), RecordType::TXT));
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    query.set_edns(edns);
    let packet = query
        .to_vec()
        .map_err(|e| format!("{server}: cannot encode the query: {e}"))?;
    let exchange = async {
        let mut answer = udp_exchange(server, &packet, id).await?;
        if answer.truncated() {
            answer = tcp_exchange(server, &packet, id).await?;
        }
        Ok::<Message, String>(answer)
    };
    let answer = tokio::time::timeout(QUERY_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("{server}: no answer within {QUERY_TIMEOUT:?}"))??;
    match answer.response_code() {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        code => return Err(format!("{server}: answered {code}")),
    }
    Ok(answer
        .answers()
        .iter()
        .filter_map(|record| match record.data() {
            RData::TXT(txt) => Some(
                txt.iter()
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect())
}

async fn udp_exchange(
    server: SocketAddr,
    packet: &[u8],
    id: u16,
) -> Result<hickory_resolver::proto::op::Message, String> {
    let local: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(|e| format!("{server}: cannot open a UDP socket: {e}"))?;
    socket
        .connect(server)
        .await
        .map_err(|e| format!("{server}: {e}"))?;
    socket
        .send(packet)
        .await
        .map_err(|e| format!("{server}: sending the query: {e}"))?;
    let mut buffer = vec![0u8; 65_535];
    loop {
        let n = socket
            .recv(&mut buffer)
            .await
            .map_err(|e| format!("{server}: reading the answer: {e}"))?;
        // Anything else arriving on the port is not our answer.
        if let Ok(answer) = hickory_resolver::proto::op::Message::from_vec(&buffer[..n])
            && answer.id() == id
        {
            return Ok(answer);
        }
    }
}

async fn tcp_exchange(
    server: SocketAddr,
    packet: &[u8],
    id: u16,
) -> Result<hickory_resolver::proto::op::Message, String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(server)
        .await
        .map_err(|e| format!("{server} (TCP): {e}"))?;
    let length = u16::try_from(packet.len()).map_err(|_| format!("{server}: query too long"))?;
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| format!("{server} (TCP): sending the query: {e}"))?;
    let length = stream
        .read_u16()
        .await
        .map_err(|e| format!("{server} (TCP): reading the answer: {e}"))?;
    let mut buffer = vec![0u8; usize::from(length)];
    stream
        .read_exact(&mut buffer)
        .await
        .map_err(|e| format!("{server} (TCP): reading the answer: {e}"))?;
    let answer = hickory_resolver::proto::op::Message::from_vec(&buffer)
        .map_err(|e| format!("{server} (TCP): unreadable answer: {e}"))?;
    if answer.id() != id {
        return Err(format!("{server} (TCP): an answer to another query"));
    }
    Ok(answer)
}

/// `name.` — fully qualified, so no search domain is ever appended.
fn absolute(name: &str) -> Name {
    let mut n = Name::from_ascii(name.trim_end_matches('.')).unwrap_or_else(|_| Name::root());
    n.set_fqdn(true);
    n
}
