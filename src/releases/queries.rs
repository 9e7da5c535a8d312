//! Reading what was released: the stored cells and what the releases cover.

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Error, MECHANISM, Month, Table, expected_error};
use crate::db::DbConnection;
use crate::db::schema::{release_cells, releases};

/// A stored cell.
#[derive(Debug, Clone, Queryable)]
pub struct Released {
    pub month: String,
    pub mission_id: String,
    pub value: String,
    pub incidents: i64,
    pub victims: Option<i64>,
}

/// Which cells a partner query reads.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub mission_id: Option<String>,
    /// Only with the base table.
    pub base_id: Option<String>,
    /// First month included.
    pub from: Option<Month>,
    /// First month excluded.
    pub to: Option<Month>,
}

pub fn cells(
    conn: &mut DbConnection,
    table: Table,
    selection: &Selection,
) -> QueryResult<Vec<Released>> {
    let mut query = release_cells::table
        .filter(release_cells::dimension.eq(table.name()))
        .select((
            release_cells::month,
            release_cells::mission_id,
            release_cells::value,
            release_cells::incidents,
            release_cells::victims,
        ))
        .into_boxed();
    if let Some(m) = &selection.mission_id {
        query = query.filter(release_cells::mission_id.eq(m.clone()));
    }
    if let Some(b) = &selection.base_id {
        query = query.filter(release_cells::value.eq(b.clone()));
    }
    if let Some(from) = selection.from {
        query = query.filter(release_cells::month.ge(from.to_string()));
    }
    if let Some(to) = selection.to {
        query = query.filter(release_cells::month.lt(to.to_string()));
    }
    query
        .order((
            release_cells::month,
            release_cells::mission_id,
            release_cells::value,
        ))
        .load(conn)
}

/// Which months have been released (a partner sees nothing else).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Coverage {
    /// The first released month, `YYYY-MM`; `null` before the first release.
    pub first_month: Option<String>,
    /// The last released month: later months are not released yet.
    pub last_month: Option<String>,
    /// Months released (each built once, never recomputed).
    pub months: usize,
}

/// One built release, as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleaseSummary {
    #[schema(example = "2024-06")]
    pub month: String,
    /// The day (UTC) it was built, never the time: months built one after the
    /// other would otherwise show how long each took, and that grows with the
    /// month's exact number of incidents.
    pub built_on: chrono::NaiveDate,
    /// The privacy-loss budget this month's release spent.
    pub epsilon: f64,
    pub mechanism: String,
}

pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<ReleaseSummary>> {
    let rows: Vec<(String, chrono::NaiveDateTime, f64, String)> = releases::table
        .select((
            releases::month,
            releases::built_at,
            releases::epsilon,
            releases::mechanism,
        ))
        .order(releases::month)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(month, built_at, epsilon, mechanism)| ReleaseSummary {
            month,
            built_on: built_at.date(),
            epsilon,
            mechanism,
        })
        .collect())
}

/// What releases say about their noise, for the `privacy` of an answer.
#[derive(Debug, Clone)]
pub struct Budget {
    pub coverage: Coverage,
    /// The largest ε of a monthly release in the range (each incident is in
    /// one month only, so this bounds what the answer says about it).
    pub epsilon: Option<f64>,
    /// The largest noise scale per part over the range.
    pub scales: Vec<(String, f64)>,
}

pub fn budget(
    conn: &mut DbConnection,
    from: Option<Month>,
    to: Option<Month>,
) -> QueryResult<Budget> {
    let mut query = releases::table
        .select((releases::month, releases::epsilon, releases::parameters))
        .order(releases::month)
        .into_boxed();
    if let Some(from) = from {
        query = query.filter(releases::month.ge(from.to_string()));
    }
    if let Some(to) = to {
        query = query.filter(releases::month.lt(to.to_string()));
    }
    let rows: Vec<(String, f64, String)> = query.load(conn)?;
    let mut scales: Vec<(String, f64)> = Vec::new();
    for (_, _, parameters) in &rows {
        #[derive(serde::Deserialize)]
        struct Parameters {
            parts: Vec<PartRead>,
        }
        #[derive(serde::Deserialize)]
        struct PartRead {
            name: String,
            scale: f64,
        }
        if let Ok(p) = serde_json::from_str::<Parameters>(parameters) {
            for part in p.parts {
                match scales.iter_mut().find(|(n, _)| *n == part.name) {
                    Some((_, s)) => *s = s.max(part.scale),
                    None => scales.push((part.name, part.scale)),
                }
            }
        }
    }
    Ok(Budget {
        coverage: Coverage {
            first_month: rows.first().map(|r| r.0.clone()),
            last_month: rows.last().map(|r| r.0.clone()),
            months: rows.len(),
        },
        epsilon: rows.iter().map(|r| r.1).reduce(f64::max),
        scales,
    })
}

impl Budget {
    /// The error of one released cell of `part` (e.g. `base.incidents`).
    pub fn error(&self, part: &str) -> Option<Error> {
        self.scales
            .iter()
            .find(|(n, _)| n == part)
            .map(|(_, s)| expected_error(*s))
    }
}

/// What every partner answer states about its privacy protection.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Privacy {
    pub mechanism: String,
    /// The privacy-loss budget of one monthly release (the largest among the
    /// months answered). Each incident belongs to one month, so this bounds what
    /// the answer, and every other answer, can reveal about any one incident.
    pub epsilon: Option<f64>,
    /// The months the answer was computed from.
    pub release: Coverage,
    pub expected_error: ExpectedError,
}

/// The noise in plain units.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExpectedError {
    /// Incidents, per released cell.
    pub incidents_per_cell: Option<Error>,
    /// Victims, per released cell (the base table only).
    pub victims_per_cell: Option<Error>,
    pub note: String,
}

impl Budget {
    pub fn privacy(self, table: Table) -> Privacy {
        let incidents = self.error(&format!("{}.incidents", table.name()));
        let victims = (table == Table::Base)
            .then(|| self.error("base.victims"))
            .flatten();
        Privacy {
            mechanism: MECHANISM.to_owned(),
            epsilon: self.epsilon,
            release: self.coverage,
            expected_error: ExpectedError {
                incidents_per_cell: incidents,
                victims_per_cell: victims,
                note: format!(
                    "per released cell (mission × {}); a figure that adds n cells has a \
                     standard deviation √n times larger. Negative noisy counts were raised to 0. \
                     Victims count at most {} per incident; an incident counts in at most {} \
                     exploitation types or affiliations.",
                    match table {
                        Table::Base => "base × month".to_owned(),
                        other => format!("month × {}", other.name()),
                    },
                    super::VICTIM_CLAMP,
                    super::MULTI_VALUE_CLAMP,
                ),
            },
        }
    }
}

/// When the newest release was built, if any was (the metrics' release age).
pub fn newest_built_at(conn: &mut DbConnection) -> QueryResult<Option<chrono::NaiveDateTime>> {
    releases::table
        .select(diesel::dsl::max(releases::built_at))
        .first(conn)
}
