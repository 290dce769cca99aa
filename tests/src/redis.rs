//! Per-test Redis key prefixes.
//!
//! [`TestRedis::new`] connects to `SWITCHYARD_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`) and picks a fresh prefix `sy-test-<uuid>:`, so tests share
//! one Redis without seeing each other's keys. [`TestRedis::cleanup`] deletes exactly the
//! keys under that prefix (`SCAN MATCH` + `UNLINK`); dropping the value does the same on
//! a thread of its own when a test ends early. Nothing here ever flushes a database.

use std::time::Duration;

use anyhow::Context as _;
use fred::prelude::*;
use fred::types::scan::Scanner;
use switchyard_shared::Keys;
use switchyard_shared::store::{self, Store};

/// Environment variable naming the Redis the tests use.
pub const REDIS_URL_ENV: &str = "SWITCHYARD_TEST_REDIS_URL";

/// The project machines' Redis.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Every test prefix starts with this, so leftovers are recognisable.
pub const PREFIX_START: &str = "sy-test-";

/// Keys per `SCAN` page while cleaning up.
const SCAN_COUNT: u32 = 1_000;

/// The Redis URL the tests use.
pub fn redis_url() -> String {
    std::env::var(REDIS_URL_ENV).unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// One test's slice of the shared Redis.
pub struct TestRedis {
    url: String,
    keys: Keys,
    client: Client,
    cleaned: bool,
}

impl TestRedis {
    /// Connects and reserves a fresh prefix.
    pub async fn new() -> anyhow::Result<Self> {
        let url = redis_url();
        let client = tokio::time::timeout(Duration::from_secs(10), store::connect(&url))
            .await
            .with_context(|| format!("connecting to Redis at {url} timed out"))?
            .with_context(|| format!("connecting to Redis at {url}"))?;
        let prefix = format!("{PREFIX_START}{}:", uuid::Uuid::new_v4().simple());
        Ok(Self {
            url,
            keys: Keys::new(&prefix).expect("generated prefixes are valid"),
            client,
            cleaned: false,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn prefix(&self) -> &str {
        self.keys.prefix()
    }

    /// A raw client, for poking at keys the way an operator's `redis-cli` would.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The Redis contract under this test's prefix.
    pub fn store(&self) -> Store {
        Store::new(self.client.clone(), self.keys.clone())
    }

    /// Every key under this test's prefix, sorted.
    pub async fn all_keys(&self) -> anyhow::Result<Vec<String>> {
        scan_prefix(&self.client, &self.keys.all_keys_pattern()).await
    }

    /// Deletes every key under this test's prefix.
    pub async fn cleanup(mut self) -> anyhow::Result<()> {
        self.cleaned = true;
        delete_prefix(&self.client, &self.keys.all_keys_pattern()).await
    }
}

async fn scan_prefix(client: &Client, pattern: &str) -> anyhow::Result<Vec<String>> {
    use futures_util::StreamExt as _;
    let mut out = Vec::new();
    let pages = client.scan(pattern, Some(SCAN_COUNT), None);
    let mut pages = std::pin::pin!(pages);
    while let Some(page) = pages.next().await {
        let mut page = page?;
        if let Some(keys) = page.take_results() {
            out.extend(keys.into_iter().filter_map(|k| k.into_string()));
        }
        page.next();
    }
    out.sort();
    out.dedup();
    Ok(out)
}

async fn delete_prefix(client: &Client, pattern: &str) -> anyhow::Result<()> {
    let keys = scan_prefix(client, pattern).await?;
    for chunk in keys.chunks(SCAN_COUNT as usize) {
        let _: i64 = client.unlink(chunk.to_vec()).await?;
    }
    Ok(())
}

impl Drop for TestRedis {
    /// Best-effort cleanup when a test ends without [`TestRedis::cleanup`]; runs on its
    /// own thread and runtime because `Drop` cannot await and may be on a runtime thread.
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let url = self.url.clone();
        let pattern = self.keys.all_keys_pattern();
        let cleanup = std::thread::spawn(move || -> anyhow::Result<()> {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(async {
                    let client = store::connect(&url).await?;
                    delete_prefix(&client, &pattern).await
                })
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("redis prefix {} was not cleaned: {e:#}", self.prefix()),
            Err(_) => eprintln!(
                "redis prefix {} was not cleaned: cleanup panicked",
                self.prefix()
            ),
        }
    }
}
