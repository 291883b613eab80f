//! Policies of the admit phase, run in a fixed order: IP rules, authentication, then
//! authorization (plan, consumer tags, scopes, claims).
//!
//! Each policy either lets the request continue or returns a `ProxyError` that the edge
//! turns into a 401, 403 or 503 with the JSON error body.

pub mod auth;
pub mod client_ip;
pub mod http_client;
pub mod ip;
pub mod limit;
