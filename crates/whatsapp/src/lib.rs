//! The web WhatsApp driver (`whatsapp.driver = "web"`): sessions linked to real WhatsApp
//! numbers as companion devices of the WhatsApp Web multi-device protocol, on the
//! `whatsapp-rust` crate.
//!
//! [`WebDriver`] implements the domain's [`WhatsAppDriver`] port:
//!
//! - **Sessions.** One whatsapp-rust client per session on the shared Tokio runtime, its device
//!   state in one SQLite file per session (`<dir>/<tenant>/<session>.db`). `start` opens it
//!   and connects in the background; a stored device resumes, a new one begins pairing. The
//!   client reconnects by itself after drops (Fibonacci back-off, up to 15 minutes); a client
//!   that stops anyway is rebuilt after a back-off of ours. [`WebDriver::shutdown`] stops them
//!   all within a grace period.
//! - **State** comes from the client's events and from watching its connection attempts (which
//!   fail silently otherwise): `pairing`, `connected`, `disconnected` (with the reason: no
//!   network, dropped, replaced by another client, banned until …), `logged_out`. The full
//!   picture, reason included, is [`WebDriver::status`]; see [`state`] for the machine.
//! - **Pairing** by QR code (the current code and its expiry; asking after the codes ran out
//!   starts a new round) or by an 8-character pairing code for a phone number.
//! - **Publishing** text, image and video statuses: media uploaded with a time-out (reqwest,
//!   so the upload is really cancelled), the audience resolved to LIDs, the message id chosen
//!   and journaled before the stanza leaves, and the publish confirmed only by the server's
//!   acknowledgement of that id (a negative one is [`DriverError::ServerRejected`]). Errors are
//!   classified by their cause chain ([`errors`]).
//! - **Revoking** to the same recipients as the post (kept in the journal), and **reconciling**
//!   an interrupted send from the journal ([`ledger`]).
//!
//! Who sees a status comes from an [`AudienceProvider`] until the domain's publish request
//! carries an audience.
//!
//! [`WhatsAppDriver`]: wastatus_domain::ports::WhatsAppDriver
//! [`DriverError::ServerRejected`]: wastatus_domain::ports::DriverError::ServerRejected

pub mod audience;
pub mod config;
mod driver;
pub mod errors;
pub mod http;
pub mod ledger;
mod session;
pub mod state;

pub use audience::{AudienceProvider, StaticAudience, parse_recipient, parse_recipients};
pub use config::{DeviceStore, WebDriverConfig};
pub use driver::{PublishReport, WebDriver, WebDriverBuilder};
pub use http::ReqwestHttpClient;
pub use state::{Connection, Link, SessionStatus, Terminal};
/// The whatsapp-rust crate this driver runs on, for callers that name its types (events, JIDs,
/// transports).
pub use whatsapp_rust;
