//! /api/v1/analysis/deployment-effect

use std::collections::HashMap;

use actix_web::{get, web};
use chrono::{Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::{DeploymentEffect, Month, Series, months_between, summarise};
use crate::audit::{self, Action};
use crate::auth::CurrentUser;
use crate::auth::policy::{self, Action as Permission};
use crate::db::schema::deployments;
use crate::db::{self, DbConnection};
use crate::domain::Role;
use crate::error::ApiError;
use crate::missions::queries as missions;
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
    #[param(minimum = 0.1, maximum = 500, example = 10)]
    pub radius_km: Option<f64>,
}

/// Monthly incidents near each base beside its troop strength; means before,
/// during and after deployment; Pearson and Spearman correlation.
///
/// A mission without deployments answers with counts and no correlation.
/// Partners get monthly counts of 1 to k−1 withheld.
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
    user: CurrentUser,
    query: web::Query<DeploymentEffectQuery>,
) -> Result<web::Json<DeploymentEffect>, ApiError> {
    if !policy::allows(user.role, Permission::ReadAggregates) {
        return Err(ApiError::Forbidden(
            "analyses are for analysts, admins and partners".into(),
        ));
    }
    let mission_id =
        crate::http::query_uuid(Some(&query.mission_id), "mission_id")?.unwrap_or_default();
    let radius = query.radius_km.unwrap_or(DEFAULT_RADIUS_KM);
    if !(0.1..=500.0).contains(&radius) {
        return Err(ApiError::BadRequest(
            "radius_km must be between 0.1 and 500".into(),
        ));
    }
    let k = (user.role == Role::Partner).then_some(state.settings.suppression_k);
    let id = mission_id.clone();
    let result = db::run(&state.pool, move |conn| analyse(conn, &id, radius, k)).await?;
    let months = result.mission.months.len();
    db::run(&state.pool, move |conn| {
        Ok(audit::Entry::new(Action::AnalysisQueried)
            .by(&user)
            .on("mission", &mission_id)
            .details(json!({"filters": {"analysis": "deployment-effect", "radius_km": radius, "k": k}, "rows": months}))
            .write(conn)?)
    })
    .await?;
    Ok(web::Json(result))
}

fn month_of(key: &str) -> Option<NaiveDate> {
    troops::month_start(key)
}

pub fn analyse(
    conn: &mut DbConnection,
    mission_id: &str,
    radius: f64,
    k: Option<u32>,
) -> Result<DeploymentEffect, ApiError> {
    let mission =
        missions::find_mission(conn, mission_id)?.ok_or_else(|| ApiError::not_found("mission"))?;
    let bases = missions::all_bases(conn, mission_id)?;
    let filter = Filter {
        mission_id: Some(mission_id.to_owned()),
        max_distance_km: Some(radius),
        ..Default::default()
    };
    let counts: HashMap<(String, NaiveDate), i64> =
        stats::cells(conn, &[Dimension::Base, Dimension::Month], &filter)?
            .into_iter()
            .filter_map(|r| Some(((r.base_id?, month_of(r.month.as_deref()?)?), r.incidents)))
            .collect();
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
    let months = match (firsts.min(), lasts.max()) {
        (Some(first), Some(last)) => months_between(first, last.min(this_month)),
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
        let mut summary = summarise(&incidents, &strength);
        if let Some(k) = k
            && incidents.iter().sum::<i64>() < i64::from(k)
        {
            // Means over a handful of incidents would give them back.
            summary.mean_monthly_incidents = None;
            summary.mean_monthly_incidents_before = None;
            summary.mean_monthly_incidents_during = None;
            summary.mean_monthly_incidents_after = None;
            summary.incidents_per_1000_troops_during = None;
        }
        Series {
            base_id: base_id.map(str::to_owned),
            name: name.to_owned(),
            months: months
                .iter()
                .zip(incidents.iter().zip(&strength))
                .map(|(m, (n, s))| Month {
                    month: m.format("%Y-%m").to_string(),
                    incidents: match k {
                        Some(k) if *n > 0 && *n < i64::from(k) => None,
                        _ => Some(*n),
                    },
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
        radius_km: radius,
        k,
    })
}
