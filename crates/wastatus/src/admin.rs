//! `wastatus admin …`: each command prints one JSON object on stdout.

use anyhow::{Context, anyhow};
use serde_json::json;
use wastatus_domain::service::ErrorCode;
use wastatus_domain::{Name, SessionId, TenantId};

use crate::cli::{AdminCommand, KeyCommand, SessionCommand, TenantCommand};
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
            let name = args.name.map(Name::new).transpose()?;
            let issued = app.tenancy.create_api_key(tenant, name).await.map_err(coded)?;
            json!({
                "id": issued.key.id,
                "tenant_id": issued.key.tenant,
                "name": issued.key.name,
                "key": issued.secret,
                "prefix": issued.key.display_prefix,
                "created_at": issued.key.created_at,
                "note": "store this key now: it is shown once and only its hash is kept",
            })
        }
        AdminCommand::Session(SessionCommand::Create(args)) => {
            let tenant = parse_tenant(&args.tenant)?;
            app.tenancy.tenant(tenant).await.map_err(coded)?;
            let session = app.sessions.register(tenant, SessionId::new(args.id)?).await.map_err(coded)?;
            json!({
                "id": session.key.id,
                "tenant_id": session.key.tenant,
                "state": session.state.as_str(),
                "created_at": session.created_at,
            })
        }
    };
    println!("{output}");
    Ok(())
}

fn parse_tenant(raw: &str) -> anyhow::Result<TenantId> {
    raw.parse().with_context(|| format!("{raw:?} is not a tenant id"))
}

/// A use-case error as `code: message`, so scripts can match on the code.
fn coded<E: ErrorCode + std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("{}: {e}", e.code())
}
