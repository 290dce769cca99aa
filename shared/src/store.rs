//! Reading and writing the Redis contract: atomic batches with a version bump, full
//! snapshots, and the change feed.
//!
//! Writes go through one Lua script so that a batch — one zone or ten thousand — becomes
//! visible at once: it checks the format, bumps `version`, sets or deletes the record keys,
//! keeps the index sets in step and appends one entry to the `changes` stream naming what
//! changed. HTTP-01 challenge answers ride the same script and feed (so proxies learn of
//! one as fast as of a zone), but their keys carry a TTL and their index is a sorted set
//! scored by expiry: a challenge a dead worker never withdrew disappears by itself, and
//! the next challenge write prunes its name from the index. Readers take a snapshot by noting the version and the last feed entry, then
//! reading every record; replaying the feed from that entry brings them to the present,
//! because every entry names keys whose full current value is read again.

use std::collections::HashMap;

use fred::prelude::*;
use fred::types::scan::Scanner;
use fred::types::scripts::Script;
use fred::types::streams::XReadResponse;
use futures_util::StreamExt;

use crate::keys::{FORMAT_VERSION, Keys};
use crate::model::{CertRecord, ChallengeRecord, HostRecord, RecordError};

/// Feed entries kept in the stream before Redis trims the oldest; a reader further
/// behind than this reloads fully. 100k entries of a few hundred bytes is tens of MB.
pub const FEED_MAX_LEN: u64 = 100_000;
/// Keys fetched per `MGET` while reading a snapshot: large enough to amortise round
/// trips, small enough not to block Redis for long.
pub const SNAPSHOT_BATCH: usize = 1_000;

const WRITE_SCRIPT: &str = r#"
local stored = redis.call('GET', KEYS[1])
local format = 0
if stored then format = tonumber(stored) or 1000000 end
if format > tonumber(ARGV[5]) then
  return redis.error_reply('SWITCHYARD_FORMAT Redis holds data format ' .. stored .. ', this writer reads up to ' .. ARGV[5])
end
if tonumber(ARGV[1]) > format then
  format = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], ARGV[1])
end
local v = redis.call('INCR', KEYS[2])
local n = #KEYS - 6
local now = tonumber(ARGV[7])
for i = 1, n do
  local base = 7 + (i - 1) * 4
  local kind = ARGV[base + 1]
  local member = ARGV[base + 2]
  local value = ARGV[base + 3]
  if kind == 'a' then
    if value == '' then
      redis.call('DEL', KEYS[6 + i])
      redis.call('ZREM', KEYS[6], member)
    else
      local expires = tonumber(ARGV[base + 4])
      redis.call('SET', KEYS[6 + i], value, 'EX', math.max(1, expires - now))
      redis.call('ZADD', KEYS[6], expires, member)
    end
  else
    local index = KEYS[4]
    if kind == 'c' then index = KEYS[5] end
    if value == '' then
      redis.call('DEL', KEYS[6 + i])
      redis.call('SREM', index, member)
    else
      redis.call('SET', KEYS[6 + i], value)
      redis.call('SADD', index, member)
    end
  end
end
local fields = {'v', v, 'format', tostring(format), 'zones', ARGV[3], 'certs', ARGV[4]}
if ARGV[6] ~= '[]' then
  -- Challenges whose keys expired (a worker that died mid-order) leave the index too.
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
  table.insert(fields, 'challenges')
  table.insert(fields, ARGV[6])
end
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
return {v, id}
"#;

const META_SCRIPT: &str = r#"
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local id = ''
if last[1] then id = last[1][1] end
return {redis.call('GET', KEYS[1]) or '', redis.call('GET', KEYS[2]) or '0', id}
"#;

/// What can go wrong talking to the Redis contract.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    /// The Redis URL is not one of the accepted forms ([`crate::redis_url`]); the
    /// message never repeats the URL.
    #[error("Redis URL: {0}")]
    Url(String),
    #[error(
        "Redis holds data format {found}; this build understands formats up to {supported}. Upgrade this service or migrate the data."
    )]
    Format { found: String, supported: u32 },
    #[error("malformed change feed entry {id}: {problem}")]
    Feed { id: String, problem: String },
}

/// A batch of changes applied atomically with one version bump.
#[derive(Debug, Default, Clone)]
pub struct ChangeSet {
    zones: Vec<(String, Option<String>)>,
    certs: Vec<(String, Option<String>)>,
    /// HTTP-01 challenges: name, JSON and expiry (Unix seconds); `None` deletes.
    challenges: Vec<(String, Option<(String, i64)>)>,
    /// The highest data format a record of this batch needs (0: none written yet).
    format: u32,
}

impl ChangeSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes (or replaces) the routes of one hostname pattern.
    pub fn put_zone(&mut self, record: &HostRecord) -> &mut Self {
        self.format = self.format.max(record.format_needed());
        self.zones
            .push((record.host.as_str().to_owned(), Some(record.to_json())));
        self
    }

    /// Deletes the routes of one hostname pattern.
    pub fn delete_zone(&mut self, pattern: &str) -> &mut Self {
        self.zones.push((pattern.to_owned(), None));
        self
    }

    /// Writes (or replaces) a certificate, under its member name
    /// ([`CertRecord::member`]): every certificate, issued or uploaded, reaches Redis
    /// through here.
    pub fn put_cert(&mut self, record: &CertRecord) -> &mut Self {
        self.certs.push((record.member(), Some(record.to_json())));
        self
    }

    /// Deletes a certificate by its member name (`*.example.com`,
    /// `uploaded:*.example.com`).
    pub fn delete_cert(&mut self, member: &str) -> &mut Self {
        self.certs.push((member.to_owned(), None));
        self
    }

    /// Publishes an HTTP-01 challenge answer until its `expires_at` (the key's TTL).
    pub fn put_challenge(&mut self, record: &ChallengeRecord) -> &mut Self {
        self.challenges.push((
            record.name(),
            Some((record.to_json(), record.expires_at.unix_timestamp())),
        ));
        self
    }

    /// Withdraws an HTTP-01 challenge answer, by its name `<host>/<token>`.
    pub fn delete_challenge(&mut self, name: &str) -> &mut Self {
        self.challenges.push((name.to_owned(), None));
        self
    }

    /// The certificate writes of this batch: each member name with the exact JSON its
    /// key gets (`None`: the key is deleted).
    pub fn cert_values(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.certs.iter().map(|(n, v)| (n.as_str(), v.as_deref()))
    }

    /// The zone writes of this batch, as the write applies them: each hostname pattern
    /// with the exact JSON its key gets (`None`: the key is deleted).
    pub fn zone_values(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.zones.iter().map(|(n, v)| (n.as_str(), v.as_deref()))
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty() && self.certs.is_empty() && self.challenges.is_empty()
    }

    pub fn len(&self) -> usize {
        self.zones.len() + self.certs.len() + self.challenges.len()
    }

    /// The data format this batch needs Redis to be at: 1, or 2 when a zone record has
    /// route policies. Applying it raises Redis's format to this, never lowers it.
    pub fn format_needed(&self) -> u32 {
        self.format.max(1)
    }
}

/// The result of an applied batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The new global version.
    pub version: u64,
    /// The id of its change feed entry.
    pub feed_id: String,
}

/// One change feed entry: the keys one version changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    pub id: String,
    pub version: u64,
    pub format: String,
    pub zones: Vec<String>,
    pub certs: Vec<String>,
    /// HTTP-01 challenge names (`<host>/<token>`); the field is absent from entries
    /// without any (and from writers older than challenges), which read as none.
    pub challenges: Vec<String>,
}

/// Everything in Redis at (or slightly after) `version`; see the module docs.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The version when reading started.
    pub version: u64,
    /// The last feed entry when reading started (empty when the feed is empty);
    /// replay from here to catch up.
    pub feed_id: String,
    pub zones: Vec<HostRecord>,
    pub certs: Vec<CertRecord>,
    /// HTTP-01 challenge answers not yet expired.
    pub challenges: Vec<ChallengeRecord>,
    /// Records that failed validation, left out of `zones` / `certs` / `challenges`.
    pub rejected: Vec<RecordError>,
}

/// Opens a client with reconnection (exponential backoff up to 5 s, forever) and waits
/// for the first connection; fails at once if that first connection fails.
pub async fn connect(url: &str) -> Result<Client, StoreError> {
    let client = client_builder(url)?
        .with_config(|c| c.fail_fast = true)
        .build()?;
    client.init().await?;
    Ok(client)
}

/// A configured, unconnected client builder, for callers that need to tune it.
///
/// Every service builds its Redis clients here, so all accept the same URL forms
/// ([`crate::redis_url`]: one Redis, TLS, a Sentinel set, credentials). With a Sentinel
/// set the client asks the sentinels for the primary at every (re)connection and checks
/// it answers `ROLE` as a primary, so after a failover it reconnects to the new one.
///
/// The client reconnects forever, and — unlike fred's default — also when its *first*
/// connection fails: a proxy or panel started while Redis is down must start following
/// Redis once it appears (fred's `fail_fast` would end the connection task for good).
/// Commands sent meanwhile wait for the connection within their own timeout.
pub fn client_builder(url: &str) -> Result<Builder, StoreError> {
    let mut config = crate::redis_url::config(url).map_err(StoreError::Url)?;
    config.fail_fast = false;
    let mut builder = Builder::from_config(config);
    builder
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
        .with_connection_config(|c| {
            c.connection_timeout = std::time::Duration::from_secs(5);
        });
    Ok(builder)
}

/// The Redis contract over one client and one key prefix.
#[derive(Clone)]
pub struct Store {
    client: Client,
    keys: Keys,
    write: Script,
    meta: Script,
}

impl Store {
    pub fn new(client: Client, keys: Keys) -> Self {
        Self {
            client,
            keys,
            write: Script::from_lua(WRITE_SCRIPT),
            meta: Script::from_lua(META_SCRIPT),
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Applies a batch atomically: one version bump and one feed entry for all of it.
    /// An empty batch changes nothing and returns the current version.
    #[tracing::instrument(
        target = "switchyard_trace",
        name = "redis transaction",
        skip_all,
        fields(
            db.system = "redis",
            zones = changes.zones.len(),
            certs = changes.certs.len(),
            challenges = changes.challenges.len()
        )
    )]
    pub async fn apply(&self, changes: &ChangeSet) -> Result<Applied, StoreError> {
        if changes.is_empty() {
            let (version, feed_id) = self.meta().await?;
            return Ok(Applied { version, feed_id });
        }
        let k = &self.keys;
        let mut keys = vec![
            k.format(),
            k.version(),
            k.changes(),
            k.zone_index(),
            k.cert_index(),
            k.acme_challenge_index(),
        ];
        fn names<T>(list: &[(String, T)]) -> String {
            let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
            serde_json::to_string(&names).expect("names serialise")
        }
        let mut args: Vec<String> = vec![
            changes.format_needed().to_string(),
            FEED_MAX_LEN.to_string(),
            names(&changes.zones),
            names(&changes.certs),
            FORMAT_VERSION.to_string(),
            names(&changes.challenges),
            // The writer's clock: challenge TTLs are what is left until `expires_at`.
            time::OffsetDateTime::now_utc().unix_timestamp().to_string(),
        ];
        for (kind, list) in [("z", &changes.zones), ("c", &changes.certs)] {
            for (name, value) in list {
                keys.push(if kind == "z" {
                    k.zone(name)
                } else {
                    k.cert(name)
                });
                args.extend([
                    kind.to_owned(),
                    name.clone(),
                    value.clone().unwrap_or_default(),
                    String::new(),
                ]);
            }
        }
        for (name, value) in &changes.challenges {
            keys.push(k.acme_challenge(name));
            let (json, expires) = value.clone().unwrap_or_default();
            args.extend(["a".to_owned(), name.clone(), json, expires.to_string()]);
        }
        let result: Result<(u64, String), _> = self
            .write
            .evalsha_with_reload(&self.client, keys, args)
            .await;
        match result {
            Ok((version, feed_id)) => Ok(Applied { version, feed_id }),
            Err(e) if e.details().contains("SWITCHYARD_FORMAT") => Err(StoreError::Format {
                found: e
                    .details()
                    .split("data format ")
                    .nth(1)
                    .and_then(|s| s.split(',').next())
                    .unwrap_or("?")
                    .to_owned(),
                supported: FORMAT_VERSION,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The current version and the last feed entry id, read atomically. Fails if Redis
    /// holds data in a format this build does not understand.
    pub async fn meta(&self) -> Result<(u64, String), StoreError> {
        let k = &self.keys;
        let (format, version, feed_id): (String, String, String) = self
            .meta
            .evalsha_with_reload(&self.client, vec![k.format(), k.version(), k.changes()], ())
            .await?;
        if !format.is_empty() && !crate::keys::readable_format(&format) {
            return Err(StoreError::Format {
                found: format,
                supported: FORMAT_VERSION,
            });
        }
        let version = version.parse().map_err(|_| StoreError::Feed {
            id: k.version(),
            problem: format!("version \"{version}\" is not a number"),
        })?;
        Ok((version, feed_id))
    }

    /// Reads every zone and certificate. Invalid records are reported in `rejected`.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let (mut snapshot, zones) = self.snapshot_mapped(|z| z).await?;
        snapshot.zones = zones;
        Ok(snapshot)
    }

    /// [`Store::snapshot`] with each valid zone record handed to `build` as soon as its
    /// batch is read and parsed, and only what `build` returns kept: `zones` stays empty
    /// and the built values come back beside it. A proxy builds its table entries this
    /// way, so a million zones never exist at once as Redis replies, parsed records and
    /// entries (the load's peak memory is the table plus one batch).
    pub async fn snapshot_mapped<T>(
        &self,
        mut build: impl FnMut(HostRecord) -> T,
    ) -> Result<(Snapshot, Vec<T>), StoreError> {
        let (version, feed_id) = self.meta().await?;
        let mut snapshot = Snapshot {
            version,
            feed_id,
            ..Snapshot::default()
        };
        let zone_names = self.members(&self.keys.zone_index()).await?;
        let mut built = Vec::with_capacity(zone_names.len());
        for names in zone_names.chunks(SNAPSHOT_BATCH) {
            for (name, record) in self.zones(names).await? {
                match record {
                    Some(Ok(r)) => built.push(build(r)),
                    Some(Err(e)) => snapshot.rejected.push(e),
                    None => tracing::debug!(zone = %name, "indexed zone vanished while reading"),
                }
            }
        }
        drop(zone_names);
        let cert_names = self.members(&self.keys.cert_index()).await?;
        for (name, record) in self.certs(&cert_names).await? {
            match record {
                Some(Ok(r)) => snapshot.certs.push(r),
                Some(Err(e)) => snapshot.rejected.push(e),
                None => tracing::debug!(cert = %name, "indexed cert vanished while reading"),
            }
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        // A plain command: fred's sorted-set interface is a feature this crate does not
        // otherwise need.
        let challenge_names: Vec<String> = self
            .client
            .custom(
                fred::cmd!("ZRANGEBYSCORE"),
                vec![
                    self.keys.acme_challenge_index(),
                    now.to_string(),
                    "+inf".to_owned(),
                ],
            )
            .await?;
        for (_, record) in self.challenges(&challenge_names).await? {
            match record {
                Some(Ok(r)) => snapshot.challenges.push(r),
                Some(Err(e)) => snapshot.rejected.push(e),
                // Expired (its TTL ended) or withdrawn while reading.
                None => {}
            }
        }
        Ok((snapshot, built))
    }

    /// Every member of an index set, read incrementally with `SSCAN`.
    pub async fn members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let pages = self.client.sscan(key, "*", Some(SNAPSHOT_BATCH as u32));
        let mut pages = std::pin::pin!(pages);
        while let Some(page) = pages.next().await {
            let mut page = page?;
            if let Some(values) = page.take_results() {
                for v in values {
                    if let Some(s) = v.into_string() {
                        out.push(s);
                    }
                }
            }
            page.next();
        }
        // SSCAN may return a member twice when the set changes during the scan.
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    async fn fetch(&self, keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(SNAPSHOT_BATCH) {
            let values: Vec<Option<Vec<u8>>> = if chunk.len() == 1 {
                vec![self.client.get(&chunk[0]).await?]
            } else {
                self.client.mget(chunk.to_vec()).await?
            };
            out.extend(values);
        }
        Ok(out)
    }

    /// Reads the named zones; `None` for a name without a key (deleted).
    pub async fn zones(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, Option<Result<HostRecord, RecordError>>)>, StoreError> {
        let values = self
            .fetch(names.iter().map(|n| self.keys.zone(n)).collect())
            .await?;
        Ok(names
            .iter()
            .zip(values)
            .map(|(n, v)| (n.clone(), v.map(|json| HostRecord::from_json(n, &json))))
            .collect())
    }

    /// Reads the named certificates; `None` for a name without a key (deleted).
    pub async fn certs(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, Option<Result<CertRecord, RecordError>>)>, StoreError> {
        let values = self
            .fetch(names.iter().map(|n| self.keys.cert(n)).collect())
            .await?;
        Ok(names
            .iter()
            .zip(values)
            .map(|(n, v)| (n.clone(), v.map(|json| CertRecord::from_json(n, &json))))
            .collect())
    }

    /// Reads the named HTTP-01 challenges; `None` for a name without a key (withdrawn,
    /// or expired).
    pub async fn challenges(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, Option<Result<ChallengeRecord, RecordError>>)>, StoreError> {
        let values = self
            .fetch(names.iter().map(|n| self.keys.acme_challenge(n)).collect())
            .await?;
        Ok(names
            .iter()
            .zip(values)
            .map(|(n, v)| {
                (
                    n.clone(),
                    v.map(|json| ChallengeRecord::from_json(n, &json)),
                )
            })
            .collect())
    }

    /// Feed entries after `after_id` (`""` or `"0"` for all), waiting up to `block_ms`
    /// for the first one when `block_ms` is given.
    ///
    /// A blocking read holds its connection until it returns, and a fred client has one
    /// connection: give a blocking reader a client of its own, or its writes wait for it.
    pub async fn feed_after(
        &self,
        after_id: &str,
        count: u64,
        block_ms: Option<u64>,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        let after = if after_id.is_empty() { "0" } else { after_id };
        let key = self.keys.changes();
        // A blocking read that times out answers nil, which is "no entries".
        let value: fred::types::Value = self
            .client
            .xread(Some(count), block_ms, key.clone(), after)
            .await?;
        if value.is_null() {
            return Ok(Vec::new());
        }
        let response: XReadResponse<String, String, String, String> =
            value.into_xread_response()?;
        let entries = response.into_values().next().unwrap_or_default();
        entries
            .into_iter()
            .map(|(id, fields)| FeedEntry::from_fields(id, fields))
            .collect()
    }
}

impl FeedEntry {
    fn from_fields(id: String, fields: HashMap<String, String>) -> Result<Self, StoreError> {
        let bad = |problem: String| StoreError::Feed {
            id: id.clone(),
            problem,
        };
        let field = |name: &str| {
            fields
                .get(name)
                .ok_or_else(|| bad(format!("field \"{name}\" is missing")))
        };
        let version = field("v")?
            .parse()
            .map_err(|_| bad("field \"v\" is not a number".into()))?;
        let names = |name: &str| -> Result<Vec<String>, StoreError> {
            serde_json::from_str(field(name)?)
                .map_err(|e| bad(format!("field \"{name}\" is not a JSON list of names: {e}")))
        };
        Ok(Self {
            version,
            format: field("format")?.clone(),
            zones: names("zones")?,
            certs: names("certs")?,
            challenges: match fields.contains_key("challenges") {
                true => names("challenges")?,
                false => Vec::new(),
            },
            id,
        })
    }
}
