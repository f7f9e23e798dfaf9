//! Credentials for wastatus: how secrets are made, recognised and checked, and how fast they may
//! be used.
//!
//! Each type implements one of the domain's ports:
//!
//! | type | port | what |
//! |---|---|---|
//! | [`ApiKeyMint`] | [`KeyMint`](wastatus_domain::ports::KeyMint) | API keys (`wsk_` + 40 base62 characters) and per-user tokens (random UUID v4s); only their SHA-256 digests are stored |
//! | [`Argon2Passwords`] | [`PasswordHasher`](wastatus_domain::ports::PasswordHasher) | argon2id password hashes (PHC strings), computed on the blocking pool |
//! | [`JwtTokens`] | [`AccessTokens`](wastatus_domain::ports::AccessTokens) | short-lived HS256 JWTs it issues, and RS256/EdDSA JWTs from configured public keys |
//! | [`SessionPace`] | [`PublishPace`](wastatus_domain::ports::PublishPace) | how fast each session may publish, on a [`KeyedLimiter`] |
//!
//! [`KeyedLimiter`] is also usable on its own, for limits keyed by anything else (client
//! addresses, usernames at login, …).
//!
//! Every check of a presented credential refuses malformed input before any lookup or
//! cryptography, and none of them panics, whatever the input.

mod api_key;
mod jwt;
mod limit;
mod password;
mod user_token;

pub use api_key::ApiKeyMint;
pub use jwt::{JwtConfig, JwtConfigError, JwtPublicKey, JwtTokens};
pub use limit::{KeyedLimiter, SessionPace};
pub use password::{Argon2ParamsError, Argon2Passwords};
