//! Which certificate serves which name: the one rule that both the proxy's SNI choice
//! (`proxy/src/tls.rs` through its snapshot) and the panel's "which certificate does
//! this hostname get" answer (`GET /zones/{id}/certificate`, `GET /certificates/uncovered`)
//! use, so the two cannot disagree.
//!
//! The rule, for a normalised server name `a.example.com`:
//! 1. **Exact beats wildcard**: a certificate naming `a.example.com` itself is chosen
//!    over one naming `*.example.com` (a wildcard covers exactly one label, as X.509
//!    says: `*.example.com` covers neither `example.com` nor `b.a.example.com`).
//! 2. Among certificates covering the name the same way, **uploaded beats issued**
//!    ([`CertSource`]): an operator who brings a certificate for a name means it to serve.
//! 3. Then the one **stored under that very name**: a certificate for exactly
//!    `example.com` (a per-host certificate ordered by HTTP-01) over a wildcard
//!    certificate that also lists its apex `example.com`.
//! 4. Then the one that **expires last** (a renewed certificate wins over the old one
//!    while both are around).
//! 5. Then the smaller stored name ([`CertSource::member`]), so the answer never depends
//!    on the order certificates were added.
//!
//! Expiry is a tie-breaker only: an expired certificate still serves when it is the
//! best (or the only) one — a choice that changes with the clock would make the proxies'
//! answer depend on when their snapshot was built.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where a certificate comes from.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CertSource {
    /// Ordered from the ACME CA by cert-worker, renewed automatically.
    #[default]
    Issued,
    /// Brought by an operator through the panel; never renewed automatically.
    Uploaded,
}

/// What an uploaded certificate's member name starts with; `:` is in no hostname, so
/// no issued certificate's name can look like one.
pub const UPLOADED_MEMBER_PREFIX: &str = "uploaded:";

impl CertSource {
    pub fn is_issued(&self) -> bool {
        *self == CertSource::Issued
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CertSource::Issued => "issued",
            CertSource::Uploaded => "uploaded",
        }
    }

    /// The name a certificate stored under `name` (`*.example.com`, `app.example.com`)
    /// has in Redis: its key is `cert:<member>`, and the `certs` index and the change
    /// feed list it by this. Issued certificates keep their name (as always); uploaded
    /// ones are `uploaded:<name>`, so an uploaded and an issued certificate for the
    /// same name are both there and the proxies choose by [the rule](self).
    pub fn member(self, name: &str) -> String {
        match self {
            CertSource::Issued => name.to_owned(),
            CertSource::Uploaded => format!("{UPLOADED_MEMBER_PREFIX}{name}"),
        }
    }

    /// The source and stored name of a member name ([`CertSource::member`]'s inverse).
    pub fn of_member(member: &str) -> (CertSource, &str) {
        match member.strip_prefix(UPLOADED_MEMBER_PREFIX) {
            Some(name) => (CertSource::Uploaded, name),
            None => (CertSource::Issued, member),
        }
    }
}

/// How a certificate covers a server name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Coverage {
    /// By `*.<parent>`.
    Wildcard,
    /// By the name itself.
    Exact,
}

/// The certificate names that could cover `server_name`, best first: the name itself,
/// then the wildcard of its parent (`a.example.com` → `*.example.com`; a name of one
/// label has none). Every coverage question goes through this.
pub fn covering_names(server_name: &str) -> impl Iterator<Item = (Coverage, Cow<'_, str>)> {
    let wildcard = server_name
        .split_once('.')
        .filter(|(_, parent)| !parent.is_empty())
        .map(|(_, parent)| (Coverage::Wildcard, Cow::Owned(format!("*.{parent}"))));
    std::iter::once((Coverage::Exact, Cow::Borrowed(server_name))).chain(wildcard)
}

/// How a certificate naming `names` covers `server_name` (all normalised), if at all.
pub fn coverage<'a>(
    names: impl IntoIterator<Item = &'a str> + Clone,
    server_name: &str,
) -> Option<Coverage> {
    covering_names(server_name)
        .find(|(_, wanted)| names.clone().into_iter().any(|n| n == wanted.as_ref()))
        .map(|(how, _)| how)
}

/// What the choice knows of a certificate besides its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its member name ([`CertSource::member`]): unique, the last tie-breaker.
    pub member: String,
    pub source: CertSource,
    pub not_after: OffsetDateTime,
}

impl Candidate {
    /// Whether `self` is preferred over `other` for `name`, which both cover the same
    /// way: rules 2–5 of [the module](self).
    pub fn beats(&self, other: &Candidate, name: &str) -> bool {
        let rank = |c: &'_ Candidate| {
            (
                c.source,
                CertSource::of_member(&c.member).1 == name,
                c.not_after,
                std::cmp::Reverse(c.member.clone()),
            )
        };
        rank(self) > rank(other)
    }
}

/// The certificate chosen for a name, and how it covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chosen<'a, T> {
    pub value: &'a T,
    pub candidate: &'a Candidate,
    pub coverage: Coverage,
}

/// Certificates by every name they cover, the preferred one kept per name: built once
/// (when a proxy's snapshot changes, or per panel request), then one or two hash
/// lookups per question, whatever the number of certificates.
#[derive(Debug, Clone)]
pub struct CertIndex<T> {
    by_name: HashMap<String, (Candidate, T)>,
}

impl<T> Default for CertIndex<T> {
    fn default() -> Self {
        Self {
            by_name: HashMap::new(),
        }
    }
}

impl<T: Clone> CertIndex<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a certificate covering `names` (normalised: `*.example.com`,
    /// `example.com`); for each name it keeps whichever of it and the one there
    /// [`Candidate::beats`] the other for that name.
    pub fn insert<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a str>,
        candidate: &Candidate,
        value: T,
    ) {
        for name in names {
            let keep = self
                .by_name
                .get(name)
                .is_none_or(|(there, _)| candidate.beats(there, name));
            if keep {
                self.by_name
                    .insert(name.to_owned(), (candidate.clone(), value.clone()));
            }
        }
    }

    /// The certificate that serves `server_name` (normalised), by [the rule](self).
    pub fn for_name(&self, server_name: &str) -> Option<Chosen<'_, T>> {
        covering_names(server_name).find_map(|(coverage, name)| {
            self.by_name
                .get(name.as_ref())
                .map(|(candidate, value)| Chosen {
                    value,
                    candidate,
                    coverage,
                })
        })
    }

    /// How many names are covered.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn cand(member: &str, source: CertSource, year: i32) -> Candidate {
        Candidate {
            member: member.into(),
            source,
            not_after: datetime!(2027-01-01 0:00 UTC).replace_year(year).unwrap(),
        }
    }

    fn index(certs: &[(&[&str], Candidate)]) -> CertIndex<String> {
        let mut index = CertIndex::new();
        for (names, c) in certs {
            index.insert(names.iter().copied(), c, c.member.clone());
        }
        index
    }

    fn chosen(index: &CertIndex<String>, name: &str) -> Option<(String, Coverage)> {
        index.for_name(name).map(|c| (c.value.clone(), c.coverage))
    }

    #[test]
    fn exact_beats_wildcard_whatever_the_source() {
        let i = index(&[
            (
                &["*.example.com", "example.com"],
                cand("uploaded:*.example.com", CertSource::Uploaded, 2030),
            ),
            (
                &["app.example.com"],
                cand("app.example.com", CertSource::Issued, 2027),
            ),
        ]);
        assert_eq!(
            chosen(&i, "app.example.com"),
            Some(("app.example.com".into(), Coverage::Exact))
        );
        assert_eq!(
            chosen(&i, "web.example.com"),
            Some(("uploaded:*.example.com".into(), Coverage::Wildcard))
        );
        assert_eq!(
            chosen(&i, "example.com"),
            Some(("uploaded:*.example.com".into(), Coverage::Exact))
        );
    }

    #[test]
    fn uploaded_beats_issued_for_the_same_name_in_any_order() {
        let issued = (
            &["*.example.com", "example.com"][..],
            cand("*.example.com", CertSource::Issued, 2030),
        );
        let uploaded = (
            &["*.example.com", "example.com"][..],
            cand("uploaded:*.example.com", CertSource::Uploaded, 2027),
        );
        for order in [
            [issued.clone(), uploaded.clone()],
            [uploaded.clone(), issued.clone()],
        ] {
            let i = index(&order);
            assert_eq!(
                chosen(&i, "a.example.com").unwrap().0,
                "uploaded:*.example.com"
            );
            assert_eq!(
                chosen(&i, "example.com").unwrap().0,
                "uploaded:*.example.com"
            );
        }
    }

    #[test]
    fn same_source_later_expiry_then_member_name() {
        let i = index(&[
            (&["a.example.com"], cand("m-old", CertSource::Issued, 2027)),
            (&["a.example.com"], cand("m-new", CertSource::Issued, 2028)),
        ]);
        assert_eq!(chosen(&i, "a.example.com").unwrap().0, "m-new");
        let tie = [
            (&["a.example.com"][..], cand("b", CertSource::Issued, 2027)),
            (&["a.example.com"][..], cand("a", CertSource::Issued, 2027)),
        ];
        assert_eq!(chosen(&index(&tie), "a.example.com").unwrap().0, "a");
        let reversed = [tie[1].clone(), tie[0].clone()];
        assert_eq!(chosen(&index(&reversed), "a.example.com").unwrap().0, "a");
    }

    #[test]
    fn a_wildcard_covers_one_label_only() {
        let i = index(&[(
            &["*.example.com"],
            cand("*.example.com", CertSource::Issued, 2027),
        )]);
        assert_eq!(chosen(&i, "example.com"), None);
        assert_eq!(chosen(&i, "b.a.example.com"), None);
        assert_eq!(chosen(&i, "com"), None);
        assert_eq!(chosen(&i, "other.org"), None);
        assert!(chosen(&i, "a.example.com").is_some());
    }

    #[test]
    fn coverage_of_a_name_list() {
        let names = ["*.example.com", "example.com"];
        assert_eq!(
            coverage(names.iter().copied(), "example.com"),
            Some(Coverage::Exact)
        );
        assert_eq!(
            coverage(names.iter().copied(), "x.example.com"),
            Some(Coverage::Wildcard)
        );
        assert_eq!(
            coverage(names.iter().copied(), "*.example.com"),
            Some(Coverage::Exact)
        );
        assert_eq!(coverage(names.iter().copied(), "y.x.example.com"), None);
    }

    #[test]
    fn member_names_round_trip() {
        assert_eq!(CertSource::Issued.member("*.a.com"), "*.a.com");
        assert_eq!(CertSource::Uploaded.member("*.a.com"), "uploaded:*.a.com");
        assert_eq!(
            CertSource::of_member("uploaded:*.a.com"),
            (CertSource::Uploaded, "*.a.com")
        );
        assert_eq!(
            CertSource::of_member("*.a.com"),
            (CertSource::Issued, "*.a.com")
        );
    }

    #[test]
    fn a_certificate_for_exactly_the_name_beats_a_wildcard_listing_it() {
        // `*.example.com` lists its apex too; the per-host `example.com` is for it alone.
        let wildcard = cand("*.example.com", CertSource::Issued, 2036);
        let host = cand("example.com", CertSource::Issued, 2027);
        let idx = index(&[
            (&["*.example.com", "example.com"], wildcard.clone()),
            (&["example.com"], host.clone()),
        ]);
        assert_eq!(
            chosen(&idx, "example.com"),
            Some(("example.com".into(), Coverage::Exact))
        );
        assert_eq!(
            chosen(&idx, "a.example.com"),
            Some(("*.example.com".into(), Coverage::Wildcard))
        );
        // Added the other way round: the same answer.
        let idx = index(&[
            (&["example.com"], host),
            (&["*.example.com", "example.com"], wildcard),
        ]);
        assert_eq!(
            chosen(&idx, "example.com"),
            Some(("example.com".into(), Coverage::Exact))
        );
    }
}
