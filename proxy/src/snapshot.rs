//! The immutable routing snapshot every request runs against, and how it changes.
//!
//! Everything is parsed, validated and indexed when a snapshot is built — host patterns
//! into the matcher, routes sorted by path prefix, upstream endpoints shared through the
//! [`Registry`], certificates parsed into OpenSSL objects — so a request does one lookup.
//!
//! [`SnapshotWriter`] swaps a new snapshot in atomically (`arc-swap`). It keeps a spare
//! copy so an incremental change costs a small edit of the spare instead of a copy of the
//! whole table: apply to the spare, swap, then bring the previous snapshot up to date
//! once the last request that loaded it has let go, and keep it as the next spare.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use pingora::tls::pkey::{PKey, Private};
use pingora::tls::x509::X509;
use serde::{Deserialize, Serialize};
use switchyard_shared::certs::CertIndex;
use switchyard_shared::model::{CertRecord, ChallengeRecord, HostRecord, Route};
use switchyard_shared::route_match::Precedence;
use switchyard_shared::{FORMAT_VERSION, HostMatcher, HostPattern, RequestTarget};
use time::OffsetDateTime;

use crate::decide::HeaderLookup;
use crate::policy::{Cohort, RoutePolicy};
use crate::route_match::Conditions;
use crate::upstreams::{Balancer, Registry};

/// One route of a host, ready to serve. `route.upstreams` is empty: the upstreams are
/// the balancer's ([`RouteEntry::route_record`] gives the route as stored).
#[derive(Debug)]
pub struct RouteEntry {
    pub host: HostPattern,
    pub route: Route,
    pub balancer: Balancer,
    /// `route.policies` compiled; `None` (most routes) costs nothing per request.
    pub policy: Option<Box<RoutePolicy>>,
    /// `route.matching` compiled; `None` (most routes) costs nothing per request.
    pub conditions: Option<Box<Conditions>>,
}

impl RouteEntry {
    /// The upstreams a request of `cohort` goes to: its split group's own, else the
    /// route's. Retries choose from the same balancer, so they stay in the group.
    pub fn balancer_for(&self, cohort: Option<Cohort>) -> &Balancer {
        cohort
            .and_then(|c| self.policy.as_ref()?.split()?.balancer(c.group))
            .unwrap_or(&self.balancer)
    }

    /// The name of `cohort`'s split group ("" without one), for the access log.
    pub fn group_name(&self, cohort: Option<Cohort>) -> &str {
        match (cohort, self.policy.as_ref().and_then(|p| p.split())) {
            (Some(c), Some(split)) => split.name(c.group),
            _ => "",
        }
    }

    /// The route as stored in Redis, upstreams included.
    pub fn route_record(&self) -> Route {
        let mut route = self.route.clone();
        route.upstreams = self.balancer.specs();
        route
    }
}

/// Everything routed for one hostname pattern. The record is not kept beside the
/// routes (at a million zones a second copy costs hundreds of MB); [`HostEntry::record`]
/// rebuilds it when the snapshot is saved.
#[derive(Debug)]
pub struct HostEntry {
    pub host: HostPattern,
    /// Greatest precedence first (`switchyard_shared::route_match::Precedence`: exact
    /// paths, then the longest path prefix, then the most specific conditions).
    pub routes: Vec<Arc<RouteEntry>>,
}

impl HostEntry {
    pub fn build(record: HostRecord, registry: &Registry) -> Arc<Self> {
        let HostRecord {
            host,
            routes: records,
        } = record;
        // Sized exactly, and not collected from `records`: an in-place collect would keep
        // the records' buffer, which serde grew to room for four routes (~600 B a zone).
        // Likewise serde leaves room for four upstreams. At a million zones the slack is
        // most of the proxy's memory.
        let mut routes: Vec<Arc<RouteEntry>> = Vec::with_capacity(records.len());
        for mut route in records {
            // The upstreams live once, in the balancer (shared endpoints and weights);
            // `RouteEntry::route_record` puts them back when the record is needed.
            let specs = std::mem::take(&mut route.upstreams);
            route.allow.shrink_to_fit();
            routes.push(Arc::new(RouteEntry {
                host: host.clone(),
                balancer: registry
                    .balancer_checked(
                        &specs,
                        route
                            .policies
                            .as_deref()
                            .and_then(|p| p.health_check.as_ref()),
                    )
                    .with_breakers(
                        route
                            .policies
                            .as_deref()
                            .and_then(|p| p.circuit_breaker.as_ref()),
                        || format!("{host}{}", route.path_prefix.as_str()),
                    ),
                policy: route.policies.as_deref().map(|p| {
                    let label = format!("{host}{}", route.path_prefix.as_str());
                    Box::new(RoutePolicy::compile(p, registry, &label, &route.zone_id))
                }),
                conditions: route
                    .matching
                    .as_deref()
                    .map(|m| Box::new(Conditions::compile(m))),
                route,
            }));
        }
        if routes.len() > 1 {
            fn rank(r: &RouteEntry) -> Precedence<'_> {
                Precedence::of(&r.route.path_prefix, r.route.matching.as_deref())
            }
            routes.sort_by(|a, b| rank(b).cmp(&rank(a)));
        }
        Arc::new(Self { host, routes })
    }

    /// The record as stored in Redis.
    pub fn record(&self) -> HostRecord {
        HostRecord {
            host: self.host.clone(),
            routes: self.routes.iter().map(|r| r.route_record()).collect(),
        }
    }

    /// The route of greatest precedence that serves the request: its path prefix covers
    /// the (normalised) target and its conditions, if any, hold.
    pub fn route_for(
        &self,
        method: &[u8],
        target: &RequestTarget,
        headers: &dyn HeaderLookup,
    ) -> Option<&Arc<RouteEntry>> {
        self.routes.iter().find(|r| {
            r.route.path_prefix.matches(target)
                && r.conditions
                    .as_ref()
                    .is_none_or(|c| c.admit(method, target, headers))
        })
    }
}

/// A certificate parsed once, ready for the TLS handshake.
pub struct CertEntry {
    pub record: CertRecord,
    pub leaf: X509,
    pub chain: Vec<X509>,
    pub key: PKey<Private>,
}

impl std::fmt::Debug for CertEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertEntry")
            .field("name", &self.record.name)
            .field("not_after", &self.record.not_after)
            .finish_non_exhaustive()
    }
}

impl CertEntry {
    /// Parses the PEM chain and key, checking that the key belongs to the leaf.
    pub fn parse(record: CertRecord) -> Result<Arc<Self>, String> {
        let name = record.name.to_string();
        let mut certs = X509::stack_from_pem(record.chain_pem.as_bytes())
            .map_err(|e| format!("certificate \"{name}\": chain is not valid PEM: {e}"))?;
        if certs.is_empty() {
            return Err(format!(
                "certificate \"{name}\": chain holds no certificate"
            ));
        }
        let key = PKey::private_key_from_pem(record.key_pem.as_bytes())
            .map_err(|_| format!("certificate \"{name}\": private key is not valid PEM"))?;
        let leaf = certs.remove(0);
        let matches = leaf
            .public_key()
            .map(|public| public.public_eq(&key))
            .unwrap_or(false);
        if !matches {
            return Err(format!(
                "certificate \"{name}\": private key does not belong to the leaf certificate"
            ));
        }
        Ok(Arc::new(Self {
            record,
            leaf,
            chain: certs,
            key,
        }))
    }
}

/// A set of changes to apply at once, already parsed; `None` deletes.
#[derive(Default, Clone)]
pub struct Update {
    pub version: u64,
    pub feed_id: String,
    pub zones: Vec<(String, Option<Arc<HostEntry>>)>,
    pub certs: Vec<(String, Option<Arc<CertEntry>>)>,
    /// HTTP-01 challenge answers by name (`<host>/<token>`).
    pub challenges: Vec<(String, Option<Arc<ChallengeRecord>>)>,
}

/// The routing state at one version.
#[derive(Clone)]
pub struct Snapshot {
    pub version: u64,
    /// The change feed entry this snapshot includes; following resumes after it.
    pub feed_id: String,
    pub applied_at: OffsetDateTime,
    hosts: HostMatcher<Arc<HostEntry>>,
    /// Certificates by their member name in Redis (`*.example.com`,
    /// `uploaded:*.example.com`: [`CertRecord::member`]).
    certs: HashMap<String, Arc<CertEntry>>,
    /// Certificates by every name they cover, the preferred one per name: the choice
    /// the panel's "which certificate" answer makes too (`switchyard_shared::certs`).
    cert_names: CertIndex<Arc<CertEntry>>,
    /// HTTP-01 challenge answers the cert worker published, by `<host>/<token>`. Few
    /// (one per order in flight) and short-lived; never saved to the snapshot file.
    challenges: HashMap<String, Arc<ChallengeRecord>>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self::empty()
    }
}

impl Snapshot {
    pub fn empty() -> Self {
        Self {
            version: 0,
            feed_id: String::new(),
            applied_at: OffsetDateTime::now_utc(),
            hosts: HostMatcher::new(),
            certs: HashMap::new(),
            cert_names: CertIndex::new(),
            challenges: HashMap::new(),
        }
    }

    /// Builds a snapshot from whole lists of parsed records.
    pub fn build(
        version: u64,
        feed_id: String,
        hosts: Vec<Arc<HostEntry>>,
        certs: Vec<Arc<CertEntry>>,
    ) -> Self {
        let mut matcher = HostMatcher::with_capacity(hosts.len());
        for entry in hosts {
            matcher.insert(&entry.host.clone(), entry);
        }
        let mut snapshot = Self {
            version,
            feed_id,
            applied_at: OffsetDateTime::now_utc(),
            hosts: matcher,
            certs: certs.into_iter().map(|c| (c.record.member(), c)).collect(),
            cert_names: CertIndex::new(),
            challenges: HashMap::new(),
        };
        snapshot.index_certs();
        snapshot
    }

    /// Replaces the HTTP-01 challenge answers (a full reload read them all).
    pub fn set_challenges(&mut self, records: Vec<ChallengeRecord>) {
        self.challenges = records
            .into_iter()
            .map(|r| (r.name(), Arc::new(r)))
            .collect();
    }

    /// The key authorization that answers `/.well-known/acme-challenge/<token>` for a
    /// normalised `host` at `now`: only the challenge of that very host and token, and
    /// only until it expires (an expiry sends no change notification).
    pub fn challenge_answer(&self, host: &str, token: &str, now: OffsetDateTime) -> Option<&str> {
        if self.challenges.is_empty() {
            return None;
        }
        self.challenges
            .get(&ChallengeRecord::name_of(host, token))
            .filter(|c| c.expires_at > now)
            .map(|c| c.key_authorization.as_str())
    }

    pub fn challenge_count(&self) -> usize {
        self.challenges.len()
    }

    /// The entry of the most specific pattern matching a normalised host.
    pub fn lookup(&self, host: &str) -> Option<&Arc<HostEntry>> {
        self.hosts.lookup(host)
    }

    /// The certificate for a (normalised) TLS server name, by the one rule of
    /// `switchyard_shared::certs`: an exact name before the wildcard of its parent
    /// (`a.example.com` → `*.example.com`); for the same name uploaded before issued,
    /// then the one expiring last.
    pub fn cert_for(&self, server_name: &str) -> Option<&Arc<CertEntry>> {
        self.cert_names.for_name(server_name).map(|c| c.value)
    }

    pub fn zone_count(&self) -> usize {
        self.hosts.len()
    }

    pub fn cert_count(&self) -> usize {
        self.certs.len()
    }

    pub fn hosts(&self) -> impl Iterator<Item = &Arc<HostEntry>> {
        self.hosts.values()
    }

    pub fn certs(&self) -> impl Iterator<Item = &Arc<CertEntry>> {
        self.certs.values()
    }

    /// Applies an update in place.
    pub fn apply(&mut self, update: &Update) {
        for (name, entry) in &update.zones {
            let Ok(pattern) = HostPattern::parse(name) else {
                continue;
            };
            match entry {
                Some(entry) => {
                    self.hosts.insert(&pattern, entry.clone());
                }
                None => {
                    self.hosts.remove(&pattern);
                }
            }
        }
        if !update.certs.is_empty() {
            for (name, entry) in &update.certs {
                match entry {
                    Some(entry) => self.certs.insert(name.clone(), entry.clone()),
                    None => self.certs.remove(name),
                };
            }
            self.index_certs();
        }
        for (name, entry) in &update.challenges {
            match entry {
                Some(entry) => self.challenges.insert(name.clone(), entry.clone()),
                None => self.challenges.remove(name),
            };
        }
        self.version = update.version;
        self.feed_id = update.feed_id.clone();
        self.applied_at = OffsetDateTime::now_utc();
    }

    /// Rebuilds the by-name index; where two certificates cover a name,
    /// `switchyard_shared::certs` decides which one stays.
    fn index_certs(&mut self) {
        let mut index = CertIndex::new();
        for cert in self.certs.values() {
            index.insert(
                cert.record.names.iter().map(|n| n.as_str()),
                &cert.record.candidate(),
                cert.clone(),
            );
        }
        self.cert_names = index;
    }

    /// What a save writes, detached from the snapshot: the entries are shared, not
    /// copied, so taking it costs one pointer per zone and the snapshot itself is let
    /// go at once (a held snapshot could not be reclaimed as the writer's spare).
    pub fn contents(&self) -> SnapshotContents {
        SnapshotContents {
            version: self.version,
            feed_id: self.feed_id.clone(),
            hosts: self.hosts.values().cloned().collect(),
            certs: self.certs.values().cloned().collect(),
        }
    }

    /// Saves the snapshot to `path`; see [`SnapshotContents::save`].
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        self.contents().save(path)
    }

    /// Loads a snapshot saved by [`Snapshot::save`]. Invalid lines are skipped and
    /// returned as problems; a file of another format is refused whole.
    pub fn load(path: &Path, registry: &Registry) -> Result<(Snapshot, Vec<String>), String> {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot open snapshot file {}: {e}", path.display()))?;
        let mut lines = std::io::BufReader::new(file).lines();
        let header = lines
            .next()
            .ok_or_else(|| format!("snapshot file {} is empty", path.display()))?
            .map_err(|e| format!("cannot read snapshot file {}: {e}", path.display()))?;
        let (version, feed_id) = match serde_json::from_str::<FileLine>(&header) {
            Ok(FileLine::Header {
                format,
                version,
                feed_id,
            }) if (1..=FORMAT_VERSION).contains(&format) => (version, feed_id),
            Ok(FileLine::Header { format, .. }) => {
                return Err(format!(
                    "snapshot file {} has data format {format}; this build reads formats 1–{FORMAT_VERSION}",
                    path.display()
                ));
            }
            _ => {
                return Err(format!(
                    "snapshot file {} has no header line",
                    path.display()
                ));
            }
        };
        let (mut hosts, mut certs, mut problems) = (Vec::new(), Vec::new(), Vec::new());
        for (i, line) in lines.enumerate() {
            let line = line.map_err(|e| format!("cannot read snapshot file: {e}"))?;
            match serde_json::from_str::<FileLine>(&line) {
                Ok(FileLine::Zone(record)) => hosts.push(HostEntry::build(record, registry)),
                Ok(FileLine::Cert(record)) => match CertEntry::parse(record) {
                    Ok(c) => certs.push(c),
                    Err(e) => problems.push(e),
                },
                Ok(FileLine::Header { .. }) => {
                    problems.push(format!("line {}: second header", i + 2))
                }
                Err(e) => problems.push(format!("line {}: {e}", i + 2)),
            }
        }
        Ok((Snapshot::build(version, feed_id, hosts, certs), problems))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum FileLine {
    Header {
        format: u32,
        version: u64,
        feed_id: String,
    },
    Zone(HostRecord),
    Cert(CertRecord),
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum FileLineRef<'a> {
    Header {
        format: u32,
        version: u64,
        feed_id: &'a str,
    },
    Zone(&'a HostRecord),
    Cert(&'a CertRecord),
}

/// A snapshot's records as of one version, to be written to the snapshot file.
pub struct SnapshotContents {
    pub version: u64,
    pub feed_id: String,
    pub hosts: Vec<Arc<HostEntry>>,
    pub certs: Vec<Arc<CertEntry>>,
}

impl SnapshotContents {
    /// Saves the snapshot to `path` atomically (temporary file, fsync, rename), readable
    /// by the owner only because it holds private keys.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let result = (|| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options.open(&tmp)?;
            let mut out = std::io::BufWriter::new(file);
            let header = FileLineRef::Header {
                format: FORMAT_VERSION,
                version: self.version,
                feed_id: &self.feed_id,
            };
            serde_json::to_writer(&mut out, &header)?;
            out.write_all(b"\n")?;
            for host in &self.hosts {
                serde_json::to_writer(&mut out, &FileLineRef::Zone(&host.record()))?;
                out.write_all(b"\n")?;
            }
            for cert in &self.certs {
                serde_json::to_writer(&mut out, &FileLineRef::Cert(&cert.record))?;
                out.write_all(b"\n")?;
            }
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// Publishes snapshots to the requests (see the module docs).
pub struct SnapshotWriter {
    live: Arc<ArcSwap<Snapshot>>,
    /// A private copy equal to the live snapshot, when one could be kept.
    spare: Option<Snapshot>,
}

/// How long to wait for requests to let go of a replaced snapshot before giving up on
/// keeping it as the spare (then the next update copies the live snapshot instead).
const RECLAIM_WAIT: Duration = Duration::from_millis(50);

impl SnapshotWriter {
    pub fn new(live: Arc<ArcSwap<Snapshot>>) -> Self {
        Self { live, spare: None }
    }

    pub fn live(&self) -> &Arc<ArcSwap<Snapshot>> {
        &self.live
    }

    /// Replaces everything.
    pub async fn replace(&mut self, snapshot: Snapshot) {
        self.live.store(Arc::new(snapshot));
        self.spare = None;
    }

    /// Applies an update: edit the spare (or a copy of the live snapshot), swap it in,
    /// then reclaim the previous snapshot as the next spare.
    pub async fn apply(&mut self, update: &Update) {
        let mut next = match self.spare.take() {
            Some(spare) => spare,
            None => (**self.live.load()).clone(),
        };
        next.apply(update);
        let mut previous = self.live.swap(Arc::new(next));
        let deadline = tokio::time::Instant::now() + RECLAIM_WAIT;
        loop {
            match Arc::try_unwrap(previous) {
                Ok(mut snapshot) => {
                    snapshot.apply(update);
                    self.spare = Some(snapshot);
                    return;
                }
                Err(still_shared) if tokio::time::Instant::now() < deadline => {
                    previous = still_shared;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstreams::HealthConfig;

    /// Memory at a million zones depends on entries holding no slack: a record parsed by
    /// serde has room for four routes and four upstreams, which must not be kept.
    #[test]
    fn host_entries_keep_no_spare_capacity() {
        let record: HostRecord = serde_json::from_str(
            r#"{"host":"app.example.com","routes":[{"zone_id":"z1",
                "upstreams":[{"url":"http://127.0.0.1:8080","weight":1}],
                "allow":["10.0.0.0/8"]}]}"#,
        )
        .expect("a valid record");
        let registry = Registry::new(HealthConfig::default());
        let entry = HostEntry::build(record, &registry);
        assert_eq!((entry.routes.len(), entry.routes.capacity()), (1, 1));
        let route = &entry.routes[0].route;
        assert_eq!(
            route.upstreams.capacity(),
            0,
            "upstreams live in the balancer"
        );
        assert_eq!((route.allow.len(), route.allow.capacity()), (1, 1));
        let again = entry.record();
        assert_eq!(again.routes[0].upstreams.len(), 1);
        assert_eq!(
            again.routes[0].upstreams[0].url.as_str(),
            "http://127.0.0.1:8080"
        );
    }

    /// The SNI choice follows `switchyard_shared::certs`: exact before wildcard,
    /// uploaded before issued for the same name, whatever the insertion order; and a
    /// deleted uploaded certificate hands the name back to the issued one.
    #[test]
    fn sni_choice_prefers_exact_then_uploaded() {
        use switchyard_shared::certs::CertSource;
        fn entry(name: &str, names: &[&str], source: CertSource) -> Arc<CertEntry> {
            let key = rcgen::KeyPair::generate().unwrap();
            let params = rcgen::CertificateParams::new(
                names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            )
            .unwrap();
            let cert = params.self_signed(&key).unwrap();
            let now = OffsetDateTime::now_utc();
            CertEntry::parse(CertRecord {
                name: HostPattern::parse(name).unwrap(),
                names: names
                    .iter()
                    .map(|n| HostPattern::parse(n).unwrap())
                    .collect(),
                chain_pem: cert.pem(),
                key_pem: key.serialize_pem(),
                not_before: now,
                not_after: now + time::Duration::days(90),
                source,
            })
            .unwrap()
        }
        let wild = ["*.example.com", "example.com"];
        let issued = entry("*.example.com", &wild, CertSource::Issued);
        let uploaded = entry("*.example.com", &wild, CertSource::Uploaded);
        let exact = entry("app.example.com", &["app.example.com"], CertSource::Issued);
        for certs in [
            vec![issued.clone(), uploaded.clone(), exact.clone()],
            vec![exact.clone(), uploaded.clone(), issued.clone()],
        ] {
            let mut snapshot = Snapshot::build(1, String::new(), Vec::new(), certs);
            assert_eq!(snapshot.cert_count(), 3, "both *.example.com are kept");
            let source = |s: &Snapshot, n: &str| s.cert_for(n).map(|c| c.record.member());
            assert_eq!(
                source(&snapshot, "app.example.com").as_deref(),
                Some("app.example.com")
            );
            assert_eq!(
                source(&snapshot, "web.example.com").as_deref(),
                Some("uploaded:*.example.com")
            );
            assert_eq!(
                source(&snapshot, "example.com").as_deref(),
                Some("uploaded:*.example.com")
            );
            assert_eq!(source(&snapshot, "a.b.example.com"), None);
            snapshot.apply(&Update {
                version: 2,
                certs: vec![("uploaded:*.example.com".into(), None)],
                ..Update::default()
            });
            assert_eq!(
                source(&snapshot, "web.example.com").as_deref(),
                Some("*.example.com")
            );
        }
    }

    /// The route choice against a plain reference: every route whose prefix and
    /// conditions hold is collected, and the documented precedence is applied by hand.
    mod precedence {
        use proptest::prelude::*;
        use switchyard_shared::model::PathPrefix;
        use switchyard_shared::route_match::{HeaderCondition, QueryCondition, RouteMatch};

        use super::*;

        const PREFIXES: [&str; 4] = ["", "/api", "/api/v1", "/static"];
        const PATHS: [&str; 9] = [
            "/",
            "/api",
            "/api/v1",
            "/api/v1/users",
            "/api/v2",
            "/static/a.css",
            "/%61pi/./v1",
            "/api//v1/users/",
            "/other",
        ];
        const METHODS: [&str; 3] = ["GET", "POST", "DELETE"];

        fn conditions() -> impl Strategy<Value = Option<RouteMatch>> {
            let exact = prop::option::of(prop::sample::select(vec![
                "/api/v1",
                "/api/v1/users",
                "/static/a.css",
                "/",
            ]));
            let regex = prop::option::of(prop::sample::select(vec![
                "^/api/v[0-9]+",
                "users$",
                "\\.css$",
            ]));
            let methods = prop::collection::vec(prop::sample::select(METHODS.to_vec()), 0..3);
            let header = (
                prop::sample::select(vec!["x-env", "x-beta"]),
                prop::option::of(prop::sample::select(vec!["1", "canary"])),
                any::<bool>(),
            )
                .prop_map(|(name, value, pattern)| HeaderCondition {
                    name: name.to_owned(),
                    equals: value.filter(|_| !pattern).map(str::to_owned),
                    regex: value.filter(|_| pattern).map(|v| format!("^{v}")),
                });
            let query = (
                prop::sample::select(vec!["v", "debug"]),
                prop::option::of(prop::sample::select(vec!["1", "a b"])),
            )
                .prop_map(|(name, equals)| QueryCondition {
                    name: name.to_owned(),
                    equals: equals.map(str::to_owned),
                });
            prop::option::of(
                (
                    exact,
                    regex,
                    methods,
                    prop::collection::vec(header, 0..3),
                    prop::collection::vec(query, 0..2),
                )
                    .prop_map(
                        |(path_exact, path_regex, methods, headers, query)| {
                            RouteMatch {
                                // One path condition at most, as validation demands.
                                path_regex: path_regex
                                    .filter(|_| path_exact.is_none())
                                    .map(str::to_owned),
                                path_exact: path_exact.map(str::to_owned),
                                methods: methods.into_iter().map(str::to_owned).collect(),
                                headers,
                                query,
                            }
                        },
                    ),
            )
        }

        /// A route as the reference sees it, if validation accepts it.
        fn route(i: usize, prefix: &str, m: Option<RouteMatch>) -> Option<Route> {
            let prefix = PathPrefix::parse(prefix).unwrap();
            let matching = match m {
                Some(mut m) => {
                    let mut out = Vec::new();
                    m.check("match", &prefix, &mut out);
                    if !out.is_empty() {
                        return None;
                    }
                    (!m.is_empty()).then(|| Box::new(m))
                }
                None => None,
            };
            Some(Route {
                zone_id: format!("z{i}"),
                path_prefix: prefix,
                upstreams: Vec::new(),
                named_backend: None,
                force_https: false,
                preserve_host: false,
                allow: Vec::new(),
                timeouts: Default::default(),
                policies: None,
                matching,
            })
        }

        fn decode(text: &str) -> String {
            let bytes = text.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'+' => out.push(b' '),
                    b'%' if i + 2 < bytes.len() => {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                        out.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 2;
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            String::from_utf8(out).unwrap()
        }

        /// The reference: plain loops, a fresh regex per test, and the precedence of
        /// `docs/routing.md` spelled out as a tuple.
        fn reference<'r>(
            routes: &'r [Route],
            method: &str,
            target: &RequestTarget,
            headers: &[(String, String)],
        ) -> Option<&'r Route> {
            let path = target.match_path();
            let query: Vec<(String, String)> = target
                .query()
                .unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(p), String::new()),
                })
                .collect();
            let under = |prefix: &str| {
                prefix.is_empty()
                    || path == prefix
                    || (path.starts_with(prefix) && path.as_bytes()[prefix.len()] == b'/')
            };
            let passes = |r: &Route| {
                if !under(r.path_prefix.as_str()) {
                    return false;
                }
                let Some(m) = r.matching.as_deref() else {
                    return true;
                };
                (m.methods.is_empty() || m.methods.iter().any(|x| x == method))
                    && m.path_exact.as_ref().is_none_or(|e| e == path)
                    && m.path_regex
                        .as_ref()
                        .is_none_or(|p| regex::Regex::new(p).unwrap().is_match(path))
                    && m.headers.iter().all(|h| {
                        headers.iter().any(|(n, v)| {
                            n.eq_ignore_ascii_case(&h.name)
                                && h.equals.as_ref().is_none_or(|e| e == v)
                                && h.regex
                                    .as_ref()
                                    .is_none_or(|p| regex::Regex::new(p).unwrap().is_match(v))
                        })
                    })
                    && m.query.iter().all(|q| {
                        query
                            .iter()
                            .any(|(k, v)| *k == q.name && q.equals.as_ref().is_none_or(|e| e == v))
                    })
            };
            let rank = |r: &Route| {
                let empty = RouteMatch::default();
                let m = r.matching.as_deref().unwrap_or(&empty);
                (
                    m.path_exact.is_some(),
                    r.path_prefix.as_str().len(),
                    m.path_regex.is_some(),
                    !m.methods.is_empty(),
                    m.headers.len(),
                    m.query.len(),
                    std::cmp::Reverse(r.match_key()),
                )
            };
            routes.iter().filter(|r| passes(r)).max_by_key(|r| rank(r))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            #[test]
            fn the_chosen_route_is_the_references(
                defs in prop::collection::vec((prop::sample::select(PREFIXES.to_vec()), conditions()), 1..8),
                method in prop::sample::select(METHODS.to_vec()),
                path in prop::sample::select(PATHS.to_vec()),
                query in prop::sample::select(vec!["", "?v=1", "?debug", "?v=a+b", "?v=a%20b&debug=1", "?x=1&v=2"]),
                headers in prop::collection::vec(
                    (prop::sample::select(vec!["X-Env", "x-beta"]), prop::sample::select(vec!["1", "canary", "canary-2"])),
                    0..3,
                ),
            ) {
                let mut routes: Vec<Route> = Vec::new();
                for (i, (prefix, m)) in defs.into_iter().enumerate() {
                    if let Some(r) = route(i, prefix, m)
                        && !routes.iter().any(|o| o.path_prefix == r.path_prefix && o.match_key() == r.match_key())
                    {
                        routes.push(r);
                    }
                }
                prop_assume!(!routes.is_empty());
                let record = HostRecord {
                    host: HostPattern::parse("a.test").unwrap(),
                    routes: routes.clone(),
                };
                // The record is what Redis would hold: it round-trips and validates.
                let json = record.to_json();
                let record = HostRecord::from_json("a.test", json.as_bytes()).unwrap();
                let entry = HostEntry::build(record, &Registry::new(HealthConfig::default()));
                let target = RequestTarget::parse(format!("{path}{query}").as_bytes()).unwrap();
                let mut map = http::HeaderMap::new();
                let pairs: Vec<(String, String)> =
                    headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
                for (n, v) in &pairs {
                    map.append(
                        http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                        http::HeaderValue::from_str(v).unwrap(),
                    );
                }
                let got = entry
                    .route_for(method.as_bytes(), &target, &map)
                    .map(|r| r.route.zone_id.clone());
                let want = reference(&routes, method, &target, &pairs).map(|r| r.zone_id.clone());
                prop_assert_eq!(got, want);
            }
        }
    }
}
