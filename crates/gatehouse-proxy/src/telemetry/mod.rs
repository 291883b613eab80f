//! Observability of the request path: Prometheus metrics and the access log.
//!
//! Diagnostic logs go through `tracing`; the access log is a separate stream on stdout with
//! one line per request, written in the log phase.

pub mod access_log;
pub mod metrics;
pub mod time;
