//! /api/v1/organisations (admin only)

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use serde_json::json;

use super::{CreateOrganisationRequest, Organisation, queries};
use crate::audit::{self, Action};
use crate::auth::Admin;
use crate::db;
use crate::domain::DisplayName;
use crate::error::ApiError;
use crate::http::{Cursor, Page, PageQuery, ValidJson};
use crate::state::AppState;

/// Create an organisation.
#[utoipa::path(
    tag = "organisations",
    operation_id = "create_organisation",
    security(("bearer" = [])),
    request_body = CreateOrganisationRequest,
    responses(
        (status = 201, description = "Created", body = Organisation,
            headers(("Location" = String, description = "The new organisation's address"))),
        (status = 409, response = crate::openapi::Conflict),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[post("/organisations")]
pub async fn create_organisation(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    ValidJson(req): ValidJson<CreateOrganisationRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = DisplayName::parse(&req.name).map_err(|e| ApiError::invalid("name", e))?;
    let row = db::transaction(&state.pool, move |conn| {
        let row = queries::insert(conn, &name, req.kind)?;
        audit::Entry::new(Action::OrganisationCreated)
            .by(&admin)
            .on(audit::Entity::Organisation, &row.id)
            .details(json!({"name": row.name, "kind": row.kind}))
            .write(conn)?;
        Ok(row)
    })
    .await?;
    let organisation = Organisation::try_from(row)?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/organisations/{}", organisation.id),
        ))
        .json(organisation))
}

/// List organisations, oldest first.
#[utoipa::path(
    tag = "organisations",
    operation_id = "list_organisations",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of organisations", body = Page<Organisation>),
        (status = 400, response = crate::openapi::BadRequest),
        crate::openapi::AdminOnly,
    )
)]
#[get("/organisations")]
pub async fn list_organisations(
    state: web::Data<AppState>,
    _admin: Admin,
    page: crate::http::Query<PageQuery>,
) -> Result<web::Json<Page<Organisation>>, ApiError> {
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let rows = db::run(&state.pool, move |conn| {
        Ok(queries::list(conn, cursor.as_ref(), limit)?)
    })
    .await?;
    let items = rows
        .into_iter()
        .map(Organisation::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(web::Json(Page::from_rows(items, limit, |o| {
        Cursor::encode(&o.id)
    })))
}
