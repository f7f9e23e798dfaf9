//! Per-user tokens: a random UUID v4 in its canonical form, `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
//!
//! Like an API key secret, the token is shown once and only its SHA-256 digest is stored. A
//! presented token must be a hyphenated UUID whose version is 4 and whose variant is the RFC
//! one; letters may be in either case, and the digest is always taken of the lowercase form, so
//! `ABC…` and `abc…` are the same token. Anything else (the simple, braced or URN forms of a
//! UUID, another version, an API key secret) has no hash, so it never reaches storage.
//!
//! The two formats cannot be confused: an API key secret starts with `wsk_` and has no hyphen,
//! a token has four hyphens and no underscore.

use sha2::{Digest, Sha256};
use uuid::{Uuid, Variant, Version};
use wastatus_domain::KeyHash;
use wastatus_domain::ports::MintedKey;

/// The length of a token: 32 hexadecimal digits and 4 hyphens.
pub(crate) const TOKEN_LEN: usize = 36;
/// How many leading characters of a token are kept, in clear, to tell tokens apart.
pub(crate) const DISPLAY_PREFIX_LEN: usize = 8;
/// Where the hyphens of the hyphenated form are.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];

/// A fresh token (122 random bits, from the operating system's generator through `uuid`), its
/// hash and its display prefix.
pub(crate) fn mint() -> MintedKey {
    let secret = Uuid::new_v4().hyphenated().to_string();
    let hash = digest(&secret);
    // The token is ASCII, so slicing at a byte index falls on a character boundary.
    let display_prefix = secret[..DISPLAY_PREFIX_LEN].to_owned();
    MintedKey { secret, hash, display_prefix }
}

/// The hash of a presented token, or `None` if it is not a hyphenated UUID v4.
pub(crate) fn hash(presented: &str) -> Option<KeyHash> {
    parse(presented).map(|uuid| digest(&uuid.hyphenated().to_string()))
}

/// The UUID a presented token stands for, if it has the shape of a minted one.
fn parse(presented: &str) -> Option<Uuid> {
    // `Uuid::try_parse` also takes the simple, braced and URN forms; a token has only one.
    let bytes = presented.as_bytes();
    let shaped = bytes.len() == TOKEN_LEN
        && bytes.iter().enumerate().all(|(i, b)| if HYPHENS.contains(&i) { *b == b'-' } else { b.is_ascii_hexdigit() });
    if !shaped {
        return None;
    }
    let uuid = Uuid::try_parse(presented).ok()?;
    (uuid.get_version() == Some(Version::Random) && uuid.get_variant() == Variant::RFC4122).then_some(uuid)
}

fn digest(canonical: &str) -> KeyHash {
    KeyHash(Sha256::digest(canonical.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use wastatus_domain::ports::KeyMint;

    use super::*;
    use crate::ApiKeyMint;

    #[test]
    fn the_token_format_is_pinned() {
        assert_eq!(TOKEN_LEN, 36);
        assert_eq!(DISPLAY_PREFIX_LEN, 8);
    }

    #[test]
    fn a_minted_token_is_a_lowercase_hyphenated_uuid_v4() {
        let token = ApiKeyMint.mint_user_token();
        assert_eq!(token.secret.len(), 36, "{}", token.secret);
        assert_eq!(token.secret, token.secret.to_lowercase());
        let uuid = Uuid::parse_str(&token.secret).unwrap();
        assert_eq!(uuid.get_version(), Some(Version::Random));
        assert_eq!(uuid.get_variant(), Variant::RFC4122);
        assert_eq!(uuid.hyphenated().to_string(), token.secret);
    }

    #[test]
    fn the_display_prefix_is_the_first_eight_characters() {
        let token = ApiKeyMint.mint_user_token();
        assert_eq!(token.display_prefix.len(), 8);
        assert!(token.secret.starts_with(&token.display_prefix));
    }

    #[test]
    fn the_minted_hash_is_sha256_of_the_token() {
        let mint = ApiKeyMint::new();
        let token = mint.mint_user_token();
        assert_eq!(mint.hash_user_token(&token.secret), Some(token.hash));
        let expected: [u8; 32] = Sha256::digest(token.secret.as_bytes()).into();
        assert_eq!(token.hash, KeyHash(expected));
    }

    #[test]
    fn tokens_are_unique() {
        let mint = ApiKeyMint::new();
        let tokens: Vec<_> = (0..2_000).map(|_| mint.mint_user_token()).collect();
        let secrets: HashSet<_> = tokens.iter().map(|t| t.secret.clone()).collect();
        let hashes: HashSet<_> = tokens.iter().map(|t| t.hash).collect();
        assert_eq!(secrets.len(), tokens.len());
        assert_eq!(hashes.len(), tokens.len());
    }

    #[test]
    fn case_does_not_matter_and_the_lowercase_form_is_hashed() {
        let mint = ApiKeyMint::new();
        let lower = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let upper = lower.to_uppercase();
        let mixed = "0F8fad5B-d9CB-469f-A165-70867728950E";
        let expected = KeyHash(Sha256::digest(lower.as_bytes()).into());
        assert_eq!(mint.hash_user_token(lower), Some(expected));
        assert_eq!(mint.hash_user_token(&upper), Some(expected));
        assert_eq!(mint.hash_user_token(mixed), Some(expected));
    }

    #[test]
    fn anything_but_a_hyphenated_uuid_v4_has_no_hash() {
        let mint = ApiKeyMint::new();
        let good = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert!(mint.hash_user_token(good).is_some());
        let bad = [
            String::new(),
            "not a token".to_owned(),
            // Other forms of the same UUID.
            good.replace('-', ""),
            format!("{{{good}}}"),
            format!("urn:uuid:{good}"),
            // Whitespace and lengths.
            format!(" {good}"),
            format!("{good}\n"),
            good[..35].to_owned(),
            format!("{good}0"),
            // Hyphens in the wrong places, or something else in their place.
            "0f8fad5bd-9cb-469f-a165-70867728950e".to_owned(),
            "0f8fad5b_d9cb_469f_a165_70867728950e".to_owned(),
            // Not hexadecimal.
            "0f8fad5b-d9cb-469f-a165-70867728950g".to_owned(),
            "+f8fad5b-d9cb-469f-a165-70867728950e".to_owned(),
            // A non-ASCII character keeping the byte length at 36.
            "0f8fad5b-d9cb-469f-a165-7086772895é".to_owned(),
            // Other versions: nil, max, v1, v7.
            Uuid::nil().to_string(),
            Uuid::max().to_string(),
            "c232ab00-9414-11ec-b3c8-9f6bdeced846".to_owned(),
            "01890a5d-ac96-774b-bcce-b302099a8057".to_owned(),
            // Version 4 with the wrong variant (NCS, Microsoft, future).
            "0f8fad5b-d9cb-469f-0165-70867728950e".to_owned(),
            "0f8fad5b-d9cb-469f-c165-70867728950e".to_owned(),
            "0f8fad5b-d9cb-469f-e165-70867728950e".to_owned(),
        ];
        for presented in &bad {
            assert_eq!(mint.hash_user_token(presented), None, "{presented:?}");
        }
    }

    #[test]
    fn api_keys_and_user_tokens_are_never_mistaken_for_each_other() {
        let mint = ApiKeyMint::new();
        for _ in 0..200 {
            let key = mint.mint();
            let token = mint.mint_user_token();
            assert_eq!(mint.hash_user_token(&key.secret), None, "{}", key.secret);
            assert_eq!(mint.hash(&token.secret), None, "{}", token.secret);
        }
    }
}
