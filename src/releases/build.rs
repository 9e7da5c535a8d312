//! Building a month's release: exact counts at the fixed grain, noised once,
//! stored with an audit row, all in one transaction.
//!
//! Several instances may build at once: each month's `releases` row has a UNIQUE
//! month and is inserted first, inside the transaction, so one builder wins and
//! the others roll back (their noise is never stored nor shown, so it costs no
//! privacy).

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde_json::json;

use super::{
    MECHANISM, MULTI_VALUE_CLAMP, Month, NONE, Part, Table, VICTIM_CLAMP, distance_band, noise,
    plan, total_epsilon,
};
use crate::audit::{self, Action};
use crate::db::StoreError;
use crate::db::schema::{bases, incidents, missions, releases};
use crate::db::sql::{Bind, Sql};
use crate::db::{self, DbConnection, MultiBackend};
use crate::domain_error::DomainError;
use crate::incidents::vocabulary::{Affiliation, ExploitationType, Status};

/// A month just released.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub month: Month,
    pub epsilon: f64,
    pub cells: usize,
}

/// When a builder runs, and with which budget.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub epsilon: f64,
    pub lag_days: u32,
    pub today: NaiveDate,
}

/// Months before this are never released (no mission predates the UN).
pub fn earliest_month() -> Month {
    Month::parse("1945-01").expect("a valid month")
}

/// Builds every due month not yet released, oldest first. Idempotent.
pub fn build_due(conn: &mut DbConnection, schedule: Schedule) -> Result<Vec<Built>, DomainError> {
    let earliest: Option<NaiveDate> = missions::table
        .select(diesel::dsl::min(missions::mandate_start))
        .first(conn)?;
    let Some(earliest) = earliest else {
        return Ok(Vec::new());
    };
    let done: Vec<String> = releases::table.select(releases::month).load(conn)?;
    let mut built = Vec::new();
    let last = super::last_due(schedule.today, schedule.lag_days);
    for month in super::range(earliest, last) {
        if month < earliest_month() || done.contains(&month.to_string()) {
            continue;
        }
        if let Some(b) = build_month(conn, month, schedule)? {
            built.push(b);
        }
    }
    Ok(built)
}

/// Builds one month if it is due and not yet built; `None` when another builder
/// has it (or had it already).
pub fn build_month(
    conn: &mut DbConnection,
    month: Month,
    schedule: Schedule,
) -> Result<Option<Built>, DomainError> {
    if month.due_on(schedule.lag_days) > schedule.today {
        return Err(DomainError::BadQuery(format!(
            "{month} is not due before {} (BASEWATCH_RELEASE_LAG_DAYS = {})",
            month.due_on(schedule.lag_days),
            schedule.lag_days
        )));
    }
    if month < earliest_month() {
        return Err(DomainError::BadQuery(format!(
            "{month} is before {}",
            earliest_month()
        )));
    }
    // Only the documented range: a month before it (or with no mission at
    // all) would leave a gap in what partners are told was released.
    let earliest: Option<NaiveDate> = missions::table
        .select(diesel::dsl::min(missions::mandate_start))
        .first(conn)?;
    let Some(first) = earliest.map(super::first_month) else {
        return Err(DomainError::BadQuery(
            "no mission exists yet: there is nothing to release".into(),
        ));
    };
    if month < first {
        return Err(DomainError::BadQuery(format!(
            "{month} is before {first}, the first month released ({} months before the \
             earliest mandate start)",
            super::MONTHS_BEFORE_MANDATE
        )));
    }
    let parts = plan(schedule.epsilon).map_err(DomainError::corrupt)?;
    let result = db::in_transaction(conn, |conn| {
        let exists: i64 = releases::table
            .filter(releases::month.eq(month.to_string()))
            .count()
            .get_result(conn)?;
        if exists > 0 {
            return Ok(None);
        }
        let id = db::new_id();
        let epsilon = total_epsilon(&parts);
        diesel::insert_into(releases::table)
            .values((
                releases::id.eq(&id),
                releases::month.eq(month.to_string()),
                releases::built_at.eq(db::now()),
                releases::epsilon.eq(epsilon),
                releases::mechanism.eq(MECHANISM),
                releases::parameters.eq(parameters(&parts, schedule).to_string()),
            ))
            .execute(conn)?;
        let cells = noised_cells(conn, month, &parts)?;
        insert_cells(conn, &id, month, &cells)?;
        audit::Entry::new(Action::ReleaseBuilt)
            .on(audit::Entity::Release, &id)
            .details(json!({
                "month": month.to_string(), "epsilon": epsilon, "mechanism": MECHANISM,
                "cells": cells.len(), "lag_days": schedule.lag_days,
            }))
            .write(conn)?;
        Ok(Some(Built {
            month,
            epsilon,
            cells: cells.len(),
        }))
    });
    match result {
        // Another builder inserted the month first, and committed it. Any other
        // unique violation is a fault, not a lost race: it must not skip a month.
        Err(DomainError::Store(StoreError::UniqueViolation(e))) => {
            let built = releases::table
                .filter(releases::month.eq(month.to_string()))
                .count()
                .get_result::<i64>(conn)?;
            if built == 1 {
                Ok(None)
            } else {
                Err(DomainError::corrupt(format!("building {month}: {e}")))
            }
        }
        other => other,
    }
}

fn parameters(parts: &[Part], schedule: Schedule) -> serde_json::Value {
    json!({
        "parts": parts,
        "victim_clamp": VICTIM_CLAMP,
        "multi_value_clamp": MULTI_VALUE_CLAMP,
        "lag_days": schedule.lag_days,
        "covers": "non-draft incidents of every organisation, as they stood when the month was built",
    })
}

/// A cell as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCell {
    pub mission_id: String,
    pub table: Table,
    pub value: String,
    pub incidents: i64,
    pub victims: Option<i64>,
}

type IncidentRow = (
    String,
    String,
    Option<String>,
    i32,
    String,
    Option<String>,
    Option<f64>,
);

/// Exact counts of the month at the fixed grain (every cell, zeros included),
/// then noised per table.
fn noised_cells(
    conn: &mut DbConnection,
    month: Month,
    parts: &[Part],
) -> Result<Vec<StoredCell>, DomainError> {
    let start = month.first_day().and_hms_opt(0, 0, 0).expect("midnight");
    let end = month
        .next()
        .first_day()
        .and_hms_opt(0, 0, 0)
        .expect("midnight");
    let in_month = || {
        incidents::table
            .filter(incidents::status.ne(Status::Draft.as_str()))
            .filter(incidents::occurred_at.ge(start))
            .filter(incidents::occurred_at.lt(end))
    };
    let rows: Vec<IncidentRow> = in_month()
        .select((
            incidents::id,
            incidents::mission_id,
            incidents::base_id,
            incidents::victim_count,
            incidents::consent_assessment,
            incidents::venue,
            incidents::base_distance_km,
        ))
        .load(conn)?;
    let types = values_in_month(
        conn,
        "incident_exploitation_types",
        "exploitation_type",
        start,
        end,
    )?;
    let affiliations = values_in_month(
        conn,
        "incident_perpetrator_affiliations",
        "affiliation",
        start,
        end,
    )?;
    // The grain: every mission and base existing now, every vocabulary value.
    let mission_ids: Vec<String> = missions::table
        .select(missions::id)
        .order(missions::id)
        .load(conn)?;
    let mut mission_bases: BTreeMap<String, Vec<String>> = mission_ids
        .iter()
        .map(|m| (m.clone(), Vec::new()))
        .collect();
    for (base, mission) in bases::table
        .select((bases::id, bases::mission_id))
        .order(bases::id)
        .load::<(String, String)>(conn)?
    {
        mission_bases.entry(mission).or_default().push(base);
    }

    let by_incident = |pairs: Vec<(String, String)>, order: &[&str]| {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (incident, value) in pairs {
            map.entry(incident).or_default().push(value);
        }
        for values in map.values_mut() {
            // The contribution bound: the first MULTI_VALUE_CLAMP in vocabulary order.
            values.sort_by_key(|v| order.iter().position(|o| o == v).unwrap_or(usize::MAX));
            values.truncate(MULTI_VALUE_CLAMP);
        }
        map
    };
    let type_order: Vec<&str> = ExploitationType::ALL.iter().map(|v| v.as_str()).collect();
    let affiliation_order: Vec<&str> = Affiliation::ALL.iter().map(|v| v.as_str()).collect();
    let types = by_incident(types, &type_order);
    let affiliations = by_incident(affiliations, &affiliation_order);

    // Exact counts: (mission, table, value) → (incidents, clamped victims).
    let mut exact: HashMap<(String, Table, String), (i64, i64)> = HashMap::new();
    let mut add = |mission: &str, table: Table, value: &str, victims: i64| {
        let e = exact
            .entry((mission.to_owned(), table, value.to_owned()))
            .or_default();
        e.0 += 1;
        e.1 += victims;
    };
    let none = [NONE.to_owned()];
    for (id, mission, base, victim_count, consent, venue, km) in &rows {
        let Some(known) = mission_bases.get(mission) else {
            continue;
        };
        let base = base
            .as_deref()
            .filter(|b| known.iter().any(|k| k == b))
            .unwrap_or(NONE);
        add(
            mission,
            Table::Base,
            base,
            i64::from(*victim_count).clamp(0, VICTIM_CLAMP),
        );
        add(mission, Table::ConsentAssessment, consent, 0);
        add(mission, Table::Venue, venue.as_deref().unwrap_or(NONE), 0);
        add(mission, Table::DistanceBand, distance_band(*km), 0);
        for t in types.get(id).map_or(&none[..], |v| &v[..]) {
            add(mission, Table::ExploitationType, t, 0);
        }
        for a in affiliations.get(id).map_or(&none[..], |v| &v[..]) {
            add(mission, Table::PerpetratorAffiliation, a, 0);
        }
    }

    let scale = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.scale)
            .ok_or_else(|| DomainError::corrupt(format!("no noise part {name}")))
    };
    let mut cells = Vec::new();
    for table in Table::ALL {
        let mut keys: Vec<(String, String)> = Vec::new();
        for (mission, bases) in &mission_bases {
            let values: Vec<String> = match table {
                Table::Base => bases
                    .iter()
                    .cloned()
                    .chain(std::iter::once(NONE.to_owned()))
                    .collect(),
                other => other.values().into_iter().map(str::to_owned).collect(),
            };
            keys.extend(values.into_iter().map(|v| (mission.clone(), v)));
        }
        let lookup = |(m, v): &(String, String)| {
            exact
                .get(&(m.clone(), table, v.clone()))
                .copied()
                .unwrap_or((0, 0))
        };
        let counts: Vec<i64> = keys.iter().map(|k| lookup(k).0).collect();
        let noised = noise(counts, scale(&format!("{}.incidents", table.name()))?)
            .map_err(DomainError::corrupt)?;
        let victims: Vec<Option<i64>> = if table == Table::Base {
            let exact_victims: Vec<i64> = keys.iter().map(|k| lookup(k).1).collect();
            noise(exact_victims, scale("base.victims")?)
                .map_err(DomainError::corrupt)?
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![None; keys.len()]
        };
        for (((mission_id, value), incidents), victims) in keys.into_iter().zip(noised).zip(victims)
        {
            cells.push(StoredCell {
                mission_id,
                table,
                value,
                incidents,
                victims,
            });
        }
    }
    Ok(cells)
}

#[derive(QueryableByName)]
struct Pair {
    #[diesel(sql_type = Text)]
    incident_id: String,
    #[diesel(sql_type = Text)]
    value: String,
}

/// (incident, value) of a multi-valued field, for the month's non-draft incidents.
fn values_in_month(
    conn: &mut DbConnection,
    table: &str,
    column: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<Vec<(String, String)>, DomainError> {
    let mut sql = Sql::new(conn);
    sql.push(&format!(
        "SELECT t.incident_id AS incident_id, t.{column} AS value FROM {table} t \
         JOIN incidents i ON i.id = t.incident_id WHERE i.status <> "
    ))
    .bind(Bind::Text(Status::Draft.as_str().into()))
    .push(" AND i.occurred_at >= ")
    .bind(Bind::Timestamp(start))
    .push(" AND i.occurred_at < ")
    .bind(Bind::Timestamp(end));
    Ok(sql
        .load::<Pair>(conn)?
        .into_iter()
        .map(|p| (p.incident_id, p.value))
        .collect())
}

/// Many rows per statement: a release of decades of months has tens of thousands of cells.
fn insert_cells(
    conn: &mut DbConnection,
    release_id: &str,
    month: Month,
    cells: &[StoredCell],
) -> Result<(), DomainError> {
    let postgres = matches!(conn, DbConnection::Postgres(_));
    let month = month.to_string();
    for chunk in cells.chunks(500) {
        let mut text = String::from(
            "INSERT INTO release_cells (release_id, month, mission_id, dimension, value, incidents, victims) VALUES ",
        );
        let mut n = 0;
        for (i, _) in chunk.iter().enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            text.push('(');
            for j in 0..7 {
                if j > 0 {
                    text.push_str(", ");
                }
                n += 1;
                if postgres {
                    text.push_str(&format!("${n}"));
                } else {
                    text.push('?');
                }
            }
            text.push(')');
        }
        let mut query: BoxedSqlQuery<'_, MultiBackend, _> = diesel::sql_query(text).into_boxed();
        for cell in chunk {
            query = query
                .bind::<Text, _>(release_id.to_owned())
                .bind::<Text, _>(month.clone())
                .bind::<Text, _>(cell.mission_id.clone())
                .bind::<Text, _>(cell.table.name())
                .bind::<Text, _>(cell.value.clone())
                .bind::<BigInt, _>(cell.incidents)
                .bind::<Nullable<BigInt>, _>(cell.victims);
        }
        query.execute(conn)?;
    }
    Ok(())
}

/// Builds what is due now, then again every hour (a month becomes due once a
/// day at most; a check costs two small queries). Runs on its own thread so that
/// start-up never waits for it; several instances may run one each.
pub fn spawn_background(pool: crate::db::Pool, epsilon: f64, lag_days: u32) {
    let spawned = std::thread::Builder::new()
        .name("release-builder".into())
        .spawn(move || {
            loop {
                let schedule = Schedule {
                    epsilon,
                    lag_days,
                    today: chrono::Utc::now().date_naive(),
                };
                match pool.get() {
                    Ok(mut conn) => match build_due(&mut conn, schedule) {
                        Ok(built) if !built.is_empty() => tracing::info!(
                            months = built.len(),
                            last = %built.last().map(|b| b.month.to_string()).unwrap_or_default(),
                            "partner releases built"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "building partner releases failed"),
                    },
                    Err(e) => tracing::warn!(error = %e, "release builder: no database connection"),
                }
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the release builder");
    }
}
