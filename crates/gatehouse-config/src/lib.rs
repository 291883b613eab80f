//! Gatehouse configuration in two of its three layers.
//!
//! `file` mirrors the YAML with serde; `validate` turns it into the checked `model`, collecting
//! every problem as a `Diagnostic` with file, line, column and key path. The third layer, the
//! runtime objects built from the model, lives in `gatehouse-proxy`.

pub mod diagnostic;
pub mod file;
pub mod identity;
pub mod keys;
pub mod limits;
pub mod model;
pub mod precedence;
pub mod redact;
pub mod units;
pub mod validate;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use model::Config;
pub use validate::{load_file, load_str};
