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
    /// Sessions, through the running server's API (start it first with `wastatus serve`).
    #[command(subcommand)]
    Session(SessionApiCommand),
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

#[derive(Debug, Subcommand)]
pub enum SessionApiCommand {
    /// Link a session to a phone: shows the QR code to scan (or, with `--phone`, the pairing
    /// code to type) and waits until the phone has linked it.
    Pair(SessionPair),
}

#[derive(Args)]
pub struct SessionPair {
    /// The session to link; create it first (`POST /v1/sessions`).
    #[arg(value_name = "SESSION_ID")]
    pub session: String,
    /// Link by pairing code for this phone number (country code and number, digits only)
    /// instead of by QR code.
    #[arg(long, value_name = "NUMBER")]
    pub phone: Option<String>,
    /// The running server. Default: `http://` and the configured `server.listen`.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// An API key (or another credential) with the sessions:read and sessions:manage scopes.
    /// Prefer `WASTATUS_API_KEY` in the environment, which keeps it out of the shell history.
    #[arg(long, env = "WASTATUS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// How long to wait for the phone, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

/// The API key stays out of `Debug` output.
impl std::fmt::Debug for SessionPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionPair")
            .field("session", &self.session)
            .field("phone", &self.phone)
            .field("server", &self.server)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
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
        let cli = Cli::parse_from(["wastatus", "session", "pair", "session-x", "--phone", "919876543210"]);
        assert!(matches!(cli.command, Command::Session(SessionApiCommand::Pair(_))));
    }

    fn session_pair(args: &[&str]) -> SessionPair {
        let cli = Cli::try_parse_from(args).expect("parses");
        let Command::Session(SessionApiCommand::Pair(pair)) = cli.command else { panic!("not session pair") };
        pair
    }

    #[test]
    fn session_pair_parses() {
        let pair = session_pair(&["wastatus", "session", "pair", "session-x", "--api-key", "wsk_k"]);
        assert_eq!(pair.session, "session-x");
        assert_eq!((pair.phone, pair.server), (None, None));
        assert_eq!((pair.api_key.as_deref(), pair.timeout), (Some("wsk_k"), 300));
        let pair = session_pair(&[
            "wastatus",
            "--config",
            "x.toml",
            "session",
            "pair",
            "session-x",
            "--phone",
            "919876543210",
            "--server",
            "http://127.0.0.1:9000",
            "--timeout",
            "30",
        ]);
        assert_eq!(pair.phone.as_deref(), Some("919876543210"));
        assert_eq!(pair.server.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(pair.timeout, 30);
        assert!(
            !format!("{:?}", session_pair(&["wastatus", "session", "pair", "s", "--api-key", "wsk_secret"]))
                .contains("wsk_secret")
        );
    }

    #[test]
    fn session_pair_refuses_bad_arguments() {
        assert!(Cli::try_parse_from(["wastatus", "session", "pair"]).is_err(), "the session id is required");
        assert!(Cli::try_parse_from(["wastatus", "session", "pair", "s", "--timeout", "0"]).is_err());
        assert!(Cli::try_parse_from(["wastatus", "session", "pair", "s", "--timeout", "soon"]).is_err());
        assert!(Cli::try_parse_from(["wastatus", "session", "pair", "s", "t"]).is_err(), "one session at a time");
    }
}
