//! The sandbox WhatsApp driver: a local, deterministic stand-in for WhatsApp, in memory or kept
//! in a journal that survives restarts.
//!
//! [`SandboxDriver`] implements the domain's [`WhatsAppDriver`] and [`FaultInjector`] ports so
//! that the whole product can be tried and tested with no phone and no network. At the port
//! boundary it behaves like the real driver (a linked companion device of the WhatsApp Web
//! multi-device protocol): the same states, the same errors, QR payloads and pairing codes of
//! the same shape, and `3EB0…` message ids. Unlike the real driver, pairing completes at once,
//! and faults happen only when they are injected.
//!
//! Everything it sends is recorded and can be inspected with [`SandboxDriver::sent`] and
//! [`SandboxDriver::revocations`] (and, through the port, [`FaultInjector::sent`]). A status
//! sent twice is recorded twice: the record is what proves that no status was sent more than
//! once, and [`WhatsAppDriver::reconcile`] answers from it.
//!
//! # Audience
//!
//! A linked sandbox session has four contacts ([`audience::contacts`]); a status goes to the
//! audience its request names (all contacts, an allowlist or a denylist), and the recipients
//! of each send are recorded. A phone number is "on WhatsApp" unless it ends in `0000` (such
//! recipients are reported as unresolved, and an audience of only those fails with
//! `NoRecipients`); every LID is.
//!
//! # Persistence
//!
//! [`SandboxDriver::new`] and [`SandboxDriver::with_seed`] keep everything in memory: after a
//! restart every session is unknown again (and starts pairing on first use) and the record of
//! sent messages is gone. [`SandboxDriver::persistent`] keeps an append-only journal,
//! `sandbox-journal.jsonl` (JSON lines), in a directory of its own, and reads it back when it
//! starts: linked sessions come back in their state (`connected`, `disconnected`,
//! `logged_out`), with every message they sent and every revocation. Each line is written
//! before the operation it records returns, so a publish that returned a message id is in the
//! journal even if the process is killed at once; a line torn by such a kill is dropped when the
//! journal is read. Sessions still pairing and queued publish faults are not kept. A journal
//! belongs to one process at a time: two processes must not share a directory (the driver locks
//! the file, and a second driver fails to open it).
//!
//! Each line of the journal is a JSON object whose `op` names what it records: a header
//! (`{"op":"journal","version":1,"created_at":…}`) first, then `paired` (with `method` and, for
//! a pairing code, `phone_number`), `disconnected`, `reconnected`, `logged_out`, `removed`,
//! `sent` (`message_id`, `status_id`, `status_type`, `view_once`, `sent_at`, and the text,
//! colour, font, caption and media metadata, not the media bytes) and `revoked` (`message_id`,
//! `status_id`, `revoked_at`). Every line names the session by `tenant` and `session`; times are
//! RFC 3339.
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
//! | `restart`        | (stays)            | (stays)           | → connected       | `LoggedOut`             |
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
//! [`FaultInjector::sent`]: wastatus_domain::ports::FaultInjector::sent
//! [`WhatsAppDriver::reconcile`]: wastatus_domain::ports::WhatsAppDriver::reconcile

pub mod audience;
mod device;
mod driver;
mod journal;
mod records;
mod rng;

pub use driver::SandboxDriver;
pub use records::{Revocation, SentMedia, SentMessage};
