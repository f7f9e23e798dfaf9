//! Configuration: built-in defaults < TOML file < `WASTATUS__<SECTION>__<KEY>` environment
//! variables. Unknown keys are errors, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use wastatus_auth::JwtConfig;
use wastatus_media::MediaConfig;

const DEFAULT_FILE: &str = "wastatus.toml";

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: Server,
    pub database: Database,
    pub whatsapp: WhatsApp,
    pub auth: Auth,
    /// The media adapter's limits and switches, read as they are (see `wastatus_media::MediaConfig`).
    pub media: MediaConfig,
    /// Webhook delivery, read as it is (see `wastatus_webhooks::WebhookConfig` and docs/WEBHOOKS.md).
    pub webhooks: wastatus_webhooks::WebhookConfig,
    pub limits: Limits,
    pub jobs: Jobs,
    pub log: Log,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// Bind address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Seconds a request may take before it is answered with `request_timeout`.
    pub request_timeout_secs: u64,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM.
    pub shutdown_grace_secs: u64,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit: 256 * 1024,
            request_timeout_secs: 60,
            shutdown_grace_secs: 10,
        }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    /// `sqlite://…` or `postgres://…`.
    pub url: String,
}

/// The URL may hold a password: `Debug` shows it redacted.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("url", &crate::wiring::redact(&self.url)).finish()
    }
}

impl Default for Database {
    fn default() -> Self {
        Self { url: "sqlite://wastatus.db?mode=rwc".to_owned() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// The real WhatsApp Web multi-device driver.
    #[default]
    Web,
    /// A local simulation, for tests and demos.
    Sandbox,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhatsApp {
    pub driver: Driver,
    /// Where the sandbox driver keeps its journal (linked sessions, sent messages), so that
    /// its state survives a restart. One directory per process.
    pub sandbox_dir: std::path::PathBuf,
    /// Where the web driver keeps each linked device's keys and its send journal. One
    /// directory per process: two processes on the same devices would replace each other.
    pub web_dir: std::path::PathBuf,
    /// Seconds a media upload to WhatsApp may take.
    pub upload_timeout_secs: u64,
    /// Seconds to wait for WhatsApp's acknowledgement of each status stanza sent.
    pub ack_timeout_secs: u64,
    /// Seconds `POST …/pair` waits for the first QR code or pairing code.
    pub pair_wait_secs: u64,
    /// The most recipients the web driver encrypts one status stanza to (at least 1). A larger
    /// audience is sent in chunks of this size, one after the other under the same message id,
    /// each acknowledged by WhatsApp before the next goes; a send therefore takes longer as the
    /// audience grows.
    pub status_chunk_size: usize,
}

impl Default for WhatsApp {
    fn default() -> Self {
        Self {
            driver: Driver::default(),
            sandbox_dir: "wastatus-sandbox".into(),
            web_dir: "wastatus-web".into(),
            upload_timeout_secs: 60,
            ack_timeout_secs: 20,
            pair_wait_secs: 15,
            status_chunk_size: 1_000,
        }
    }
}

/// How statuses are run as jobs.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Jobs {
    /// Queued statuses sent at once by this process.
    pub concurrency: usize,
    /// The longest wait, in milliseconds, before a status queued by another process is seen.
    pub poll_interval_ms: u64,
    /// How often, in seconds, interrupted sends are looked for.
    pub recover_every_secs: u64,
    /// How long, in seconds, a status being sent belongs to the process sending it; after
    /// that (the process died) another settles it. Must exceed the longest send.
    pub lease_secs: u64,
    /// Attempts a queued status gets in all (transient failures only are retried).
    pub max_attempts: u32,
    /// Seconds before the second attempt; doubles with each attempt up to `retry_max_secs`.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// How long, in seconds, a publish sent at once is waited for before the answer is `202`
    /// (`0`: never waited for; the answer is always `202` once the status is stored).
    pub sync_wait_secs: u64,
}

impl Default for Jobs {
    fn default() -> Self {
        Self {
            concurrency: 8,
            poll_interval_ms: 1000,
            recover_every_secs: 30,
            lease_secs: 300,
            max_attempts: 5,
            retry_base_secs: 5,
            retry_max_secs: 600,
            sync_wait_secs: 30,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    /// JWTs: `secret` (HS256; JWT authentication is off while it and `public_keys` are unset),
    /// `issuer`, `audience`, `ttl_secs`, `leeway_secs`, `public_keys`.
    pub jwt: JwtConfig,
}

/// Protective limits. `0` turns a limit off.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Requests per minute per credential (API key, user token or JWT user).
    pub requests_per_minute: u32,
    /// Requests a credential may send at once before the per-minute rate applies.
    pub request_burst: u32,
    /// Login attempts per minute per username.
    pub logins_per_minute: u32,
    /// Statuses per minute per session. Unset: 6 with the `web` driver (a pace that keeps
    /// numbers clear of WhatsApp's spam heuristics), off with the `sandbox` driver.
    pub statuses_per_minute: Option<u32>,
    /// Statuses a session may publish at once before the per-minute pace applies.
    pub status_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            requests_per_minute: 600,
            request_burst: 60,
            logins_per_minute: 10,
            statuses_per_minute: None,
            status_burst: 3,
        }
    }
}

impl Limits {
    /// The pace for publishing with `driver`: `None` when off.
    pub fn statuses_per_minute(&self, driver: Driver) -> Option<u32> {
        let per_minute = self.statuses_per_minute.unwrap_or(match driver {
            Driver::Web => 6,
            Driver::Sandbox => 0,
        });
        (per_minute > 0).then_some(per_minute)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `wastatus=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".to_owned() }
    }
}

impl Config {
    /// Loads the configuration: `explicit` must exist; otherwise `wastatus.toml` in the working
    /// directory is read if present.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_from(explicit, std::env::vars())
    }

    fn load_from(explicit: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder();
        builder = match explicit {
            Some(path) => builder.add_source(config::File::from(path).format(config::FileFormat::Toml).required(true)),
            None => builder.add_source(config::File::new(DEFAULT_FILE, config::FileFormat::Toml).required(false)),
        };
        let env: config::Map<String, String> = env.into_iter().collect();
        builder = builder.add_source(
            config::Environment::with_prefix("WASTATUS")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        let config = builder.build().context("reading the configuration")?;
        config.try_deserialize().context("invalid configuration")
    }
}

/// Logs go to stderr, so stdout carries only what scripts read (the `listening on` line and
/// admin JSON).
pub fn init_logging(log: &Log) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use secrecy::ExposeSecret;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::load_from(Some(&write_toml("")), env(&[])).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://wastatus.db?mode=rwc");
        assert_eq!(c.whatsapp.driver, Driver::Web);
        assert!(c.auth.jwt.secret.is_none());
        assert!(!c.media.allow_private_networks && !c.media.allow_http && !c.webhooks.allow_private_networks);
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = write_toml("[server]\nlisten = \"127.0.0.1:9000\"\n[whatsapp]\ndriver = \"web\"\n");
        let c = Config::load_from(
            Some(&file),
            env(&[
                ("WASTATUS__WHATSAPP__DRIVER", "sandbox"),
                ("WASTATUS__DATABASE__URL", "postgres://u@127.0.0.1/db"),
                ("WASTATUS__MEDIA__ALLOW_HTTP", "true"),
                ("WASTATUS__AUTH__JWT__SECRET", "0123456789abcdef0123456789abcdef"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:9000", "the file applies where env is silent");
        assert_eq!(c.whatsapp.driver, Driver::Sandbox);
        assert_eq!(c.database.url, "postgres://u@127.0.0.1/db");
        assert!(c.media.allow_http);
        assert_eq!(c.media.max_video_seconds, 60, "unset media keys keep their defaults");
        assert_eq!(c.auth.jwt.secret.as_ref().unwrap().expose_secret(), "0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn the_status_chunk_size_is_read_and_the_old_audience_key_is_refused() {
        assert_eq!(Config::load_from(Some(&write_toml("")), env(&[])).unwrap().whatsapp.status_chunk_size, 1000);
        let c = Config::load_from(Some(&write_toml("[whatsapp]\nstatus_chunk_size = 250\n")), env(&[])).unwrap();
        assert_eq!(c.whatsapp.status_chunk_size, 250);
        // Audiences come with each status now.
        assert!(Config::load_from(Some(&write_toml("[whatsapp]\naudience = [\"+15550100001\"]\n")), env(&[])).is_err());
    }

    #[test]
    fn media_keys_reach_the_media_adapter() {
        let file = write_toml("[media]\nfetch_timeout_secs = 7\nmax_image_edge = 1600\n");
        let c = Config::load_from(Some(&file), env(&[("WASTATUS__MEDIA__MAX_VIDEO_SECONDS", "30")])).unwrap();
        assert_eq!(c.media.fetch_timeout, std::time::Duration::from_secs(7));
        assert_eq!((c.media.max_image_edge, c.media.max_video_seconds), (1600, 30));
        assert_eq!(c.media.max_redirects, 5, "the rest keeps its defaults");
        assert!(Config::load_from(Some(&write_toml("[media]\nmax_video_secs = 30\n")), env(&[])).is_err());
    }

    #[test]
    fn the_publish_pace_is_on_for_web_and_off_for_the_sandbox_unless_configured() {
        let c = Config::load_from(Some(&write_toml("")), env(&[])).unwrap();
        assert_eq!(c.limits.statuses_per_minute(Driver::Web), Some(6));
        assert_eq!(c.limits.statuses_per_minute(Driver::Sandbox), None);
        let c =
            Config::load_from(Some(&write_toml("")), env(&[("WASTATUS__LIMITS__STATUSES_PER_MINUTE", "2")])).unwrap();
        assert_eq!(c.limits.statuses_per_minute(Driver::Sandbox), Some(2));
        let c = Config::load_from(Some(&write_toml("[limits]\nstatuses_per_minute = 0\n")), env(&[])).unwrap();
        assert_eq!(c.limits.statuses_per_minute(Driver::Web), None);
        assert_eq!(c.limits.requests_per_minute, 600);
    }

    #[test]
    fn port_zero_is_accepted() {
        let c = Config::load_from(Some(&write_toml("")), env(&[("WASTATUS__SERVER__LISTEN", "127.0.0.1:0")])).unwrap();
        assert_eq!(c.server.listen.port(), 0);
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        assert!(Config::load_from(Some(&write_toml("[server]\nlisten_addr = \"x\"\n")), env(&[])).is_err());
        assert!(Config::load_from(Some(&write_toml("")), env(&[("WASTATUS__WHATSAPP__DRIVER", "selenium")])).is_err());
        assert!(Config::load_from(Some(&write_toml("")), env(&[("WASTATUS__SERVER__LISTEN", "nowhere")])).is_err());
    }

    #[test]
    fn an_explicit_file_must_exist() {
        assert!(Config::load_from(Some(Path::new("/nonexistent/wastatus.toml")), env(&[])).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let file = write_toml("[auth.jwt]\nsecret = \"hunter2\"\n[database]\nurl = \"postgres://u:swordfish@db/wa\"\n");
        let c = Config::load_from(Some(&file), env(&[])).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{c:?}").contains("swordfish"));
    }

    fn write_toml(content: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("wastatus-config-{}.toml", uuid::Uuid::new_v4()));
        std::fs::File::create(&path).unwrap().write_all(content.as_bytes()).unwrap();
        path
    }
}
