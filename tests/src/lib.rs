//! Test harness shared by Switchyard's cross-service tests.
//!
//! Every test talks to real services: PostgreSQL (`SWITCHYARD_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and Redis (`SWITCHYARD_TEST_REDIS_URL`,
//! default `redis://127.0.0.1:6379`). Each test isolates itself — its own database, its
//! own Redis key prefix — and cleans up after itself. It never flushes a shared Redis.
//!
//! One way to start each thing: [`stack::Stack::builder`] for a whole stack (panel as a
//! process or in the test's own process, proxies, cert worker, Pebble, fake DNS provider
//! APIs, a private PostgreSQL primary with a standby, a private Redis topology by URL);
//! [`proxy::ProxyOptions`] for a `switchyard-proxy`, [`stack::Panel`] for `panel-api`,
//! [`cert_worker::CertWorkerOptions`] for `cert-worker`, [`sentinel::RedisProcess`] for
//! a private `redis-server`, [`acme`] for Pebble and challtestsrv,
//! [`dns_providers::FakeProvider`] for a Cloudflare/DigitalOcean/Porkbun API; binaries
//! are found by [`bins::workspace_bin`].
//!
//! No test guesses a free port. Every service binds port 0 and reports the address it
//! got (a log line, or [`ports::sockets_of`] for programs that do not say); Redis, which
//! cannot bind port 0, is offered a candidate and kept only once `/proc` shows the child
//! owns it ([`ports`]).

pub mod acme;
pub mod acme_front;
pub mod bins;
pub mod cert_worker;
pub mod client;
pub mod dns_providers;
pub mod eventually;
pub mod load;
pub mod ports;
pub mod postgres;
pub mod postgres_pair;
pub mod process;
pub mod proxy;
pub mod redis;
pub mod relay;
pub mod sentinel;
pub mod stack;
pub mod upstream;
