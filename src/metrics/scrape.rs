//! What is read at scrape time: the connection pool, and from the database the
//! newest release, the webhook outbox and the delivery attempts.

use chrono::{NaiveDateTime, Utc};
use diesel::dsl::{count_star, min};
use diesel::prelude::*;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::db::schema::{webhook_attempts, webhook_deliveries, webhook_subscriptions};
use crate::db::{self, DbConnection, Pool};
use crate::error::ApiError;
use crate::webhooks::outbox::PENDING;

/// What one scrape read from the database.
#[derive(Default)]
struct Stored {
    newest_release: Option<NaiveDateTime>,
    /// Deliveries waiting (due now or at a later retry), and the oldest's creation.
    pending: i64,
    due: i64,
    oldest_pending: Option<NaiveDateTime>,
    /// Attempts by outcome (succeeded, failed, given_up, skipped).
    attempts: Vec<(String, i64)>,
    disabled_subscriptions: i64,
}

fn read(conn: &mut DbConnection) -> QueryResult<Stored> {
    let now = Utc::now().naive_utc();
    let pending = webhook_deliveries::table.filter(webhook_deliveries::state.eq(PENDING));
    Ok(Stored {
        newest_release: crate::releases::queries::newest_built_at(conn)?,
        pending: pending.count().get_result(conn)?,
        due: pending
            .filter(webhook_deliveries::next_attempt_at.le(now))
            .count()
            .get_result(conn)?,
        oldest_pending: pending
            .select(min(webhook_deliveries::created_at))
            .first(conn)?,
        attempts: webhook_attempts::table
            .group_by(webhook_attempts::outcome)
            .select((webhook_attempts::outcome, count_star()))
            .load(conn)?,
        disabled_subscriptions: webhook_subscriptions::table
            .filter(webhook_subscriptions::disabled_at.is_not_null())
            .count()
            .get_result(conn)?,
    })
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
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
    let stored = db::run(pool, |conn| read(conn).map_err(ApiError::internal)).await;
    let up = stored.is_ok();
    gauge(
        &mut registry,
        "database_up",
        "1 when this scrape could read the database, 0 when it could not",
        i64::from(up),
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
    if !up {
        return registry;
    }
    gauge(
        &mut registry,
        "webhook_outbox_pending",
        "Webhook deliveries not yet delivered nor given up, due now or waiting for a retry",
        stored.pending,
    );
    gauge(
        &mut registry,
        "webhook_outbox_due",
        "Pending webhook deliveries whose next attempt is due now: the workers' backlog",
        stored.due,
    );
    gauge_f64(
        &mut registry,
        "webhook_outbox_oldest_pending_age_seconds",
        "Age of the oldest pending webhook delivery (0 when none is pending)",
        stored
            .oldest_pending
            .map_or(0.0, |created| (now - created).as_seconds_f64().max(0.0)),
    );
    gauge(
        &mut registry,
        "webhook_subscriptions_disabled",
        "Webhook subscriptions disabled after too many consecutive failures",
        stored.disabled_subscriptions,
    );
    // Read from the attempts log, so every instance reports the same totals and
    // a restart loses nothing.
    let attempts = Family::<OutcomeLabels, Counter>::default();
    for (outcome, n) in stored.attempts {
        attempts
            .get_or_create(&OutcomeLabels { outcome })
            .inc_by(u64::try_from(n).unwrap_or(0));
    }
    registry.register(
        "webhook_delivery_attempts",
        "Webhook delivery attempts by outcome, from the delivery log of every instance",
        attempts,
    );
    registry
}
