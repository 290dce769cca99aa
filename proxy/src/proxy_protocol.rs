//! The PROXY protocol (v1 text, v2 binary): a TCP load balancer in front (HAProxy's
//! `send-proxy`/`send-proxy-v2`, an AWS NLB with proxy protocol v2 on) names the client it
//! accepted in a header sent before any byte of HTTP or of the TLS ClientHello.
//!
//! [`ProxyProtocol::accept`] runs once per connection, before anything else reads it: on
//! the plain HTTP listener at the start of [`crate::fast::Front`]'s `process_new`, on the
//! HTTPS listener in Pingora's pre-TLS callback ([`PreTls`]). With a header from a peer in
//! `--proxy-protocol-from` the connection's socket digest is replaced by one whose peer is
//! the header's source address, so every path that reads the peer (the HTTP/1 fast path,
//! HTTP/2, Pingora's sessions, and through them [`crate::decide::client_address`], the
//! allow-lists, rate limits, `X-Forwarded-For`/`X-Real-IP` and the access log) sees the
//! client and nothing else has to know about the protocol.
//!
//! What it must never do: believe a header from a peer outside `--proxy-protocol-from`
//! (such a connection is closed), or read a byte past the header (what follows is HTTP or
//! TLS: the header is read exactly, v1 byte by byte up to its CRLF, v2 by its length
//! field; looking ahead is a peek, which Pingora's stream gives back to the next read).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::IO;
use pingora::protocols::SocketDigest;
use pingora::protocols::l4::socket::SocketAddr as PeerAddr;
use tokio::io::AsyncReadExt;

/// How long a trusted peer has to send the whole header once the connection is open
/// (load balancers send it at once; a slow sender is a slowloris, not a balancer).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection that need not start with a header (`optional`, or any peer
/// outside `--proxy-protocol-from`) may wait for its first byte: as long as an idle
/// connection waits for its first request on the fast path.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest v1 header, CRLF included (the protocol's own limit).
const V1_MAX: usize = 107;
/// Most bytes of addresses and TLVs accepted after a v2 header's 16 fixed bytes. The
/// addresses take at most 216; TLVs (AWS's endpoint id, HAProxy's TLS details) rarely
/// more than a few hundred. Longer: refused, so a peer cannot make us buffer 64 KiB.
const V2_MAX_PAYLOAD: usize = 2048;
/// v1 starts with "PROXY ", v2 with this 12-byte signature.
const V1_SIGNATURE: &[u8] = b"PROXY ";
const V2_SIGNATURE: &[u8] = ppp::v2::PROTOCOL_PREFIX;

/// `--proxy-protocol`: whether connections may or must start with a PROXY header.
// (Plain comments on the variants: doc comments would make `--help` list them on lines
// of their own, which deploy/gen-env-example would read as flags.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    // No header is read; one sent anyway is not HTTP/TLS and fails as such.
    Off,
    // A peer in `--proxy-protocol-from` may send a header or not.
    Optional,
    // A peer in `--proxy-protocol-from` must send a header; without one, the connection
    // is closed.
    Required,
}

/// Why a connection was closed before any request.
#[derive(Debug)]
pub enum Refused {
    /// A header from a peer outside `--proxy-protocol-from`.
    Untrusted,
    /// `required`, and a trusted peer sent no header.
    Missing,
    /// The header is not a valid v1/v2 header.
    Malformed(String),
    /// The header (or the first byte) did not arrive in time.
    Timeout,
    /// The connection ended or failed before the header was read.
    Io(std::io::Error),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Untrusted => {
                f.write_str("PROXY protocol header from a peer outside --proxy-protocol-from")
            }
            Self::Missing => f.write_str(
                "no PROXY protocol header from a trusted peer (--proxy-protocol=required)",
            ),
            Self::Malformed(why) => write!(f, "malformed PROXY protocol header: {why}"),
            Self::Timeout => f.write_str("PROXY protocol header not received in time"),
            Self::Io(e) => write!(f, "connection ended before the PROXY protocol header: {e}"),
        }
    }
}

impl From<std::io::Error> for Refused {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// The PROXY protocol settings of the proxy's listeners (`--proxy-protocol`,
/// `--proxy-protocol-from`).
#[derive(Clone, Debug)]
pub struct ProxyProtocol {
    pub mode: Mode,
    /// The peers (load balancers) whose header is believed.
    pub from: Arc<[ipnet::IpNet]>,
}

/// What the start of a connection holds.
enum Start {
    V1,
    V2,
    Other,
}

impl ProxyProtocol {
    fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.from.iter().any(|net| net.contains(&peer))
    }

    /// Reads the connection's PROXY header, if the mode asks for one, and makes its
    /// source address the stream's peer. `Err`: close the connection (logged here).
    pub async fn accept(&self, stream: &mut dyn IO) -> Result<(), Refused> {
        if self.mode == Mode::Off {
            return Ok(());
        }
        let peer = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).copied());
        let result = self.read(stream, peer).await;
        match &result {
            Ok(Some(client)) => set_peer(stream, *client),
            Ok(None) => {}
            Err(why) => {
                let peer = peer.map(|p| p.to_string()).unwrap_or_default();
                tracing::info!(%peer, reason = %why, "connection refused");
            }
        }
        result.map(|_| ())
    }

    /// The client the header names (`None`: keep the socket's peer).
    async fn read(
        &self,
        stream: &mut dyn IO,
        peer: Option<SocketAddr>,
    ) -> Result<Option<SocketAddr>, Refused> {
        let trusted = peer.is_some_and(|p| self.trusts(p.ip()));
        let must = trusted && self.mode == Mode::Required;
        // A connection that must start with the header gets HEADER_TIMEOUT for all of it;
        // others wait for their first byte as any idle connection does, then get
        // HEADER_TIMEOUT for a header once one has begun.
        let first_wait = if must {
            HEADER_TIMEOUT
        } else {
            FIRST_BYTE_TIMEOUT
        };
        let mut first = [0u8; 1];
        timed(first_wait, peek(stream, &mut first)).await?;
        let header = async {
            let start = match first[0] {
                b'P' => {
                    let mut sig = [0u8; V1_SIGNATURE.len()];
                    peek(stream, &mut sig).await?;
                    if sig == V1_SIGNATURE {
                        Start::V1
                    } else {
                        Start::Other
                    }
                }
                b'\r' => {
                    let mut sig = [0u8; 12];
                    peek(stream, &mut sig).await?;
                    if sig == V2_SIGNATURE {
                        Start::V2
                    } else {
                        Start::Other
                    }
                }
                _ => Start::Other,
            };
            match start {
                Start::Other if must => Err(Refused::Missing),
                Start::Other => Ok(None),
                _ if !trusted => Err(Refused::Untrusted),
                Start::V1 => read_v1(stream).await,
                Start::V2 => read_v2(stream).await,
            }
        };
        timed(HEADER_TIMEOUT, header).await
    }
}

async fn timed<T>(
    limit: Duration,
    f: impl Future<Output = Result<T, Refused>>,
) -> Result<T, Refused> {
    pingora_timeout::timeout(limit, f)
        .await
        .map_err(|_| Refused::Timeout)?
}

/// Fills `buf` from the stream without consuming it (Pingora's stream reads the bytes
/// and puts them back in front of its next read).
async fn peek(stream: &mut dyn IO, buf: &mut [u8]) -> Result<(), Refused> {
    if stream.try_peek(buf).await? {
        Ok(())
    } else {
        Err(Refused::Io(std::io::Error::other("the stream cannot peek")))
    }
}

/// A v1 header, read byte by byte up to its CRLF so that nothing after it is taken.
async fn read_v1(stream: &mut dyn IO) -> Result<Option<SocketAddr>, Refused> {
    let mut line = Vec::with_capacity(V1_MAX);
    while !line.ends_with(b"\r\n") {
        if line.len() == V1_MAX {
            return Err(Refused::Malformed(format!(
                "v1 header longer than {V1_MAX} bytes"
            )));
        }
        line.push(stream.read_u8().await?);
    }
    let header =
        ppp::v1::Header::try_from(&line[..]).map_err(|e| Refused::Malformed(format!("v1: {e}")))?;
    Ok(match header.addresses {
        ppp::v1::Addresses::Tcp4(a) => {
            Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
        }
        ppp::v1::Addresses::Tcp6(a) => {
            Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
        }
        // "UNKNOWN": the balancer's own connection (e.g. a health check); the spec says
        // to use the real connection's addresses.
        ppp::v1::Addresses::Unknown => None,
    })
}

/// A v2 header: its 16 fixed bytes, then as many as its length field says.
async fn read_v2(stream: &mut dyn IO) -> Result<Option<SocketAddr>, Refused> {
    let mut bytes = vec![0u8; 16];
    stream.read_exact(&mut bytes).await?;
    let length = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if length > V2_MAX_PAYLOAD {
        return Err(Refused::Malformed(format!(
            "v2 header announces {length} bytes of addresses and TLVs; at most {V2_MAX_PAYLOAD} are accepted"
        )));
    }
    bytes.resize(16 + length, 0);
    stream.read_exact(&mut bytes[16..]).await?;
    let header = ppp::v2::Header::try_from(&bytes[..])
        .map_err(|e| Refused::Malformed(format!("v2: {e}")))?;
    if header.command == ppp::v2::Command::Local {
        // The balancer's own connection (health checks): the peer is the client.
        return Ok(None);
    }
    Ok(match header.addresses {
        ppp::v2::Addresses::IPv4(a) => {
            Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
        }
        ppp::v2::Addresses::IPv6(a) => {
            Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
        }
        // UNSPEC or a UNIX socket: no IP to use; the spec says to keep the real
        // connection's addresses.
        ppp::v2::Addresses::Unspecified | ppp::v2::Addresses::Unix(_) => None,
    })
}

/// Replaces the stream's socket digest by one naming `client` as the peer (the local
/// address, and the descriptor used for socket options and TCP info, stay the same).
fn set_peer(stream: &mut dyn IO, client: SocketAddr) {
    let old = stream.get_socket_digest();
    // Pingora's TCP stream's unique id is its file descriptor.
    let digest = SocketDigest::from_raw_fd(stream.id());
    let _ = digest.peer_addr.set(Some(PeerAddr::Inet(SocketAddr::new(
        client.ip().to_canonical(),
        client.port(),
    ))));
    if let Some(local) = old.as_ref().and_then(|d| d.local_addr().cloned()) {
        let _ = digest.local_addr.set(Some(local));
    }
    stream.set_socket_digest(digest);
}

/// Pingora's pre-TLS callback on the HTTPS listener: the header comes before the
/// ClientHello.
pub struct PreTls(pub ProxyProtocol);

#[async_trait]
impl pingora::listeners::PreTlsProcess for PreTls {
    async fn process(
        &self,
        stream: &mut pingora::protocols::l4::stream::Stream,
    ) -> pingora::Result<()> {
        self.0.accept(stream).await.map_err(|why| {
            pingora::Error::explain(pingora::ErrorType::AcceptError, why.to_string())
        })
    }
}
