//! The addresses a child process has bound, read from `/proc`: how a test learns the
//! ports of a program that binds port 0 but does not say which port it got (Pebble,
//! pebble-challtestsrv), and proves that a program which cannot bind port 0
//! (`redis-server`, where port 0 disables TCP) owns the port it was given.
//!
//! No test ever guesses a free port: "bind port 0, close it, hand the number on" races
//! with every other test running in parallel (the port is free for anyone until the
//! child takes it). Either the kernel picks the port for the child itself and the test
//! reads it back here, or — for Redis — the test offers a [`candidate_port`] and
//! accepts it only if [`SocketsOf::tcp_listening`] shows that *this* child pid listens
//! on it; a child that lost the race exits and is started again on another candidate.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The sockets one process holds, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketsOf {
    /// TCP sockets in state LISTEN.
    pub tcp_listening: Vec<SocketAddr>,
    /// Bound UDP sockets.
    pub udp: Vec<SocketAddr>,
}

/// The listening TCP sockets and bound UDP sockets of process `pid`: its socket inodes
/// (`/proc/<pid>/fd/* -> socket:[inode]`) looked up in the kernel's socket tables
/// (`/proc/<pid>/net/{tcp,tcp6,udp,udp6}`). Empty while the process has bound nothing
/// yet; an error once it is gone.
pub fn sockets_of(pid: u32) -> std::io::Result<SocketsOf> {
    let mut inodes = HashSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        // A descriptor closed while we read is simply not there any more.
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    let mut sockets = SocketsOf::default();
    for (table, tcp) in [
        ("tcp", true),
        ("tcp6", true),
        ("udp", false),
        ("udp6", false),
    ] {
        let text = match std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) {
            Ok(text) => text,
            // No IPv6 in this kernel: no tcp6/udp6 table.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            if !inodes.contains(*inode) {
                continue;
            }
            let Some(addr) = parse_address(local) else {
                continue;
            };
            match (tcp, *state) {
                // 0A: TCP_LISTEN.
                (true, "0A") => sockets.tcp_listening.push(addr),
                (true, _) => {}
                (false, _) => sockets.udp.push(addr),
            }
        }
    }
    Ok(sockets)
}

/// Does process `pid` listen on TCP `port`?
pub fn listens_on(pid: u32, port: u16) -> bool {
    sockets_of(pid).is_ok_and(|s| s.tcp_listening.iter().any(|a| a.port() == port))
}

/// A port to offer a program that cannot bind port 0 (`redis-server`). Taken below the
/// kernel's ephemeral range (`net.ipv4.ip_local_port_range`, 32768–60999 by default),
/// so no port-0 bind and no outgoing connection of another test can hold it, and not
/// one anything on this machine listens on now. Another test may offer the same
/// number at the same moment: the caller must check with [`listens_on`] that its own
/// child got it, and try again with a new candidate if not.
pub fn candidate_port() -> u16 {
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    let busy = listening_anywhere();
    loop {
        let random = uuid::Uuid::new_v4().as_u128();
        let port = LOW + (random % u128::from(SPAN)) as u16;
        if !busy.contains(&port) {
            return port;
        }
    }
}

/// Every TCP port in state LISTEN in this network namespace.
fn listening_anywhere() -> HashSet<u16> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    (fields.get(3) == Some(&"0A"))
                        .then(|| parse_address(fields.get(1)?).map(|a| a.port()))
                        .flatten()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `0100007F:1F90` (IPv4) or 32 hex digits `:PORT` (IPv6): the kernel prints each
/// 32-bit word of the address in host byte order and the port in hex.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_le_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(&ip[i * 8..i * 8 + 8])?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_addresses_parse() {
        assert_eq!(
            parse_address("0100007F:1F90"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            parse_address("00000000000000000000000001000000:0050"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(parse_address("nonsense"), None);
    }

    #[test]
    fn a_listener_of_this_process_is_found_and_a_closed_one_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mine = sockets_of(std::process::id()).unwrap();
        assert!(
            mine.tcp_listening.contains(&listener.local_addr().unwrap()),
            "{mine:?}"
        );
        assert!(mine.udp.contains(&udp.local_addr().unwrap()), "{mine:?}");
        assert!(listens_on(std::process::id(), port));
        drop(listener);
        assert!(!listens_on(std::process::id(), port));
    }

    #[test]
    fn candidates_lie_below_the_ephemeral_range() {
        for _ in 0..100 {
            assert!((20_000..32_000).contains(&candidate_port()));
        }
    }
}
