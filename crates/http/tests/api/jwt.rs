//! JWTs made by hand, good and bad, for the tests that present them.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use wastatus_auth::{JwtConfig, JwtPublicKey};

use crate::support::JWT_SECRET;

pub const RSA_PRIVATE: &[u8] = include_bytes!("../../../auth/tests/fixtures/rsa_private.pem");
pub const RSA_PUBLIC: &str = include_str!("../../../auth/tests/fixtures/rsa_public.pem");

/// The test servers' JWT configuration, also accepting RS256 tokens of the fixture key.
pub fn config_with_rsa() -> JwtConfig {
    JwtConfig {
        secret: Some(JWT_SECRET.to_owned().into()),
        public_keys: vec![JwtPublicKey { algorithm: "RS256".into(), pem: RSA_PUBLIC.into(), kid: None }],
        ..JwtConfig::default()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Valid claims for `user` under the default issuer and audience.
pub fn claims(user: &str) -> Value {
    json!({ "iss": "wastatus", "aud": "wastatus", "sub": user, "iat": now(), "exp": now() + 600 })
}

pub fn hs256(claims: &Value) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap()
}

pub fn rs256(claims: &Value) -> String {
    encode(&Header::new(Algorithm::RS256), claims, &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap()).unwrap()
}

/// Tokens that must be refused, each named, all for `user` (who exists and is enabled).
pub fn forged(user: &str) -> Vec<(&'static str, String)> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let with = |key: &str, value: Value| {
        let mut c = claims(user);
        c[key] = value;
        c
    };
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(user).to_string())
    );
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims(user),
        // The RSA public key, which everybody may know, as an HMAC secret.
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
    )
    .unwrap();
    let mut expired = with("exp", json!(now() - 3600));
    expired["iat"] = json!(now() - 7200);
    vec![
        ("expired", hs256(&expired)),
        ("alg none", unsigned),
        ("wrong audience", hs256(&with("aud", json!("someone-else")))),
        ("wrong issuer", hs256(&with("iss", json!("https://evil.example")))),
        ("HS256 signed with the RSA public key", confused),
    ]
}
