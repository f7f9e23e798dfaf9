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
    }
}
