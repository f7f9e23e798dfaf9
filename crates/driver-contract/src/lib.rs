//! The session port's contract: what every WhatsApp driver owes the domain, written once and
//! run against each driver (the sandbox and the web driver), so that the two cannot drift
//! apart where the domain relies on them.
//!
//! A driver's test binary implements [`Harness`] (how to make a driver, link a session to a
//! phone and take it offline, which differ per driver) and expands [`driver_contract!`], which
//! makes one test per rule:
//!
//! ```ignore
//! wastatus_driver_contract::driver_contract!(harness);   // `async fn harness() -> impl Harness`
//! ```
//!
//! The rules cover the lifecycle (start, state and its reason, pairing, QR codes, logout,
//! restart, remove), what a session that cannot send answers to publish and revoke, contacts
//! before linking, and reconciling a status that was never sent. Sending itself is each
//! driver's own business to test: the sandbox sends at once, the web driver needs WhatsApp's
//! server.

use async_trait::async_trait;
use wastatus_domain::ports::{DriverError, SendCheck, WhatsAppDriver};
use wastatus_domain::{
    BackgroundColor, Font, PairMethod, Plan, SessionId, SessionKey, SessionState, Status, StatusContent, StatusId,
    StatusText, TenantId, TextStatus,
};

/// What the contract needs from a driver's test set-up.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The driver under test.
    fn driver(&self) -> &dyn WhatsAppDriver;

    /// Links a started, pairing session to a (simulated) phone, and returns once the driver
    /// reports it `connected`.
    async fn link(&self, session: &SessionKey);

    /// Takes a linked session offline (a dropped connection, a fault), and returns once the
    /// driver reports it `disconnected`.
    async fn drop_connection(&self, session: &SessionKey);
}

/// A session key of the contract's tenant.
pub fn session(id: &str) -> SessionKey {
    SessionKey { tenant: TenantId::from_uuid(uuid::Uuid::from_u128(0xC0417AC7)), id: SessionId::new(id).unwrap() }
}

/// A text status of `session`, as the domain hands it to a driver.
pub fn text_status(session: &SessionKey, n: u128) -> Status {
    let content = StatusContent::Text(TextStatus {
        text: StatusText::new("contract").unwrap(),
        background_color: BackgroundColor::DEFAULT,
        font: Font::SansSerif,
    });
    let mut status = Status::accept(
        StatusId::from_uuid(uuid::Uuid::from_u128(n)),
        session.clone(),
        content,
        false,
        Plan::default(),
        chrono::Utc::now(),
    );
    status.start_sending(chrono::Utc::now()).unwrap();
    status
}

macro_rules! expect_err {
    ($result:expr, $pattern:pat, $what:expr) => {
        match $result {
            Err($pattern) => {}
            Err(other) => panic!("{}: expected {}, got the error {other:?}", $what, stringify!($pattern)),
            Ok(value) => panic!("{}: expected {}, got {value:?}", $what, stringify!($pattern)),
        }
    };
}

async fn state(h: &impl Harness, key: &SessionKey) -> SessionState {
    h.driver().state(key).await.expect("the state of a started session").state
}

/// A new session starts in `pairing`; starting it again is harmless; a session never started
/// is unknown.
pub async fn a_new_session_starts_pairing_and_an_unknown_one_is_unknown(h: &impl Harness) {
    let key = session("fresh");
    expect_err!(h.driver().state(&key).await, DriverError::UnknownSession, "state before start");
    assert_eq!(h.driver().start(&key).await.unwrap(), SessionState::Pairing);
    assert_eq!(h.driver().start(&key).await.unwrap(), SessionState::Pairing, "starting again");
    let condition = h.driver().state(&key).await.unwrap();
    assert_eq!(condition.state, SessionState::Pairing);
}

/// A session that is not linked cannot publish or revoke, knows no contacts, and sent nothing.
pub async fn an_unlinked_session_cannot_send_and_has_no_contacts(h: &impl Harness) {
    let key = session("unlinked");
    h.driver().start(&key).await.unwrap();
    let status = text_status(&key, 1);
    expect_err!(h.driver().publish(&key, &status, None).await, DriverError::NotPaired, "publish while pairing");
    assert!(h.driver().contacts(&key).await.unwrap().is_empty(), "contacts before linking");
    assert_eq!(h.driver().reconcile(&key, &status).await.unwrap(), SendCheck::NotSent, "reconcile of no send");
    assert_eq!(h.driver().restart(&key).await.unwrap(), SessionState::Pairing, "restart while pairing");
}

/// A linked session is `connected`, cannot be paired again and offers no QR code.
pub async fn a_linked_session_is_connected_and_cannot_pair_again(h: &impl Harness) {
    let key = session("linked");
    h.driver().start(&key).await.unwrap();
    h.link(&key).await;
    let condition = h.driver().state(&key).await.unwrap();
    assert_eq!(condition.state, SessionState::Connected);
    assert_eq!(condition.reason, None, "a connected session needs no reason");
    expect_err!(h.driver().pair(&key, &PairMethod::Qr).await, DriverError::AlreadyPaired, "pair when linked");
    expect_err!(h.driver().qr(&key).await, DriverError::NoQrCode, "qr when linked");
    assert_eq!(h.driver().start(&key).await.unwrap(), SessionState::Connected, "starting a linked session");
    assert_eq!(h.driver().restart(&key).await.unwrap(), SessionState::Connected, "restart when connected");
}

/// A linked session that lost its connection is `disconnected`, says why, and refuses to send.
pub async fn a_disconnected_session_says_why_and_refuses_to_send(h: &impl Harness) {
    let key = session("offline");
    h.driver().start(&key).await.unwrap();
    h.link(&key).await;
    h.drop_connection(&key).await;
    let condition = h.driver().state(&key).await.unwrap();
    assert_eq!(condition.state, SessionState::Disconnected);
    let reason = condition.reason.expect("a disconnected session says why");
    assert!(!reason.code.is_empty() && !reason.message.is_empty(), "{reason:?}");
    assert!(reason.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "a snake_case code: {reason:?}");
    let status = text_status(&key, 2);
    expect_err!(h.driver().publish(&key, &status, None).await, DriverError::Disconnected, "publish offline");
}

/// Logging out unlinks: `logged_out`, no sending, no restart, and pairing again starts over.
pub async fn a_logged_out_session_must_pair_again(h: &impl Harness) {
    let key = session("gone");
    h.driver().start(&key).await.unwrap();
    h.link(&key).await;
    h.driver().logout(&key).await.unwrap();
    assert_eq!(state(h, &key).await, SessionState::LoggedOut);
    let status = text_status(&key, 3);
    expect_err!(h.driver().publish(&key, &status, None).await, DriverError::LoggedOut, "publish logged out");
    expect_err!(h.driver().restart(&key).await, DriverError::LoggedOut, "restart logged out");
    expect_err!(h.driver().logout(&key).await, DriverError::LoggedOut | DriverError::NotPaired, "logout twice");
    assert!(h.driver().contacts(&key).await.unwrap().is_empty(), "a logged-out device forgets its contacts");
}

/// Removing forgets a session in any state; removing an unknown one succeeds; a session started
/// again after removal begins pairing as a new device.
pub async fn remove_forgets_a_session_and_a_new_start_begins_pairing(h: &impl Harness) {
    let key = session("removed");
    h.driver().remove(&session("never-started")).await.unwrap();
    h.driver().start(&key).await.unwrap();
    h.link(&key).await;
    h.driver().remove(&key).await.unwrap();
    expect_err!(h.driver().state(&key).await, DriverError::UnknownSession, "state after remove");
    let status = text_status(&key, 4);
    expect_err!(h.driver().publish(&key, &status, None).await, DriverError::UnknownSession, "publish after remove");
    h.driver().remove(&key).await.unwrap();
    assert_eq!(h.driver().start(&key).await.unwrap(), SessionState::Pairing, "a new device after remove");
}

/// Expands to one `#[tokio::test]` per rule of the contract, each with a fresh harness from
/// `$harness` (an `async fn() -> impl Harness`).
#[macro_export]
macro_rules! driver_contract {
    ($harness:path) => {
        $crate::driver_contract!(@tests $harness;
            a_new_session_starts_pairing_and_an_unknown_one_is_unknown,
            an_unlinked_session_cannot_send_and_has_no_contacts,
            a_linked_session_is_connected_and_cannot_pair_again,
            a_disconnected_session_says_why_and_refuses_to_send,
            a_logged_out_session_must_pair_again,
            remove_forgets_a_session_and_a_new_start_begins_pairing,
        );
    };
    (@tests $harness:path; $($rule:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $rule() {
                let harness = $harness().await;
                $crate::$rule(&harness).await;
            }
        )*
    };
}
