//! [`WebDriver`]: the sessions, and the domain's driver port on them.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use tokio::sync::Mutex;
use wastatus_domain::ports::{Clock, DriverError, Published, SendCheck, WhatsAppDriver};
use wastatus_domain::{
    Audience, Contact, MediaKind, MessageId, PairMethod, Pairing, PairingCode, PreparedMedia, QrCode, Reach, Recipient,
    SessionCondition, SessionKey, SessionState, Status, StatusContent, StatusType,
};
use whatsapp_rust::http::HttpClient;
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::transport::{TokioWebSocketTransportFactory, TransportFactory};
use whatsapp_rust::wacore::download::MediaType;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::waproto::whatsapp::message::extended_text_message::FontType;
use whatsapp_rust::{Client, IsOnWhatsAppResult, Jid, StatusSendOptions, UploadOptions};

use crate::config::WebDriverConfig;
use crate::errors::{self, Stage};
use crate::http::ReqwestHttpClient;
use crate::ledger::{self, Entry, Outcome};
use crate::send::{ClientSender, StatusSender};
use crate::session::{Ack, Deps, Paths, Session};
use crate::state::{Connection, Link, SessionStatus};

/// How long a pairing code is valid, as WhatsApp says.
const PAIRING_CODE_TTL: TimeDelta = TimeDelta::seconds(180);

/// The real WhatsApp driver: linked companion devices (WhatsApp Web multi-device) on
/// whatsapp-rust, one client per session on the shared Tokio runtime.
///
/// Sessions are started with [`WhatsAppDriver::start`] (on boot, for every stored session,
/// and on first use) and run until [`WhatsAppDriver::remove`] or [`WebDriver::shutdown`]. Each
/// keeps its device state (keys, the linked account) in `<dir>/<tenant>/<session>.db`, its send
/// journal in `<session>.sends.jsonl`, its terminal reason in `<session>.status.json` and the
/// linked account's contacts in `<session>.contacts.json`.
///
/// Cheap to clone: clones share the sessions.
#[derive(Clone)]
pub struct WebDriver {
    inner: Arc<Inner>,
}

struct Inner {
    deps: Deps,
    sender: Arc<dyn StatusSender>,
    sessions: Mutex<HashMap<SessionKey, Arc<Session>>>,
    shutting_down: AtomicBool,
}

/// Builds a [`WebDriver`]; see [`WebDriver::builder`].
pub struct WebDriverBuilder {
    config: WebDriverConfig,
    clock: Arc<dyn Clock>,
    transport: Option<Arc<dyn TransportFactory>>,
    http: Option<Arc<dyn HttpClient>>,
    sender: Option<Arc<dyn StatusSender>>,
}

impl WebDriverBuilder {
    /// Replaces the WebSocket transport to WhatsApp (tests use a fake one).
    pub fn transport(mut self, transport: Arc<dyn TransportFactory>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Replaces the HTTP client (tests use a fake one).
    pub fn http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http = Some(http);
        self
    }

    /// Replaces how status stanzas are sent (tests watch the chunks and answer with acks).
    #[cfg(feature = "testing")]
    pub fn status_sender(mut self, sender: Arc<dyn StatusSender>) -> Self {
        self.sender = Some(sender);
        self
    }

    pub fn build(self) -> anyhow::Result<WebDriver> {
        let http = match self.http {
            Some(http) => http,
            None => Arc::new(ReqwestHttpClient::new(self.config.http_connect_timeout, self.config.http_timeout)?),
        };
        let transport = self.transport.unwrap_or_else(|| Arc::new(TokioWebSocketTransportFactory::new()));
        let deps = Deps { config: Arc::new(self.config), clock: self.clock, transport, http };
        Ok(WebDriver {
            inner: Arc::new(Inner {
                deps,
                sender: self.sender.unwrap_or_else(|| Arc::new(ClientSender)),
                sessions: Mutex::new(HashMap::new()),
                shutting_down: AtomicBool::new(false),
            }),
        })
    }
}

/// What a publish did, beyond its message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReport {
    pub message_id: MessageId,
    /// The recipients it was encrypted to (LIDs), the sender's own account excluded.
    pub recipients: Vec<String>,
    /// The people of the audience who have no WhatsApp account (or could not be looked up).
    pub unresolved: Vec<Recipient>,
}

impl PublishReport {
    /// What the port reports.
    pub fn published(self) -> Published {
        let recipients = u32::try_from(self.recipients.len()).unwrap_or(u32::MAX);
        Published { message_id: self.message_id, reach: Reach { recipients, unresolved: self.unresolved } }
    }
}

/// Who a status goes to.
struct Resolved {
    /// LIDs, sorted, without the sender's own account.
    recipients: Vec<Jid>,
    unresolved: Vec<Recipient>,
}

/// Whether each step of a send goes to the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Journal {
    /// A status: every chunk's steps are journaled, for `reconcile` and for late acks.
    Steps,
    /// A revocation: only its end is journaled, by the caller.
    Off,
}

/// What is being sent, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Status,
    Revocation,
}

impl What {
    /// Where a send that stopped after `done` of `total` recipients leaves things.
    fn progress(self, done: usize, total: usize) -> String {
        match self {
            What::Status => format!("{done} of {total} recipients already got the status, so it is not sent again"),
            What::Revocation => format!("the revocation reached {done} of {total} recipients"),
        }
    }

    fn unconfirmed(self) -> &'static str {
        match self {
            What::Status => "the status may or may not be visible",
            What::Revocation => "the status may or may not have been deleted",
        }
    }
}

/// One message to send in chunks.
struct Outgoing<'a> {
    message: &'a wa::Message,
    message_id: &'a str,
    recipients: &'a [Jid],
    /// The chunks, as ranges of `recipients`, in sending order.
    chunks: Vec<Range<usize>>,
    journal: Journal,
    what: What,
}

/// The error of a send that stopped after some recipients got the message: it says how many,
/// and is never one that makes the status be sent again (a duplicate for those who have it).
fn after_partial(error: DriverError, written: Written, done: usize, total: usize, what: What) -> DriverError {
    let progress = what.progress(done, total);
    match error {
        DriverError::ServerRejected(why) => DriverError::ServerRejected(format!("{why}; {progress}")),
        DriverError::Unconfirmed(why) => DriverError::Unconfirmed(format!("{why}; {progress}")),
        DriverError::DeviceError(why) => DriverError::DeviceError(format!("{why}; {progress}")),
        DriverError::Other(cause) => DriverError::Other(cause.context(progress)),
        other => match written {
            Written::No => DriverError::DeviceError(format!("{other}; {progress}")),
            Written::Maybe => DriverError::Unconfirmed(format!(
                "{other} while the next recipients' stanza was being written, and {}; {progress}",
                what.unconfirmed()
            )),
        },
    }
}

/// Whether a failed send may have written its stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    No,
    Maybe,
}

/// The message that deletes the status `message_id` from its recipients' phones.
fn revocation(message_id: &str) -> wa::Message {
    use whatsapp_rust::waproto::buffa::MessageField;
    wa::Message {
        protocol_message: MessageField::some(wa::message::ProtocolMessage {
            key: MessageField::some(wa::MessageKey {
                remote_jid: Some(Jid::status_broadcast().to_string()),
                from_me: Some(true),
                id: Some(message_id.to_owned()),
                ..Default::default()
            }),
            r#type: Some(wa::message::protocol_message::Type::REVOKE),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl WebDriver {
    /// A driver with `config`, reading time from `clock`, talking to WhatsApp over its
    /// WebSocket and reqwest (override both with the builder's methods).
    pub fn builder(config: WebDriverConfig, clock: Arc<dyn Clock>) -> WebDriverBuilder {
        WebDriverBuilder { config, clock, transport: None, http: None, sender: None }
    }

    /// The settings it runs with.
    pub fn config(&self) -> &WebDriverConfig {
        &self.inner.deps.config
    }

    fn clock(&self) -> &dyn Clock {
        self.inner.deps.clock.as_ref()
    }

    async fn session(&self, key: &SessionKey) -> Result<Arc<Session>, DriverError> {
        self.inner.sessions.lock().await.get(key).cloned().ok_or(DriverError::UnknownSession)
    }

    /// Everything known about a session: its state and the reason for it (the port's `state`),
    /// how it is linked and connected, its terminal reason, the QR or pairing code on offer,
    /// the linked account.
    pub async fn status(&self, key: &SessionKey) -> Result<SessionStatus, DriverError> {
        Ok(self.session(key).await?.core.status())
    }

    /// The sessions running now.
    pub async fn sessions(&self) -> Vec<SessionKey> {
        self.inner.sessions.lock().await.keys().cloned().collect()
    }

    /// Clears a session's terminal reason (replaced, banned, refused) and connects it again:
    /// an operator's "reconnect". Harmless for a session that runs.
    pub async fn reconnect(&self, key: &SessionKey) -> Result<SessionState, DriverError> {
        let session = self.session(key).await?;
        let status = session.core.status();
        if status.terminal.is_some() || matches!(status.connection, Connection::Stopped { .. }) {
            let link = match status.link {
                Link::LoggedOut => return Err(DriverError::LoggedOut),
                link => link,
            };
            session.restart(link);
        }
        Ok(session.core.state())
    }

    /// Stops every session promptly: each client gets [`WebDriverConfig::shutdown_grace`] to
    /// flush its device state, all at once, and is aborted after that. Later calls to `start`
    /// fail with [`DriverError::Unavailable`].
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let sessions: Vec<Arc<Session>> = self.inner.sessions.lock().await.drain().map(|(_, s)| s).collect();
        let grace = self.config().shutdown_grace;
        futures::future::join_all(sessions.iter().map(|session| session.stop(grace))).await;
    }

    /// Waits (up to `wait`) until `ready` finds what it looks for in the session's state.
    async fn wait_for<T>(
        &self,
        session: &Session,
        wait: Duration,
        mut ready: impl FnMut(&SessionStatus) -> Option<T>,
    ) -> Option<T> {
        let mut changes = session.core.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(found) = ready(&session.core.status()) {
                return Some(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return ready(&session.core.status()),
            }
        }
    }

    /// Makes a pairing session ready to hand out codes: a new device after a logout, a new
    /// round of QR codes after the last one ran out (or stopped).
    fn ensure_pairing(&self, session: &Session) -> Result<(), DriverError> {
        let status = session.core.status();
        match status.link {
            Link::Paired => Err(DriverError::AlreadyPaired),
            Link::LoggedOut => {
                session.restart(Link::Unpaired);
                Ok(())
            }
            Link::Unpaired => {
                if status.qr_exhausted
                    || status.terminal.is_some()
                    || matches!(status.connection, Connection::Stopped { .. })
                {
                    session.restart(Link::Unpaired);
                }
                Ok(())
            }
        }
    }

    async fn pair_by_qr(&self, session: &Session) -> Result<QrCode, DriverError> {
        self.ensure_pairing(session)?;
        fail_fast_offline(session)?;
        let wait = self.config().pair_wait;
        let now = || self.clock().now();
        let found = self
            .wait_for(session, wait, |status| {
                if status.link == Link::Paired {
                    return Some(Err(DriverError::AlreadyPaired));
                }
                status.qr.clone().filter(|qr| now() < qr.expires_at).map(Ok)
            })
            .await;
        match found {
            Some(result) => result,
            None => Err(not_ready(&session.core.status(), "QR code", wait)),
        }
    }

    async fn pair_by_code(&self, session: &Session, phone: &str) -> Result<PairingCode, DriverError> {
        self.ensure_pairing(session)?;
        fail_fast_offline(session)?;
        let wait = self.config().pair_wait;
        let started = tokio::time::Instant::now();
        let client = self
            .wait_for(session, wait, |_| session.client())
            .await
            .ok_or_else(|| not_ready(&session.core.status(), "connection", wait))?;
        let left = wait.saturating_sub(started.elapsed());
        if client.wait_for_socket(left).await.is_err() {
            return Err(not_ready(&session.core.status(), "connection", wait));
        }
        let options = PairCodeOptions { phone_number: phone.to_owned(), ..Default::default() };
        let code = client.pair_with_code(options).await.map_err(|e| errors::classify_pair(&e))?;
        let now = self.clock().now();
        let from_event = session.core.status().pairing_code;
        Ok(from_event.unwrap_or_else(|| PairingCode { code: group_code(&code), expires_at: now + PAIRING_CODE_TTL }))
    }

    /// The client of a session that can send now, or why not.
    fn sender(&self, session: &Session) -> Result<Arc<Client>, DriverError> {
        let status = session.core.status();
        match status.link {
            Link::Unpaired => return Err(DriverError::NotPaired),
            Link::LoggedOut => return Err(DriverError::LoggedOut),
            Link::Paired => {}
        }
        if status.connection != Connection::Online {
            return Err(DriverError::Disconnected);
        }
        session.client().ok_or(DriverError::Disconnected)
    }

    /// The audience, resolved to LIDs: drawn from the account's contacts (for `contacts` and
    /// `denylist`) or the allowlist; LIDs as they are, phone numbers through the device's
    /// LID-PN cache and else a usync look-up (in batches of the chunk size). The sender's own
    /// account is left out (it sees its statuses anyway). Nobody left is
    /// [`DriverError::NoRecipients`].
    async fn recipients(
        &self,
        session: &Session,
        client: &Client,
        audience: &Audience,
    ) -> Result<Resolved, DriverError> {
        let contacts = session.core.contacts.list();
        if contacts.is_empty() && !matches!(audience, Audience::Allowlist { .. }) {
            return Err(DriverError::NoRecipients(format!(
                "the {} audience is drawn from the linked account's contacts, and its address book has not \
                 been synced yet (WhatsApp sends it after the device is linked); try again later, or publish \
                 to an allowlist",
                audience.mode()
            )));
        }
        let chosen = audience.select(&contacts);
        if chosen.is_empty() {
            return Err(DriverError::NoRecipients(
                "nobody to send to: the deny list names every contact of the linked account".to_owned(),
            ));
        }
        let mut resolved = Vec::with_capacity(chosen.len());
        let mut unknown: Vec<(Recipient, Jid)> = Vec::new();
        for recipient in chosen {
            match &recipient {
                Recipient::Lid(lid) => resolved.push(Jid::lid(lid.as_str())),
                Recipient::Phone(phone) => {
                    let jid = Jid::pn(phone.as_str());
                    match client.get_lid_pn_entry(&jid).await {
                        Ok(Some(entry)) => resolved.push(Jid::lid(&*entry.lid)),
                        _ => unknown.push((recipient, jid)),
                    }
                }
            }
        }
        let mut unresolved = Vec::new();
        for batch in unknown.chunks(self.config().status_chunk_size.max(1)) {
            let jids: Vec<Jid> = batch.iter().map(|(_, jid)| jid.clone()).collect();
            let answers =
                client.contacts().is_on_whatsapp(&jids).await.map_err(|e| errors::classify(Stage::Resolve, &e))?;
            let mut by_user: HashMap<String, &IsOnWhatsAppResult> = HashMap::with_capacity(answers.len());
            for answer in &answers {
                by_user.insert(answer.jid.user.to_string(), answer);
                if let Some(pn) = &answer.pn_jid {
                    by_user.insert(pn.user.to_string(), answer);
                }
            }
            for (recipient, jid) in batch {
                let lid = by_user.get(&jid.user.to_string()).filter(|a| a.is_registered).and_then(|a| a.lid.as_ref());
                match lid {
                    Some(lid) => resolved.push(lid.to_non_ad()),
                    None => unresolved.push(recipient.clone()),
                }
            }
        }
        let device = client.persistence_manager().get_device_snapshot();
        let own: Vec<String> = [&device.lid, &device.pn].into_iter().flatten().map(|j| j.user.to_string()).collect();
        resolved.retain(|jid| !own.contains(&jid.user.to_string()));
        if let Audience::Denylist { jids } = audience {
            // The deny list was matched against the contacts as synced, by the names each one
            // happened to carry; a contact synced by number only and denied by LID (or the other
            // way round) is caught here, once both sides are LIDs.
            let denied = self.lids_of(client, jids, &contacts).await?;
            resolved.retain(|jid| !denied.contains(&jid.user.to_string()));
        }
        resolved.sort_by_cached_key(ToString::to_string);
        resolved.dedup();
        if resolved.is_empty() {
            return Err(DriverError::NoRecipients(format!(
                "none of the audience could be resolved to a WhatsApp account ({} unresolved)",
                unresolved.len()
            )));
        }
        if !unresolved.is_empty() {
            let unresolved = unresolved.len();
            tracing::warn!(session = %session.core.key, unresolved, "some of the audience is not on WhatsApp");
        }
        Ok(Resolved { recipients: resolved, unresolved })
    }

    /// The LIDs (their user parts) of `people`: LIDs as they are, phone numbers through the
    /// synced contacts, the LID-PN cache and else a usync look-up; numbers without WhatsApp
    /// have none.
    async fn lids_of(
        &self,
        client: &Client,
        people: &[Recipient],
        contacts: &[Contact],
    ) -> Result<HashSet<String>, DriverError> {
        let synced: HashMap<&str, &str> =
            contacts.iter().filter_map(|c| Some((c.phone.as_ref()?.as_str(), c.lid.as_ref()?.as_str()))).collect();
        let mut lids = HashSet::with_capacity(people.len());
        let mut unknown = Vec::new();
        for person in people {
            match person {
                Recipient::Lid(lid) => {
                    lids.insert(lid.as_str().to_owned());
                }
                Recipient::Phone(phone) => {
                    if let Some(lid) = synced.get(phone.as_str()) {
                        lids.insert((*lid).to_owned());
                        continue;
                    }
                    let jid = Jid::pn(phone.as_str());
                    match client.get_lid_pn_entry(&jid).await {
                        Ok(Some(entry)) => {
                            lids.insert(entry.lid.to_string());
                        }
                        _ => unknown.push(jid),
                    }
                }
            }
        }
        for batch in unknown.chunks(self.config().status_chunk_size.max(1)) {
            let answers =
                client.contacts().is_on_whatsapp(batch).await.map_err(|e| errors::classify(Stage::Resolve, &e))?;
            lids.extend(
                answers.iter().filter(|a| a.is_registered).filter_map(|a| a.lid.as_ref()).map(|l| l.user.to_string()),
            );
        }
        Ok(lids)
    }

    /// [`WhatsAppDriver::publish`], also saying who received the status and who could not.
    pub async fn publish_with_report(
        &self,
        key: &SessionKey,
        status: &Status,
        media: Option<PreparedMedia>,
    ) -> Result<PublishReport, DriverError> {
        check_media(status, media.as_ref())?;
        let session = self.session(key).await?;
        let client = self.sender(&session)?;
        let Resolved { recipients, unresolved } = self.recipients(&session, &client, status.audience()).await?;
        let message = self.message(&client, status, media).await?;
        let message_id = client.generate_message_id();
        let ids: Vec<String> = recipients.iter().map(ToString::to_string).collect();
        let chunk_size = self.config().status_chunk_size.max(1);
        let intent = Entry::Intent {
            status: status.id().to_string(),
            message_id: message_id.clone(),
            recipients: ids.clone(),
            chunk_size: Some(chunk_size),
            at: self.clock().now(),
        };
        session
            .core
            .ledger
            .append(intent)
            .await
            .map_err(|e| DriverError::Other(anyhow::anyhow!("recording the send in the journal: {e}")))?;
        let outgoing = Outgoing {
            message: &message,
            message_id: &message_id,
            recipients: &recipients,
            chunks: ledger::chunks(recipients.len(), chunk_size),
            journal: Journal::Steps,
            what: What::Status,
        };
        if let Err(error) = self.send_chunks(&session, &client, outgoing).await {
            tracing::warn!(session = %key, status = %status.id(), %error, "the status could not be sent");
            return Err(error);
        }
        let message_id = MessageId::new(message_id.clone())
            .map_err(|e| DriverError::Other(anyhow::anyhow!("WhatsApp message id {message_id:?}: {}", e.message)))?;
        Ok(PublishReport { message_id, recipients: ids, unresolved })
    }

    /// Sends a message chunk by chunk, one after the other under the same message id: each
    /// chunk's stanza goes to its recipients' devices and must be acknowledged by the server
    /// (within the ack time-out) before the next goes. The first chunk's failure is the
    /// send's; a later one's says how many recipients already got the message.
    async fn send_chunks(&self, session: &Session, client: &Client, out: Outgoing<'_>) -> Result<(), DriverError> {
        let core = &session.core;
        let id = out.message_id;
        let total = out.recipients.len();
        let count = out.chunks.len();
        let mut done = 0;
        for (index, range) in out.chunks.iter().enumerate() {
            let chunk = Some(index);
            let partial = |error: DriverError, written: Written| match done {
                0 => error,
                done => after_partial(error, written, done, total, out.what),
            };
            let ack = core.expect_ack(id);
            let options = StatusSendOptions { message_id: Some(id.to_owned()), ..Default::default() };
            let recipients = &out.recipients[range.clone()];
            if let Err(e) = self.inner.sender.send(client, out.message.clone(), recipients, options).await {
                core.forget_ack(id);
                let written = if errors::certainly_not_sent(&e) { Written::No } else { Written::Maybe };
                let key = &core.key;
                tracing::warn!(session = %key, message = id, chunk = index, error = %e, "a status stanza failed");
                if out.journal == Journal::Steps && written == Written::No {
                    let entry = Entry::NotSent {
                        message_id: id.to_owned(),
                        chunk,
                        reason: e.to_string(),
                        at: self.clock().now(),
                    };
                    self.journal(session, entry).await;
                }
                return Err(partial(errors::classify_send(&e), written));
            }
            if out.journal == Journal::Steps {
                self.journal(session, Entry::Written { message_id: id.to_owned(), chunk, at: self.clock().now() })
                    .await;
            }
            let wait = self.config().ack_timeout;
            match tokio::time::timeout(wait, ack).await {
                Ok(Ok(Ack::Accepted)) => {
                    if out.journal == Journal::Steps {
                        self.journal(
                            session,
                            Entry::Acked { message_id: id.to_owned(), chunk, at: self.clock().now() },
                        )
                        .await;
                    }
                    done += range.len();
                }
                Ok(Ok(Ack::Rejected(code))) => {
                    if out.journal == Journal::Steps {
                        let entry = Entry::Rejected {
                            message_id: id.to_owned(),
                            chunk,
                            code: code.clone(),
                            at: self.clock().now(),
                        };
                        self.journal(session, entry).await;
                    }
                    return Err(partial(DriverError::ServerRejected(format!("error {code}")), Written::No));
                }
                Ok(Err(_)) | Err(_) => {
                    core.forget_ack(id);
                    let whom = match count {
                        1 => String::new(),
                        _ => format!(" for recipients {} to {}", range.start + 1, range.end),
                    };
                    let why = format!(
                        "no acknowledgement from the WhatsApp server within {} s{whom}; {}",
                        wait.as_secs(),
                        out.what.unconfirmed()
                    );
                    return Err(partial(DriverError::Unconfirmed(why), Written::Maybe));
                }
            }
        }
        Ok(())
    }

    /// Appends to the journal, logging a failure (for facts whose loss only makes a later
    /// reconcile answer "unknown").
    async fn journal(&self, session: &Session, entry: Entry) {
        if let Err(e) = session.core.ledger.append(entry).await {
            tracing::error!(session = %session.core.key, error = %e, "could not write to the send journal");
        }
    }

    /// The message to post: text as is, media uploaded first (within the upload time-out).
    async fn message(
        &self,
        client: &Client,
        status: &Status,
        media: Option<PreparedMedia>,
    ) -> Result<wa::Message, DriverError> {
        match (status.content(), media) {
            (StatusContent::Text(text), _) => Ok(wa::Message {
                extended_text_message: whatsapp_rust::waproto::buffa::MessageField::some(
                    wa::message::ExtendedTextMessage {
                        text: Some(text.text.as_str().to_owned()),
                        background_argb: Some(text.background_color.argb()),
                        font: Some(font_type(text.font.code())),
                        ..Default::default()
                    },
                ),
                ..Default::default()
            }),
            (StatusContent::Image(meta) | StatusContent::Video(meta), Some(media)) => {
                let kind = if media.kind == MediaKind::Image { MediaType::Image } else { MediaType::Video };
                let upload = upload(client, &media, kind, self.config().upload_timeout).await?;
                let caption = meta.caption.as_ref().map(|c| c.as_str().to_owned());
                let thumbnail = Some(media.thumbnail.to_vec());
                let mut message = if media.kind == MediaKind::Image {
                    let options = whatsapp_rust::media::ImageOptions {
                        caption,
                        mimetype: Some(media.mime_type.clone()),
                        jpeg_thumbnail: thumbnail,
                        ..Default::default()
                    };
                    whatsapp_rust::media::image_message(upload, options)
                } else {
                    let options = whatsapp_rust::media::VideoOptions {
                        caption,
                        mimetype: Some(media.mime_type.clone()),
                        jpeg_thumbnail: thumbnail,
                        duration_seconds: media.duration_secs,
                        ..Default::default()
                    };
                    whatsapp_rust::media::video_message(upload, options)
                };
                if let Some(image) = message.image_message.as_option_mut() {
                    image.width = Some(media.width);
                    image.height = Some(media.height);
                }
                if let Some(video) = message.video_message.as_option_mut() {
                    video.width = Some(media.width);
                    video.height = Some(media.height);
                }
                Ok(message)
            }
            (_, None) => Err(DriverError::Other(anyhow::anyhow!("a media status came without its media"))),
        }
    }
}

/// Uploads `media` within `limit`; dropping the upload on time-out cancels its HTTP request.
pub(crate) async fn upload(
    client: &Client,
    media: &PreparedMedia,
    kind: MediaType,
    limit: Duration,
) -> Result<whatsapp_rust::upload::UploadResponse, DriverError> {
    let upload = client.upload(media.bytes.to_vec(), kind, UploadOptions::default());
    match tokio::time::timeout(limit, upload).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => {
            let error = errors::classify_upload(&e);
            tracing::warn!(error = format!("{e:#}"), "media upload failed");
            Err(error)
        }
        Err(_) => Err(DriverError::UploadTimeout),
    }
}

/// A session whose last connection attempt failed gets no code soon: say so at once rather
/// than after the whole wait (its client keeps retrying in the background).
fn fail_fast_offline(session: &Session) -> Result<(), DriverError> {
    match session.core.status().connection {
        Connection::Offline { .. } => Err(DriverError::Disconnected),
        _ => Ok(()),
    }
}

/// Why no code could be handed out in time: the connection's problem if it has one.
fn not_ready(status: &SessionStatus, what: &str, wait: Duration) -> DriverError {
    match &status.connection {
        Connection::Offline { .. } | Connection::Stopped { .. } => DriverError::Disconnected,
        _ => DriverError::DeviceError(format!("WhatsApp sent no {what} within {} s; try again", wait.as_secs())),
    }
}

fn group_code(code: &str) -> String {
    if code.len() == 8 && code.is_ascii() { format!("{}-{}", &code[..4], &code[4..]) } else { code.to_owned() }
}

/// WhatsApp's font for the domain's font code. Codes 3 to 5 (Bryndan Write, Bebas Neue,
/// Oswald Heavy) are not in whatsapp-rust's protocol enum (current WhatsApp clients no longer
/// offer them): they fall back to the nearest font it has.
pub(crate) fn font_type(code: u8) -> FontType {
    match code {
        0 => FontType::SYSTEM,
        1 => FontType::SYSTEM_TEXT,
        2 | 3 => FontType::FB_SCRIPT,
        4..=6 => FontType::SYSTEM_BOLD,
        7 => FontType::MORNINGBREEZE_REGULAR,
        8 => FontType::CALISTOGA_REGULAR,
        9 => FontType::EXO2_EXTRABOLD,
        10 => FontType::COURIERPRIME_BOLD,
        _ => FontType::SYSTEM,
    }
}

/// A driver sends media only for image and video statuses, and only of their kind.
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

#[async_trait]
impl WhatsAppDriver for WebDriver {
    /// Opens the session's device store and starts its client in the background; answers at
    /// once (no network wait). A paired device starts `disconnected` until it is logged in; a
    /// new one starts `pairing`, and `disconnected` with the reason if WhatsApp cannot be
    /// reached.
    async fn start(&self, session: &SessionKey) -> Result<SessionState, DriverError> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(DriverError::Unavailable("the WhatsApp driver is shutting down".to_owned()));
        }
        let mut sessions = self.inner.sessions.lock().await;
        if let Some(running) = sessions.get(session) {
            return Ok(running.core.state());
        }
        let launched = Arc::new(Session::launch(session, &self.inner.deps).await?);
        let state = launched.core.state();
        sessions.insert(session.clone(), launched);
        tracing::info!(session = %session, %state, "WhatsApp session started");
        Ok(state)
    }

    /// The state with its reason (see [`crate::state`] for the codes).
    async fn state(&self, session: &SessionKey) -> Result<SessionCondition, DriverError> {
        Ok(self.session(session).await?.core.condition())
    }

    /// [`WebDriver::reconnect`].
    async fn restart(&self, session: &SessionKey) -> Result<SessionState, DriverError> {
        self.reconnect(session).await
    }

    /// By QR: the current code, or the first of a new round (waiting up to `pair_wait` for
    /// WhatsApp to send one). By code: asks WhatsApp for an 8-character code for the number.
    async fn pair(&self, session: &SessionKey, method: &PairMethod) -> Result<Pairing, DriverError> {
        let running = self.session(session).await?;
        match method {
            PairMethod::Qr => Ok(Pairing::Qr(self.pair_by_qr(&running).await?)),
            PairMethod::Code { phone_number } => {
                Ok(Pairing::Code(self.pair_by_code(&running, phone_number.as_str()).await?))
            }
        }
    }

    /// The QR code on offer. After a round ran out (or stopped), asking starts a new one and
    /// waits for its first code. While WhatsApp cannot be reached there is none.
    async fn qr(&self, session: &SessionKey) -> Result<QrCode, DriverError> {
        let running = self.session(session).await?;
        let status = running.core.status();
        if status.link != Link::Unpaired {
            return Err(DriverError::NoQrCode);
        }
        if let Some(qr) = status.qr {
            return Ok(qr);
        }
        if matches!(status.connection, Connection::Offline { .. }) && !status.qr_exhausted {
            return Err(DriverError::NoQrCode);
        }
        self.pair_by_qr(&running).await.map_err(|e| match e {
            DriverError::AlreadyPaired | DriverError::Disconnected | DriverError::DeviceError(_) => {
                DriverError::NoQrCode
            }
            other => other,
        })
    }

    /// Unlinks the device from the phone (best effort when offline: the phone then still lists
    /// it until it is removed there) and wipes its keys. The session must pair again.
    async fn logout(&self, session: &SessionKey) -> Result<(), DriverError> {
        let running = self.session(session).await?;
        match running.core.link() {
            Link::Unpaired => return Err(DriverError::NotPaired),
            Link::LoggedOut => return Err(DriverError::LoggedOut),
            Link::Paired => {}
        }
        match running.client() {
            // Sends the unlink request if connected, reports `LoggedOut`, and disconnects; the
            // supervisor then wipes the device state.
            Some(client) => client.logout().await,
            None => {
                let event = whatsapp_rust::types::events::Event::LoggedOut(
                    whatsapp_rust::types::events::LoggedOut::builder()
                        .on_connect(false)
                        .reason(whatsapp_rust::types::events::ConnectFailureReason::LoggedOut)
                        .build(),
                );
                running.core.on_event(&event);
                running.core.wipe_device().map_err(|e| {
                    DriverError::Other(anyhow::anyhow!("wiping the device state of session {session}: {e}"))
                })?;
            }
        }
        let _ =
            self.wait_for(&running, self.config().shutdown_grace, |s| (s.link == Link::LoggedOut).then_some(())).await;
        Ok(())
    }

    /// Stops the session's client and deletes its device state, journal, contacts and status
    /// file.
    async fn remove(&self, session: &SessionKey) -> Result<(), DriverError> {
        let running = self.inner.sessions.lock().await.remove(session);
        if let Some(running) = &running {
            running.core.contacts.close();
            running.stop(self.config().shutdown_grace).await;
            running.core.ledger.wipe().map_err(|e| DriverError::Other(e.into()))?;
        }
        Paths::of(&self.config().store, session)
            .wipe_all()
            .map_err(|e| DriverError::Other(anyhow::anyhow!("deleting the device state of session {session}: {e}")))?;
        Ok(())
    }

    /// Uploads the media (if any) within the upload time-out, resolves the audience, posts the
    /// status under a message id recorded in the journal first (in chunks of
    /// [`WebDriverConfig::status_chunk_size`] recipients), and returns once the server
    /// acknowledged every chunk (each within the ack time-out).
    async fn publish(
        &self,
        session: &SessionKey,
        status: &Status,
        media: Option<PreparedMedia>,
    ) -> Result<Published, DriverError> {
        let report = self.publish_with_report(session, status, media).await?;
        if !report.unresolved.is_empty() {
            tracing::info!(
                session = %session,
                status = %status.id(),
                recipients = report.recipients.len(),
                unresolved = report.unresolved.len(),
                "status published to part of its audience"
            );
        }
        Ok(report.published())
    }

    /// The contacts WhatsApp synced from the linked account's address book, in a stable order.
    async fn contacts(&self, session: &SessionKey) -> Result<Vec<Contact>, DriverError> {
        Ok(self.session(session).await?.core.contacts.list())
    }

    /// Revokes a status for the recipients it was posted to, in the chunks it was posted in
    /// (from the journal; the current audience if the journal does not know it), each chunk
    /// acknowledged by the server before the next.
    async fn revoke(&self, session: &SessionKey, status: &Status) -> Result<(), DriverError> {
        let message_id = status
            .message_id()
            .ok_or_else(|| DriverError::DeviceError("the status has no message id to revoke".to_owned()))?
            .as_str()
            .to_owned();
        let running = self.session(session).await?;
        let client = self.sender(&running)?;
        let chunk_size = self.config().status_chunk_size.max(1);
        let journaled = running.core.ledger.message(&message_id).and_then(|record| {
            let recipients: Result<Vec<Jid>, _> = record.recipients.iter().map(|r| r.parse::<Jid>()).collect();
            recipients.ok().map(|recipients| (recipients, record.chunks))
        });
        let (recipients, chunks) = match journaled {
            Some(known) => known,
            None => {
                let recipients = self.recipients(&running, &client, status.audience()).await?.recipients;
                let chunks = ledger::chunks(recipients.len(), chunk_size);
                (recipients, chunks)
            }
        };
        let revoke_id = client.generate_message_id();
        let message = revocation(&message_id);
        let outgoing = Outgoing {
            message: &message,
            message_id: &revoke_id,
            recipients: &recipients,
            chunks,
            journal: Journal::Off,
            what: What::Revocation,
        };
        self.send_chunks(&running, &client, outgoing).await?;
        self.journal(&running, Entry::Revoked { message_id, at: self.clock().now() }).await;
        Ok(())
    }

    /// From the send journal: `Sent` once the server acknowledged every chunk of the message
    /// (with the number of recipients it was sent to; who could not be resolved is not
    /// journaled); `NotSent` if no send was ever started for the status, or the last one
    /// failed (or was rejected) at its first chunk before anything else went; `Unknown` if a
    /// stanza may have left without a verdict recorded, or only some chunks were delivered.
    async fn reconcile(&self, session: &SessionKey, status: &Status) -> Result<SendCheck, DriverError> {
        let running = self.session(session).await?;
        let Some(record) = running.core.ledger.latest_for(&status.id().to_string()) else {
            return Ok(SendCheck::NotSent);
        };
        Ok(match record.outcome() {
            Outcome::Acked => match MessageId::new(record.message_id.clone()) {
                Ok(message_id) => {
                    let recipients = u32::try_from(record.recipients.len()).unwrap_or(u32::MAX);
                    SendCheck::Sent(Published { message_id, reach: Reach { recipients, unresolved: Vec::new() } })
                }
                Err(_) => SendCheck::Unknown,
            },
            Outcome::NotSent | Outcome::Rejected => SendCheck::NotSent,
            Outcome::Intended | Outcome::Written | Outcome::Partial => SendCheck::Unknown,
        })
    }
}

#[cfg(feature = "testing")]
impl WebDriver {
    /// Feeds a whatsapp-rust event to a session as if its client had dispatched it.
    pub async fn inject_event(
        &self,
        session: &SessionKey,
        event: whatsapp_rust::types::events::Event,
    ) -> Result<(), DriverError> {
        self.session(session).await?.core.on_event(&event);
        Ok(())
    }

    /// The session's running whatsapp-rust client, if any.
    pub async fn client(&self, session: &SessionKey) -> Result<Option<Arc<Client>>, DriverError> {
        Ok(self.session(session).await?.client())
    }
}

impl std::fmt::Debug for WebDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebDriver").field("store", &self.config().store).finish_non_exhaustive()
    }
}
