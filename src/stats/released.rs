//! Partner aggregates: arithmetic over the stored release cells, nothing else.
//!
//! Only what the release grain can answer is accepted: `group_by` over mission,
//! base, month, year and at most one released dimension (never base with a
//! dimension: base × venue was not released), `mission_id`, `base_id` (with
//! the base table), and month ranges whose bounds are month starts. Anything
//! finer answers 400 naming the parameter, so no query reaches exact data.

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::queries::Row;
use super::routes::assemble;
use super::{Aggregate, Dimension, Scope, Total};
use crate::db::DbConnection;
use crate::domain_error::DomainError;
use crate::releases::queries::{self as released, Selection};
use crate::releases::{Month, NONE, Table};

pub const GRAIN: &str = "the partner release answers at release grain only: group_by of mission, base, \
month, year and at most one of exploitation_type, consent_assessment, venue, distance_band, \
perpetrator_affiliation (not with base); filters mission_id, base_id (not with a dimension) and \
occurred_from/occurred_to at the start of a month (e.g. 2024-06-01T00:00:00Z); your own \
organisation's incidents exactly with scope=own";

/// A partner question, checked against the release grain.
#[derive(Debug, Clone)]
pub struct Question {
    pub table: Table,
    pub selection: Selection,
}

fn refuse(parameter: &str, why: &str) -> DomainError {
    DomainError::BadQuery(format!("{parameter}: {why}; {GRAIN}"))
}

fn table_of(dim: Dimension) -> Option<Table> {
    match dim {
        Dimension::ExploitationType => Some(Table::ExploitationType),
        Dimension::ConsentAssessment => Some(Table::ConsentAssessment),
        Dimension::Venue => Some(Table::Venue),
        Dimension::DistanceBand => Some(Table::DistanceBand),
        Dimension::PerpetratorAffiliation => Some(Table::PerpetratorAffiliation),
        _ => None,
    }
}

/// A bound of a month range: exactly the first instant of a month.
pub fn month_bound(value: Option<DateTime<Utc>>, name: &str) -> Result<Option<Month>, DomainError> {
    let Some(t) = value else {
        return Ok(None);
    };
    crate::http::query_time(Some(t), name)?;
    let start = t.day() == 1 && t.num_seconds_from_midnight() == 0 && t.nanosecond() == 0;
    if !start {
        return Err(refuse(
            name,
            &format!("{t} is not the start of a month in UTC"),
        ));
    }
    Ok(Some(Month::containing(t.date_naive())))
}

pub struct Asked<'a> {
    pub dims: &'a [Dimension],
    pub mission_id: Option<String>,
    pub base_id: Option<String>,
    pub occurred_from: Option<DateTime<Utc>>,
    pub occurred_to: Option<DateTime<Utc>>,
    pub status: bool,
    pub k: bool,
}

pub fn question(asked: Asked<'_>) -> Result<Question, DomainError> {
    if asked.status {
        return Err(refuse(
            "status",
            "the release counts every non-draft state together",
        ));
    }
    if asked.k {
        return Err(refuse("k", "released cells are noised, not suppressed"));
    }
    if asked.dims.contains(&Dimension::Status) {
        return Err(refuse("group_by", "status is not released"));
    }
    let tables: Vec<Table> = asked.dims.iter().filter_map(|d| table_of(*d)).collect();
    let table = match tables[..] {
        [] => Table::Base,
        [t] => t,
        _ => {
            return Err(refuse(
                "group_by",
                "at most one of the released dimensions at a time",
            ));
        }
    };
    if table != Table::Base && asked.dims.contains(&Dimension::Base) {
        return Err(refuse(
            "group_by",
            &format!("base × {} is not released", table.name()),
        ));
    }
    if table != Table::Base && asked.base_id.is_some() {
        return Err(refuse(
            "base_id",
            &format!("base × {} is not released", table.name()),
        ));
    }
    let from = month_bound(asked.occurred_from, "occurred_from")?;
    let to = month_bound(asked.occurred_to, "occurred_to")?;
    Ok(Question {
        table,
        selection: Selection {
            mission_id: asked.mission_id,
            base_id: asked.base_id,
            from,
            to,
        },
    })
}

/// Sums released cells into the cells asked for. The same question always
/// reads the same stored cells, so it always gets the same answer.
pub fn answer(
    conn: &mut DbConnection,
    dims: &[Dimension],
    question: &Question,
) -> Result<Aggregate, DomainError> {
    let table = question.table;
    let stored = released::cells(conn, table, &question.selection)?;
    let budget = released::budget(conn, question.selection.from, question.selection.to)?;
    let has = |d: Dimension| dims.contains(&d);
    let value = |v: &str| (v != NONE).then(|| v.to_owned());
    let mut rows: Vec<Row> = Vec::new();
    let mut index: std::collections::HashMap<Vec<Option<String>>, usize> = Default::default();
    for cell in stored {
        let dim_value = (table != Table::Base).then(|| value(&cell.value)).flatten();
        let row = Row {
            mission_id: has(Dimension::Mission).then(|| cell.mission_id.clone()),
            base_id: has(Dimension::Base).then(|| value(&cell.value)).flatten(),
            year: has(Dimension::Year).then(|| cell.month[..4].to_owned()),
            month: has(Dimension::Month).then(|| cell.month.clone()),
            exploitation_type: (table == Table::ExploitationType)
                .then(|| dim_value.clone())
                .flatten(),
            consent_assessment: (table == Table::ConsentAssessment)
                .then(|| dim_value.clone())
                .flatten(),
            venue: (table == Table::Venue).then(|| dim_value.clone()).flatten(),
            perpetrator_affiliation: (table == Table::PerpetratorAffiliation)
                .then(|| dim_value.clone())
                .flatten(),
            distance_band: (table == Table::DistanceBand)
                .then(|| dim_value.clone())
                .flatten(),
            status: None,
            incidents: cell.incidents,
            victims: cell.victims.unwrap_or(0),
        };
        let key = vec![
            row.mission_id.clone(),
            row.base_id.clone(),
            row.year.clone(),
            row.month.clone(),
            dim_value,
        ];
        match index.get(&key) {
            Some(i) => {
                rows[*i].incidents += row.incidents;
                rows[*i].victims += row.victims;
            }
            None => {
                index.insert(key, rows.len());
                rows.push(row);
            }
        }
    }
    let incidents: i64 = rows.iter().map(|r| r.incidents).sum();
    let victims: i64 = rows.iter().map(|r| r.victims).sum();
    let total = Total {
        incidents: Some(incidents),
        victims: (table == Table::Base).then_some(victims),
        suppressed: false,
    };
    let mut aggregate = assemble(conn, dims, rows, total, None, Scope::Release)?;
    if table != Table::Base {
        for cell in &mut aggregate.cells {
            cell.victims = None;
        }
    }
    aggregate.privacy = Some(budget.privacy(table));
    Ok(aggregate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(dims: &[Dimension]) -> Asked<'_> {
        Asked {
            dims,
            mission_id: None,
            base_id: None,
            occurred_from: None,
            occurred_to: None,
            status: false,
            k: false,
        }
    }

    #[test]
    fn only_the_release_grain_is_answered() {
        assert_eq!(question(ask(&[])).unwrap().table, Table::Base);
        let q = question(ask(&[
            Dimension::Mission,
            Dimension::Month,
            Dimension::Venue,
        ]))
        .unwrap();
        assert_eq!(q.table, Table::Venue);
        for dims in [
            &[Dimension::Base, Dimension::Venue][..],
            &[Dimension::Venue, Dimension::ExploitationType],
            &[Dimension::Status],
        ] {
            let e = question(ask(dims)).unwrap_err().to_string();
            assert!(e.starts_with("group_by:"), "{e}");
        }
        let mut a = ask(&[Dimension::Venue]);
        a.base_id = Some("b".into());
        assert!(question(a).unwrap_err().to_string().starts_with("base_id:"));
        let mut a = ask(&[]);
        a.status = true;
        assert!(question(a).unwrap_err().to_string().starts_with("status:"));
        let t = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
        assert!(
            month_bound(t("2024-06-01T00:00:00Z"), "occurred_from")
                .unwrap()
                .is_some()
        );
        for bad in [
            "2024-06-02T00:00:00Z",
            "2024-06-01T00:00:01Z",
            "2024-06-01T00:00:00.5Z",
        ] {
            let e = month_bound(t(bad), "occurred_to").unwrap_err().to_string();
            assert!(e.starts_with("occurred_to:"), "{e}");
        }
        assert!(month_bound(t("1900-01-01T00:00:00Z"), "occurred_from").is_err());
    }
}
