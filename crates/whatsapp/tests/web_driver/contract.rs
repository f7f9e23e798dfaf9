//! The session port's contract (`wastatus-driver-contract`), run against the web driver: the
//! real client over the fake network, linked and dropped by the events WhatsApp's server would
//! cause.

use wastatus_driver_contract::{Harness, driver_contract};

use super::*;

struct Web {
    driver: WebDriver,
    _net: Arc<FakeNet>,
    _dir: TempDir,
}

#[async_trait]
impl Harness for Web {
    fn driver(&self) -> &dyn WhatsAppDriver {
        &self.driver
    }

    async fn link(&self, session: &SessionKey) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.driver.client(session).await.unwrap().is_none() {
            assert!(Instant::now() < deadline, "the session's client runs");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.driver.inject_event(session, pair_success()).await.unwrap();
        self.driver.inject_event(session, connected()).await.unwrap();
        assert_eq!(self.driver.state(session).await.unwrap().state, SessionState::Connected);
    }

    async fn drop_connection(&self, session: &SessionKey) {
        let dropped = Disconnected::builder().reason(DisconnectReason::ReadError("connection reset".into())).build();
        self.driver.inject_event(session, Event::Disconnected(dropped)).await.unwrap();
        eventually(&self.driver, session, Duration::from_secs(5), "disconnected", |s| {
            s.state == SessionState::Disconnected
        })
        .await;
    }
}

async fn harness() -> Web {
    let dir = TempDir::new("contract");
    let net = FakeNet::new(Net::Hang);
    let driver = driver(config(&dir.0), &net);
    Web { driver, _net: net, _dir: dir }
}

driver_contract!(harness);
