//! Migrations for both backends, embedded in the binary. The two folders keep
//! identical names so one version number means the same schema everywhere.

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DbConnection;

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Applies every pending migration and returns the versions applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, BoxError> {
    let applied = match conn {
        DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES)?,
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE)?,
    };
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Reverts every applied migration, newest first.
pub fn revert_all(conn: &mut DbConnection) -> Result<Vec<String>, BoxError> {
    let reverted = match conn {
        DbConnection::Postgres(c) => c.revert_all_migrations(POSTGRES)?,
        DbConnection::Sqlite(c) => c.revert_all_migrations(SQLITE)?,
    };
    Ok(reverted.iter().map(ToString::to_string).collect())
}

pub fn has_pending(conn: &mut DbConnection) -> Result<bool, BoxError> {
    Ok(match conn {
        DbConnection::Postgres(c) => c.has_pending_migration(POSTGRES)?,
        DbConnection::Sqlite(c) => c.has_pending_migration(SQLITE)?,
    })
}
