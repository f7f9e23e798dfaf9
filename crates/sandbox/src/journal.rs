//! The journal of a persistent sandbox: everything that must survive a restart, one JSON
//! object a line, appended before the operation it records reports success.
//!
//! # Format
//!
//! `sandbox-journal.jsonl` in the driver's directory. Each line is a JSON object whose `op`
//! says what it records; the first line is the header:
//!
//! ```text
//! {"op":"journal","version":1,"created_at":"2027-01-15T08:00:00Z"}
//! {"op":"paired","tenant":"…","session":"s1","method":"qr","at":"…"}
//! {"op":"paired","tenant":"…","session":"s2","method":"code","phone_number":"919876543210","at":"…"}
//! {"op":"sent","tenant":"…","session":"s1","message_id":"3EB0…","status_id":"…","status_type":"text",
//!  "view_once":false,"sent_at":"…","text":"Hi","background_color":"#FF336699","font":"SERIF"}
//! {"op":"revoked","tenant":"…","session":"s1","message_id":"3EB0…","status_id":"…","revoked_at":"…"}
//! {"op":"disconnected","tenant":"…","session":"s1","at":"…"}
//! {"op":"reconnected","tenant":"…","session":"s1","at":"…"}
//! {"op":"logged_out","tenant":"…","session":"s1","at":"…"}
//! {"op":"removed","tenant":"…","session":"s1","at":"…"}
//! ```
//!
//! (The `sent` line is one line in the file.) A `sent` line of an image or video status carries
//! `caption` and `media` (`mime_type`, `size_bytes`, `width`, `height`, `duration_secs`,
//! `thumbnail_is_placeholder`) but not the media bytes. Sessions still pairing and queued
//! publish faults are not journaled: after a restart such a session is unknown to the driver
//! and starts pairing again on first use, as with the real driver, and faults are gone.
//!
//! # Durability
//!
//! Each line is written with one `write_all` (and a `flush`) on a file opened in append mode,
//! under the driver's lock, before the operation returns. There is no `fsync`: the journal
//! survives the process being killed (the bytes are in the kernel), not a power loss. A line
//! torn by a crash mid-write can only be the last one; it is dropped (with a warning) and cut
//! off when the journal is opened. A write that fails is cut off as well, and the operation
//! fails, so the journal is always a sequence of whole lines.
//!
//! The journal belongs to one process: the driver holds an exclusive advisory lock on the file
//! for as long as it lives, and opening a journal another driver holds fails.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wastatus_domain::ports::DriverError;
use wastatus_domain::{
    BackgroundColor, Caption, Font, MessageId, Recipient, SessionId, SessionKey, StatusId, StatusText, StatusType,
    TenantId, Timestamp,
};

use crate::records::{Revocation, SentMedia, SentMessage};

/// The journal's file name inside the driver's directory.
pub(crate) const FILE_NAME: &str = "sandbox-journal.jsonl";

/// The format version written in the header; a journal of a later version is refused.
const VERSION: u32 = 1;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Record {
    /// The first line: what wrote the journal, and when.
    Journal { version: u32, created_at: Timestamp },
    /// The session was linked to a phone (state `connected`).
    Paired {
        tenant: TenantId,
        session: SessionId,
        /// `qr` or `code`.
        method: String,
        /// The phone number a pairing code was asked for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phone_number: Option<String>,
        at: Timestamp,
    },
    /// A `disconnect` fault took the session offline.
    Disconnected { tenant: TenantId, session: SessionId, at: Timestamp },
    /// A `reconnect` fault brought the session back online.
    Reconnected { tenant: TenantId, session: SessionId, at: Timestamp },
    /// The device was unlinked.
    LoggedOut { tenant: TenantId, session: SessionId, at: Timestamp },
    /// The session was removed, with what it sent.
    Removed { tenant: TenantId, session: SessionId, at: Timestamp },
    /// A message was sent.
    Sent(SentLine),
    /// A sent message was revoked.
    Revoked { tenant: TenantId, session: SessionId, message_id: String, status_id: StatusId, revoked_at: Timestamp },
}

impl Record {
    /// The session the record is about; `None` for the header.
    pub(crate) fn session(&self) -> Option<SessionKey> {
        let (tenant, session) = match self {
            Record::Journal { .. } => return None,
            Record::Paired { tenant, session, .. }
            | Record::Disconnected { tenant, session, .. }
            | Record::Reconnected { tenant, session, .. }
            | Record::LoggedOut { tenant, session, .. }
            | Record::Removed { tenant, session, .. }
            | Record::Revoked { tenant, session, .. } => (tenant, session),
            Record::Sent(line) => (&line.tenant, &line.session),
        };
        Some(SessionKey { tenant: *tenant, id: session.clone() })
    }

    /// A revocation as the driver keeps it.
    pub(crate) fn revocation(
        key: &SessionKey,
        message_id: &MessageId,
        status_id: StatusId,
        revoked_at: Timestamp,
    ) -> Self {
        Record::Revoked {
            tenant: key.tenant,
            session: key.id.clone(),
            message_id: message_id.as_str().to_owned(),
            status_id,
            revoked_at,
        }
    }
}

/// A `sent` line: a [`SentMessage`] without the media bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SentLine {
    tenant: TenantId,
    session: SessionId,
    message_id: String,
    status_id: StatusId,
    status_type: StatusType,
    view_once: bool,
    sent_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    background_color: Option<BackgroundColor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    font: Option<Font>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media: Option<MediaLine>,
    /// Absent in lines written before audiences were recorded.
    #[serde(default)]
    recipients: Vec<Recipient>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unresolved: Vec<Recipient>,
}

/// What a `sent` line keeps of the media.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MediaLine {
    mime_type: String,
    size_bytes: usize,
    width: u32,
    height: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duration_secs: Option<u32>,
    thumbnail_is_placeholder: bool,
}

impl From<&SentMessage> for SentLine {
    fn from(m: &SentMessage) -> Self {
        Self {
            tenant: m.tenant,
            session: m.session.clone(),
            message_id: m.message_id.as_str().to_owned(),
            status_id: m.status_id,
            status_type: m.status_type,
            view_once: m.view_once,
            sent_at: m.sent_at,
            text: m.text.as_ref().map(|t| t.as_str().to_owned()),
            background_color: m.background_color,
            font: m.font,
            caption: m.caption.as_ref().map(|c| c.as_str().to_owned()),
            media: m.media.as_ref().map(|media| MediaLine {
                mime_type: media.mime_type.clone(),
                size_bytes: media.size_bytes,
                width: media.width,
                height: media.height,
                duration_secs: media.duration_secs,
                thumbnail_is_placeholder: media.thumbnail_is_placeholder,
            }),
            recipients: m.recipients.clone(),
            unresolved: m.unresolved.clone(),
        }
    }
}

impl SentLine {
    /// The id the message was sent under.
    pub(crate) fn message_id(&self) -> Result<MessageId, String> {
        MessageId::new(self.message_id.clone()).map_err(|e| e.to_string())
    }

    /// The message as it was recorded when sent; the media bytes and thumbnail are empty, and
    /// `revoked_at` is filled in by the `revoked` lines that follow.
    pub(crate) fn into_message(self) -> Result<SentMessage, String> {
        let message_id = MessageId::new(self.message_id).map_err(|e| e.to_string())?;
        let text = self.text.map(StatusText::new).transpose().map_err(|e| e.to_string())?;
        let caption = match self.caption {
            Some(caption) => Caption::new(caption).map_err(|e| e.to_string())?,
            None => None,
        };
        Ok(SentMessage {
            tenant: self.tenant,
            session: self.session,
            message_id,
            status_id: self.status_id,
            status_type: self.status_type,
            text,
            background_color: self.background_color,
            font: self.font,
            caption,
            media: self.media.map(|m| SentMedia {
                mime_type: m.mime_type,
                bytes: bytes::Bytes::new(),
                size_bytes: m.size_bytes,
                width: m.width,
                height: m.height,
                duration_secs: m.duration_secs,
                thumbnail: bytes::Bytes::new(),
                thumbnail_is_placeholder: m.thumbnail_is_placeholder,
            }),
            view_once: self.view_once,
            recipients: self.recipients,
            unresolved: self.unresolved,
            sent_at: self.sent_at,
            revoked_at: None,
        })
    }
}

/// A revocation line turned back into what the driver keeps.
pub(crate) fn revocation(
    tenant: TenantId,
    session: SessionId,
    message_id: String,
    status_id: StatusId,
    revoked_at: Timestamp,
) -> Result<Revocation, String> {
    let message_id = MessageId::new(message_id).map_err(|e| e.to_string())?;
    Ok(Revocation { tenant, session, message_id, status_id, revoked_at })
}

/// Where records go: nowhere (an in-memory driver) or to the journal file.
#[derive(Debug)]
pub(crate) struct Journal {
    file: Option<JournalFile>,
}

#[derive(Debug)]
struct JournalFile {
    path: PathBuf,
    file: File,
    /// The length of the whole lines written so far: where a failed write is cut back to.
    len: u64,
    /// Set when a failed write could not be cut off: the journal takes no more lines.
    broken: bool,
}

impl Journal {
    /// A journal that keeps nothing, for an in-memory driver.
    pub(crate) fn none() -> Self {
        Self { file: None }
    }

    /// The journal file, if there is one.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    /// Opens (or creates) the journal in `dir` and reads back its records, header first.
    ///
    /// A torn last line is dropped with a warning and cut off; any other line that cannot be
    /// read is an error ([`io::ErrorKind::InvalidData`]), as is a journal held by another
    /// driver.
    pub(crate) fn open(dir: &Path, now: Timestamp) -> io::Result<(Self, Vec<Record>)> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::ResourceBusy,
                    format!(
                        "{} is in use by another sandbox driver; give each process its own directory",
                        path.display()
                    ),
                ));
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;

        let invalid = |line: usize, what: String| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{} line {line}: {what}", path.display()))
        };
        let mut records = Vec::new();
        // The length of the whole lines, and whether a complete last line lacks its newline.
        let mut len = 0usize;
        let mut unterminated = false;
        for (index, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
            let terminated = line.last() == Some(&b'\n');
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            if text.iter().all(u8::is_ascii_whitespace) {
                if terminated {
                    len += line.len();
                }
                continue;
            }
            match serde_json::from_slice::<Record>(text) {
                Ok(record) => {
                    records.push(record);
                    len += line.len();
                    unterminated = !terminated;
                }
                // Only the last line can be torn: nothing is written after a line that a crash
                // cut short.
                Err(error) if !terminated => {
                    tracing::warn!(
                        journal = %path.display(),
                        line = index + 1,
                        %error,
                        "dropping the torn last line of the sandbox journal (the process died while writing it)"
                    );
                }
                Err(error) => return Err(invalid(index + 1, error.to_string())),
            }
        }
        let len = len as u64;
        if len < bytes.len() as u64 {
            file.set_len(len)?;
        }
        let mut journal = JournalFile { path: path.clone(), file, len, broken: false };
        if unterminated {
            journal.write_line(b"\n")?;
        }
        match records.first() {
            None => {
                let header = Record::Journal { version: VERSION, created_at: now };
                journal.write_record(&header)?;
                records.push(header);
            }
            Some(Record::Journal { version, .. }) if *version <= VERSION => {}
            Some(Record::Journal { version, .. }) => {
                return Err(invalid(1, format!("journal version {version} is newer than this sandbox ({VERSION})")));
            }
            Some(_) => return Err(invalid(1, "the first line is not a journal header".to_owned())),
        }
        Ok((Self { file: Some(journal) }, records))
    }

    /// Appends the record that `record` makes, before the caller changes anything: if this
    /// fails, the operation must fail and leave the driver as it was.
    pub(crate) fn append(&mut self, record: impl FnOnce() -> Record) -> Result<(), DriverError> {
        let Some(journal) = &mut self.file else { return Ok(()) };
        if journal.broken {
            return Err(DriverError::Other(anyhow::anyhow!(
                "the sandbox journal {} is unusable after a failed write",
                journal.path.display()
            )));
        }
        journal.write_record(&record()).map_err(|e| {
            DriverError::Other(anyhow::anyhow!(
                "the sandbox journal {} could not be written: {e}",
                journal.path.display()
            ))
        })
    }
}

impl JournalFile {
    fn write_record(&mut self, record: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        self.write_line(&line)
    }

    /// Writes a whole line, or nothing: a partial write is cut off again.
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        match self.file.write_all(line).and_then(|()| self.file.flush()) {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(error) => {
                if let Err(cut) = self.file.set_len(self.len) {
                    tracing::error!(journal = %self.path.display(), %error, %cut, "a failed write to the sandbox journal could not be cut off; it takes no more lines");
                    self.broken = true;
                }
                Err(error)
            }
        }
    }
}
