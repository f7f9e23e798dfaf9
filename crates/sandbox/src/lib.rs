//! The sandbox WhatsApp driver: a local, deterministic, in-memory stand-in for WhatsApp.
//!
//! [`SandboxDriver`] implements the domain's [`WhatsAppDriver`] and [`FaultInjector`] ports so
//! that the whole product can be tried and tested with no phone and no network. At the port
//! boundary it behaves like the real driver (a linked companion device of the WhatsApp Web
//! multi-device protocol): the same states, the same errors, QR payloads and pairing codes of
//! the same shape, and `3EB0…` message ids. Unlike the real driver, pairing completes at once,
//! and faults happen only when they are injected.
//!
//! Everything it sends is recorded and can be inspected with [`SandboxDriver::sent`] and
//! [`SandboxDriver::revocations`].
//!
//! # Session states
//!
//! ```text
//!             start               pair (QR or code)
//! (unknown) ───────► pairing ─────────────────────────► connected ◄──────────────┐
//!                                                        │     ▲                 │
//!                                             Disconnect │     │ Reconnect       │ pair (QR or code),
//!                                                        ▼     │                 │ as a new device
//!                                                      disconnected              │
//!                                                                                │
//!                      connected or disconnected ── logout ──► logged_out ───────┘
//! ```
//!
//! `remove` forgets a session in any state; the next `start` begins again in `pairing`. In full
//! (→ marks a transition, a name alone the error returned):
//!
//! | operation        | pairing            | connected         | disconnected      | logged_out              |
//! |------------------|--------------------|-------------------|-------------------|-------------------------|
//! | `start`          | pairing            | connected         | disconnected      | logged_out              |
//! | `qr`             | current/fresh code | `NoQrCode`        | `NoQrCode`        | `NoQrCode`              |
//! | `pair`           | → connected        | `AlreadyPaired`   | `AlreadyPaired`   | → connected (new keys)  |
//! | `publish`        | `NotPaired`        | sent, or a fault  | `Disconnected`    | `LoggedOut`             |
//! | `revoke`         | `NotPaired`        | sent, or `DeviceError` | `Disconnected` | `LoggedOut`           |
//! | `logout`         | `NotPaired`        | → logged_out      | → logged_out      | `LoggedOut`             |
//! | `Disconnect`     | `NotPaired`        | → disconnected    | (stays)           | `LoggedOut`             |
//! | `Reconnect`      | `NotPaired`        | (stays)           | → connected       | `LoggedOut`             |
//! | publish faults   | queued             | queued            | queued            | queued                  |
//!
//! Every operation but `start` and `remove` answers `UnknownSession` for a session that was
//! never started or was removed. A publish fault is used up only by a publish that reaches the
//! (simulated) server, that is, one made while `connected`.
//!
//! [`WhatsAppDriver`]: wastatus_domain::ports::WhatsAppDriver
//! [`FaultInjector`]: wastatus_domain::ports::FaultInjector

mod device;
mod driver;
mod records;
mod rng;

pub use driver::SandboxDriver;
pub use records::{Revocation, SentMedia, SentMessage};
