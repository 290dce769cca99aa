//! The DNS check: does a domain's apex or a zone's hostname resolve to the fleet's
//! public addresses (`--public-addresses`)? On demand (`GET …/dns-check?refresh=true`)
//! and for every name on a timer ([`spawn`]); the last answer of each name is kept in
//! `dns_checks` and shown next to its domain or zone: the resolver asked, the records
//! seen (CNAMEs, then A/AAAA), the verdict and why.
//!
//! - `pass`: at least one address, and every A/AAAA record is a public address of the
//!   fleet (a CNAME chain is followed by the resolver).
//! - `fail`: no address (NXDOMAIN, no A/AAAA, the resolver failing — said as such), or
//!   one that is not the fleet's (named).
//! - `unconfigured`: no public addresses are configured; the records are still shown.
//!
//! A wildcard zone (`*.example.com`) is checked at one label under it
//! (`switchyard-dns-check.example.com`), which a wildcard record answers. The cache of
//! the resolver is off: each check asks again. Nothing here changes configuration, so a
//! check is neither audited nor a revision; HTTP-01 orders of the cert worker wait for
//! a passing check of their hostname rather than spend attempts at the CA.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Name, TokioResolver};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, QueryOrder, QuerySelect};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::{Level, Need, Principal, authorize};
use crate::config::DnsCheckArgs;
use crate::entity::{dns_checks, domains, zones};
use crate::error::ApiError;

/// The label a wildcard zone is checked at.
pub const WILDCARD_PROBE: &str = "switchyard-dns-check";
/// One lookup never holds a request or the timer up longer than this.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Names checked at once by the periodic run.
const CONCURRENCY: usize = 8;

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Unconfigured,
}

impl Verdict {
    fn as_str(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unconfigured => "unconfigured",
        }
    }

    fn parse(s: &str) -> Verdict {
        match s {
            "pass" => Verdict::Pass,
            "unconfigured" => Verdict::Unconfigured,
            _ => Verdict::Fail,
        }
    }
}

/// One record the resolver answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SeenRecord {
    /// `CNAME`, `A` or `AAAA`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// A name's last DNS check.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DnsCheckView {
    /// The name asked (a wildcard zone's probe name).
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub checked_at: OffsetDateTime,
    /// The DNS server asked (`system` for the system's resolver).
    pub resolver: String,
    pub verdict: Verdict,
    pub records: Vec<SeenRecord>,
    /// The public addresses it was checked against.
    pub expected: Vec<String>,
    /// Why it failed (or what was not configured); `null` when it passed.
    pub problem: Option<String>,
}

/// `?refresh=true`: check now instead of answering the last check.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// Look the name up now (and keep the answer) rather than answer the last check.
    #[serde(default)]
    pub refresh: bool,
}

/// The resolver and the addresses names must point at.
pub struct Checker {
    resolver: TokioResolver,
    label: String,
    public: Vec<IpAddr>,
}

impl Checker {
    pub fn new(args: &DnsCheckArgs) -> anyhow::Result<Checker> {
        let mut options = ResolverOpts::default();
        // Each check asks again: a cached answer would hide a change just made.
        options.cache_size = 0;
        options.timeout = LOOKUP_TIMEOUT;
        options.attempts = 2;
        let (builder, label) = match args.dns_check_resolver {
            Some(server) => (
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(
                        None,
                        vec![],
                        NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true),
                    ),
                    TokioConnectionProvider::default(),
                ),
                server.to_string(),
            ),
            None => (
                TokioResolver::builder_tokio().map_err(|e| {
                    anyhow::anyhow!(
                        "the DNS check has no resolver: the system's cannot be read ({e}); \
                         set --dns-check-resolver"
                    )
                })?,
                "system".to_owned(),
            ),
        };
        Ok(Checker {
            resolver: builder.with_options(options).build(),
            label,
            public: args.public_addresses.clone(),
        })
    }

    /// Looks `name` up and judges the answer (never fails: a resolver error is a `fail`
    /// saying so).
    pub async fn check(&self, name: &str) -> DnsCheckView {
        let asked = probe_name(name);
        let mut fqdn = Name::from_ascii(&asked).unwrap_or_else(|_| Name::root());
        fqdn.set_fqdn(true);
        let answer = tokio::time::timeout(LOOKUP_TIMEOUT * 2, self.resolver.lookup_ip(fqdn)).await;
        let mut records = Vec::new();
        let mut addresses = Vec::new();
        let lookup_problem = match answer {
            Err(_) => Some(format!(
                "the resolver did not answer within {:?}",
                LOOKUP_TIMEOUT * 2
            )),
            Ok(Err(e)) if e.is_nx_domain() => Some(format!("{asked} does not exist (NXDOMAIN)")),
            Ok(Err(e)) if e.is_no_records_found() => {
                Some(format!("{asked} has no A or AAAA record"))
            }
            Ok(Err(e)) => Some(format!("the lookup failed: {e}")),
            Ok(Ok(lookup)) => {
                for record in lookup.as_lookup().records() {
                    match record.data() {
                        RData::CNAME(target) => records.push(SeenRecord {
                            kind: "CNAME".into(),
                            value: target.0.to_utf8().trim_end_matches('.').to_owned(),
                        }),
                        RData::A(a) => {
                            addresses.push(IpAddr::V4(a.0));
                            records.push(SeenRecord {
                                kind: "A".into(),
                                value: a.0.to_string(),
                            });
                        }
                        RData::AAAA(a) => {
                            addresses.push(IpAddr::V6(a.0));
                            records.push(SeenRecord {
                                kind: "AAAA".into(),
                                value: a.0.to_string(),
                            });
                        }
                        _ => {}
                    }
                }
                // CNAMEs first, in the order answered; then the addresses.
                records.sort_by_key(|r| r.kind != "CNAME");
                None
            }
        };
        let (verdict, problem) = judge(&self.public, &addresses, lookup_problem);
        // To the microsecond, as PostgreSQL keeps it: the answer now and read back later
        // are the same.
        let now = OffsetDateTime::now_utc();
        let checked_at = now
            .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now);
        DnsCheckView {
            name: asked,
            checked_at,
            resolver: self.label.clone(),
            verdict,
            records,
            expected: self.public.iter().map(IpAddr::to_string).collect(),
            problem,
        }
    }
}

/// The name a check asks: a wildcard's probe label, or the name itself.
pub fn probe_name(name: &str) -> String {
    match name.strip_prefix("*.") {
        Some(rest) => format!("{WILDCARD_PROBE}.{rest}"),
        None => name.to_owned(),
    }
}

/// The verdict on the addresses found (see the module doc).
fn judge(
    public: &[IpAddr],
    found: &[IpAddr],
    lookup_problem: Option<String>,
) -> (Verdict, Option<String>) {
    if public.is_empty() {
        let why = "no public addresses are configured (--public-addresses): nothing to \
                   compare with";
        return (
            Verdict::Unconfigured,
            Some(match lookup_problem {
                Some(p) => format!("{p}; {why}"),
                None => why.to_owned(),
            }),
        );
    }
    if let Some(problem) = lookup_problem {
        return (Verdict::Fail, Some(problem));
    }
    if found.is_empty() {
        return (Verdict::Fail, Some("no A or AAAA record".to_owned()));
    }
    let stray: Vec<String> = found
        .iter()
        .filter(|ip| !public.contains(ip))
        .map(IpAddr::to_string)
        .collect();
    if stray.is_empty() {
        (Verdict::Pass, None)
    } else {
        (
            Verdict::Fail,
            Some(format!(
                "{} {} not the fleet's (public addresses: {})",
                stray.join(", "),
                if stray.len() == 1 { "is" } else { "are" },
                public
                    .iter()
                    .map(IpAddr::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        )
    }
}

/// Keeps a check (one row per name, replaced).
async fn keep(db: &DatabaseConnection, view: &DnsCheckView, key: &str) -> Result<(), ApiError> {
    let row = dns_checks::ActiveModel {
        name: Set(key.to_owned()),
        checked_at: Set(view.checked_at),
        resolver: Set(view.resolver.clone()),
        verdict: Set(view.verdict.as_str().to_owned()),
        records: Set(serde_json::to_value(&view.records).unwrap_or_default()),
        expected: Set(serde_json::to_value(&view.expected).unwrap_or_default()),
        problem: Set(view.problem.clone()),
    };
    dns_checks::Entity::insert(row)
        .on_conflict(
            OnConflict::column(dns_checks::Column::Name)
                .update_columns([
                    dns_checks::Column::CheckedAt,
                    dns_checks::Column::Resolver,
                    dns_checks::Column::Verdict,
                    dns_checks::Column::Records,
                    dns_checks::Column::Expected,
                    dns_checks::Column::Problem,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

fn view_of(row: dns_checks::Model) -> DnsCheckView {
    DnsCheckView {
        name: probe_name(&row.name),
        checked_at: row.checked_at,
        resolver: row.resolver,
        verdict: Verdict::parse(&row.verdict),
        records: serde_json::from_value(row.records).unwrap_or_default(),
        expected: serde_json::from_value(row.expected).unwrap_or_default(),
        problem: row.problem,
    }
}

/// The last check of `name`, or (with `refresh`, or never checked) a check made now.
async fn checked(
    db: &DatabaseConnection,
    checker: &Checker,
    name: &str,
    refresh: bool,
) -> Result<DnsCheckView, ApiError> {
    if !refresh
        && let Some(row) = dns_checks::Entity::find_by_id(name.to_owned())
            .one(db)
            .await?
    {
        return Ok(view_of(row));
    }
    let view = checker.check(name).await;
    keep(db, &view, name).await?;
    Ok(view)
}

/// `GET /domains/{id}/dns-check`: the domain's apex (a read grant on it suffices).
pub async fn for_domain(
    db: &DatabaseConnection,
    checker: &Checker,
    principal: &Principal,
    id: Uuid,
    refresh: bool,
) -> Result<DnsCheckView, ApiError> {
    authorize(principal, Need::Domain(id, Level::Read))?;
    let domain = domains::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)?;
    checked(db, checker, &domain.name, refresh).await
}

/// `GET /zones/{id}/dns-check`: the zone's hostname (a read grant on its domain).
pub async fn for_zone(
    db: &DatabaseConnection,
    checker: &Checker,
    principal: &Principal,
    id: Uuid,
    refresh: bool,
) -> Result<DnsCheckView, ApiError> {
    let zone = zones::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize(principal, Need::Domain(zone.domain_id, Level::Read))?;
    checked(db, checker, &zone.hostname, refresh).await
}

/// Checks every domain and zone hostname now; returns how many names were checked.
pub async fn check_all(db: &DatabaseConnection, checker: &Checker) -> Result<usize, ApiError> {
    use futures_util::StreamExt as _;
    let mut names: Vec<String> = domains::Entity::find()
        .select_only()
        .column(domains::Column::Name)
        .order_by_asc(domains::Column::Name)
        .into_tuple::<String>()
        .all(db)
        .await?;
    names.extend(
        zones::Entity::find()
            .select_only()
            .column(zones::Column::Hostname)
            .distinct()
            .into_tuple::<String>()
            .all(db)
            .await?,
    );
    names.sort();
    names.dedup();
    let total = names.len();
    let results: Vec<Result<(), ApiError>> = futures_util::stream::iter(names)
        .map(|name| async move {
            let view = checker.check(&name).await;
            keep(db, &view, &name).await
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok(total)
}

/// Checks every name at start and then every `every`, until the task is aborted.
pub fn spawn(
    db: DatabaseConnection,
    checker: std::sync::Arc<Checker>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match check_all(&db, &checker).await {
                Ok(n) => tracing::debug!(names = n, "DNS check of every name done"),
                Err(e) => tracing::warn!(error = %e, "the periodic DNS check could not run"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn verdicts() {
        let public = [ip("203.0.113.7"), ip("2001:db8::7")];
        assert_eq!(
            judge(&public, &[ip("203.0.113.7")], None),
            (Verdict::Pass, None)
        );
        assert_eq!(
            judge(&public, &[ip("203.0.113.7"), ip("2001:db8::7")], None).0,
            Verdict::Pass
        );
        let (verdict, why) = judge(&public, &[ip("203.0.113.7"), ip("198.51.100.1")], None);
        assert_eq!(verdict, Verdict::Fail);
        let why = why.unwrap();
        assert!(why.contains("198.51.100.1 is not the fleet's"), "{why}");
        assert!(why.contains("203.0.113.7, 2001:db8::7"), "{why}");
        assert_eq!(judge(&public, &[], None).0, Verdict::Fail);
        let (verdict, why) = judge(&public, &[], Some("x does not exist (NXDOMAIN)".into()));
        assert_eq!(verdict, Verdict::Fail);
        assert!(why.unwrap().contains("NXDOMAIN"));
        let (verdict, why) = judge(&[], &[ip("203.0.113.7")], None);
        assert_eq!(verdict, Verdict::Unconfigured);
        assert!(why.unwrap().contains("--public-addresses"));
    }

    #[test]
    fn a_wildcard_is_checked_at_a_label_under_it() {
        assert_eq!(
            probe_name("*.example.com"),
            "switchyard-dns-check.example.com"
        );
        assert_eq!(probe_name("app.example.com"), "app.example.com");
    }
}
