//! /api/v1/analysis/deployment-effect

use std::collections::HashMap;

use actix_web::{get, web};
use chrono::{Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::{DeploymentEffect, Month, Series, months_between, summarise};
use crate::audit::{self, Action};
use crate::auth::Actor;
use crate::auth::Permission;
use crate::db::schema::deployments;
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::missions::queries as missions;
use crate::releases::Table;
use crate::releases::queries::{self as released, Selection};
use crate::state::AppState;
use crate::stats::Dimension;
use crate::stats::queries::{self as stats, Filter};
use crate::stats::troops::{self, Deployment};

pub const DEFAULT_RADIUS_KM: f64 = 10.0;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeploymentEffectQuery {
    #[param(format = Uuid)]
    pub mission_id: String,
    /// Count incidents at most this far from their nearest base (default 10 km).
    /// Not with the partner release, which counts every distance.
    #[param(minimum = 0.1, maximum = 500, example = 10)]
    pub radius_km: Option<f64>,
    /// `all` (exact, analysts and admins, their default) or `release` (the
    /// partner release: partners' only source for other organisations).
    #[param(inline)]
    pub scope: Option<AnalysisScope>,
}

/// Monthly incidents near each base beside its troop strength; means before,
/// during and after deployment; Pearson and Spearman correlation.
///
/// A mission without deployments answers with counts and no correlation.
/// Partners get the series from the partner release (`scope=release`): the
/// noised incidents per base per month of every released month, at every
/// distance (`radius_km` answers 400), with a `privacy` statement; every figure
/// is arithmetic over those released cells.
#[utoipa::path(
    tag = "analysis",
    operation_id = "get_deployment_effect",
    security(("bearer" = [])),
    params(DeploymentEffectQuery),
    responses(
        (status = 200, description = "The analysis", body = DeploymentEffect),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::SignedIn,
    )
)]
#[get("/analysis/deployment-effect")]
pub async fn get_deployment_effect(
    state: web::Data<AppState>,
    user: Actor,
    query: crate::http::Query<DeploymentEffectQuery>,
) -> Result<web::Json<DeploymentEffect>, ApiError> {
    if !user.may(Permission::ReadAggregates) {
        return Err(ApiError::Forbidden(
            "analyses are for analysts, admins and partners".into(),
        ));
    }
    let mission_id =
        crate::http::query_uuid(Some(&query.mission_id), "mission_id")?.unwrap_or_default();
    let exact = user.may(Permission::ReadExactAggregates);
    let scope = match query.scope {
        Some(scope) => scope,
        None if exact => AnalysisScope::All,
        None => AnalysisScope::Release,
    };
    let source = match scope {
        AnalysisScope::All if !exact => {
            return Err(ApiError::Forbidden(
                "partners see other organisations' incidents only through the partner release (scope=release)"
                    .into(),
            ));
        }
        AnalysisScope::Release if query.radius_km.is_some() => {
            return Err(ApiError::BadRequest(format!(
                "radius_km: the partner release counts incidents at every distance per base and month; {}",
                crate::stats::released::GRAIN
            )));
        }
        AnalysisScope::Release => Source::Release,
        AnalysisScope::All => {
            let radius = query.radius_km.unwrap_or(DEFAULT_RADIUS_KM);
            if !(0.1..=500.0).contains(&radius) {
                return Err(ApiError::BadRequest(
                    "radius_km must be between 0.1 and 500".into(),
                ));
            }
            Source::Exact { radius_km: radius }
        }
    };
    let id = mission_id.clone();
    let result = db::run(&state.pool, move |conn| analyse(conn, &id, source)).await?;
    let months = result.mission.months.len();
    let result_radius = result.radius_km;
    db::run::<_, ApiError, _>(&state.pool, move |conn| {
        Ok(audit::Entry::new(Action::AnalysisQueried)
            .by(&user)
            .on(audit::Entity::Mission, &mission_id)
            .details(json!({"filters": {"analysis": "deployment-effect", "scope": scope, "radius_km": result_radius}, "rows": months}))
            .write(conn)?)
    })
    .await?;
    Ok(web::Json(result))
}

fn month_of(key: &str) -> Option<NaiveDate> {
    troops::month_start(key)
}

/// Where the monthly counts come from.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    /// Exact counts within a radius of the nearest base.
    Exact { radius_km: f64 },
    /// The partner release's incidents per base per month.
    Release,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AnalysisScope {
    All,
    Release,
}

pub fn analyse(
    conn: &mut DbConnection,
    mission_id: &str,
    source: Source,
) -> Result<DeploymentEffect, ApiError> {
    let mission =
        missions::find_mission(conn, mission_id)?.ok_or_else(|| ApiError::not_found("mission"))?;
    let bases = missions::all_bases(conn, mission_id)?;
    // (base id or `none`, month) → incidents.
    let mut privacy = None;
    let mut released_months: Option<(NaiveDate, NaiveDate)> = None;
    // Every month built: a series shows no month that was never released.
    let mut released_set: std::collections::HashSet<NaiveDate> = Default::default();
    let counts: HashMap<(String, NaiveDate), i64> = match source {
        Source::Exact { radius_km } => {
            let filter = Filter {
                mission_id: Some(mission_id.to_owned()),
                max_distance_km: Some(radius_km),
                ..Default::default()
            };
            stats::cells(conn, &[Dimension::Base, Dimension::Month], &filter)?
                .into_iter()
                .filter_map(|r| Some(((r.base_id?, month_of(r.month.as_deref()?)?), r.incidents)))
                .collect()
        }
        Source::Release => {
            let selection = Selection {
                mission_id: Some(mission_id.to_owned()),
                ..Default::default()
            };
            let budget = released::budget(conn, None, None)?;
            released_months = budget
                .coverage
                .first_month
                .as_deref()
                .and_then(month_of)
                .zip(budget.coverage.last_month.as_deref().and_then(month_of));
            privacy = Some(budget.privacy(Table::Base));
            released_set = released::list(conn)?
                .iter()
                .filter_map(|r| month_of(&r.month))
                .collect();
            let mut counts = HashMap::new();
            for cell in released::cells(conn, Table::Base, &selection)? {
                if let Some(m) = month_of(&cell.month) {
                    *counts.entry((cell.value, m)).or_insert(0) += cell.incidents;
                }
            }
            // Zeros are cells too, but they say nothing about where a series starts.
            counts.retain(|_, n| *n > 0);
            counts
        }
    };
    let base_ids: Vec<&str> = bases.iter().map(|b| b.id.as_str()).collect();
    let deployments: Vec<Deployment> = deployments::table
        .filter(deployments::base_id.eq_any(&base_ids))
        .select((
            deployments::base_id,
            deployments::start_date,
            deployments::end_date,
            deployments::troop_count,
        ))
        .load::<(String, NaiveDate, Option<NaiveDate>, i32)>(conn)?
        .into_iter()
        .map(|(base_id, start, end, troops)| Deployment {
            base_id,
            start,
            end,
            troops,
        })
        .collect();

    // From the first incident or deployment to the last, and no later than this month.
    let today = Utc::now().date_naive();
    let this_month = today.with_day(1).expect("day 1 exists");
    let first_day = |d: NaiveDate| d.with_day(1).expect("day 1 exists");
    let firsts = counts
        .keys()
        .map(|(_, m)| *m)
        .chain(deployments.iter().map(|d| first_day(d.start)));
    let lasts = counts.keys().map(|(_, m)| *m).chain(
        deployments
            .iter()
            .map(|d| first_day(d.end.unwrap_or(today))),
    );
    let months = match (source, firsts.min(), lasts.max()) {
        // Only released months, however far deployments reach.
        (Source::Release, Some(first), _) => match released_months {
            Some((from, to)) => months_between(first.max(from), to)
                .into_iter()
                .filter(|m| released_set.contains(m))
                .collect(),
            None => Vec::new(),
        },
        (Source::Exact { .. }, Some(first), Some(last)) => {
            months_between(first, last.min(this_month))
        }
        _ => Vec::new(),
    };

    let series = |base_id: Option<&str>, name: &str| {
        let at = |b: &str| base_id.is_none_or(|id| id == b);
        let incidents: Vec<i64> = months
            .iter()
            .map(|m| {
                counts
                    .iter()
                    .filter(|((b, cm), _)| cm == m && at(b))
                    .map(|(_, n)| n)
                    .sum()
            })
            .collect();
        let strength: Vec<f64> = months
            .iter()
            .map(|m| troops::monthly_strength(&deployments, at, *m))
            .collect();
        let summary = summarise(&incidents, &strength);
        Series {
            base_id: base_id.map(str::to_owned),
            name: name.to_owned(),
            months: months
                .iter()
                .zip(incidents.iter().zip(&strength))
                .map(|(m, (n, s))| Month {
                    month: m.format("%Y-%m").to_string(),
                    incidents: *n,
                    troop_strength: (s * 100.0).round() / 100.0,
                })
                .collect(),
            summary,
        }
    };
    Ok(DeploymentEffect {
        mission: series(None, &mission.name),
        bases: bases.iter().map(|b| series(Some(&b.id), &b.name)).collect(),
        mission_id: mission.id,
        mission_name: mission.name,
        radius_km: match source {
            Source::Exact { radius_km } => Some(radius_km),
            Source::Release => None,
        },
        scope: match source {
            Source::Exact { .. } => AnalysisScope::All,
            Source::Release => AnalysisScope::Release,
        },
        privacy,
    })
}
