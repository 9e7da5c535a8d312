//! /api/v1/audit (admin only)

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{AuditRecord, Filter};
use crate::auth::Admin;
use crate::db;
use crate::error::ApiError;
use crate::http::{Cursor, Page, PageQuery};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only what this user did.
    #[param(format = Uuid)]
    pub actor_id: Option<String>,
    /// Only this action, e.g. `auth.login_failed` or `incident.transitioned`.
    pub action: Option<String>,
    /// Only records about this kind of entity (`user`, `incident`, …).
    pub entity_type: Option<String>,
    /// Only records about this entity.
    pub entity_id: Option<String>,
    /// From this time on (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (exclusive).
    pub to: Option<DateTime<Utc>>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(format = Uuid, min_length = 1)]
    pub cursor: Option<String>,
}

/// Read the audit log, newest first.
#[utoipa::path(
    tag = "audit",
    operation_id = "list_audit_records",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit records", body = Page<AuditRecord>),
        (status = 400, response = crate::openapi::BadRequest),
        crate::openapi::AdminOnly,
    )
)]
#[get("/audit")]
pub async fn list_audit_records(
    state: web::Data<AppState>,
    _admin: Admin,
    query: crate::http::Query<AuditQuery>,
) -> Result<web::Json<Page<AuditRecord>>, ApiError> {
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let filter = Filter {
        actor_id: crate::http::query_uuid(query.actor_id.as_deref(), "actor_id")?,
        action: query.action,
        entity_type: query.entity_type,
        entity_id: query.entity_id,
        from: crate::http::query_time(query.from, "from")?,
        to: crate::http::query_time(query.to, "to")?,
    };
    let (rows, kinds) = db::run::<_, ApiError, _>(&state.pool, move |conn| {
        let rows = super::list(conn, &filter, cursor.as_ref(), limit)?;
        let actors: Vec<String> = rows.iter().filter_map(|r| r.actor_id.clone()).collect();
        Ok((rows, super::actor_kinds(conn, &actors)?))
    })
    .await?;
    let records = rows
        .into_iter()
        .map(AuditRecord::from)
        .map(|mut record| {
            record.actor_kind = record.actor_id.as_ref().and_then(|a| kinds.get(a).cloned());
            record
        })
        .collect();
    Ok(web::Json(Page::from_rows(
        records,
        limit,
        |r: &AuditRecord| Cursor::encode(&r.id),
    )))
}
