//! Tenants and their credentials: API keys and users. How a presented credential becomes a
//! [`Principal`] is in [`super::access`].

use std::sync::Arc;

use crate::model::*;
use crate::ports::InsertError;

use super::access::CredentialCaches;
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
    /// The creator asked for scopes it does not have itself.
    #[error("a credential can only grant scopes it has; {0} has more")]
    NotGrantable(Scopes),
    #[error("the expiry time is in the past")]
    ExpiryInPast,
    /// A key that expires cannot make one that outlives it.
    #[error("a key made by a key that expires must expire no later than it ({0})")]
    OutlivesGranter(Timestamp),
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("no API key with id {0}")]
    NotFound(ApiKeyId),
    /// The credential asking holds fewer scopes than the key it would act on.
    #[error("a credential can only act on credentials no more powerful than itself")]
    NotGrantable,
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("no tenant with id {0}")]
    TenantNotFound(TenantId),
    #[error("a user named {0:?} already exists")]
    NameTaken(String),
    #[error("a credential can only grant scopes it has; {0} has more")]
    NotGrantable(Scopes),
    /// Users do not expire, so a credential that does cannot make one.
    #[error("a credential that expires cannot create users, which do not")]
    GranterExpires,
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("no user with id {0}")]
    NotFound(UserId),
    /// The credential asking holds fewer scopes than the user it would act on.
    #[error("a credential can only act on credentials no more powerful than itself")]
    NotGrantable,
    #[error(transparent)]
    Internal(anyhow::Error),
}

internal_from_storage!(TenantError, CreateTenantError, CreateApiKeyError, ApiKeyError, CreateUserError, UserError);

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
            Self::NotGrantable(_) => "scope_not_grantable",
            Self::ExpiryInPast | Self::OutlivesGranter(_) => "invalid_expiry",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for ApiKeyError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "api_key_not_found",
            Self::NotGrantable => "scope_not_grantable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for CreateUserError {
    fn code(&self) -> &'static str {
        match self {
            Self::TenantNotFound(_) => "tenant_not_found",
            Self::NameTaken(_) => "user_already_exists",
            Self::NotGrantable(_) | Self::GranterExpires => "scope_not_grantable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ErrorCode for UserError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "user_not_found",
            Self::NotGrantable => "scope_not_grantable",
            Self::Internal(_) => "internal",
        }
    }
}

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: Option<Name>,
    pub scopes: Scopes,
    pub expires_at: Option<Timestamp>,
}

impl Default for NewApiKey {
    fn default() -> Self {
        Self { name: None, scopes: Scopes::TENANT, expires_at: None }
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: Name,
    /// Lets the user log in for a JWT (`POST /v1/auth/token`).
    pub password: Option<Password>,
    pub scopes: Scopes,
}

/// Tenant and credential use cases.
#[derive(Clone)]
pub struct Tenancy {
    pub(super) ports: Ports,
    pub(super) caches: Arc<CredentialCaches>,
}

impl Tenancy {
    pub fn new(ports: Ports) -> Self {
        Self { ports, caches: Arc::default() }
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

    /// Every tenant, oldest first (for administrators).
    pub async fn tenants(&self) -> Result<Vec<Tenant>, TenantError> {
        Ok(self.ports.tenants.list().await?)
    }

    /// Issues a key for the tenant. The secret is in the result and nowhere else.
    ///
    /// `granted_by` is the credential asking, when a credential asks (not the operator's CLI):
    /// it cannot grant scopes it does not have.
    pub async fn create_api_key(
        &self,
        tenant: TenantId,
        new: NewApiKey,
        granted_by: Option<&Principal>,
    ) -> Result<IssuedApiKey, CreateApiKeyError> {
        if let Some(granter) = granted_by
            && !granter.scopes.covers(new.scopes)
        {
            return Err(CreateApiKeyError::NotGrantable(new.scopes));
        }
        let now = self.ports.clock.now();
        if new.expires_at.is_some_and(|expiry| expiry <= now) {
            return Err(CreateApiKeyError::ExpiryInPast);
        }
        if let Some(limit) = granted_by.and_then(|g| g.expires_at)
            && new.expires_at.is_none_or(|expiry| expiry > limit)
        {
            return Err(CreateApiKeyError::OutlivesGranter(limit));
        }
        let minted = self.ports.keys.mint();
        let key = ApiKey {
            id: ApiKeyId::from_uuid(self.ports.ids.uuid()),
            tenant,
            name: new.name,
            display_prefix: minted.display_prefix,
            hash: minted.hash,
            scopes: new.scopes,
            created_at: now,
            expires_at: new.expires_at,
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

    /// The tenant's keys, revoked ones included.
    pub async fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKey>, ApiKeyError> {
        Ok(self.ports.api_keys.list(tenant).await?)
    }

    /// Revokes a key: it stops working at once in this process, and within the credential
    /// cache's lifetime in others. Revoking a revoked key changes nothing.
    ///
    /// `acting` is the credential asking, when one asks: it may only revoke keys no more
    /// powerful than itself.
    pub async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        acting: Option<&Principal>,
    ) -> Result<ApiKey, ApiKeyError> {
        if let Some(acting) = acting {
            let keys = self.ports.api_keys.list(tenant).await?;
            let target = keys.iter().find(|k| k.id == id).ok_or(ApiKeyError::NotFound(id))?;
            if !acting.scopes.covers(target.scopes) {
                return Err(ApiKeyError::NotGrantable);
            }
        }
        let now = self.ports.clock.now();
        let key = self.ports.api_keys.revoke(tenant, id, now).await?.ok_or(ApiKeyError::NotFound(id))?;
        self.caches.forget_key(&key.hash);
        Ok(key)
    }

    /// Creates a user with a fresh per-user token, shown once in the result.
    pub async fn create_user(
        &self,
        tenant: TenantId,
        new: NewUser,
        granted_by: Option<&Principal>,
    ) -> Result<IssuedUser, CreateUserError> {
        if let Some(granter) = granted_by {
            if !granter.scopes.covers(new.scopes) {
                return Err(CreateUserError::NotGrantable(new.scopes));
            }
            if granter.expires_at.is_some() {
                return Err(CreateUserError::GranterExpires);
            }
        }
        let password_hash = match &new.password {
            Some(password) => Some(self.ports.passwords.hash(password).await?),
            None => None,
        };
        let minted = self.ports.keys.mint_user_token();
        let user = User {
            id: UserId::from_uuid(self.ports.ids.uuid()),
            tenant,
            name: new.name,
            scopes: new.scopes,
            token_hash: minted.hash,
            token_prefix: minted.display_prefix,
            password_hash,
            created_at: self.ports.clock.now(),
            last_used_at: None,
            disabled_at: None,
        };
        match self.ports.users.insert(&user).await {
            Ok(()) => Ok(IssuedUser { user, token: minted.secret }),
            Err(InsertError::ParentMissing) => Err(CreateUserError::TenantNotFound(tenant)),
            // Ids are fresh and token hashes collide with negligible probability: the name.
            Err(InsertError::AlreadyExists) => Err(CreateUserError::NameTaken(user.name.as_str().to_owned())),
            Err(e) => Err(CreateUserError::Internal(e.into())),
        }
    }

    /// The tenant's users.
    pub async fn users(&self, tenant: TenantId) -> Result<Vec<User>, UserError> {
        Ok(self.ports.users.list(tenant).await?)
    }

    pub async fn user(&self, tenant: TenantId, id: UserId) -> Result<User, UserError> {
        self.ports.users.get(tenant, id).await?.ok_or(UserError::NotFound(id))
    }

    /// Disables a user: its token and JWTs stop working. Its sessions stay. `acting`, when a
    /// credential asks, must be at least as powerful as the user.
    pub async fn disable_user(
        &self,
        tenant: TenantId,
        id: UserId,
        acting: Option<&Principal>,
    ) -> Result<User, UserError> {
        self.may_act_on(tenant, id, acting).await?;
        let now = self.ports.clock.now();
        let user = self.ports.users.disable(tenant, id, now).await?.ok_or(UserError::NotFound(id))?;
        self.caches.forget_user(&user);
        Ok(user)
    }

    /// Replaces a user's per-user token; the old one stops working. The new token goes to the
    /// caller, so `acting`, when a credential asks, must be at least as powerful as the user.
    pub async fn rotate_user_token(
        &self,
        tenant: TenantId,
        id: UserId,
        acting: Option<&Principal>,
    ) -> Result<IssuedUser, UserError> {
        let old = self.may_act_on(tenant, id, acting).await?;
        let minted = self.ports.keys.mint_user_token();
        if !self.ports.users.set_token(tenant, id, &minted.hash, &minted.display_prefix).await? {
            return Err(UserError::NotFound(id));
        }
        self.caches.forget_user(&old);
        let user = User { token_hash: minted.hash, token_prefix: minted.display_prefix, ..old };
        Ok(IssuedUser { user, token: minted.secret })
    }

    /// The user, if `acting` (when a credential asks) holds every scope the user holds.
    async fn may_act_on(&self, tenant: TenantId, id: UserId, acting: Option<&Principal>) -> Result<User, UserError> {
        let user = self.user(tenant, id).await?;
        match acting {
            Some(acting) if !acting.scopes.covers(user.scopes) => Err(UserError::NotGrantable),
            _ => Ok(user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::*;
    use crate::service::test_support::*;

    fn minted(secret: &str, byte: u8) -> MintedKey {
        MintedKey { secret: secret.into(), hash: KeyHash([byte; 32]), display_prefix: secret[..8].into() }
    }

    fn principal(scopes: Scopes) -> Principal {
        Principal {
            tenant: tenant(),
            user: None,
            credential: CredentialId::ApiKey(ApiKeyId::from_uuid(uuid::Uuid::from_u128(3))),
            scopes,
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn keys_for_unknown_tenants_are_refused() {
        let mut m = Mocks::default();
        m.keys.expect_mint().returning(|| minted("wsk_s3cr3t", 1));
        m.api_keys.expect_insert().returning(|_| Err(InsertError::ParentMissing));
        let err = Tenancy::new(m.into_ports()).create_api_key(tenant(), NewApiKey::default(), None).await.unwrap_err();
        assert_eq!(err.code(), "tenant_not_found");
    }

    #[tokio::test]
    async fn an_issued_key_stores_only_the_hash() {
        let mut m = Mocks::default();
        m.keys.expect_mint().returning(|| minted("wsk_s3cr3t", 1));
        m.api_keys
            .expect_insert()
            .withf(|k| k.hash == KeyHash([1; 32]) && k.display_prefix == "wsk_s3cr" && k.scopes == Scopes::TENANT)
            .times(1)
            .returning(|_| Ok(()));
        let issued = Tenancy::new(m.into_ports()).create_api_key(tenant(), NewApiKey::default(), None).await.unwrap();
        assert_eq!(issued.secret, "wsk_s3cr3t");
        assert!(!format!("{issued:?}").contains("s3cr3t"), "the secret never reaches Debug output");
    }

    #[tokio::test]
    async fn a_key_cannot_grant_more_than_it_has() {
        let mut m = Mocks::default();
        m.api_keys.expect_insert().never();
        let tenancy = Tenancy::new(m.into_ports());
        let granter = principal(Scopes::of(&[Scope::KeysManage, Scope::StatusesRead]));
        let new = NewApiKey { scopes: Scopes::of(&[Scope::StatusesWrite]), ..NewApiKey::default() };
        let err = tenancy.create_api_key(tenant(), new, Some(&granter)).await.unwrap_err();
        assert_eq!(err.code(), "scope_not_grantable");
        let new = NewUser { name: Name::new("ana").unwrap(), password: None, scopes: Scopes::of(&[Scope::Admin]) };
        let err = tenancy.create_user(tenant(), new, Some(&granter)).await.unwrap_err();
        assert_eq!(err.code(), "scope_not_grantable");
    }

    #[tokio::test]
    async fn keys_expiring_in_the_past_are_refused() {
        let mut m = Mocks::default();
        m.api_keys.expect_insert().never();
        // The clock says at(10).
        let new = NewApiKey { expires_at: Some(at(10)), ..NewApiKey::default() };
        let err = Tenancy::new(m.into_ports()).create_api_key(tenant(), new, None).await.unwrap_err();
        assert_eq!(err.code(), "invalid_expiry");
    }

    #[tokio::test]
    async fn a_user_gets_a_token_and_a_hashed_password() {
        let mut m = Mocks::default();
        m.keys.expect_mint_user_token().returning(|| minted("0b5e2d1c-aaaa-4bbb-8ccc-123456789abc", 5));
        m.passwords
            .expect_hash()
            .withf(|p| p.expose() == "correct horse")
            .returning(|_| Ok(PasswordHash("$argon2id$stub".into())));
        m.users
            .expect_insert()
            .withf(|u| {
                u.token_hash == KeyHash([5; 32])
                    && u.password_hash == Some(PasswordHash("$argon2id$stub".into()))
                    && u.scopes == Scopes::USER
            })
            .times(1)
            .returning(|_| Ok(()));
        let new = NewUser {
            name: Name::new("ana").unwrap(),
            password: Some(Password::new("correct horse").unwrap()),
            scopes: Scopes::USER,
        };
        let issued = Tenancy::new(m.into_ports()).create_user(tenant(), new, None).await.unwrap();
        assert_eq!(issued.token, "0b5e2d1c-aaaa-4bbb-8ccc-123456789abc");
        assert!(!format!("{issued:?}").contains("0b5e2d1c-aaaa"));
    }

    #[tokio::test]
    async fn a_taken_username_is_a_conflict() {
        let mut m = Mocks::default();
        m.keys.expect_mint_user_token().returning(|| minted("0b5e2d1c-aaaa-4bbb-8ccc-123456789abc", 5));
        m.users.expect_insert().returning(|_| Err(InsertError::AlreadyExists));
        let new = NewUser { name: Name::new("ana").unwrap(), password: None, scopes: Scopes::USER };
        let err = Tenancy::new(m.into_ports()).create_user(tenant(), new, None).await.unwrap_err();
        assert_eq!(err.code(), "user_already_exists");
    }

    #[tokio::test]
    async fn revoking_an_unknown_key_is_not_found() {
        let mut m = Mocks::default();
        m.api_keys.expect_revoke().returning(|_, _, _| Ok(None));
        let id = ApiKeyId::from_uuid(uuid::Uuid::from_u128(77));
        let err = Tenancy::new(m.into_ports()).revoke_api_key(tenant(), id, None).await.unwrap_err();
        assert_eq!(err.code(), "api_key_not_found");
    }
}
