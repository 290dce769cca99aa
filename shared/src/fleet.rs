//! What the fleet reports about itself in Redis, judged: which proxies apply the current
//! version, how old each heartbeat is, and when the cert worker last beat.
//!
//! Proxies publish a [`ProxyStatus`] in the `proxies` hash every few seconds and right
//! after they apply a new version (with the time they applied it); the cert
//! worker writes `heartbeat:cert-worker`. The panel's health endpoint and the operators'
//! status command read them through [`Store::fleet`] so both say the same thing.

use std::time::Duration;

use fred::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;

use crate::certs::CertSource;
use crate::model::ProxyStatus;
use crate::store::{Store, StoreError};

/// A proxy whose last heartbeat is older than this is reported stale (proxies beat every
/// 5 s, so this is three missed beats).
pub const STALE_AFTER: Duration = Duration::from_secs(15);

/// The service name the cert worker's heartbeat key carries.
pub const CERT_WORKER: &str = "cert-worker";

/// One proxy as the fleet view shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyView {
    pub id: String,
    /// The version its snapshot reflects (the same as `applied_version`, kept for the
    /// scripts that read it).
    pub version: u64,
    /// The version its snapshot reflects.
    pub applied_version: u64,
    /// When it applied that version (its own clock).
    #[serde(with = "time::serde::rfc3339")]
    pub applied_at: OffsetDateTime,
    /// Seconds since its last heartbeat (0 when its clock is ahead of ours).
    pub heartbeat_age_secs: f64,
    /// Its heartbeat is older than [`STALE_AFTER`]: stopped, or cut off from Redis.
    pub stale: bool,
    /// Fresh, and applying the version Redis holds now.
    pub current: bool,
    pub zones: u64,
    pub certs: u64,
    /// The highest data format it reads (1 for proxies older than format 2).
    pub reads_format: u32,
    /// Upstream endpoints it judges down (its admin API's `/upstreams?down=1` lists
    /// them); 0 from proxies that do not report it.
    pub endpoints_down: u64,
    /// A proxy reading a replica: versions its snapshot was behind the primary at its
    /// last heartbeat (absent for a proxy that reads the primary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_versions_behind: Option<u64>,
}

/// The fleet at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fleet {
    /// The version Redis holds.
    pub version: u64,
    pub proxies: Vec<ProxyView>,
    /// Entries of the `proxies` hash that could not be read, with why.
    pub unreadable: Vec<String>,
    /// Seconds since the cert worker's last heartbeat; `None` when it has none (never
    /// started, or silent long enough for the key to expire).
    pub cert_worker_heartbeat_age_secs: Option<f64>,
}

impl Fleet {
    /// Judges raw statuses against the live version at `now`.
    pub fn judge(
        version: u64,
        statuses: Vec<(String, String)>,
        cert_worker_heartbeat: Option<String>,
        now: OffsetDateTime,
    ) -> Self {
        let age = |at: OffsetDateTime| (now - at).as_seconds_f64().max(0.0);
        let mut proxies = Vec::new();
        let mut unreadable = Vec::new();
        for (id, json) in statuses {
            match serde_json::from_str::<ProxyStatus>(&json) {
                Ok(s) => {
                    let heartbeat_age_secs = age(s.heartbeat_at);
                    let stale = heartbeat_age_secs > STALE_AFTER.as_secs_f64();
                    proxies.push(ProxyView {
                        id: s.id,
                        version: s.version,
                        applied_version: s.version,
                        applied_at: s.applied_at,
                        heartbeat_age_secs,
                        stale,
                        current: !stale && s.version >= version,
                        zones: s.zones,
                        certs: s.certs,
                        reads_format: s.reads_format,
                        endpoints_down: s.endpoints_down,
                        replica_versions_behind: s.replica_versions_behind,
                    });
                }
                Err(e) => unreadable.push(format!("proxy \"{id}\": {e}")),
            }
        }
        proxies.sort_by(|a, b| a.id.cmp(&b.id));
        let cert_worker_heartbeat_age_secs = cert_worker_heartbeat.and_then(|text| {
            OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(age)
        });
        Self {
            version,
            proxies,
            unreadable,
            cert_worker_heartbeat_age_secs,
        }
    }
}

impl Fleet {
    /// Fresh proxies that cannot read data `format`: writing it would leave them on
    /// their last snapshot. Stale ones are left out (stopped, or gone for good).
    pub fn not_reading(&self, format: u32) -> Vec<&ProxyView> {
        self.proxies
            .iter()
            .filter(|p| !p.stale && p.reads_format < format)
            .collect()
    }
}

/// A certificate in Redis that expires soon (or has expired: `days_left` below 0), with
/// where it comes from and why it is still on its way out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpiringCert {
    /// The name it is stored under: `*.example.com` for a domain's wildcard, the
    /// hostname for a per-host one (uploaded ones too, without their `uploaded:` prefix;
    /// `source` tells them apart).
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub days_left: f64,
    pub source: CertSource,
    pub why: ExpiryWhy,
    /// With [`ExpiryWhy::RenewalFailing`]: the last attempt's error, in the CA's or the
    /// DNS provider's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a certificate near its expiry has not been replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryWhy {
    /// Issued: the cert worker's attempts to renew it fail (`error` says how).
    RenewalFailing,
    /// Uploaded: nothing renews it; an operator must upload its successor.
    NotRenewable,
    /// Issued: its renewal is queued or under way and has not failed.
    RenewalScheduled,
    /// Issued, and its renewal state is unknown: PostgreSQL was not read.
    RenewalUnknown,
}

impl ExpiringCert {
    /// Fills in why an issued certificate is still expiring from its row in PostgreSQL
    /// (`last_error`: the failure of the last attempt, `None` while none failed); an
    /// uploaded one stays [`ExpiryWhy::NotRenewable`].
    pub fn explain(&mut self, last_error: Option<String>) {
        if !self.source.is_issued() {
            return;
        }
        match last_error {
            Some(error) => {
                self.why = ExpiryWhy::RenewalFailing;
                self.error = Some(error);
            }
            None => {
                self.why = ExpiryWhy::RenewalScheduled;
                self.error = None;
            }
        }
    }
}

/// Operators want to hear of a certificate 30 days before it expires: renewal starts at a
/// third of a 90-day lifetime, so one listed here is one whose renewal is late.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

impl Store {
    /// The certificates proxies serve that expire within `within`, soonest first. Redis
    /// says whether each is issued or uploaded; why an issued one is not renewed yet is
    /// PostgreSQL's to say ([`ExpiringCert::explain`]), so it starts as
    /// [`ExpiryWhy::RenewalUnknown`].
    pub async fn expiring_certs(&self, within: Duration) -> Result<Vec<ExpiringCert>, StoreError> {
        let names = self.members(&self.keys().cert_index()).await?;
        let now = OffsetDateTime::now_utc();
        let mut out: Vec<ExpiringCert> = self
            .certs(&names)
            .await?
            .into_iter()
            .filter_map(|(_, record)| {
                let record = record?.ok()?;
                let left = record.not_after - now;
                (left.as_seconds_f64() < within.as_secs_f64()).then(|| ExpiringCert {
                    name: record.name.as_str().to_owned(),
                    not_after: record.not_after,
                    days_left: left.as_seconds_f64() / 86_400.0,
                    source: record.source,
                    why: match record.source {
                        CertSource::Issued => ExpiryWhy::RenewalUnknown,
                        CertSource::Uploaded => ExpiryWhy::NotRenewable,
                    },
                    error: None,
                })
            })
            .collect();
        out.sort_by_key(|c| c.not_after);
        Ok(out)
    }

    /// Reads the live version, every proxy's status and the cert worker's heartbeat.
    pub async fn fleet(&self) -> Result<Fleet, StoreError> {
        let (version, _) = self.meta().await?;
        let keys = self.keys();
        let statuses: std::collections::HashMap<String, String> =
            self.client().hgetall(keys.proxies()).await?;
        let heartbeat: Option<String> = self.client().get(keys.heartbeat(CERT_WORKER)).await?;
        Ok(Fleet::judge(
            version,
            statuses.into_iter().collect(),
            heartbeat,
            OffsetDateTime::now_utc(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: &str, version: u64, beat: OffsetDateTime) -> (String, String) {
        let s = ProxyStatus {
            reads_format: crate::FORMAT_VERSION,
            id: id.into(),
            version,
            heartbeat_at: beat,
            applied_at: beat,
            zones: 3,
            certs: 1,
            replica_versions_behind: None,
            endpoints_down: 0,
        };
        (id.into(), serde_json::to_string(&s).unwrap())
    }

    #[test]
    fn proxies_are_judged_by_version_and_heartbeat_age() {
        let now = OffsetDateTime::now_utc();
        let fleet = Fleet::judge(
            42,
            vec![
                status("p-behind", 41, now - Duration::from_secs(1)),
                status("p-current", 42, now - Duration::from_secs(2)),
                status("p-silent", 42, now - Duration::from_secs(60)),
                ("p-garbled".into(), "{not json".into()),
            ],
            Some(
                (now - Duration::from_secs(7))
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap(),
            ),
            now,
        );
        let judged: Vec<(&str, bool, bool)> = fleet
            .proxies
            .iter()
            .map(|p| (p.id.as_str(), p.current, p.stale))
            .collect();
        assert_eq!(
            judged,
            vec![
                ("p-behind", false, false),
                ("p-current", true, false),
                ("p-silent", false, true),
            ]
        );
        assert_eq!(fleet.unreadable.len(), 1);
        assert!(fleet.unreadable[0].starts_with("proxy \"p-garbled\""));
        let age = fleet.cert_worker_heartbeat_age_secs.unwrap();
        assert!((6.9..8.0).contains(&age), "{age}");
        assert!((59.0..61.0).contains(&fleet.proxies[2].heartbeat_age_secs));
    }
}
