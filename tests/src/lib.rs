//! Test harness shared by Switchyard's cross-service tests.
//!
//! Every test talks to real services: PostgreSQL (`SWITCHYARD_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and Redis (`SWITCHYARD_TEST_REDIS_URL`,
//! default `redis://127.0.0.1:6379`). Each test isolates itself — its own database, its
//! own Redis key prefix — and cleans up after itself. It never flushes a shared Redis.

pub mod acme;
pub mod acme_front;
pub mod bins;
pub mod client;
pub mod eventually;
pub mod load;
pub mod postgres;
pub mod postgres_pair;
pub mod process;
pub mod redis;
pub mod relay;
pub mod sentinel;
pub mod stack;
pub mod upstream;
