//! `switchyard-status`, run as an operator would, against what proxies and the cert
//! worker publish under a private Redis prefix.

use std::process::Command;

use fred::interfaces::{HashesInterface as _, KeysInterface as _};
use switchyard_shared::ChangeSet;
use switchyard_shared::model::{HostRecord, ProxyStatus};
use switchyard_tests::redis::TestRedis;
use time::OffsetDateTime;

fn status(redis_url: &str, prefix: &str, json: bool) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard-status"));
    cmd.args(["--redis-url", redis_url, "--key-prefix", prefix])
        .env_remove("DATABASE_URL");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("switchyard-status runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn status_lists_proxies_heartbeats_and_says_what_needs_attention() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let keys = redis.keys().clone();
    let url = switchyard_tests::redis::redis_url();
    let record = HostRecord::from_json(
        "app.example.com",
        br#"{"host":"app.example.com","routes":[{"zone_id":"z","upstreams":[{"url":"http://127.0.0.1:9"}]}]}"#,
    )?;
    let version = redis
        .store()
        .apply(ChangeSet::new().put_zone(&record))
        .await?
        .version;

    // Nothing reported yet: the cert worker is down, no proxy; exit 1.
    let (code, out, _) = status(&url, keys.prefix(), false);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no proxy has reported yet"), "{out}");
    assert!(
        out.contains("the cert worker has no recent heartbeat"),
        "{out}"
    );

    let now = OffsetDateTime::now_utc();
    for (id, v) in [("edge-1", version), ("edge-2", version - 1)] {
        let s = ProxyStatus {
            reads_format: switchyard_shared::FORMAT_VERSION,
            id: id.into(),
            version: v,
            heartbeat_at: now,
            applied_at: now,
            zones: 1,
            certs: 0,
            replica_versions_behind: None,
            endpoints_down: 0,
        };
        let _: () = redis
            .client()
            .hset(keys.proxies(), (id, serde_json::to_string(&s)?))
            .await?;
    }
    let beat = now.format(&time::format_description::well_known::Rfc3339)?;
    let _: () = redis
        .client()
        .set(keys.heartbeat("cert-worker"), beat, None, None, false)
        .await?;
    let (code, out, _) = status(&url, keys.prefix(), false);
    assert_eq!(code, 1, "edge-2 is behind: {out}");
    let line = |id: &str| {
        out.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("edge-1").ends_with("current"), "{out}");
    assert!(line("edge-2").ends_with("BEHIND"), "{out}");
    assert!(out.contains(&format!(
        "proxy \"edge-2\" applies version {} of {version}",
        version - 1
    )));

    // edge-2 catches up: all well, exit 0; the JSON form is the health document. Its
    // upstream endpoints down are a notice, not a problem of the fleet.
    let s = ProxyStatus {
        reads_format: switchyard_shared::FORMAT_VERSION,
        id: "edge-2".into(),
        version,
        heartbeat_at: now,
        applied_at: now,
        zones: 1,
        certs: 0,
        replica_versions_behind: None,
        endpoints_down: 3,
    };
    let _: () = redis
        .client()
        .hset(keys.proxies(), ("edge-2", serde_json::to_string(&s)?))
        .await?;
    let (code, out, _) = status(&url, keys.prefix(), true);
    assert_eq!(code, 0, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out)?;
    assert_eq!(doc["status"], "ok");
    assert_eq!(doc["postgres"], "unchecked");
    assert_eq!(doc["proxies"].as_array().map(Vec::len), Some(2));
    assert_eq!(doc["proxies"][1]["endpoints_down"], 3);
    assert_eq!(
        doc["notices"],
        serde_json::json!([
            "proxy \"edge-2\": 3 upstream endpoints down (its admin API lists them: GET /upstreams?down=1)"
        ])
    );
    let (code, out, _) = status(&url, keys.prefix(), false);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("upstreams:\n  - proxy \"edge-2\": 3 upstream endpoints down"),
        "{out}"
    );

    // Redis unreachable: exit 2 with a message naming it, without credentials.
    let (code, _, err) = status("redis://user:hunter2@127.0.0.1:1", keys.prefix(), false);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read Redis at redis://"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    redis.cleanup().await
}
