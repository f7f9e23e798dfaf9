//! Turning whatsapp-rust's errors into the domain's [`DriverError`]s.
//!
//! Classification walks the error's whole `source()` chain (with whatsapp-rust's
//! [`ErrorChainExt`]) rather than matching the outer variant: the same cause (a dropped
//! socket, an HTTP status from the media server, a server rejection code) reaches us wrapped in
//! different outer types depending on which step of a send failed.

use std::error::Error as StdError;

use wastatus_domain::ports::DriverError;
use whatsapp_rust::pair_code::PairError;
use whatsapp_rust::{ErrorChainExt, SendError};

/// Which step of a publish failed; the same cause means different things in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Resolving the audience's phone numbers to WhatsApp accounts (usync IQ).
    Resolve,
    /// Uploading media to WhatsApp's media servers.
    Upload,
    /// Encrypting and writing the message stanza.
    Send,
}

/// The driver error for a failure of `stage` whose cause is `error`.
///
/// In order: a time-out of our own HTTP client or of the server's answer; the transport being
/// gone; an HTTP status from the media servers; a rejection by the chat server; and what
/// remains, by stage (a failed upload, or a device error for resolution and sending, whose
/// remaining causes are Signal sessions, device lists and request validation).
pub fn classify(stage: Stage, error: &(dyn StdError + 'static)) -> DriverError {
    let message = innermost_message(error);
    let http_timeout = ErrorChainExt::sources(error).any(|cause| {
        cause.downcast_ref::<reqwest::Error>().is_some_and(|e| e.is_timeout())
            || cause.downcast_ref::<tokio::time::error::Elapsed>().is_some()
    });
    if http_timeout {
        return match stage {
            Stage::Upload => DriverError::UploadTimeout,
            Stage::Resolve | Stage::Send => DriverError::Disconnected,
        };
    }
    if error.is_transport_unavailable() {
        return DriverError::Disconnected;
    }
    if let Some(status) = error.http_status() {
        return DriverError::UploadFailed(format!("the media server answered HTTP {status}"));
    }
    if error.is_timeout() {
        // The server did not answer a request (media connection, device list, usync): the
        // connection is most likely dead, and the client is about to notice.
        return match stage {
            Stage::Upload => DriverError::UploadTimeout,
            Stage::Resolve | Stage::Send => DriverError::Disconnected,
        };
    }
    if let Some(rejection) = error.server_rejection() {
        let text = if rejection.text.is_empty() { String::new() } else { format!(" ({})", rejection.text) };
        return match stage {
            Stage::Upload => DriverError::UploadFailed(format!(
                "WhatsApp refused a media connection: error {}{text}",
                rejection.code
            )),
            Stage::Resolve | Stage::Send => DriverError::ServerRejected(format!("error {}{text}", rejection.code)),
        };
    }
    if ErrorChainExt::sources(error).any(|cause| cause.downcast_ref::<reqwest::Error>().is_some()) {
        return match stage {
            Stage::Upload => DriverError::UploadFailed(message),
            Stage::Resolve | Stage::Send => DriverError::Disconnected,
        };
    }
    if let Some(store) = error.store_failure() {
        return DriverError::Other(anyhow::anyhow!("device state storage failed: {store}"));
    }
    match stage {
        Stage::Upload => DriverError::UploadFailed(message),
        Stage::Resolve | Stage::Send => DriverError::DeviceError(message),
    }
}

/// The driver error for a failed send (or revoke) stanza.
pub fn classify_send(error: &SendError) -> DriverError {
    match error {
        // The device lost its identity or its login between our check and the send: the
        // session is reconnecting (a 429 or 503 clears the login until the next <success>).
        SendError::NotLoggedIn => DriverError::Disconnected,
        SendError::InvalidRequest(why) => DriverError::DeviceError(why.clone()),
        other => classify(Stage::Send, other),
    }
}

/// The driver error for a failed upload, `error` being what `Client::upload` returned.
pub fn classify_upload(error: &anyhow::Error) -> DriverError {
    classify(Stage::Upload, error.as_ref())
}

/// The driver error for a failed pairing-code request.
pub fn classify_pair(error: &PairError) -> DriverError {
    if let Some(rejection) = error.rejection() {
        return DriverError::ServerRejected(format!("WhatsApp refused the pairing code request: {rejection:?}"));
    }
    match classify(Stage::Resolve, error) {
        DriverError::DeviceError(why) => DriverError::DeviceError(format!("could not request a pairing code: {why}")),
        other => other,
    }
}

/// Whether a send that failed with `error` certainly wrote nothing to the socket, so the
/// status can be sent again without risking a duplicate.
pub fn certainly_not_sent(error: &SendError) -> bool {
    match error {
        SendError::NotLoggedIn | SendError::InvalidRequest(_) => true,
        // Requests made while preparing the stanza (device lists, sender keys) fail before it
        // is written.
        SendError::Iq(_) => true,
        _ => false,
    }
}

/// The message of the deepest cause that says something, for error texts shown to clients:
/// outer layers mostly repeat it (see whatsapp-rust's rendering convention).
fn innermost_message(error: &(dyn StdError + 'static)) -> String {
    let mut messages: Vec<String> = ErrorChainExt::sources(error).map(|cause| cause.to_string()).collect();
    messages.dedup();
    match messages.as_slice() {
        [] => "unknown error".to_owned(),
        [only] => only.clone(),
        [first, .., last] if first.contains(last.as_str()) => first.clone(),
        [first, .., last] => format!("{first}: {last}"),
    }
}
