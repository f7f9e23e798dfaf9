//! How credentials are stored, for API keys and users alike: a secret's hash as 64 lowercase hex
//! digits, and scopes as their space-separated names.

use std::fmt::Write as _;

use anyhow::{Context, ensure};
use wastatus_domain::{KeyHash, Scopes};

/// A key hash as stored: 64 lowercase hex digits.
pub(super) fn hash_to_hex(hash: &KeyHash) -> String {
    hash.0.iter().fold(String::with_capacity(64), |mut hex, byte| {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// Reads a key hash stored by [`hash_to_hex`] in `column` (`api_keys.key_hash`, …).
pub(super) fn hash_from_hex(column: &'static str, hex: &str) -> anyhow::Result<KeyHash> {
    let digits = hex.as_bytes();
    ensure!(digits.len() == 64, "column {column} holds {} characters instead of 64 hex digits", digits.len());
    let mut hash = [0_u8; 32];
    for (byte, pair) in hash.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(column, pair[0])? << 4) | nibble(column, pair[1])?;
    }
    Ok(KeyHash(hash))
}

/// The value of one hex digit read from `column`.
fn nibble(column: &'static str, digit: u8) -> anyhow::Result<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
        .with_context(|| format!("column {column} holds a character that is not a hex digit"))
}

/// Scopes as stored: their names, space-separated (no scopes is the empty string).
pub(super) fn scopes_to_text(scopes: Scopes) -> String {
    scopes.to_string()
}

/// Reads scopes stored by [`scopes_to_text`] in `column` (`api_keys.scopes`, …). A name this
/// version does not know is an error.
pub(super) fn scopes_from_text(column: &'static str, text: &str) -> anyhow::Result<Scopes> {
    Scopes::parse(&text.split_whitespace().collect::<Vec<_>>())
        .with_context(|| format!("column {column} holds {text:?}, which are not scopes this version knows"))
}

#[cfg(test)]
mod tests {
    use wastatus_domain::Scope;

    use super::*;

    #[test]
    fn hashes_round_trip_through_hex() {
        let hash = KeyHash(std::array::from_fn(|i| u8::try_from(i * 7 + 3).unwrap_or(0)));
        let hex = hash_to_hex(&hash);
        assert_eq!(hex.len(), 64);
        assert!(hex.starts_with("030a1118"), "{hex}");
        assert_eq!(hash_from_hex("t.c", &hex).unwrap(), hash);
        assert_eq!(hash_to_hex(&KeyHash([0xAB; 32])), "ab".repeat(32));
    }

    #[test]
    fn malformed_hex_is_an_error_that_names_the_column() {
        for bad in ["", "ab", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65), &format!("+{}", "a".repeat(63))] {
            let err = hash_from_hex("users.token_hash", bad).unwrap_err();
            assert!(format!("{err:#}").contains("users.token_hash"), "{bad:?}: {err:#}");
        }
    }

    #[test]
    fn scopes_round_trip_through_text() {
        let sets = [
            Scopes::NONE,
            Scopes::TENANT,
            Scopes::USER,
            Scopes::of(&[Scope::Admin]),
            Scopes::of(&[Scope::KeysManage, Scope::StatusesRead]),
        ];
        for scopes in sets {
            assert_eq!(scopes_from_text("t.c", &scopes_to_text(scopes)).unwrap(), scopes, "{scopes:?}");
        }
        assert_eq!(scopes_to_text(Scopes::NONE), "");
        assert_eq!(
            scopes_to_text(Scopes::TENANT),
            "statuses:read statuses:write sessions:read sessions:manage webhooks:manage keys:manage"
        );
    }

    #[test]
    fn unknown_scope_names_are_an_error_that_names_the_column() {
        for bad in ["statuses:delete", "admin superuser", "statuses:read,statuses:write"] {
            let err = scopes_from_text("api_keys.scopes", bad).unwrap_err();
            let message = format!("{err:#}");
            assert!(message.contains("api_keys.scopes") && message.contains(bad), "{bad:?}: {message}");
        }
    }
}
