//! Who may do what: scopes, users, passwords and the principal a credential resolves to.

use std::fmt;
use std::str::FromStr;

use super::{ApiKeyId, InvalidValue, KeyHash, Name, TenantId, Timestamp, UnknownVariant, UserId};

/// One permission. A credential carries a set of them ([`Scopes`]); every route requires one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read statuses and their history.
    StatusesRead,
    /// Publish and revoke statuses.
    StatusesWrite,
    /// Read sessions, their state and QR codes.
    SessionsRead,
    /// Create, pair, log out and delete sessions.
    SessionsManage,
    /// Manage webhook endpoints and see their deliveries.
    WebhooksManage,
    /// Manage the tenant's API keys and users.
    KeysManage,
    /// Everything, in every tenant: create tenants and their credentials.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::StatusesRead,
        Scope::StatusesWrite,
        Scope::SessionsRead,
        Scope::SessionsManage,
        Scope::WebhooksManage,
        Scope::KeysManage,
        Scope::Admin,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::StatusesRead => "statuses:read",
            Scope::StatusesWrite => "statuses:write",
            Scope::SessionsRead => "sessions:read",
            Scope::SessionsManage => "sessions:manage",
            Scope::WebhooksManage => "webhooks:manage",
            Scope::KeysManage => "keys:manage",
            Scope::Admin => "admin",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

/// A set of [`Scope`]s. `admin` grants every scope.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scopes(u16);

impl Scopes {
    pub const NONE: Scopes = Scopes(0);

    /// Everything within one tenant: every scope but `admin`. What a new API key gets unless
    /// told otherwise.
    pub const TENANT: Scopes = Scopes::of(&[
        Scope::StatusesRead,
        Scope::StatusesWrite,
        Scope::SessionsRead,
        Scope::SessionsManage,
        Scope::WebhooksManage,
        Scope::KeysManage,
    ]);

    /// What a new user gets unless told otherwise: publishing and sessions, not credentials.
    pub const USER: Scopes = Scopes::of(&[
        Scope::StatusesRead,
        Scope::StatusesWrite,
        Scope::SessionsRead,
        Scope::SessionsManage,
        Scope::WebhooksManage,
    ]);

    pub const fn of(scopes: &[Scope]) -> Scopes {
        let mut bits = 0;
        let mut i = 0;
        while i < scopes.len() {
            bits |= scopes[i].bit();
            i += 1;
        }
        Scopes(bits)
    }

    /// Whether a holder of these scopes may do what `scope` guards.
    pub const fn allows(self, scope: Scope) -> bool {
        self.0 & (scope.bit() | Scope::Admin.bit()) != 0
    }

    /// Whether every scope of `other` is allowed by these: a credential may only hand out
    /// credentials no more powerful than itself.
    pub fn covers(self, other: Scopes) -> bool {
        other.iter().all(|scope| self.allows(scope))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in the set, in [`Scope::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.0 & s.bit() != 0)
    }

    /// Parses scope names; an unknown name is an `invalid_scope` error.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Scopes, InvalidValue> {
        names.iter().try_fold(Scopes::NONE, |set, name| {
            let name = name.as_ref().trim();
            let scope = name.parse::<Scope>().map_err(|_| {
                let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                InvalidValue::new(
                    "scopes",
                    "invalid_scope",
                    format!("{name:?} is not a scope; use {}", known.join(", ")),
                )
            })?;
            Ok(Scopes(set.0 | scope.bit()))
        })
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Scope::as_str)).finish()
    }
}

/// Space-separated scope names, as OAuth writes them.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

/// A password as typed: 8 to 1024 bytes. Its `Debug` output leaves it out.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_BYTES: usize = 1024;

    pub fn new(raw: impl Into<String>) -> Result<Self, InvalidValue> {
        let raw = raw.into();
        if raw.chars().count() < Self::MIN_CHARS || raw.len() > Self::MAX_BYTES {
            return Err(InvalidValue::new(
                "password",
                "invalid_password",
                "a password has at least 8 characters and at most 1024 bytes",
            ));
        }
        Ok(Self(raw))
    }

    /// A password as presented at login, unchecked: refusing a malformed one early would
    /// answer faster, and so tell it apart from a wrong one.
    pub fn presented(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password hash in PHC string format (`$argon2id$v=19$…`), as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A user of a tenant. Users authenticate with a per-user token (a UUID v4, WUTS style) or,
/// when they have a password, with a short-lived JWT from `POST /v1/auth/token`. A user may own
/// one session: the device that `POST /status/media` publishes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub tenant: TenantId,
    /// Also the username for logging in: unique across the server.
    pub name: Name,
    pub scopes: Scopes,
    /// The SHA-256 digest of the per-user token.
    pub token_hash: KeyHash,
    /// The first characters of the token, so a person can tell tokens apart.
    pub token_prefix: String,
    pub password_hash: Option<PasswordHash>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// A disabled user's token and JWTs are refused.
    pub disabled_at: Option<Timestamp>,
}

/// A new user, or a rotated token, together with the token, which exists only in this value.
#[derive(Clone)]
pub struct IssuedUser {
    pub user: User,
    pub token: String,
}

impl fmt::Debug for IssuedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedUser").field("user", &self.user).field("token", &"<redacted>").finish()
    }
}

/// A JWT issued to a user who logged in.
#[derive(Clone)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: chrono::TimeDelta,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("token", &"<redacted>").field("expires_in", &self.expires_in).finish()
    }
}

/// The credential a request presented, by its public identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialId {
    ApiKey(ApiKeyId),
    /// A per-user token.
    UserToken(UserId),
    /// A JWT standing for a user.
    Jwt(UserId),
}

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialId::ApiKey(id) => write!(f, "key:{id}"),
            CredentialId::UserToken(id) => write!(f, "user-token:{id}"),
            CredentialId::Jwt(id) => write!(f, "jwt:{id}"),
        }
    }
}

/// Who is making a request: resolved from a credential, scoped to one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    /// The user behind a per-user token or a JWT; `None` for an API key.
    pub user: Option<UserId>,
    pub credential: CredentialId,
    pub scopes: Scopes,
    /// When the credential stops working, if it does (an API key with an expiry).
    pub expires_at: Option<Timestamp>,
}

impl Principal {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.allows(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_allows_everything_and_nothing_else_does() {
        let admin = Scopes::of(&[Scope::Admin]);
        assert!(Scope::ALL.iter().all(|s| admin.allows(*s)));
        assert!(!Scopes::TENANT.allows(Scope::Admin));
        let reader = Scopes::of(&[Scope::StatusesRead]);
        assert!(reader.allows(Scope::StatusesRead));
        assert!(!reader.allows(Scope::StatusesWrite));
        assert!(!Scopes::NONE.allows(Scope::StatusesRead));
    }

    #[test]
    fn covers_means_no_escalation() {
        assert!(Scopes::TENANT.covers(Scopes::USER));
        assert!(!Scopes::USER.covers(Scopes::TENANT));
        assert!(Scopes::of(&[Scope::Admin]).covers(Scopes::TENANT));
        assert!(!Scopes::TENANT.covers(Scopes::of(&[Scope::Admin])));
    }

    #[test]
    fn scopes_parse_and_print() {
        let scopes = Scopes::parse(&["statuses:write", " sessions:read"]).unwrap();
        assert_eq!(scopes.to_string(), "statuses:write sessions:read");
        assert_eq!(Scopes::parse(&scopes.to_string().split(' ').collect::<Vec<_>>()).unwrap(), scopes);
        assert_eq!(Scopes::parse(&["statuses:delete"]).unwrap_err().code, "invalid_scope");
        assert_eq!(format!("{:?}", Scopes::of(&[Scope::Admin])), "{\"admin\"}");
    }

    #[test]
    fn passwords_have_bounds_and_stay_out_of_logs() {
        assert_eq!(Password::new("short").unwrap_err().code, "invalid_password");
        assert!(Password::new("x".repeat(1025)).is_err());
        let p = Password::new("correct horse").unwrap();
        assert_eq!(p.expose(), "correct horse");
        assert!(!format!("{p:?}").contains("horse"));
    }
}
