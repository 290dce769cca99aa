//! Benchmark driver for `bench/cert.sh` (see its header for the method): time to issue
//! one wildcard certificate against Pebble, cert-worker vs lego, and a renewal sweep over
//! 10,000 certificates none of which is due. Prints figures and ratios.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use support::providers::{FakeProvider, Kind, Mode};
use switchyard_cert_worker::Outcome;
use switchyard_tests::acme::AcmeEnv;
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::redis::TestRedis;

const RUNS: usize = 5;
const SWEEP_CERTS: i64 = 10_000;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let fake = FakeProvider::start(
        Kind::Cloudflare,
        "bench.example",
        Mode::Normal,
        vec![env.dns.management_url()],
    )
    .await;
    let credential = support::insert_credential(
        &conn,
        fake.provider(),
        Some(fake.secret()),
        Some(fake.base_url()),
    )
    .await?;
    let config = support::config(
        &env,
        database.url(),
        redis.url(),
        redis.prefix(),
        env.dns.dns_addr(),
        &[],
    );
    let worker = support::worker(config).await;

    // --- cert-worker: a warm-up order registers the account; then RUNS timed orders.
    let mut ours = Vec::new();
    for run in 0..=RUNS {
        let id = support::insert_certificate(
            &conn,
            &format!("cw{run}.bench.example"),
            Some(credential),
            "pending",
        )
        .await?;
        let start = Instant::now();
        let outcome = worker.run_once(support::no_shutdown()).await?;
        let took = start.elapsed();
        anyhow::ensure!(
            outcome == vec![(id, Outcome::Issued)],
            "cert-worker run {run}: {outcome:?}"
        );
        if run > 0 {
            ours.push(took);
        }
    }

    // --- lego: same Pebble, same DNS, records set through an exec hook; warm-up run
    // registers its account, then RUNS timed runs.
    let dir = std::env::temp_dir().join(format!("sy-lego-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let hook = dir.join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n# lego exec hook: present|cleanup FQDN VALUE\ncase $1 in\n  present) curl -sf -X POST -d \"{{\\\"host\\\":\\\"$2\\\",\\\"value\\\":\\\"$3\\\"}}\" {m}/set-txt ;;\n  cleanup) curl -sf -X POST -d \"{{\\\"host\\\":\\\"$2\\\"}}\" {m}/clear-txt ;;\nesac\n",
            m = env.dns.management_url()
        ),
    )?;
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&hook)
        .status()?;
    let mut lego = Vec::new();
    for run in 0..=RUNS {
        let domain = format!("lego{run}.bench.example");
        let start = Instant::now();
        let out = tokio::process::Command::new("lego")
            .env("LEGO_CA_CERTIFICATES", env.pebble.listener_ca_file())
            .env("EXEC_PATH", &hook)
            .env("EXEC_POLLING_INTERVAL", "1")
            .env("EXEC_PROPAGATION_TIMEOUT", "30")
            .env("EXEC_SEQUENCE_INTERVAL", "1")
            .args(["--server", &env.pebble.directory_url()])
            .args([
                "--accept-tos",
                "--email",
                "ops@example.com",
                "--dns",
                "exec",
            ])
            .args([
                "--dns.resolvers",
                &env.dns.dns_addr().to_string(),
                "--dns.disable-cp",
            ])
            .args(["--domains", &format!("*.{domain}"), "--domains", &domain])
            .args(["--path", dir.to_str().unwrap(), "run"])
            .output()
            .await?;
        let took = start.elapsed();
        anyhow::ensure!(
            out.status.success(),
            "lego run {run} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if run > 0 {
            lego.push(took);
        }
    }
    std::fs::remove_dir_all(&dir).ok();

    let (o, l) = (median(ours.clone()), median(lego.clone()));
    println!(
        "issue one wildcard certificate (*.d + d) against Pebble, median of {RUNS}, account already registered:"
    );
    println!(
        "  cert-worker  {:>8.1} ms   runs {:?}",
        o.as_secs_f64() * 1e3,
        ours.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );
    println!(
        "  lego         {:>8.1} ms   runs {:?}",
        l.as_secs_f64() * 1e3,
        lego.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );
    println!(
        "  ratio cert-worker / lego = {:.2} (target <= 1.0)",
        o.as_secs_f64() / l.as_secs_f64()
    );

    // --- renewal sweep over 10,000 certificates, none due (issued a day ago, 90 days).
    conn.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        format!(
            "WITH d AS (INSERT INTO domains (name) SELECT 'sweep' || g || '.example' FROM generate_series(1, {SWEEP_CERTS}) g RETURNING id, name)
             INSERT INTO certificates (domain_id, names, status, chain_pem, not_before, not_after, next_attempt_at)
             SELECT id, jsonb_build_array('*.' || name, name), 'active', 'x', now() - interval '1 day', now() + interval '89 days', now() + interval '59 days' FROM d"
        ),
    ))
    .await?;
    conn.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        "ANALYZE certificates",
    ))
    .await?;
    let mut sweeps = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let due = worker.sweep().await?;
        sweeps.push(start.elapsed());
        anyhow::ensure!(due == 0, "{due} certificates were due");
    }
    let s = median(sweeps.clone());
    println!(
        "renewal sweep over {SWEEP_CERTS} active certificates, none due (sweep + expiry metric), median of {RUNS}:"
    );
    println!(
        "  {:>8.1} ms   runs {:?}  (target < 1000 ms, ratio {:.3})",
        s.as_secs_f64() * 1e3,
        sweeps
            .iter()
            .map(|d| d.as_micros() as f64 / 1e3)
            .collect::<Vec<_>>(),
        s.as_secs_f64()
    );

    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}
