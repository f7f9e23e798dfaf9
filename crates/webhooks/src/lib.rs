//! The webhook adapter of wastatus: delivering events to the endpoints tenants register.
//!
//! - [`signing`]: signing secrets (`whsec_` + base64 of random bytes, [`SecretMint`]) and
//!   [Standard Webhooks](https://www.standardwebhooks.com/) signatures, with the receiver's
//!   check ([`signing::verify`]) for tests and examples.
//! - [`render`]: the bodies, `native` (`{"type", "timestamp", "data"}`) or `walytic` (Walytic's
//!   flat `statusUpdated` object).
//! - [`target`]: where webhooks may go: the address rules of media fetching ([`TargetGuard`]
//!   checks URLs at registration).
//! - [`sender`]: [`HttpSender`], which renders, signs and POSTs, applying the address rules
//!   again at every attempt (no redirects, a time-out, no proxy).
//! - [`dispatcher`]: the loop the app spawns ([`run`]): fan-out from the outbox, claims, a
//!   bounded pool of attempts, woken by a [`Nudge`].
//! - [`config`]: the `webhooks` configuration section ([`WebhookConfig`]).

pub mod config;
pub mod dispatcher;
pub mod render;
pub mod sender;
pub mod signing;
pub mod target;

pub use config::WebhookConfig;
pub use dispatcher::{DispatcherConfig, Nudge, run};
pub use sender::HttpSender;
pub use signing::SecretMint;
pub use target::TargetGuard;
