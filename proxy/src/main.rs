//! `switchyard-proxy`: parse configuration, start logging, build the Pingora server, run.
//! Pingora owns the runtimes, so this is a plain `fn main`.

use clap::Parser;
use switchyard_proxy::config::Config;
use tracing_subscriber::EnvFilter;

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
