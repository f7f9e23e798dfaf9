//! The sandbox's address book and its directory of WhatsApp accounts.
//!
//! Every linked sandbox session has the same four contacts ([`contacts`]). Who is "on WhatsApp"
//! follows one rule, so that tests and demos can produce unresolvable recipients at will: a
//! phone number is on WhatsApp unless it ends in `0000`, and every LID is.

use wastatus_domain::ports::DriverError;
use wastatus_domain::{Contact, Lid, PhoneNumber, Reach, Recipient, Status};

/// The address book of every linked sandbox session: three contacts whose LID the device
/// already knows, and one known by phone number only.
pub fn contacts() -> Vec<Contact> {
    [
        ("Ada Lovelace", "15550100001", Some("100000000000001")),
        ("Grace Hopper", "15550100002", Some("100000000000002")),
        ("Katherine Johnson", "15550100003", Some("100000000000003")),
        ("Alan Turing", "15550100004", None),
    ]
    .into_iter()
    .map(|(name, phone, lid)| Contact {
        phone: Some(PhoneNumber::new(phone).expect("a valid phone number")),
        lid: lid.map(|lid| Lid::new(lid).expect("a valid LID")),
        name: Some(name.to_owned()),
    })
    .collect()
}

/// Whether `recipient` has a WhatsApp account, by the sandbox's rule.
pub fn is_on_whatsapp(recipient: &Recipient) -> bool {
    match recipient {
        Recipient::Phone(phone) => !phone.as_str().ends_with("0000"),
        Recipient::Lid(_) => true,
    }
}

/// Who `status` goes to from a device with `contacts`, and who of its audience cannot be
/// reached; nobody to send to is [`DriverError::NoRecipients`], as with the real driver.
pub(crate) fn resolve(status: &Status, contacts: &[Contact]) -> Result<(Vec<Recipient>, Reach), DriverError> {
    let chosen = status.audience().select(contacts);
    if chosen.is_empty() {
        return Err(DriverError::NoRecipients(
            "nobody to send to: the linked account has no contacts, or the deny list names them all".to_owned(),
        ));
    }
    let (resolved, unresolved): (Vec<_>, Vec<_>) = chosen.into_iter().partition(is_on_whatsapp);
    if resolved.is_empty() {
        return Err(DriverError::NoRecipients(format!(
            "none of the audience could be resolved to a WhatsApp account ({} unresolved)",
            unresolved.len()
        )));
    }
    let reach = Reach { recipients: u32::try_from(resolved.len()).unwrap_or(u32::MAX), unresolved };
    Ok((resolved, reach))
}
