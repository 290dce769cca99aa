//! Polling with a deadline (placeholder, being written).
