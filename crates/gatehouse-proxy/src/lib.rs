//! The Gatehouse request path.
//!
//! A request moves through the phases listed in `phase::Phase` (accept, parse, route, admit,
//! transform request, forward, transform response, log). `listener` accepts connections on
//! one tokio `current_thread` runtime per worker thread, `handler` runs the phases against the
//! current `snapshot`, `upstream` owns pools and balancing, `admin` serves health, metrics and
//! reload, and `gateway` starts and stops it all.

pub mod admin;
pub mod body;
pub mod error;
pub mod gateway;
pub mod h1;
pub mod handler;
pub mod headers;
pub mod listener;
pub mod phase;
pub mod policy;
pub mod reload;
pub mod route;
pub mod snapshot;
pub mod telemetry;
pub mod tls;
pub mod upstream;

pub use gateway::{Gateway, GatewayOptions};
