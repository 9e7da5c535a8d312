//! Configuration from environment variables, validated once at start.

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::crypto::DataKeys;
use crate::db::DatabaseUrl;

/// Shorter HS256 keys can be brute-forced offline from a single token.
pub const MIN_JWT_SECRET_BYTES: usize = 32;
const JWT_SECRET_FILE: &str = "jwt-secret";
const DATA_KEY_FILE: &str = "data-key";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database_url: DatabaseUrl,
    pub bind: SocketAddr,
    pub jwt_secret: Vec<u8>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub pool_size: u32,
    pub body_limit: usize,
    pub workers: usize,
    /// Seals narratives at rest (AES-256-GCM).
    pub data_keys: DataKeys,
    pub login_throttle: LoginThrottle,
    /// Origins allowed to call the API from a browser; none by default.
    pub cors_origins: Vec<String>,
    /// Time allowed to receive a request's headers, and to get a database connection.
    pub request_timeout: Duration,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_proxy: bool,
    /// Days after a month ends before its partner release is built.
    pub release_lag_days: u32,
    /// Privacy-loss budget ε of each monthly partner release.
    pub partner_epsilon: f64,
    /// Build due releases on start and hourly in the background (tests build explicitly).
    pub release_builder: bool,
    /// Proxies of ours in front of the service: the client address is the entry
    /// the outermost of them appended, the `trusted_proxy_hops`-th from the right.
    pub trusted_proxy_hops: usize,
    /// Requests each service account may make per window, across every instance.
    pub client_rate_limit: ClientRateLimit,
    pub attachments: AttachmentLimits,
    /// Who may read `GET /metrics`.
    pub metrics: MetricsAccess,
    pub webhooks: WebhookSettings,
}

/// Who may read `GET /metrics`.
#[derive(Clone, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Anyone: development without `BASEWATCH_METRICS_TOKEN`.
    Open,
    /// Whoever sends `Authorization: Bearer` with this token.
    Token(String),
    /// Nobody (404): production without `BASEWATCH_METRICS_TOKEN`.
    Off,
}

impl fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Open => "Open",
            Self::Token(_) => "Token(***)",
            Self::Off => "Off",
        })
    }
}

/// The webhook worker and its outbound requests (`webhooks`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WebhookSettings {
    /// Allow http and loopback, private and link-local targets (tests, scripts).
    pub allow_private: bool,
    /// Run the delivery worker inside `serve`.
    pub worker: bool,
    /// How often the worker looks for due deliveries.
    pub poll_interval: Duration,
    /// How long a worker's claim on a delivery lasts: a killed instance's
    /// claims are taken over after it.
    pub lease: Duration,
    /// Multiplies the retry schedule (1.0 in service; tests shrink it).
    pub retry_scale: f64,
    pub connect_timeout: Duration,
    /// The whole request, response body included.
    pub response_timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            worker: true,
            poll_interval: Duration::from_millis(250),
            lease: Duration::from_secs(60),
            retry_scale: 1.0,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(15),
        }
    }
}

/// How large and how many attachments are taken, and how many are cleaned at
/// once (each held whole in memory while it is cleaned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttachmentLimits {
    pub max_bytes: usize,
    pub per_incident: i64,
    pub cleaning_at_once: usize,
    /// Uploads one account may have arriving at once.
    pub receiving_per_account: usize,
    /// Uploads arriving at once, all accounts together.
    pub receiving_at_once: usize,
}

impl Default for AttachmentLimits {
    fn default() -> Self {
        Self {
            max_bytes: 25 << 20,
            per_incident: 20,
            cleaning_at_once: 2,
            receiving_per_account: 2,
            receiving_at_once: 32,
        }
    }
}

/// A fixed-window request limit per API client (service account).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientRateLimit {
    pub requests: u32,
    pub window: Duration,
}

impl Default for ClientRateLimit {
    fn default() -> Self {
        Self {
            requests: 600,
            window: Duration::from_secs(60),
        }
    }
}

/// Failed sign-ins allowed in a sliding window, per account and per client address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginThrottle {
    pub per_account: u32,
    pub per_address: u32,
    pub window: Duration,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 20,
            window: Duration::from_secs(900),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("environment", &self.environment)
            .field("database_url", &self.database_url.display())
            .field("bind", &self.bind)
            .field("jwt_secret", &"***")
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("pool_size", &self.pool_size)
            .field("body_limit", &self.body_limit)
            .field("workers", &self.workers)
            .field("data_keys", &self.data_keys)
            .field("login_throttle", &self.login_throttle)
            .field("cors_origins", &self.cors_origins)
            .field("request_timeout", &self.request_timeout)
            .field("trust_proxy", &self.trust_proxy)
            .field("release_lag_days", &self.release_lag_days)
            .field("partner_epsilon", &self.partner_epsilon)
            .field("release_builder", &self.release_builder)
            .field("trusted_proxy_hops", &self.trusted_proxy_hops)
            .field("attachments", &self.attachments)
            .field("client_rate_limit", &self.client_rate_limit)
            .field("metrics", &self.metrics)
            .field("webhooks", &self.webhooks)
            .finish()
    }
}

/// Every variable Basewatch reads, with its default, for `--help` and the README.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (
        "BASEWATCH_ENV",
        "development",
        "`development` or `production` (JSON logs, strict secrets)",
    ),
    (
        "DATABASE_URL",
        "sqlite://{BASEWATCH_DATA_DIR}/basewatch.db",
        "`sqlite://path` or `postgres://user:pass@host/db`",
    ),
    (
        "BASEWATCH_DATA_DIR",
        "./data",
        "where the SQLite file and the development JWT secret and data key live",
    ),
    (
        "BASEWATCH_BIND",
        "127.0.0.1:8080",
        "address and port to listen on",
    ),
    (
        "BASEWATCH_JWT_SECRET",
        "generated in development",
        "HS256 key, at least 32 bytes; required in production",
    ),
    (
        "BASEWATCH_ACCESS_TOKEN_TTL",
        "900",
        "access token lifetime, seconds",
    ),
    (
        "BASEWATCH_REFRESH_TOKEN_TTL",
        "1209600",
        "refresh token lifetime, seconds (14 days)",
    ),
    (
        "BASEWATCH_DB_POOL_SIZE",
        "10",
        "database connections in the pool",
    ),
    (
        "BASEWATCH_MAX_BODY_BYTES",
        "1048576",
        "largest request body accepted",
    ),
    (
        "BASEWATCH_WORKERS",
        "number of CPU cores",
        "HTTP worker threads",
    ),
    (
        "BASEWATCH_DATA_KEY",
        "generated in development",
        "AES-256 key sealing narratives, comments and override reasons at rest and keying content hashes, 64 hex characters; required in production",
    ),
    (
        "BASEWATCH_RETIRED_DATA_KEYS",
        "none",
        "comma-separated former data keys, still read until `basewatch rotate-data-key` has run",
    ),
    (
        "BASEWATCH_LOGIN_MAX_FAILURES",
        "5",
        "failed sign-ins per account in the window before 429",
    ),
    (
        "BASEWATCH_LOGIN_MAX_FAILURES_PER_ADDRESS",
        "20",
        "failed sign-ins per client address in the window before 429",
    ),
    (
        "BASEWATCH_LOGIN_WINDOW",
        "900",
        "sliding window of the sign-in throttle, seconds",
    ),
    (
        "BASEWATCH_CORS_ORIGINS",
        "none",
        "comma-separated origins allowed to call the API from a browser",
    ),
    (
        "BASEWATCH_REQUEST_TIMEOUT",
        "30",
        "seconds a client gets to send its request head (408 after)",
    ),
    (
        "BASEWATCH_TRUST_PROXY",
        "false",
        "`true` behind a reverse proxy: the client address comes from X-Forwarded-For",
    ),
    (
        "BASEWATCH_RELEASE_LAG_DAYS",
        "14",
        "days after a month ends before its partner release is built (0 to 365)",
    ),
    (
        "BASEWATCH_PARTNER_EPSILON",
        "1.0",
        "privacy-loss budget ε of each monthly partner release (0.01 to 10)",
    ),
    (
        "BASEWATCH_RELEASE_BUILDER",
        "true",
        "`false`: do not build due releases on start and hourly (run `basewatch release build`)",
    ),
    (
        "BASEWATCH_TRUSTED_PROXY_HOPS",
        "1",
        "with BASEWATCH_TRUST_PROXY, how many proxies of yours append to X-Forwarded-For: the client is the entry this many places from the right",
    ),
    (
        "BASEWATCH_CLIENT_RATE_LIMIT",
        "600",
        "requests each service account may make per window, shared by every instance (429 after)",
    ),
    (
        "BASEWATCH_CLIENT_RATE_WINDOW",
        "60",
        "the service-account request window, seconds",
    ),
    (
        "BASEWATCH_METRICS_TOKEN",
        "none",
        "bearer token for GET /metrics, at least 32 characters; without it /metrics is open in development and answers 404 in production",
    ),
    (
        "BASEWATCH_WORKER",
        "true",
        "`false`: `serve` runs no webhook delivery worker (run `basewatch worker` beside it)",
    ),
    (
        "BASEWATCH_WEBHOOK_ALLOW_PRIVATE",
        "false",
        "`true`: webhooks may target http and loopback, private and link-local addresses (tests only)",
    ),
    (
        "BASEWATCH_WEBHOOK_POLL_MS",
        "250",
        "how often the webhook worker looks for due deliveries, milliseconds (10 to 60000)",
    ),
    (
        "BASEWATCH_WEBHOOK_LEASE_SECS",
        "60",
        "how long a worker's claim on a delivery lasts before another instance may take it over (20 to 3600)",
    ),
    ("RUST_LOG", "info", "log filter (tracing EnvFilter syntax)"),
];

/// Reads the environment. In development a missing JWT secret is generated once
/// and kept in the data folder (mode 0600); in production it must be given.
pub fn from_env() -> Result<Settings, String> {
    Settings::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

/// The database URL alone, for commands that need nothing else.
pub fn database_url_from_env() -> Result<DatabaseUrl, String> {
    let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let data_dir = PathBuf::from(lookup("BASEWATCH_DATA_DIR").unwrap_or_else(|| "./data".into()));
    database_url(&lookup, &data_dir).map_err(|e| format!("DATABASE_URL: {e}"))
}

fn database_url(
    lookup: &impl Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> Result<DatabaseUrl, String> {
    match lookup("DATABASE_URL") {
        Some(url) => DatabaseUrl::parse(&url),
        None => Ok(DatabaseUrl::Sqlite(data_dir.join("basewatch.db"))),
    }
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut errors = Vec::new();
        let mut check = |name: &str, result: Result<(), String>| {
            if let Err(e) = result {
                errors.push(format!("  {name}: {e}"));
            }
        };

        let environment = match lookup("BASEWATCH_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                check(
                    "BASEWATCH_ENV",
                    Err(format!("{other:?} is neither development nor production")),
                );
                Environment::Development
            }
        };
        let data_dir =
            PathBuf::from(lookup("BASEWATCH_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = database_url(&lookup, &data_dir)
            .map_err(|e| check("DATABASE_URL", Err(e)))
            .ok();
        let bind = lookup("BASEWATCH_BIND")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse::<SocketAddr>()
            .map_err(|e| {
                check(
                    "BASEWATCH_BIND",
                    Err(format!("{e}; expected host:port, e.g. 0.0.0.0:8080")),
                )
            })
            .ok();
        let mut number = |name: &str, default: u64, min: u64, max: u64| -> u64 {
            let Some(raw) = lookup(name) else {
                return default;
            };
            match raw.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    check(
                        name,
                        Err(format!("{raw:?} is not a whole number from {min} to {max}")),
                    );
                    default
                }
            }
        };
        let access_token_ttl =
            Duration::from_secs(number("BASEWATCH_ACCESS_TOKEN_TTL", 900, 30, 86_400));
        let refresh_token_ttl = Duration::from_secs(number(
            "BASEWATCH_REFRESH_TOKEN_TTL",
            1_209_600,
            300,
            31_536_000,
        ));
        let pool_size = number("BASEWATCH_DB_POOL_SIZE", 10, 1, 500) as u32;
        let body_limit = number("BASEWATCH_MAX_BODY_BYTES", 1 << 20, 1024, 1 << 30) as usize;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u64);
        let workers = number("BASEWATCH_WORKERS", cores, 1, 256) as usize;
        let login_throttle = LoginThrottle {
            per_account: number("BASEWATCH_LOGIN_MAX_FAILURES", 5, 1, 1000) as u32,
            per_address: number("BASEWATCH_LOGIN_MAX_FAILURES_PER_ADDRESS", 20, 1, 100_000) as u32,
            window: Duration::from_secs(number("BASEWATCH_LOGIN_WINDOW", 900, 1, 86_400)),
        };
        let client_rate_limit = ClientRateLimit {
            requests: number("BASEWATCH_CLIENT_RATE_LIMIT", 600, 1, 1_000_000) as u32,
            window: Duration::from_secs(number("BASEWATCH_CLIENT_RATE_WINDOW", 60, 1, 86_400)),
        };
        let request_timeout = Duration::from_secs(number("BASEWATCH_REQUEST_TIMEOUT", 30, 1, 3600));
        let defaults = AttachmentLimits::default();
        let attachments = AttachmentLimits {
            max_bytes: number(
                "BASEWATCH_MAX_ATTACHMENT_BYTES",
                defaults.max_bytes as u64,
                1,
                1 << 30,
            ) as usize,
            per_incident: number(
                "BASEWATCH_MAX_ATTACHMENTS_PER_INCIDENT",
                defaults.per_incident as u64,
                1,
                10_000,
            ) as i64,
            cleaning_at_once: number(
                "BASEWATCH_ATTACHMENT_CLEANERS",
                defaults.cleaning_at_once as u64,
                1,
                64,
            ) as usize,
            receiving_per_account: number(
                "BASEWATCH_UPLOADS_PER_ACCOUNT",
                defaults.receiving_per_account as u64,
                1,
                64,
            ) as usize,
            receiving_at_once: number(
                "BASEWATCH_UPLOADS_AT_ONCE",
                defaults.receiving_at_once as u64,
                1,
                4096,
            ) as usize,
        };
        let release_lag_days = number("BASEWATCH_RELEASE_LAG_DAYS", 14, 0, 365) as u32;
        let trusted_proxy_hops = number("BASEWATCH_TRUSTED_PROXY_HOPS", 1, 1, 16) as usize;
        let webhook_poll =
            Duration::from_millis(number("BASEWATCH_WEBHOOK_POLL_MS", 250, 10, 60_000));
        let webhook_lease =
            Duration::from_secs(number("BASEWATCH_WEBHOOK_LEASE_SECS", 60, 20, 3600));
        let mut flag = |name: &str, default: bool| -> bool {
            match lookup(name).as_deref() {
                None => default,
                Some("true") => true,
                Some("false") => false,
                Some(other) => {
                    check(name, Err(format!("{other:?} is neither true nor false")));
                    default
                }
            }
        };
        let trust_proxy = flag("BASEWATCH_TRUST_PROXY", false);
        let release_builder = flag("BASEWATCH_RELEASE_BUILDER", true);
        let webhooks = WebhookSettings {
            allow_private: flag("BASEWATCH_WEBHOOK_ALLOW_PRIVATE", false),
            worker: flag("BASEWATCH_WORKER", true),
            poll_interval: webhook_poll,
            lease: webhook_lease,
            ..WebhookSettings::default()
        };
        let partner_epsilon = match lookup("BASEWATCH_PARTNER_EPSILON") {
            None => 1.0,
            Some(raw) => match raw.parse::<f64>() {
                Ok(e) if (0.01..=10.0).contains(&e) => e,
                _ => {
                    check(
                        "BASEWATCH_PARTNER_EPSILON",
                        Err(format!("{raw:?} is not a number from 0.01 to 10")),
                    );
                    1.0
                }
            },
        };
        let mut cors_origins = Vec::new();
        for origin in lookup("BASEWATCH_CORS_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            if (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.ends_with('/')
                && origin != "*"
            {
                cors_origins.push(origin.to_owned());
            } else {
                check(
                    "BASEWATCH_CORS_ORIGINS",
                    Err(format!(
                        "{origin:?} is not an origin like https://dashboard.example.org (scheme and host, no path, no wildcard)"
                    )),
                );
            }
        }
        let retired: Vec<String> = lookup("BASEWATCH_RETIRED_DATA_KEYS")
            .unwrap_or_default()
            .split(',')
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        let current_data_key = match (lookup("BASEWATCH_DATA_KEY"), environment) {
            (Some(key), _) => Some(key),
            (None, Environment::Production) => {
                check(
                    "BASEWATCH_DATA_KEY",
                    Err("is required in production (64 hex characters, e.g. `openssl rand -hex 32`)".into()),
                );
                None
            }
            (None, Environment::Development) => load_or_create_dev_key(
                &data_dir,
                DATA_KEY_FILE,
                crate::crypto::KEY_HEX_CHARS,
                DataKeys::generate_hex,
            )
            .map_err(|e| check("BASEWATCH_DATA_KEY", Err(e)))
            .ok(),
        };
        let data_keys = current_data_key.and_then(|key| {
            let retired: Vec<&str> = retired.iter().map(String::as_str).collect();
            DataKeys::parse(&key, &retired)
                .map_err(|e| match e.strip_prefix("retired key: ") {
                    Some(why) => check("BASEWATCH_RETIRED_DATA_KEYS", Err(why.to_owned())),
                    None => check("BASEWATCH_DATA_KEY", Err(e)),
                })
                .ok()
        });

        let jwt_secret = match (lookup("BASEWATCH_JWT_SECRET"), environment) {
            // Every mode: a development server reachable on a network with a short
            // key hands out forgeable admin tokens just the same.
            (Some(secret), _) if secret.len() < MIN_JWT_SECRET_BYTES => {
                check(
                    "BASEWATCH_JWT_SECRET",
                    Err(format!(
                        "is {} bytes; at least {MIN_JWT_SECRET_BYTES} random bytes are needed \
                         (e.g. `openssl rand -hex 32`), or leave it unset in development to \
                         have one generated",
                        secret.len()
                    )),
                );
                None
            }
            (Some(secret), _) => Some(secret.into_bytes()),
            (None, Environment::Production) => {
                check(
                    "BASEWATCH_JWT_SECRET",
                    Err("is required in production (at least 32 random bytes, e.g. `openssl rand -hex 32`)".into()),
                );
                None
            }
            (None, Environment::Development) => {
                load_or_create_dev_key(&data_dir, JWT_SECRET_FILE, MIN_JWT_SECRET_BYTES, || {
                    crate::crypto::random_token_hex(32)
                })
                .map(String::into_bytes)
                .map_err(|e| check("BASEWATCH_JWT_SECRET", Err(e)))
                .ok()
            }
        };

        let metrics = match (lookup("BASEWATCH_METRICS_TOKEN"), environment) {
            (Some(token), _) if token.len() < MIN_JWT_SECRET_BYTES => {
                check(
                    "BASEWATCH_METRICS_TOKEN",
                    Err(format!(
                        "is {} characters; at least {MIN_JWT_SECRET_BYTES} random characters are needed \
                         (e.g. `openssl rand -hex 32`)",
                        token.len()
                    )),
                );
                MetricsAccess::Off
            }
            (Some(token), _) => MetricsAccess::Token(token),
            (None, Environment::Development) => MetricsAccess::Open,
            (None, Environment::Production) => MetricsAccess::Off,
        };

        match (errors.is_empty(), database_url, bind, jwt_secret, data_keys) {
            (true, Some(database_url), Some(bind), Some(jwt_secret), Some(data_keys)) => {
                Ok(Settings {
                    environment,
                    database_url,
                    bind,
                    jwt_secret,
                    access_token_ttl,
                    refresh_token_ttl,
                    pool_size,
                    body_limit,
                    workers,
                    data_keys,
                    login_throttle,
                    cors_origins,
                    request_timeout,
                    trust_proxy,
                    release_lag_days,
                    partner_epsilon,
                    release_builder,
                    trusted_proxy_hops,
                    client_rate_limit,
                    attachments,
                    metrics,
                    webhooks,
                })
            }
            _ => Err(format!("invalid configuration:\n{}", errors.join("\n"))),
        }
    }
}

/// A development secret kept in the data folder (mode 0600), made on first use.
fn load_or_create_dev_key(
    data_dir: &Path,
    file: &str,
    min_len: usize,
    generate: impl FnOnce() -> String,
) -> Result<String, String> {
    let path = data_dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(secret) if secret.trim().len() >= min_len => {
            return Ok(secret.trim().to_owned());
        }
        Ok(_) => {
            return Err(format!(
                "{} is too short; delete it to generate a new one",
                path.display()
            ));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot read {}: {e}", path.display()));
        }
        Err(_) => {}
    }
    crate::db::create_private_dir(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let secret = generate();
    write_private(&path, secret.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a development secret");
    Ok(secret)
}

/// Creates a file only its owner can read.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The variables given, with a data key unless the test names that variable.
    fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
        let mut vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.entry("BASEWATCH_DATA_KEY".into())
            .or_insert_with(|| KEY.into());
        vars.retain(|_, v| !v.is_empty());
        Settings::from_lookup(move |k| vars.get(k).cloned())
    }

    const STRONG: &str = "0123456789abcdef0123456789abcdef";
    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn production_requires_a_data_key_of_32_random_bytes() {
        let base = [
            ("BASEWATCH_ENV", "production"),
            ("BASEWATCH_JWT_SECRET", STRONG),
        ];
        let err = settings(&[base[0], base[1], ("BASEWATCH_DATA_KEY", "")]).unwrap_err();
        assert!(
            err.contains("BASEWATCH_DATA_KEY: is required in production"),
            "{err}"
        );
        let err = settings(&[base[0], base[1], ("BASEWATCH_DATA_KEY", "abc")]).unwrap_err();
        assert!(err.contains("64 hexadecimal characters"), "{err}");
        let err =
            settings(&[base[0], base[1], ("BASEWATCH_RETIRED_DATA_KEYS", "old")]).unwrap_err();
        assert!(
            err.contains("BASEWATCH_RETIRED_DATA_KEYS: a data key is 64"),
            "{err}"
        );
        assert!(settings(&base).is_ok());
    }

    #[test]
    fn cors_origins_and_throttle_are_read_and_checked() {
        let s = settings(&[
            ("BASEWATCH_JWT_SECRET", STRONG),
            (
                "BASEWATCH_CORS_ORIGINS",
                "https://a.example.org, http://localhost:3000",
            ),
            ("BASEWATCH_LOGIN_MAX_FAILURES", "3"),
        ])
        .unwrap();
        assert_eq!(
            s.cors_origins,
            ["https://a.example.org", "http://localhost:3000"]
        );
        assert_eq!(s.login_throttle.per_account, 3);
        assert!(s.cors_origins.len() == 2 && !s.trust_proxy);
        for bad in ["*", "a.example.org", "https://a.example.org/"] {
            let err = settings(&[
                ("BASEWATCH_JWT_SECRET", STRONG),
                ("BASEWATCH_CORS_ORIGINS", bad),
            ])
            .unwrap_err();
            assert!(err.contains("BASEWATCH_CORS_ORIGINS"), "{bad}: {err}");
        }
    }

    #[test]
    fn release_settings_are_read_and_checked() {
        let s = settings(&[("BASEWATCH_JWT_SECRET", STRONG)]).unwrap();
        assert_eq!(
            (s.release_lag_days, s.partner_epsilon, s.release_builder),
            (14, 1.0, true)
        );
        let s = settings(&[
            ("BASEWATCH_JWT_SECRET", STRONG),
            ("BASEWATCH_RELEASE_LAG_DAYS", "0"),
            ("BASEWATCH_PARTNER_EPSILON", "0.5"),
            ("BASEWATCH_RELEASE_BUILDER", "false"),
        ])
        .unwrap();
        assert_eq!(
            (s.release_lag_days, s.partner_epsilon, s.release_builder),
            (0, 0.5, false)
        );
        let err = settings(&[
            ("BASEWATCH_JWT_SECRET", STRONG),
            ("BASEWATCH_RELEASE_LAG_DAYS", "-1"),
            ("BASEWATCH_PARTNER_EPSILON", "NaN"),
            ("BASEWATCH_RELEASE_BUILDER", "yes"),
        ])
        .unwrap_err();
        for name in [
            "BASEWATCH_RELEASE_LAG_DAYS",
            "BASEWATCH_PARTNER_EPSILON",
            "BASEWATCH_RELEASE_BUILDER",
        ] {
            assert!(err.contains(name), "{name} missing from {err}");
        }
    }

    #[test]
    fn production_refuses_a_missing_or_short_secret() {
        let err = settings(&[("BASEWATCH_ENV", "production")]).unwrap_err();
        assert!(
            err.contains("BASEWATCH_JWT_SECRET: is required in production"),
            "{err}"
        );
        let err = settings(&[
            ("BASEWATCH_ENV", "production"),
            ("BASEWATCH_JWT_SECRET", "short"),
        ])
        .unwrap_err();
        assert!(err.contains("is 5 bytes"), "{err}");
        assert!(
            settings(&[
                ("BASEWATCH_ENV", "production"),
                ("BASEWATCH_JWT_SECRET", STRONG)
            ])
            .is_ok()
        );
    }

    #[test]
    fn a_short_jwt_secret_is_refused_in_every_mode() {
        for environment in ["development", "production"] {
            for short in ["secret", &"x".repeat(MIN_JWT_SECRET_BYTES - 1)] {
                let err = settings(&[
                    ("BASEWATCH_ENV", environment),
                    ("BASEWATCH_JWT_SECRET", short),
                ])
                .unwrap_err();
                assert!(
                    err.contains(&format!("BASEWATCH_JWT_SECRET: is {} bytes", short.len())),
                    "{environment}: {err}"
                );
            }
            let ok = settings(&[
                ("BASEWATCH_ENV", environment),
                ("BASEWATCH_JWT_SECRET", &"x".repeat(MIN_JWT_SECRET_BYTES)),
            ])
            .unwrap();
            assert_eq!(ok.jwt_secret.len(), MIN_JWT_SECRET_BYTES);
        }
    }

    #[test]
    fn trusted_proxy_hops_default_to_one_and_are_bounded() {
        let s = settings(&[("BASEWATCH_JWT_SECRET", STRONG)]).unwrap();
        assert_eq!(s.trusted_proxy_hops, 1);
        let s = settings(&[
            ("BASEWATCH_JWT_SECRET", STRONG),
            ("BASEWATCH_TRUSTED_PROXY_HOPS", "2"),
        ])
        .unwrap();
        assert_eq!(s.trusted_proxy_hops, 2);
        for bad in ["0", "17", "-1", "two"] {
            let err = settings(&[
                ("BASEWATCH_JWT_SECRET", STRONG),
                ("BASEWATCH_TRUSTED_PROXY_HOPS", bad),
            ])
            .unwrap_err();
            assert!(err.contains("BASEWATCH_TRUSTED_PROXY_HOPS"), "{bad}: {err}");
        }
    }

    #[test]
    fn defaults_are_sqlite_in_the_data_folder_on_localhost() {
        let s = settings(&[("BASEWATCH_JWT_SECRET", STRONG)]).unwrap();
        assert_eq!(
            s.database_url,
            DatabaseUrl::Sqlite("./data/basewatch.db".into())
        );
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.access_token_ttl, Duration::from_secs(900));
        assert_eq!(s.environment, Environment::Development);
    }

    #[test]
    fn every_bad_variable_is_reported_at_once() {
        let err = settings(&[
            ("BASEWATCH_JWT_SECRET", STRONG),
            ("BASEWATCH_ENV", "staging"),
            ("BASEWATCH_BIND", "nowhere"),
            ("BASEWATCH_DB_POOL_SIZE", "0"),
            ("DATABASE_URL", "mysql://x"),
        ])
        .unwrap_err();
        for name in [
            "BASEWATCH_ENV",
            "BASEWATCH_BIND",
            "BASEWATCH_DB_POOL_SIZE",
            "DATABASE_URL",
        ] {
            assert!(err.contains(name), "{name} missing from {err}");
        }
    }

    #[test]
    fn development_generates_a_private_secret_once() {
        let dir = std::env::temp_dir().join(format!("bw-config-{}", uuid::Uuid::new_v4()));
        let dir_str = dir.to_string_lossy().to_string();
        let vars = [
            ("BASEWATCH_DATA_DIR", dir_str.as_str()),
            ("BASEWATCH_DATA_KEY", ""),
        ];
        let first = settings(&vars).unwrap();
        let second = settings(&vars).unwrap();
        assert_eq!(first.jwt_secret, second.jwt_secret);
        assert!(first.jwt_secret.len() >= MIN_JWT_SECRET_BYTES);
        assert_eq!(first.data_keys.current_id(), second.data_keys.current_id());
        #[cfg(unix)]
        for file in [JWT_SECRET_FILE, DATA_KEY_FILE] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn metrics_are_open_in_development_off_in_production_and_a_token_guards_both() {
        let secret = ("BASEWATCH_JWT_SECRET", STRONG);
        let production = ("BASEWATCH_ENV", "production");
        let token = ("BASEWATCH_METRICS_TOKEN", STRONG);
        assert_eq!(settings(&[secret]).unwrap().metrics, MetricsAccess::Open);
        assert_eq!(
            settings(&[secret, production]).unwrap().metrics,
            MetricsAccess::Off
        );
        for vars in [&[secret, token][..], &[secret, production, token][..]] {
            let parsed = settings(vars).unwrap();
            assert_eq!(parsed.metrics, MetricsAccess::Token(STRONG.into()));
            assert!(
                !format!("{parsed:?}").contains(STRONG),
                "the token is not logged"
            );
        }
        let err = settings(&[secret, ("BASEWATCH_METRICS_TOKEN", "short")]).unwrap_err();
        assert!(
            err.contains("BASEWATCH_METRICS_TOKEN: is 5 characters"),
            "{err}"
        );
    }
}
