use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::InvalidValue;

/// A UUID identifier type with `Display`, `FromStr` and transparent serde. Used by the other
/// model modules too (webhooks' ids).
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

pub(crate) use uuid_id;

uuid_id!(
    /// A tenant: the unit of isolation. Every session, status and credential belongs to one.
    TenantId
);
uuid_id!(
    /// A status update, assigned by wastatus when a publish is accepted (UUID v7, so ids sort
    /// roughly by creation time).
    StatusId
);
uuid_id!(
    /// An API key's public identifier (not its secret).
    ApiKeyId
);
uuid_id!(
    /// Something that happened (a status published, a session connected, …), as recorded in
    /// the outbox for webhooks. UUID v7, so ids sort by time.
    EventId
);
uuid_id!(
    /// A person (or program) of a tenant with a per-user token, and optionally a password for
    /// the dashboard.
    UserId
);

/// A session's identifier, chosen by the client (`session-main`, `shop-919876543210`, …).
///
/// 1–64 characters of ASCII letters, digits, `-`, `_` and `.`, starting with a letter or digit.
/// Unique within a tenant; two tenants may use the same id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    pub const MAX_LEN: usize = 64;

    pub fn new(raw: impl Into<String>) -> Result<Self, InvalidValue> {
        let raw = raw.into();
        let invalid = |message: &str| Err(InvalidValue::new("id", "invalid_session_id", message));
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return invalid("a session id has 1 to 64 characters");
        }
        if !raw.as_bytes()[0].is_ascii_alphanumeric() {
            return invalid("a session id starts with a letter or a digit");
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
            return invalid("a session id may contain only letters, digits, '-', '_' and '.'");
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A session as the drivers know it: its tenant and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub tenant: TenantId,
    pub id: SessionId,
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.id)
    }
}

/// The id WhatsApp gives a sent message (`3EB0…` for messages sent from companion devices).
/// Needed to revoke the status later.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    pub fn new(raw: impl Into<String>) -> Result<Self, InvalidValue> {
        let raw = raw.into();
        if raw.is_empty() || raw.len() > 128 || !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(InvalidValue::new(
                "message_id",
                "invalid_message_id",
                "a message id has 1 to 128 ASCII letters and digits",
            ));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_accept_the_documented_alphabet() {
        for ok in ["session-main", "a", "shop_919876543210", "v1.2", &"x".repeat(64)] {
            assert_eq!(SessionId::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn session_ids_refuse_everything_else() {
        for bad in ["", "-lead", ".hidden", "with space", "slash/y", "ü", &"x".repeat(65)] {
            let err = SessionId::new(bad).unwrap_err();
            assert_eq!(err.code, "invalid_session_id", "{bad:?}");
        }
    }

    #[test]
    fn message_ids_are_alphanumeric() {
        assert!(MessageId::new("3EB0A1B2C3D4E5F6A7B8C9D0").is_ok());
        assert!(MessageId::new("").is_err());
        assert!(MessageId::new("3EB0-1").is_err());
    }
}
