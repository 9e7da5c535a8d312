//! What is read at scrape time: the connection pool, and from the database the
//! newest release (and, with webhooks, the outbox and the deliveries).

use chrono::{NaiveDateTime, Utc};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::db::{self, DbConnection, Pool};
use crate::error::ApiError;

/// What one scrape read from the database.
#[derive(Default)]
struct Stored {
    newest_release: Option<NaiveDateTime>,
}

fn read(conn: &mut DbConnection) -> Result<Stored, ApiError> {
    Ok(Stored {
        newest_release: crate::releases::queries::newest_built_at(conn)
            .map_err(ApiError::internal)?,
    })
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g = Gauge::<i64>::default();
    g.set(value);
    registry.register(name, help, g);
}

fn gauge_f64(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let g = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    g.set(value);
    registry.register(name, help, g);
}

/// A registry holding this moment's values. A database that does not answer
/// leaves its metrics out and says so (`basewatch_database_up 0`), so the
/// request metrics still reach the scraper during an outage.
pub async fn collect(pool: &Pool) -> Registry {
    let mut registry = Registry::with_prefix("basewatch");
    let state = pool.state();
    gauge(
        &mut registry,
        "db_pool_connections",
        "Connections the pool holds, idle or in use",
        state.connections.into(),
    );
    gauge(
        &mut registry,
        "db_pool_idle_connections",
        "Connections idle in the pool",
        state.idle_connections.into(),
    );
    gauge(
        &mut registry,
        "db_pool_in_use_connections",
        "Connections checked out of the pool",
        i64::from(state.connections) - i64::from(state.idle_connections),
    );
    gauge(
        &mut registry,
        "db_pool_max_connections",
        "The most connections the pool opens (BASEWATCH_DB_POOL_SIZE)",
        pool.max_size().into(),
    );
    let stored = db::run(pool, read).await;
    gauge(
        &mut registry,
        "database_up",
        "1 when this scrape could read the database, 0 when it could not",
        i64::from(stored.is_ok()),
    );
    let stored = stored.unwrap_or_default();
    let now = Utc::now().naive_utc();
    if let Some(built) = stored.newest_release {
        gauge_f64(
            &mut registry,
            "release_age_seconds",
            "Seconds since the newest partner release was built (absent before the first)",
            (now - built).as_seconds_f64(),
        );
    }
    registry
}
