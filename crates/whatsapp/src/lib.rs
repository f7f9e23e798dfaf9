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
//!   fail silently otherwise): `pairing`, `connected`, `disconnected`, `logged_out`, with a
//!   reason whenever the state alone does not say why. Its stable codes: `replaced` (another
//!   client took over the credentials), `banned` (until the ban expires), `logged_out`,
//!   `refused` (the server refused the connection for a reason reconnecting does not fix, e.g.
//!   an outdated client), `offline` (WhatsApp cannot be reached or the connection dropped; the
//!   client retries), `connecting` (a linked device is logging in), `qr_exhausted` (nobody
//!   scanned the QR codes in time), `pairing_failed` (the last pairing attempt went wrong;
//!   pairing goes on) and `stopped` (the session's client was stopped). The first four stop
//!   the session until an operator's `restart` ([`WebDriver::reconnect`]); a logged-out one
//!   must pair again. The full picture is [`WebDriver::status`]; see [`state`] for the machine.
//! - **Pairing** by QR code (the current code and its expiry; asking after the codes ran out
//!   starts a new round) or by an 8-character pairing code for a phone number.
//! - **Contacts** come from the phone's address book as WhatsApp syncs it to linked devices
//!   (app-state `contact` mutations, right after pairing and as they change), kept in memory
//!   and in `<session>.contacts.json`, and deleted with the device after a logout. A device
//!   that connects without any asks WhatsApp for the whole collection once. whatsapp-rust 0.7
//!   does not pass on deletions, so a contact removed on the phone stays listed until the
//!   device is linked again.
//! - **Publishing** text, image and video statuses: media uploaded with a time-out (reqwest,
//!   so the upload is really cancelled); the status's audience drawn from the contacts
//!   (`contacts`, `denylist`) or its allowlist and resolved to LIDs (phone numbers through the
//!   device's LID-PN cache, else a usync look-up), the people who cannot be resolved reported
//!   in the reach, and nobody left (or no contacts synced yet) failing with
//!   [`DriverError::NoRecipients`]; the message id chosen and journaled, with every recipient,
//!   before the first stanza leaves. A large audience goes in chunks of
//!   [`WebDriverConfig::status_chunk_size`] recipients under the same message id, one after
//!   the other, each confirmed by the server's acknowledgement before the next: a negative one
//!   is [`DriverError::ServerRejected`] with its code, none in time
//!   [`DriverError::Unconfirmed`] (the status may or may not be visible, and is never sent
//!   again), and a chunk that fails after others went says how many recipients already got
//!   the status (never as an error that would send it again). Errors are classified by their
//!   cause chain ([`errors`]).
//! - **Revoking** to the same recipients as the post, in the same chunks (kept in the
//!   journal), and **reconciling** an interrupted send from the journal ([`ledger`]): sent
//!   (with its recipient count) only once every chunk was acknowledged.
//!
//! [`WhatsAppDriver`]: wastatus_domain::ports::WhatsAppDriver
//! [`DriverError::ServerRejected`]: wastatus_domain::ports::DriverError::ServerRejected
//! [`DriverError::Unconfirmed`]: wastatus_domain::ports::DriverError::Unconfirmed
//! [`DriverError::NoRecipients`]: wastatus_domain::ports::DriverError::NoRecipients

pub mod config;
mod contacts;
mod driver;
pub mod errors;
pub mod http;
pub mod ledger;
pub mod send;
mod session;
pub mod state;

pub use config::{DeviceStore, WebDriverConfig};
pub use driver::{PublishReport, WebDriver, WebDriverBuilder};
pub use http::ReqwestHttpClient;
pub use send::StatusSender;
pub use state::{Connection, Link, SessionStatus, Terminal};
/// The whatsapp-rust crate this driver runs on, for callers that name its types (events, JIDs,
/// transports).
pub use whatsapp_rust;
