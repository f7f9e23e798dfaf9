//! The send journal of a session: what was handed to WhatsApp, to whom, and what came of it.
//!
//! One JSON line per fact, appended and flushed to disk (`fsync`) before the step it records
//! goes on, in `<dir>/<tenant>/<session>.sends.jsonl`:
//!
//! - `intent` — written *before* the message stanza is sent, with the message id (generated
//!   here, not by the server) and the resolved recipients;
//! - `not_sent` — the send failed before anything was written to the socket;
//! - `written` — the stanza was handed to the socket;
//! - `acked` / `rejected` — the server's verdict for the message id (a rejection carries its
//!   code);
//! - `revoked` — the status was revoked.
//!
//! It answers [`reconcile`](wastatus_domain::ports::WhatsAppDriver::reconcile): a status with
//! no intent was never sent (the intent precedes any network I/O of the send); one acked was
//! sent; one not sent or rejected can be sent again; anything else (written, or an intent
//! without an outcome: the process died mid-send) is unknown. And it keeps the recipients of
//! each post, which its revocation must be encrypted to.
//!
//! A line torn by a crash (the last one, without its newline) is ignored when the journal is
//! read.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use wastatus_domain::Timestamp;

/// A status id as the journal stores it (its UUID's text).
pub type StatusKey = String;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Entry {
    Intent { status: StatusKey, message_id: String, recipients: Vec<String>, at: Timestamp },
    NotSent { message_id: String, reason: String, at: Timestamp },
    Written { message_id: String, at: Timestamp },
    Acked { message_id: String, at: Timestamp },
    Rejected { message_id: String, code: String, at: Timestamp },
    Revoked { message_id: String, at: Timestamp },
}

/// What is known of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub status: StatusKey,
    pub message_id: String,
    pub recipients: Vec<String>,
    pub outcome: Outcome,
    pub revoked: bool,
}

/// The furthest a message got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Only the intent is recorded.
    Intended,
    NotSent,
    Written,
    Acked,
    Rejected,
}

/// A session's send journal, in memory and on disk.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    path: PathBuf,
    file: Option<File>,
    /// Message id → what is known of it.
    messages: HashMap<String, Record>,
    /// Status id → its message ids, oldest first.
    by_status: HashMap<StatusKey, Vec<String>>,
}

impl Ledger {
    /// Opens (or creates, with its directory) the journal at `path` and reads it.
    pub fn open(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut inner =
            Inner { path: path.to_owned(), file: None, messages: HashMap::new(), by_status: HashMap::new() };
        if let Ok(file) = File::open(path) {
            for line in BufReader::new(file).split(b'\n') {
                let line = line?;
                // A torn or damaged line says nothing reliable; the ones around it still do.
                if let Ok(entry) = serde_json::from_slice::<Entry>(&line) {
                    inner.apply(entry);
                }
            }
        }
        Ok(Self { inner: Arc::new(Mutex::new(inner)) })
    }

    /// Appends `entry` and flushes it to disk before returning. Blocking: call it off the async
    /// threads (see [`Ledger::append`]).
    pub fn append_blocking(&self, entry: Entry) -> io::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut line = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        line.push(b'\n');
        if inner.file.is_none() {
            inner.file = Some(OpenOptions::new().create(true).append(true).open(&inner.path)?);
        }
        let file = inner.file.as_mut().expect("opened above");
        file.write_all(&line)?;
        file.sync_data()?;
        inner.apply(entry);
        Ok(())
    }

    /// [`Ledger::append_blocking`] on the blocking pool.
    pub async fn append(&self, entry: Entry) -> io::Result<()> {
        let ledger = self.clone();
        tokio::task::spawn_blocking(move || ledger.append_blocking(entry))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(format!("journal writer failed: {e}"))))
    }

    /// What is known of a message.
    pub fn message(&self, message_id: &str) -> Option<Record> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).messages.get(message_id).cloned()
    }

    /// Whether the journal knows this message (acks for other messages are not recorded).
    pub fn knows(&self, message_id: &str) -> bool {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).messages.contains_key(message_id)
    }

    /// The latest message sent for a status, if any.
    pub fn latest_for(&self, status: &str) -> Option<Record> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let id = inner.by_status.get(status)?.last()?;
        inner.messages.get(id).cloned()
    }

    /// Closes the file and deletes the journal.
    pub fn wipe(&self) -> io::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.file = None;
        inner.messages.clear();
        inner.by_status.clear();
        match std::fs::remove_file(&inner.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Inner {
    fn apply(&mut self, entry: Entry) {
        let (id, outcome) = match entry {
            Entry::Intent { status, message_id, recipients, .. } => {
                self.by_status.entry(status.clone()).or_default().push(message_id.clone());
                self.messages.insert(
                    message_id.clone(),
                    Record { status, message_id, recipients, outcome: Outcome::Intended, revoked: false },
                );
                return;
            }
            Entry::Revoked { message_id, .. } => {
                if let Some(record) = self.messages.get_mut(&message_id) {
                    record.revoked = true;
                }
                return;
            }
            Entry::NotSent { message_id, .. } => (message_id, Outcome::NotSent),
            Entry::Written { message_id, .. } => (message_id, Outcome::Written),
            Entry::Acked { message_id, .. } => (message_id, Outcome::Acked),
            Entry::Rejected { message_id, .. } => (message_id, Outcome::Rejected),
        };
        if let Some(record) = self.messages.get_mut(&id) {
            // A verdict is final; a late `written` does not undo an ack that overtook it.
            if !matches!(record.outcome, Outcome::Acked | Outcome::Rejected) {
                record.outcome = outcome;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn t() -> Timestamp {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wastatus-ledger-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_journal_reads_back_and_ignores_a_torn_line() {
        let dir = dir("torn");
        let path = dir.join("t/s.sends.jsonl");
        let ledger = Ledger::open(&path).unwrap();
        let intent = |id: &str| Entry::Intent {
            status: "st".into(),
            message_id: id.into(),
            recipients: vec!["1@lid".into()],
            at: t(),
        };
        ledger.append_blocking(intent("A")).unwrap();
        ledger.append_blocking(Entry::Written { message_id: "A".into(), at: t() }).unwrap();
        ledger.append_blocking(Entry::Acked { message_id: "A".into(), at: t() }).unwrap();
        ledger.append_blocking(Entry::Written { message_id: "A".into(), at: t() }).unwrap();
        ledger.append_blocking(intent("B")).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"op":"acked","message_id":"B","#).unwrap();
        drop(file);

        let again = Ledger::open(&path).unwrap();
        assert_eq!(again.message("A").unwrap().outcome, Outcome::Acked);
        assert_eq!(again.message("A").unwrap().recipients, vec!["1@lid".to_owned()]);
        let latest = again.latest_for("st").unwrap();
        assert_eq!((latest.message_id.as_str(), latest.outcome), ("B", Outcome::Intended));
        again.wipe().unwrap();
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
