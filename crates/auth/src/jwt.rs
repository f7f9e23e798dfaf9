//! Access tokens: short-lived JWTs for users who logged in with a password, and, optionally,
//! JWTs issued by another service (an identity provider) that wastatus only verifies.
//!
//! Tokens wastatus issues are HS256, signed with a configured secret of at least 32 bytes. Tokens
//! from elsewhere are RS256 or EdDSA, checked against configured public keys. The algorithm a
//! token may use is decided by the kind of key, never by the token alone: HS256 only with the
//! secret, RS256 only with RSA keys, EdDSA only with Ed25519 keys, and nothing else at all
//! (`none`, HS384, PS256, ES256, …). So an attacker cannot sign an HS256 token with a public key
//! as the HMAC secret, nor strip the signature.
//!
//! A token is valid when its signature checks out and its claims say:
//!
//! | claim | rule |
//! |---|---|
//! | `iss`, `aud` | required, equal to the configuration (`aud` may be a list containing it) |
//! | `exp` | required, not in the past by more than the leeway |
//! | `iat` | required, not in the future by more than the leeway |
//! | `nbf` | optional, not in the future by more than the leeway |
//! | `sub` | required, a UUID: the user |
//! | `tid` | optional, a UUID: the tenant (the use case checks it is the user's) |
//!
//! Verification never panics, whatever the input: anything wrong is `None`, which callers treat
//! like any other bad credential.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::crypto::{CryptoProvider, rust_crypto};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey, Header, Validation};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;
use wastatus_domain::ports::{AccessClaims, AccessTokens};
use wastatus_domain::{AccessToken, TenantId, User, UserId};

/// The `auth.jwt` configuration section. With neither `secret` nor `public_keys`, JWTs are off:
/// nothing is issued and every token is refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// The HS256 signing secret, at least [`JwtTokens::MIN_SECRET_LEN`] bytes. Without it, no
    /// tokens are issued (but tokens signed by `public_keys` are still verified).
    pub secret: Option<SecretString>,
    /// The `iss` of issued tokens, and the only one accepted. Default `wastatus`.
    pub issuer: String,
    /// The `aud` of issued tokens, and the only one accepted. Default `wastatus`.
    pub audience: String,
    /// How long an issued token is valid, in seconds: 1 to [`JwtTokens::MAX_TTL_SECS`].
    /// Default 900 (15 minutes).
    pub ttl_secs: u64,
    /// Clock skew allowed when checking `exp`, `nbf` and `iat`, in seconds: at most
    /// [`JwtTokens::MAX_LEEWAY_SECS`]. Default 30.
    pub leeway_secs: u64,
    /// Keys of other issuers, whose tokens are verified (never issued). Default none.
    pub public_keys: Vec<JwtPublicKey>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            secret: None,
            issuer: "wastatus".to_owned(),
            audience: "wastatus".to_owned(),
            ttl_secs: 900,
            leeway_secs: 30,
            public_keys: Vec::new(),
        }
    }
}

/// A public key whose tokens are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtPublicKey {
    /// `RS256` (an RSA key of at least 2048 bits) or `EdDSA` (an Ed25519 key).
    pub algorithm: String,
    /// The key in PEM: `-----BEGIN PUBLIC KEY-----` (SPKI), or `-----BEGIN RSA PUBLIC KEY-----`
    /// (PKCS#1) for RSA.
    pub pem: String,
    /// The key's id. A token whose header names a `kid` is checked against the keys with that
    /// id when there are any, and against every key of its algorithm otherwise.
    #[serde(default)]
    pub kid: Option<String>,
}

/// Why a [`JwtConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtConfigError {
    #[error("the JWT secret has {len} bytes; it needs at least {min}", min = JwtTokens::MIN_SECRET_LEN)]
    SecretTooShort { len: usize },
    #[error("JWT public key #{index}: the algorithm {algorithm:?} is not supported; use RS256 or EdDSA")]
    UnknownAlgorithm { index: usize, algorithm: String },
    #[error("JWT public key #{index}: {reason}")]
    BadKey { index: usize, reason: String },
    #[error("JWT {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// The domain's [`AccessTokens`], with JWTs.
pub struct JwtTokens {
    issuer: String,
    audience: String,
    ttl_secs: u64,
    leeway_secs: u64,
    signing: Option<EncodingKey>,
    hmac: Option<DecodingKey>,
    rsa: Vec<VerifyingKey>,
    ed25519: Vec<VerifyingKey>,
}

struct VerifyingKey {
    kid: Option<String>,
    key: DecodingKey,
}

impl JwtTokens {
    /// The shortest signing secret accepted, in bytes (HS256's key is 256 bits).
    pub const MIN_SECRET_LEN: usize = 32;
    /// The longest lifetime of an issued token: a day.
    pub const MAX_TTL_SECS: u64 = 86_400;
    /// The largest clock skew allowed: five minutes.
    pub const MAX_LEEWAY_SECS: u64 = 300;
    /// The smallest RSA modulus accepted, in bits.
    pub const MIN_RSA_BITS: usize = 2048;
    /// Longer tokens are refused before any parsing.
    pub const MAX_TOKEN_LEN: usize = 8 * 1024;

    pub fn new(config: &JwtConfig) -> Result<Self, JwtConfigError> {
        // Pin the pure-Rust backend, in case another crate of the build enables `aws_lc_rs` too
        // (with both features and none installed, jsonwebtoken would panic on first use). Fails
        // harmlessly when a provider is installed already.
        let _ = CryptoProvider::install_default(&rust_crypto::DEFAULT_PROVIDER);

        let invalid = |field, reason: &str| Err(JwtConfigError::Invalid { field, reason: reason.to_owned() });
        if config.issuer.is_empty() {
            return invalid("issuer", "must not be empty");
        }
        if config.audience.is_empty() {
            return invalid("audience", "must not be empty");
        }
        if !(1..=Self::MAX_TTL_SECS).contains(&config.ttl_secs) {
            return invalid("ttl_secs", "must be from 1 to 86400 (a day)");
        }
        if config.leeway_secs > Self::MAX_LEEWAY_SECS {
            return invalid("leeway_secs", "must be at most 300 (five minutes)");
        }

        let (signing, hmac) = match &config.secret {
            Some(secret) => {
                let bytes = secret.expose_secret().as_bytes();
                if bytes.len() < Self::MIN_SECRET_LEN {
                    return Err(JwtConfigError::SecretTooShort { len: bytes.len() });
                }
                (Some(EncodingKey::from_secret(bytes)), Some(DecodingKey::from_secret(bytes)))
            }
            None => (None, None),
        };

        let mut rsa = Vec::new();
        let mut ed25519 = Vec::new();
        for (index, public) in config.public_keys.iter().enumerate() {
            let bad = |reason: String| JwtConfigError::BadKey { index, reason };
            match public.algorithm.as_str() {
                "RS256" => rsa.push(VerifyingKey { kid: public.kid.clone(), key: rsa_key(&public.pem).map_err(bad)? }),
                "EdDSA" => {
                    ed25519.push(VerifyingKey { kid: public.kid.clone(), key: ed25519_key(&public.pem).map_err(bad)? })
                }
                other => return Err(JwtConfigError::UnknownAlgorithm { index, algorithm: other.to_owned() }),
            }
        }

        Ok(Self {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl_secs: config.ttl_secs,
            leeway_secs: config.leeway_secs,
            signing,
            hmac,
            rsa,
            ed25519,
        })
    }

    /// Whether JWTs are on at all: a secret or a public key is configured.
    pub fn is_enabled(&self) -> bool {
        self.hmac.is_some() || !self.rsa.is_empty() || !self.ed25519.is_empty()
    }

    /// The keys a token signed with `alg` may be checked against, those named by `kid` first.
    fn keys_for(&self, alg: Algorithm, kid: Option<&str>) -> Vec<&DecodingKey> {
        let keys = match alg {
            Algorithm::HS256 => return self.hmac.iter().collect(),
            Algorithm::RS256 => &self.rsa,
            Algorithm::EdDSA => &self.ed25519,
            _ => return Vec::new(),
        };
        let named: Vec<_> = keys.iter().filter(|k| kid.is_some() && k.kid.as_deref() == kid).map(|k| &k.key).collect();
        if named.is_empty() { keys.iter().map(|k| &k.key).collect() } else { named }
    }

    /// Checks the claims of a token whose signature is good.
    fn claims(&self, claims: &Map<String, Value>, now: u64) -> Option<AccessClaims> {
        // Seconds as f64: NumericDate may have a fraction, and f64 holds any realistic time exactly.
        let now = now as f64;
        let leeway = self.leeway_secs as f64;
        let exp = numeric_date(claims.get("exp")?)?;
        if exp + leeway < now {
            return None;
        }
        let iat = numeric_date(claims.get("iat")?)?;
        if iat > now + leeway {
            return None;
        }
        if let Some(nbf) = claims.get("nbf")
            && numeric_date(nbf)? > now + leeway
        {
            return None;
        }
        if claims.get("iss")?.as_str()? != self.issuer {
            return None;
        }
        let audience_ok = match claims.get("aud")? {
            Value::String(aud) => *aud == self.audience,
            Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(self.audience.as_str())),
            _ => false,
        };
        if !audience_ok {
            return None;
        }
        let user = UserId::from_uuid(Uuid::try_parse(claims.get("sub")?.as_str()?).ok()?);
        let tenant = match claims.get("tid") {
            None => None,
            Some(tid) => Some(TenantId::from_uuid(Uuid::try_parse(tid.as_str()?).ok()?)),
        };
        Some(AccessClaims { user, tenant })
    }
}

impl std::fmt::Debug for JwtTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtTokens")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl_secs", &self.ttl_secs)
            .field("leeway_secs", &self.leeway_secs)
            .field("can_issue", &self.signing.is_some())
            .field("rsa_keys", &self.rsa.len())
            .field("ed25519_keys", &self.ed25519.len())
            .finish()
    }
}

/// The claims of an issued token.
#[derive(Serialize)]
struct Issued<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: UserId,
    tid: TenantId,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: Uuid,
}

impl AccessTokens for JwtTokens {
    fn can_issue(&self) -> bool {
        self.signing.is_some()
    }

    fn issue(&self, user: &User) -> Option<AccessToken> {
        let key = self.signing.as_ref()?;
        let iat = now_secs()?;
        let claims = Issued {
            iss: &self.issuer,
            aud: &self.audience,
            sub: user.id,
            tid: user.tenant,
            iat,
            nbf: iat,
            exp: iat.checked_add(self.ttl_secs)?,
            jti: Uuid::new_v4(),
        };
        let expires_in = chrono::TimeDelta::try_seconds(i64::try_from(self.ttl_secs).ok()?)?;
        match jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key) {
            Ok(token) => Some(AccessToken { token, expires_in }),
            Err(e) => {
                tracing::error!(error = %e, "could not sign an access token");
                None
            }
        }
    }

    fn verify(&self, token: &str) -> Option<AccessClaims> {
        if token.len() > Self::MAX_TOKEN_LEN {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        // We understand no extension, so a token that says one is critical is refused (RFC 7515).
        if header.crit.is_some() {
            return None;
        }
        let keys = self.keys_for(header.alg, header.kid.as_deref());
        if keys.is_empty() {
            return None;
        }

        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        // Times are checked in `claims`, with checked arithmetic and `iat` too; jsonwebtoken's
        // own check would also panic if the system clock were before 1970.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = self.leeway_secs;

        let now = now_secs()?;
        let claims = keys.into_iter().find_map(|key| {
            jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).ok().map(|data| data.claims)
        })?;
        self.claims(&claims, now)
    }
}

/// Seconds since the Unix epoch; `None` if the system clock is before it.
fn now_secs() -> Option<u64> {
    SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// A JWT NumericDate: a JSON number, possibly with a fraction.
fn numeric_date(value: &Value) -> Option<f64> {
    value.as_f64().filter(|n| n.is_finite())
}

fn rsa_key(pem: &str) -> Result<DecodingKey, String> {
    let not_rsa = || "expected an RSA public key in PEM (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)".to_owned();
    let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| not_rsa())?;
    // jsonwebtoken takes private keys here too (and then verifies nothing): insist on a public
    // key, and a big enough one.
    let DecodingKeyKind::SecretOrDer(der) = key.kind() else { return Err(not_rsa()) };
    let public = rsa::RsaPublicKey::from_pkcs1_der(der).map_err(|_| not_rsa())?;
    let bits = public.n().bits();
    if bits < JwtTokens::MIN_RSA_BITS {
        return Err(format!("the RSA key has {bits} bits; it needs at least {}", JwtTokens::MIN_RSA_BITS));
    }
    Ok(key)
}

fn ed25519_key(pem: &str) -> Result<DecodingKey, String> {
    let not_ed25519 = || "expected an Ed25519 public key in PEM (BEGIN PUBLIC KEY)".to_owned();
    let key = DecodingKey::from_ed_pem(pem.as_bytes()).map_err(|_| not_ed25519())?;
    // jsonwebtoken slices the first 32 bytes of the key when verifying, and would panic on a
    // shorter one: check it here, once.
    let DecodingKeyKind::SecretOrDer(bytes) = key.kind() else { return Err(not_ed25519()) };
    let bytes: &[u8; 32] = bytes.as_slice().try_into().map_err(|_| not_ed25519())?;
    let point = ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| not_ed25519())?;
    if point.is_weak() {
        return Err("the Ed25519 key is a weak (small-order) point".to_owned());
    }
    Ok(key)
}

#[cfg(test)]
mod tests;
