//! Property tests of request-target normalisation (`switchyard_shared::path`): on random
//! targets built from the pieces attacks are made of, whatever is accepted is already
//! normal (normalising it again changes nothing), carries no dot segment, empty segment
//! or byte a request line may not hold, and its match path does not either; and a prefix
//! covers a target exactly when it covers the target's match path segment-wise.

use proptest::prelude::*;
use switchyard_shared::RequestTarget;
use switchyard_shared::path::prefix_covers;

fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "/", "//", ".", "..", "a", "admin", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C",
            "%3b", ";", ";x=1", "?", "&", "%61", "%7e", "~", "%", "%4", "%zz", "%00", "%20",
            "#", "\\", "%c3%a9", "é", ":", "@",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ]
}

fn target() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(piece(), 0..12).prop_map(|pieces| {
        let mut t = b"/".to_vec();
        for p in pieces {
            t.extend_from_slice(&p);
        }
        t
    })
}

fn path_is_normal(path: &str) {
    assert!(path.starts_with('/'), "{path}");
    assert!(!path.contains("//"), "{path}");
    for segment in path.split('/') {
        assert!(segment != "." && segment != "..", "{path}");
    }
    assert!(
        path.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'#' && b != b'\\'),
        "{path}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn accepted_targets_are_normal_and_stable(raw in target()) {
        if let Ok(t) = RequestTarget::parse(&raw) {
            path_is_normal(t.path());
            path_is_normal(t.match_path());
            let again = RequestTarget::parse(t.as_str().as_bytes()).expect("a normal target parses");
            prop_assert_eq!(again.as_str(), t.as_str());
            prop_assert_eq!(again.match_path(), t.match_path());
        }
    }

    #[test]
    fn prefixes_cover_the_match_path_segment_wise(raw in target(), prefix in prop::sample::select(vec!["", "/a", "/admin", "/a/admin"])) {
        if let Ok(t) = RequestTarget::parse(&raw) {
            let m = t.match_path();
            let want = prefix.is_empty() || m == prefix || m.starts_with(&format!("{prefix}/"));
            prop_assert_eq!(prefix_covers(prefix, &t), want);
        }
    }
}
