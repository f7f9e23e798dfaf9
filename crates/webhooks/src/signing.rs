//! Signing secrets and [Standard Webhooks](https://www.standardwebhooks.com/) signatures.
//!
//! A secret is `whsec_` and the base64 of random bytes; the HMAC key is those bytes. A message
//! is signed as `v1,<base64 of HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>`,
//! and the body sent is exactly the bytes signed. During a rotation every active secret signs,
//! and `webhook-signature` carries the signatures space-separated.
//!
//! Secrets are stored in clear by the storage adapter (signing needs them) and never logged:
//! [`WebhookSecret`]'s `Debug` shows only its prefix.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use wastatus_domain::WebhookSecret;
use wastatus_domain::ports::WebhookSecretMint;

type HmacSha256 = Hmac<Sha256>;

/// The header names of Standard Webhooks.
pub const WEBHOOK_ID: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// Mints secrets of `bytes` random bytes from the operating system's CSPRNG (via
/// [`rand::rng`]).
#[derive(Debug, Clone, Copy)]
pub struct SecretMint {
    bytes: usize,
}

impl SecretMint {
    /// A mint of secrets with `bytes` random bytes, clamped to 24–64.
    pub fn new(bytes: usize) -> Self {
        Self { bytes: bytes.clamp(24, 64) }
    }
}

impl Default for SecretMint {
    fn default() -> Self {
        Self::new(32)
    }
}

impl WebhookSecretMint for SecretMint {
    fn mint(&self) -> WebhookSecret {
        let mut key = vec![0_u8; self.bytes];
        rand::rng().fill_bytes(&mut key);
        WebhookSecret::new(format!("{}{}", WebhookSecret::PREFIX, STANDARD.encode(&key)))
            .expect("24 to 64 bytes in base64 make a valid secret")
    }
}

/// The HMAC key of a secret: its base64 decoded. `None` for a secret that is not base64.
fn key_of(secret: &WebhookSecret) -> Option<Vec<u8>> {
    let encoded = secret.expose().strip_prefix(WebhookSecret::PREFIX)?;
    STANDARD.decode(encoded).ok()
}

/// The text a signature covers.
fn signed_content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}

/// One `v1,<base64>` signature of a message with `secret`.
pub fn signature(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let mut mac = HmacSha256::new_from_slice(&key_of(secret)?).ok()?;
    mac.update(&signed_content(id, timestamp, body));
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header: the signatures with every secret, space-separated.
/// `None` when no secret can sign (none decodes), which never happens to minted secrets.
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a WebhookSecret>,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Option<String> {
    let signatures: Vec<String> = secrets.into_iter().filter_map(|s| signature(s, id, timestamp, body)).collect();
    (!signatures.is_empty()).then(|| signatures.join(" "))
}

/// Why a receiver refuses a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the timestamp is too far from now")]
    Timestamp,
    #[error("no signature matches")]
    Signature,
}

/// What a receiver does (Standard Webhooks): accepts the message if its timestamp is within
/// `tolerance_secs` of `now` and one of the space-separated `v1` signatures in `header` is the
/// message's signature with `secret`, compared in constant time.
pub fn verify(
    secret: &WebhookSecret,
    id: &str,
    timestamp: i64,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    if (now - timestamp).abs() > tolerance_secs {
        return Err(VerifyError::Timestamp);
    }
    let key = key_of(secret).ok_or(VerifyError::Signature)?;
    let content = signed_content(id, timestamp, body);
    let matches = header.split(' ').filter_map(|s| s.strip_prefix("v1,")).any(|candidate| {
        let Ok(candidate) = STANDARD.decode(candidate) else { return false };
        let Ok(mut mac) = HmacSha256::new_from_slice(&key) else { return false };
        mac.update(&content);
        mac.verify_slice(&candidate).is_ok()
    });
    if matches { Ok(()) } else { Err(VerifyError::Signature) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(raw: &str) -> WebhookSecret {
        WebhookSecret::new(raw).unwrap()
    }

    /// The test vector of the Standard Webhooks specification.
    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TIMESTAMP: i64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        let s = secret(VECTOR_SECRET);
        assert_eq!(signature(&s, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY).unwrap(), VECTOR_SIGNATURE);
        assert_eq!(
            verify(&s, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_SIGNATURE, VECTOR_BODY, VECTOR_TIMESTAMP, 300),
            Ok(())
        );
    }

    #[test]
    fn verification_refuses_tampering_and_stale_messages() {
        let s = secret(VECTOR_SECRET);
        let at = VECTOR_TIMESTAMP;
        let tampered = br#"{"test": 2432232315}"#;
        assert_eq!(verify(&s, VECTOR_ID, at, VECTOR_SIGNATURE, tampered, at, 300), Err(VerifyError::Signature));
        assert_eq!(verify(&s, "msg_other", at, VECTOR_SIGNATURE, VECTOR_BODY, at, 300), Err(VerifyError::Signature));
        assert_eq!(
            verify(&s, VECTOR_ID, at, VECTOR_SIGNATURE, VECTOR_BODY, at + 301, 300),
            Err(VerifyError::Timestamp)
        );
        let other = SecretMint::default().mint();
        assert_eq!(verify(&other, VECTOR_ID, at, VECTOR_SIGNATURE, VECTOR_BODY, at, 300), Err(VerifyError::Signature));
        assert_eq!(verify(&s, VECTOR_ID, at, "v2,abc garbage", VECTOR_BODY, at, 300), Err(VerifyError::Signature));
    }

    #[test]
    fn during_a_rotation_both_secrets_sign() {
        let (new, old) = (SecretMint::default().mint(), secret(VECTOR_SECRET));
        let header = signature_header([&new, &old], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY).unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], VECTOR_SIGNATURE);
        for s in [&new, &old] {
            assert_eq!(verify(s, VECTOR_ID, VECTOR_TIMESTAMP, &header, VECTOR_BODY, VECTOR_TIMESTAMP, 300), Ok(()));
        }
    }

    #[test]
    fn minted_secrets_are_random_base64_of_the_asked_size() {
        for bytes in [24, 32, 64] {
            let a = SecretMint::new(bytes).mint();
            let b = SecretMint::new(bytes).mint();
            assert_ne!(a, b);
            assert!(a.expose().starts_with("whsec_"));
            assert_eq!(key_of(&a).unwrap().len(), bytes);
        }
        assert_eq!(key_of(&SecretMint::new(1000).mint()).unwrap().len(), 64, "clamped");
    }
}
