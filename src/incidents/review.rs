//! /api/v1/incidents/{id}/transitions, /assessment and /history: the review.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};

use super::view::HistoryEntry;
use super::{AssessmentOverrideRequest, Incident, TransitionRequest, queries, service};
use crate::auth::Actor;
use crate::db;
use crate::domain::parse_id;
use crate::error::ApiError;
use crate::http::{Page, ValidJson, if_match};
use crate::state::AppState;

/// Move an incident through review.
///
/// `draft → submitted → in_review → verified | unsubstantiated | needs_info`;
/// `needs_info → submitted`; `verified → referred`; `verified | unsubstantiated |
/// referred → closed`; an admin may reopen `closed → in_review`. The reporter
/// submits and resubmits; reviewers and admins review, never what they reported.
/// A comment is required for `unsubstantiated`, `needs_info`, `referred` and reopening.
#[utoipa::path(
    tag = "incidents",
    operation_id = "transition_incident",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The incident's id"),
        ("If-Match" = String, Header, description = "The ETag of the version being moved (`\"3\"`), several, or `*` for whatever version is current"),
    ),
    request_body = TransitionRequest,
    responses(
        (status = 200, description = "The incident in its new state", body = Incident,
            headers(("ETag" = String, description = "The new version"))),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        crate::openapi::Versioned,
        crate::openapi::BodyErrors,
        crate::openapi::SignedIn,
    )
)]
#[post("/incidents/{id}/transitions")]
pub async fn transition_incident(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: Actor,
    id: web::Path<String>,
    ValidJson(body): ValidJson<TransitionRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "incident")?;
    let expected = if_match(&req);
    let keys = state.settings.data_keys.clone();
    db::transaction(&state.pool, move |conn| {
        service::transition(conn, &user, &keys, &id, expected, body.to, body.comment)
    })
    .await
    .map(|incident| incident.respond(StatusCode::OK))
    .map_err(ApiError::from)
}

/// Override the computed consent assessment, with a reason (reviewers and admins).
#[utoipa::path(
    tag = "incidents",
    operation_id = "override_assessment",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The incident's id"),
        ("If-Match" = String, Header, description = "The ETag of the version being assessed (`\"3\"`), several, or `*` for whatever version is current"),
    ),
    request_body = AssessmentOverrideRequest,
    responses(
        (status = 200, description = "The incident with the assessment in force", body = Incident,
            headers(("ETag" = String, description = "The new version"))),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::Versioned,
        crate::openapi::BodyErrors,
        crate::openapi::SignedIn,
    )
)]
#[put("/incidents/{id}/assessment")]
pub async fn override_assessment(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: Actor,
    id: web::Path<String>,
    ValidJson(body): ValidJson<AssessmentOverrideRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "incident")?;
    let expected = if_match(&req);
    let reason = body.reason.trim().to_owned();
    if reason.is_empty() {
        return Err(ApiError::invalid("reason", "must not be blank"));
    }
    let keys = state.settings.data_keys.clone();
    db::transaction(&state.pool, move |conn| {
        service::override_assessment(conn, &user, &keys, &id, expected, body.assessment, &reason)
    })
    .await
    .map(|incident| incident.respond(StatusCode::OK))
    .map_err(ApiError::from)
}

/// Every change and transition of an incident, oldest first.
#[utoipa::path(
    tag = "incidents",
    operation_id = "list_incident_history",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The incident's id")),
    responses(
        (status = 200, description = "The whole history (never more than one page)", body = Page<HistoryEntry>),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::SignedIn,
    )
)]
#[get("/incidents/{id}/history")]
pub async fn list_incident_history(
    state: web::Data<AppState>,
    user: Actor,
    id: web::Path<String>,
) -> Result<web::Json<Page<HistoryEntry>>, ApiError> {
    let id = parse_id(&id, "incident")?;
    let keys = state.settings.data_keys.clone();
    let items = db::run(&state.pool, move |conn| {
        let (row, _) = service::find_visible(conn, &user, &id)?;
        queries::events(conn, &id)?
            .into_iter()
            .map(|e| HistoryEntry::view(e, &row.reporter_id, &user, &keys))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(web::Json(Page {
        items,
        next_cursor: None,
    }))
}
