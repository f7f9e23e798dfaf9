//! [`WebDriver`]: the sessions, and the domain's driver port on them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use tokio::sync::Mutex;
use wastatus_domain::ports::{Clock, DriverError, SendCheck, WhatsAppDriver};
use wastatus_domain::{
    MediaKind, MessageId, PairMethod, Pairing, PairingCode, PreparedMedia, QrCode, SessionKey, SessionState, Status,
    StatusContent, StatusType,
};
use whatsapp_rust::http::HttpClient;
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::transport::{TokioWebSocketTransportFactory, TransportFactory};
use whatsapp_rust::wacore::download::MediaType;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::waproto::whatsapp::message::extended_text_message::FontType;
use whatsapp_rust::{Client, Jid, StatusSendOptions, UploadOptions};

use crate::audience::AudienceProvider;
use crate::config::WebDriverConfig;
use crate::errors::{self, Stage};
use crate::http::ReqwestHttpClient;
use crate::ledger::{Entry, Outcome};
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
/// journal in `<session>.sends.jsonl` and its terminal reason in `<session>.status.json`.
///
/// Cheap to clone: clones share the sessions.
#[derive(Clone)]
pub struct WebDriver {
    inner: Arc<Inner>,
}

struct Inner {
    deps: Deps,
    audience: Arc<dyn AudienceProvider>,
    sessions: Mutex<HashMap<SessionKey, Arc<Session>>>,
    shutting_down: AtomicBool,
}

/// Builds a [`WebDriver`]; see [`WebDriver::builder`].
pub struct WebDriverBuilder {
    config: WebDriverConfig,
    clock: Arc<dyn Clock>,
    audience: Arc<dyn AudienceProvider>,
    transport: Option<Arc<dyn TransportFactory>>,
    http: Option<Arc<dyn HttpClient>>,
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
                audience: self.audience,
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
    /// The audience's phone numbers that have no WhatsApp account (or could not be resolved).
    pub unresolved: Vec<String>,
}

impl WebDriver {
    /// A driver with `config`, reading time from `clock` and the recipients of each status from
    /// `audience`, talking to WhatsApp over its WebSocket and reqwest (override both with the
    /// builder's methods).
    pub fn builder(
        config: WebDriverConfig,
        clock: Arc<dyn Clock>,
        audience: Arc<dyn AudienceProvider>,
    ) -> WebDriverBuilder {
        WebDriverBuilder { config, clock, audience, transport: None, http: None }
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

    /// Everything known about a session: its state, why it is not connected (a terminal reason
    /// such as `replaced`, `banned` or `logged_out`, or the last connection error), the QR or
    /// pairing code on offer. The port's `state` carries only the first; the API should show the
    /// reason too.
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

    /// The audience of `status`, resolved to LIDs: phone numbers are looked up (usync) unless
    /// the device already knows their LID. Fails when nobody is left.
    async fn recipients(
        &self,
        session: &Session,
        client: &Client,
        status: &Status,
    ) -> Result<(Vec<Jid>, Vec<String>), DriverError> {
        let audience = self.inner.audience.audience(&session.core.key, status).await.map_err(|e| {
            DriverError::Other(e.context(format!("finding the audience of session {}", session.core.key)))
        })?;
        if audience.is_empty() {
            return Err(DriverError::DeviceError(
                "the status has no audience: no recipient is configured for this session".to_owned(),
            ));
        }
        let mut resolved = Vec::new();
        let mut unknown = Vec::new();
        for jid in audience {
            if jid.is_lid() {
                resolved.push(jid.to_non_ad());
                continue;
            }
            match client.get_lid_pn_entry(&jid).await {
                Ok(Some(entry)) => resolved.push(Jid::lid(&*entry.lid)),
                _ => unknown.push(jid.to_non_ad()),
            }
        }
        let mut unresolved = Vec::new();
        if !unknown.is_empty() {
            let answers =
                client.contacts().is_on_whatsapp(&unknown).await.map_err(|e| errors::classify(Stage::Resolve, &e))?;
            for jid in unknown {
                let answer = answers.iter().find(|a| a.jid.user == jid.user || a.pn_jid.as_ref() == Some(&jid));
                match answer.and_then(|a| a.is_registered.then_some(a.lid.clone()).flatten()) {
                    Some(lid) => resolved.push(lid.to_non_ad()),
                    None => unresolved.push(jid.user.to_string()),
                }
            }
        }
        resolved.sort_by_key(|jid| jid.to_string());
        resolved.dedup();
        if resolved.is_empty() {
            return Err(DriverError::DeviceError(format!(
                "none of the audience could be resolved to a WhatsApp account ({} unresolved)",
                unresolved.len()
            )));
        }
        if !unresolved.is_empty() {
            tracing::warn!(session = %session.core.key, unresolved = ?unresolved, "some of the audience is not on WhatsApp");
        }
        Ok((resolved, unresolved))
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
        let (recipients, unresolved) = self.recipients(&session, &client, status).await?;
        let message = self.message(&client, status, media).await?;
        let message_id = client.generate_message_id();
        let ids: Vec<String> = recipients.iter().map(ToString::to_string).collect();
        let core = &session.core;
        let ack = core.expect_ack(&message_id);
        let intent = Entry::Intent {
            status: status.id().to_string(),
            message_id: message_id.clone(),
            recipients: ids.clone(),
            at: self.clock().now(),
        };
        if let Err(e) = core.ledger.append(intent).await {
            core.forget_ack(&message_id);
            return Err(DriverError::Other(anyhow::anyhow!("recording the send in the journal: {e}")));
        }
        let options = StatusSendOptions { message_id: Some(message_id.clone()), ..Default::default() };
        let sent = client.status().send_raw(message, &recipients, options).await;
        if let Err(e) = sent {
            core.forget_ack(&message_id);
            let error = errors::classify_send(&e);
            tracing::warn!(session = %key, status = %status.id(), error = %e, "the status could not be sent");
            if errors::certainly_not_sent(&e) {
                self.journal(&session, Entry::NotSent { message_id, reason: e.to_string(), at: self.clock().now() })
                    .await;
            }
            return Err(error);
        }
        self.journal(&session, Entry::Written { message_id: message_id.clone(), at: self.clock().now() }).await;
        self.await_ack(&session, &message_id, ack).await?;
        let message_id = MessageId::new(message_id.clone())
            .map_err(|e| DriverError::Other(anyhow::anyhow!("WhatsApp message id {message_id:?}: {}", e.message)))?;
        Ok(PublishReport { message_id, recipients: ids, unresolved })
    }

    /// Waits for the server's verdict on a message and records it.
    async fn await_ack(
        &self,
        session: &Session,
        message_id: &str,
        ack: tokio::sync::oneshot::Receiver<Ack>,
    ) -> Result<(), DriverError> {
        let wait = self.config().ack_timeout;
        let at = || self.clock().now();
        match tokio::time::timeout(wait, ack).await {
            Ok(Ok(Ack::Accepted)) => {
                let entry = Entry::Acked { message_id: message_id.to_owned(), at: at() };
                session.core.ledger.append(entry).await.map_err(|e| {
                    DriverError::Other(anyhow::anyhow!("recording the acknowledgement in the journal: {e}"))
                })?;
                Ok(())
            }
            Ok(Ok(Ack::Rejected(code))) => {
                self.journal(
                    session,
                    Entry::Rejected { message_id: message_id.to_owned(), code: code.clone(), at: at() },
                )
                .await;
                Err(DriverError::ServerRejected(format!("error {code}")))
            }
            Ok(Err(_)) | Err(_) => {
                session.core.forget_ack(message_id);
                Err(DriverError::ServerRejected(format!(
                    "no acknowledgement from the WhatsApp server within {} s; the status may or may not be visible",
                    wait.as_secs()
                )))
            }
        }
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

    async fn state(&self, session: &SessionKey) -> Result<SessionState, DriverError> {
        Ok(self.session(session).await?.core.state())
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
                running.core.paths.wipe_device().map_err(|e| {
                    DriverError::Other(anyhow::anyhow!("wiping the device state of session {session}: {e}"))
                })?;
            }
        }
        let _ =
            self.wait_for(&running, self.config().shutdown_grace, |s| (s.link == Link::LoggedOut).then_some(())).await;
        Ok(())
    }

    /// Stops the session's client and deletes its device state, journal and status file.
    async fn remove(&self, session: &SessionKey) -> Result<(), DriverError> {
        let running = self.inner.sessions.lock().await.remove(session);
        if let Some(running) = &running {
            running.stop(self.config().shutdown_grace).await;
            running.core.ledger.wipe().map_err(|e| DriverError::Other(e.into()))?;
        }
        Paths::of(&self.config().store, session)
            .wipe_all()
            .map_err(|e| DriverError::Other(anyhow::anyhow!("deleting the device state of session {session}: {e}")))?;
        Ok(())
    }

    /// Uploads the media (if any) within the upload time-out, posts the status to the audience
    /// (resolved to LIDs) under a message id recorded in the journal first, and returns it once
    /// the server acknowledged it (within the ack time-out).
    async fn publish(
        &self,
        session: &SessionKey,
        status: &Status,
        media: Option<PreparedMedia>,
    ) -> Result<MessageId, DriverError> {
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
        Ok(report.message_id)
    }

    /// Revokes a status for the recipients it was posted to (from the journal; the current
    /// audience if the journal does not know it), and waits for the server's ack.
    async fn revoke(&self, session: &SessionKey, status: &Status) -> Result<(), DriverError> {
        let message_id = status
            .message_id()
            .ok_or_else(|| DriverError::DeviceError("the status has no message id to revoke".to_owned()))?
            .as_str()
            .to_owned();
        let running = self.session(session).await?;
        let client = self.sender(&running)?;
        let recipients: Vec<Jid> = match running.core.ledger.message(&message_id) {
            Some(record) => record.recipients.iter().filter_map(|r| r.parse().ok()).collect(),
            None => self.recipients(&running, &client, status).await?.0,
        };
        let revoke_id = client.generate_message_id();
        let ack = running.core.expect_ack(&revoke_id);
        let options = StatusSendOptions { message_id: Some(revoke_id.clone()), ..Default::default() };
        if let Err(e) = client.status().revoke(message_id.clone(), &recipients, options).await {
            running.core.forget_ack(&revoke_id);
            return Err(errors::classify_send(&e));
        }
        self.await_ack(&running, &revoke_id, ack).await?;
        self.journal(&running, Entry::Revoked { message_id, at: self.clock().now() }).await;
        Ok(())
    }

    /// From the send journal: `Sent` once the server acknowledged the message; `NotSent` if no
    /// send was ever started for the status, or the last one failed before anything was written
    /// or was rejected; `Unknown` if the stanza may have left without a verdict recorded.
    async fn reconcile(&self, session: &SessionKey, status: &Status) -> Result<SendCheck, DriverError> {
        let running = self.session(session).await?;
        let Some(record) = running.core.ledger.latest_for(&status.id().to_string()) else {
            return Ok(SendCheck::NotSent);
        };
        Ok(match record.outcome {
            Outcome::Acked => match MessageId::new(record.message_id) {
                Ok(id) => SendCheck::Sent(id),
                Err(_) => SendCheck::Unknown,
            },
            Outcome::NotSent | Outcome::Rejected => SendCheck::NotSent,
            Outcome::Intended | Outcome::Written => SendCheck::Unknown,
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
