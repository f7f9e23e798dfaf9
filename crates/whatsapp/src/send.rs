//! The one call that puts a status stanza on the wire, behind a trait so that tests can watch
//! what is sent (whatsapp-rust cannot send without a WhatsApp server).

use async_trait::async_trait;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{Client, Jid, SendError, StatusSendOptions};

/// Sends one status stanza.
#[async_trait]
pub trait StatusSender: Send + Sync {
    /// Encrypts `message` to the devices of `recipients` (and the sender's own) and writes one
    /// status stanza under `options.message_id`. Returns once the stanza is written; the
    /// server's verdict comes later, as a `ServerAck` event for that id.
    async fn send(
        &self,
        client: &Client,
        message: wa::Message,
        recipients: &[Jid],
        options: StatusSendOptions,
    ) -> Result<(), SendError>;
}

/// The real thing: whatsapp-rust's `status().send_raw`.
pub(crate) struct ClientSender;

#[async_trait]
impl StatusSender for ClientSender {
    async fn send(
        &self,
        client: &Client,
        message: wa::Message,
        recipients: &[Jid],
        options: StatusSendOptions,
    ) -> Result<(), SendError> {
        client.status().send_raw(message, recipients, options).await.map(drop)
    }
}
