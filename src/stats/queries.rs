//! The SQL of aggregates: one GROUP BY, built from a whitelist of expressions.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::Dimension;
use crate::db::DbConnection;
use crate::db::sql::{Bind, Sql};
use crate::incidents::vocabulary::Status;

/// Which incidents an aggregate counts. Drafts never.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub mission_id: Option<String>,
    pub base_id: Option<String>,
    pub occurred_from: Option<NaiveDateTime>,
    pub occurred_to: Option<NaiveDateTime>,
    pub status: Option<Status>,
    /// Only incidents at most this far from their nearest base.
    pub max_distance_km: Option<f64>,
    /// Only this organisation's incidents (`scope=own`).
    pub organisation_id: Option<String>,
}

#[derive(Debug, QueryableByName)]
pub struct Row {
    #[diesel(sql_type = Nullable<Text>)]
    pub mission_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub base_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub year: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub month: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub exploitation_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub consent_assessment: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub venue: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub perpetrator_affiliation: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub distance_band: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub status: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub incidents: i64,
    #[diesel(sql_type = BigInt)]
    pub victims: i64,
}

/// The SQL expression of a dimension; the only place where the backends differ.
fn expression(dim: Dimension, postgres: bool) -> &'static str {
    match (dim, postgres) {
        (Dimension::Mission, _) => "i.mission_id",
        (Dimension::Base, _) => "i.base_id",
        (Dimension::Year, true) => "to_char(i.occurred_at, 'YYYY')",
        (Dimension::Year, false) => "strftime('%Y', i.occurred_at)",
        (Dimension::Month, true) => "to_char(i.occurred_at, 'YYYY-MM')",
        (Dimension::Month, false) => "strftime('%Y-%m', i.occurred_at)",
        (Dimension::ExploitationType, _) => "et.exploitation_type",
        (Dimension::ConsentAssessment, _) => "i.consent_assessment",
        (Dimension::Venue, _) => "i.venue",
        (Dimension::PerpetratorAffiliation, _) => "pa.affiliation",
        (Dimension::DistanceBand, _) => {
            "CASE WHEN i.base_distance_km IS NULL THEN NULL WHEN i.base_distance_km < 2 THEN '0-2' \
             WHEN i.base_distance_km < 5 THEN '2-5' WHEN i.base_distance_km < 10 THEN '5-10' \
             WHEN i.base_distance_km < 25 THEN '10-25' ELSE '25+' END"
        }
        (Dimension::Status, _) => "i.status",
    }
}

fn push_filters(sql: &mut Sql, filter: &Filter) {
    sql.push(" WHERE i.status <> ")
        .bind(Bind::Text(Status::Draft.as_str().into()));
    if let Some(m) = &filter.mission_id {
        sql.push(" AND i.mission_id = ").bind(Bind::Text(m.clone()));
    }
    if let Some(b) = &filter.base_id {
        sql.push(" AND i.base_id = ").bind(Bind::Text(b.clone()));
    }
    if let Some(from) = filter.occurred_from {
        sql.push(" AND i.occurred_at >= ")
            .bind(Bind::Timestamp(from));
    }
    if let Some(to) = filter.occurred_to {
        sql.push(" AND i.occurred_at < ").bind(Bind::Timestamp(to));
    }
    if let Some(status) = filter.status {
        sql.push(" AND i.status = ")
            .bind(Bind::Text(status.as_str().into()));
    }
    if let Some(org) = &filter.organisation_id {
        sql.push(" AND i.organisation_id = ")
            .bind(Bind::Text(org.clone()));
    }
    if let Some(km) = filter.max_distance_km {
        sql.push(" AND i.base_distance_km <= ")
            .bind(Bind::Double(km));
    }
}

/// Counts per cell of `dims`; every dimension column is present, NULL when not grouped.
pub fn cells(
    conn: &mut DbConnection,
    dims: &[Dimension],
    filter: &Filter,
) -> diesel::QueryResult<Vec<Row>> {
    let mut sql = Sql::new(conn);
    let postgres = sql.is_postgres();
    let columns: Vec<String> = Dimension::ALL
        .iter()
        .map(|d| {
            let value = if dims.contains(d) {
                expression(*d, postgres)
            } else {
                "CAST(NULL AS TEXT)"
            };
            format!("{value} AS {}", d.column())
        })
        .collect();
    sql.push("SELECT ")
        .push(&columns.join(", "))
        .push(", COUNT(*) AS incidents, CAST(COALESCE(SUM(i.victim_count), 0) AS BIGINT) AS victims FROM incidents i");
    if dims.contains(&Dimension::ExploitationType) {
        sql.push(" LEFT JOIN incident_exploitation_types et ON et.incident_id = i.id");
    }
    if dims.contains(&Dimension::PerpetratorAffiliation) {
        sql.push(" LEFT JOIN incident_perpetrator_affiliations pa ON pa.incident_id = i.id");
    }
    push_filters(&mut sql, filter);
    if !dims.is_empty() {
        let groups: Vec<&str> = dims.iter().map(|d| expression(*d, postgres)).collect();
        sql.push(" GROUP BY ").push(&groups.join(", "));
    }
    sql.load(conn)
}

#[derive(Debug, QueryableByName)]
pub struct Totals {
    #[diesel(sql_type = BigInt)]
    pub incidents: i64,
    #[diesel(sql_type = BigInt)]
    pub victims: i64,
}

/// Every matching incident once.
pub fn totals(conn: &mut DbConnection, filter: &Filter) -> diesel::QueryResult<Totals> {
    let mut sql = Sql::new(conn);
    sql.push(
        "SELECT COUNT(*) AS incidents, CAST(COALESCE(SUM(i.victim_count), 0) AS BIGINT) AS victims FROM incidents i",
    );
    push_filters(&mut sql, filter);
    Ok(sql.load::<Totals>(conn)?.pop().unwrap_or(Totals {
        incidents: 0,
        victims: 0,
    }))
}
