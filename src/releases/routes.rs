//! /api/v1/releases

use actix_web::{get, web};

use super::queries::{self, ReleaseSummary};
use crate::auth::Actor;
use crate::auth::Permission;
use crate::db;
use crate::error::ApiError;
use crate::http::Page;
use crate::state::AppState;

/// `/releases` takes no parameter: a `limit` or `cursor` would otherwise be
/// ignored without a word (every release is in the one page).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParameters {}

/// The partner releases built so far, oldest month first: one per closed
/// calendar month, each built once after the lag and never recomputed, with the
/// privacy-loss budget ε it spent. One page holds them all (one row per month).
#[utoipa::path(
    tag = "analysis",
    operation_id = "list_releases",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every release built", body = Page<ReleaseSummary>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 403, response = crate::openapi::Forbidden),
        crate::openapi::SignedIn,
    )
)]
#[get("/releases")]
pub async fn list_releases(
    state: web::Data<AppState>,
    user: Actor,
    _query: crate::http::Query<NoParameters>,
) -> Result<web::Json<Page<ReleaseSummary>>, ApiError> {
    if !user.may(Permission::ReadAggregates) {
        return Err(ApiError::Forbidden(
            "releases are for analysts, admins and partners".into(),
        ));
    }
    let items = db::run::<_, ApiError, _>(&state.pool, |conn| Ok(queries::list(conn)?)).await?;
    Ok(web::Json(Page {
        items,
        next_cursor: None,
    }))
}
