//! Entities, value objects and the status lifecycle.

mod access;
mod audience;
mod event;
mod ids;
mod media;
mod page;
mod session;
mod status;
mod tenant;
mod text;
mod webhook;

pub use access::*;
pub use audience::*;
pub use event::*;
pub use ids::*;
pub use media::*;
pub use page::*;
pub use session::*;
pub use status::*;
pub use tenant::*;
pub use text::*;
pub use webhook::*;

/// An instant in UTC. Adapters store it with microsecond precision; the [`crate::ports::Clock`]
/// truncates to that precision so a value survives a round trip through storage unchanged.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A value that failed validation: which field, and why, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl InvalidValue {
    pub fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self { field, code, message: message.into() }
    }
}
