//! Authentication: a presented credential — API key, per-user token or JWT — becomes a
//! [`Principal`]; a username and password become a JWT.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use chrono::TimeDelta;

use crate::model::*;

use super::{ErrorCode, Tenancy, internal_from_storage};

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// Missing, malformed, unknown, expired, revoked or disabled: deliberately
    /// indistinguishable.
    #[error("the credential is missing or not valid")]
    InvalidCredentials,
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password, no password, disabled: deliberately indistinguishable.
    #[error("the username or password is not valid")]
    InvalidCredentials,
    #[error("logging in is not configured on this server (no JWT secret)")]
    NotConfigured,
    #[error(transparent)]
    Internal(anyhow::Error),
}

internal_from_storage!(AuthenticateError, LoginError);

impl ErrorCode for AuthenticateError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "unauthorized",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for LoginError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "unauthorized",
            Self::NotConfigured => "login_not_configured",
            Self::Internal(_) => "internal",
        }
    }
}

/// How stale `last_used_at` may get before a request refreshes it: writing on every request
/// would cost a database write per call for a value people read in minutes.
const LAST_USED_RESOLUTION: TimeDelta = TimeDelta::seconds(60);

/// How long a credential looked up in storage is trusted without looking again. A credential
/// revoked by another process stops working here within this time; revoked by this one, at once.
const CREDENTIAL_TTL: TimeDelta = TimeDelta::seconds(10);

/// How many entries a credential cache holds before it starts afresh.
const CREDENTIAL_CACHE_SIZE: usize = 10_000;

/// Values recently read from storage, so that authenticating a request costs no database read
/// while they are fresh. Only what exists is cached: an unknown credential always reaches
/// storage, so one created elsewhere works at once.
pub(super) struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (V, Timestamp)>>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Timestamp)>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, key: &K, now: Timestamp) -> Option<V> {
        // A clock that stepped backwards makes the entry stale, never trusted for longer.
        let fresh = |read_at: &Timestamp| (TimeDelta::zero()..CREDENTIAL_TTL).contains(&(now - *read_at));
        self.lock().get(key).filter(|(_, read_at)| fresh(read_at)).map(|(value, _)| value.clone())
    }

    fn put_if(&self, key: K, value: V, read_at: Timestamp, still_valid: impl FnOnce() -> bool) {
        let mut entries = self.lock();
        if !still_valid() {
            return;
        }
        if entries.len() >= CREDENTIAL_CACHE_SIZE && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (value, read_at));
    }

    /// Changes a cached value without extending how long it is trusted.
    fn update(&self, key: &K, change: impl FnOnce(&mut V)) {
        if let Some((value, _)) = self.lock().get_mut(key) {
            change(value);
        }
    }

    fn remove(&self, key: &K) {
        self.lock().remove(key);
    }
}

/// The credential caches of one process.
///
/// A lookup that read storage before a revocation and caches its result after it would bring
/// the revoked credential back: every invalidation moves an epoch forward, and a lookup caches
/// what it read only if the epoch did not move meanwhile.
#[derive(Default)]
pub(super) struct CredentialCaches {
    keys: TtlCache<KeyHash, ApiKey>,
    users_by_token: TtlCache<KeyHash, User>,
    users_by_id: TtlCache<UserId, User>,
    epoch: std::sync::atomic::AtomicU64,
}

impl CredentialCaches {
    fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn invalidated(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Caches what a lookup that started at `epoch` read, unless something was invalidated
    /// since. The epoch is checked under the cache's lock, and invalidations move the epoch
    /// before they take that lock to remove: either this sees the new epoch, or the removal
    /// comes after this insert.
    fn put_if_current<K: Hash + Eq, V: Clone>(
        &self,
        cache: &TtlCache<K, V>,
        epoch: u64,
        key: K,
        value: V,
        at: Timestamp,
    ) {
        cache.put_if(key, value, at, || self.epoch() == epoch);
    }

    /// Drops a key that was revoked.
    pub(super) fn forget_key(&self, hash: &KeyHash) {
        self.invalidated();
        self.keys.remove(hash);
    }

    /// Drops a user whose token or standing changed.
    pub(super) fn forget_user(&self, user: &User) {
        self.invalidated();
        self.users_by_token.remove(&user.token_hash);
        self.users_by_id.remove(&user.id);
    }

    fn touched_user(&self, user: &User, at: Timestamp) {
        self.users_by_token.update(&user.token_hash, |u| u.last_used_at = Some(at));
        self.users_by_id.update(&user.id, |u| u.last_used_at = Some(at));
    }
}

impl Tenancy {
    /// Resolves a presented credential into the principal it stands for. The kinds are told
    /// apart by shape: `wsk_…` is an API key, a UUID v4 a per-user token, three dot-separated
    /// parts a JWT.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, AuthenticateError> {
        let now = self.ports.clock.now();
        if let Some(hash) = self.ports.keys.hash(presented) {
            return self.by_api_key(hash, now).await;
        }
        if let Some(hash) = self.ports.keys.hash_user_token(presented) {
            let user = match self.caches.users_by_token.get(&hash, now) {
                Some(user) => user,
                None => {
                    let epoch = self.caches.epoch();
                    let user = self
                        .ports
                        .users
                        .find_by_token_hash(&hash)
                        .await?
                        .ok_or(AuthenticateError::InvalidCredentials)?;
                    self.caches.put_if_current(&self.caches.users_by_token, epoch, hash, user.clone(), now);
                    user
                }
            };
            return self.as_user(user, CredentialId::UserToken, now).await;
        }
        if presented.split('.').count() == 3
            && let Some(claims) = self.ports.access_tokens.verify(presented)
        {
            let user = match self.caches.users_by_id.get(&claims.user, now) {
                Some(user) => user,
                None => {
                    let epoch = self.caches.epoch();
                    let user =
                        self.ports.users.find(claims.user).await?.ok_or(AuthenticateError::InvalidCredentials)?;
                    self.caches.put_if_current(&self.caches.users_by_id, epoch, user.id, user.clone(), now);
                    user
                }
            };
            if claims.tenant.is_some_and(|tenant| tenant != user.tenant) {
                return Err(AuthenticateError::InvalidCredentials);
            }
            return self.as_user(user, CredentialId::Jwt, now).await;
        }
        Err(AuthenticateError::InvalidCredentials)
    }

    async fn by_api_key(&self, hash: KeyHash, now: Timestamp) -> Result<Principal, AuthenticateError> {
        let key = match self.caches.keys.get(&hash, now) {
            Some(key) => key,
            None => {
                let epoch = self.caches.epoch();
                let key =
                    self.ports.api_keys.find_by_hash(&hash).await?.ok_or(AuthenticateError::InvalidCredentials)?;
                self.caches.put_if_current(&self.caches.keys, epoch, hash, key.clone(), now);
                key
            }
        };
        if !key.is_usable(now) {
            return Err(AuthenticateError::InvalidCredentials);
        }
        if is_stale(key.last_used_at, now) {
            match self.ports.api_keys.touch(key.id, now).await {
                Ok(()) => self.caches.keys.update(&hash, |k| k.last_used_at = Some(now)),
                Err(error) => tracing::warn!(key = %key.id, %error, "could not record when an API key was used"),
            }
        }
        Ok(Principal {
            tenant: key.tenant,
            user: None,
            credential: CredentialId::ApiKey(key.id),
            scopes: key.scopes,
            expires_at: key.expires_at,
        })
    }

    async fn as_user(
        &self,
        user: User,
        credential: fn(UserId) -> CredentialId,
        now: Timestamp,
    ) -> Result<Principal, AuthenticateError> {
        if user.disabled_at.is_some() {
            return Err(AuthenticateError::InvalidCredentials);
        }
        if is_stale(user.last_used_at, now) {
            match self.ports.users.touch(user.id, now).await {
                Ok(()) => self.caches.touched_user(&user, now),
                Err(error) => tracing::warn!(user = %user.id, %error, "could not record when a user authenticated"),
            }
        }
        Ok(Principal {
            tenant: user.tenant,
            user: Some(user.id),
            credential: credential(user.id),
            scopes: user.scopes,
            expires_at: None,
        })
    }

    /// Logs a dashboard user in: a short-lived JWT for a username and password.
    ///
    /// Every refusal looks the same and takes about as long: an unknown user's attempt is
    /// checked against a dummy hash.
    pub async fn login(&self, username: &str, password: &str) -> Result<AccessToken, LoginError> {
        if !self.ports.access_tokens.can_issue() {
            return Err(LoginError::NotConfigured);
        }
        let user = match Name::new(username) {
            Ok(name) => self.ports.users.find_by_name(name.as_str()).await?,
            Err(_) => None,
        };
        let user = user.filter(|u| u.disabled_at.is_none());
        let presented = Password::presented(password);
        let hash = user.as_ref().and_then(|u| u.password_hash.as_ref());
        let verified = self.ports.passwords.verify(&presented, hash).await;
        match user {
            Some(user) if verified && hash.is_some() => {
                self.ports.access_tokens.issue(&user).ok_or(LoginError::NotConfigured)
            }
            _ => Err(LoginError::InvalidCredentials),
        }
    }
}

fn is_stale(last_used: Option<Timestamp>, now: Timestamp) -> bool {
    last_used.is_none_or(|last| now - last >= LAST_USED_RESOLUTION)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::ports::*;
    use crate::service::test_support::*;

    fn stored_key(last_used: Option<Timestamp>, revoked: Option<Timestamp>) -> ApiKey {
        ApiKey {
            id: ApiKeyId::from_uuid(uuid::Uuid::from_u128(9)),
            tenant: tenant(),
            name: None,
            display_prefix: "wsk_abcd".into(),
            hash: KeyHash([7; 32]),
            scopes: Scopes::TENANT,
            created_at: at(0),
            expires_at: None,
            last_used_at: last_used,
            revoked_at: revoked,
        }
    }

    fn stored_user(disabled: Option<Timestamp>) -> User {
        User {
            id: UserId::from_uuid(uuid::Uuid::from_u128(21)),
            tenant: tenant(),
            name: Name::new("ana").unwrap(),
            scopes: Scopes::USER,
            token_hash: KeyHash([8; 32]),
            token_prefix: "0b5e2d1c".into(),
            password_hash: Some(PasswordHash("$argon2id$stub".into())),
            created_at: at(0),
            last_used_at: Some(at(10)),
            disabled_at: disabled,
        }
    }

    /// Mocks in which only API keys are recognised.
    fn key_mocks() -> Mocks {
        let mut m = Mocks::default();
        m.keys.expect_hash().returning(|_| Some(KeyHash([7; 32])));
        m
    }

    /// Mocks in which only per-user tokens are recognised.
    fn user_token_mocks() -> Mocks {
        let mut m = Mocks::default();
        m.keys.expect_hash().returning(|_| None);
        m.keys.expect_hash_user_token().returning(|_| Some(KeyHash([8; 32])));
        m
    }

    /// Mocks in which only JWTs are recognised, naming `claims`.
    fn jwt_mocks(claims: AccessClaims) -> Mocks {
        let mut m = Mocks::default();
        m.keys.expect_hash().returning(|_| None);
        m.keys.expect_hash_user_token().returning(|_| None);
        m.access_tokens.expect_verify().returning(move |_| Some(claims.clone()));
        m
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";

    #[tokio::test]
    async fn an_unrecognised_credential_never_reaches_storage() {
        let mut m = Mocks::default();
        m.keys.expect_hash().returning(|_| None);
        m.keys.expect_hash_user_token().returning(|_| None);
        m.access_tokens.expect_verify().never();
        m.api_keys.expect_find_by_hash().never();
        m.users.expect_find_by_token_hash().never();
        let err = Tenancy::new(m.into_ports()).authenticate("garbage").await.unwrap_err();
        assert_eq!(err.code(), "unauthorized");
    }

    #[tokio::test]
    async fn a_revoked_key_is_refused_like_an_unknown_one() {
        let mut m = key_mocks();
        m.api_keys.expect_find_by_hash().returning(|_| Ok(Some(stored_key(None, Some(at(1))))));
        let err = Tenancy::new(m.into_ports()).authenticate("wsk_x").await.unwrap_err();
        assert!(matches!(err, AuthenticateError::InvalidCredentials));
    }

    #[tokio::test]
    async fn an_expired_key_is_refused() {
        let mut m = key_mocks();
        // The clock says at(10).
        m.api_keys
            .expect_find_by_hash()
            .returning(|_| Ok(Some(ApiKey { expires_at: Some(at(10)), ..stored_key(None, None) })));
        assert!(Tenancy::new(m.into_ports()).authenticate("wsk_x").await.is_err());
        let mut m = key_mocks();
        m.api_keys
            .expect_find_by_hash()
            .returning(|_| Ok(Some(ApiKey { expires_at: Some(at(11)), ..stored_key(None, None) })));
        m.api_keys.expect_touch().returning(|_, _| Ok(()));
        assert!(Tenancy::new(m.into_ports()).authenticate("wsk_x").await.is_ok());
    }

    #[tokio::test]
    async fn a_valid_key_resolves_to_its_tenant_scopes_and_records_its_use() {
        let mut m = key_mocks();
        m.api_keys.expect_find_by_hash().returning(|_| Ok(Some(stored_key(None, None))));
        m.api_keys.expect_touch().times(1).returning(|_, _| Ok(()));
        let p = Tenancy::new(m.into_ports()).authenticate("wsk_x").await.unwrap();
        assert_eq!(p.tenant, tenant());
        assert_eq!(p.scopes, Scopes::TENANT);
        assert_eq!(p.user, None);
    }

    #[tokio::test]
    async fn recent_use_is_not_written_again() {
        let mut m = key_mocks();
        // The clock says at(10); the key was used at(5).
        m.api_keys.expect_find_by_hash().returning(|_| Ok(Some(stored_key(Some(at(5)), None))));
        m.api_keys.expect_touch().never();
        Tenancy::new(m.into_ports()).authenticate("wsk_x").await.unwrap();
    }

    #[tokio::test]
    async fn a_known_key_is_read_from_storage_once_while_fresh() {
        let mut m = key_mocks();
        m.api_keys.expect_find_by_hash().times(1).returning(|_| Ok(Some(stored_key(None, None))));
        // Used once: the second request sees the recorded use and writes nothing.
        m.api_keys.expect_touch().times(1).returning(|_, _| Ok(()));
        let tenancy = Tenancy::new(m.into_ports());
        for _ in 0..3 {
            assert_eq!(tenancy.authenticate("wsk_x").await.unwrap().tenant, tenant());
        }
    }

    #[tokio::test]
    async fn a_cached_key_is_read_again_once_stale() {
        let mut m = key_mocks();
        m.api_keys.expect_find_by_hash().times(2).returning(|_| Ok(Some(stored_key(Some(at(0)), None))));
        m.api_keys.expect_touch().returning(|_, _| Ok(()));
        let mut ports = m.into_ports();
        let now = Arc::new(Mutex::new(at(1)));
        ports.clock = Arc::new(FixedClock(now.clone()));
        let tenancy = Tenancy::new(ports);
        tenancy.authenticate("wsk_x").await.unwrap();
        *now.lock().unwrap() = at(1) + CREDENTIAL_TTL - TimeDelta::milliseconds(1);
        tenancy.authenticate("wsk_x").await.unwrap();
        *now.lock().unwrap() = at(1) + CREDENTIAL_TTL;
        tenancy.authenticate("wsk_x").await.unwrap();
    }

    #[tokio::test]
    async fn a_clock_stepping_back_does_not_extend_trust() {
        let mut m = key_mocks();
        m.api_keys.expect_find_by_hash().times(2).returning(|_| Ok(Some(stored_key(Some(at(100)), None))));
        let mut ports = m.into_ports();
        let now = Arc::new(Mutex::new(at(100)));
        ports.clock = Arc::new(FixedClock(now.clone()));
        let tenancy = Tenancy::new(ports);
        tenancy.authenticate("wsk_x").await.unwrap();
        *now.lock().unwrap() = at(50);
        tenancy.authenticate("wsk_x").await.unwrap();
    }

    #[tokio::test]
    async fn unknown_keys_are_not_cached() {
        let mut m = key_mocks();
        let mut calls = 0;
        m.api_keys.expect_find_by_hash().times(2).returning(move |_| {
            calls += 1;
            // Unknown at first, created by another process a moment later.
            Ok((calls > 1).then(|| stored_key(Some(at(10)), None)))
        });
        let tenancy = Tenancy::new(m.into_ports());
        assert!(tenancy.authenticate("wsk_x").await.is_err());
        assert!(tenancy.authenticate("wsk_x").await.is_ok());
    }

    #[tokio::test]
    async fn a_key_revoked_here_stops_working_at_once() {
        let mut m = key_mocks();
        m.api_keys.expect_find_by_hash().times(1).returning(|_| Ok(Some(stored_key(Some(at(10)), None))));
        m.api_keys.expect_revoke().returning(|_, _, at| Ok(Some(stored_key(Some(at), Some(at)))));
        let tenancy = Tenancy::new(m.into_ports());
        tenancy.authenticate("wsk_x").await.unwrap();
        tenancy.revoke_api_key(tenant(), stored_key(None, None).id, None).await.unwrap();
        // The cache entry is gone: the next request reads storage, which says revoked; the
        // mock allows one read only, so read it must not succeed from the cache either.
        let mut m = key_mocks();
        m.api_keys.expect_find_by_hash().times(1).returning(|_| Ok(Some(stored_key(Some(at(10)), Some(at(10))))));
        let fresh = Tenancy { ports: m.into_ports(), caches: tenancy.caches.clone() };
        assert!(fresh.authenticate("wsk_x").await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lookup_racing_a_revocation_does_not_bring_the_key_back() {
        let mut m = key_mocks();
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = reads.clone();
        m.api_keys.expect_find_by_hash().returning(move |_| {
            // The first read sees the row as it was before the revocation commits.
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n == 0 {
                std::thread::sleep(std::time::Duration::from_millis(300));
                return Ok(Some(stored_key(Some(at(10)), None)));
            }
            Ok(Some(stored_key(Some(at(10)), Some(at(10)))))
        });
        m.api_keys.expect_revoke().returning(|_, _, at| Ok(Some(stored_key(Some(at), Some(at)))));
        let tenancy = Tenancy::new(m.into_ports());
        let in_flight = {
            let tenancy = tenancy.clone();
            tokio::spawn(async move { tenancy.authenticate("wsk_x").await.is_ok() })
        };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        tenancy.revoke_api_key(tenant(), stored_key(None, None).id, None).await.unwrap();
        assert!(in_flight.await.unwrap(), "the request that started before the revocation may pass");
        assert!(tenancy.authenticate("wsk_x").await.is_err(), "but the revoked key is not cached");
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_user_token_resolves_to_the_user() {
        let mut m = user_token_mocks();
        m.users.expect_find_by_token_hash().times(1).returning(|_| Ok(Some(stored_user(None))));
        let tenancy = Tenancy::new(m.into_ports());
        for _ in 0..2 {
            let p = tenancy.authenticate("0b5e2d1c-aaaa-4bbb-8ccc-123456789abc").await.unwrap();
            assert_eq!(p.user, Some(stored_user(None).id));
            assert_eq!(p.credential, CredentialId::UserToken(stored_user(None).id));
            assert_eq!(p.scopes, Scopes::USER);
        }
    }

    #[tokio::test]
    async fn a_disabled_users_token_is_refused() {
        let mut m = user_token_mocks();
        m.users.expect_find_by_token_hash().returning(|_| Ok(Some(stored_user(Some(at(1))))));
        assert!(Tenancy::new(m.into_ports()).authenticate("0b5e2d1c-aaaa-4bbb-8ccc-123456789abc").await.is_err());
    }

    #[tokio::test]
    async fn a_jwt_resolves_to_its_user_while_the_user_is_enabled() {
        let user = stored_user(None);
        let mut m = jwt_mocks(AccessClaims { user: user.id, tenant: Some(tenant()) });
        m.users.expect_find().returning(|_| Ok(Some(stored_user(None))));
        let p = Tenancy::new(m.into_ports()).authenticate(JWT).await.unwrap();
        assert_eq!(p.credential, CredentialId::Jwt(user.id));

        let mut m = jwt_mocks(AccessClaims { user: user.id, tenant: None });
        m.users.expect_find().returning(|_| Ok(Some(stored_user(Some(at(2))))));
        assert!(Tenancy::new(m.into_ports()).authenticate(JWT).await.is_err(), "disabled user");

        let mut m = jwt_mocks(AccessClaims { user: user.id, tenant: None });
        m.users.expect_find().returning(|_| Ok(None));
        assert!(Tenancy::new(m.into_ports()).authenticate(JWT).await.is_err(), "unknown user");

        let other = TenantId::from_uuid(uuid::Uuid::from_u128(99));
        let mut m = jwt_mocks(AccessClaims { user: user.id, tenant: Some(other) });
        m.users.expect_find().returning(|_| Ok(Some(stored_user(None))));
        assert!(Tenancy::new(m.into_ports()).authenticate(JWT).await.is_err(), "another tenant's claim");
    }

    fn login_mocks(user: Option<User>, password_ok: bool) -> Mocks {
        let mut m = Mocks::default();
        m.access_tokens.expect_can_issue().return_const(true);
        m.users.expect_find_by_name().returning(move |_| Ok(user.clone()));
        m.passwords.expect_verify().times(1).returning(move |_, _| password_ok);
        m.access_tokens
            .expect_issue()
            .returning(|_| Some(AccessToken { token: "jwt".into(), expires_in: TimeDelta::minutes(15) }));
        m
    }

    #[tokio::test]
    async fn login_issues_a_token_for_the_right_password_only() {
        let tenancy = Tenancy::new(login_mocks(Some(stored_user(None)), true).into_ports());
        assert_eq!(tenancy.login("ana", "correct horse").await.unwrap().token, "jwt");
        for (user, ok) in [
            (Some(stored_user(None)), false),
            (None, false),
            (Some(stored_user(Some(at(1)))), true),
            (Some(User { password_hash: None, ..stored_user(None) }), true),
        ] {
            let tenancy = Tenancy::new(login_mocks(user, ok).into_ports());
            // The password is checked (against a dummy hash if need be) every time.
            assert_eq!(tenancy.login("ana", "whatever!").await.unwrap_err().code(), "unauthorized");
        }
    }

    #[tokio::test]
    async fn login_without_a_secret_is_not_configured() {
        let mut m = Mocks::default();
        m.access_tokens.expect_can_issue().return_const(false);
        let err = Tenancy::new(m.into_ports()).login("ana", "correct horse").await.unwrap_err();
        assert_eq!(err.code(), "login_not_configured");
    }

    struct FixedClock(Arc<Mutex<Timestamp>>);
    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            *self.0.lock().unwrap()
        }
    }
}
