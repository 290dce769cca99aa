//! The propagation check against a real DNS server (pebble-challtestsrv): values are
//! seen exactly when the server has them, including under special-use names such as
//! `*.localhost` that a stub resolver answers itself without asking (RFC 6761) — the
//! local stack's demo certificate is for `*.localhost`.

use std::time::Duration;

use switchyard_cert_worker::dns::propagation::Propagation;
use switchyard_tests::acme::ChallTestSrv;

fn at(dns: &ChallTestSrv) -> Propagation {
    Propagation {
        resolvers: vec![dns.dns_addr()],
        timeout: Duration::from_secs(5),
        poll: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn txt_values_are_read_from_the_server_itself() -> anyhow::Result<()> {
    let dns = ChallTestSrv::start().await?;
    let check = at(&dns);
    for (zone, fqdn) in [
        ("localhost", "_acme-challenge.localhost"),
        ("example.test", "_acme-challenge.example.test"),
    ] {
        let values = vec!["first-value".to_owned(), "second-value".to_owned()];
        // Nothing published: not visible, and the answer says what was seen.
        let seen = check.check_once(zone, fqdn, &values).await?.unwrap_err();
        assert!(seen.contains("answers 0 value(s)"), "{fqdn}: {seen}");
        // One of two: still not visible, the missing one named.
        dns.set_txt(fqdn, "first-value").await?;
        let seen = check.check_once(zone, fqdn, &values).await?.unwrap_err();
        assert!(seen.contains("second-value"), "{fqdn}: {seen}");
        // Both: visible, and waiting for it returns at once.
        dns.set_txt(fqdn, "second-value").await?;
        check
            .check_once(zone, fqdn, &values)
            .await?
            .map_err(anyhow::Error::msg)?;
        check.wait_visible(zone, fqdn, &values).await?;
    }
    Ok(())
}
