//! /api/v1/stats/incidents

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};

use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::queries::{self, Filter};
use super::troops::{self, Deployment};
use super::{Aggregate, Cell, Dimension, Scope, Total, released, suppression};
use crate::audit::{self, Action};
use crate::auth::Actor;
use crate::auth::Permission;
use crate::db::schema::{bases, deployments, missions};
use crate::db::{self, DbConnection};
use crate::domain_error::DomainError;
use crate::error::ApiError;
use crate::http::{query_time, query_uuid};
use crate::incidents::vocabulary::Status;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Comma-separated: `mission`, `base`, `year`, `month`, `exploitation_type`,
    /// `consent_assessment`, `venue`, `perpetrator_affiliation`, `distance_band`, `status`.
    /// A dimension named twice counts once.
    #[param(
        example = "mission,base,month",
        pattern = r"^\s*(?:(?:mission|base|year|month|exploitation_type|consent_assessment|venue|perpetrator_affiliation|distance_band|status)\s*)?(?:,\s*(?:(?:mission|base|year|month|exploitation_type|consent_assessment|venue|perpetrator_affiliation|distance_band|status)\s*)?)*$"
    )]
    pub group_by: Option<String>,
    #[param(format = Uuid)]
    pub mission_id: Option<String>,
    /// Incidents whose nearest base is this one.
    #[param(format = Uuid)]
    pub base_id: Option<String>,
    pub occurred_from: Option<DateTime<Utc>>,
    pub occurred_to: Option<DateTime<Utc>>,
    /// One non-draft state; by default every non-draft state.
    #[param(schema_with = reported_status)]
    pub status: Option<Status>,
    /// Suppress cells below `k` incidents (exact scopes only).
    #[param(minimum = 1, maximum = 1000)]
    pub k: Option<u32>,
    /// `all` (every organisation, exact: analysts and admins, their default),
    /// `own` (the caller's organisation, exact, every filter), `release` (every
    /// organisation through the partner release: partners' default).
    #[param(inline)]
    pub scope: Option<Scope>,
    /// `csv` for CSV (also chosen by `Accept: text/csv`).
    #[param(inline)]
    pub format: Option<Format>,
}

/// `Status` without `draft`: drafts are never counted.
fn reported_status() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(
            Status::ALL
                .iter()
                .filter(|s| **s != Status::Draft)
                .map(|s| s.as_str()),
        ))
        .build()
}

/// Incidents and victims per cell.
///
/// With `month` and `base` or `mission` in `group_by`, each cell also has the
/// month's troop strength and incidents per 1,000 troops. Analysts and admins
/// see exact counts (`scope=all`) unless they ask for `k`. Anyone may count their
/// own organisation's incidents exactly (`scope=own`). Partners see other
/// organisations' incidents only through the partner release (`scope=release`,
/// their default): sums of noised monthly cells, at release grain only (a finer
/// filter answers 400 naming the parameter), with a `privacy` statement. An
/// incident with two exploitation types (or affiliations) is counted in both
/// cells; an exact `total` counts it once, a released `total` is the sum of the cells.
#[utoipa::path(
    tag = "analysis",
    operation_id = "get_incident_stats",
    security(("bearer" = [])),
    params(StatsQuery),
    responses(
        (status = 200, description = "The aggregate", content(
            (Aggregate = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 403, response = crate::openapi::Forbidden),
        crate::openapi::SignedIn,
    )
)]
#[get("/stats/incidents")]
pub async fn get_incident_stats(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: Actor,
    query: crate::http::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    if !user.may(Permission::ReadAggregates) {
        return Err(ApiError::Forbidden(
            "aggregates are for analysts, admins and partners".into(),
        ));
    }
    let q = query.into_inner();
    let dims = Dimension::parse_list(q.group_by.as_deref().unwrap_or(""))?;
    if q.status == Some(Status::Draft) {
        return Err(ApiError::BadRequest(
            "drafts are never counted; status must be a non-draft state".into(),
        ));
    }
    if q.k.is_some_and(|k| !(1..=1000).contains(&k)) {
        return Err(ApiError::BadRequest("k must be between 1 and 1000".into()));
    }
    let exact = user.may(Permission::ReadExactAggregates);
    let scope = match q.scope {
        Some(scope) => scope,
        None if exact => Scope::All,
        None => Scope::Release,
    };
    if scope == Scope::All && !exact {
        return Err(ApiError::Forbidden(
            "partners see other organisations' incidents only through the partner release \
             (scope=release) and their own organisation's exactly (scope=own)"
                .into(),
        ));
    }
    let mission_id = query_uuid(q.mission_id.as_deref(), "mission_id")?;
    let base_id = query_uuid(q.base_id.as_deref(), "base_id")?;
    let work = match scope {
        Scope::Release => Work::Release(released::question(released::Asked {
            dims: &dims,
            mission_id: mission_id.clone(),
            base_id: base_id.clone(),
            occurred_from: q.occurred_from,
            occurred_to: q.occurred_to,
            status: q.status.is_some(),
            k: q.k.is_some(),
        })?),
        Scope::All | Scope::Own => Work::Exact(
            Filter {
                mission_id: mission_id.clone(),
                base_id: base_id.clone(),
                occurred_from: query_time(q.occurred_from, "occurred_from")?,
                occurred_to: query_time(q.occurred_to, "occurred_to")?,
                status: q.status,
                max_distance_km: None,
                organisation_id: (scope == Scope::Own)
                    .then(|| user.organisation_id.as_str().to_owned()),
            },
            q.k,
        ),
    };
    let csv = q.format == Some(Format::Csv)
        || (q.format.is_none()
            && req
                .headers()
                .get(header::ACCEPT)
                .and_then(|a| a.to_str().ok())
                .is_some_and(accepts_csv));

    let audit_filter = json!({
        "scope": scope,
        "group_by": dims.iter().map(|d| d.name()).collect::<Vec<_>>(),
        "mission_id": mission_id, "base_id": base_id,
        "occurred_from": q.occurred_from, "occurred_to": q.occurred_to, "status": q.status, "k": q.k,
        "format": if csv { "csv" } else { "json" },
    });
    let query_dims = dims.clone();
    let aggregate = db::run(&state.pool, move |conn| match work {
        Work::Release(question) => released::answer(conn, &query_dims, &question),
        Work::Exact(filter, k) => aggregate(conn, &query_dims, &filter, k, scope),
    })
    .await?;
    let rows = aggregate.cells.len();
    db::run::<_, ApiError, _>(&state.pool, move |conn| {
        Ok(audit::Entry::new(Action::StatsQueried)
            .by(&user)
            .details(json!({"filters": audit_filter, "rows": rows}))
            .write(conn)?)
    })
    .await?;
    if csv {
        let body = to_csv(&aggregate, &dims).map_err(ApiError::internal)?;
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"basewatch-stats.csv\"",
            ))
            .body(body))
    } else {
        Ok(HttpResponse::Ok().json(aggregate))
    }
}

/// Whether an `Accept` header asks for CSV: a `text/csv` range (media types
/// are case-insensitive) whose `q` is not 0 (`q=0` means "not this").
fn accepts_csv(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        parts
            .next()
            .is_some_and(|t| t.eq_ignore_ascii_case("text/csv"))
            && !parts.any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("q")
                        && v.trim().parse::<f32>().is_ok_and(|q| q == 0.0)
                })
            })
    })
}

enum Work {
    Release(released::Question),
    Exact(Filter, Option<u32>),
}

/// Runs the exact aggregate, adds names and troop strength, and suppresses.
pub fn aggregate(
    conn: &mut DbConnection,
    dims: &[Dimension],
    filter: &Filter,
    k: Option<u32>,
    scope: Scope,
) -> Result<Aggregate, DomainError> {
    let rows = queries::cells(conn, dims, filter)?;
    let totals = queries::totals(conn, filter)?;
    let total = Total {
        incidents: Some(totals.incidents),
        victims: Some(totals.victims),
        suppressed: false,
    };
    assemble(conn, dims, rows, total, k, scope)
}

/// Cells from rows: names, troop strength, order, suppression.
pub fn assemble(
    conn: &mut DbConnection,
    dims: &[Dimension],
    rows: Vec<queries::Row>,
    mut total: Total,
    k: Option<u32>,
    scope: Scope,
) -> Result<Aggregate, DomainError> {
    let mission_names: HashMap<String, String> = missions::table
        .select((missions::id, missions::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let base_rows: Vec<(String, String, String)> = bases::table
        .select((bases::id, bases::name, bases::mission_id))
        .load(conn)?;
    let base_names: HashMap<&str, &str> = base_rows
        .iter()
        .map(|(id, name, _)| (id.as_str(), name.as_str()))
        .collect();
    let base_mission: HashMap<&str, &str> = base_rows
        .iter()
        .map(|(id, _, m)| (id.as_str(), m.as_str()))
        .collect();
    let with_troops = dims.contains(&Dimension::Month)
        && (dims.contains(&Dimension::Base) || dims.contains(&Dimension::Mission));
    let deployments: Vec<Deployment> = if with_troops {
        deployments::table
            .select((
                deployments::base_id,
                deployments::start_date,
                deployments::end_date,
                deployments::troop_count,
            ))
            .load::<(String, chrono::NaiveDate, Option<chrono::NaiveDate>, i32)>(conn)?
            .into_iter()
            .map(|(base_id, start, end, troops)| Deployment {
                base_id,
                start,
                end,
                troops,
            })
            .collect()
    } else {
        Vec::new()
    };

    let grouped = |d: Dimension, v: Option<String>| dims.contains(&d).then_some(v);
    let mut cells: Vec<Cell> = rows
        .into_iter()
        .map(|r| {
            let mut cell = Cell {
                mission_name: dims.contains(&Dimension::Mission).then(|| {
                    r.mission_id
                        .as_ref()
                        .and_then(|id| mission_names.get(id).cloned())
                }),
                base_name: dims.contains(&Dimension::Base).then(|| {
                    r.base_id
                        .as_deref()
                        .and_then(|id| base_names.get(id).map(|n| n.to_string()))
                }),
                mission_id: grouped(Dimension::Mission, r.mission_id),
                base_id: grouped(Dimension::Base, r.base_id),
                year: grouped(Dimension::Year, r.year),
                month: grouped(Dimension::Month, r.month),
                exploitation_type: grouped(Dimension::ExploitationType, r.exploitation_type),
                consent_assessment: grouped(Dimension::ConsentAssessment, r.consent_assessment),
                venue: grouped(Dimension::Venue, r.venue),
                perpetrator_affiliation: grouped(
                    Dimension::PerpetratorAffiliation,
                    r.perpetrator_affiliation,
                ),
                distance_band: grouped(Dimension::DistanceBand, r.distance_band),
                status: grouped(Dimension::Status, r.status),
                incidents: Some(r.incidents),
                victims: Some(r.victims),
                ..Default::default()
            };
            if with_troops {
                let month = cell.value(Dimension::Month).and_then(troops::month_start);
                let strength = match (
                    month,
                    cell.value(Dimension::Base),
                    cell.value(Dimension::Mission),
                ) {
                    (Some(m), Some(base), _) if dims.contains(&Dimension::Base) => {
                        Some(troops::monthly_strength(&deployments, |b| b == base, m))
                    }
                    (Some(m), _, Some(mission)) if !dims.contains(&Dimension::Base) => {
                        Some(troops::monthly_strength(
                            &deployments,
                            |b| base_mission.get(b).is_some_and(|bm| *bm == mission),
                            m,
                        ))
                    }
                    _ => None,
                };
                cell.troop_strength = Some(strength.map_or(0.0, |s| (s * 100.0).round() / 100.0));
                cell.incidents_per_1000_troops = Some(
                    strength
                        .filter(|s| *s > 0.0)
                        .map(|s| (r.incidents as f64 * 1000.0 / s * 10_000.0).round() / 10_000.0),
                );
            }
            cell
        })
        .collect();
    // Places by name, everything else by value; cells without a value last.
    let key = |c: &Cell, d: Dimension| {
        let named = match d {
            Dimension::Mission => c.mission_name.as_ref().and_then(|n| n.as_deref()),
            Dimension::Base => c.base_name.as_ref().and_then(|n| n.as_deref()),
            _ => None,
        };
        let value = named.or(c.value(d)).map(str::to_owned);
        (value.is_none(), value)
    };
    cells.sort_by(|a, b| {
        dims.iter()
            .map(|d| key(a, *d).cmp(&key(b, *d)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if let Some(k) = k {
        suppression::suppress(&mut cells, &mut total, k);
    }
    Ok(Aggregate {
        scope,
        group_by: dims.iter().map(|d| d.name().to_owned()).collect(),
        k,
        cells,
        total,
        privacy: None,
    })
}

fn to_csv(aggregate: &Aggregate, dims: &[Dimension]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    // From the question, never from the cells: an empty answer has the same columns.
    let with_troops = dims.contains(&Dimension::Month)
        && (dims.contains(&Dimension::Base) || dims.contains(&Dimension::Mission));
    let mut header: Vec<&str> = Vec::new();
    for d in dims {
        header.push(d.column());
        match d {
            Dimension::Mission => header.push("mission_name"),
            Dimension::Base => header.push("base_name"),
            _ => {}
        }
    }
    header.extend(["incidents", "victims", "suppressed"]);
    if with_troops {
        header.extend(["troop_strength", "incidents_per_1000_troops"]);
    }
    out.write_record(&header)?;
    let text = |v: &Option<Option<String>>| {
        crate::csv_safe::text(v.as_ref().and_then(|v| v.as_deref()).unwrap_or_default())
            .into_owned()
    };
    let number = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    for cell in &aggregate.cells {
        let mut record: Vec<String> = Vec::new();
        for d in dims {
            record.push(cell.value(*d).unwrap_or_default().to_owned());
            // Names are typed by people: never a formula in a spreadsheet.
            match d {
                Dimension::Mission => record.push(text(&cell.mission_name)),
                Dimension::Base => record.push(text(&cell.base_name)),
                _ => {}
            }
        }
        record.extend([
            number(cell.incidents),
            number(cell.victims),
            cell.suppressed.to_string(),
        ]);
        if with_troops {
            record.push(
                cell.troop_strength
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            );
            record.push(
                cell.incidents_per_1000_troops
                    .flatten()
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
            );
        }
        out.write_record(&record)?;
    }
    out.into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::accepts_csv;

    #[test]
    fn accept_asks_for_csv_by_media_type_not_by_substring() {
        for yes in [
            "text/csv",
            "Text/CSV",
            "application/json, text/csv;q=0.5",
            " text/csv ; charset=utf-8",
        ] {
            assert!(accepts_csv(yes), "{yes}");
        }
        for no in [
            "application/json",
            "text/csv;q=0",
            "text/csv; q=0.0, application/json",
            "text/csvx",
            "*/*",
        ] {
            assert!(!accepts_csv(no), "{no}");
        }
    }
}
