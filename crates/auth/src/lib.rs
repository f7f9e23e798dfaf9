//! Credentials for wastatus: how secrets are made, recognised and hashed.
//!
//! For now this is the API key mint ([`ApiKeyMint`]), which implements the domain's
//! [`KeyMint`](wastatus_domain::ports::KeyMint) port. Per-user tokens and JWTs will live in
//! modules of their own next to it.

mod api_key;

pub use api_key::ApiKeyMint;
