//! `switchyard-proxy`: parse configuration, start logging, build the Pingora server, run.
//! Pingora owns the runtimes, so this is a plain `fn main`.

use clap::Parser;
use switchyard_proxy::config::Config;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc malloc: a request allocates and frees many small objects
/// (headers, buffers, futures), which glibc served at ~9% of the proxy's CPU; mimalloc's
/// per-thread free lists make that cheaper, and it gives freed pages back to the system,
/// so the transient memory of a full load at a million zones does not stay resident.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let settings = match config.validate() {
        Ok(s) => s,
        Err(problems) => {
            eprintln!(
                "switchyard-proxy: invalid configuration:\n  - {}",
                problems.join("\n  - ")
            );
            std::process::exit(2);
        }
    };
    match switchyard_proxy::build_server(&config, settings) {
        Ok(server) => server.run_forever(),
        Err(e) => {
            eprintln!("switchyard-proxy: cannot start: {e:#}");
            std::process::exit(1);
        }
    }
}
