//! The outbox: delivery rows written in the transaction of the change they
//! announce (so a change that rolls back announces nothing), and the rows of
//! pings and redeliveries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{EventType, queries, split_events, viewer};
use crate::changes::ChangeKind;
use crate::db::DbConnection;
use crate::db::schema::{incidents, webhook_deliveries};
use crate::incidents::IncidentRow;
use crate::incidents::vocabulary::Status;

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const GIVEN_UP: &str = "given_up";
pub const SKIPPED: &str = "skipped";

/// A recorded change of an incident, as the outbox needs it.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// Its position in the change feed (`changes::append`): the order per incident.
    pub position: i64,
    pub incident_id: &'a str,
    pub kind: ChangeKind,
    /// The incident's version right after the change.
    pub version: i32,
    pub from: Option<Status>,
    pub to: Option<Status>,
    pub at: NaiveDateTime,
}

/// Queues one delivery per change and subscription that wants its event type
/// and may see the incident now, in the caller's transaction. For many
/// changes at once (a bulk path that bypasses the incident service) pass them
/// all: subscriptions and incidents are read once. Returns the rows queued.
pub fn enqueue(conn: &mut DbConnection, changes: &[Change<'_>]) -> QueryResult<usize> {
    if changes.is_empty() {
        return Ok(0);
    }
    let subscriptions: Vec<_> = queries::all_with_owner(conn)?
        .into_iter()
        .filter_map(|(sub, owner)| {
            let actor = viewer(&sub, &owner).ok()?;
            Some((split_events(&sub.events), sub, actor))
        })
        .collect();
    if subscriptions.is_empty() {
        return Ok(0);
    }
    let ids: Vec<&str> = changes.iter().map(|c| c.incident_id).collect();
    let rows: Vec<IncidentRow> = incidents::table
        .filter(incidents::id.eq_any(&ids))
        .select(IncidentRow::as_select())
        .load(conn)?;
    let mut queued = 0;
    for change in changes {
        let Some(row) = rows.iter().find(|r| r.id == change.incident_id) else {
            continue;
        };
        let event = EventType::of(change.kind);
        for (events, sub, actor) in &subscriptions {
            if !events.contains(&event) || !actor.sees(row) {
                continue;
            }
            queue(
                conn,
                NewDelivery {
                    subscription_id: &sub.id,
                    event_type: event.as_str(),
                    incident_id: Some(change.incident_id),
                    position: Some(change.position),
                    change_kind: Some(change.kind.as_str()),
                    version: Some(change.version),
                    from_status: change.from.map(Status::as_str),
                    to_status: change.to.map(Status::as_str),
                    occurred_at: change.at,
                },
            )?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// A time-ordered id (UUID v7), so the log and its cursor follow time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// An event for one subscription, before it is queued.
struct NewDelivery<'a> {
    subscription_id: &'a str,
    event_type: &'a str,
    incident_id: Option<&'a str>,
    position: Option<i64>,
    change_kind: Option<&'a str>,
    version: Option<i32>,
    from_status: Option<&'a str>,
    to_status: Option<&'a str>,
    occurred_at: NaiveDateTime,
}

/// Queues an event, due now; returns its id.
fn queue(conn: &mut DbConnection, new: NewDelivery<'_>) -> QueryResult<String> {
    let (id, now) = (new_id(), crate::db::now());
    diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::id.eq(&id),
            webhook_deliveries::subscription_id.eq(new.subscription_id),
            webhook_deliveries::event_type.eq(new.event_type),
            webhook_deliveries::incident_id.eq(new.incident_id),
            webhook_deliveries::position.eq(new.position),
            webhook_deliveries::change_kind.eq(new.change_kind),
            webhook_deliveries::version.eq(new.version),
            webhook_deliveries::from_status.eq(new.from_status),
            webhook_deliveries::to_status.eq(new.to_status),
            webhook_deliveries::occurred_at.eq(new.occurred_at),
            webhook_deliveries::state.eq(PENDING),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::created_at.eq(now),
            webhook_deliveries::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Queues a ping; returns its event id.
pub fn ping(conn: &mut DbConnection, subscription: &str) -> QueryResult<String> {
    queue(
        conn,
        NewDelivery {
            subscription_id: subscription,
            event_type: EventType::Ping.as_str(),
            incident_id: None,
            position: None,
            change_kind: None,
            version: None,
            from_status: None,
            to_status: None,
            occurred_at: crate::db::now(),
        },
    )
}

/// What to deliver again.
pub enum Redeliver {
    One(String),
    Since(NaiveDateTime),
}

/// Queues events of a subscription again, with the same event id (so the same
/// `webhook-id`) and a fresh retry schedule; an event still pending is left
/// as it is. `None` when the one event named is not the subscription's.
pub fn redeliver(
    conn: &mut DbConnection,
    subscription: &str,
    what: Redeliver,
) -> QueryResult<Option<usize>> {
    let now = crate::db::now();
    let mine = webhook_deliveries::table
        .filter(webhook_deliveries::subscription_id.eq(subscription.to_owned()))
        .into_boxed();
    let targets: Vec<String> = match what {
        Redeliver::One(id) => {
            let found: Option<String> = mine
                .filter(webhook_deliveries::id.eq(id))
                .select(webhook_deliveries::id)
                .first(conn)
                .optional()?;
            let Some(found) = found else {
                return Ok(None);
            };
            vec![found]
        }
        Redeliver::Since(since) => mine
            .filter(webhook_deliveries::created_at.ge(since))
            .select(webhook_deliveries::id)
            .load(conn)?,
    };
    let mut queued = 0;
    for chunk in targets.chunks(500) {
        queued += diesel::update(
            webhook_deliveries::table
                .filter(webhook_deliveries::id.eq_any(chunk))
                .filter(webhook_deliveries::state.ne(PENDING)),
        )
        .set((
            webhook_deliveries::state.eq(PENDING),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::claimed_by.eq(None::<String>),
            webhook_deliveries::claimed_until.eq(None::<NaiveDateTime>),
            webhook_deliveries::updated_at.eq(now),
        ))
        .execute(conn)?;
    }
    Ok(Some(queued))
}
