//! Configuration from environment variables, validated once at start.

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::db::DatabaseUrl;

/// Shorter HS256 keys can be brute-forced offline from a single token.
pub const MIN_JWT_SECRET_BYTES: usize = 32;
const JWT_SECRET_FILE: &str = "jwt-secret";

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
    /// Aggregate cells with fewer incidents are withheld from partners.
    pub suppression_k: u32,
    pub data_dir: PathBuf,
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
            .field("suppression_k", &self.suppression_k)
            .field("data_dir", &self.data_dir)
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
        "where the SQLite file and the development JWT secret live",
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
        "BASEWATCH_SUPPRESSION_K",
        "5",
        "aggregate cells with fewer incidents are withheld from partners",
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
        let suppression_k = number("BASEWATCH_SUPPRESSION_K", 5, 1, 1000) as u32;

        let jwt_secret = match (lookup("BASEWATCH_JWT_SECRET"), environment) {
            (Some(secret), Environment::Production) if secret.len() < MIN_JWT_SECRET_BYTES => {
                check(
                    "BASEWATCH_JWT_SECRET",
                    Err(format!(
                        "is {} bytes; production needs at least {MIN_JWT_SECRET_BYTES} random bytes \
                         (e.g. `openssl rand -hex 32`)",
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
            (None, Environment::Development) => load_or_create_dev_secret(&data_dir)
                .map_err(|e| check("BASEWATCH_JWT_SECRET", Err(e)))
                .ok(),
        };

        match (errors.is_empty(), database_url, bind, jwt_secret) {
            (true, Some(database_url), Some(bind), Some(jwt_secret)) => Ok(Settings {
                environment,
                database_url,
                bind,
                jwt_secret,
                access_token_ttl,
                refresh_token_ttl,
                pool_size,
                body_limit,
                workers,
                suppression_k,
                data_dir,
            }),
            _ => Err(format!("invalid configuration:\n{}", errors.join("\n"))),
        }
    }
}

fn load_or_create_dev_secret(data_dir: &Path) -> Result<Vec<u8>, String> {
    let path = data_dir.join(JWT_SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(secret) if secret.trim().len() >= MIN_JWT_SECRET_BYTES => {
            return Ok(secret.trim().as_bytes().to_vec());
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
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let secret = crate::auth::random_token_hex(32);
    write_private(&path, secret.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a development JWT secret");
    Ok(secret.into_bytes())
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

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(move |k| vars.get(k).cloned())
    }

    const STRONG: &str = "0123456789abcdef0123456789abcdef";

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
        let first = settings(&[("BASEWATCH_DATA_DIR", &dir_str)]).unwrap();
        let second = settings(&[("BASEWATCH_DATA_DIR", &dir_str)]).unwrap();
        assert_eq!(first.jwt_secret, second.jwt_secret);
        assert!(first.jwt_secret.len() >= MIN_JWT_SECRET_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(JWT_SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
