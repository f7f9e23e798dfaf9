use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use wastatus_domain::{KeyHash, Name, Scopes};

use super::*;

// Test-only key pairs, made once with `openssl genpkey` (see tests/fixtures/README.md).
const RSA_PRIVATE: &str = include_str!("../../tests/fixtures/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/rsa_public.pem");
const RSA_OTHER_PRIVATE: &str = include_str!("../../tests/fixtures/rsa_other_private.pem");
const RSA_OTHER_PUBLIC: &str = include_str!("../../tests/fixtures/rsa_other_public.pem");
const RSA_1024_PUBLIC: &str = include_str!("../../tests/fixtures/rsa_1024_public.pem");
const ED_PRIVATE: &str = include_str!("../../tests/fixtures/ed25519_private.pem");
const ED_PUBLIC: &str = include_str!("../../tests/fixtures/ed25519_public.pem");

const SECRET: &str = "a test secret of 32 bytes, ok!!!";
const USER: &str = "0190f2a4-7b1c-7e55-9a4e-2f1d3c4b5a69";
const TENANT: &str = "0190f2a4-7b1c-7e55-9a4e-000000000001";

fn public_key(algorithm: &str, pem: &str, kid: Option<&str>) -> JwtPublicKey {
    JwtPublicKey { algorithm: algorithm.to_owned(), pem: pem.to_owned(), kid: kid.map(str::to_owned) }
}

/// A secret, an RSA key (`rsa-1`) and an Ed25519 key (`ed-1`).
fn config() -> JwtConfig {
    JwtConfig {
        secret: Some(SECRET.into()),
        public_keys: vec![public_key("RS256", RSA_PUBLIC, Some("rsa-1")), public_key("EdDSA", ED_PUBLIC, Some("ed-1"))],
        ..JwtConfig::default()
    }
}

fn tokens() -> JwtTokens {
    JwtTokens::new(&config()).unwrap()
}

fn user() -> User {
    User {
        id: USER.parse().unwrap(),
        tenant: TENANT.parse().unwrap(),
        name: Name::new("alice").unwrap(),
        scopes: Scopes::USER,
        token_hash: KeyHash([7; 32]),
        token_prefix: "0f8fad5b".to_owned(),
        password_hash: None,
        created_at: chrono::Utc::now(),
        last_used_at: None,
        disabled_at: None,
    }
}

fn now() -> i64 {
    now_secs().unwrap() as i64
}

/// Valid claims for the default configuration.
fn claims() -> Value {
    let now = now();
    json!({
        "iss": "wastatus",
        "aud": "wastatus",
        "sub": USER,
        "tid": TENANT,
        "iat": now,
        "exp": now + 300,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn sign(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs256(claims: &Value) -> String {
    sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET.as_bytes()), None, claims)
}

fn rsa_private() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap()
}

fn ed_private() -> EncodingKey {
    EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn expected() -> AccessClaims {
    AccessClaims { user: USER.parse().unwrap(), tenant: Some(TENANT.parse().unwrap()) }
}

// Issuing.

#[test]
fn an_issued_token_verifies_and_names_the_user_and_tenant() {
    let tokens = tokens();
    assert!(tokens.can_issue());
    let issued = tokens.issue(&user()).unwrap();
    assert_eq!(issued.expires_in, chrono::TimeDelta::seconds(900));
    assert_eq!(tokens.verify(&issued.token), Some(expected()));
}

#[test]
fn an_issued_token_is_hs256_with_the_documented_claims() {
    let issued = tokens().issue(&user()).unwrap();
    let data = jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(&issued.token).unwrap();
    assert_eq!(data.header.alg, Algorithm::HS256);
    assert_eq!(data.header.typ.as_deref(), Some("JWT"));
    let c = data.claims;
    assert_eq!(c["iss"], "wastatus");
    assert_eq!(c["aud"], "wastatus");
    assert_eq!(c["sub"], USER);
    assert_eq!(c["tid"], TENANT);
    let iat = c["iat"].as_u64().unwrap();
    assert!(iat.abs_diff(now() as u64) <= 2);
    assert_eq!(c["nbf"].as_u64(), Some(iat));
    assert_eq!(c["exp"].as_u64(), Some(iat + 900));
    let jti = Uuid::parse_str(c["jti"].as_str().unwrap()).unwrap();
    assert_eq!(jti.get_version(), Some(uuid::Version::Random));
    // Every token is different, even within the same second.
    assert_ne!(tokens().issue(&user()).unwrap().token, tokens().issue(&user()).unwrap().token);
}

#[test]
fn issuer_audience_and_ttl_come_from_the_configuration() {
    let tokens = JwtTokens::new(&JwtConfig {
        issuer: "https://wastatus.example".to_owned(),
        audience: "dashboard".to_owned(),
        ttl_secs: 60,
        ..config()
    })
    .unwrap();
    let issued = tokens.issue(&user()).unwrap();
    assert_eq!(issued.expires_in, chrono::TimeDelta::seconds(60));
    let c = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(&issued.token).unwrap();
    assert_eq!(c["iss"], "https://wastatus.example");
    assert_eq!(c["aud"], "dashboard");
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 60);
    assert!(tokens.verify(&issued.token).is_some());
    // The default configuration's tokens are not this one's, and the other way round.
    assert_eq!(self::tokens().verify(&issued.token), None);
    assert_eq!(tokens.verify(&hs256(&claims())), None);
}

#[test]
fn without_a_secret_nothing_is_issued_and_hs256_is_refused() {
    let tokens = JwtTokens::new(&JwtConfig { secret: None, ..config() }).unwrap();
    assert!(!tokens.can_issue());
    assert!(tokens.is_enabled());
    assert!(tokens.issue(&user()).is_none());
    assert_eq!(tokens.verify(&hs256(&claims())), None);
}

#[test]
fn with_nothing_configured_jwts_are_off() {
    let tokens = JwtTokens::new(&JwtConfig::default()).unwrap();
    assert!(!tokens.is_enabled());
    assert!(!tokens.can_issue());
    assert!(tokens.issue(&user()).is_none());
    assert_eq!(tokens.verify(&hs256(&claims())), None);
    assert_eq!(tokens.verify(&sign(Algorithm::RS256, &rsa_private(), None, &claims())), None);
}

// Times.

#[test]
fn an_expired_token_is_refused_beyond_the_leeway_and_accepted_within_it() {
    let tokens = tokens();
    let now = now();
    assert_eq!(tokens.verify(&hs256(&with(claims(), "exp", json!(now - 60)))), None);
    assert_eq!(tokens.verify(&hs256(&with(claims(), "exp", json!(now - 10)))), Some(expected()));
    // With no leeway, a second past is too late.
    let strict = JwtTokens::new(&JwtConfig { leeway_secs: 0, ..config() }).unwrap();
    assert_eq!(strict.verify(&hs256(&with(claims(), "exp", json!(now - 10)))), None);
}

#[test]
fn an_iat_in_the_future_is_refused_beyond_the_leeway() {
    let tokens = tokens();
    let now = now();
    assert_eq!(tokens.verify(&hs256(&with(claims(), "iat", json!(now + 120)))), None);
    assert_eq!(tokens.verify(&hs256(&with(claims(), "iat", json!(now + 10)))), Some(expected()));
}

#[test]
fn an_nbf_in_the_future_is_refused_beyond_the_leeway() {
    let tokens = tokens();
    let now = now();
    assert_eq!(tokens.verify(&hs256(&with(claims(), "nbf", json!(now + 120)))), None);
    assert_eq!(tokens.verify(&hs256(&with(claims(), "nbf", json!(now + 10)))), Some(expected()));
    assert_eq!(tokens.verify(&hs256(&with(claims(), "nbf", json!(now - 10)))), Some(expected()));
}

#[test]
fn times_must_be_numbers() {
    let tokens = tokens();
    let now = now();
    for key in ["exp", "iat", "nbf"] {
        for bad in [json!(now.to_string()), json!(null), json!(true), json!([now]), json!({"t": now})] {
            assert_eq!(tokens.verify(&hs256(&with(claims(), key, bad.clone()))), None, "{key}: {bad}");
        }
    }
    // Fractions are numbers (RFC 7519 NumericDate).
    assert!(tokens.verify(&hs256(&with(claims(), "exp", json!(now as f64 + 300.5)))).is_some());
    // Huge and negative values do not overflow anything.
    assert!(tokens.verify(&hs256(&with(claims(), "exp", json!(u64::MAX)))).is_some());
    assert_eq!(tokens.verify(&hs256(&with(claims(), "exp", json!(-1)))), None);
    assert_eq!(tokens.verify(&hs256(&with(claims(), "exp", json!(i64::MIN)))), None);
    assert_eq!(tokens.verify(&hs256(&with(claims(), "iat", json!(u64::MAX)))), None);
    // Past u64: jsonwebtoken's required-claim check does not take it as an `exp`.
    assert_eq!(tokens.verify(&hs256(&with(claims(), "exp", json!(1e308)))), None);
}

// Required claims, issuer, audience, subject, tenant.

#[test]
fn a_missing_required_claim_is_refused() {
    let tokens = tokens();
    for key in ["exp", "iat", "sub", "iss", "aud"] {
        assert_eq!(tokens.verify(&hs256(&without(claims(), key))), None, "without {key}");
    }
    // `tid` and `nbf` are optional.
    assert_eq!(
        tokens.verify(&hs256(&without(claims(), "tid"))),
        Some(AccessClaims { user: USER.parse().unwrap(), tenant: None })
    );
}

#[test]
fn the_audience_must_be_ours() {
    let tokens = tokens();
    assert_eq!(tokens.verify(&hs256(&with(claims(), "aud", json!("someone-else")))), None);
    assert_eq!(tokens.verify(&hs256(&with(claims(), "aud", json!("")))), None);
    assert_eq!(tokens.verify(&hs256(&with(claims(), "aud", json!(["a", "b"])))), None);
    assert_eq!(tokens.verify(&hs256(&with(claims(), "aud", json!([])))), None);
    assert_eq!(tokens.verify(&hs256(&with(claims(), "aud", json!(1)))), None);
    // RFC 7519: `aud` may be a list naming us.
    assert_eq!(tokens.verify(&hs256(&with(claims(), "aud", json!(["other", "wastatus"])))), Some(expected()));
}

#[test]
fn the_issuer_must_be_ours() {
    let tokens = tokens();
    assert_eq!(tokens.verify(&hs256(&with(claims(), "iss", json!("someone-else")))), None);
    assert_eq!(tokens.verify(&hs256(&with(claims(), "iss", json!("WASTATUS")))), None);
    assert_eq!(tokens.verify(&hs256(&with(claims(), "iss", json!(["wastatus"])))), None);
    assert_eq!(tokens.verify(&hs256(&with(claims(), "iss", json!(null)))), None);
}

#[test]
fn the_subject_and_tenant_must_be_uuids() {
    let tokens = tokens();
    for bad in [json!("alice"), json!(""), json!(42), json!(null), json!([USER])] {
        assert_eq!(tokens.verify(&hs256(&with(claims(), "sub", bad.clone()))), None, "sub {bad}");
        assert_eq!(tokens.verify(&hs256(&with(claims(), "tid", bad.clone()))), None, "tid {bad}");
    }
}

// Signatures and algorithms.

#[test]
fn an_unsigned_token_is_refused() {
    let tokens = tokens();
    let payload = b64(&claims());
    for alg in ["none", "None", "NONE", "nOnE", ""] {
        let header = b64(&json!({"alg": alg, "typ": "JWT"}));
        assert_eq!(tokens.verify(&format!("{header}.{payload}.")), None, "{alg}");
        // With a signature that would be good for HS256, too.
        let good = hs256(&claims());
        let signature = good.rsplit('.').next().unwrap();
        assert_eq!(tokens.verify(&format!("{header}.{payload}.{signature}")), None, "{alg}");
    }
    // No algorithm at all.
    let header = b64(&json!({"typ": "JWT"}));
    assert_eq!(tokens.verify(&format!("{header}.{payload}.")), None);
}

#[test]
fn a_tampered_token_is_refused() {
    let tokens = tokens();
    let good = hs256(&claims());
    assert!(tokens.verify(&good).is_some());
    let parts: Vec<&str> = good.split('.').collect();
    // Another user, same signature.
    let other = b64(&with(claims(), "sub", json!("0190f2a4-7b1c-7e55-9a4e-2f1d3c4b5a6a")));
    assert_eq!(tokens.verify(&format!("{}.{other}.{}", parts[0], parts[2])), None);
    // A later expiry, same signature.
    let later = b64(&with(claims(), "exp", json!(now() + 86_400)));
    assert_eq!(tokens.verify(&format!("{}.{later}.{}", parts[0], parts[2])), None);
    // A changed signature.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[0] ^= 1;
    let signature = URL_SAFE_NO_PAD.encode(signature);
    assert_eq!(tokens.verify(&format!("{}.{}.{signature}", parts[0], parts[1])), None);
    // Every single-character change.
    for (i, c) in good.char_indices() {
        let replacement = if c == 'A' { 'B' } else { 'A' };
        let changed = format!("{}{replacement}{}", &good[..i], &good[i + 1..]);
        if changed != good {
            // A change in the last character may only touch padding bits of the signature.
            let last = i == good.len() - 1;
            assert!(tokens.verify(&changed).is_none() || last, "position {i}: {changed}");
        }
    }
}

#[test]
fn a_token_signed_with_another_secret_is_refused() {
    let other = EncodingKey::from_secret(b"another secret of 32 bytes, ok!!");
    assert_eq!(tokens().verify(&sign(Algorithm::HS256, &other, None, &claims())), None);
}

#[test]
fn the_public_key_is_not_an_hmac_secret() {
    // The classic confusion: HS256, with the RSA public key's PEM as the HMAC key.
    let forged = sign(Algorithm::HS256, &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()), Some("rsa-1"), &claims());
    let rsa_only = JwtTokens::new(&JwtConfig { secret: None, ..config() }).unwrap();
    assert_eq!(rsa_only.verify(&forged), None);
    assert_eq!(tokens().verify(&forged), None);
    // Nor the Ed25519 key's.
    let forged = sign(Algorithm::HS256, &EncodingKey::from_secret(ED_PUBLIC.as_bytes()), None, &claims());
    assert_eq!(rsa_only.verify(&forged), None);
}

#[test]
fn rs256_and_eddsa_tokens_are_refused_without_their_keys() {
    let secret_only = JwtTokens::new(&JwtConfig { public_keys: Vec::new(), ..config() }).unwrap();
    assert_eq!(secret_only.verify(&sign(Algorithm::RS256, &rsa_private(), None, &claims())), None);
    assert_eq!(secret_only.verify(&sign(Algorithm::EdDSA, &ed_private(), None, &claims())), None);
    // An RSA key does not verify EdDSA, nor the other way round.
    let rsa_only = JwtTokens::new(&JwtConfig {
        secret: None,
        public_keys: vec![public_key("RS256", RSA_PUBLIC, None)],
        ..config()
    })
    .unwrap();
    assert_eq!(rsa_only.verify(&sign(Algorithm::EdDSA, &ed_private(), None, &claims())), None);
    let ed_only = JwtTokens::new(&JwtConfig {
        secret: None,
        public_keys: vec![public_key("EdDSA", ED_PUBLIC, None)],
        ..config()
    })
    .unwrap();
    assert_eq!(ed_only.verify(&sign(Algorithm::RS256, &rsa_private(), None, &claims())), None);
}

#[test]
fn rs256_and_eddsa_tokens_from_configured_keys_verify() {
    let tokens = tokens();
    for kid in [None, Some("rsa-1"), Some("unknown")] {
        assert_eq!(tokens.verify(&sign(Algorithm::RS256, &rsa_private(), kid, &claims())), Some(expected()), "{kid:?}");
    }
    for kid in [None, Some("ed-1"), Some("unknown")] {
        assert_eq!(tokens.verify(&sign(Algorithm::EdDSA, &ed_private(), kid, &claims())), Some(expected()), "{kid:?}");
    }
    // The claims are checked just the same.
    let expired = with(claims(), "exp", json!(now() - 3_600));
    assert_eq!(tokens.verify(&sign(Algorithm::RS256, &rsa_private(), None, &expired)), None);
    assert_eq!(tokens.verify(&sign(Algorithm::EdDSA, &ed_private(), None, &expired)), None);
}

#[test]
fn an_unconfigured_rsa_key_is_refused() {
    let other = EncodingKey::from_rsa_pem(RSA_OTHER_PRIVATE.as_bytes()).unwrap();
    assert_eq!(tokens().verify(&sign(Algorithm::RS256, &other, None, &claims())), None);
}

#[test]
fn the_kid_picks_among_keys_of_the_algorithm() {
    let tokens = JwtTokens::new(&JwtConfig {
        secret: None,
        public_keys: vec![public_key("RS256", RSA_PUBLIC, Some("a")), public_key("RS256", RSA_OTHER_PUBLIC, Some("b"))],
        ..config()
    })
    .unwrap();
    let by_b = EncodingKey::from_rsa_pem(RSA_OTHER_PRIVATE.as_bytes()).unwrap();
    assert!(tokens.verify(&sign(Algorithm::RS256, &by_b, Some("b"), &claims())).is_some());
    // Without a kid, or with one that names no key, every key of the algorithm is tried.
    assert!(tokens.verify(&sign(Algorithm::RS256, &by_b, None, &claims())).is_some());
    assert!(tokens.verify(&sign(Algorithm::RS256, &by_b, Some("c"), &claims())).is_some());
    // A kid that names a key means that key.
    assert_eq!(tokens.verify(&sign(Algorithm::RS256, &by_b, Some("a"), &claims())), None);
    assert!(tokens.verify(&sign(Algorithm::RS256, &rsa_private(), Some("a"), &claims())).is_some());
}

#[test]
fn other_algorithms_are_refused_even_with_the_right_keys() {
    let tokens = tokens();
    let secret = EncodingKey::from_secret(SECRET.as_bytes());
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        assert_eq!(tokens.verify(&sign(alg, &secret, None, &claims())), None, "{alg:?}");
    }
    for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512] {
        assert_eq!(tokens.verify(&sign(alg, &rsa_private(), Some("rsa-1"), &claims())), None, "{alg:?}");
    }
}

#[test]
fn a_critical_header_extension_is_refused() {
    let payload = b64(&claims());
    let header = b64(&json!({"alg": "HS256", "typ": "JWT", "crit": ["exp"], "exp": 1}));
    let message = format!("{header}.{payload}");
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(SECRET.as_bytes()), Algorithm::HS256)
            .unwrap();
    assert_eq!(tokens().verify(&format!("{message}.{signature}")), None);
}

#[test]
fn garbage_is_refused_without_panicking() {
    let tokens = tokens();
    let good = hs256(&claims());
    let payload = b64(&claims());
    let mut garbage = vec![
        String::new(),
        ".".to_owned(),
        "..".to_owned(),
        "...".to_owned(),
        "a.b.c".to_owned(),
        "a.b".to_owned(),
        "not a token".to_owned(),
        "Bearer x.y.z".to_owned(),
        "wsk_0123456789abcdefghijABCDEFGHIJ0123456789".to_owned(),
        "0f8fad5b-d9cb-469f-a165-70867728950e".to_owned(),
        "ä.ö.ü".to_owned(),
        "\0.\0.\0".to_owned(),
        format!("{good}."),
        format!(".{good}"),
        format!("{good}.{good}"),
        good.replace('.', ""),
        format!("{}..", good.split('.').next().unwrap()),
        "x".repeat(100_000),
        format!("{}.{}.{}", "a".repeat(10_000), "b".repeat(10_000), "c".repeat(10_000)),
        // A header that is not an object, or not JSON, or not base64.
        format!("{}.{payload}.", b64(&json!(["HS256"]))),
        format!("{}.{payload}.", b64(&json!("HS256"))),
        format!("{}.{payload}.", URL_SAFE_NO_PAD.encode("{not json")),
        format!("!!!.{payload}.sig"),
        // Padded or standard-alphabet base64.
        format!("{}.{payload}.sig", STANDARD.encode(r#"{"alg":"HS256"}"#)),
        // Good header, payload that is not an object.
        format!("{}.{}.sig", good.split('.').next().unwrap(), b64(&json!([1, 2, 3]))),
        format!("{}.{}.sig", good.split('.').next().unwrap(), URL_SAFE_NO_PAD.encode("null")),
    ];
    // Random strings of token-ish characters.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/";
    for _ in 0..2_000 {
        let len = rand::random_range(0..200);
        garbage.push((0..len).map(|_| alphabet[rand::random_range(0..alphabet.len())] as char).collect());
    }
    for token in &garbage {
        assert_eq!(tokens.verify(token), None, "{token:?}");
    }
}

// Configuration.

#[test]
fn the_configuration_has_documented_defaults() {
    let config = JwtConfig::default();
    assert!(config.secret.is_none());
    assert_eq!(config.issuer, "wastatus");
    assert_eq!(config.audience, "wastatus");
    assert_eq!(config.ttl_secs, 900);
    assert_eq!(config.leeway_secs, 30);
    assert!(config.public_keys.is_empty());
}

#[test]
fn the_configuration_deserializes_with_defaults_and_refuses_unknown_fields() {
    let config: JwtConfig = serde_json::from_value(json!({
        "secret": SECRET,
        "ttl_secs": 60,
        "public_keys": [{"algorithm": "EdDSA", "pem": ED_PUBLIC}],
    }))
    .unwrap();
    assert_eq!(config.secret.as_ref().map(|s| s.expose_secret().to_owned()), Some(SECRET.to_owned()));
    assert_eq!(config.issuer, "wastatus");
    assert_eq!(config.ttl_secs, 60);
    assert_eq!(config.leeway_secs, 30);
    assert_eq!(config.public_keys, vec![public_key("EdDSA", ED_PUBLIC, None)]);
    assert!(JwtTokens::new(&config).is_ok());

    let empty: JwtConfig = serde_json::from_value(json!({})).unwrap();
    assert!(empty.secret.is_none() && empty.public_keys.is_empty());

    assert!(serde_json::from_value::<JwtConfig>(json!({"secrte": SECRET})).is_err());
    assert!(
        serde_json::from_value::<JwtConfig>(json!({"public_keys": [{"algorithm": "RS256", "pem": "", "x5u": "u"}]}))
            .is_err()
    );
}

#[test]
fn the_secret_stays_out_of_debug_output() {
    let config = config();
    assert!(!format!("{config:?}").contains(SECRET));
    assert!(!format!("{:?}", JwtTokens::new(&config).unwrap()).contains(SECRET));
}

#[test]
fn a_short_secret_is_refused() {
    let short = "x".repeat(31);
    let err = JwtTokens::new(&JwtConfig { secret: Some(short.as_str().into()), ..config() }).unwrap_err();
    assert_eq!(err, JwtConfigError::SecretTooShort { len: 31 });
    assert!(!err.to_string().contains(&short));
    // Bytes, not characters: 11 three-byte characters are 33 bytes.
    assert!(JwtTokens::new(&JwtConfig { secret: Some("€".repeat(11).as_str().into()), ..config() }).is_ok());
}

#[test]
fn an_unknown_algorithm_is_refused() {
    for algorithm in ["HS256", "RS384", "PS256", "ES256", "rs256", "eddsa", "none", ""] {
        let config = JwtConfig { public_keys: vec![public_key(algorithm, RSA_PUBLIC, None)], ..config() };
        assert!(
            matches!(JwtTokens::new(&config), Err(JwtConfigError::UnknownAlgorithm { index: 0, .. })),
            "{algorithm}"
        );
    }
}

#[test]
fn bad_public_keys_are_refused() {
    // An Ed25519 key with 16 bytes instead of 32, in an otherwise well-formed SPKI document.
    let mut der = vec![0x30, 0x1a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x11, 0x00];
    der.extend([0x42; 16]);
    let short_ed = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(&der));
    let cases = [
        ("RS256", "not a pem"),
        ("RS256", ""),
        ("RS256", RSA_PRIVATE),
        ("RS256", RSA_1024_PUBLIC),
        ("RS256", ED_PUBLIC),
        ("EdDSA", ED_PRIVATE),
        ("EdDSA", RSA_PUBLIC),
        ("EdDSA", "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"),
        ("EdDSA", short_ed.as_str()),
    ];
    for (algorithm, pem) in cases {
        let config = JwtConfig { public_keys: vec![public_key(algorithm, pem, None)], ..config() };
        assert!(matches!(JwtTokens::new(&config), Err(JwtConfigError::BadKey { index: 0, .. })), "{algorithm} {pem}");
    }
    // The index says which key.
    let config = JwtConfig {
        public_keys: vec![public_key("RS256", RSA_PUBLIC, None), public_key("RS256", RSA_1024_PUBLIC, None)],
        ..config()
    };
    let err = JwtTokens::new(&config).unwrap_err();
    assert!(matches!(err, JwtConfigError::BadKey { index: 1, .. }), "{err}");
    assert!(err.to_string().contains("1024 bits"), "{err}");
}

#[test]
fn an_rsa_public_key_in_pkcs1_form_is_accepted() {
    // The same key as RSA_PUBLIC, re-wrapped from SPKI to PKCS#1 (`BEGIN RSA PUBLIC KEY`).
    let spki = STANDARD.decode(RSA_PUBLIC.lines().filter(|l| !l.starts_with("-----")).collect::<String>()).unwrap();
    let key = DecodingKey::from_rsa_pem(RSA_PUBLIC.as_bytes()).unwrap();
    let DecodingKeyKind::SecretOrDer(pkcs1) = key.kind() else { unreachable!() };
    assert!(spki.len() > pkcs1.len());
    let pem = format!("-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n", STANDARD.encode(pkcs1));
    let tokens =
        JwtTokens::new(&JwtConfig { secret: None, public_keys: vec![public_key("RS256", &pem, None)], ..config() })
            .unwrap();
    assert_eq!(tokens.verify(&sign(Algorithm::RS256, &rsa_private(), None, &claims())), Some(expected()));
}

#[test]
fn out_of_range_settings_are_refused() {
    let refused = |config: JwtConfig, field: &str| {
        let err = JwtTokens::new(&config).unwrap_err();
        assert!(matches!(&err, JwtConfigError::Invalid { field: f, .. } if *f == field), "{err}");
    };
    refused(JwtConfig { ttl_secs: 0, ..config() }, "ttl_secs");
    refused(JwtConfig { ttl_secs: 86_401, ..config() }, "ttl_secs");
    refused(JwtConfig { ttl_secs: u64::MAX, ..config() }, "ttl_secs");
    refused(JwtConfig { leeway_secs: 301, ..config() }, "leeway_secs");
    refused(JwtConfig { leeway_secs: u64::MAX, ..config() }, "leeway_secs");
    refused(JwtConfig { issuer: String::new(), ..config() }, "issuer");
    refused(JwtConfig { audience: String::new(), ..config() }, "audience");
    assert!(JwtTokens::new(&JwtConfig { ttl_secs: 86_400, leeway_secs: 300, ..config() }).is_ok());
}

#[test]
fn works_behind_the_port() {
    let tokens: std::sync::Arc<dyn AccessTokens> = std::sync::Arc::new(tokens());
    let issued = tokens.issue(&user()).unwrap();
    assert_eq!(tokens.verify(&issued.token), Some(expected()));
}
