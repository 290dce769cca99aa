//! Property tests: the trie matcher agrees with the plain definition — every pattern
//! checked one by one with `HostPattern::matches`, the winner chosen by `Specificity` —
//! on random tables and hosts, including after removals.

use proptest::prelude::*;
use switchyard_shared::{HostMatcher, HostPattern, Specificity};

/// A small alphabet makes collisions between patterns and hosts likely.
fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned),
        1 => Just("*".to_owned()),
    ]
}

fn pattern() -> impl Strategy<Value = Option<HostPattern>> {
    (prop::collection::vec(label(), 1..5), 0u8..4).prop_map(|(mut labels, many)| {
        match many {
            1 => labels.insert(0, "**".into()),
            2 => labels.push("**".into()),
            _ => {}
        }
        HostPattern::parse(&labels.join(".")).ok()
    })
}

fn host() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..7).prop_map(|l| l.join("."))
}

fn reference<'a>(table: &'a [HostPattern], host: &str) -> Option<&'a HostPattern> {
    table
        .iter()
        .filter(|p| p.matches(host))
        .max_by_key(|p| Specificity::of(p))
}

fn dedup(patterns: Vec<Option<HostPattern>>) -> Vec<HostPattern> {
    let mut out: Vec<HostPattern> = patterns.into_iter().flatten().collect();
    out.sort();
    out.dedup();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn trie_agrees_with_reference(
        patterns in prop::collection::vec(pattern(), 0..30),
        hosts in prop::collection::vec(host(), 1..20),
    ) {
        let table = dedup(patterns);
        let matcher: HostMatcher<HostPattern> =
            table.iter().map(|p| (p.clone(), p.clone())).collect();
        prop_assert_eq!(matcher.len(), table.len());
        for h in &hosts {
            let got = matcher.lookup(h);
            prop_assert_eq!(got, reference(&table, h), "host {}", h);
        }
    }

    #[test]
    fn trie_agrees_after_removals(
        patterns in prop::collection::vec(pattern(), 1..30),
        remove in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        hosts in prop::collection::vec(host(), 1..20),
    ) {
        let mut table = dedup(patterns);
        let mut matcher: HostMatcher<HostPattern> =
            table.iter().map(|p| (p.clone(), p.clone())).collect();
        for idx in remove {
            if table.is_empty() {
                break;
            }
            let gone = table.remove(idx.index(table.len()));
            prop_assert_eq!(matcher.remove(&gone), Some(gone.clone()));
        }
        prop_assert_eq!(matcher.len(), table.len());
        for h in &hosts {
            let got = matcher.lookup(h);
            prop_assert_eq!(got, reference(&table, h), "host {}", h);
        }
    }

    #[test]
    fn insertion_order_does_not_matter(
        patterns in prop::collection::vec(pattern(), 0..30),
        hosts in prop::collection::vec(host(), 1..20),
    ) {
        let table = dedup(patterns);
        let forward: HostMatcher<HostPattern> =
            table.iter().map(|p| (p.clone(), p.clone())).collect();
        let backward: HostMatcher<HostPattern> =
            table.iter().rev().map(|p| (p.clone(), p.clone())).collect();
        for h in &hosts {
            prop_assert_eq!(
                forward.lookup(h),
                backward.lookup(h)
            );
        }
    }
}
