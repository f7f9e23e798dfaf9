//! The core of wastatus: what a WhatsApp Status is, how it moves through its lifecycle, the use
//! cases that drive it, and the ports (traits) through which the outside world is reached.
//!
//! This crate performs no I/O and depends on no I/O crate: no HTTP server, database driver,
//! async runtime or WhatsApp client. Adapters implement [`ports`]; the app wires them into the
//! services in [`service`]. A tidy test in `xtask` keeps it that way.
//!
//! Values are validated once, in the constructors of the types in [`model`]; a command struct
//! can only be built from validated values, so a use case never sees unchecked input.

pub mod model;
pub mod ports;
pub mod service;

pub use model::*;
