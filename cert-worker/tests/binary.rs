//! The `cert-worker` binary: `--help` documents the settings, and a bad configuration is
//! reported whole, with exit code 2, without printing secrets.

use std::process::Command;

#[test]
fn help_lists_the_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_cert-worker"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--acme-directory",
        "--secret-key",
        "--dns-resolvers",
        "--renew-secs",
        "--max-orders-per-hour",
        "--admin-listen",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn every_config_problem_is_reported_at_once() {
    let secret = "c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0";
    let out = Command::new(env!("CARGO_BIN_EXE_cert-worker"))
        .env_clear()
        .args(["--database-url", "postgres://u:hunter2@127.0.0.1/x"])
        .args(["--secret-key", secret])
        .args(["--acme-directory", "letsencrypt-prod"])
        .args(["--concurrency", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--secret-key: SWITCHYARD_SECRET_KEY decodes to 24 bytes"),
        "{err}"
    );
    assert!(
        err.contains("--acme-directory \"letsencrypt-prod\""),
        "{err}"
    );
    assert!(err.contains("--concurrency 0"), "{err}");
    assert!(
        !err.contains(secret) && !err.contains("hunter2"),
        "a secret was printed: {err}"
    );
}
