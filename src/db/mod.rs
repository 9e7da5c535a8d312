//! Storage: one connection type over SQLite and PostgreSQL, a pool, migrations.
//!
//! Everything is stored with types both backends share through diesel's
//! `MultiConnection`: UUIDs as TEXT, times as UTC `TIMESTAMP` truncated to
//! microseconds (PostgreSQL's precision), enums as checked TEXT.

pub mod migrations;
pub mod schema;
pub mod sql;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::{Connection, PgConnection, SqliteConnection};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// A storage failure, classified for the callers that must tell them apart
/// (a lost connection is retried elsewhere and closed here, a unique violation
/// is often a re-send, contention is worth a retry).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The connection died under the request (database restart, network), or
    /// a transaction on it could not be ended.
    #[error("the database connection was lost: {0}")]
    ConnectionLost(String),
    #[error("a unique constraint was violated: {0}")]
    UniqueViolation(String),
    /// A serialization failure, a deadlock or a lock timeout (PostgreSQL), or a
    /// busy database (SQLite): nothing was written, and a retry may succeed.
    #[error("the database was contended: {0}")]
    Contention(String),
    #[error("no such record")]
    NotFound,
    /// No connection could be had from the pool (the database is down or every
    /// connection is busy for longer than the checkout timeout).
    #[error("no database connection available: {0}")]
    Unreachable(String),
    /// The blocking task running the work panicked or was cancelled.
    #[error("the database work did not finish: {0}")]
    Crashed(String),
    #[error(transparent)]
    Other(diesel::result::Error),
}

/// An error that database work may end with: every storage failure converts
/// into it, and it tells whether the connection died under the work (the pool
/// then closes that connection instead of handing it out again).
pub trait Failure: From<StoreError> + Send + 'static {
    fn connection_lost(&self) -> bool;
}

impl Failure for StoreError {
    fn connection_lost(&self) -> bool {
        matches!(self, Self::ConnectionLost(_))
    }
}

/// Implements `Failure` for a feature's error whose storage failures are held
/// in a `Store(StoreError)` variant.
#[macro_export]
macro_rules! store_failure {
    ($error:ty) => {
        impl From<$crate::db::StoreError> for $error {
            fn from(e: $crate::db::StoreError) -> Self {
                Self::Store(e)
            }
        }

        impl From<diesel::result::Error> for $error {
            fn from(e: diesel::result::Error) -> Self {
                Self::Store(e.into())
            }
        }

        impl $crate::db::Failure for $error {
            fn connection_lost(&self) -> bool {
                matches!(self, Self::Store(e) if $crate::db::Failure::connection_lost(e))
            }
        }
    };
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => Self::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::UniqueViolation(info.message().to_owned())
            }
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => Self::ConnectionLost(info.message().to_owned()),
            Error::BrokenTransactionManager => {
                Self::ConnectionLost("a transaction could not be ended".into())
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                Self::Contention(info.message().to_owned())
            }
            // SQLite's busy database; PostgreSQL's deadlock (40P01) and lock
            // timeout (55P03), which diesel reports by message only.
            Error::DatabaseError(_, ref info)
                if [
                    "database is locked",
                    "database is busy",
                    "deadlock detected",
                    "lock timeout",
                ]
                .iter()
                .any(|m| info.message().contains(m)) =>
            {
                Self::Contention(info.message().to_owned())
            }
            other => Self::Other(other),
        }
    }
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Where the data lives, decided by the scheme of `DATABASE_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// `postgres://` and `postgresql://` select PostgreSQL; `sqlite://path` or
    /// `sqlite:path` select SQLite. Anything else is refused rather than guessed,
    /// so a mistyped URL never silently becomes a new SQLite file.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                format!(
                    "unsupported database URL {:?}: use postgres://… or sqlite://path/to/file.db",
                    redact(url)
                )
            })?;
        if path.is_empty() {
            return Err("the SQLite URL names no file: use sqlite://path/to/file.db".into());
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// The URL without its password, fit for logs.
    pub fn display(&self) -> String {
        match self {
            Self::Postgres(url) => redact(url),
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
        }
    }

    pub fn connect(&self) -> Result<DbConnection, diesel::ConnectionError> {
        match self {
            Self::Postgres(url) => PgConnection::establish(url).map(DbConnection::Postgres),
            Self::Sqlite(path) => {
                create_private_file(path).map_err(diesel::ConnectionError::BadConnection)?;
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // WAL lets readers work beside the one writer; the busy timeout makes
                // writers queue instead of failing; foreign keys are off by default.
                // Secure delete overwrites what an update or delete frees, so a copy
                // of the file keeps no old sealed text (under a retired data key) or
                // old content hash in its free space.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA secure_delete = ON;",
                )
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// Creates the SQLite file readable by its owner only (0600), in a folder made
/// 0700 when it has to be created, before SQLite opens it: SQLite gives the
/// `-wal` and `-shm` files the mode of the database file. An existing file is
/// left as it is.
fn create_private_file(path: &std::path::Path) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)
            .map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

/// Creates a folder (and its missing parents) only its owner may enter.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// An r2d2 manager that picks the backend from the URL itself, so a failed
/// connection reports the driver's real error.
#[derive(Clone, Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

/// A pooled connection and whether it was lost under a request (the database
/// restarted, the network dropped). It derefs to the connection itself.
pub struct Pooled {
    conn: DbConnection,
    lost: bool,
}

impl std::ops::Deref for Pooled {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = Pooled;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Pooled, Self::Error> {
        let conn = self
            .url
            .connect()
            .map_err(diesel::r2d2::Error::ConnectionError)?;
        Ok(Pooled { conn, lost: false })
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    /// A connection lost under a request, or whose transaction could not be
    /// rolled back, is closed instead of going back to the pool: the next request
    /// gets a fresh one. (Checking every connection on checkout would cost a round
    /// trip per request; this costs one failed request per dead connection, which
    /// answers 503.)
    fn has_broken(&self, conn: &mut Pooled) -> bool {
        use diesel::r2d2::R2D2Connection;
        conn.lost
            || match &mut conn.conn {
                DbConnection::Sqlite(c) => c.is_broken(),
                DbConnection::Postgres(c) => c.is_broken(),
            }
    }
}

/// Builds the pool and checks one connection now, so a wrong URL or a database
/// that is down stops the start with the driver's message.
pub fn connect_pool(url: &DatabaseUrl, max_size: u32) -> Result<Pool, String> {
    // Fail fast with the real reason before r2d2 starts retrying quietly.
    url.connect()
        .map_err(|e| format!("cannot connect to {}: {e}", url.display()))?;
    r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(10))
        // No SELECT 1 on checkout: a connection found dead by a request is dropped
        // (`has_broken`), see `start`.
        .test_on_check_out(false)
        .build(ConnectionManager { url: url.clone() })
        .map_err(|e| format!("cannot open a pool on {}: {e}", url.display()))
}

/// Runs blocking diesel work on actix's blocking thread pool, never on an async worker.
pub async fn run<T, E, F>(pool: &Pool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Failure,
{
    start(pool, work).await
}

/// Like `run`, but the work starts now rather than when the future is first
/// polled, so that a caller can go on with something else meanwhile (an export
/// fetches its next page while it writes out the current one).
pub fn start<T, E, F>(pool: &Pool, work: F) -> impl Future<Output = Result<T, E>> + use<T, E, F>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Failure,
{
    let pool = pool.clone();
    let running = actix_web::rt::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(|e| {
            tracing::error!(error = %e, "no database connection available");
            StoreError::Unreachable(e.to_string())
        })?;
        let result = work(&mut conn);
        // Only a connection that died under the work is closed; other failures
        // (a database not yet migrated, a conflict) leave a healthy one pooled.
        if matches!(&result, Err(e) if e.connection_lost()) {
            conn.lost = true;
        }
        result
    });
    async move {
        running
            .await
            .map_err(|e| StoreError::Crashed(e.to_string()))?
    }
}

/// Runs `work` in a transaction: all of it is written, or none of it.
pub async fn transaction<T, E, F>(pool: &Pool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Failure + From<diesel::result::Error>,
{
    run(pool, move |conn| in_transaction(conn, work)).await
}

/// On SQLite the transaction takes the write lock at BEGIN (`BEGIN IMMEDIATE`):
/// a transaction that reads and then writes would otherwise fail with "database
/// is locked" when another writer got there in between, instead of waiting.
/// Called inside a transaction already, `work` runs in it (the audit chain's
/// append, for one, joins the change it records).
pub fn in_transaction<T, E: From<diesel::result::Error>>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Manager = <DbConnection as Connection>::TransactionManager;
    if Manager::transaction_manager_status_mut(conn)
        .transaction_depth()?
        .is_some()
    {
        return work(conn);
    }
    match conn {
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?
        }
        DbConnection::Postgres(_) => Manager::begin_transaction(conn)?,
    }
    match work(conn) {
        Ok(value) => match Manager::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = Manager::rollback_transaction(conn);
                Err(e.into())
            }
        },
        Err(e) => {
            // When the rollback fails too (the connection died), the first error is
            // the one that explains; the pool drops the broken connection.
            let _ = Manager::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// The current time as stored: UTC, truncated to microseconds so that both
/// backends give back exactly what was written.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

pub fn truncate(t: NaiveDateTime) -> NaiveDateTime {
    t.trunc_subsecs(6)
}

pub fn to_utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_schemes_pick_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db").unwrap(),
            DatabaseUrl::Sqlite("data/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:/tmp/x.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("data/x.db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_new_sqlite_file_and_its_folder_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("bw-mode-{}", uuid::Uuid::new_v4()));
        let path = root.join("data").join("basewatch.db");
        let mut conn = DatabaseUrl::Sqlite(path.clone()).connect().unwrap();
        conn.batch_execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        for suffix in ["-wal", "-shm"] {
            let side = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            assert_eq!(mode(&side), 0o600, "{suffix}");
        }
        assert_eq!(mode(&root.join("data")), 0o700);
        drop(conn);
        // An existing file keeps its mode and its data.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        DatabaseUrl::Sqlite(path.clone()).connect().unwrap();
        assert_eq!(mode(&path), 0o640);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn only_a_dead_connection_is_classified_as_lost() {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        let db = |kind, message: &str| Error::DatabaseError(kind, Box::new(message.to_owned()));
        let lost = |e| matches!(StoreError::from(e), StoreError::ConnectionLost(_));
        assert!(lost(db(Kind::ClosedConnection, "server closed")));
        assert!(lost(db(Kind::UnableToSendCommand, "no route")));
        assert!(lost(Error::BrokenTransactionManager));
        assert!(!lost(db(Kind::UniqueViolation, "dup")));
        assert!(!lost(db(Kind::SerializationFailure, "retry")));
    }

    /// The pool closes a connection only when the work's error says it died,
    /// whatever the feature's error type.
    #[test]
    fn only_a_lost_connection_marks_the_work_failed_for_the_pool() {
        use crate::incidents::IncidentError;
        let store = |e| StoreError::from(Error::DatabaseError(e, Box::new("x".to_owned())));
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        assert!(Failure::connection_lost(&store(Kind::ClosedConnection)));
        assert!(!Failure::connection_lost(&store(
            Kind::SerializationFailure
        )));
        assert!(IncidentError::Store(store(Kind::UnableToSendCommand)).connection_lost());
        assert!(!IncidentError::Store(store(Kind::UniqueViolation)).connection_lost());
        assert!(!IncidentError::NotFound.connection_lost());
        assert!(!IncidentError::Corrupt("lost".into()).connection_lost());
    }

    #[test]
    fn passwords_never_reach_the_logs() {
        let url = DatabaseUrl::parse("postgres://bw:s3cret@db:5432/basewatch").unwrap();
        assert_eq!(url.display(), "postgres://bw:***@db:5432/basewatch");
        let url = DatabaseUrl::parse("postgres://bw@db/basewatch").unwrap();
        assert_eq!(url.display(), "postgres://bw@db/basewatch");
    }
}
