use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{InvalidValue, SessionKey, Timestamp, UnknownVariant, UserId};

/// The connection state of a linked WhatsApp session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Not linked to a phone yet: waiting for a QR code scan or a pairing code.
    Pairing,
    /// Linked and online; statuses can be published.
    Connected,
    /// Linked but offline; the driver reconnects on its own.
    Disconnected,
    /// The phone removed the linked device; the session must be paired again.
    LoggedOut,
}

impl SessionState {
    pub const ALL: [SessionState; 4] =
        [SessionState::Pairing, SessionState::Connected, SessionState::Disconnected, SessionState::LoggedOut];

    pub const fn as_str(self) -> &'static str {
        match self {
            SessionState::Pairing => "pairing",
            SessionState::Connected => "connected",
            SessionState::Disconnected => "disconnected",
            SessionState::LoggedOut => "logged_out",
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionState {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

/// A WhatsApp number linked (or being linked) to wastatus as a companion device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub key: SessionKey,
    /// The user whose device this is, if any (see `POST /status/media`).
    pub owner: Option<UserId>,
    pub state: SessionState,
    /// Why it is in that state, when the driver says (live, not stored).
    pub reason: Option<StateReason>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Why a session is in its state, when the state alone does not say: replaced by another
/// client, banned, logged out by the phone, unable to reach WhatsApp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateReason {
    /// A stable snake_case code (`replaced`, `banned`, `logged_out`, `refused`, `offline`, …).
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
}

/// A session's live state, with the reason for it when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCondition {
    pub state: SessionState,
    pub reason: Option<StateReason>,
}

impl From<SessionState> for SessionCondition {
    fn from(state: SessionState) -> Self {
        Self { state, reason: None }
    }
}

/// How to link a session to a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairMethod {
    /// Show a QR code that the phone scans (WhatsApp → Linked devices).
    Qr,
    /// Get an 8-character code that the owner of `phone_number` types on the phone.
    Code { phone_number: PhoneNumber },
}

/// What the phone needs to complete pairing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pairing {
    Qr(QrCode),
    Code(PairingCode),
}

/// A QR payload to render and scan before it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    pub payload: String,
    pub expires_at: Timestamp,
}

/// A code to type on the phone before it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingCode {
    pub code: String,
    pub expires_at: Timestamp,
}

/// A phone number in international form, digits only (E.164 without `+`): 7 to 15 digits.
/// `+`, spaces, dashes, dots and parentheses are accepted and dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(&String::deserialize(d)?).map_err(|e| serde::de::Error::custom(e.message))
    }
}

impl PhoneNumber {
    pub fn new(raw: &str) -> Result<Self, InvalidValue> {
        let digits: String = raw.chars().filter(|c| !matches!(c, '+' | ' ' | '-' | '.' | '(' | ')')).collect();
        if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
            return Err(InvalidValue::new(
                "phone_number",
                "invalid_phone_number",
                "a phone number is 7 to 15 digits in international form, country code first (e.g. 919876543210)",
            ));
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalised_to_digits() {
        assert_eq!(PhoneNumber::new("+91 98765-43210").unwrap().as_str(), "919876543210");
        assert_eq!(PhoneNumber::new("(55) 11.99999.0000").unwrap().as_str(), "5511999990000");
        for bad in ["", "123", "0044123456789", "+1 555 CALL NOW", "1234567890123456"] {
            assert_eq!(PhoneNumber::new(bad).unwrap_err().code, "invalid_phone_number", "{bad:?}");
        }
    }

    #[test]
    fn states_round_trip() {
        for s in SessionState::ALL {
            assert_eq!(s.as_str().parse::<SessionState>().unwrap(), s);
        }
    }
}
