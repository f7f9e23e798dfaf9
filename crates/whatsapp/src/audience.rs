//! Who sees a session's statuses.
//!
//! whatsapp-rust posts a status to an explicit list of recipients (an empty list is an error),
//! and the domain's publish request cannot say who yet (its `audience` field is still to come).
//! Until then the driver asks an [`AudienceProvider`] for each publish. Recipients are
//! phone-number JIDs (`<digits>@s.whatsapp.net`) or LIDs (`<digits>@lid`); the driver resolves
//! phone numbers to LIDs before sending and reports the ones it cannot resolve.

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use wastatus_domain::{SessionKey, Status};
use whatsapp_rust::Jid;

/// Says who should see a status.
#[async_trait]
pub trait AudienceProvider: Send + Sync {
    /// The recipients of `status`, posted by `session`. An empty list makes the publish fail
    /// with a device error (nobody would see it).
    async fn audience(&self, session: &SessionKey, status: &Status) -> anyhow::Result<Vec<Jid>>;
}

/// The same recipients for every status of a session, configured up front: a default list,
/// and per-session lists that replace it.
#[derive(Debug, Clone, Default)]
pub struct StaticAudience {
    default: Vec<Jid>,
    sessions: HashMap<SessionKey, Vec<Jid>>,
}

impl StaticAudience {
    /// `default` for every session. Entries are phone numbers (digits, `+`, spaces and dashes
    /// allowed) or JIDs (`…@s.whatsapp.net`, `…@lid`).
    pub fn new<S: AsRef<str>>(default: &[S]) -> Result<Self, String> {
        Ok(Self { default: parse_recipients(default)?, sessions: HashMap::new() })
    }

    /// Uses `recipients` for `session` instead of the default list.
    pub fn with_session<S: AsRef<str>>(mut self, session: SessionKey, recipients: &[S]) -> Result<Self, String> {
        self.sessions.insert(session, parse_recipients(recipients)?);
        Ok(self)
    }
}

#[async_trait]
impl AudienceProvider for StaticAudience {
    async fn audience(&self, session: &SessionKey, _status: &Status) -> anyhow::Result<Vec<Jid>> {
        Ok(self.sessions.get(session).unwrap_or(&self.default).clone())
    }
}

/// Recipients as people write them: phone numbers in international form, or user JIDs.
pub fn parse_recipients<S: AsRef<str>>(raw: &[S]) -> Result<Vec<Jid>, String> {
    raw.iter().map(|r| parse_recipient(r.as_ref())).collect()
}

/// One recipient: a phone number (`+91 98765-43210`) or a user JID (`…@s.whatsapp.net`,
/// `…@lid`).
pub fn parse_recipient(raw: &str) -> Result<Jid, String> {
    let raw = raw.trim();
    if raw.contains('@') {
        let jid = Jid::from_str(raw).map_err(|e| format!("{raw:?} is not a valid JID: {e}"))?;
        if !(jid.is_pn() || jid.is_lid()) {
            return Err(format!("{raw:?} is not a person's JID (…@s.whatsapp.net or …@lid)"));
        }
        return Ok(jid);
    }
    let phone = wastatus_domain::PhoneNumber::new(raw).map_err(|e| format!("{raw:?}: {}", e.message))?;
    Ok(Jid::pn(phone.as_str()))
}
