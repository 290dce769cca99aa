//! `switchyard-proxy`: parse and validate configuration, start logging (and tracing, when
//! an OTLP endpoint is set), build the Pingora server, run. Pingora owns the runtimes, so
//! this is a plain `fn main`.

use clap::Parser;
use switchyard_proxy::config::Config;
use switchyard_shared::telemetry;

/// mimalloc instead of glibc malloc: a request allocates and frees many small objects
/// (headers, buffers, futures), which glibc served at ~9% of the proxy's CPU; mimalloc's
/// per-thread free lists make that cheaper, and it gives freed pages back to the system,
/// so the transient memory of a full load at a million zones does not stay resident.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Before anything can touch OpenSSL (see the module's header).
    switchyard_proxy::openssl_alloc::install();
    let config = Config::parse();
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
    // JSON logs, and OTLP traces when an endpoint is configured (exported from a thread
    // of the SDK's own: this main has no async runtime).
    let mut telemetry = match telemetry::init("switchyard-proxy", config.otlp_endpoint.as_ref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("switchyard-proxy: invalid configuration:\n  - {e}");
            std::process::exit(2);
        }
    };
    match switchyard_proxy::build_server(&config, settings) {
        Ok((server, run_args)) => {
            // What `run_forever` does, with the last spans sent and the access log's
            // pending lines written before the exit.
            server.run(run_args);
            switchyard_proxy::access_log::flush();
            telemetry.shutdown();
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("switchyard-proxy: cannot start: {e:#}");
            telemetry.shutdown();
            std::process::exit(1);
        }
    }
}
