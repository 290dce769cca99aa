//! `switchyard-bench`: the Rust half of `bench/proxy.sh`.
//!
//! - `zones`: writes N zones through the shared `Store` API in batches (one atomic batch,
//!   one version bump and one feed entry per batch).
//! - `zone`: writes one zone.
//! - `certs`: makes a CA and N wildcard certificates (ECDSA P-256) and writes them.
//! - `propagate`: writes a zone change, then polls the proxy until it answers from the
//!   new upstream; repeats and prints the latency distribution.
//! - `handshakes`: fresh TLS handshakes (no resumption, or with `--resume` TLS 1.3
//!   session resumption) for a fixed time, SNI spread over many names; prints handshakes
//!   per second.
//! - `cleanup`: deletes every key under a prefix (SCAN + UNLINK, never FLUSH).
//!
//! Results are printed as one line of `key=value` pairs starting with `RESULT`, for the
//! script to parse; progress goes to stderr.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use fred::prelude::*;
use fred::types::scan::Scanner as _;
use futures_util::StreamExt as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use switchyard_shared::Keys;
use switchyard_shared::model::{CertRecord, HostRecord};
use switchyard_shared::store::{ChangeSet, Store, connect};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::{
    ClientSessionStore, Resumption, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, HandshakeKind, NamedGroup, SignatureScheme};

#[derive(Parser)]
#[command(about = "Benchmark helpers for bench/proxy.sh")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct RedisArgs {
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Key prefix, e.g. "sybench:1234:"
    #[arg(long)]
    prefix: String,
}

#[derive(Subcommand)]
enum Command {
    /// Write COUNT zones h<i>.d<i/100>.bench.test → UPSTREAM (i from START), in batches.
    Zones {
        #[command(flatten)]
        redis: RedisArgs,
        #[arg(long, default_value_t = 0)]
        start: u64,
        #[arg(long)]
        count: u64,
        #[arg(long)]
        upstream: String,
        #[arg(long, default_value_t = 10_000)]
        batch: u64,
        /// Give zone i its own upstream, http://127.a.b.c:PORT (a.b.c = i in base 256,
        /// loopback only), PORT taken from --upstream: the memory case where nothing is
        /// shared between zones.
        #[arg(long)]
        distinct_upstreams: bool,
    },
    /// Write one zone HOST → UPSTREAM, with the route policies POLICIES (JSON) if given.
    Zone {
        #[command(flatten)]
        redis: RedisArgs,
        #[arg(long)]
        host: String,
        #[arg(long)]
        upstream: String,
        #[arg(long)]
        policies: Option<String>,
    },
    /// Make a CA and COUNT certificates for *.c<i>.bench.test (+ c<i>.bench.test) and
    /// write them; with --pem-dir, also write c0's chain and key there for nginx.
    Certs {
        #[command(flatten)]
        redis: RedisArgs,
        #[arg(long)]
        count: u64,
        #[arg(long)]
        pem_dir: Option<std::path::PathBuf>,
        #[arg(long, default_value_t = 250)]
        batch: u64,
    },
    /// Propagation latency: CHANGES times, point HOST at the other of two upstreams and
    /// poll the proxy (keep-alive) until the body names the new one.
    Propagate {
        #[command(flatten)]
        redis: RedisArgs,
        /// The proxy's plain HTTP address, e.g. 127.0.0.1:18080
        #[arg(long)]
        proxy: String,
        #[arg(long, default_value = "prop.bench.test")]
        host: String,
        /// First upstream as URL=BODY (the body it answers, trimmed)
        #[arg(long)]
        a: String,
        /// Second upstream as URL=BODY
        #[arg(long)]
        b: String,
        #[arg(long, default_value_t = 1000)]
        changes: u32,
        /// Give up on one change after this long.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        /// Pause between changes: pseudo-random in MIN..=MAX ms, so a write does not
        /// always land at the same moment after the proxy finished the previous one.
        #[arg(long, default_value_t = 0)]
        min_pause_ms: u64,
        #[arg(long, default_value_t = 10)]
        max_pause_ms: u64,
    },
    /// Fresh TLS handshakes against ADDR for a fixed time.
    Handshakes {
        /// e.g. 127.0.0.1:18443
        #[arg(long)]
        addr: String,
        /// Spread SNI over h.c<i>.bench.test for i in 0..DOMAINS (1 = always h.c0.bench.test).
        #[arg(long, default_value_t = 1)]
        domains: u64,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 2.0)]
        warmup_secs: f64,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Before measuring, check that this many names get the certificate covering them.
        #[arg(long, default_value_t = 20)]
        check_names: u64,
        /// Server processes whose CPU time (from /proc) is reported for the measured window.
        #[arg(long, value_delimiter = ',')]
        cpu_pids: Vec<u32>,
        /// After each handshake, send close_notify and read until the server closes: the
        /// session tickets a TLS 1.3 server sends after the handshake are read (and kept
        /// with --resume). Costs the client one more round trip per connection.
        #[arg(long)]
        drain: bool,
        /// Resume sessions: keep the tickets the server sends (implies --drain) and offer
        /// one on the next connection (TLS 1.3 PSK with (EC)DHE). The RESULT line counts
        /// the handshakes the server actually resumed.
        #[arg(long)]
        resume: bool,
    },
    /// Delete every key under the prefix.
    Cleanup {
        #[command(flatten)]
        redis: RedisArgs,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: the script pins this process to the load generator's core.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cli.command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Zones {
            redis,
            start,
            count,
            upstream,
            batch,
            distinct_upstreams,
        } => zones(&redis, start, count, &upstream, batch, distinct_upstreams).await,
        Command::Zone {
            redis,
            host,
            upstream,
            policies,
        } => {
            let store = store(&redis).await?;
            let mut set = ChangeSet::new();
            let record = match policies {
                None => zone_record(&host, "bench-single", &upstream)?,
                Some(policies) => {
                    let policies: serde_json::Value =
                        serde_json::from_str(&policies).context("--policies is not JSON")?;
                    let json = serde_json::json!({
                        "host": host,
                        "routes": [{"zone_id": "bench-policies", "upstreams": [{"url": upstream}],
                                    "policies": policies}],
                    });
                    HostRecord::from_json(&host, json.to_string().as_bytes())
                        .with_context(|| format!("zone record for {host}"))?
                }
            };
            set.put_zone(&record);
            let applied = store.apply(&set).await?;
            println!("RESULT version={}", applied.version);
            Ok(())
        }
        Command::Certs {
            redis,
            count,
            pem_dir,
            batch,
        } => certs(&redis, count, pem_dir.as_deref(), batch).await,
        Command::Propagate {
            redis,
            proxy,
            host,
            a,
            b,
            changes,
            timeout_ms,
            min_pause_ms,
            max_pause_ms,
        } => {
            propagate(
                &redis,
                &proxy,
                &host,
                [parse_upstream(&a)?, parse_upstream(&b)?],
                changes,
                Duration::from_millis(timeout_ms),
                (min_pause_ms, max_pause_ms.max(min_pause_ms)),
            )
            .await
        }
        Command::Handshakes {
            addr,
            domains,
            concurrency,
            warmup_secs,
            secs,
            check_names,
            cpu_pids,
            drain,
            resume,
        } => {
            handshakes(
                &addr,
                domains,
                concurrency,
                (warmup_secs, secs),
                check_names,
                &cpu_pids,
                HandshakeMode {
                    drain: drain || resume,
                    resume,
                },
            )
            .await
        }
        Command::Cleanup { redis } => cleanup(&redis).await,
    }
}

async fn store(redis: &RedisArgs) -> anyhow::Result<Store> {
    let keys = Keys::new(&redis.prefix).map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = connect(&redis.redis_url)
        .await
        .with_context(|| format!("connect to {}", redis.redis_url))?;
    Ok(Store::new(client, keys))
}

fn zone_record(host: &str, zone_id: &str, upstream: &str) -> anyhow::Result<HostRecord> {
    let json = serde_json::json!({
        "host": host,
        "routes": [{"zone_id": zone_id, "upstreams": [{"url": upstream}]}],
    });
    HostRecord::from_json(host, json.to_string().as_bytes())
        .with_context(|| format!("zone record for {host}"))
}

async fn zones(
    redis: &RedisArgs,
    start: u64,
    count: u64,
    upstream: &str,
    batch: u64,
    distinct_upstreams: bool,
) -> anyhow::Result<()> {
    let store = store(redis).await?;
    let port = upstream.rsplit(':').next().unwrap_or("80").to_owned();
    let started = Instant::now();
    let mut written = 0;
    let mut version = 0;
    while written < count {
        let end = (written + batch.max(1)).min(count);
        let mut set = ChangeSet::new();
        for i in start + written..start + end {
            let host = format!("h{i}.d{}.bench.test", i / 100);
            let own;
            let upstream = if distinct_upstreams {
                own = format!(
                    "http://127.{}.{}.{}:{port}",
                    (i >> 16) & 255,
                    (i >> 8) & 255,
                    i & 255
                );
                own.as_str()
            } else {
                upstream
            };
            set.put_zone(&zone_record(&host, &format!("bench-{i}"), upstream)?);
        }
        version = store.apply(&set).await?.version;
        written = end;
        if written % 100_000 == 0 || written == count {
            eprintln!(
                "  zones: {written}/{count} written ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "RESULT zones={count} version={version} secs={:.2}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn certs(
    redis: &RedisArgs,
    count: u64,
    pem_dir: Option<&std::path::Path>,
    batch: u64,
) -> anyhow::Result<()> {
    let store = store(redis).await?;
    let started = Instant::now();
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Switchyard bench CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let now = OffsetDateTime::now_utc();
    let (not_before, not_after) = (
        now - time::Duration::days(1),
        now + time::Duration::days(90),
    );

    let mut set = ChangeSet::new();
    let mut version = 0;
    for i in 0..count {
        let name = format!("*.c{i}.bench.test");
        let apex = format!("c{i}.bench.test");
        let mut params = CertificateParams::new(vec![name.clone(), apex.clone()])?;
        params.distinguished_name.push(DnType::CommonName, &name);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = not_before;
        params.not_after = not_after;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        let chain_pem = format!("{}{}", cert.pem(), ca_cert.pem());
        let key_pem = key.serialize_pem();
        if i == 0
            && let Some(dir) = pem_dir
        {
            std::fs::create_dir_all(dir)?;
            std::fs::write(dir.join("static-chain.pem"), &chain_pem)?;
            std::fs::write(dir.join("static-key.pem"), &key_pem)?;
        }
        let json = serde_json::json!({
            "name": name,
            "names": [name, apex],
            "chain_pem": chain_pem,
            "key_pem": key_pem,
            "not_before": not_before.format(&time::format_description::well_known::Rfc3339)?,
            "not_after": not_after.format(&time::format_description::well_known::Rfc3339)?,
        });
        let record = CertRecord::from_json(&name, json.to_string().as_bytes())
            .with_context(|| format!("certificate record {name}"))?;
        set.put_cert(&record);
        if set.len() as u64 >= batch.max(1) || i + 1 == count {
            version = store.apply(&set).await?.version;
            set = ChangeSet::new();
        }
    }
    println!(
        "RESULT certs={count} version={version} secs={:.2}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn parse_upstream(text: &str) -> anyhow::Result<(String, String)> {
    let (url, body) = text
        .split_once('=')
        .with_context(|| format!("\"{text}\": write URL=BODY"))?;
    Ok((url.to_owned(), body.trim().to_owned()))
}

/// Milliseconds at the given percentile (nearest rank) of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

async fn propagate(
    redis: &RedisArgs,
    proxy: &str,
    host: &str,
    upstreams: [(String, String); 2],
    changes: u32,
    timeout: Duration,
    (min_pause_ms, max_pause_ms): (u64, u64),
) -> anyhow::Result<()> {
    let store = store(redis).await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("http://{proxy}/");
    let answers = |want: &str| {
        let client = client.clone();
        let url = url.clone();
        let host = host.to_owned();
        let want = want.to_owned();
        async move {
            match client.get(&url).header("host", &host).send().await {
                Ok(resp) if resp.status().is_success() => {
                    Ok(resp.text().await.map(|b| b.trim() == want).unwrap_or(false))
                }
                Ok(_) => Ok(false),
                Err(e) if e.is_connect() => Err(e),
                Err(_) => Ok(false),
            }
        }
    };

    // Start from a known state: the zone on upstream 0, served.
    let write = |i: usize| {
        let mut set = ChangeSet::new();
        let record = zone_record(host, "bench-prop", &upstreams[i].0);
        record.map(|r| {
            set.put_zone(&r);
            set
        })
    };
    store.apply(&write(0)?).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !answers(&upstreams[0].1).await? {
        if Instant::now() > deadline {
            bail!(
                "the proxy at {proxy} never answered for {host} from {}",
                upstreams[0].0
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut samples = Vec::with_capacity(changes as usize);
    let mut write_times = Vec::with_capacity(changes as usize);
    let mut polls: u64 = 0;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    for n in 0..changes {
        let target = (n as usize + 1) % 2;
        let set = write(target)?;
        let started = Instant::now();
        store.apply(&set).await?;
        write_times.push(started.elapsed());
        loop {
            polls += 1;
            if answers(&upstreams[target].1).await? {
                break;
            }
            if started.elapsed() > timeout {
                bail!(
                    "change {n}: the proxy did not route {host} to {} within {timeout:?}",
                    upstreams[target].0
                );
            }
        }
        samples.push(started.elapsed());
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if max_pause_ms > 0 {
            let spread = (max_pause_ms - min_pause_ms) * 1000 + 1;
            let pause = min_pause_ms * 1000 + rng % spread;
            tokio::time::sleep(Duration::from_micros(pause)).await;
        }
    }
    samples.sort_unstable();
    write_times.sort_unstable();
    let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len() as f64;
    println!(
        "RESULT changes={changes} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} max_ms={:.3} mean_ms={:.3} write_p50_ms={:.3} write_p99_ms={:.3} polls_per_change={:.1}",
        percentile(&samples, 50.0),
        percentile(&samples, 90.0),
        percentile(&samples, 99.0),
        percentile(&samples, 100.0),
        mean * 1000.0,
        percentile(&write_times, 50.0),
        percentile(&write_times, 99.0),
        polls as f64 / f64::from(changes.max(1)),
    );
    Ok(())
}

/// Accepts any certificate without checking it: the client must stay cheap so the
/// server is what is measured. `check_names` looks at the names separately.
#[derive(Debug)]
struct AcceptAnything(Vec<SignatureScheme>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}

/// Session store for `--resume`: like rustls's `ClientSessionMemoryCache`, but keeping
/// up to 1,024 TLS 1.3 tickets per server name instead of 8, so that 32 connections in
/// flight to one name do not run out of tickets (each takes one; the server sends new
/// ones after each handshake).
#[derive(Debug, Default)]
struct TicketStore {
    kx: std::sync::Mutex<std::collections::HashMap<ServerName<'static>, NamedGroup>>,
    tls12:
        std::sync::Mutex<std::collections::HashMap<ServerName<'static>, Tls12ClientSessionValue>>,
    tls13: std::sync::Mutex<
        std::collections::HashMap<
            ServerName<'static>,
            std::collections::VecDeque<Tls13ClientSessionValue>,
        >,
    >,
}

const TICKETS_PER_NAME: usize = 1024;

impl ClientSessionStore for TicketStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.kx
            .lock()
            .expect("never poisoned")
            .insert(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.kx
            .lock()
            .expect("never poisoned")
            .get(server_name)
            .copied()
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.tls12
            .lock()
            .expect("never poisoned")
            .insert(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.tls12
            .lock()
            .expect("never poisoned")
            .get(server_name)
            .cloned()
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.tls12
            .lock()
            .expect("never poisoned")
            .remove(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        let mut map = self.tls13.lock().expect("never poisoned");
        let tickets = map.entry(server_name).or_default();
        if tickets.len() >= TICKETS_PER_NAME {
            tickets.pop_front();
        }
        tickets.push_back(value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.tls13
            .lock()
            .expect("never poisoned")
            .get_mut(server_name)
            .and_then(std::collections::VecDeque::pop_back)
    }
}

fn sni(i: u64, domains: u64) -> String {
    format!("h.c{}.bench.test", i % domains.max(1))
}

#[derive(Clone, Copy)]
struct HandshakeMode {
    /// Read until the server closes after close_notify (receives session tickets).
    drain: bool,
    /// Keep tickets and offer them (the connector's resumption setting).
    resume: bool,
}

/// One connection: the handshake, then close. Returns the leaf certificate and whether
/// the server resumed a session.
async fn handshake(
    connector: &TlsConnector,
    addr: &str,
    name: &str,
    drain: bool,
) -> anyhow::Result<(Vec<u8>, bool)> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let server_name = ServerName::try_from(name.to_owned())?;
    let mut tls = connector.connect(server_name, tcp).await?;
    let conn = tls.get_ref().1;
    let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .unwrap_or_default();
    // close_notify and FIN, as a well-behaved client would.
    let _ = tls.shutdown().await;
    if drain {
        // The tickets arrive after the handshake; whatever ends the read (the server's
        // close_notify, a FIN without it, a reset) is fine.
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), tls.read_to_end(&mut sink)).await;
    }
    Ok((leaf, resumed))
}

/// User + system CPU seconds consumed so far by these processes (Linux, USER_HZ = 100).
fn cpu_secs(pids: &[u32]) -> anyhow::Result<f64> {
    let mut ticks: u64 = 0;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("read /proc/{pid}/stat"))?;
        // Fields after the ")" that ends the command name; utime and stime are 14 and 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        for i in [11, 12] {
            ticks += fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .with_context(|| format!("/proc/{pid}/stat has no field {}", i + 3))?;
        }
    }
    Ok(ticks as f64 / 100.0)
}

async fn handshakes(
    addr: &str,
    domains: u64,
    concurrency: usize,
    (warmup_secs, secs): (f64, f64),
    check_names: u64,
    cpu_pids: &[u32],
    mode: HandshakeMode,
) -> anyhow::Result<()> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything(schemes)))
        .with_no_client_auth();
    config.resumption = if mode.resume {
        Resumption::store(Arc::new(TicketStore::default()))
    } else {
        Resumption::disabled()
    };
    let connector = TlsConnector::from(Arc::new(config));

    // The right certificate for each checked name: its wildcard appears in the leaf.
    for i in 0..check_names.min(domains.max(1)) {
        let name = sni(i, domains);
        let (leaf, _) = handshake(&connector, addr, &name, mode.drain)
            .await
            .with_context(|| format!("handshake with SNI {name}"))?;
        let want = format!("*.c{i}.bench.test");
        if !leaf.windows(want.len()).any(|w| w == want.as_bytes()) {
            bail!("SNI {name}: the server presented a certificate that does not name {want}");
        }
    }

    let ok = Arc::new(AtomicU64::new(0));
    let resumed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (ok, resumed, errors, stop, next, first_error) = (
            ok.clone(),
            resumed.clone(),
            errors.clone(),
            stop.clone(),
            next.clone(),
            first_error.clone(),
        );
        let connector = connector.clone();
        let addr = addr.to_owned();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let name = sni(next.fetch_add(1, Ordering::Relaxed), domains);
                match handshake(&connector, &addr, &name, mode.drain).await {
                    Ok((_, was_resumed)) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        if was_resumed {
                            resumed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error
                            .lock()
                            .expect("never poisoned")
                            .get_or_insert_with(|| format!("{e:#}"));
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(warmup_secs)).await;
    let (ok0, res0, err0, t0, cpu0) = (
        ok.load(Ordering::Relaxed),
        resumed.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        Instant::now(),
        cpu_secs(cpu_pids)?,
    );
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let (ok1, res1, err1, elapsed, cpu1) = (
        ok.load(Ordering::Relaxed),
        resumed.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        t0.elapsed(),
        cpu_secs(cpu_pids)?,
    );
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let done = ok1 - ok0;
    let failed = err1 - err0;
    let rate = done as f64 / elapsed.as_secs_f64();
    if let Some(e) = first_error.lock().expect("never poisoned").as_ref() {
        eprintln!("  first handshake error: {e}");
    }
    let server_cpu = cpu1 - cpu0;
    println!(
        "RESULT handshakes={done} resumed={} errors={failed} secs={:.2} per_sec={rate:.0} server_cpu_pct={:.0} server_cpu_us_per_hs={:.0}",
        res1 - res0,
        elapsed.as_secs_f64(),
        100.0 * server_cpu / elapsed.as_secs_f64(),
        1e6 * server_cpu / done.max(1) as f64,
    );
    if done == 0 || failed * 100 > done {
        bail!("too many failed handshakes: {failed} failed, {done} succeeded");
    }
    Ok(())
}

async fn cleanup(redis: &RedisArgs) -> anyhow::Result<()> {
    let keys = Keys::new(&redis.prefix).map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = connect(&redis.redis_url).await?;
    let mut deleted: u64 = 0;
    let pattern = keys.all_keys_pattern();
    let mut pages = std::pin::pin!(client.scan(pattern, Some(1000), None));
    while let Some(page) = pages.next().await {
        let mut page = page?;
        if let Some(found) = page.take_results()
            && !found.is_empty()
        {
            let n: u64 = client.unlink(found).await?;
            deleted += n;
        }
        page.next();
    }
    println!("RESULT deleted={deleted}");
    Ok(())
}
