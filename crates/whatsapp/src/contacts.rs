//! The linked account's contacts, as WhatsApp syncs its address book to companion devices.
//!
//! The phone shares its address book through app-state sync: collection
//! `critical_unblock_low`, one `contact` mutation per person, indexed by the person's JID
//! (`["contact", "<digits>@s.whatsapp.net"]`) with a `ContactAction` value (`fullName`,
//! `firstName`, `lidJid`, `pnJid`, `username`). whatsapp-rust fetches the whole collection as a
//! snapshot right after pairing, before it reports the session connected, and its changes as
//! patches afterwards (the server announces them); each `SET` mutation reaches us as an
//! [`Event::ContactUpdate`] (`from_full_sync` for the snapshot's). A contact who changes
//! number comes as an [`Event::ContactNumberChanged`]. Nothing has to be asked for or answered:
//! `ContactSyncRequested` is about WhatsApp Web's own usync contact check, not the address
//! book.
//!
//! **Removals are not seen.** Deleting a contact on the phone is a `REMOVE` mutation, and
//! whatsapp-rust 0.7 passes only `SET` mutations on to consumers: a deleted contact stays here
//! until the device is linked again. (A `SET` without a name is still a contact: the protocol
//! has no "deleted" flag on the value.)
//!
//! The contacts of a session live in memory and in `<dir>/<tenant>/<session>.contacts.json`,
//! written atomically (temporary file, then rename) a moment after the last change, so that a
//! snapshot of 50,000 contacts is one write, and when the session stops. The file is read when
//! the session starts and deleted with the device state after a logout and by `remove`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wastatus_domain::{Contact, Lid, PhoneNumber};
use whatsapp_rust::Jid;
use whatsapp_rust::types::events::{ContactNumberChanged, ContactUpdate, Event};
use whatsapp_rust::waproto::whatsapp::sync_action_value::ContactAction;

use crate::session::spawn_detached;

/// A session's contacts, in memory and on disk.
pub(crate) struct ContactBook {
    path: PathBuf,
    delay: Duration,
    state: Mutex<BookState>,
    /// Serialises writes and deletions of the file (taken before `state`, never after).
    file: Mutex<()>,
}

#[derive(Default)]
struct BookState {
    /// The contacts by the JID WhatsApp indexes them by (`…@s.whatsapp.net`, or `…@lid`).
    contacts: BTreeMap<String, Contact>,
    /// Changed since the file was last written.
    dirty: bool,
    /// A delayed write is on its way.
    scheduled: bool,
    /// The session was removed: nothing is written any more.
    closed: bool,
}

/// The contact file's shape.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    contacts: Vec<StoredContact>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredContact {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl ContactBook {
    /// The contacts kept at `path` (none if there is no file yet; an unreadable file is
    /// ignored with a warning: the next sync writes it again). Changes are written `delay`
    /// after the first one.
    pub fn open(path: PathBuf, delay: Duration) -> Self {
        let contacts = read(&path).unwrap_or_default();
        Self { path, delay, state: Mutex::new(BookState { contacts, ..BookState::default() }), file: Mutex::new(()) }
    }

    fn lock(&self) -> MutexGuard<'_, BookState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every contact, in a stable order (by the JID WhatsApp keys them by).
    pub fn list(&self) -> Vec<Contact> {
        self.lock().contacts.values().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().contacts.is_empty()
    }

    /// Learns from a contact event; other events are ignored. Says whether it was one.
    pub fn on_event(self: &Arc<Self>, event: &Event) -> bool {
        let changed = match event {
            Event::ContactUpdate(update) => self.update(update),
            Event::ContactNumberChanged(change) => self.number_changed(change),
            _ => return false,
        };
        if changed {
            self.schedule();
        }
        true
    }

    fn update(&self, update: &ContactUpdate) -> bool {
        let Some((id, mut contact)) = from_action(&update.jid, &update.action) else {
            tracing::debug!(jid = %update.jid, "ignoring a contact that is neither a phone number nor a LID");
            return false;
        };
        let mut state = self.lock();
        if let Some(known) = state.contacts.get(&id) {
            // A LID once learnt stays the person's, even if a later value leaves it out.
            if contact.lid.is_none() && contact.phone == known.phone {
                contact.lid = known.lid.clone();
            }
            if known == &contact {
                return false;
            }
        }
        state.contacts.insert(id, contact);
        state.dirty = true;
        true
    }

    fn number_changed(&self, change: &ContactNumberChanged) -> bool {
        let old = change.old_jid.to_non_ad();
        let Ok(new_phone) = PhoneNumber::new(&change.new_jid.user) else {
            return false;
        };
        let mut state = self.lock();
        let key = match state.contacts.contains_key(&old.to_string()) {
            true => Some(old.to_string()),
            false => state
                .contacts
                .iter()
                .find(|(_, c)| c.phone.as_ref().is_some_and(|p| p.as_str() == old.user.as_str()))
                .map(|(id, _)| id.clone()),
        };
        let Some(mut contact) = key.and_then(|key| state.contacts.remove(&key)) else {
            return false;
        };
        contact.phone = Some(new_phone);
        if let Some(lid) = change.new_lid.as_ref().and_then(|jid| Lid::new(&jid.user).ok()) {
            contact.lid = Some(lid);
        }
        state.contacts.insert(change.new_jid.to_non_ad().to_string(), contact);
        state.dirty = true;
        true
    }

    /// Writes the file `delay` from now, unless a write is on its way already.
    fn schedule(self: &Arc<Self>) {
        {
            let mut state = self.lock();
            if state.scheduled || state.closed {
                return;
            }
            state.scheduled = true;
        }
        let book = self.clone();
        spawn_detached(async move {
            tokio::time::sleep(book.delay).await;
            let path = book.path.clone();
            let written = tokio::task::spawn_blocking(move || book.flush()).await;
            if let Ok(Err(e)) | Err(e) = written.map_err(io::Error::other) {
                tracing::error!(path = %path.display(), error = %e, "could not write the session's contacts");
            }
        });
    }

    /// Writes the file now if anything changed since the last write. Blocking.
    pub fn flush(&self) -> io::Result<()> {
        let _one_at_a_time = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let json = {
            let mut state = self.lock();
            state.scheduled = false;
            if !state.dirty || state.closed {
                return Ok(());
            }
            state.dirty = false;
            let contacts = state.contacts.iter().map(|(id, c)| stored(id, c)).collect();
            serde_json::to_vec(&Stored { contacts }).map_err(io::Error::other)
        };
        let written = json.and_then(|json| write_atomically(&self.path, &json));
        if written.is_err() {
            // Try again with the next change or stop.
            self.lock().dirty = true;
        }
        written
    }

    /// Forgets every contact (the device was logged out); the file goes with the device
    /// state ([`ContactBook::wipe`]).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.contacts.clear();
        state.dirty = false;
    }

    /// Forgets every contact and deletes the file. Blocking.
    pub fn wipe(&self) -> io::Result<()> {
        let _one_at_a_time = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        self.clear();
        remove_if_exists(&tmp_path(&self.path))?;
        remove_if_exists(&self.path)
    }

    /// Never writes again (the session is being removed).
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.dirty = false;
    }
}

/// The contact a `contact` mutation describes, keyed by its index JID: the phone number from
/// the index or `pnJid`, the LID from the index or `lidJid`, the name from `fullName`, else
/// `firstName`, else `username`. `None` for anything that is not a person.
fn from_action(jid: &Jid, action: &ContactAction) -> Option<(String, Contact)> {
    let parse = |raw: &Option<String>| raw.as_deref().and_then(|raw| raw.parse::<Jid>().ok());
    let pn = if jid.is_pn() { Some(jid.clone()) } else { parse(&action.pn_jid).filter(|j| j.is_pn()) };
    let lid = if jid.is_lid() { Some(jid.clone()) } else { parse(&action.lid_jid).filter(|j| j.is_lid()) };
    let phone = pn.and_then(|pn| PhoneNumber::new(&pn.user).ok());
    let lid = lid.and_then(|lid| Lid::new(&lid.user).ok());
    if phone.is_none() && lid.is_none() {
        return None;
    }
    let name = [&action.full_name, &action.first_name, &action.username]
        .into_iter()
        .filter_map(|name| name.as_deref().map(str::trim))
        .find(|name| !name.is_empty())
        .map(str::to_owned);
    Some((jid.to_non_ad().to_string(), Contact { phone, lid, name }))
}

fn stored(id: &str, contact: &Contact) -> StoredContact {
    StoredContact {
        id: id.to_owned(),
        phone: contact.phone.as_ref().map(|p| p.as_str().to_owned()),
        lid: contact.lid.as_ref().map(|l| l.as_str().to_owned()),
        name: contact.name.clone(),
    }
}

fn read(path: &Path) -> Option<BTreeMap<String, Contact>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable contacts file");
            return None;
        }
    };
    let stored: Stored = match serde_json::from_slice(&bytes) {
        Ok(stored) => stored,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable contacts file");
            return None;
        }
    };
    let contacts = stored
        .contacts
        .into_iter()
        .filter_map(|c| {
            let contact = Contact {
                phone: c.phone.as_deref().and_then(|p| PhoneNumber::new(p).ok()),
                lid: c.lid.as_deref().and_then(|l| Lid::new(l).ok()),
                name: c.name,
            };
            (contact.phone.is_some() || contact.lid.is_some()).then_some((c.id, contact))
        })
        .collect();
    Some(contacts)
}

fn tmp_path(path: &Path) -> PathBuf {
    path.with_extension("json.tmp")
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = tmp_path(path);
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
    }
    std::fs::rename(&tmp, path)
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn update(jid: &str, action: ContactAction) -> Event {
        Event::ContactUpdate(
            ContactUpdate::builder()
                .jid(jid.parse().unwrap())
                .timestamp(Utc::now())
                .action(Box::new(action))
                .from_full_sync(true)
                .build(),
        )
    }

    fn named(name: &str) -> ContactAction {
        ContactAction { full_name: Some(name.to_owned()), ..Default::default() }
    }

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wastatus-contacts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn mutations_become_contacts_and_survive_a_reopen() {
        let dir = dir("reopen");
        let path = dir.join("t/s.contacts.json");
        let book = Arc::new(ContactBook::open(path.clone(), Duration::from_secs(60)));
        let with_lid = ContactAction { lid_jid: Some("100000000000001@lid".into()), ..named(" Ada ") };
        assert!(book.on_event(&update("15550100001@s.whatsapp.net", with_lid)));
        let nickname =
            ContactAction { first_name: Some("Grace".into()), full_name: Some(String::new()), ..Default::default() };
        book.on_event(&update("15550100002@s.whatsapp.net", nickname));
        let by_lid = ContactAction { pn_jid: Some("15550100003@s.whatsapp.net".into()), ..named("Kay") };
        book.on_event(&update("100000000000003@lid", by_lid));
        // Not a person: ignored.
        book.on_event(&update("120363000000000000@g.us", named("A group")));
        // A later value without the LID keeps the one learnt.
        book.on_event(&update("15550100001@s.whatsapp.net", named("Ada L.")));

        let list = book.list();
        let view: Vec<(Option<&str>, Option<&str>, Option<&str>)> = list
            .iter()
            .map(|c| (c.phone.as_ref().map(PhoneNumber::as_str), c.lid.as_ref().map(Lid::as_str), c.name.as_deref()))
            .collect();
        assert_eq!(
            view,
            [
                (Some("15550100003"), Some("100000000000003"), Some("Kay")),
                (Some("15550100001"), Some("100000000000001"), Some("Ada L.")),
                (Some("15550100002"), None, Some("Grace")),
            ]
        );
        assert!(!path.exists(), "not written before the delay");
        book.flush().unwrap();
        let again = ContactBook::open(path.clone(), Duration::from_secs(60));
        assert_eq!(again.list(), list);
        again.wipe().unwrap();
        assert!(!path.exists());
        assert!(ContactBook::open(path, Duration::from_secs(60)).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_number_change_moves_the_contact() {
        let book = Arc::new(ContactBook::open(dir("number").join("c.json"), Duration::from_secs(60)));
        book.on_event(&update("15550100001@s.whatsapp.net", named("Ada")));
        let change = ContactNumberChanged::builder()
            .old_jid(Jid::pn("15550100001"))
            .new_jid(Jid::pn("15550100009"))
            .new_lid(Jid::lid("100000000000001"))
            .timestamp(Utc::now())
            .build();
        assert!(book.on_event(&Event::ContactNumberChanged(change)));
        let list = book.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].phone.as_ref().unwrap().as_str(), "15550100009");
        assert_eq!(list[0].lid.as_ref().unwrap().as_str(), "100000000000001");
        assert_eq!(list[0].name.as_deref(), Some("Ada"));
        book.close();
        book.flush().unwrap();
        assert!(!book.path.exists(), "a closed book writes nothing");
    }
}
