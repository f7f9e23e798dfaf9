//! A session's state, driven by whatsapp-rust's events. Pure: no I/O, no clock of its own.
//!
//! Two facts are tracked apart and combined into the domain's [`SessionState`]:
//!
//! - the **link** to a phone: `Unpaired` (a fresh device, showing QR codes), `Paired`, or
//!   `LoggedOut` (the phone removed the device; it must pair again, as a new device);
//! - the **connection**: `Connecting`, `Online`, `Offline` with a reason (the client
//!   reconnects by itself with back-off) or `Stopped` (nothing runs: shut down, or a terminal
//!   reason below).
//!
//! | link \ connection | connecting / online     | offline / stopped |
//! |-------------------|-------------------------|-------------------|
//! | unpaired          | `pairing`               | `disconnected`    |
//! | paired            | `disconnected` / `connected` | `disconnected` |
//! | logged out        | `logged_out`            | `logged_out`      |
//!
//! A **terminal reason** says why a session stopped and will not come back by itself:
//! [`Terminal::Replaced`] (another client took over the credentials; reconnecting would fight
//! it), [`Terminal::Banned`] (until the ban expires), [`Terminal::LoggedOut`],
//! [`Terminal::Refused`] (the server refused the connection for a reason that reconnecting does
//! not fix, e.g. an outdated client).
//!
//! The port's state comes with a [`StateReason`] whenever the state alone does not say why
//! ([`Machine::reason`]); its codes are stable:
//!
//! | code | when |
//! |------|------|
//! | `replaced`, `banned`, `logged_out`, `refused` | the terminal reasons above |
//! | `offline` | WhatsApp cannot be reached or the connection dropped; the client retries with back-off |
//! | `connecting` | a linked device is logging in (after a start or a pairing) |
//! | `qr_exhausted` | nobody scanned the QR codes in time; asking for one starts a new round |
//! | `pairing_failed` | the last pairing attempt failed (code request, QR scan, …); pairing goes on |
//! | `stopped` | the session's client was stopped (the driver is shutting down) |

use std::time::Duration;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use wastatus_domain::{PairingCode, QrCode, SessionCondition, SessionState, StateReason, Timestamp};
use whatsapp_rust::types::events::Event;

/// Whether the device is linked to a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    Unpaired,
    Paired,
    LoggedOut,
}

/// The connection to WhatsApp's servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// A connection attempt is under way (or the client is about to make one).
    Connecting,
    /// Connected: logged in (paired) or showing QR codes (unpaired).
    Online,
    /// The last attempt failed or the connection dropped; the client retries with back-off.
    Offline { reason: String },
    /// Nothing runs for this session.
    Stopped { reason: String },
}

/// Why a session stopped for good (until someone acts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Terminal {
    /// Another client connected with the same credentials and the server closed this one.
    /// Not reconnected automatically: two clients on one device keep replacing each other.
    Replaced,
    /// WhatsApp banned the number temporarily.
    Banned { code: i32, reason: String, until: Timestamp },
    /// The phone removed the device, or the server logged it out; `reason` is WhatsApp's.
    LoggedOut { reason: String },
    /// The server refused the connection for a reason reconnecting does not fix.
    Refused { reason: String },
}

impl Terminal {
    /// A short snake_case name, for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Terminal::Replaced => "replaced",
            Terminal::Banned { .. } => "banned",
            Terminal::LoggedOut { .. } => "logged_out",
            Terminal::Refused { .. } => "refused",
        }
    }

    /// A sentence for people.
    pub fn describe(&self) -> String {
        match self {
            Terminal::Replaced => {
                "another WhatsApp Web client connected with this session's credentials and replaced it".to_owned()
            }
            Terminal::Banned { reason, until, .. } => {
                format!("WhatsApp banned the number temporarily ({reason}) until {}", until.to_rfc3339())
            }
            Terminal::LoggedOut { reason } => format!("the device was logged out ({reason})"),
            Terminal::Refused { reason } => format!("WhatsApp refused the connection ({reason})"),
        }
    }
}

/// Everything known about a session, as the API should see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatus {
    /// The state the port reports.
    pub state: SessionState,
    pub link: Link,
    pub connection: Connection,
    /// Why it stopped for good, if it did.
    pub terminal: Option<Terminal>,
    /// Why it is in its state (the terminal reason, the connection's problem, …), with a
    /// stable code; see the [module docs](self) for the codes.
    pub reason: Option<StateReason>,
    /// The QR code on offer, while it is valid.
    pub qr: Option<QrCode>,
    /// The pairing code on offer, while it is valid.
    pub pairing_code: Option<PairingCode>,
    /// The QR codes of the current connection ran out; asking for one starts a new round.
    pub qr_exhausted: bool,
    /// The phone number and LID of the linked account (`…@s.whatsapp.net`, `…@lid`).
    pub account: Option<String>,
    /// When the state last changed.
    pub since: Timestamp,
}

/// What the supervisor of a session should do after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// The device was logged out: wipe its state (keys are useless now).
    WipeDevice,
    /// Keep the terminal reason across restarts.
    PersistTerminal,
}

/// A session's state machine.
#[derive(Debug, Clone)]
pub struct Machine {
    link: Link,
    connection: Connection,
    terminal: Option<Terminal>,
    qr: Option<QrCode>,
    pairing_code: Option<PairingCode>,
    qr_exhausted: bool,
    /// A non-terminal note about the last problem (a pairing error, a scan without
    /// multi-device), shown while unpaired.
    note: Option<String>,
    account: Option<String>,
    since: Timestamp,
}

impl Machine {
    /// A session whose device is `link`ed, about to connect.
    pub fn new(link: Link, terminal: Option<Terminal>, now: Timestamp) -> Self {
        let link = match terminal {
            Some(Terminal::LoggedOut { .. }) => Link::LoggedOut,
            _ => link,
        };
        let connection = match &terminal {
            Some(t) => Connection::Stopped { reason: t.describe() },
            None => Connection::Connecting,
        };
        Self {
            link,
            connection,
            terminal,
            qr: None,
            pairing_code: None,
            qr_exhausted: false,
            note: None,
            account: None,
            since: now,
        }
    }

    pub fn link(&self) -> Link {
        self.link
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    pub fn terminal(&self) -> Option<&Terminal> {
        self.terminal.as_ref()
    }

    pub fn qr_exhausted(&self) -> bool {
        self.qr_exhausted
    }

    /// The state the port reports.
    pub fn state(&self) -> SessionState {
        match (self.link, &self.connection) {
            (Link::LoggedOut, _) => SessionState::LoggedOut,
            (Link::Unpaired, Connection::Connecting | Connection::Online) => SessionState::Pairing,
            (Link::Unpaired, Connection::Offline { .. } | Connection::Stopped { .. }) => SessionState::Disconnected,
            (Link::Paired, Connection::Online) => SessionState::Connected,
            (Link::Paired, _) => SessionState::Disconnected,
        }
    }

    /// The QR code on offer at `now`, if one is still valid.
    pub fn qr(&self, now: Timestamp) -> Option<&QrCode> {
        self.qr.as_ref().filter(|qr| now < qr.expires_at && self.link == Link::Unpaired)
    }

    /// The pairing code on offer at `now`, if one is still valid.
    pub fn pairing_code(&self, now: Timestamp) -> Option<&PairingCode> {
        self.pairing_code.as_ref().filter(|code| now < code.expires_at && self.link == Link::Unpaired)
    }

    /// Why the session is in its state, when the state alone does not say: the terminal
    /// reason, then the connection's problem, then a pairing problem. `None` while connected
    /// or pairing without trouble.
    pub fn reason(&self) -> Option<StateReason> {
        let reason = |code: &'static str, message: &str| Some(StateReason { code, message: message.to_owned() });
        if let Some(terminal) = &self.terminal {
            return reason(terminal.code(), &terminal.describe());
        }
        let unpaired = self.link == Link::Unpaired;
        match &self.connection {
            Connection::Stopped { reason: why } if unpaired && self.qr_exhausted => reason("qr_exhausted", why),
            Connection::Stopped { reason: why } => reason("stopped", why),
            Connection::Offline { reason: why } => reason("offline", why),
            Connection::Connecting if self.link == Link::Paired => {
                reason("connecting", "logging in to WhatsApp with the linked device")
            }
            Connection::Connecting | Connection::Online if unpaired && self.qr_exhausted => {
                reason("qr_exhausted", "the QR codes ran out; ask for a new one")
            }
            Connection::Connecting | Connection::Online if unpaired => {
                self.note.as_deref().and_then(|note| reason("pairing_failed", note))
            }
            Connection::Connecting | Connection::Online => None,
        }
    }

    /// The state the port reports, with its reason.
    pub fn condition(&self) -> SessionCondition {
        SessionCondition { state: self.state(), reason: self.reason() }
    }

    /// The full picture at `now`.
    pub fn status(&self, now: Timestamp) -> SessionStatus {
        SessionStatus {
            state: self.state(),
            link: self.link,
            connection: self.connection.clone(),
            terminal: self.terminal.clone(),
            reason: self.reason(),
            qr: self.qr(now).cloned(),
            pairing_code: self.pairing_code(now).cloned(),
            qr_exhausted: self.qr_exhausted && self.link == Link::Unpaired,
            account: self.account.clone(),
            since: self.since,
        }
    }

    fn set_connection(&mut self, connection: Connection, now: Timestamp) {
        if self.connection != connection {
            self.connection = connection;
            self.since = now;
        }
    }

    fn set_link(&mut self, link: Link, now: Timestamp) {
        if self.link != link {
            self.link = link;
            self.since = now;
        }
    }

    /// A connection attempt begins (a client was started, or it opens its transport again).
    pub fn connecting(&mut self, now: Timestamp) {
        if self.terminal.is_none() && !matches!(self.connection, Connection::Online) {
            self.set_connection(Connection::Connecting, now);
        }
    }

    /// A connection attempt failed before the client said anything (no network, DNS, TLS, a
    /// failed version look-up or handshake). The client tries again with back-off.
    pub fn connect_failed(&mut self, reason: String, now: Timestamp) {
        if self.terminal.is_none() {
            self.set_connection(Connection::Offline { reason }, now);
        }
    }

    /// The session's client stopped: shut down, removed, or after a terminal reason.
    pub fn stopped(&mut self, reason: &str, now: Timestamp) {
        let reason = self.terminal.as_ref().map(Terminal::describe).unwrap_or_else(|| reason.to_owned());
        self.qr = None;
        self.set_connection(Connection::Stopped { reason }, now);
    }

    /// A fresh device replaces a logged-out one (pairing again), or an operator clears a
    /// terminal reason to try again.
    pub fn restart(&mut self, link: Link, now: Timestamp) {
        self.terminal = None;
        self.note = None;
        self.qr = None;
        self.pairing_code = None;
        self.qr_exhausted = false;
        self.set_link(link, now);
        self.set_connection(Connection::Connecting, now);
    }

    /// Applies one of whatsapp-rust's events received at `now`.
    pub fn apply(&mut self, event: &Event, now: Timestamp) -> Effect {
        match event {
            Event::PairingQrCode(qr) => {
                self.set_link(Link::Unpaired, now);
                self.set_connection(Connection::Online, now);
                self.qr = Some(QrCode { payload: qr.code.clone(), expires_at: now + delta(qr.timeout) });
                self.qr_exhausted = false;
                Effect::None
            }
            Event::PairingCode(code) => {
                self.pairing_code =
                    Some(PairingCode { code: format_code(&code.code), expires_at: now + delta(code.timeout) });
                Effect::None
            }
            Event::PairingCodeError(error) => {
                self.pairing_code = None;
                self.note = Some(format!("the pairing code request failed: {}", error.error));
                Effect::None
            }
            Event::PairingQrCodesExhausted(exhausted) => {
                self.qr = None;
                self.qr_exhausted = true;
                self.note = Some("the QR codes ran out; ask for a new one".to_owned());
                if exhausted.disconnected {
                    self.set_connection(
                        Connection::Stopped { reason: "the QR codes ran out; ask for a new one".to_owned() },
                        now,
                    );
                }
                Effect::None
            }
            Event::QrScannedWithoutMultidevice(_) => {
                self.note = Some("the phone scanned the QR code but cannot link devices (multi-device is off)".into());
                Effect::None
            }
            Event::PairSuccess(success) => {
                self.set_link(Link::Paired, now);
                self.qr = None;
                self.pairing_code = None;
                self.qr_exhausted = false;
                self.note = None;
                self.account = Some(format!("{} ({})", success.id, success.lid));
                // The server closes the stream (515) and the client logs in again at once.
                self.set_connection(Connection::Connecting, now);
                Effect::PersistTerminal
            }
            Event::PairError(error) => {
                self.note = Some(format!("pairing failed: {}", error.error));
                Effect::None
            }
            Event::Connected(_) => {
                self.set_link(Link::Paired, now);
                self.terminal = None;
                self.note = None;
                self.qr = None;
                self.pairing_code = None;
                self.qr_exhausted = false;
                self.set_connection(Connection::Online, now);
                Effect::None
            }
            Event::Disconnected(disconnected) => {
                if self.terminal.is_none() {
                    let reason = format!("the connection to WhatsApp dropped ({}); reconnecting", disconnected.reason);
                    self.set_connection(Connection::Offline { reason }, now);
                }
                Effect::None
            }
            Event::LoggedOut(logged_out) => {
                let reason = format!("{:?}", logged_out.reason);
                self.terminal = Some(Terminal::LoggedOut { reason });
                self.qr = None;
                self.pairing_code = None;
                self.set_link(Link::LoggedOut, now);
                let describe = self.terminal.as_ref().map(Terminal::describe).unwrap_or_default();
                self.set_connection(Connection::Stopped { reason: describe }, now);
                Effect::WipeDevice
            }
            Event::StreamReplaced(_) => {
                self.terminal = Some(Terminal::Replaced);
                self.set_connection(Connection::Stopped { reason: Terminal::Replaced.describe() }, now);
                Effect::PersistTerminal
            }
            Event::TemporaryBan(ban) => {
                let until = now + ban.expire;
                let terminal = Terminal::Banned { code: ban.code.code(), reason: ban.code.to_string(), until };
                self.set_connection(Connection::Stopped { reason: terminal.describe() }, now);
                self.terminal = Some(terminal);
                Effect::PersistTerminal
            }
            Event::ConnectFailure(failure) => {
                let reason = match &failure.message {
                    Some(message) => format!("{:?}: {message}", failure.reason),
                    None => format!("{:?}", failure.reason),
                };
                if failure.reason.should_reconnect() {
                    let reason = format!("WhatsApp is unavailable ({reason}); reconnecting");
                    self.connect_failed(reason, now);
                    Effect::None
                } else {
                    let terminal = Terminal::Refused { reason };
                    self.set_connection(Connection::Stopped { reason: terminal.describe() }, now);
                    self.terminal = Some(terminal);
                    Effect::PersistTerminal
                }
            }
            Event::ClientOutdated(_) => {
                let terminal = Terminal::Refused { reason: "this WhatsApp Web version is outdated".to_owned() };
                self.set_connection(Connection::Stopped { reason: terminal.describe() }, now);
                self.terminal = Some(terminal);
                Effect::PersistTerminal
            }
            _ => Effect::None,
        }
    }
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// Pairing codes are shown as `ABCD-EFGH`, as WhatsApp shows them.
fn format_code(code: &str) -> String {
    if code.len() == 8 && code.is_ascii() && !code.contains('-') {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_owned()
    }
}

/// The terminal reason kept across restarts (in `<session>.status.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persisted {
    pub terminal: Option<Terminal>,
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use whatsapp_rust::Jid;
    use whatsapp_rust::transport::DisconnectReason;
    use whatsapp_rust::types::events::{
        ClientOutdated, ConnectFailureReason, Connected, Disconnected, LoggedOut, PairError, PairSuccess,
        PairingQrCode, PairingQrCodesExhausted, StreamReplaced,
    };

    use super::*;

    fn t(secs: i64) -> Timestamp {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn qr(code: &str, secs: u64) -> Event {
        Event::PairingQrCode(PairingQrCode::builder().code(code.to_owned()).timeout(Duration::from_secs(secs)).build())
    }

    #[test]
    fn an_unpaired_session_pairs_then_connects() {
        let mut m = Machine::new(Link::Unpaired, None, t(0));
        assert_eq!(m.state(), SessionState::Pairing);
        assert_eq!(m.qr(t(0)), None);
        m.apply(&qr("2@ref,a,b,c", 60), t(1));
        assert_eq!(m.qr(t(60)).unwrap().payload, "2@ref,a,b,c");
        assert_eq!(m.qr(t(61)), None, "expired");
        let success = PairSuccess::builder()
            .id(Jid::pn("15551234567"))
            .lid(Jid::lid("100000001"))
            .business_name(String::new())
            .platform("android".into())
            .build();
        assert_eq!(m.apply(&Event::PairSuccess(success), t(2)), Effect::PersistTerminal);
        assert_eq!(m.state(), SessionState::Disconnected, "logging in again after the 515");
        assert_eq!(m.reason().unwrap().code, "connecting");
        m.apply(&Event::Connected(Connected::builder().build()), t(3));
        assert_eq!(m.state(), SessionState::Connected);
        assert_eq!(m.status(t(3)).reason, None);
    }

    #[test]
    fn a_drop_is_disconnected_with_its_reason_and_comes_back() {
        let mut m = Machine::new(Link::Paired, None, t(0));
        m.apply(&Event::Connected(Connected::builder().build()), t(1));
        let dropped = Disconnected::builder().reason(DisconnectReason::ReadError("reset".into())).build();
        m.apply(&Event::Disconnected(dropped), t(2));
        let status = m.status(t(2));
        assert_eq!(status.state, SessionState::Disconnected);
        let reason = status.reason.unwrap();
        assert_eq!(reason.code, "offline");
        assert!(reason.message.contains("read error: reset"), "{}", reason.message);
        assert_eq!(status.since, t(2));
        m.apply(&Event::Connected(Connected::builder().build()), t(5));
        assert_eq!(m.state(), SessionState::Connected);
    }

    #[test]
    fn terminal_reasons_stick_until_a_restart() {
        let mut m = Machine::new(Link::Paired, None, t(0));
        m.apply(&Event::StreamReplaced(StreamReplaced::builder().build()), t(1));
        assert_eq!(m.terminal(), Some(&Terminal::Replaced));
        m.connect_failed("dns".into(), t(2));
        let reason = m.status(t(2)).reason.unwrap();
        assert_eq!((reason.code, reason.message), ("replaced", Terminal::Replaced.describe()));
        m.restart(Link::Paired, t(3));
        assert_eq!(m.terminal(), None);
        assert_eq!(m.state(), SessionState::Disconnected);
    }

    #[test]
    fn a_logout_wipes_the_device_and_survives_a_restart() {
        let mut m = Machine::new(Link::Paired, None, t(0));
        let out = LoggedOut::builder().on_connect(true).reason(ConnectFailureReason::LoggedOut).build();
        assert_eq!(m.apply(&Event::LoggedOut(out), t(1)), Effect::WipeDevice);
        assert_eq!(m.state(), SessionState::LoggedOut);
        let again = Machine::new(Link::Unpaired, m.terminal().cloned(), t(2));
        assert_eq!(again.state(), SessionState::LoggedOut);
    }

    #[test]
    fn exhausted_qr_codes_stop_the_round_until_asked() {
        let mut m = Machine::new(Link::Unpaired, None, t(0));
        m.apply(&qr("2@a", 60), t(0));
        m.apply(&Event::PairingQrCodesExhausted(PairingQrCodesExhausted::builder().disconnected(true).build()), t(160));
        let status = m.status(t(160));
        assert!(status.qr_exhausted);
        assert_eq!(status.qr, None);
        assert_eq!(status.state, SessionState::Disconnected);
        assert_eq!(status.reason.unwrap().code, "qr_exhausted");
        m.restart(Link::Unpaired, t(161));
        assert_eq!(m.state(), SessionState::Pairing);
    }

    #[test]
    fn reasons_come_with_stable_codes() {
        let code = |m: &Machine| m.condition().reason.map(|r| r.code);
        let mut m = Machine::new(Link::Unpaired, None, t(0));
        assert_eq!(code(&m), None, "pairing without trouble");
        m.apply(
            &Event::PairError(
                PairError::builder()
                    .id(Jid::pn("15551234567"))
                    .lid(Jid::lid("100000001"))
                    .business_name(String::new())
                    .platform("android".into())
                    .error("bad signature".into())
                    .build(),
            ),
            t(1),
        );
        assert_eq!(code(&m), Some("pairing_failed"));
        assert_eq!(m.state(), SessionState::Pairing);
        m.stopped("the driver is shutting down", t(2));
        assert_eq!(code(&m), Some("stopped"));

        let mut m = Machine::new(Link::Paired, None, t(0));
        m.apply(&Event::Connected(Connected::builder().build()), t(1));
        assert_eq!(m.condition(), SessionCondition { state: SessionState::Connected, reason: None });
        m.apply(&Event::ClientOutdated(ClientOutdated::builder().build()), t(2));
        let reason = m.reason().unwrap();
        assert_eq!(reason.code, "refused");
        assert!(reason.message.contains("outdated"), "{}", reason.message);
    }

    #[test]
    fn pairing_codes_are_shown_in_two_halves() {
        assert_eq!(format_code("ABCD1234"), "ABCD-1234");
        assert_eq!(format_code("ABCD-1234"), "ABCD-1234");
    }
}
