//! Switchyard's shared core: the domain model (zones, their route policies in
//! [`policy`]), the hostname rules and host matcher, which certificate serves which name
//! ([`certs`]: the one rule of the proxies' SNI choice and the panel's answers), and the
//! Redis key schema with the helpers that read and write it.
//!
//! Used by all three services (`proxy`, `panel-api`, `cert-worker`), so the rules live
//! in one place, as does their logging and tracing set-up ([`telemetry`]). This crate
//! must never do I/O of its own beyond the Redis helpers in [`store`] and the trace
//! exporter [`telemetry`] starts when an OTLP endpoint is configured: no Postgres, no
//! other HTTP, no files.

pub mod backend;
pub mod certs;
pub mod failover;
pub mod flat;
pub mod fleet;
pub mod hostname;
pub mod keys;
pub mod matcher;
pub mod model;
pub mod path;
pub mod policy;
pub mod redis_url;
pub mod route_match;
pub mod secrets;
pub mod store;
pub mod telemetry;

pub use backend::{BackendUrl, UrlTemplate};
pub use hostname::{HostPattern, HostnameError, normalize_hostname, normalize_request_host};
pub use keys::{FORMAT_VERSION, Keys};
pub use matcher::{HostMatcher, Specificity};
pub use model::{CertRecord, ChallengeRecord, HostRecord, ProxyStatus, Route, ZoneSpec};
pub use path::{RequestTarget, TargetError};
pub use store::{ChangeSet, Store, StoreError};
