//! The send journal of a session: what was handed to WhatsApp, to whom, and what came of it.
//!
//! One JSON line per fact, appended and flushed to disk (`fsync`) before the step it records
//! goes on, in `<dir>/<tenant>/<session>.sends.jsonl`:
//!
//! - `intent` — written *before* the first stanza is sent, with the message id (generated
//!   here, not by the server), every resolved recipient, and the chunk size: a large audience
//!   is sent in chunks ([`chunks`]), one stanza each, under the same message id;
//! - `not_sent` — a chunk's send failed before anything was written to the socket;
//! - `written` — a chunk's stanza was handed to the socket;
//! - `acked` / `rejected` — the server's verdict on a chunk (a rejection carries its code);
//! - `revoked` — the status was revoked.
//!
//! The per-chunk entries name their chunk (`"chunk": 2`); entries without one (journals written
//! before chunking, and verdicts that arrived after the send stopped waiting) are about the
//! first chunk still waiting for a verdict.
//!
//! It answers [`reconcile`](wastatus_domain::ports::WhatsAppDriver::reconcile): a status with
//! no intent was never sent (the intent precedes any network I/O of the send); one whose every
//! chunk was acked was sent; one whose first chunk was not sent or was rejected, with nothing
//! else written, can be sent again; anything else (a chunk written without a verdict: the
//! process died mid-send; or some chunks delivered and not the rest) is unknown. And it keeps
//! the recipients of each post, which its revocation must be encrypted to.
//!
//! A line torn by a crash (the last one, without its newline) is ignored when the journal is
//! read.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::ops::Range;
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
    Intent {
        status: StatusKey,
        message_id: String,
        recipients: Vec<String>,
        /// The most recipients per stanza; absent: all in one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chunk_size: Option<usize>,
        at: Timestamp,
    },
    NotSent {
        message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chunk: Option<usize>,
        reason: String,
        at: Timestamp,
    },
    Written {
        message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chunk: Option<usize>,
        at: Timestamp,
    },
    Acked {
        message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chunk: Option<usize>,
        at: Timestamp,
    },
    Rejected {
        message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chunk: Option<usize>,
        code: String,
        at: Timestamp,
    },
    Revoked {
        message_id: String,
        at: Timestamp,
    },
}

/// The chunks of a send to `total` recipients, at most `size` each (at least one recipient per
/// chunk), as ranges of the recipient list in sending order. No recipients, no chunks.
pub fn chunks(total: usize, size: usize) -> Vec<Range<usize>> {
    let size = size.max(1);
    (0..total).step_by(size).map(|start| start..start.saturating_add(size).min(total)).collect()
}

/// What is known of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub status: StatusKey,
    pub message_id: String,
    pub recipients: Vec<String>,
    /// The recipients of each chunk, as ranges of `recipients`, in sending order.
    pub chunks: Vec<Range<usize>>,
    /// How far each chunk got, in the same order.
    pub progress: Vec<Step>,
    pub revoked: bool,
}

/// How far one chunk of a message got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Only the intent is recorded.
    Intended,
    NotSent,
    Written,
    Acked,
    Rejected,
}

impl Step {
    fn has_verdict(self) -> bool {
        matches!(self, Step::Acked | Step::Rejected)
    }
}

/// The furthest a message got, all chunks considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Only the intent is recorded.
    Intended,
    /// Its first chunk failed before anything was written, and no other went.
    NotSent,
    /// A chunk was written and no chunk was acked yet.
    Written,
    /// Every chunk was acked.
    Acked,
    /// The server rejected its first chunk, and no other went.
    Rejected,
    /// Some chunks were acked, and not all.
    Partial,
}

impl Record {
    /// The furthest the message got.
    pub fn outcome(&self) -> Outcome {
        let acked = self.progress.iter().filter(|s| **s == Step::Acked).count();
        if acked > 0 {
            return if acked == self.progress.len() { Outcome::Acked } else { Outcome::Partial };
        }
        if self.progress.contains(&Step::Written) {
            return Outcome::Written;
        }
        match self.progress.first() {
            Some(Step::NotSent) => Outcome::NotSent,
            Some(Step::Rejected) => Outcome::Rejected,
            _ => Outcome::Intended,
        }
    }

    /// How many recipients are in acked chunks.
    pub fn delivered(&self) -> usize {
        self.chunks.iter().zip(&self.progress).filter(|(_, s)| **s == Step::Acked).map(|(c, _)| c.len()).sum()
    }

    /// Which chunk an entry without a chunk number is about: the first one written and still
    /// waiting for a verdict, else the first without a verdict.
    fn pending_chunk(&self) -> usize {
        self.progress
            .iter()
            .position(|s| *s == Step::Written)
            .or_else(|| self.progress.iter().position(|s| !s.has_verdict()))
            .unwrap_or(0)
    }
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
        let (id, chunk, step) = match entry {
            Entry::Intent { status, message_id, recipients, chunk_size, .. } => {
                self.by_status.entry(status.clone()).or_default().push(message_id.clone());
                let mut chunks = chunks(recipients.len(), chunk_size.unwrap_or(usize::MAX));
                if chunks.is_empty() {
                    // Nobody to send to is still one (empty) send.
                    chunks.push(0..0);
                }
                let progress = vec![Step::Intended; chunks.len()];
                self.messages.insert(
                    message_id.clone(),
                    Record { status, message_id, recipients, chunks, progress, revoked: false },
                );
                return;
            }
            Entry::Revoked { message_id, .. } => {
                if let Some(record) = self.messages.get_mut(&message_id) {
                    record.revoked = true;
                }
                return;
            }
            Entry::NotSent { message_id, chunk, .. } => (message_id, chunk, Step::NotSent),
            Entry::Written { message_id, chunk, .. } => (message_id, chunk, Step::Written),
            Entry::Acked { message_id, chunk, .. } => (message_id, chunk, Step::Acked),
            Entry::Rejected { message_id, chunk, .. } => (message_id, chunk, Step::Rejected),
        };
        if let Some(record) = self.messages.get_mut(&id) {
            let chunk = chunk.unwrap_or_else(|| record.pending_chunk());
            if let Some(current) = record.progress.get_mut(chunk) {
                // A verdict is final; a late `written` does not undo an ack that overtook it.
                if !current.has_verdict() {
                    *current = step;
                }
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
            chunk_size: None,
            at: t(),
        };
        ledger.append_blocking(intent("A")).unwrap();
        ledger.append_blocking(Entry::Written { message_id: "A".into(), chunk: None, at: t() }).unwrap();
        ledger.append_blocking(Entry::Acked { message_id: "A".into(), chunk: None, at: t() }).unwrap();
        ledger.append_blocking(Entry::Written { message_id: "A".into(), chunk: None, at: t() }).unwrap();
        ledger.append_blocking(intent("B")).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"op":"acked","message_id":"B","#).unwrap();
        drop(file);

        let again = Ledger::open(&path).unwrap();
        assert_eq!(again.message("A").unwrap().outcome(), Outcome::Acked);
        assert_eq!(again.message("A").unwrap().recipients, vec!["1@lid".to_owned()]);
        let latest = again.latest_for("st").unwrap();
        assert_eq!((latest.message_id.as_str(), latest.outcome()), ("B", Outcome::Intended));
        again.wipe().unwrap();
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn chunks_cover_the_recipients_in_order_and_at_most_size_each() {
        assert_eq!(chunks(0, 1000), Vec::<Range<usize>>::new());
        assert_eq!(chunks(1, 1000), vec![0..1]);
        assert_eq!(chunks(1000, 1000), vec![0..1000]);
        assert_eq!(chunks(2500, 1000), [0..1000, 1000..2000, 2000..2500]);
        assert_eq!(chunks(3, 0), [0..1, 1..2, 2..3], "a size of 0 counts as 1");
    }

    #[test]
    fn a_chunked_send_is_sent_only_once_every_chunk_is_acked() {
        let dir = dir("chunks");
        let path = dir.join("t/s.sends.jsonl");
        let ledger = Ledger::open(&path).unwrap();
        let recipients: Vec<String> = (1..=5).map(|n| format!("{n}@lid")).collect();
        let id = || "M".to_owned();
        ledger
            .append_blocking(Entry::Intent {
                status: "st".into(),
                message_id: id(),
                recipients,
                chunk_size: Some(2),
                at: t(),
            })
            .unwrap();
        let record = ledger.message("M").unwrap();
        assert_eq!(record.chunks, [0..2, 2..4, 4..5]);
        assert_eq!(record.outcome(), Outcome::Intended);
        for chunk in 0..2 {
            ledger.append_blocking(Entry::Written { message_id: id(), chunk: Some(chunk), at: t() }).unwrap();
            ledger.append_blocking(Entry::Acked { message_id: id(), chunk: Some(chunk), at: t() }).unwrap();
        }
        ledger.append_blocking(Entry::Written { message_id: id(), chunk: Some(2), at: t() }).unwrap();
        let record = ledger.message("M").unwrap();
        assert_eq!((record.outcome(), record.delivered()), (Outcome::Partial, 4));
        // A verdict without a chunk number (it came after the send stopped waiting) is about
        // the chunk that was waiting for one.
        ledger.append_blocking(Entry::Acked { message_id: id(), chunk: None, at: t() }).unwrap();
        let again = Ledger::open(&path).unwrap();
        let record = again.message("M").unwrap();
        assert_eq!((record.outcome(), record.delivered()), (Outcome::Acked, 5));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_send_whose_first_chunk_failed_was_not_sent() {
        let dir = dir("first");
        let ledger = Ledger::open(&dir.join("s.sends.jsonl")).unwrap();
        for (id, failure) in [
            ("N", Entry::NotSent { message_id: "N".into(), chunk: Some(0), reason: "offline".into(), at: t() }),
            ("R", Entry::Rejected { message_id: "R".into(), chunk: Some(0), code: "479".into(), at: t() }),
        ] {
            let recipients = vec!["1@lid".to_owned(), "2@lid".to_owned()];
            let intent =
                Entry::Intent { status: id.into(), message_id: id.into(), recipients, chunk_size: Some(1), at: t() };
            ledger.append_blocking(intent).unwrap();
            ledger.append_blocking(failure).unwrap();
        }
        assert_eq!(ledger.message("N").unwrap().outcome(), Outcome::NotSent);
        assert_eq!(ledger.message("R").unwrap().outcome(), Outcome::Rejected);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
