//! Stores one group of a batch (`super::batch`) in one transaction, in bulk:
//! a handful of statements per group instead of a dozen per report.
//!
//! - One query finds which of the group's ids are stored already, and one per
//!   mission reads its bases; everything else that follows from a report
//!   (nearest base, assessment, sealed narrative, history entry) is computed
//!   in memory.
//! - The new incidents go in one INSERT, in the order of their ids, so that
//!   two groups holding the same ids take their row locks in the same order
//!   and cannot deadlock. On PostgreSQL it skips (`ON CONFLICT DO NOTHING`) an
//!   id another transaction stored since the check; on SQLite no other writer
//!   can, as each holds the database's write lock.
//! - Their dimensions, history entries and change-feed rows follow in one
//!   statement per table (`queries::insert_reported`), and their audit rows
//!   are linked into the chain in memory after one read of its head, under
//!   the chain's lock, taken once (`audit::write_all`).
//! - Every other item (an id stored before, sent twice in the group, or
//!   stored by another transaction meanwhile) is a re-send: its incident is
//!   read in one query for the group and compared (200, or 409).
//!
//! An item refused before storage (an unknown mission) is answered alone. A
//! database error rolls the group back and it is stored again report by
//! report, a savepoint each, so that whatever one report did wrong is rolled
//! back alone; a lost connection fails the request.

use std::collections::{HashMap, HashSet};

use diesel::Connection;
use diesel::prelude::*;

use super::batch::{BatchResult, Item, Report};
use super::intake::{derive_among, event, row_from};
use super::queries::{self, EventRow, HistoryKind};
use super::vocabulary::Status;
use super::{Incident, IncidentError, IncidentRow, service};
use crate::audit::{self, Action, Entity};
use crate::auth::Actor;
use crate::crypto::DataKeys;
use crate::db::schema::incidents;
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::missions::Base;
use crate::missions::queries as missions;

/// An item's outcome: the status (201 or 200) and the incident, or why not.
type Stored = Result<(u16, Incident), ApiError>;

/// Stores one group and answers each item, serialised, in order.
pub(super) fn store(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    group: Vec<Item>,
    request_id: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    let outcomes = match db::in_transaction(conn, |conn| in_bulk(conn, actor, keys, &group)) {
        Ok(outcomes) => outcomes,
        Err(ApiError::ConnectionLost) => return Err(ApiError::ConnectionLost),
        Err(e) => {
            tracing::warn!(error = %e, "a batch group could not be stored in bulk; storing it report by report");
            db::in_transaction(conn, |conn| one_by_one(conn, actor, keys, &group))?
        }
    };
    group
        .iter()
        .zip(outcomes)
        .map(|(item, outcome)| {
            let result = match (outcome, &item.report) {
                (Some(Ok((status, incident))), _) => BatchResult {
                    index: item.index,
                    id: item.id.clone(),
                    status,
                    incident: Some(incident),
                    problem: None,
                },
                (Some(Err(e)), _) => {
                    BatchResult::failed(item.index, item.id.clone(), &e, request_id)
                }
                (None, Err(e)) => BatchResult::failed(item.index, item.id.clone(), e, request_id),
                (None, Ok(_)) => return Err(ApiError::internal("a batch item was not stored")),
            };
            serde_json::to_string(&result).map_err(ApiError::internal)
        })
        .collect()
}

/// What is stored for a new report.
struct New<'a> {
    report: &'a Report,
    row: IncidentRow,
    event: EventRow,
    base_name: Option<String>,
}

enum Plan<'a> {
    New(Box<New<'a>>),
    /// Its id is stored (before, or earlier in this group): a re-send or a conflict.
    Resent(&'a Report),
    Refused(ApiError),
}

/// The group in bulk, in the caller's transaction: an outcome per item (`None`
/// for an item refused before it reached the database), or a database error.
fn in_bulk(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    group: &[Item],
) -> Result<Vec<Option<Stored>>, ApiError> {
    let reports: Vec<&Report> = group
        .iter()
        .filter_map(|i| i.report.as_ref().ok())
        .collect();
    let taken = taken_ids(conn, &reports)?;
    let mut bases: HashMap<&str, Option<Vec<Base>>> = HashMap::new();
    for r in reports.iter().filter(|r| !taken.contains(&r.id)) {
        let mission = r.content.mission_id.as_str();
        if !bases.contains_key(mission) {
            bases.insert(mission, missions::bases_of_mission(conn, mission)?);
        }
    }

    let now = db::now();
    let mut planned = HashSet::new();
    let mut plans: Vec<Option<Plan>> = group
        .iter()
        .map(|item| {
            let r = item.report.as_ref().ok()?;
            if taken.contains(&r.id) || planned.contains(r.id.as_str()) {
                return Some(Plan::Resent(r));
            }
            let mission_bases = bases
                .get(r.content.mission_id.as_str())
                .and_then(Option::as_deref);
            Some(match derive_among(mission_bases, keys, &r.id, &r.content) {
                Ok((derived, base_name)) => {
                    planned.insert(r.id.as_str());
                    Plan::New(Box::new(new(r, actor, keys, derived, base_name, now)))
                }
                Err(e) => Plan::Refused(e.into()),
            })
        })
        .collect();

    let inserted = insert_new(
        conn,
        plans.iter().flatten().filter_map(|p| match p {
            Plan::New(n) => Some(&n.row),
            _ => None,
        }),
    )?;
    for plan in plans.iter_mut().flatten() {
        if let Plan::New(n) = plan
            && !inserted.contains(&n.row.id)
        {
            // Stored by another transaction since `taken_ids`.
            *plan = Plan::Resent(n.report);
        }
    }
    // The answers first, so that the chain's lock, taken next, is held for
    // the writes alone.
    let resent: Vec<&str> = plans
        .iter()
        .flatten()
        .filter_map(|p| match p {
            Plan::Resent(r) => Some(r.id.as_str()),
            _ => None,
        })
        .collect();
    let found: HashMap<String, (IncidentRow, Option<String>)> = queries::find_many(conn, &resent)?
        .into_iter()
        .map(|(row, base)| (row.id.clone(), (row, base)))
        .collect();
    let mut outcomes = Vec::with_capacity(plans.len());
    let mut stored: Vec<New> = Vec::new();
    for plan in plans {
        let outcome = match plan {
            None => None,
            Some(Plan::Refused(e)) => Some(Err(e)),
            Some(Plan::New(n)) => {
                let answer = Incident::view(n.row.clone(), n.base_name.clone(), actor, keys)
                    .map_err(ApiError::from);
                stored.push(*n);
                Some(answer.map(|i| (201, i)))
            }
            Some(Plan::Resent(r)) => {
                let (row, base) = found
                    .get(&r.id)
                    .cloned()
                    .ok_or_else(|| ApiError::internal("a re-sent incident vanished"))?;
                Some(
                    service::resent_as(row, base, actor, keys, &r.content)
                        .map(|i| (200, i))
                        .map_err(ApiError::from),
                )
            }
        };
        match outcome {
            Some(Err(e)) if server_error(&e) => return Err(e),
            outcome => outcomes.push(outcome),
        }
    }

    let rows: Vec<_> = stored
        .iter()
        .map(|n| (&n.row, &n.report.content, &n.event))
        .collect();
    queries::insert_reported(conn, &rows)?;
    audit::write_all(
        conn,
        stored
            .iter()
            .map(|n| {
                audit::Entry::new(Action::IncidentCreated)
                    .by(actor)
                    .on(Entity::Incident, &n.row.id)
                    .details(service::reported_details(&n.row))
            })
            .collect(),
    )?;
    Ok(outcomes)
}

fn new<'a>(
    report: &'a Report,
    actor: &Actor,
    keys: &DataKeys,
    derived: queries::ContentChanges,
    base_name: Option<String>,
    now: chrono::NaiveDateTime,
) -> New<'a> {
    let status = if report.submit {
        Status::Submitted
    } else {
        Status::Draft
    };
    let row = row_from(&report.id, actor, derived, status, now);
    let event = event(
        keys,
        &report.id,
        actor,
        HistoryKind::Created,
        None,
        Some(status),
        None,
        1,
        None,
    );
    New {
        report,
        row,
        event,
        base_name,
    }
}

/// Which of these ids are stored already.
fn taken_ids(conn: &mut DbConnection, reports: &[&Report]) -> QueryResult<HashSet<String>> {
    let ids: Vec<&str> = reports.iter().map(|r| r.id.as_str()).collect();
    Ok(queries::find_ids(conn, &ids)?.into_iter().collect())
}

/// Rows per INSERT on SQLite: 31 columns each, under its 32,766 parameters.
const ROWS_PER_INSERT: usize = 1_000;

/// Inserts the rows, in the order of their ids; the ids inserted (on
/// PostgreSQL, without those another transaction stored meanwhile).
fn insert_new<'a>(
    conn: &mut DbConnection,
    rows: impl Iterator<Item = &'a IncidentRow>,
) -> QueryResult<HashSet<String>> {
    let mut rows: Vec<&IncidentRow> = rows.collect();
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    match conn {
        DbConnection::Postgres(c) => Ok(diesel::insert_into(incidents::table)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(incidents::id)
            .get_results::<String>(c)?
            .into_iter()
            .collect()),
        DbConnection::Sqlite(c) => {
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                diesel::insert_into(incidents::table)
                    .values(chunk.to_vec())
                    .execute(c)?;
            }
            Ok(rows.into_iter().map(|r| r.id.clone()).collect())
        }
    }
}

/// The group report by report, a savepoint each: a refused report is rolled
/// back alone.
fn one_by_one(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    group: &[Item],
) -> Result<Vec<Option<Stored>>, ApiError> {
    group
        .iter()
        .map(|item| {
            let Ok(r) = &item.report else {
                return Ok(None);
            };
            match store_one(conn, actor, keys, r) {
                Err(e) if server_error(&e) => Err(e),
                stored => Ok(Some(stored)),
            }
        })
        .collect()
}

fn store_one(conn: &mut DbConnection, actor: &Actor, keys: &DataKeys, r: &Report) -> Stored {
    let created = conn.transaction::<_, IncidentError, _>(|conn| {
        service::report(conn, actor, keys, &r.id, &r.content, r.submit)
    });
    match created {
        Ok(incident) => Ok((201, incident)),
        Err(IncidentError::IdTaken) => service::resent(conn, actor, keys, &r.id, &r.content)
            .map(|i| (200, i))
            .map_err(ApiError::from),
        Err(e) => Err(e.into()),
    }
}

fn server_error(e: &ApiError) -> bool {
    actix_web::ResponseError::status_code(e).is_server_error()
}
