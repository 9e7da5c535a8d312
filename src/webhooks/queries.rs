//! Storage of subscriptions and of the delivery log.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{
    service_accounts, users, webhook_attempts, webhook_deliveries, webhook_subscriptions,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_subscriptions)]
pub struct SubscriptionRow {
    pub id: String,
    pub organisation_id: String,
    pub role: String,
    pub owner_id: String,
    pub url: String,
    pub events: String,
    pub description: Option<String>,
    pub secret: String,
    pub secret_key_id: String,
    pub previous_secret: Option<String>,
    pub previous_secret_key_id: Option<String>,
    pub previous_expires_at: Option<NaiveDateTime>,
    pub paused: bool,
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    pub failure_streak: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The account that created a subscription, as it is now.
#[derive(Debug, Clone, Queryable)]
pub struct Owner {
    pub id: String,
    pub role: String,
    pub organisation_id: String,
    pub active: bool,
    /// A service account's scopes; `None` for a person.
    pub scopes: Option<String>,
}

macro_rules! with_owner {
    () => {
        webhook_subscriptions::table
            .inner_join(users::table.on(users::id.eq(webhook_subscriptions::owner_id)))
            .left_join(service_accounts::table.on(service_accounts::id.eq(users::id)))
    };
}

type OwnerColumns = (
    users::id,
    users::role,
    users::organisation_id,
    users::active,
    diesel::dsl::Nullable<service_accounts::scopes>,
);

fn owner_columns() -> OwnerColumns {
    (
        users::id,
        users::role,
        users::organisation_id,
        users::active,
        service_accounts::scopes.nullable(),
    )
}

pub fn insert(conn: &mut DbConnection, row: &SubscriptionRow) -> QueryResult<()> {
    diesel::insert_into(webhook_subscriptions::table)
        .values((
            webhook_subscriptions::id.eq(&row.id),
            webhook_subscriptions::organisation_id.eq(&row.organisation_id),
            webhook_subscriptions::role.eq(&row.role),
            webhook_subscriptions::owner_id.eq(&row.owner_id),
            webhook_subscriptions::url.eq(&row.url),
            webhook_subscriptions::events.eq(&row.events),
            webhook_subscriptions::description.eq(&row.description),
            webhook_subscriptions::secret.eq(&row.secret),
            webhook_subscriptions::secret_key_id.eq(&row.secret_key_id),
            webhook_subscriptions::paused.eq(row.paused),
            webhook_subscriptions::failure_streak.eq(0),
            webhook_subscriptions::created_at.eq(row.created_at),
            webhook_subscriptions::updated_at.eq(row.updated_at),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SubscriptionRow>> {
    webhook_subscriptions::table
        .find(id)
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_with_owner(
    conn: &mut DbConnection,
    id: &str,
) -> QueryResult<Option<(SubscriptionRow, Owner)>> {
    with_owner!()
        .filter(webhook_subscriptions::id.eq(id))
        .select((SubscriptionRow::as_select(), owner_columns()))
        .first(conn)
        .optional()
}

/// Every subscription with its owner (the outbox filters them per change).
pub fn all_with_owner(conn: &mut DbConnection) -> QueryResult<Vec<(SubscriptionRow, Owner)>> {
    with_owner!()
        .select((SubscriptionRow::as_select(), owner_columns()))
        .order(webhook_subscriptions::id.asc())
        .load(conn)
}

/// A page of subscriptions: an owner's, or (`None`) every one, optionally of
/// one organisation.
pub fn list(
    conn: &mut DbConnection,
    owner: Option<&str>,
    organisation: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<SubscriptionRow>> {
    let mut query = webhook_subscriptions::table
        .select(SubscriptionRow::as_select())
        .order(webhook_subscriptions::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(webhook_subscriptions::owner_id.eq(owner.to_owned()));
    }
    if let Some(organisation) = organisation {
        query = query.filter(webhook_subscriptions::organisation_id.eq(organisation.to_owned()));
    }
    if let Some(after) = after {
        query = query.filter(webhook_subscriptions::id.gt(after.to_owned()));
    }
    query.load(conn)
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = webhook_subscriptions)]
pub struct Changes {
    pub url: Option<String>,
    pub events: Option<String>,
    pub description: Option<Option<String>>,
    pub paused: Option<bool>,
    pub disabled_at: Option<Option<NaiveDateTime>>,
    pub disabled_reason: Option<Option<String>>,
    pub failure_streak: Option<i32>,
    pub secret: Option<String>,
    pub secret_key_id: Option<String>,
    pub previous_secret: Option<Option<String>>,
    pub previous_secret_key_id: Option<Option<String>>,
    pub previous_expires_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn update(conn: &mut DbConnection, id: &str, changes: &Changes) -> QueryResult<()> {
    diesel::update(webhook_subscriptions::table.find(id))
        .set(changes)
        .execute(conn)
        .map(|_| ())
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(webhook_attempts::table.filter(webhook_attempts::subscription_id.eq(id)))
        .execute(conn)?;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::subscription_id.eq(id)))
        .execute(conn)?;
    diesel::delete(webhook_subscriptions::table.find(id)).execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: String,
    pub subscription_id: String,
    pub event_type: String,
    pub incident_id: Option<String>,
    pub position: Option<i64>,
    pub change_kind: Option<String>,
    pub version: Option<i32>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub occurred_at: NaiveDateTime,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts)]
pub struct AttemptRow {
    pub id: String,
    pub delivery_id: String,
    pub attempt: i32,
    pub at: NaiveDateTime,
    pub outcome: String,
    pub response_status: Option<i32>,
    pub latency_ms: Option<i64>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// A subscription's events waiting for an attempt, soonest first.
pub fn pending(conn: &mut DbConnection, subscription: &str) -> QueryResult<Vec<DeliveryRow>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::subscription_id.eq(subscription))
        .filter(webhook_deliveries::state.eq(outbox::PENDING))
        .order((
            webhook_deliveries::next_attempt_at.asc(),
            webhook_deliveries::id.asc(),
        ))
        .limit(PENDING_SHOWN)
        .select(DeliveryRow::as_select())
        .load(conn)
}

/// A page of a subscription's attempts, newest first, with their events.
pub fn attempts(
    conn: &mut DbConnection,
    subscription: &str,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<(AttemptRow, DeliveryRow)>> {
    let mut query = webhook_attempts::table
        .inner_join(webhook_deliveries::table)
        .filter(webhook_attempts::subscription_id.eq(subscription.to_owned()))
        .select((AttemptRow::as_select(), DeliveryRow::as_select()))
        .order(webhook_attempts::id.desc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(webhook_attempts::id.lt(before.to_owned()));
    }
    query.load(conn)
}

use super::outbox;

/// Pending events listed at the head of the log, at most.
const PENDING_SHOWN: i64 = 200;
