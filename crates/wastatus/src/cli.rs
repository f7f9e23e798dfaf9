//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A self-hosted REST gateway that publishes WhatsApp Status updates.
#[derive(Debug, Parser)]
#[command(name = "wastatus", version, about)]
pub struct Cli {
    /// A TOML configuration file; `wastatus.toml` in the working directory is read if present.
    /// Environment variables `WASTATUS__<SECTION>__<KEY>` override it.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Administration; each command prints one JSON object.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Users, with their per-user tokens.
    #[command(subcommand)]
    User(UserCommand),
    /// Sessions.
    #[command(subcommand)]
    Session(SessionCommand),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; the key is printed once and only its hash is stored.
    Create(KeyCreate),
}

#[derive(Debug, Args)]
pub struct KeyCreate {
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: String,
    #[arg(long)]
    pub name: Option<String>,
    /// A scope to grant (repeatable): statuses:read, statuses:write, sessions:read,
    /// sessions:manage, webhooks:manage, keys:manage, admin. Default: all but admin.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// When the key stops working, as RFC 3339 (e.g. 2027-01-31T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; its per-user token is printed once and only its hash is stored.
    Create(UserCreate),
}

#[derive(Args)]
pub struct UserCreate {
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: String,
    /// Also the username for `POST /v1/auth/token`; unique on the server.
    #[arg(long)]
    pub name: String,
    /// Lets the user log in for a JWT. Prefer `WASTATUS_USER_PASSWORD` in the environment,
    /// which keeps it out of the shell history.
    #[arg(long, env = "WASTATUS_USER_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// A scope to grant (repeatable). Default: statuses, sessions and webhooks.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
}

/// The password stays out of `Debug` output.
impl std::fmt::Debug for UserCreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCreate")
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("scopes", &self.scopes)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Create a session; the server starts it on boot or first use.
    Create(SessionCreate),
}

#[derive(Debug, Args)]
pub struct SessionCreate {
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: String,
    #[arg(long, value_name = "SESSION_ID")]
    pub id: String,
    /// Makes the session this user's device (the one `POST /status/media` publishes through).
    #[arg(long, value_name = "USER_ID")]
    pub user: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn contract_commands_parse() {
        let cli = Cli::parse_from(["wastatus", "admin", "key", "create", "--tenant", "t", "--name", "n"]);
        assert!(matches!(cli.command, Command::Admin(AdminCommand::Key(KeyCommand::Create(_)))));
        let cli = Cli::parse_from(["wastatus", "--config", "x.toml", "serve"]);
        assert_eq!(cli.config.as_deref(), Some(std::path::Path::new("x.toml")));
        let cli = Cli::parse_from(["wastatus", "admin", "session", "create", "--tenant", "t", "--id", "s"]);
        assert!(matches!(cli.command, Command::Admin(AdminCommand::Session(SessionCommand::Create(_)))));
        let cli =
            Cli::parse_from(["wastatus", "admin", "session", "create", "--tenant", "t", "--id", "s", "--user", "u"]);
        let Command::Admin(AdminCommand::Session(SessionCommand::Create(args))) = cli.command else { panic!() };
        assert_eq!(args.user.as_deref(), Some("u"));
        let cli = Cli::parse_from([
            "wastatus",
            "admin",
            "user",
            "create",
            "--tenant",
            "t",
            "--name",
            "ana",
            "--password",
            "pw",
            "--scope",
            "statuses:write",
            "--scope",
            "sessions:read",
        ]);
        let Command::Admin(AdminCommand::User(UserCommand::Create(args))) = cli.command else { panic!() };
        assert_eq!((args.name.as_str(), args.password.as_deref()), ("ana", Some("pw")));
        assert_eq!(args.scopes, ["statuses:write", "sessions:read"]);
        let cli = Cli::parse_from(["wastatus", "admin", "key", "create", "--tenant", "t", "--scope", "admin"]);
        let Command::Admin(AdminCommand::Key(KeyCommand::Create(args))) = cli.command else { panic!() };
        assert_eq!(args.scopes, ["admin"]);
    }
}
