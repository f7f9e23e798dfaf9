//! `wastatus admin …`: each command prints one JSON object on stdout.

use anyhow::{Context, anyhow};
use serde_json::json;
use wastatus_domain::service::{ErrorCode, NewApiKey, NewUser};
use wastatus_domain::{Name, Password, Scopes, SessionId, TenantId, UserId};

use crate::cli::{AdminCommand, KeyCommand, SessionCommand, TenantCommand, UserCommand};
use crate::config::Config;
use crate::wiring::{self, DriverUse};

pub async fn run(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    let app = wiring::build(config, DriverUse::None).await?;
    let output = match command {
        AdminCommand::Tenant(TenantCommand::Create { name }) => {
            let tenant = app.tenancy.create_tenant(Name::new(name)?).await.map_err(coded)?;
            json!({ "id": tenant.id, "name": tenant.name, "created_at": tenant.created_at })
        }
        AdminCommand::Key(KeyCommand::Create(args)) => {
            let tenant = parse_tenant(&args.tenant)?;
            let new = NewApiKey {
                name: args.name.map(Name::new).transpose()?,
                scopes: scopes(&args.scopes, Scopes::TENANT)?,
                expires_at: args.expires_at,
            };
            let issued = app.tenancy.create_api_key(tenant, new, None).await.map_err(coded)?;
            json!({
                "id": issued.key.id,
                "tenant_id": issued.key.tenant,
                "name": issued.key.name,
                "key": issued.secret,
                "prefix": issued.key.display_prefix,
                "scopes": scope_names(issued.key.scopes),
                "expires_at": issued.key.expires_at,
                "created_at": issued.key.created_at,
                "note": "store this key now: it is shown once and only its hash is kept",
            })
        }
        AdminCommand::User(UserCommand::Create(args)) => {
            let tenant = parse_tenant(&args.tenant)?;
            let new = NewUser {
                name: Name::new(args.name)?,
                password: args.password.map(Password::new).transpose()?,
                scopes: scopes(&args.scopes, Scopes::USER)?,
            };
            let issued = app.tenancy.create_user(tenant, new, None).await.map_err(coded)?;
            let user = &issued.user;
            json!({
                "id": user.id,
                "tenant_id": user.tenant,
                "name": user.name,
                "token": issued.token,
                "token_prefix": user.token_prefix,
                "scopes": scope_names(user.scopes),
                "has_password": user.password_hash.is_some(),
                "created_at": user.created_at,
                "note": "store this token now: it is shown once and only its hash is kept",
            })
        }
        AdminCommand::Session(SessionCommand::Create(args)) => {
            let tenant = parse_tenant(&args.tenant)?;
            app.tenancy.tenant(tenant).await.map_err(coded)?;
            let owner = args
                .user
                .as_deref()
                .map(|raw| raw.parse::<UserId>().with_context(|| format!("{raw:?} is not a user id")))
                .transpose()?;
            let session = app.sessions.register(tenant, SessionId::new(args.id)?, owner).await.map_err(coded)?;
            json!({
                "id": session.key.id,
                "tenant_id": session.key.tenant,
                "user_id": session.owner,
                "state": session.state.as_str(),
                "created_at": session.created_at,
            })
        }
    };
    println!("{output}");
    Ok(())
}

/// The scopes named on the command line, or `default` when none is.
fn scopes(names: &[String], default: Scopes) -> anyhow::Result<Scopes> {
    if names.is_empty() { Ok(default) } else { Ok(Scopes::parse(names)?) }
}

fn scope_names(scopes: Scopes) -> Vec<&'static str> {
    scopes.iter().map(|s| s.as_str()).collect()
}

fn parse_tenant(raw: &str) -> anyhow::Result<TenantId> {
    raw.parse().with_context(|| format!("{raw:?} is not a tenant id"))
}

/// A use-case error as `code: message`, so scripts can match on the code.
fn coded<E: ErrorCode + std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("{}: {e}", e.code())
}
