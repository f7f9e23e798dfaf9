//! Where media comes from, and turning inline base64 into bytes.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;

use crate::MediaError;

/// Media as a client gives it.
#[derive(Debug, Clone)]
pub enum Source {
    /// A URL for the server to fetch (`media.url`).
    Url(String),
    /// Bytes already in hand: decoded `media.data`, or an uploaded file.
    Bytes(Bytes),
}

/// Decoded `media.data`, and the type its `data:` prefix declared, if it had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub bytes: Bytes,
    pub declared_mime: Option<String>,
}

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// Decodes `media.data`: standard or URL-safe base64, padded or not, optionally behind a
/// `data:<mime>;base64,` prefix and with line breaks (as some encoders wrap at 76 columns).
///
/// `limit` bounds the decoded size; a longer input is refused before decoding, so an
/// oversized body costs no decoding work.
pub fn decode_base64(data: &str, limit: usize) -> Result<Decoded, MediaError> {
    let (declared_mime, payload) = split_data_url(data.trim())?;
    let compact: String;
    let payload = if payload.bytes().any(|b| b.is_ascii_whitespace()) {
        compact = payload.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        compact.as_str()
    } else {
        payload
    };
    if payload.is_empty() {
        return Err(MediaError::Empty);
    }
    // Four characters carry three bytes; anything longer than this decodes past the limit.
    if payload.len() / 4 * 3 > limit.saturating_add(3) {
        return Err(MediaError::TooLarge { limit });
    }
    let engine = if payload.contains(['-', '_']) { &URL_SAFE } else { &STANDARD };
    let bytes = engine.decode(payload).map_err(|_| MediaError::InvalidBase64)?;
    if bytes.len() > limit {
        return Err(MediaError::TooLarge { limit });
    }
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    Ok(Decoded { bytes: Bytes::from(bytes), declared_mime })
}

/// Splits `data:image/png;base64,AAAA` into its type and payload; plain base64 passes through.
fn split_data_url(data: &str) -> Result<(Option<String>, &str), MediaError> {
    let Some(rest) = data.strip_prefix("data:").or_else(|| data.strip_prefix("DATA:")) else {
        return Ok((None, data));
    };
    let (header, payload) = rest.split_once(',').ok_or(MediaError::InvalidBase64)?;
    let mut parts = header.split(';');
    let mime = parts.next().unwrap_or_default().trim();
    if !parts.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        // Percent-encoded data URLs are not a way to send binary media.
        return Err(MediaError::InvalidBase64);
    }
    Ok(((!mime.is_empty()).then(|| mime.to_ascii_lowercase()), payload))
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose;

    use super::*;

    const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

    #[test]
    fn every_common_spelling_decodes() {
        // Ten bytes: their base64 needs padding, and contains the characters that differ
        // between the two alphabets.
        let raw = b"\xfb\xff\xfe hello!";
        let standard = general_purpose::STANDARD.encode(raw);
        let url_safe = general_purpose::URL_SAFE.encode(raw);
        assert!(standard.ends_with("==") && standard.contains(['+', '/']) && url_safe.contains(['-', '_']));
        for input in [
            standard.clone(),
            standard.trim_end_matches('=').to_owned(),
            url_safe.clone(),
            url_safe.trim_end_matches('=').to_owned(),
            format!("data:image/png;base64,{standard}"),
            format!("  {}\n{}  ", &standard[..8], &standard[8..]),
        ] {
            assert_eq!(decode_base64(&input, 1024).unwrap().bytes.as_ref(), raw, "{input}");
        }
        // Partial padding is accepted too: senders get it wrong, and the bytes are unambiguous.
        let partly_padded = format!("{}=", standard.trim_end_matches('='));
        assert_eq!(decode_base64(&partly_padded, 1024).unwrap().bytes.as_ref(), raw);
    }

    #[test]
    fn a_data_url_declares_a_type() {
        let data = format!("data:Image/PNG;base64,{}", general_purpose::STANDARD.encode(PNG_MAGIC));
        let decoded = decode_base64(&data, 1024).unwrap();
        assert_eq!(decoded.declared_mime.as_deref(), Some("image/png"));
        assert_eq!(decoded.bytes.as_ref(), PNG_MAGIC);
    }

    #[test]
    fn bad_input_is_refused_precisely() {
        assert_eq!(decode_base64("not base64!", 1024), Err(MediaError::InvalidBase64));
        assert_eq!(decode_base64("data:image/png,%89PNG", 1024), Err(MediaError::InvalidBase64));
        assert_eq!(decode_base64("data:image/png;base64", 1024), Err(MediaError::InvalidBase64));
        assert_eq!(decode_base64("", 1024), Err(MediaError::Empty));
        assert_eq!(decode_base64("data:image/png;base64,", 1024), Err(MediaError::Empty));
    }

    #[test]
    fn the_limit_holds_before_and_after_decoding() {
        let exactly = general_purpose::STANDARD.encode(vec![7u8; 100]);
        assert_eq!(decode_base64(&exactly, 100).unwrap().bytes.len(), 100);
        assert_eq!(decode_base64(&exactly, 99), Err(MediaError::TooLarge { limit: 99 }));
        let huge = "A".repeat(4_000_000);
        assert_eq!(decode_base64(&huge, 1000), Err(MediaError::TooLarge { limit: 1000 }));
    }
}
