//! /api/v1/organisations and /api/v1/organisations/{id} (admin only)

use actix_web::http::header;
use actix_web::{HttpResponse, get, patch, post, web};
use serde_json::json;

use super::{CreateOrganisationRequest, Organisation, UpdateOrganisationRequest, queries};
use crate::audit::{self, Action, Entity};
use crate::auth::Admin;
use crate::db;
use crate::domain::{DisplayName, OrganisationId, parse_id};
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
    let row = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
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
    let rows = db::run::<_, ApiError, _>(&state.pool, move |conn| {
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

/// One organisation.
#[utoipa::path(
    tag = "organisations",
    operation_id = "get_organisation",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The organisation's id")),
    responses(
        (status = 200, description = "The organisation", body = Organisation),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::AdminOnly,
    )
)]
#[get("/organisations/{id}")]
pub async fn get_organisation(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<String>,
) -> Result<web::Json<Organisation>, ApiError> {
    let id = OrganisationId::from_db(parse_id(&id, "organisation")?);
    let row =
        db::run::<_, ApiError, _>(&state.pool, move |conn| Ok(queries::find(conn, &id)?)).await?;
    let row = row.ok_or_else(|| ApiError::not_found("organisation"))?;
    Ok(web::Json(Organisation::try_from(row)?))
}

/// Rename an organisation or change its kind. A kind that does not fit an
/// account inside (admin, reviewer and analyst accounts belong only to
/// oversight offices) is refused with 422 naming `kind`.
#[utoipa::path(
    tag = "organisations",
    operation_id = "update_organisation",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The organisation's id")),
    request_body = UpdateOrganisationRequest,
    responses(
        (status = 200, description = "The updated organisation", body = Organisation),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[patch("/organisations/{id}")]
pub async fn update_organisation(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    ValidJson(req): ValidJson<UpdateOrganisationRequest>,
) -> Result<web::Json<Organisation>, ApiError> {
    let id = OrganisationId::from_db(parse_id(&id, "organisation")?);
    let name = req
        .name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()
        .map_err(|e| ApiError::invalid("name", e))?;
    let row = db::transaction(&state.pool, move |conn| {
        // Taken by every change to accounts too: no account can be placed in
        // the organisation between the check below and the commit.
        if !crate::users::queries::hold_admin(conn, &admin.id)? {
            return Err(ApiError::Forbidden(
                "this action needs the admin role".into(),
            ));
        }
        let current = Organisation::try_from(
            queries::find(conn, &id)?.ok_or_else(|| ApiError::not_found("organisation"))?,
        )?;
        let kind = req.kind.unwrap_or(current.kind);
        if kind != current.kind
            && let Some(why) = queries::roles_in(conn, &id)?
                .into_iter()
                .find_map(|role| crate::users::misplaced(role, kind))
        {
            return Err(ApiError::invalid("kind", why));
        }
        let name = match name {
            Some(name) => name,
            None => DisplayName::parse(&current.name).map_err(ApiError::internal)?,
        };
        queries::update(conn, &id, &name, kind)?;
        let updated =
            queries::find(conn, &id)?.ok_or_else(|| ApiError::internal("organisation vanished"))?;
        audit::Entry::new(Action::OrganisationUpdated)
            .by(&admin)
            .on(Entity::Organisation, id.as_str())
            .details(json!({
                "before": {"name": current.name, "kind": current.kind},
                "after": {"name": updated.name, "kind": updated.kind},
            }))
            .write(conn)?;
        Ok(updated)
    })
    .await?;
    Ok(web::Json(Organisation::try_from(row)?))
}
