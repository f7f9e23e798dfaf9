use std::fmt;

use super::{ApiKeyId, Name, Scopes, TenantId, Timestamp};

/// An organisation using wastatus. Everything else belongs to exactly one tenant, and no query
/// crosses tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: Name,
    pub created_at: Timestamp,
}

/// The SHA-256 digest of an API key's secret. Only this is stored; the secret is shown once.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Short and harmless in logs.
        write!(f, "KeyHash({:02x}{:02x}{:02x}{:02x}…)", self.0[0], self.0[1], self.0[2], self.0[3])
    }
}

/// An API key as stored: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant: TenantId,
    pub name: Option<Name>,
    /// The first characters of the secret (`wsk_AbCd…`), so a person can tell keys apart.
    pub display_prefix: String,
    pub hash: KeyHash,
    /// What the key may do.
    pub scopes: Scopes,
    pub created_at: Timestamp,
    /// After this instant the key is refused, as if revoked.
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ApiKey {
    /// Whether the key may be used at `now`: neither revoked nor expired.
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

/// A newly created key together with its secret, which exists only in this value. Its
/// `Debug` output leaves the secret out.
#[derive(Clone)]
pub struct IssuedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

impl fmt::Debug for IssuedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedApiKey").field("key", &self.key).field("secret", &"<redacted>").finish()
    }
}
