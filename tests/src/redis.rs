//! Per-test Redis key prefixes (placeholder, being written).
