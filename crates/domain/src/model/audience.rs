//! Who sees a status: the audience a client asks for, the contacts it is drawn from, and the
//! reach a driver reports.
//!
//! WhatsApp posts a status to an explicit list of people. A client names them by phone number
//! or by WhatsApp's own id for a person (a LID, `…@lid`); the driver resolves every phone
//! number to a LID before sending and reports the ones it could not resolve. The sender is
//! always included by the driver, whatever the audience.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{InvalidValue, PhoneNumber};

/// A person a status can be shown to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Recipient {
    /// A phone number, resolved to the person's LID when the status is sent.
    Phone(PhoneNumber),
    /// WhatsApp's id for a person (the digits of a `…@lid` JID).
    Lid(Lid),
}

impl Recipient {
    /// A phone number in international form (`+91 98765-43210`), a phone-number JID
    /// (`919876543210@s.whatsapp.net`, `@c.us` also accepted) or a LID (`…@lid`).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let raw = raw.trim();
        let invalid = || {
            // Quote at most the start of what was sent: the message goes back to the client.
            let shown: String = raw.chars().take(64).collect();
            let more = if shown.len() < raw.len() { "…" } else { "" };
            InvalidValue::new(
                "audience",
                "invalid_recipient",
                format!(
                    "{shown:?}{more} is not a recipient: use a phone number in international form (+919876543210), \
                     a JID (919876543210@s.whatsapp.net) or a LID (…@lid)"
                ),
            )
        };
        match raw.split_once('@') {
            None => PhoneNumber::new(raw).map(Recipient::Phone).map_err(|_| invalid()),
            Some((user, "s.whatsapp.net" | "c.us")) => {
                PhoneNumber::new(user).map(Recipient::Phone).map_err(|_| invalid())
            }
            Some((user, "lid")) => Lid::new(user).map(Recipient::Lid).map_err(|_| invalid()),
            Some(_) => Err(invalid()),
        }
    }
}

/// `+919876543210` for a phone number, `123456789012345@lid` for a LID.
impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::Phone(phone) => write!(f, "+{}", phone.as_str()),
            Recipient::Lid(lid) => write!(f, "{}@lid", lid.as_str()),
        }
    }
}

impl FromStr for Recipient {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Recipient {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Recipient {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// The user part of a LID JID: 1 to 20 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Lid(String);

impl Lid {
    pub fn new(digits: &str) -> Result<Self, InvalidValue> {
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidValue::new("lid", "invalid_recipient", "a LID is 1 to 20 digits before @lid"));
        }
        Ok(Self(digits.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Lid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(&String::deserialize(d)?).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Who sees a status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Audience {
    /// Every contact of the linked account, as its address book was last synced.
    #[default]
    Contacts,
    /// Only these people (contacts or not).
    Allowlist { jids: Vec<Recipient> },
    /// Every contact except these.
    Denylist { jids: Vec<Recipient> },
}

impl Audience {
    /// The most people a list may name.
    pub const MAX_LISTED: usize = 50_000;

    /// Only the people in `raw` (phone numbers or JIDs; duplicates are dropped). The list must
    /// name someone.
    pub fn allowlist<S: AsRef<str>>(raw: &[S]) -> Result<Self, InvalidValue> {
        let jids = listed(raw)?;
        if jids.is_empty() {
            return Err(InvalidValue::new(
                "audience",
                "empty_audience",
                "an allowlist names at least one recipient; use {\"mode\": \"contacts\"} for all contacts",
            ));
        }
        Ok(Audience::Allowlist { jids })
    }

    /// All contacts but the people in `raw` (an empty list means all contacts).
    pub fn denylist<S: AsRef<str>>(raw: &[S]) -> Result<Self, InvalidValue> {
        Ok(Audience::Denylist { jids: listed(raw)? })
    }

    /// `contacts`, `allowlist` or `denylist`.
    pub const fn mode(&self) -> &'static str {
        match self {
            Audience::Contacts => "contacts",
            Audience::Allowlist { .. } => "allowlist",
            Audience::Denylist { .. } => "denylist",
        }
    }

    /// The people the list names (none for `contacts`).
    pub fn listed(&self) -> &[Recipient] {
        match self {
            Audience::Contacts => &[],
            Audience::Allowlist { jids } | Audience::Denylist { jids } => jids,
        }
    }

    /// Who to send to, given the linked account's contacts: the allowlist as is, or the
    /// contacts (minus the denylist), each named by its LID when known and its phone number
    /// otherwise. Contacts the deny list names by either are left out. Sorted, no duplicates.
    pub fn select(&self, contacts: &[Contact]) -> Vec<Recipient> {
        let mut chosen: Vec<Recipient> = match self {
            Audience::Allowlist { jids } => jids.clone(),
            Audience::Contacts => contacts.iter().filter_map(Contact::recipient).collect(),
            Audience::Denylist { jids } => {
                let denied: HashSet<&Recipient> = jids.iter().collect();
                contacts
                    .iter()
                    .filter(|c| !c.identities().any(|r| denied.contains(&r)))
                    .filter_map(Contact::recipient)
                    .collect()
            }
        };
        chosen.sort();
        chosen.dedup();
        chosen
    }
}

fn listed<S: AsRef<str>>(raw: &[S]) -> Result<Vec<Recipient>, InvalidValue> {
    if raw.len() > Audience::MAX_LISTED {
        return Err(InvalidValue::new(
            "audience",
            "audience_too_large",
            format!("an audience list names at most {} recipients", Audience::MAX_LISTED),
        ));
    }
    let mut jids = raw.iter().map(|r| Recipient::parse(r.as_ref())).collect::<Result<Vec<_>, _>>()?;
    jids.sort();
    jids.dedup();
    Ok(jids)
}

/// A person in the linked account's address book, as WhatsApp synced it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Contact {
    pub phone: Option<PhoneNumber>,
    pub lid: Option<Lid>,
    /// The name the account saved for them.
    pub name: Option<String>,
}

impl Contact {
    /// How to address the contact: by LID when known (no look-up needed), else by phone.
    pub fn recipient(&self) -> Option<Recipient> {
        self.lid.clone().map(Recipient::Lid).or_else(|| self.phone.clone().map(Recipient::Phone))
    }

    /// Every way the contact can be named.
    fn identities(&self) -> impl Iterator<Item = Recipient> + '_ {
        let phone = self.phone.clone().map(Recipient::Phone);
        let lid = self.lid.clone().map(Recipient::Lid);
        phone.into_iter().chain(lid)
    }
}

/// Who a published status went to, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reach {
    /// How many people it was sent to (the sender's own devices not counted).
    pub recipients: u32,
    /// The people of the audience that could not be resolved to a WhatsApp account (not on
    /// WhatsApp, or the look-up failed); the status was not sent to them.
    pub unresolved: Vec<Recipient>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(raw: &str) -> Recipient {
        Recipient::parse(raw).unwrap()
    }

    fn contact(phone: Option<&str>, lid: Option<&str>) -> Contact {
        Contact {
            phone: phone.map(|p| PhoneNumber::new(p).unwrap()),
            lid: lid.map(|l| Lid::new(l).unwrap()),
            name: None,
        }
    }

    #[test]
    fn recipients_are_read_in_the_forms_people_write_them() {
        assert_eq!(r("+91 98765-43210"), r("919876543210@s.whatsapp.net"));
        assert_eq!(r("919876543210@c.us").to_string(), "+919876543210");
        assert_eq!(r(" 123456789012345@lid ").to_string(), "123456789012345@lid");
        for bad in ["", "12", "abc@lid", "@lid", "120363@g.us", "status@broadcast", "9198765@s.whatsapp.net:1"] {
            assert_eq!(Recipient::parse(bad).unwrap_err().code, "invalid_recipient", "{bad:?}");
        }
    }

    #[test]
    fn recipients_round_trip_through_json() {
        let list = vec![r("+15550100001"), r("42@lid")];
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, r#"["+15550100001","42@lid"]"#);
        assert_eq!(serde_json::from_str::<Vec<Recipient>>(&json).unwrap(), list);
    }

    #[test]
    fn lists_drop_duplicates_and_refuse_what_is_empty_or_too_long() {
        let a = Audience::allowlist(&["+15550100001", "15550100001@s.whatsapp.net", "7@lid"]).unwrap();
        assert_eq!(a.listed(), [r("+15550100001"), r("7@lid")]);
        assert_eq!(Audience::allowlist::<&str>(&[]).unwrap_err().code, "empty_audience");
        assert_eq!(Audience::denylist::<&str>(&[]).unwrap(), Audience::Denylist { jids: vec![] });
        let many = vec!["+15550100001"; Audience::MAX_LISTED + 1];
        assert_eq!(Audience::allowlist(&many).unwrap_err().code, "audience_too_large");
        assert_eq!(Audience::denylist(&["nobody"]).unwrap_err().code, "invalid_recipient");
    }

    #[test]
    fn the_audience_has_the_api_shape_in_json() {
        let a = Audience::denylist(&["+15550100001"]).unwrap();
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json, serde_json::json!({"mode": "denylist", "jids": ["+15550100001"]}));
        assert_eq!(serde_json::from_value::<Audience>(json).unwrap(), a);
        assert_eq!(serde_json::to_value(Audience::Contacts).unwrap(), serde_json::json!({"mode": "contacts"}));
    }

    #[test]
    fn contacts_are_addressed_by_lid_when_known_and_deny_lists_match_either_name() {
        let contacts = [
            contact(Some("15550100001"), Some("111")),
            contact(Some("15550100002"), None),
            contact(None, Some("333")),
            contact(None, None),
        ];
        assert_eq!(Audience::Contacts.select(&contacts), [r("+15550100002"), r("111@lid"), r("333@lid")]);
        let deny = Audience::denylist(&["+15550100001", "333@lid"]).unwrap();
        assert_eq!(deny.select(&contacts), [r("+15550100002")]);
        let allow = Audience::allowlist(&["+15550109999"]).unwrap();
        assert_eq!(allow.select(&contacts), [r("+15550109999")], "an allowlist need not be contacts");
        assert!(Audience::Contacts.select(&[]).is_empty());
    }
}
