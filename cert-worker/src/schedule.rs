//! The certificate state machine and the timing rules: when a certificate is due for
//! renewal, and how long to wait after a failure. Pure functions, so the rules are
//! tested as tables and the SQL in [`crate::db`] can be checked against them.

use std::time::Duration;

use time::OffsetDateTime;

/// `certificates.status`.
///
/// ```text
/// pending ──ok──▶ active ──due──▶ renewing ──ok──▶ active
///    │                               │
///    └─fail─▶ failed ──ok──▶ active  └─fail─▶ failed_renewal ──ok──▶ active
/// ```
///
/// `failed` and `failed_renewal` are retried with backoff; in `renewing` and
/// `failed_renewal` the previous certificate keeps being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    Pending,
    Active,
    Renewing,
    Failed,
    FailedRenewal,
}

impl CertStatus {
    pub const ALL: [CertStatus; 5] = [
        CertStatus::Pending,
        CertStatus::Active,
        CertStatus::Renewing,
        CertStatus::Failed,
        CertStatus::FailedRenewal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CertStatus::Pending => "pending",
            CertStatus::Active => "active",
            CertStatus::Renewing => "renewing",
            CertStatus::Failed => "failed",
            CertStatus::FailedRenewal => "failed_renewal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the worker orders a certificate in this state (when its time has come).
    pub fn wants_order(self) -> bool {
        self != CertStatus::Active
    }

    /// The state after a certificate was issued.
    pub fn after_success(self) -> CertStatus {
        CertStatus::Active
    }

    /// The state after an attempt failed: a first issuance fails to `failed`, a renewal
    /// to `failed_renewal` (the old certificate is still valid and still served).
    pub fn after_failure(self) -> CertStatus {
        match self {
            CertStatus::Pending | CertStatus::Failed => CertStatus::Failed,
            CertStatus::Active | CertStatus::Renewing | CertStatus::FailedRenewal => {
                CertStatus::FailedRenewal
            }
        }
    }
}

/// Delay before the next attempt after `attempts` consecutive failures (1 = the first
/// failure): `base`, doubling per failure, never more than `cap`.
pub fn backoff(attempts: u32, base: Duration, cap: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).min(32);
    base.checked_mul(1u32 << doublings.min(31))
        .unwrap_or(cap)
        .min(cap)
}

/// When a certificate valid from `not_before` to `not_after` should be renewed: once
/// less than a third of its lifetime remains (30 days for a 90-day certificate). Unknown
/// dates mean "now": a certificate whose validity we cannot tell is renewed.
pub fn renewal_at(
    not_before: Option<OffsetDateTime>,
    not_after: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> OffsetDateTime {
    match (not_before, not_after) {
        (Some(nb), Some(na)) if na > nb => na - (na - nb) / 3,
        _ => now,
    }
}

/// Whether a certificate is due for renewal at `now` (see [`renewal_at`]). An expired
/// certificate is always due.
pub fn renewal_due(
    not_before: Option<OffsetDateTime>,
    not_after: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> bool {
    renewal_at(not_before, not_after, now) <= now
}

/// The longest wait a CA's `Retry-After` may impose on a certificate: a later date is
/// most likely a mistake (a CA's own rate-limit windows are hours to a week), and a
/// certificate must not go quiet for longer without anyone trying again.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(7 * 86_400);

/// Reads a `Retry-After` header value (RFC 9110 §10.2.3): a number of seconds, or an
/// HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`). `None` when it is neither.
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return now.checked_add(time::Duration::seconds(
            i64::try_from(seconds).unwrap_or(i64::MAX),
        ));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(value, format)
        .ok()
        .map(|t| t.assume_utc())
}

/// When to try again after a failure the CA answered with a `Retry-After`: that time,
/// never earlier than now and never later than [`MAX_RETRY_AFTER`] from now. `None`
/// without one: the usual [`backoff`] applies.
pub fn ca_retry_at(
    retry_after: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    retry_after.map(|at| at.clamp(now, now + MAX_RETRY_AFTER))
}

/// The shortest and longest time between two ARI polls of one certificate (RFC 9773
/// §4.3.2 lets the CA say by `Retry-After`; these bound a CA's mistake either way).
pub const ARI_POLL_MIN: Duration = Duration::from_secs(60);
pub const ARI_POLL_MAX: Duration = Duration::from_secs(86_400);
/// How long to wait before asking again when the CA's `renewalInfo` could not be read:
/// meanwhile the last window read, or else the one-third rule, holds.
pub const ARI_POLL_AFTER_ERROR: Duration = Duration::from_secs(3_600);

/// The next ARI poll after an answer that asked to wait `retry_after`.
pub fn ari_next_poll(retry_after: Duration, now: OffsetDateTime) -> OffsetDateTime {
    now + retry_after.clamp(ARI_POLL_MIN, ARI_POLL_MAX)
}

/// When to renew, from the CA's suggested window (RFC 9773 §4.2): a window that has
/// begun means now; otherwise the point `fraction` (uniform in `[0, 1)`, so that
/// certificates spread over the window as the RFC asks) of the way through it. Never
/// after `not_after`. `None` for a window that ends before it starts (the RFC says to
/// ignore it): the one-third rule ([`renewal_at`]) holds.
pub fn ari_renewal_at(
    start: OffsetDateTime,
    end: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
    fraction: f64,
) -> Option<OffsetDateTime> {
    if end < start {
        return None;
    }
    if start <= now {
        return Some(now);
    }
    let at = start + (end - start) * fraction.clamp(0.0, 1.0);
    Some(at.min(not_after).max(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn failures_keep_serving_the_old_certificate() {
        use CertStatus::*;
        for (from, fail, ok) in [
            (Pending, Failed, Active),
            (Failed, Failed, Active),
            (Renewing, FailedRenewal, Active),
            (FailedRenewal, FailedRenewal, Active),
        ] {
            assert_eq!(from.after_failure(), fail, "{from:?} fails");
            assert_eq!(from.after_success(), ok, "{from:?} succeeds");
            assert!(from.wants_order());
        }
        assert!(!Active.wants_order());
        for st in CertStatus::ALL {
            assert_eq!(CertStatus::parse(st.as_str()), Some(st));
        }
        assert_eq!(CertStatus::parse("expired"), None);
    }

    #[test]
    fn short_lived_certificates_are_not_renewed_daily() {
        // The full rules table runs in tests/renewal.rs, against this function and the
        // SQL sweep alike. A short-lived certificate is not renewed every day: a 6-day certificate issued
        // now is next due 4 days later, not tomorrow.
        let now = datetime!(2026-11-22 12:00 UTC);
        let six = now + time::Duration::days(6);
        assert_eq!(
            renewal_at(Some(now), Some(six), now),
            now + time::Duration::days(4)
        );
        assert!(!renewal_due(
            Some(now),
            Some(six),
            now + time::Duration::days(1)
        ));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (base, cap) = (Duration::from_secs(60), Duration::from_secs(3600));
        let table = [
            (0, 60),
            (1, 60),
            (2, 120),
            (3, 240),
            (6, 1920),
            (7, 3600),
            (40, 3600),
            (u32::MAX, 3600),
        ];
        for (attempts, secs) in table {
            assert_eq!(
                backoff(attempts, base, cap),
                Duration::from_secs(secs),
                "after {attempts} failures"
            );
        }
    }

    #[test]
    fn retry_after_as_seconds_or_http_date_clamped_to_a_week() {
        let now = datetime!(2026-12-07 03:00 UTC);
        assert_eq!(
            parse_retry_after("3600", now),
            Some(now + time::Duration::hours(1))
        );
        assert_eq!(
            parse_retry_after(" Mon, 07 Dec 2026 05:30:00 GMT ", now),
            Some(datetime!(2026-12-07 05:30 UTC))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        let day = time::Duration::days(1);
        for (sent, expected) in [
            (None, None),
            (Some(now + day), Some(now + day)),
            (Some(now - day), Some(now)),
            (Some(now + day * 30), Some(now + day * 7)),
        ] {
            assert_eq!(ca_retry_at(sent, now), expected, "{sent:?}");
        }
    }

    #[test]
    fn ari_window_rules() {
        let now = datetime!(2026-12-07 03:00 UTC);
        let d = time::Duration::days;
        let not_after = now + d(60);
        // Begun (or past): renew now.
        assert_eq!(
            ari_renewal_at(now - d(2), now - d(1), not_after, now, 0.5),
            Some(now)
        );
        assert_eq!(
            ari_renewal_at(now, now + d(1), not_after, now, 0.9),
            Some(now)
        );
        // Ahead: the given fraction of the way through it.
        assert_eq!(
            ari_renewal_at(now + d(10), now + d(12), not_after, now, 0.0),
            Some(now + d(10))
        );
        assert_eq!(
            ari_renewal_at(now + d(10), now + d(12), not_after, now, 0.5),
            Some(now + d(11))
        );
        // Never after the certificate expires.
        assert_eq!(
            ari_renewal_at(now + d(50), now + d(90), not_after, now, 0.9),
            Some(not_after)
        );
        // Inverted: ignored.
        assert_eq!(
            ari_renewal_at(now + d(2), now + d(1), not_after, now, 0.5),
            None
        );
        // Polls as the CA asks, within bounds.
        assert_eq!(
            ari_next_poll(Duration::from_secs(6 * 3600), now),
            now + d(1) / 4
        );
        assert_eq!(ari_next_poll(Duration::ZERO, now), now + ARI_POLL_MIN);
        assert_eq!(
            ari_next_poll(Duration::from_secs(30 * 86_400), now),
            now + ARI_POLL_MAX
        );
    }
}
