//! Tenants, API keys, and resolving a presented credential into a [`Principal`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::TimeDelta;

use crate::model::*;
use crate::ports::InsertError;

use super::{ErrorCode, Ports, internal_from_storage};

#[derive(Debug, thiserror::Error)]
pub enum CreateTenantError {
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("no tenant with id {0}")]
    NotFound(TenantId),
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum CreateApiKeyError {
    #[error("no tenant with id {0}")]
    TenantNotFound(TenantId),
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// Missing, malformed, unknown or revoked: deliberately indistinguishable.
    #[error("the credential is missing or not valid")]
    InvalidCredentials,
    #[error(transparent)]
    Internal(anyhow::Error),
}

internal_from_storage!(TenantError, CreateTenantError, CreateApiKeyError, AuthenticateError);

impl ErrorCode for CreateTenantError {
    fn code(&self) -> &'static str {
        "internal"
    }
}

impl ErrorCode for TenantError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "tenant_not_found",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for CreateApiKeyError {
    fn code(&self) -> &'static str {
        match self {
            Self::TenantNotFound(_) => "tenant_not_found",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for AuthenticateError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "unauthorized",
            Self::Internal(_) => "internal",
        }
    }
}

/// How stale `last_used_at` may get before a request refreshes it: writing on every request
/// would cost a database write per call for a value people read in minutes.
const LAST_USED_RESOLUTION: TimeDelta = TimeDelta::seconds(60);

/// How long a key looked up in storage is trusted without looking again. A key revoked
/// elsewhere stops working here within this time.
const CREDENTIAL_TTL: TimeDelta = TimeDelta::seconds(10);

/// How many keys the credential cache holds before it starts afresh.
const CREDENTIAL_CACHE_SIZE: usize = 10_000;

/// Keys recently read from storage, by hash, so that authenticating a request costs no database
/// read while the key is fresh. Only keys that exist are cached: an unknown key always reaches
/// storage, so a key created elsewhere works at once.
#[derive(Default)]
struct CredentialCache {
    keys: Mutex<HashMap<KeyHash, (ApiKey, Timestamp)>>,
}

impl CredentialCache {
    fn get(&self, hash: &KeyHash, now: Timestamp) -> Option<ApiKey> {
        let keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A clock that stepped backwards makes the entry stale, never trusted for longer.
        let fresh = |read_at: &Timestamp| (TimeDelta::zero()..CREDENTIAL_TTL).contains(&(now - *read_at));
        keys.get(hash).filter(|(_, read_at)| fresh(read_at)).map(|(key, _)| key.clone())
    }

    fn put(&self, key: ApiKey, read_at: Timestamp) {
        let mut keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if keys.len() >= CREDENTIAL_CACHE_SIZE && !keys.contains_key(&key.hash) {
            keys.clear();
        }
        keys.insert(key.hash, (key, read_at));
    }

    /// Records a use without extending how long the entry is trusted.
    fn touched(&self, hash: &KeyHash, at: Timestamp) {
        let mut keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((key, _)) = keys.get_mut(hash) {
            key.last_used_at = Some(at);
        }
    }
}

/// Tenant and credential use cases.
#[derive(Clone)]
pub struct Tenancy {
    ports: Ports,
    credentials: Arc<CredentialCache>,
}

impl Tenancy {
    pub fn new(ports: Ports) -> Self {
        Self { ports, credentials: Arc::default() }
    }

    pub async fn create_tenant(&self, name: Name) -> Result<Tenant, CreateTenantError> {
        let tenant =
            Tenant { id: TenantId::from_uuid(self.ports.ids.uuid()), name, created_at: self.ports.clock.now() };
        self.ports.tenants.insert(&tenant).await.map_err(|e| CreateTenantError::Internal(e.into()))?;
        Ok(tenant)
    }

    pub async fn tenant(&self, id: TenantId) -> Result<Tenant, TenantError> {
        self.ports.tenants.get(id).await?.ok_or(TenantError::NotFound(id))
    }

    /// Issues a key for the tenant. The secret is in the result and nowhere else.
    pub async fn create_api_key(
        &self,
        tenant: TenantId,
        name: Option<Name>,
    ) -> Result<IssuedApiKey, CreateApiKeyError> {
        let minted = self.ports.keys.mint();
        let key = ApiKey {
            id: ApiKeyId::from_uuid(self.ports.ids.uuid()),
            tenant,
            name,
            display_prefix: minted.display_prefix,
            hash: minted.hash,
            created_at: self.ports.clock.now(),
            last_used_at: None,
            revoked_at: None,
        };
        match self.ports.api_keys.insert(&key).await {
            Ok(()) => {}
            Err(InsertError::ParentMissing) => return Err(CreateApiKeyError::TenantNotFound(tenant)),
            Err(e) => return Err(CreateApiKeyError::Internal(e.into())),
        }
        Ok(IssuedApiKey { key, secret: minted.secret })
    }

    /// Resolves a presented API key into the principal it stands for.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, AuthenticateError> {
        let hash = self.ports.keys.hash(presented).ok_or(AuthenticateError::InvalidCredentials)?;
        let now = self.ports.clock.now();
        let key = match self.credentials.get(&hash, now) {
            Some(key) => key,
            None => {
                let key =
                    self.ports.api_keys.find_by_hash(&hash).await?.ok_or(AuthenticateError::InvalidCredentials)?;
                self.credentials.put(key.clone(), now);
                key
            }
        };
        if key.revoked_at.is_some() {
            return Err(AuthenticateError::InvalidCredentials);
        }
        if key.last_used_at.is_none_or(|last| now - last >= LAST_USED_RESOLUTION) {
            match self.ports.api_keys.touch(key.id, now).await {
                Ok(()) => self.credentials.touched(&hash, now),
                Err(error) => tracing::warn!(key = %key.id, %error, "could not record when an API key was used"),
            }
        }
        Ok(Principal { tenant: key.tenant, api_key: key.id })
    }
}

#[cfg(test)]
mod tests {
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
            created_at: at(0),
            last_used_at: last_used,
            revoked_at: revoked,
        }
    }

    #[tokio::test]
    async fn a_malformed_key_never_reaches_storage() {
        let mut m = Mocks::default();
        m.keys.expect_hash().returning(|_| None);
        m.api_keys.expect_find_by_hash().never();
        let err = Tenancy::new(m.into_ports()).authenticate("garbage").await.unwrap_err();
        assert_eq!(err.code(), "unauthorized");
    }

    #[tokio::test]
    async fn a_revoked_key_is_refused_like_an_unknown_one() {
        let mut m = Mocks::default();
        m.keys.expect_hash().returning(|_| Some(KeyHash([7; 32])));
        m.api_keys.expect_find_by_hash().returning(|_| Ok(Some(stored_key(None, Some(at(1))))));
        let err = Tenancy::new(m.into_ports()).authenticate("wsk_x").await.unwrap_err();
        assert!(matches!(err, AuthenticateError::InvalidCredentials));
    }

    #[tokio::test]
    async fn a_valid_key_resolves_to_its_tenant_and_records_its_use() {
        let mut m = Mocks::default();
        m.keys.expect_hash().returning(|_| Some(KeyHash([7; 32])));
        m.api_keys.expect_find_by_hash().returning(|_| Ok(Some(stored_key(None, None))));
        m.api_keys.expect_touch().times(1).returning(|_, _| Ok(()));
        let p = Tenancy::new(m.into_ports()).authenticate("wsk_x").await.unwrap();
        assert_eq!(p.tenant, tenant());
    }

    #[tokio::test]
    async fn recent_use_is_not_written_again() {
        let mut m = Mocks::default();
        m.keys.expect_hash().returning(|_| Some(KeyHash([7; 32])));
        // The clock says at(10); the key was used at(5).
        m.api_keys.expect_find_by_hash().returning(|_| Ok(Some(stored_key(Some(at(5)), None))));
        m.api_keys.expect_touch().never();
        Tenancy::new(m.into_ports()).authenticate("wsk_x").await.unwrap();
    }

    #[tokio::test]
    async fn a_known_key_is_read_from_storage_once_while_fresh() {
        let mut m = Mocks::default();
        m.keys.expect_hash().returning(|_| Some(KeyHash([7; 32])));
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
        let mut m = Mocks::default();
        m.keys.expect_hash().returning(|_| Some(KeyHash([7; 32])));
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
        let mut m = Mocks::default();
        m.keys.expect_hash().returning(|_| Some(KeyHash([7; 32])));
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
        let mut m = Mocks::default();
        m.keys.expect_hash().returning(|_| Some(KeyHash([7; 32])));
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

    struct FixedClock(Arc<Mutex<Timestamp>>);
    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            *self.0.lock().unwrap()
        }
    }

    #[tokio::test]
    async fn keys_for_unknown_tenants_are_refused() {
        let mut m = Mocks::default();
        m.keys.expect_mint().returning(|| MintedKey {
            secret: "wsk_s3cr3t".into(),
            hash: KeyHash([1; 32]),
            display_prefix: "wsk_s3cr".into(),
        });
        m.api_keys.expect_insert().returning(|_| Err(InsertError::ParentMissing));
        let err = Tenancy::new(m.into_ports()).create_api_key(tenant(), None).await.unwrap_err();
        assert_eq!(err.code(), "tenant_not_found");
    }

    #[tokio::test]
    async fn an_issued_key_stores_only_the_hash() {
        let mut m = Mocks::default();
        m.keys.expect_mint().returning(|| MintedKey {
            secret: "wsk_s3cr3t".into(),
            hash: KeyHash([1; 32]),
            display_prefix: "wsk_s3cr".into(),
        });
        m.api_keys
            .expect_insert()
            .withf(|k| k.hash == KeyHash([1; 32]) && k.display_prefix == "wsk_s3cr")
            .times(1)
            .returning(|_| Ok(()));
        let issued = Tenancy::new(m.into_ports()).create_api_key(tenant(), None).await.unwrap();
        assert_eq!(issued.secret, "wsk_s3cr3t");
        assert!(!format!("{issued:?}").contains("s3cr3t"), "the secret never reaches Debug output");
    }
}
