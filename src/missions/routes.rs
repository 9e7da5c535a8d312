//! /api/v1/missions, /api/v1/missions/{id}/bases, /api/v1/bases/{id}, /api/v1/bases/{id}/deployments,
//! /api/v1/deployments/{id}

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde_json::json;

use super::queries;
use super::{
    Base, Checks, CreateBaseRequest, CreateDeploymentRequest, CreateMissionRequest, Deployment,
    DeploymentFields, Mission, MissionFields, UpdateBaseRequest, UpdateDeploymentRequest,
    UpdateMissionRequest, check_latitude, check_longitude,
};
use crate::audit::{self, Action, Entity};
use crate::auth::{Actor, Admin};
use crate::db;
use crate::domain::{DisplayName, parse_id};
use crate::error::ApiError;
use crate::http::{Cursor, Page, PageQuery, ValidJson};
use crate::state::AppState;

fn created<T: serde::Serialize>(location: String, body: &T) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(body)
}

/// List missions, oldest first.
#[utoipa::path(
    tag = "reference data",
    operation_id = "list_missions",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of missions", body = Page<Mission>),
        (status = 400, response = crate::openapi::BadRequest),
        crate::openapi::SignedIn,
    )
)]
#[get("/missions")]
pub async fn list_missions(
    state: web::Data<AppState>,
    _user: Actor,
    page: crate::http::Query<PageQuery>,
) -> Result<web::Json<Page<Mission>>, ApiError> {
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let items = db::run::<_, ApiError, _>(&state.pool, move |conn| {
        Ok(queries::list_missions(conn, cursor.as_ref(), limit)?)
    })
    .await?;
    Ok(web::Json(Page::from_rows(items, limit, |m| {
        Cursor::encode(&m.id)
    })))
}

/// Create a mission.
#[utoipa::path(
    tag = "reference data",
    operation_id = "create_mission",
    security(("bearer" = [])),
    request_body = CreateMissionRequest,
    responses(
        (status = 201, description = "Created", body = Mission,
            headers(("Location" = String, description = "The new mission's address"))),
        (status = 409, response = crate::openapi::Conflict),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[post("/missions")]
pub async fn create_mission(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    ValidJson(req): ValidJson<CreateMissionRequest>,
) -> Result<HttpResponse, ApiError> {
    let fields = MissionFields::parse(&req.name, &req.country, req.mandate_start, req.mandate_end)?;
    let mission = db::transaction(&state.pool, move |conn| {
        let id = queries::insert_mission(conn, &fields)?;
        audit::Entry::new(Action::MissionCreated)
            .by(&admin)
            .on(audit::Entity::Mission, &id)
            .details(json!({"name": fields.name.as_str(), "country": fields.country.as_str()}))
            .write(conn)?;
        queries::find_mission(conn, &id)?.ok_or_else(|| ApiError::internal("mission vanished"))
    })
    .await?;
    Ok(created(
        format!("/api/v1/missions/{}", mission.id),
        &mission,
    ))
}

/// One mission.
#[utoipa::path(
    tag = "reference data",
    operation_id = "get_mission",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The mission's id")),
    responses(
        (status = 200, description = "The mission", body = Mission),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::SignedIn,
    )
)]
#[get("/missions/{id}")]
pub async fn get_mission(
    state: web::Data<AppState>,
    _user: Actor,
    id: web::Path<String>,
) -> Result<web::Json<Mission>, ApiError> {
    let id = parse_id(&id, "mission")?;
    let mission = db::run::<_, ApiError, _>(&state.pool, move |conn| {
        Ok(queries::find_mission(conn, &id)?)
    })
    .await?;
    mission
        .map(web::Json)
        .ok_or_else(|| ApiError::not_found("mission"))
}

/// Change a mission's name, country or mandate.
#[utoipa::path(
    tag = "reference data",
    operation_id = "update_mission",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The mission's id")),
    request_body = UpdateMissionRequest,
    responses(
        (status = 200, description = "The updated mission", body = Mission),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[patch("/missions/{id}")]
pub async fn update_mission(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    ValidJson(req): ValidJson<UpdateMissionRequest>,
) -> Result<web::Json<Mission>, ApiError> {
    let id = parse_id(&id, "mission")?;
    let mission = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        let current =
            queries::find_mission(conn, &id)?.ok_or_else(|| ApiError::not_found("mission"))?;
        let fields = MissionFields::parse(
            req.name.as_deref().unwrap_or(&current.name),
            req.country.as_deref().unwrap_or(&current.country),
            req.mandate_start.unwrap_or(current.mandate_start),
            req.mandate_end.unwrap_or(current.mandate_end),
        )?;
        queries::update_mission(conn, &id, &fields)?;
        let updated = queries::find_mission(conn, &id)?
            .ok_or_else(|| ApiError::internal("mission vanished"))?;
        audit::Entry::new(Action::MissionUpdated)
            .by(&admin)
            .on(audit::Entity::Mission, &id)
            .details(json!({"before": current, "after": updated}))
            .write(conn)?;
        Ok(updated)
    })
    .await?;
    Ok(web::Json(mission))
}

/// List a mission's bases.
#[utoipa::path(
    tag = "reference data",
    operation_id = "list_bases",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The mission's id"), PageQuery),
    responses(
        (status = 200, description = "A page of bases", body = Page<Base>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::SignedIn,
    )
)]
#[get("/missions/{id}/bases")]
pub async fn list_bases(
    state: web::Data<AppState>,
    _user: Actor,
    id: web::Path<String>,
    page: crate::http::Query<PageQuery>,
) -> Result<web::Json<Page<Base>>, ApiError> {
    let id = parse_id(&id, "mission")?;
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let items = db::run::<_, ApiError, _>(&state.pool, move |conn| {
        queries::find_mission(conn, &id)?.ok_or_else(|| ApiError::not_found("mission"))?;
        Ok(queries::list_bases(conn, &id, cursor.as_ref(), limit)?)
    })
    .await?;
    Ok(web::Json(Page::from_rows(items, limit, |b| {
        Cursor::encode(&b.id)
    })))
}

/// Add a base to a mission.
#[utoipa::path(
    tag = "reference data",
    operation_id = "create_base",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The mission's id")),
    request_body = CreateBaseRequest,
    responses(
        (status = 201, description = "Created", body = Base,
            headers(("Location" = String, description = "The new base's address"))),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[post("/missions/{id}/bases")]
pub async fn create_base(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    ValidJson(req): ValidJson<CreateBaseRequest>,
) -> Result<HttpResponse, ApiError> {
    let mission_id = parse_id(&id, "mission")?;
    let (name, lat, lon) = base_fields(&req.name, req.latitude, req.longitude)?;
    let base = db::transaction(&state.pool, move |conn| {
        queries::find_mission(conn, &mission_id)?.ok_or_else(|| ApiError::not_found("mission"))?;
        let id = queries::insert_base(conn, &mission_id, name.as_str(), lat, lon)?;
        audit::Entry::new(Action::BaseCreated)
            .by(&admin)
            .on(audit::Entity::Base, &id)
            .details(json!({"mission_id": mission_id, "name": name.as_str(), "latitude": lat, "longitude": lon}))
            .write(conn)?;
        queries::find_base(conn, &id)?.ok_or_else(|| ApiError::internal("base vanished"))
    })
    .await?;
    Ok(created(format!("/api/v1/bases/{}", base.id), &base))
}

fn base_fields(name: &str, lat: f64, lon: f64) -> Result<(DisplayName, f64, f64), ApiError> {
    let mut checks = Checks::default();
    let name = checks.check("name", DisplayName::parse(name));
    let lat = checks.check("latitude", check_latitude(lat));
    let lon = checks.check("longitude", check_longitude(lon));
    checks.finish()?;
    match (name, lat, lon) {
        (Some(name), Some(lat), Some(lon)) => Ok((name, lat, lon)),
        _ => Err(ApiError::internal("checked fields missing")),
    }
}

/// One base.
#[utoipa::path(
    tag = "reference data",
    operation_id = "get_base",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The base's id")),
    responses(
        (status = 200, description = "The base", body = Base),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::SignedIn,
    )
)]
#[get("/bases/{id}")]
pub async fn get_base(
    state: web::Data<AppState>,
    _user: Actor,
    id: web::Path<String>,
) -> Result<web::Json<Base>, ApiError> {
    let id = parse_id(&id, "base")?;
    let base =
        db::run::<_, ApiError, _>(&state.pool, move |conn| Ok(queries::find_base(conn, &id)?))
            .await?;
    base.map(web::Json)
        .ok_or_else(|| ApiError::not_found("base"))
}

/// Rename or move a base. Incidents keep the nearest base found when they were
/// reported or last edited.
#[utoipa::path(
    tag = "reference data",
    operation_id = "update_base",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The base's id")),
    request_body = UpdateBaseRequest,
    responses(
        (status = 200, description = "The updated base", body = Base),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[patch("/bases/{id}")]
pub async fn update_base(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    ValidJson(req): ValidJson<UpdateBaseRequest>,
) -> Result<web::Json<Base>, ApiError> {
    let id = parse_id(&id, "base")?;
    let base = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        let current = queries::find_base(conn, &id)?.ok_or_else(|| ApiError::not_found("base"))?;
        let (name, lat, lon) = base_fields(
            req.name.as_deref().unwrap_or(&current.name),
            req.latitude.unwrap_or(current.latitude),
            req.longitude.unwrap_or(current.longitude),
        )?;
        queries::update_base(conn, &id, name.as_str(), lat, lon)?;
        let updated =
            queries::find_base(conn, &id)?.ok_or_else(|| ApiError::internal("base vanished"))?;
        audit::Entry::new(Action::BaseUpdated)
            .by(&admin)
            .on(audit::Entity::Base, &id)
            .details(json!({"before": current, "after": updated}))
            .write(conn)?;
        Ok(updated)
    })
    .await?;
    Ok(web::Json(base))
}

/// List the deployments at a base.
#[utoipa::path(
    tag = "reference data",
    operation_id = "list_deployments",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The base's id"), PageQuery),
    responses(
        (status = 200, description = "A page of deployments", body = Page<Deployment>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::SignedIn,
    )
)]
#[get("/bases/{id}/deployments")]
pub async fn list_deployments(
    state: web::Data<AppState>,
    _user: Actor,
    id: web::Path<String>,
    page: crate::http::Query<PageQuery>,
) -> Result<web::Json<Page<Deployment>>, ApiError> {
    let id = parse_id(&id, "base")?;
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let items = db::run::<_, ApiError, _>(&state.pool, move |conn| {
        queries::find_base(conn, &id)?.ok_or_else(|| ApiError::not_found("base"))?;
        Ok(queries::list_deployments(
            conn,
            &id,
            cursor.as_ref(),
            limit,
        )?)
    })
    .await?;
    Ok(web::Json(Page::from_rows(items, limit, |d| {
        Cursor::encode(&d.id)
    })))
}

/// Record a deployment at a base. Overlapping deployments add up.
#[utoipa::path(
    tag = "reference data",
    operation_id = "create_deployment",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The base's id")),
    request_body = CreateDeploymentRequest,
    responses(
        (status = 201, description = "Created", body = Deployment,
            headers(("Location" = String, description = "The base's deployments"))),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[post("/bases/{id}/deployments")]
pub async fn create_deployment(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    ValidJson(req): ValidJson<CreateDeploymentRequest>,
) -> Result<HttpResponse, ApiError> {
    let base_id = parse_id(&id, "base")?;
    let fields = DeploymentFields::parse(
        req.start_date,
        req.end_date,
        req.troop_count,
        &req.contributing_country,
    )?;
    let deployment = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        queries::find_base(conn, &base_id)?.ok_or_else(|| ApiError::not_found("base"))?;
        let id = queries::insert_deployment(conn, &base_id, &fields)?;
        let deployment = queries::find_deployment(conn, &id)?
            .ok_or_else(|| ApiError::internal("deployment vanished"))?;
        audit::Entry::new(Action::DeploymentCreated)
            .by(&admin)
            .on(audit::Entity::Deployment, &id)
            .details(json!(deployment))
            .write(conn)?;
        Ok(deployment)
    })
    .await?;
    Ok(created(
        format!("/api/v1/bases/{}/deployments", deployment.base_id),
        &deployment,
    ))
}

/// One deployment.
#[utoipa::path(
    tag = "reference data",
    operation_id = "get_deployment",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The deployment's id")),
    responses(
        (status = 200, description = "The deployment", body = Deployment),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::SignedIn,
    )
)]
#[get("/deployments/{id}")]
pub async fn get_deployment(
    state: web::Data<AppState>,
    _user: Actor,
    id: web::Path<String>,
) -> Result<web::Json<Deployment>, ApiError> {
    let id = parse_id(&id, "deployment")?;
    let deployment = db::run::<_, ApiError, _>(&state.pool, move |conn| {
        Ok(queries::find_deployment(conn, &id)?)
    })
    .await?;
    deployment
        .map(web::Json)
        .ok_or_else(|| ApiError::not_found("deployment"))
}

/// Correct a deployment's dates, troops or contributing country. Troop strength
/// in aggregates and the analysis is computed from the deployments when asked,
/// so it follows at once; partner releases hold only incident counts.
#[utoipa::path(
    tag = "reference data",
    operation_id = "update_deployment",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The deployment's id")),
    request_body = UpdateDeploymentRequest,
    responses(
        (status = 200, description = "The updated deployment", body = Deployment),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[patch("/deployments/{id}")]
pub async fn update_deployment(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    ValidJson(req): ValidJson<UpdateDeploymentRequest>,
) -> Result<web::Json<Deployment>, ApiError> {
    let id = parse_id(&id, "deployment")?;
    let deployment = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        let current = queries::find_deployment(conn, &id)?
            .ok_or_else(|| ApiError::not_found("deployment"))?;
        let fields = DeploymentFields::parse(
            req.start_date.unwrap_or(current.start_date),
            req.end_date.unwrap_or(current.end_date),
            req.troop_count.unwrap_or(current.troop_count),
            req.contributing_country
                .as_deref()
                .unwrap_or(&current.contributing_country),
        )?;
        queries::update_deployment(conn, &id, &fields)?;
        let updated = queries::find_deployment(conn, &id)?
            .ok_or_else(|| ApiError::internal("deployment vanished"))?;
        audit::Entry::new(Action::DeploymentUpdated)
            .by(&admin)
            .on(Entity::Deployment, &id)
            .details(json!({"before": current, "after": updated}))
            .write(conn)?;
        Ok(updated)
    })
    .await?;
    Ok(web::Json(deployment))
}

/// Delete a deployment recorded in error. Nothing refers to a deployment: troop
/// strength in aggregates and the analysis is computed from the deployments when
/// asked, and partner releases hold only incident counts, so nothing built from
/// it is left behind.
#[utoipa::path(
    tag = "reference data",
    operation_id = "delete_deployment",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The deployment's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::AdminOnly,
    )
)]
#[delete("/deployments/{id}")]
pub async fn delete_deployment(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "deployment")?;
    db::transaction(&state.pool, move |conn| {
        let current = queries::find_deployment(conn, &id)?
            .ok_or_else(|| ApiError::not_found("deployment"))?;
        if !queries::delete_deployment(conn, &id)? {
            return Err(ApiError::not_found("deployment"));
        }
        audit::Entry::new(Action::DeploymentDeleted)
            .by(&admin)
            .on(Entity::Deployment, &id)
            .details(json!(current))
            .write(conn)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
