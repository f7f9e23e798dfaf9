//! One simulated companion device: the state machine of a sandbox session.
//!
//! Everything here is synchronous and takes the time, the random source and the journal as
//! arguments, so the driver can run it under its lock and the transitions are easy to follow in
//! one place. Every change that must survive a restart is appended to the journal first, and
//! made only if that succeeded; [`Device::replay`] makes the same changes from the journal.

use std::collections::VecDeque;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use wastatus_domain::ports::{DriverError, Fault, Published};
use wastatus_domain::{
    Contact, MediaKind, MessageId, PairMethod, Pairing, PairingCode, PreparedMedia, QrCode, SessionCondition,
    SessionKey, SessionState, StateReason, Status, StatusType, Timestamp,
};

use crate::audience;
use crate::journal::{self, Journal, Record};
use crate::records::{Revocation, SentMessage};
use crate::rng::SplitMix64;

/// How long the first QR code of a pairing attempt stays valid, as in WhatsApp.
pub(crate) const FIRST_QR_TTL: TimeDelta = TimeDelta::seconds(60);
/// How long each later QR code stays valid, as in WhatsApp.
pub(crate) const NEXT_QR_TTL: TimeDelta = TimeDelta::seconds(20);
/// How long a pairing code stays valid, as in WhatsApp.
pub(crate) const PAIRING_CODE_TTL: TimeDelta = TimeDelta::seconds(180);
/// The characters of WhatsApp pairing codes: digits and capitals without 0, I, O and U, which
/// are easily misread.
pub(crate) const PAIRING_CODE_ALPHABET: &[u8; 32] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";

/// Where a device is in its life, with what each state needs.
#[derive(Debug)]
enum Link {
    /// Not linked yet; holds the device keys and the QR code currently on offer.
    Pairing(PairingMaterial),
    /// Linked and online.
    Connected,
    /// Linked but offline.
    Disconnected,
    /// Unlinked by a logout; it may pair again, as a new device.
    LoggedOut,
}

/// The public keys a new companion device shows in its QR codes, and the code on offer.
#[derive(Debug)]
struct PairingMaterial {
    /// The device's Noise static public key, base64.
    noise_key: String,
    /// The device's Signal identity public key, base64.
    identity_key: String,
    /// The secret that authenticates the device's ADV identity, base64.
    adv_secret: String,
    /// The QR code last handed out, if any.
    qr: Option<QrCode>,
}

impl PairingMaterial {
    /// Fresh keys for a new device, as WhatsApp Web generates them (32 bytes each).
    fn generate(rng: &mut SplitMix64) -> Self {
        Self {
            noise_key: STANDARD.encode(rng.bytes::<32>()),
            identity_key: STANDARD.encode(rng.bytes::<32>()),
            adv_secret: STANDARD.encode(rng.bytes::<32>()),
            qr: None,
        }
    }

    /// The QR code to show now: the current one while it is valid, else a fresh one.
    ///
    /// As in WhatsApp, every code carries a new server reference but the same device keys; the
    /// first lives 60 seconds and each later one 20 seconds, counted from when it is issued.
    fn current_qr(&mut self, rng: &mut SplitMix64, now: Timestamp) -> QrCode {
        if let Some(qr) = self.qr.as_ref().filter(|qr| now < qr.expires_at) {
            return qr.clone();
        }
        let ttl = if self.qr.is_none() { FIRST_QR_TTL } else { NEXT_QR_TTL };
        let reference = STANDARD.encode(rng.bytes::<36>());
        let qr = QrCode {
            payload: format!("2@{reference},{},{},{}", self.noise_key, self.identity_key, self.adv_secret),
            expires_at: now + ttl,
        };
        self.qr = Some(qr.clone());
        qr
    }

    /// What the phone needs to link this device by `method`.
    fn answer(&mut self, method: &PairMethod, rng: &mut SplitMix64, now: Timestamp) -> Pairing {
        match method {
            PairMethod::Qr => Pairing::Qr(self.current_qr(rng, now)),
            PairMethod::Code { .. } => Pairing::Code(pairing_code(rng, now)),
        }
    }
}

/// An 8-character code from WhatsApp's alphabet, shown as `ABCD-EFGH`.
fn pairing_code(rng: &mut SplitMix64, now: Timestamp) -> PairingCode {
    let bits = rng.next_u64();
    // Five bits pick one of the 32 characters; eight characters use 40 of the 64 bits.
    let chars: String =
        (0..8).map(|i| char::from(PAIRING_CODE_ALPHABET[((bits >> (5 * i)) & 0x1F) as usize])).collect();
    PairingCode { code: format!("{}-{}", &chars[..4], &chars[4..]), expires_at: now + PAIRING_CODE_TTL }
}

/// A fault that makes a publish fail. Kept apart from [`Fault`] so that only these are queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PublishFault {
    UploadFailed,
    UploadTimeout,
    DeviceError,
    ServerReject,
}

impl PublishFault {
    /// The publish fault `fault` is, if it is one.
    fn from_fault(fault: Fault) -> Option<Self> {
        match fault {
            Fault::UploadFailed => Some(Self::UploadFailed),
            Fault::UploadTimeout => Some(Self::UploadTimeout),
            Fault::DeviceError => Some(Self::DeviceError),
            Fault::ServerReject => Some(Self::ServerReject),
            Fault::Disconnect | Fault::Reconnect => None,
        }
    }

    fn fault(self) -> Fault {
        match self {
            Self::UploadFailed => Fault::UploadFailed,
            Self::UploadTimeout => Fault::UploadTimeout,
            Self::DeviceError => Fault::DeviceError,
            Self::ServerReject => Fault::ServerReject,
        }
    }

    /// The error the publish fails with, with messages like the real driver's.
    fn error(self) -> DriverError {
        match self {
            Self::UploadFailed => DriverError::UploadFailed("mmg.whatsapp.net answered HTTP 500".to_owned()),
            Self::UploadTimeout => DriverError::UploadTimeout,
            Self::DeviceError => DriverError::DeviceError("failed to resolve user device".to_owned()),
            Self::ServerReject => DriverError::ServerRejected("error 479".to_owned()),
        }
    }
}

/// A simulated companion device and what it sent.
#[derive(Debug)]
pub(crate) struct Device {
    link: Link,
    /// Publish faults still to happen, in order, as runs of (fault, how many more times).
    faults: VecDeque<(PublishFault, u32)>,
    pub(crate) sent: Vec<SentMessage>,
    pub(crate) revocations: Vec<Revocation>,
}

impl Device {
    /// A new device, waiting to be paired.
    pub(crate) fn new(rng: &mut SplitMix64) -> Self {
        Self::with_link(Link::Pairing(PairingMaterial::generate(rng)))
    }

    /// A device read back from the journal, which records only linked devices: connected
    /// until the records that follow say otherwise.
    pub(crate) fn restored() -> Self {
        Self::with_link(Link::Connected)
    }

    fn with_link(link: Link) -> Self {
        Self { link, faults: VecDeque::new(), sent: Vec::new(), revocations: Vec::new() }
    }

    /// Makes the change a journal record (about this device) describes, as the operation that
    /// wrote it did. `Removed` is the driver's business (it forgets the device).
    pub(crate) fn replay(&mut self, record: Record) -> Result<(), String> {
        match record {
            Record::Paired { .. } | Record::Reconnected { .. } => self.link = Link::Connected,
            Record::Disconnected { .. } => self.link = Link::Disconnected,
            Record::LoggedOut { .. } => self.link = Link::LoggedOut,
            Record::Sent(line) => self.sent.push(line.into_message()?),
            Record::Revoked { tenant, session, message_id, status_id, revoked_at } => {
                let revocation = journal::revocation(tenant, session, message_id, status_id, revoked_at)?;
                let sent = self
                    .sent
                    .iter_mut()
                    .find(|sent| sent.message_id == revocation.message_id)
                    .ok_or_else(|| format!("revoked message {} was never sent", revocation.message_id))?;
                sent.revoked_at.get_or_insert(revoked_at);
                self.revocations.push(revocation);
            }
            Record::Journal { .. } | Record::Removed { .. } => {}
        }
        Ok(())
    }

    pub(crate) fn state(&self) -> SessionState {
        match self.link {
            Link::Pairing(_) => SessionState::Pairing,
            Link::Connected => SessionState::Connected,
            Link::Disconnected => SessionState::Disconnected,
            Link::LoggedOut => SessionState::LoggedOut,
        }
    }

    /// The state, with the reason for a disconnection (only faults disconnect a sandbox device).
    pub(crate) fn condition(&self) -> SessionCondition {
        let reason = matches!(self.link, Link::Disconnected).then(|| StateReason {
            code: "offline",
            message: "disconnected by a sandbox fault; it stays offline until reconnected or restarted".to_owned(),
        });
        SessionCondition { state: self.state(), reason }
    }

    /// The linked account's address book: the sandbox's contacts once linked, none before.
    pub(crate) fn contacts(&self) -> Vec<Contact> {
        match self.link {
            Link::Connected | Link::Disconnected => audience::contacts(),
            Link::Pairing(_) | Link::LoggedOut => Vec::new(),
        }
    }

    /// Connects a disconnected device again (as a `Reconnect` fault does); harmless for one
    /// that is connected or still pairing.
    pub(crate) fn restart(
        &mut self,
        key: &SessionKey,
        now: Timestamp,
        journal: &mut Journal,
    ) -> Result<SessionState, DriverError> {
        match self.link {
            Link::Disconnected => self.inject(key, Fault::Reconnect, 0, now, journal)?,
            Link::LoggedOut => return Err(DriverError::LoggedOut),
            Link::Connected | Link::Pairing(_) => {}
        }
        Ok(self.state())
    }

    /// The QR code to scan now; only a device that is pairing has one.
    pub(crate) fn qr(&mut self, rng: &mut SplitMix64, now: Timestamp) -> Result<QrCode, DriverError> {
        match &mut self.link {
            Link::Pairing(material) => Ok(material.current_qr(rng, now)),
            Link::Connected | Link::Disconnected | Link::LoggedOut => Err(DriverError::NoQrCode),
        }
    }

    /// Pairs the device and, the sandbox's phone being always at hand, links it at once.
    ///
    /// A logged-out device pairs again as a new device, with new keys.
    pub(crate) fn pair(
        &mut self,
        key: &SessionKey,
        method: &PairMethod,
        rng: &mut SplitMix64,
        now: Timestamp,
        journal: &mut Journal,
    ) -> Result<Pairing, DriverError> {
        let pairing = match &mut self.link {
            Link::Connected | Link::Disconnected => return Err(DriverError::AlreadyPaired),
            Link::Pairing(material) => material.answer(method, rng, now),
            Link::LoggedOut => PairingMaterial::generate(rng).answer(method, rng, now),
        };
        journal.append(|| {
            let (method, phone_number) = match method {
                PairMethod::Qr => ("qr", None),
                PairMethod::Code { phone_number } => ("code", Some(phone_number.as_str().to_owned())),
            };
            Record::Paired {
                tenant: key.tenant,
                session: key.id.clone(),
                method: method.to_owned(),
                phone_number,
                at: now,
            }
        })?;
        self.link = Link::Connected;
        Ok(pairing)
    }

    /// Unlinks a linked device.
    pub(crate) fn logout(
        &mut self,
        key: &SessionKey,
        now: Timestamp,
        journal: &mut Journal,
    ) -> Result<(), DriverError> {
        match self.link {
            Link::Connected | Link::Disconnected => {
                journal.append(|| Record::LoggedOut { tenant: key.tenant, session: key.id.clone(), at: now })?;
                self.link = Link::LoggedOut;
                Ok(())
            }
            Link::Pairing(_) => Err(DriverError::NotPaired),
            Link::LoggedOut => Err(DriverError::LoggedOut),
        }
    }

    /// Applies a fault: a connection change now, or a publish fault to the next `count`
    /// publishes, after those already queued.
    pub(crate) fn inject(
        &mut self,
        key: &SessionKey,
        fault: Fault,
        count: u32,
        now: Timestamp,
        journal: &mut Journal,
    ) -> Result<(), DriverError> {
        if let Some(fault) = PublishFault::from_fault(fault) {
            if count > 0 {
                match self.faults.back_mut() {
                    Some((last, remaining)) if *last == fault => *remaining = remaining.saturating_add(count),
                    _ => self.faults.push_back((fault, count)),
                }
            }
            return Ok(());
        }
        match self.link {
            Link::Connected | Link::Disconnected => {}
            Link::Pairing(_) => return Err(DriverError::NotPaired),
            Link::LoggedOut => return Err(DriverError::LoggedOut),
        }
        let (tenant, session) = (key.tenant, key.id.clone());
        if fault == Fault::Disconnect {
            journal.append(|| Record::Disconnected { tenant, session, at: now })?;
            self.link = Link::Disconnected;
        } else {
            journal.append(|| Record::Reconnected { tenant, session, at: now })?;
            self.link = Link::Connected;
        }
        Ok(())
    }

    /// The publish faults still queued, in order, as (fault, how many more times).
    pub(crate) fn pending_faults(&self) -> Vec<(Fault, u32)> {
        self.faults.iter().map(|&(fault, remaining)| (fault.fault(), remaining)).collect()
    }

    /// Refuses to send unless the device is linked and online.
    fn ensure_online(&self) -> Result<(), DriverError> {
        match self.link {
            Link::Connected => Ok(()),
            Link::Pairing(_) => Err(DriverError::NotPaired),
            Link::Disconnected => Err(DriverError::Disconnected),
            Link::LoggedOut => Err(DriverError::LoggedOut),
        }
    }

    /// Takes the next queued publish fault, if any.
    fn take_fault(&mut self) -> Option<PublishFault> {
        let (fault, remaining) = self.faults.front_mut()?;
        let fault = *fault;
        *remaining -= 1;
        if *remaining == 0 {
            self.faults.pop_front();
        }
        Some(fault)
    }

    /// Sends a status: refused unless online, failed if a fault is queued or nobody in its
    /// audience can be reached, else recorded under the message id that `message_id` makes
    /// (called only for a send that goes through), with who it went to.
    pub(crate) fn publish(
        &mut self,
        key: &SessionKey,
        status: &Status,
        media: Option<PreparedMedia>,
        now: Timestamp,
        message_id: impl FnOnce() -> MessageId,
        journal: &mut Journal,
    ) -> Result<Published, DriverError> {
        check_media(status, media.as_ref())?;
        self.ensure_online()?;
        let (recipients, reach) = audience::resolve(status, &self.contacts())?;
        if let Some(fault) = self.take_fault() {
            return Err(fault.error());
        }
        let id = message_id();
        let sent = SentMessage::new(
            key.tenant,
            key.id.clone(),
            id.clone(),
            status.id(),
            status.content(),
            media,
            status.view_once(),
            recipients,
            reach.unresolved.clone(),
            now,
        );
        journal.append(|| Record::Sent((&sent).into()))?;
        self.sent.push(sent);
        Ok(Published { message_id: id, reach })
    }

    /// Revokes a status that this device sent.
    pub(crate) fn revoke(
        &mut self,
        key: &SessionKey,
        status: &Status,
        now: Timestamp,
        journal: &mut Journal,
    ) -> Result<(), DriverError> {
        self.ensure_online()?;
        let message_id = status
            .message_id()
            .ok_or_else(|| DriverError::DeviceError("the status has no message id to revoke".to_owned()))?;
        let sent =
            self.sent.iter_mut().find(|sent| &sent.message_id == message_id).ok_or_else(|| {
                DriverError::DeviceError(format!("no message {message_id} was sent from this device"))
            })?;
        journal.append(|| Record::revocation(key, message_id, status.id(), now))?;
        sent.revoked_at.get_or_insert(now);
        self.revocations.push(Revocation {
            tenant: key.tenant,
            session: key.id.clone(),
            message_id: message_id.clone(),
            status_id: status.id(),
            revoked_at: now,
        });
        Ok(())
    }
}

/// A driver sends media only for image and video statuses, and only of their kind: anything
/// else is a bug in the caller, which the real driver could not send either.
fn check_media(status: &Status, media: Option<&PreparedMedia>) -> Result<(), DriverError> {
    let expected = match status.status_type() {
        StatusType::Text => None,
        StatusType::Image => Some(MediaKind::Image),
        StatusType::Video => Some(MediaKind::Video),
    };
    if expected == media.map(|m| m.kind) {
        Ok(())
    } else {
        Err(DriverError::Other(anyhow::anyhow!(
            "a {} status was sent with {:?} media",
            status.status_type().as_str(),
            media.map(|m| m.kind)
        )))
    }
}
