//! `cert-worker` — Switchyard's certificate worker. It owns the ACME account and the
//! certificate orders: it obtains one wildcard certificate (`*.<domain>` and `<domain>`)
//! per domain by ACME DNS-01, answering the challenge through the domain's DNS provider
//! API (Cloudflare, DigitalOcean, Porkbun) or an operator (`manual`), and one certificate
//! per exact zone hostname that no DNS-automated domain covers by ACME HTTP-01, answered
//! by every proxy from a short-lived key it publishes in Redis; stores chain and
//! sealed key in PostgreSQL; publishes them to Redis for the proxies; and renews them
//! when the CA's ARI window (RFC 9773) says so, or once a third of their lifetime remains
//! when the CA offers no ARI. An account the CA forgot is registered anew. Failures are
//! stored on the certificate with the provider's or CA's own words, and retried with
//! capped exponential backoff — or when the CA's `Retry-After` says (rate limits).
//! Every certificate, issued or uploaded, has its days to expiry and renewal state in
//! the metrics; an optional webhook hears of failed orders and of certificates 14, 7 and
//! 3 days before they expire ([`notify`]).
//!
//! It must never serve HTTP traffic (its admin listener serves only metrics and health;
//! HTTP-01 answers are the proxies' to serve), never leave a challenge answer in Redis
//! past its validation (withdrawn after it, expiring by TTL if the worker dies), never
//! leave a TXT record it created behind (not even when killed: each record is logged
//! in its order's row, and the next claimant deletes what a dead worker left), never log
//! or return a secret, never order a certificate another instance is already ordering,
//! and never order again before a CA's `Retry-After` (at most a week) has passed.
//!
//! `docs/cert-worker.md` is the operator's guide.

pub mod acme;
pub mod config;
pub mod db;
pub mod dns;
pub mod metrics;
pub mod notify;
pub mod schedule;
pub mod worker;

pub use config::{Args, Config};
pub use worker::{Outcome, Worker};
