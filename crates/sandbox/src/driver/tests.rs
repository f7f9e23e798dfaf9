use std::collections::HashSet;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta};
use uuid::Uuid;
use wastatus_domain::*;

use super::*;
use crate::audience;
use crate::device::PAIRING_CODE_ALPHABET;

/// A clock that moves only when told to.
struct FakeClock(Mutex<Timestamp>);

impl FakeClock {
    fn advance(&self, secs: i64) {
        let mut now = self.0.lock().unwrap();
        *now += TimeDelta::seconds(secs);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

fn t(secs: i64) -> Timestamp {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn tenant(n: u128) -> TenantId {
    TenantId::from_uuid(Uuid::from_u128(n))
}

fn key(id: &str) -> SessionKey {
    SessionKey { tenant: tenant(1), id: SessionId::new(id).unwrap() }
}

fn text_status(session: &SessionKey, n: u128, text: &str) -> Status {
    let content = StatusContent::Text(TextStatus {
        text: StatusText::new(text).unwrap(),
        background_color: "#336699".parse().unwrap(),
        font: Font::Serif,
    });
    Status::accept(StatusId::from_uuid(Uuid::from_u128(n)), session.clone(), content, false, Plan::default(), t(0))
}

/// The status as the domain holds it after the driver sent it under `message_id`.
fn published(mut status: Status, message_id: &MessageId) -> Status {
    status.start_sending(t(0)).unwrap();
    status.mark_published(message_id.clone(), Default::default(), t(0)).unwrap();
    status
}

/// Asserts `result` is an error matching `pattern`.
macro_rules! assert_err {
    ($result:expr, $pattern:pat) => {
        match $result {
            Err($pattern) => {}
            Err(other) => panic!("expected {}, got the error {other:?}", stringify!($pattern)),
            Ok(value) => panic!("expected {}, got Ok({value:?})", stringify!($pattern)),
        }
    };
}

struct Fixture {
    clock: Arc<FakeClock>,
    driver: SandboxDriver,
}

impl Fixture {
    fn new() -> Self {
        Self::seeded(42)
    }

    fn seeded(seed: u64) -> Self {
        let clock = Arc::new(FakeClock(Mutex::new(t(0))));
        let driver = SandboxDriver::with_seed(clock.clone(), seed);
        Self { clock, driver }
    }

    /// A started session, still pairing.
    async fn pairing(&self, id: &str) -> SessionKey {
        let key = key(id);
        assert_eq!(self.driver.start(&key).await.unwrap(), SessionState::Pairing);
        key
    }

    /// A started and linked session.
    async fn connected(&self, id: &str) -> SessionKey {
        let key = self.pairing(id).await;
        self.driver.pair(&key, &PairMethod::Qr).await.unwrap();
        assert_eq!(self.driver.state(&key).await.unwrap().state, SessionState::Connected);
        key
    }

    async fn in_state(&self, id: &str, state: SessionState) -> SessionKey {
        let key = match state {
            SessionState::Pairing => return self.pairing(id).await,
            _ => self.connected(id).await,
        };
        match state {
            SessionState::Disconnected => self.driver.inject(&key, Fault::Disconnect, 1).await.unwrap(),
            SessionState::LoggedOut => self.driver.logout(&key).await.unwrap(),
            _ => {}
        }
        assert_eq!(self.driver.state(&key).await.unwrap().state, state);
        key
    }

    async fn publish(&self, key: &SessionKey, n: u128) -> Result<MessageId, DriverError> {
        self.driver
            .publish(key, &text_status(key, n, "Flash sale ends tonight!"), None)
            .await
            .map(|sent| sent.message_id)
    }
}

fn assert_message_id_shape(id: &MessageId) {
    let id = id.as_str();
    assert_eq!(id.len(), 24, "{id}");
    assert!(id.starts_with("3EB0"), "{id}");
    assert!(id[4..].bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)), "{id}");
}

/// The parts of a QR payload: reference (without `2@`), noise key, identity key, ADV secret.
fn qr_parts(qr: &QrCode) -> [String; 4] {
    let parts: Vec<&str> = qr.payload.split(',').collect();
    assert_eq!(parts.len(), 4, "{}", qr.payload);
    let reference = parts[0].strip_prefix("2@").unwrap_or_else(|| panic!("no 2@ in {}", qr.payload));
    [reference, parts[1], parts[2], parts[3]].map(str::to_owned)
}

// ---- Lifecycle -------------------------------------------------------------------------------

#[test]
fn the_driver_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SandboxDriver>();
    let f = Fixture::new();
    let _: Arc<dyn WhatsAppDriver> = Arc::new(SandboxDriver::with_seed(f.clock.clone(), 1));
    let _: Arc<dyn FaultInjector> = Arc::new(SandboxDriver::new(f.clock.clone()));
}

#[tokio::test]
async fn a_new_session_starts_pairing_and_starting_again_is_harmless() {
    let f = Fixture::new();
    let key = key("s1");
    assert_err!(f.driver.state(&key).await, DriverError::UnknownSession);
    assert_eq!(f.driver.start(&key).await.unwrap(), SessionState::Pairing);
    assert_eq!(f.driver.state(&key).await.unwrap().state, SessionState::Pairing);
    let qr = f.driver.qr(&key).await.unwrap();
    // Starting again keeps the device, its keys and its QR code.
    assert_eq!(f.driver.start(&key).await.unwrap(), SessionState::Pairing);
    assert_eq!(f.driver.qr(&key).await.unwrap(), qr);
    // And reports the current state of a linked session without touching it.
    f.driver.pair(&key, &PairMethod::Qr).await.unwrap();
    assert_eq!(f.driver.start(&key).await.unwrap(), SessionState::Connected);
    f.driver.inject(&key, Fault::Disconnect, 1).await.unwrap();
    assert_eq!(f.driver.start(&key).await.unwrap(), SessionState::Disconnected);
    f.driver.logout(&key).await.unwrap();
    assert_eq!(f.driver.start(&key).await.unwrap(), SessionState::LoggedOut);
}

#[tokio::test]
async fn every_operation_on_an_unknown_session_says_so_except_remove() {
    let f = Fixture::new();
    let key = key("ghost");
    let status = text_status(&key, 1, "hi");
    assert_err!(f.driver.state(&key).await, DriverError::UnknownSession);
    assert_err!(f.driver.qr(&key).await, DriverError::UnknownSession);
    assert_err!(f.driver.pair(&key, &PairMethod::Qr).await, DriverError::UnknownSession);
    assert_err!(f.driver.logout(&key).await, DriverError::UnknownSession);
    assert_err!(f.driver.publish(&key, &status, None).await, DriverError::UnknownSession);
    let msg = MessageId::new("3EB000000000000000000000").unwrap();
    assert_err!(f.driver.revoke(&key, &published(status, &msg)).await, DriverError::UnknownSession);
    for fault in [Fault::Disconnect, Fault::Reconnect, Fault::UploadFailed, Fault::ServerReject] {
        assert_err!(f.driver.inject(&key, fault, 1).await, DriverError::UnknownSession);
    }
    f.driver.remove(&key).await.unwrap();
    assert!(f.driver.sent(&key).is_empty());
    assert!(f.driver.revocations(&key).is_empty());
    assert!(f.driver.pending_faults(&key).is_empty());
}

#[tokio::test]
async fn sessions_are_told_apart_by_tenant_and_id() {
    let f = Fixture::new();
    let ours = f.connected("shared").await;
    let theirs = SessionKey { tenant: tenant(2), id: SessionId::new("shared").unwrap() };
    assert_err!(f.driver.state(&theirs).await, DriverError::UnknownSession);
    f.driver.start(&theirs).await.unwrap();
    assert_eq!(f.driver.state(&theirs).await.unwrap().state, SessionState::Pairing);
    assert_eq!(f.driver.state(&ours).await.unwrap().state, SessionState::Connected);
    f.publish(&ours, 1).await.unwrap();
    assert_eq!(f.driver.sent(&ours).len(), 1);
    assert!(f.driver.sent(&theirs).is_empty());
}

#[tokio::test]
async fn remove_forgets_the_session_and_what_it_sent() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    let id = f.publish(&key, 1).await.unwrap();
    f.driver.revoke(&key, &published(text_status(&key, 1, "x"), &id)).await.unwrap();
    f.driver.inject(&key, Fault::UploadFailed, 3).await.unwrap();
    f.driver.remove(&key).await.unwrap();
    assert_err!(f.driver.state(&key).await, DriverError::UnknownSession);
    assert!(f.driver.sent(&key).is_empty());
    assert!(f.driver.revocations(&key).is_empty());
    assert!(f.driver.pending_faults(&key).is_empty());
    // Removing twice is fine, and a later start is a brand-new device.
    f.driver.remove(&key).await.unwrap();
    assert_eq!(f.driver.start(&key).await.unwrap(), SessionState::Pairing);
    assert!(f.driver.sent(&key).is_empty());
}

// ---- QR codes ---------------------------------------------------------------------------------

#[tokio::test]
async fn the_qr_payload_has_whatsapps_shape() {
    let f = Fixture::new();
    let key = f.pairing("s1").await;
    let qr = f.driver.qr(&key).await.unwrap();
    assert!(qr.payload.starts_with("2@"), "{}", qr.payload);
    let [reference, noise, identity, adv] = qr_parts(&qr);
    assert!(!reference.is_empty());
    assert!(STANDARD.decode(&reference).is_ok(), "{reference}");
    for key in [noise, identity, adv] {
        assert_eq!(STANDARD.decode(&key).unwrap().len(), 32, "{key}");
    }
    assert_eq!(qr.expires_at, t(60));
}

#[tokio::test]
async fn the_first_qr_code_lives_60_seconds_and_is_repeated_until_then() {
    let f = Fixture::new();
    let key = f.pairing("s1").await;
    let first = f.driver.qr(&key).await.unwrap();
    assert_eq!(first.expires_at, t(60));
    f.clock.advance(59);
    assert_eq!(f.driver.qr(&key).await.unwrap(), first);
}

#[tokio::test]
async fn expired_qr_codes_rotate_every_20_seconds_with_the_same_device_keys() {
    let f = Fixture::new();
    let key = f.pairing("s1").await;
    let first = f.driver.qr(&key).await.unwrap();
    // At the instant of expiry the code is no longer valid.
    f.clock.advance(60);
    let second = f.driver.qr(&key).await.unwrap();
    assert_ne!(second.payload, first.payload);
    assert_eq!(second.expires_at, t(80));
    f.clock.advance(19);
    assert_eq!(f.driver.qr(&key).await.unwrap(), second);
    // A later code lives 20 seconds from when it is asked for, however late that is.
    f.clock.advance(1_000);
    let third = f.driver.qr(&key).await.unwrap();
    assert_eq!(third.expires_at, t(1_079) + TimeDelta::seconds(20));
    let (a, b, c) = (qr_parts(&first), qr_parts(&second), qr_parts(&third));
    assert!(a[0] != b[0] && b[0] != c[0] && a[0] != c[0], "each code has a new reference");
    assert_eq!(a[1..], b[1..], "the device keys stay");
    assert_eq!(b[1..], c[1..], "the device keys stay");
}

#[tokio::test]
async fn devices_have_their_own_keys() {
    let f = Fixture::new();
    let one = f.pairing("s1").await;
    let two = f.pairing("s2").await;
    let (a, b) = (qr_parts(&f.driver.qr(&one).await.unwrap()), qr_parts(&f.driver.qr(&two).await.unwrap()));
    assert_ne!(a[1], b[1]);
    assert_ne!(a[2], b[2]);
    assert_ne!(a[3], b[3]);
}

#[tokio::test]
async fn only_a_pairing_session_has_a_qr_code() {
    let f = Fixture::new();
    for state in [SessionState::Connected, SessionState::Disconnected, SessionState::LoggedOut] {
        let key = f.in_state(state.as_str(), state).await;
        assert_err!(f.driver.qr(&key).await, DriverError::NoQrCode);
    }
}

// ---- Pairing ----------------------------------------------------------------------------------

#[tokio::test]
async fn pairing_by_qr_returns_the_current_code_and_links_at_once() {
    let f = Fixture::new();
    let key = f.pairing("s1").await;
    let shown = f.driver.qr(&key).await.unwrap();
    f.clock.advance(10);
    let Pairing::Qr(qr) = f.driver.pair(&key, &PairMethod::Qr).await.unwrap() else { panic!("expected a QR code") };
    assert_eq!(qr, shown);
    assert_eq!(f.driver.state(&key).await.unwrap().state, SessionState::Connected);
    assert_err!(f.driver.qr(&key).await, DriverError::NoQrCode);
}

#[tokio::test]
async fn pairing_by_qr_without_asking_first_issues_the_first_code() {
    let f = Fixture::new();
    let key = f.pairing("s1").await;
    f.clock.advance(5);
    let Pairing::Qr(qr) = f.driver.pair(&key, &PairMethod::Qr).await.unwrap() else { panic!("expected a QR code") };
    assert_eq!(qr.expires_at, t(65));
    assert!(qr.payload.starts_with("2@"));
}

#[tokio::test]
async fn pairing_by_qr_after_expiry_returns_a_fresh_code() {
    let f = Fixture::new();
    let key = f.pairing("s1").await;
    let shown = f.driver.qr(&key).await.unwrap();
    f.clock.advance(61);
    let Pairing::Qr(qr) = f.driver.pair(&key, &PairMethod::Qr).await.unwrap() else { panic!("expected a QR code") };
    assert_ne!(qr.payload, shown.payload);
    assert_eq!(qr.expires_at, t(81));
}

#[tokio::test]
async fn pairing_by_code_gives_eight_characters_of_whatsapps_alphabet() {
    let f = Fixture::new();
    let phone_number = PhoneNumber::new("+91 98765 43210").unwrap();
    let mut seen = HashSet::new();
    for i in 0..50 {
        let key = f.pairing(&format!("s{i}")).await;
        let Pairing::Code(code) =
            f.driver.pair(&key, &PairMethod::Code { phone_number: phone_number.clone() }).await.unwrap()
        else {
            panic!("expected a pairing code")
        };
        assert_eq!(code.code.len(), 9, "{}", code.code);
        assert_eq!(&code.code[4..5], "-", "{}", code.code);
        let chars = code.code.replace('-', "");
        assert_eq!(chars.len(), 8);
        assert!(chars.bytes().all(|b| PAIRING_CODE_ALPHABET.contains(&b)), "{}", code.code);
        assert!(!chars.contains(['0', 'I', 'O', 'U']), "{}", code.code);
        assert_eq!(code.expires_at, t(180));
        assert_eq!(f.driver.state(&key).await.unwrap().state, SessionState::Connected);
        seen.insert(code.code);
    }
    assert_eq!(seen.len(), 50, "codes differ");
}

#[test]
fn the_pairing_code_alphabet_is_whatsapps() {
    assert_eq!(PAIRING_CODE_ALPHABET, b"123456789ABCDEFGHJKLMNPQRSTVWXYZ");
    assert_eq!(PAIRING_CODE_ALPHABET.iter().collect::<HashSet<_>>().len(), 32);
}

#[tokio::test]
async fn a_linked_session_cannot_pair_again() {
    let f = Fixture::new();
    let code = PairMethod::Code { phone_number: PhoneNumber::new("5511999990000").unwrap() };
    for state in [SessionState::Connected, SessionState::Disconnected] {
        let key = f.in_state(state.as_str(), state).await;
        assert_err!(f.driver.pair(&key, &PairMethod::Qr).await, DriverError::AlreadyPaired);
        assert_err!(f.driver.pair(&key, &code).await, DriverError::AlreadyPaired);
        assert_eq!(f.driver.state(&key).await.unwrap().state, state, "unchanged");
    }
}

#[tokio::test]
async fn a_logged_out_session_pairs_again_as_a_new_device() {
    let f = Fixture::new();
    let key = f.pairing("s1").await;
    let old = qr_parts(&f.driver.qr(&key).await.unwrap());
    f.driver.pair(&key, &PairMethod::Qr).await.unwrap();
    f.driver.logout(&key).await.unwrap();
    f.clock.advance(5);
    let Pairing::Qr(qr) = f.driver.pair(&key, &PairMethod::Qr).await.unwrap() else { panic!("expected a QR code") };
    assert_eq!(qr.expires_at, t(65), "a first code again");
    assert_ne!(qr_parts(&qr)[1..], old[1..], "new device keys");
    assert_eq!(f.driver.state(&key).await.unwrap().state, SessionState::Connected);
    // By code, too.
    f.driver.logout(&key).await.unwrap();
    let code = PairMethod::Code { phone_number: PhoneNumber::new("5511999990000").unwrap() };
    assert!(matches!(f.driver.pair(&key, &code).await.unwrap(), Pairing::Code(_)));
    assert_eq!(f.driver.state(&key).await.unwrap().state, SessionState::Connected);
}

// ---- Logout -----------------------------------------------------------------------------------

#[tokio::test]
async fn logout_unlinks_a_linked_session() {
    let f = Fixture::new();
    for state in [SessionState::Connected, SessionState::Disconnected] {
        let key = f.in_state(state.as_str(), state).await;
        f.driver.logout(&key).await.unwrap();
        assert_eq!(f.driver.state(&key).await.unwrap().state, SessionState::LoggedOut);
    }
}

#[tokio::test]
async fn logout_of_an_unlinked_session_is_refused() {
    let f = Fixture::new();
    let pairing = f.pairing("p").await;
    assert_err!(f.driver.logout(&pairing).await, DriverError::NotPaired);
    assert_eq!(f.driver.state(&pairing).await.unwrap().state, SessionState::Pairing);
    let logged_out = f.in_state("l", SessionState::LoggedOut).await;
    assert_err!(f.driver.logout(&logged_out).await, DriverError::LoggedOut);
}

// ---- Publishing -------------------------------------------------------------------------------

#[tokio::test]
async fn publishing_returns_a_message_id_and_records_what_was_sent() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    f.clock.advance(7);
    let status = text_status(&key, 9, "Flash sale ends tonight!");
    let published = f.driver.publish(&key, &status, None).await.unwrap();
    let id = published.message_id;
    assert_message_id_shape(&id);
    let everyone = Audience::Contacts.select(&audience::contacts());
    assert_eq!(published.reach, Reach { recipients: 4, unresolved: vec![] }, "all contacts, by default");
    let sent = f.driver.sent(&key);
    assert_eq!(
        sent,
        vec![SentMessage {
            tenant: tenant(1),
            session: key.id.clone(),
            message_id: id,
            status_id: StatusId::from_uuid(Uuid::from_u128(9)),
            status_type: StatusType::Text,
            text: Some(StatusText::new("Flash sale ends tonight!").unwrap()),
            background_color: Some(BackgroundColor::from_argb(0xFF33_6699)),
            font: Some(Font::Serif),
            caption: None,
            media: None,
            view_once: false,
            recipients: everyone,
            unresolved: vec![],
            sent_at: t(7),
            revoked_at: None,
        }]
    );
}

#[tokio::test]
async fn sent_messages_serialise_for_the_sandbox_routes() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    let id = f.publish(&key, 9).await.unwrap();
    let json = serde_json::to_value(&f.driver.sent(&key)[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "tenant": "00000000-0000-0000-0000-000000000001",
            "session": "s1",
            "message_id": id.as_str(),
            "status_id": "00000000-0000-0000-0000-000000000009",
            "status_type": "text",
            "text": "Flash sale ends tonight!",
            "background_color": "#FF336699",
            "font": "SERIF",
            "view_once": false,
            "recipients": ["+15550100004", "100000000000001@lid", "100000000000002@lid", "100000000000003@lid"],
            "unresolved": [],
            "sent_at": "2027-01-15T08:00:00Z",
            "revoked_at": null,
        })
    );
    f.driver.revoke(&key, &published(text_status(&key, 9, "x"), &id)).await.unwrap();
    let json = serde_json::to_value(&f.driver.revocations(&key)[0]).unwrap();
    assert_eq!(json["message_id"], id.as_str());
    assert_eq!(json["status_id"], "00000000-0000-0000-0000-000000000009");
}

fn r(raw: &str) -> Recipient {
    Recipient::parse(raw).unwrap()
}

#[tokio::test]
async fn a_linked_session_has_the_sandbox_contacts_and_an_unlinked_one_none() {
    let f = Fixture::new();
    let pairing = f.pairing("p").await;
    assert!(f.driver.contacts(&pairing).await.unwrap().is_empty(), "nothing synced before linking");
    let linked = f.connected("s1").await;
    let contacts = f.driver.contacts(&linked).await.unwrap();
    assert_eq!(contacts, audience::contacts());
    assert_eq!(contacts.len(), 4);
    f.driver.logout(&linked).await.unwrap();
    assert!(f.driver.contacts(&linked).await.unwrap().is_empty(), "a logged-out device forgets its address book");
    assert_err!(f.driver.contacts(&key("ghost")).await, DriverError::UnknownSession);
}

#[tokio::test]
async fn the_audience_decides_who_gets_a_status_and_the_unreachable_are_reported() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    let deny = text_status(&key, 1, "not for Ada").with_audience(Audience::denylist(&["+15550100001"]).unwrap());
    let sent = f.driver.publish(&key, &deny, None).await.unwrap();
    assert_eq!(sent.reach, Reach { recipients: 3, unresolved: vec![] });
    assert!(!f.driver.sent(&key)[0].recipients.contains(&r("100000000000001@lid")), "Ada is left out by her number");

    let allow = Audience::allowlist(&["+44 7700 900123", "+15559990000", "77@lid"]).unwrap();
    let sent = f.driver.publish(&key, &text_status(&key, 2, "hi").with_audience(allow), None).await.unwrap();
    assert_eq!(sent.reach, Reach { recipients: 2, unresolved: vec![r("+15559990000")] });
    assert_eq!(f.driver.sent(&key)[1].recipients, [r("+447700900123"), r("77@lid")]);
    assert_eq!(f.driver.sent(&key)[1].unresolved, [r("+15559990000")]);

    // Nobody left to send to: refused, nothing sent, no fault used up.
    f.driver.inject(&key, Fault::DeviceError, 1).await.unwrap();
    let nobody = Audience::allowlist(&["+15559990000"]).unwrap();
    let err = f.driver.publish(&key, &text_status(&key, 3, "hi").with_audience(nobody), None).await;
    assert_err!(err, DriverError::NoRecipients(_));
    let everyone = Audience::denylist(&["+15550100001", "+15550100002", "+15550100003", "+15550100004"]).unwrap();
    let err = f.driver.publish(&key, &text_status(&key, 4, "hi").with_audience(everyone), None).await;
    assert_err!(err, DriverError::NoRecipients(_));
    assert_eq!(f.driver.sent(&key).len(), 2);
    assert_err!(f.publish(&key, 5).await, DriverError::DeviceError(_));
}

#[tokio::test]
async fn a_disconnected_session_says_why_and_restart_brings_it_back() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    assert_eq!(f.driver.state(&key).await.unwrap().reason, None);
    f.driver.inject(&key, Fault::Disconnect, 0).await.unwrap();
    let condition = f.driver.state(&key).await.unwrap();
    assert_eq!((condition.state, condition.reason.map(|r| r.code)), (SessionState::Disconnected, Some("offline")));
    assert_eq!(f.driver.restart(&key).await.unwrap(), SessionState::Connected);
    assert_eq!(f.driver.restart(&key).await.unwrap(), SessionState::Connected, "harmless when connected");
    let pairing = f.pairing("p").await;
    assert_eq!(f.driver.restart(&pairing).await.unwrap(), SessionState::Pairing);
    f.driver.logout(&key).await.unwrap();
    assert_err!(f.driver.restart(&key).await, DriverError::LoggedOut);
}

#[tokio::test]
async fn publishing_needs_a_linked_and_connected_session() {
    let f = Fixture::new();
    let pairing = f.in_state("p", SessionState::Pairing).await;
    assert_err!(f.publish(&pairing, 1).await, DriverError::NotPaired);
    let disconnected = f.in_state("d", SessionState::Disconnected).await;
    assert_err!(f.publish(&disconnected, 2).await, DriverError::Disconnected);
    let logged_out = f.in_state("l", SessionState::LoggedOut).await;
    assert_err!(f.publish(&logged_out, 3).await, DriverError::LoggedOut);
    for key in [pairing, disconnected, logged_out] {
        assert!(f.driver.sent(&key).is_empty(), "nothing is recorded for a refused publish");
    }
}

#[tokio::test]
async fn message_ids_are_well_formed_and_unique_over_many_publishes() {
    let f = Fixture::new();
    let keys = [f.connected("a").await, f.connected("b").await];
    let mut ids = HashSet::new();
    for n in 0..10_000u128 {
        let id = f.publish(&keys[(n % 2) as usize], n).await.unwrap();
        assert_message_id_shape(&id);
        assert!(ids.insert(id.clone()), "{id} repeated");
    }
    assert_eq!(f.driver.sent(&keys[0]).len() + f.driver.sent(&keys[1]).len(), 10_000);
}

#[test]
fn message_ids_never_repeat_within_a_driver() {
    // The generator on its own, far beyond what a test publishes through the port.
    let mut ids = MessageIds::new(&mut SplitMix64::new(3));
    let seen: HashSet<MessageId> = (0..200_000).map(|_| ids.next()).collect();
    assert_eq!(seen.len(), 200_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_from_many_tasks_get_distinct_ids() {
    let clock = Arc::new(FakeClock(Mutex::new(t(0))));
    let driver = Arc::new(SandboxDriver::with_seed(clock, 5));
    let key = key("s1");
    driver.start(&key).await.unwrap();
    driver.pair(&key, &PairMethod::Qr).await.unwrap();
    let tasks: Vec<_> = (0..8u128)
        .map(|task| {
            let (driver, key) = (driver.clone(), key.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0..250 {
                    let status = text_status(&key, task * 1_000 + n, "hi");
                    ids.push(driver.publish(&key, &status, None).await.unwrap().message_id);
                }
                ids
            })
        })
        .collect();
    let mut all = HashSet::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    assert_eq!(all.len(), 2_000);
    assert_eq!(driver.sent(&key).len(), 2_000);
}

#[tokio::test]
async fn the_same_seed_replays_the_same_codes_and_ids() {
    async fn run(seed: u64) -> (String, String, Vec<MessageId>) {
        let f = Fixture::seeded(seed);
        let a = f.pairing("a").await;
        let qr = f.driver.qr(&a).await.unwrap().payload;
        f.driver.pair(&a, &PairMethod::Qr).await.unwrap();
        let b = f.pairing("b").await;
        let code = PairMethod::Code { phone_number: PhoneNumber::new("5511999990000").unwrap() };
        let Pairing::Code(code) = f.driver.pair(&b, &code).await.unwrap() else { panic!("expected a code") };
        let mut ids = Vec::new();
        for n in 0..20 {
            ids.push(f.publish(if n % 2 == 0 { &a } else { &b }, n).await.unwrap());
        }
        (qr, code.code, ids)
    }
    assert_eq!(run(7).await, run(7).await);
    let (one, other) = (run(7).await, run(8).await);
    assert_ne!(one.0, other.0);
    assert_ne!(one.2, other.2);
    assert_eq!(SandboxDriver::with_seed(Arc::new(FakeClock(Mutex::new(t(0)))), 7).seed(), 7);
}

// ---- Revoking ---------------------------------------------------------------------------------

#[tokio::test]
async fn revoking_a_sent_status_is_recorded() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    let id = f.publish(&key, 1).await.unwrap();
    f.clock.advance(30);
    let status = published(text_status(&key, 1, "x"), &id);
    f.driver.revoke(&key, &status).await.unwrap();
    assert_eq!(
        f.driver.revocations(&key),
        vec![Revocation {
            tenant: tenant(1),
            session: key.id.clone(),
            message_id: id.clone(),
            status_id: status.id(),
            revoked_at: t(30),
        }]
    );
    assert_eq!(f.driver.sent(&key)[0].revoked_at, Some(t(30)));
    // Revoking again is sent again, as WhatsApp would; the first revocation time stays.
    f.clock.advance(1);
    f.driver.revoke(&key, &status).await.unwrap();
    assert_eq!(f.driver.revocations(&key).len(), 2);
    assert_eq!(f.driver.sent(&key)[0].revoked_at, Some(t(30)));
}

#[tokio::test]
async fn only_messages_this_session_sent_can_be_revoked() {
    let f = Fixture::new();
    let ours = f.connected("ours").await;
    let theirs = f.connected("theirs").await;
    let their_id = f.publish(&theirs, 1).await.unwrap();
    let status = published(text_status(&ours, 1, "x"), &their_id);
    assert_err!(f.driver.revoke(&ours, &status).await, DriverError::DeviceError(_));
    let unknown = MessageId::new("3EB0FFFFFFFFFFFFFFFFFFFF").unwrap();
    assert_err!(
        f.driver.revoke(&ours, &published(text_status(&ours, 2, "x"), &unknown)).await,
        DriverError::DeviceError(_)
    );
    assert_err!(f.driver.revoke(&ours, &text_status(&ours, 3, "never sent")).await, DriverError::DeviceError(_));
    assert!(f.driver.revocations(&ours).is_empty());
    assert!(f.driver.sent(&theirs)[0].revoked_at.is_none());
}

#[tokio::test]
async fn revoking_needs_a_linked_and_connected_session() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    let id = f.publish(&key, 1).await.unwrap();
    let status = published(text_status(&key, 1, "x"), &id);
    f.driver.inject(&key, Fault::Disconnect, 1).await.unwrap();
    assert_err!(f.driver.revoke(&key, &status).await, DriverError::Disconnected);
    f.driver.logout(&key).await.unwrap();
    assert_err!(f.driver.revoke(&key, &status).await, DriverError::LoggedOut);
    let pairing = f.pairing("p").await;
    assert_err!(
        f.driver.revoke(&pairing, &published(text_status(&pairing, 2, "x"), &id)).await,
        DriverError::NotPaired
    );
    assert!(f.driver.revocations(&key).is_empty());
}

// ---- Faults -----------------------------------------------------------------------------------

#[tokio::test]
async fn disconnect_and_reconnect_move_a_linked_session() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    f.driver.inject(&key, Fault::Disconnect, 1).await.unwrap();
    assert_eq!(f.driver.state(&key).await.unwrap().state, SessionState::Disconnected);
    // It stays offline on its own, and a second disconnect changes nothing.
    f.clock.advance(3_600);
    f.driver.inject(&key, Fault::Disconnect, 1).await.unwrap();
    assert_eq!(f.driver.state(&key).await.unwrap().state, SessionState::Disconnected);
    f.driver.inject(&key, Fault::Reconnect, 1).await.unwrap();
    assert_eq!(f.driver.state(&key).await.unwrap().state, SessionState::Connected);
    f.driver.inject(&key, Fault::Reconnect, 1).await.unwrap();
    assert_eq!(f.driver.state(&key).await.unwrap().state, SessionState::Connected);
    f.publish(&key, 1).await.unwrap();
}

#[tokio::test]
async fn connection_faults_need_a_linked_session() {
    let f = Fixture::new();
    let pairing = f.pairing("p").await;
    assert_err!(f.driver.inject(&pairing, Fault::Disconnect, 1).await, DriverError::NotPaired);
    assert_err!(f.driver.inject(&pairing, Fault::Reconnect, 1).await, DriverError::NotPaired);
    assert_eq!(f.driver.state(&pairing).await.unwrap().state, SessionState::Pairing);
    let logged_out = f.in_state("l", SessionState::LoggedOut).await;
    assert_err!(f.driver.inject(&logged_out, Fault::Disconnect, 1).await, DriverError::LoggedOut);
    assert_err!(f.driver.inject(&logged_out, Fault::Reconnect, 1).await, DriverError::LoggedOut);
    assert_eq!(f.driver.state(&logged_out).await.unwrap().state, SessionState::LoggedOut);
}

#[tokio::test]
async fn publish_faults_fail_the_next_publishes_in_order_then_stop() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    f.driver.inject(&key, Fault::UploadFailed, 2).await.unwrap();
    f.driver.inject(&key, Fault::ServerReject, 1).await.unwrap();
    f.driver.inject(&key, Fault::UploadTimeout, 1).await.unwrap();
    f.driver.inject(&key, Fault::DeviceError, 2).await.unwrap();
    assert_eq!(
        f.driver.pending_faults(&key),
        vec![(Fault::UploadFailed, 2), (Fault::ServerReject, 1), (Fault::UploadTimeout, 1), (Fault::DeviceError, 2)]
    );
    assert_err!(f.publish(&key, 1).await, DriverError::UploadFailed(_));
    assert_err!(f.publish(&key, 2).await, DriverError::UploadFailed(_));
    assert_err!(f.publish(&key, 3).await, DriverError::ServerRejected(_));
    assert_err!(f.publish(&key, 4).await, DriverError::UploadTimeout);
    assert_eq!(f.driver.pending_faults(&key), vec![(Fault::DeviceError, 2)]);
    assert_err!(f.publish(&key, 5).await, DriverError::DeviceError(_));
    assert_err!(f.publish(&key, 6).await, DriverError::DeviceError(_));
    assert!(f.driver.pending_faults(&key).is_empty());
    assert!(f.driver.sent(&key).is_empty(), "a failed publish sends nothing");
    f.publish(&key, 7).await.unwrap();
    assert_eq!(f.driver.sent(&key).len(), 1);
}

#[tokio::test]
async fn publish_faults_carry_realistic_messages() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    let cases = [
        (Fault::UploadFailed, FailureCode::UploadFailed, "media upload failed: mmg.whatsapp.net answered HTTP 500"),
        (Fault::UploadTimeout, FailureCode::UploadTimeout, "media upload timed out"),
        (Fault::DeviceError, FailureCode::DeviceError, "device error: failed to resolve user device"),
        (Fault::ServerReject, FailureCode::ServerRejected, "rejected by the WhatsApp server: error 479"),
    ];
    for (n, (fault, code, message)) in cases.into_iter().enumerate() {
        f.driver.inject(&key, fault, 1).await.unwrap();
        let failure = f.publish(&key, n as u128).await.unwrap_err().failure();
        assert_eq!(failure.code, code);
        assert_eq!(failure.message, message);
    }
}

#[tokio::test]
async fn repeated_faults_of_one_kind_add_up_and_a_zero_count_does_nothing() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    f.driver.inject(&key, Fault::UploadTimeout, 0).await.unwrap();
    assert!(f.driver.pending_faults(&key).is_empty());
    f.publish(&key, 1).await.unwrap();
    f.driver.inject(&key, Fault::UploadTimeout, 2).await.unwrap();
    f.driver.inject(&key, Fault::UploadTimeout, 3).await.unwrap();
    assert_eq!(f.driver.pending_faults(&key), vec![(Fault::UploadTimeout, 5)]);
    for n in 0..5 {
        assert_err!(f.publish(&key, n + 10).await, DriverError::UploadTimeout);
    }
    f.publish(&key, 20).await.unwrap();
    // A huge count is kept as a number, not as a list.
    f.driver.inject(&key, Fault::ServerReject, u32::MAX).await.unwrap();
    f.driver.inject(&key, Fault::ServerReject, 1).await.unwrap();
    assert_eq!(f.driver.pending_faults(&key), vec![(Fault::ServerReject, u32::MAX)]);
}

#[tokio::test]
async fn publish_faults_wait_for_a_publish_that_gets_through_to_the_server() {
    let f = Fixture::new();
    let key = f.pairing("s1").await;
    // Queued while pairing; a publish refused for the session's state does not use one up.
    f.driver.inject(&key, Fault::ServerReject, 1).await.unwrap();
    assert_err!(f.publish(&key, 1).await, DriverError::NotPaired);
    f.driver.pair(&key, &PairMethod::Qr).await.unwrap();
    f.driver.inject(&key, Fault::Disconnect, 1).await.unwrap();
    assert_err!(f.publish(&key, 2).await, DriverError::Disconnected);
    f.driver.inject(&key, Fault::Reconnect, 1).await.unwrap();
    assert_err!(f.publish(&key, 3).await, DriverError::ServerRejected(_));
    f.publish(&key, 4).await.unwrap();
}

#[tokio::test]
async fn publish_faults_belong_to_one_session() {
    let f = Fixture::new();
    let one = f.connected("one").await;
    let two = f.connected("two").await;
    f.driver.inject(&one, Fault::UploadFailed, 1).await.unwrap();
    f.publish(&two, 1).await.unwrap();
    assert_err!(f.publish(&one, 2).await, DriverError::UploadFailed(_));
}

#[test]
fn debug_output_names_the_seed_without_taking_the_lock_twice() {
    let f = Fixture::seeded(99);
    let _guard = f.driver.lock();
    let text = format!("{:?}", f.driver);
    assert!(text.contains("seed: 99"), "{text}");
}

fn media_status(key: &SessionKey, n: u128, kind: MediaKind) -> (Status, PreparedMedia) {
    let media = PreparedMedia {
        kind,
        mime_type: if kind == MediaKind::Image { "image/jpeg" } else { "video/mp4" }.into(),
        bytes: bytes::Bytes::from(vec![0xAB; 4096]),
        width: 1080,
        height: 1920,
        duration_secs: (kind == MediaKind::Video).then_some(13),
        thumbnail: bytes::Bytes::from_static(b"\xff\xd8thumb\xff\xd9"),
        thumbnail_is_placeholder: kind == MediaKind::Video,
    };
    let status = MediaStatus { caption: Caption::new("Weekend vibes").unwrap(), media: media.meta(), source_url: None };
    let content = match kind {
        MediaKind::Image => StatusContent::Image(status),
        MediaKind::Video => StatusContent::Video(status),
    };
    (Status::accept(StatusId::from_uuid(Uuid::from_u128(n)), key.clone(), content, false, Plan::default(), t(0)), media)
}

#[tokio::test]
async fn media_reaches_the_sandbox_exactly_as_prepared() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    for (n, kind) in [(1, MediaKind::Image), (2, MediaKind::Video)] {
        let (status, media) = media_status(&key, n, kind);
        f.driver.publish(&key, &status, Some(media.clone())).await.unwrap();
        let sent = f.driver.sent(&key).pop().unwrap();
        let kept = sent.media.expect("the media is kept");
        assert_eq!(kept.bytes, media.bytes, "the very bytes the real driver would upload");
        assert_eq!(kept.bytes.as_ptr(), media.bytes.as_ptr(), "shared, not copied");
        assert_eq!((kept.mime_type.as_str(), kept.duration_secs), (media.mime_type.as_str(), media.duration_secs));
        assert_eq!(kept.thumbnail, media.thumbnail);
        assert_eq!(sent.caption.unwrap().as_str(), "Weekend vibes");
        let json = serde_json::to_value(f.driver.sent(&key)).unwrap();
        assert_eq!(json[n as usize - 1]["media"]["size_bytes"], 4096, "JSON shows the size, not the bytes");
    }
}

#[tokio::test]
async fn media_must_match_the_status_kind() {
    let f = Fixture::new();
    let key = f.connected("s1").await;
    let (image, _) = media_status(&key, 1, MediaKind::Image);
    let (_, video) = media_status(&key, 2, MediaKind::Video);
    assert_err!(f.driver.publish(&key, &image, None).await, DriverError::Other(_));
    assert_err!(f.driver.publish(&key, &image, Some(video)).await, DriverError::Other(_));
    let (_, jpeg) = media_status(&key, 3, MediaKind::Image);
    let text = text_status(&key, 4, "hi");
    assert_err!(f.driver.publish(&key, &text, Some(jpeg)).await, DriverError::Other(_));
    assert!(f.driver.sent(&key).is_empty(), "nothing was recorded as sent");
}

// ---- Reconciling and the record of sends -------------------------------------------------------

#[tokio::test]
async fn reconcile_finds_the_latest_send_of_a_status_and_nothing_else() {
    let f = Fixture::new();
    let ghost = key("ghost");
    let key = f.connected("s1").await;
    let status = text_status(&key, 1, "once");
    assert_eq!(f.driver.reconcile(&key, &status).await.unwrap(), SendCheck::NotSent);
    let first = f.driver.publish(&key, &status, None).await.unwrap();
    assert_eq!(f.driver.reconcile(&key, &status).await.unwrap(), SendCheck::Sent(first.clone()));
    // Publishing does not deduplicate: a second send is a second message, and the latest counts.
    let second = f.driver.publish(&key, &status, None).await.unwrap();
    assert_ne!(first.message_id, second.message_id);
    assert_eq!(f.driver.reconcile(&key, &status).await.unwrap(), SendCheck::Sent(second.clone()));
    let record = FaultInjector::sent(&f.driver, &key).await.unwrap();
    assert_eq!(record.iter().map(|r| r.message_id.clone()).collect::<Vec<_>>(), [first.message_id, second.message_id]);
    assert!(record.iter().all(|r| r.status == status.id() && r.status_type == StatusType::Text));

    // A publish that failed sent nothing, nor did another session; of a session the driver
    // never knew (another process's, perhaps) it cannot tell.
    let failed = text_status(&key, 2, "fails");
    f.driver.inject(&key, Fault::ServerReject, 1).await.unwrap();
    assert_err!(f.driver.publish(&key, &failed, None).await, DriverError::ServerRejected(_));
    assert_eq!(f.driver.reconcile(&key, &failed).await.unwrap(), SendCheck::NotSent);
    let other = f.connected("s2").await;
    assert_eq!(f.driver.reconcile(&other, &status).await.unwrap(), SendCheck::NotSent);
    assert_eq!(f.driver.reconcile(&ghost, &status).await.unwrap(), SendCheck::Unknown);
}

#[tokio::test]
async fn the_sent_record_through_the_port_is_oldest_first_and_empty_for_an_unknown_session() {
    let f = Fixture::new();
    assert!(FaultInjector::sent(&f.driver, &key("ghost")).await.unwrap().is_empty());
    let key = f.connected("s1").await;
    let id = f.publish(&key, 1).await.unwrap();
    f.clock.advance(5);
    let (image, media) = media_status(&key, 2, MediaKind::Image);
    let image_id = f.driver.publish(&key, &image, Some(media)).await.unwrap().message_id;
    let everyone = Audience::Contacts.select(&audience::contacts());
    assert_eq!(
        FaultInjector::sent(&f.driver, &key).await.unwrap(),
        vec![
            SentRecord {
                message_id: id,
                status: StatusId::from_uuid(Uuid::from_u128(1)),
                status_type: StatusType::Text,
                recipients: everyone.clone(),
                sent_at: t(0),
            },
            SentRecord {
                message_id: image_id,
                status: image.id(),
                status_type: StatusType::Image,
                recipients: everyone,
                sent_at: t(5),
            },
        ]
    );
}

// ---- Persistence --------------------------------------------------------------------------------

/// A directory of its own, removed afterwards.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("wastatus-sandbox-{}", Uuid::new_v4()));
        Self(dir)
    }

    fn journal(&self) -> std::path::PathBuf {
        self.0.join(crate::journal::FILE_NAME)
    }

    fn lines(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.journal()).unwrap();
        assert!(text.ends_with('\n'), "the journal is whole lines: {text:?}");
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    fn append(&self, bytes: &[u8]) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(self.journal()).unwrap();
        file.write_all(bytes).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Fixture {
    /// A persistent driver over `dir`, on a clock at `t(secs)`.
    fn persistent(dir: &TempDir, seed: u64, secs: i64) -> Self {
        let clock = Arc::new(FakeClock(Mutex::new(t(secs))));
        let driver = SandboxDriver::persistent_with_seed(clock.clone(), &dir.0, seed).unwrap();
        Self { clock, driver }
    }
}

/// The sent record without the media bytes, which the journal does not keep.
fn without_bytes(mut sent: Vec<SentMessage>) -> Vec<SentMessage> {
    for message in &mut sent {
        if let Some(media) = &mut message.media {
            media.bytes = bytes::Bytes::new();
            media.thumbnail = bytes::Bytes::new();
        }
    }
    sent
}

#[tokio::test]
async fn a_persistent_driver_comes_back_as_it_was() {
    let dir = TempDir::new();
    let (s1, s2, s3, s4);
    let (sent, revocations, texts);
    {
        let f = Fixture::persistent(&dir, 1, 0);
        s1 = f.connected("s1").await;
        let phone_number = PhoneNumber::new("+91 98765 43210").unwrap();
        s2 = f.pairing("s2").await;
        f.driver.pair(&s2, &PairMethod::Code { phone_number }).await.unwrap();
        s3 = f.connected("s3").await;
        s4 = f.connected("s4").await;
        let first = f.publish(&s1, 1).await.unwrap();
        f.clock.advance(1);
        let (image, media) = media_status(&s1, 2, MediaKind::Image);
        f.driver.publish(&s1, &image, Some(media)).await.unwrap();
        f.publish(&s1, 3).await.unwrap();
        f.clock.advance(1);
        f.driver.revoke(&s1, &published(text_status(&s1, 1, "x"), &first)).await.unwrap();
        f.publish(&s2, 4).await.unwrap();
        f.driver.inject(&s2, Fault::Disconnect, 1).await.unwrap();
        f.publish(&s3, 5).await.unwrap();
        f.driver.logout(&s3).await.unwrap();
        f.publish(&s4, 6).await.unwrap();
        f.driver.remove(&s4).await.unwrap();
        // Neither pending faults nor a session still pairing are kept.
        f.driver.inject(&s1, Fault::UploadFailed, 3).await.unwrap();
        f.pairing("p").await;
        sent = [&s1, &s2, &s3].map(|key| without_bytes(f.driver.sent(key)));
        revocations = f.driver.revocations(&s1);
        texts = f.driver.sent(&s1)[0].text.clone();
    }

    let f = Fixture::persistent(&dir, 2, 100);
    assert_eq!(f.driver.state(&s1).await.unwrap().state, SessionState::Connected);
    assert_eq!(f.driver.start(&s1).await.unwrap(), SessionState::Connected, "starting it again changes nothing");
    assert_eq!(f.driver.state(&s2).await.unwrap().state, SessionState::Disconnected);
    assert_eq!(f.driver.state(&s3).await.unwrap().state, SessionState::LoggedOut);
    assert_err!(f.driver.state(&s4).await, DriverError::UnknownSession);
    assert_err!(f.driver.state(&key("p")).await, DriverError::UnknownSession);
    assert_eq!([&s1, &s2, &s3].map(|key| f.driver.sent(key)), sent);
    assert_eq!(f.driver.sent(&s1).len(), 3);
    assert_eq!(f.driver.sent(&s1)[0].revoked_at, Some(t(2)));
    assert_eq!(f.driver.sent(&s1)[0].text, texts);
    assert_eq!(f.driver.sent(&s1)[1].media.as_ref().unwrap().size_bytes, 4096, "the size survives, not the bytes");
    assert_eq!(f.driver.revocations(&s1), revocations);
    assert!(f.driver.sent(&s4).is_empty());
    assert!(f.driver.pending_faults(&s1).is_empty());
    let status = text_status(&s1, 3, "x");
    assert_eq!(
        f.driver.reconcile(&s1, &status).await.unwrap(),
        SendCheck::Sent(Published { message_id: sent[0][2].message_id.clone(), reach: sent[0][2].reach() })
    );

    // It carries on from there, and so does the journal.
    let later = f.publish(&s1, 7).await.unwrap();
    f.driver.inject(&s2, Fault::Reconnect, 1).await.unwrap();
    f.driver.pair(&s3, &PairMethod::Qr).await.unwrap();
    drop(f);
    let f = Fixture::persistent(&dir, 3, 200);
    assert_eq!(f.driver.sent(&s1).len(), 4);
    assert_eq!(f.driver.sent(&s1)[3].message_id, later);
    assert_eq!(f.driver.state(&s2).await.unwrap().state, SessionState::Connected);
    assert_eq!(f.driver.state(&s3).await.unwrap().state, SessionState::Connected);
    assert_eq!(f.driver.sent(&s3).len(), 1, "a device paired again keeps what it sent before");
}

#[tokio::test]
async fn the_journal_is_json_lines_with_a_header() {
    let dir = TempDir::new();
    let f = Fixture::persistent(&dir, 1, 0);
    let key = f.connected("s1").await;
    let id = f.publish(&key, 1).await.unwrap();
    let lines = dir.lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["op"], "journal");
    assert_eq!(lines[0]["version"], 1);
    assert_eq!(lines[1]["op"], "paired");
    assert_eq!(lines[1]["session"], "s1");
    assert_eq!(lines[1]["method"], "qr");
    let sent = &lines[2];
    assert_eq!(sent["op"], "sent");
    assert_eq!(sent["tenant"], tenant(1).to_string());
    assert_eq!(sent["message_id"], id.as_str());
    assert_eq!(sent["status_id"], Uuid::from_u128(1).to_string());
    assert_eq!(sent["status_type"], "text");
    assert_eq!(sent["text"], "Flash sale ends tonight!");
    assert!(sent["sent_at"].as_str().unwrap().starts_with("2027-01-15T08:00:00"), "{sent}");
    // Refused operations and QR codes leave no trace.
    assert_err!(f.driver.pair(&key, &PairMethod::Qr).await, DriverError::AlreadyPaired);
    let pairing = f.pairing("p").await;
    f.driver.qr(&pairing).await.unwrap();
    f.driver.remove(&SessionKey { tenant: tenant(1), id: SessionId::new("never-started").unwrap() }).await.unwrap();
    assert_eq!(dir.lines().len(), 3);
}

#[tokio::test]
async fn a_torn_last_line_is_dropped_and_cut_off() {
    let dir = TempDir::new();
    let (key, id) = {
        let f = Fixture::persistent(&dir, 1, 0);
        let key = f.connected("s1").await;
        let id = f.publish(&key, 1).await.unwrap();
        (key, id)
    };
    // The process died while writing a line.
    dir.append(br#"{"op":"sent","tenant":"00000000-0000-0000-0000-000000000001","session":"s1","mess"#);
    let f = Fixture::persistent(&dir, 2, 10);
    assert_eq!(f.driver.state(&key).await.unwrap().state, SessionState::Connected);
    assert_eq!(f.driver.sent(&key).iter().map(|s| &s.message_id).collect::<Vec<_>>(), [&id]);
    assert_eq!(dir.lines().len(), 3, "the torn line is gone from the file");
    // What is written next starts on a line of its own, and reads back.
    let next = f.publish(&key, 2).await.unwrap();
    drop(f);
    let f = Fixture::persistent(&dir, 3, 20);
    assert_eq!(f.driver.sent(&key).iter().map(|s| s.message_id.clone()).collect::<Vec<_>>(), [id, next]);
}

#[tokio::test]
async fn a_whole_last_line_without_its_newline_is_kept() {
    let dir = TempDir::new();
    let key = {
        let f = Fixture::persistent(&dir, 1, 0);
        f.connected("s1").await
    };
    let text = std::fs::read_to_string(dir.journal()).unwrap();
    std::fs::write(dir.journal(), text.trim_end()).unwrap();
    let f = Fixture::persistent(&dir, 2, 10);
    assert_eq!(f.driver.state(&key).await.unwrap().state, SessionState::Connected);
    f.publish(&key, 1).await.unwrap();
    assert_eq!(dir.lines().len(), 3);
}

#[tokio::test]
async fn a_damaged_journal_is_refused() {
    let dir = TempDir::new();
    {
        let f = Fixture::persistent(&dir, 1, 0);
        f.connected("s1").await;
    }
    let clock = Arc::new(FakeClock(Mutex::new(t(0))));
    let open = || SandboxDriver::persistent(clock.clone(), &dir.0).map(|_| ()).unwrap_err();
    // A bad line that is not the last one was not torn by a crash.
    dir.append(b"not json\n");
    assert_eq!(open().kind(), std::io::ErrorKind::InvalidData);
    let header = r#"{"op":"journal","version":2,"created_at":"2027-01-15T08:00:00Z"}"#;
    std::fs::write(dir.journal(), format!("{header}\n")).unwrap();
    let error = open();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    assert!(error.to_string().contains("version 2"), "{error}");
    std::fs::write(
        dir.journal(),
        r#"{"op":"removed","tenant":"00000000-0000-0000-0000-000000000001","session":"s1","at":"2027-01-15T08:00:00Z"}
"#,
    )
    .unwrap();
    assert_eq!(open().kind(), std::io::ErrorKind::InvalidData, "no header");
}

#[tokio::test]
async fn message_ids_stay_unique_across_restarts_even_with_the_same_seed() {
    let dir = TempDir::new();
    let key = key("s1");
    let mut ids = HashSet::new();
    for run in 0..3 {
        let f = Fixture::persistent(&dir, 7, run);
        if run == 0 {
            f.connected("s1").await;
        }
        for n in 0..50 {
            let id = f.publish(&key, run as u128 * 100 + n).await.unwrap();
            assert_message_id_shape(&id);
            assert!(ids.insert(id.clone()), "{id} repeated in run {run}");
        }
        assert_eq!(f.driver.sent(&key).len(), ids.len());
    }
    // Without the journal's ids to skip, seed 7 would have given the first run's ids again.
    let memory = Fixture::seeded(7);
    memory.connected("s1").await;
    let again = memory.publish(&key, 0).await.unwrap();
    assert!(ids.contains(&again));
}

#[tokio::test]
async fn a_journal_belongs_to_one_driver_at_a_time() {
    let dir = TempDir::new();
    let first = Fixture::persistent(&dir, 1, 0);
    let clock = Arc::new(FakeClock(Mutex::new(t(0))));
    let error = SandboxDriver::persistent(clock.clone(), &dir.0).map(|_| ()).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ResourceBusy);
    assert!(format!("{:?}", first.driver).contains("sandbox-journal.jsonl"));
    drop(first);
    SandboxDriver::persistent(clock, &dir.0).unwrap();
}

// ---- The session port's contract, shared with the web driver ------------------------------------

mod contract {
    use wastatus_driver_contract::{Harness, driver_contract};

    use super::*;

    #[async_trait]
    impl Harness for Fixture {
        fn driver(&self) -> &dyn WhatsAppDriver {
            &self.driver
        }

        async fn link(&self, session: &SessionKey) {
            self.driver.pair(session, &PairMethod::Qr).await.unwrap();
        }

        async fn drop_connection(&self, session: &SessionKey) {
            self.driver.inject(session, Fault::Disconnect, 0).await.unwrap();
        }
    }

    async fn harness() -> Fixture {
        Fixture::new()
    }

    driver_contract!(harness);
}
