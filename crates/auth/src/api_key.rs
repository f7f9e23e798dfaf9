//! API keys: `wsk_` followed by 40 random base62 characters.
//!
//! The secret is shown once, when it is minted; only its SHA-256 digest is stored. A presented
//! secret is checked for the exact shape first, so that malformed credentials never reach
//! storage, and then hashed whole.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use wastatus_domain::KeyHash;
use wastatus_domain::ports::{KeyMint, MintedKey};

use crate::user_token;

/// Mints API key secrets and per-user tokens (random UUID v4s, `0f8fad5b-d9cb-469f-a165-…`), and
/// hashes presented ones. Each kind is accepted only in its own format, so an API key secret is
/// never taken for a user token, nor the other way round.
///
/// Randomness for API keys comes from [`rand::rng`], a cryptographically secure generator that is
/// seeded, and periodically reseeded, from the operating system; for user tokens it comes from
/// [`uuid::Uuid::new_v4`], which reads the operating system's generator directly.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiKeyMint;

impl ApiKeyMint {
    /// The recognisable start of every API key secret (also what secret scanners look for).
    pub const PREFIX: &'static str = "wsk_";
    /// How many random base62 characters follow the prefix: 40 × log2(62) ≈ 238 bits.
    pub const RANDOM_CHARS: usize = 40;
    /// The length of a whole secret, in characters (and bytes: the secret is ASCII).
    pub const SECRET_LEN: usize = Self::PREFIX.len() + Self::RANDOM_CHARS;
    /// How many leading characters of the secret are kept, in clear, to tell keys apart.
    pub const DISPLAY_PREFIX_LEN: usize = 8;

    /// Creates a mint.
    pub const fn new() -> Self {
        Self
    }

    /// Whether `presented` has exactly the shape of a minted secret: the prefix, then
    /// [`Self::RANDOM_CHARS`] ASCII letters and digits.
    pub fn is_well_formed(presented: &str) -> bool {
        presented.len() == Self::SECRET_LEN
            && presented
                .strip_prefix(Self::PREFIX)
                .is_some_and(|random| random.bytes().all(|b| b.is_ascii_alphanumeric()))
    }

    fn digest(secret: &str) -> KeyHash {
        KeyHash(Sha256::digest(secret.as_bytes()).into())
    }
}

impl KeyMint for ApiKeyMint {
    fn mint(&self) -> MintedKey {
        let mut secret = String::with_capacity(Self::SECRET_LEN);
        secret.push_str(Self::PREFIX);
        // `Alphanumeric` draws uniformly from the 62 characters [A-Za-z0-9].
        secret.extend(rand::rng().sample_iter(Alphanumeric).take(Self::RANDOM_CHARS).map(char::from));
        let hash = Self::digest(&secret);
        // The secret is ASCII, so slicing at a byte index always falls on a character boundary.
        let display_prefix = secret[..Self::DISPLAY_PREFIX_LEN].to_owned();
        MintedKey { secret, hash, display_prefix }
    }

    fn hash(&self, presented: &str) -> Option<KeyHash> {
        Self::is_well_formed(presented).then(|| Self::digest(presented))
    }

    fn mint_user_token(&self) -> MintedKey {
        user_token::mint()
    }

    fn hash_user_token(&self, presented: &str) -> Option<KeyHash> {
        user_token::hash(presented)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The format is part of the product: documentation, users' secret scanners and stored
    /// display prefixes rely on it. These numbers must never change by accident.
    #[test]
    fn the_secret_format_is_pinned() {
        assert_eq!(ApiKeyMint::PREFIX, "wsk_");
        assert_eq!(ApiKeyMint::RANDOM_CHARS, 40);
        assert_eq!(ApiKeyMint::SECRET_LEN, 44);
        assert_eq!(ApiKeyMint::DISPLAY_PREFIX_LEN, 8);
    }

    #[test]
    fn a_minted_key_has_the_prefix_and_forty_base62_characters() {
        let key = ApiKeyMint.mint();
        assert_eq!(key.secret.len(), 44, "{}", key.secret);
        assert!(key.secret.starts_with("wsk_"), "{}", key.secret);
        assert!(key.secret[4..].bytes().all(|b| b.is_ascii_alphanumeric()), "{}", key.secret);
        assert!(ApiKeyMint::is_well_formed(&key.secret));
    }

    #[test]
    fn the_display_prefix_is_the_first_eight_characters() {
        let key = ApiKeyMint.mint();
        assert_eq!(key.display_prefix.len(), 8);
        assert!(key.display_prefix.starts_with("wsk_"));
        assert!(key.secret.starts_with(&key.display_prefix));
    }

    #[test]
    fn the_minted_hash_is_the_hash_of_the_secret() {
        let mint = ApiKeyMint::new();
        let key = mint.mint();
        assert_eq!(mint.hash(&key.secret), Some(key.hash));
    }

    #[test]
    fn keys_are_unique_and_use_the_whole_alphabet() {
        let mint = ApiKeyMint::new();
        let keys: Vec<_> = (0..2_000).map(|_| mint.mint()).collect();
        let secrets: HashSet<_> = keys.iter().map(|k| k.secret.clone()).collect();
        let hashes: HashSet<_> = keys.iter().map(|k| k.hash).collect();
        assert_eq!(secrets.len(), keys.len());
        assert_eq!(hashes.len(), keys.len());
        // 80,000 random characters: every one of the 62 appears (each is expected ~1,290 times),
        // so the alphabet is neither narrowed (e.g. hex) nor widened.
        let used: HashSet<u8> = keys.iter().flat_map(|k| k.secret.as_bytes()[4..].to_vec()).collect();
        assert_eq!(used.len(), 62);
    }

    #[test]
    fn hashing_is_deterministic_sha256_of_the_whole_secret() {
        let mint = ApiKeyMint::new();
        let secret = "wsk_0123456789abcdefghijABCDEFGHIJ0123456789";
        assert_eq!(secret.len(), 44);
        let first = mint.hash(secret).expect("well formed");
        assert_eq!(mint.hash(secret), Some(first));
        // The digest of the full string, prefix included.
        let expected: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        assert_eq!(first, KeyHash(expected));
    }

    #[test]
    fn changing_the_last_character_changes_the_hash() {
        let mint = ApiKeyMint::new();
        let secret = mint.mint().secret;
        let last = secret.as_bytes()[43];
        let other = if last == b'a' { 'b' } else { 'a' };
        let changed = format!("{}{other}", &secret[..43]);
        assert_ne!(mint.hash(&secret), mint.hash(&changed));
        assert!(mint.hash(&changed).is_some());
    }

    #[test]
    fn anything_of_another_shape_has_no_hash() {
        let mint = ApiKeyMint::new();
        let good = mint.mint().secret;
        let random = &good[4..];
        let bad = [
            String::new(),
            "wsk_".to_owned(),
            // Wrong prefix.
            format!("wsk-{random}"),
            format!("WSK_{random}"),
            format!("sk_{random}x"),
            format!("xwsk{random}"),
            // Wrong length.
            good[..43].to_owned(),
            format!("{good}A"),
            format!(" {good}"),
            format!("{good}\n"),
            // Outside the alphabet, at the right length.
            format!("wsk_{}-", &random[..39]),
            format!("wsk_{}_", &random[..39]),
            format!("wsk_{}+", &random[..39]),
            format!("wsk_{}=", &random[..39]),
            format!("wsk_{} ", &random[..39]),
            // A two-byte character that brings the byte length to 44.
            format!("wsk_{}é", &random[..38]),
        ];
        for presented in &bad {
            assert_eq!(mint.hash(presented), None, "{presented:?}");
            assert!(!ApiKeyMint::is_well_formed(presented), "{presented:?}");
        }
        assert!(mint.hash(&good).is_some());
    }

    #[test]
    fn the_mint_works_behind_the_port() {
        let mint: std::sync::Arc<dyn KeyMint> = std::sync::Arc::new(ApiKeyMint::new());
        let key = mint.mint();
        assert_eq!(mint.hash(&key.secret), Some(key.hash));
    }
}
