//! Starts the real `switchyard-proxy` binary against a test's Redis prefix (the
//! harness's one launcher, [`switchyard_tests::proxy`]), and writes zones the way the
//! panel does (through the shared Redis contract).
#![allow(dead_code)] // each test file uses a different part of the harness

pub mod raw;

use switchyard_shared::model::{CertRecord, HostRecord};
use switchyard_shared::store::{Applied, ChangeSet, Store};
#[allow(unused_imports)] // not every test file uses each of them
pub use switchyard_tests::proxy::{HTTPS_REDIRECT_PORT, Proxy, ProxyOptions};

/// A zone record for `host` sending everything to `upstreams`.
pub fn zone(host: &str, upstreams: &[&str]) -> HostRecord {
    zone_json(
        host,
        serde_json::json!([{
            "zone_id": format!("z-{host}"),
            "upstreams": upstreams.iter().map(|u| serde_json::json!({"url": u})).collect::<Vec<_>>(),
        }]),
    )
}

/// A zone record from a JSON list of routes.
pub fn zone_json(host: &str, routes: serde_json::Value) -> HostRecord {
    let json = serde_json::json!({"host": host, "routes": routes});
    HostRecord::from_json(host, json.to_string().as_bytes()).expect("test zones are valid")
}

/// Writes zones as one batch.
pub async fn put_zones(store: &Store, zones: &[HostRecord]) -> Applied {
    let mut batch = ChangeSet::new();
    for z in zones {
        batch.put_zone(z);
    }
    store.apply(&batch).await.expect("write zones")
}

/// Writes certificates as one batch.
pub async fn put_certs(store: &Store, certs: &[CertRecord]) -> Applied {
    let mut batch = ChangeSet::new();
    for c in certs {
        batch.put_cert(c);
    }
    store.apply(&batch).await.expect("write certs")
}
