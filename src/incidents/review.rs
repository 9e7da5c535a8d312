//! /api/v1/incidents/{id}/transitions, /assessment and /history: the review.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use serde_json::json;

use super::intake::event;
use super::routes::{current_version, find_visible, respond, stale};
use super::view::HistoryEntry;
use super::vocabulary::Status;
use super::workflow::{self, Refusal};
use super::{
    AssessmentOverrideRequest, Incident, TransitionRequest, override_reason_context, queries,
};
use crate::audit::{self, Action};
use crate::auth::Actor;
use crate::auth::Permission;
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
        let (row, _) = find_visible(conn, &user, &id)?;
        let expected = current_version(expected, row.version)?;
        let from = row.status()?;
        let comment = body
            .comment
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        workflow::check(from, body.to, &user, &row.reporter_id, comment.as_deref()).map_err(
            |refusal| match refusal {
                Refusal::Illegal { allowed } => ApiError::Conflict(format!(
                    "{} → {} is not a move of the workflow; from {} the moves are: {}",
                    from.as_str(),
                    body.to.as_str(),
                    from.as_str(),
                    allowed
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Refusal::NotYours(why) => ApiError::Forbidden(why.into()),
                Refusal::FourEyes => ApiError::Forbidden(
                    "four eyes: you may not review an incident you reported".into(),
                ),
                Refusal::CommentRequired => ApiError::invalid(
                    "comment",
                    format!("a comment is required to move to {}", body.to.as_str()),
                ),
            },
        )?;
        let submitted_at = match body.to {
            Status::Submitted => Some(db::now()),
            _ => row.submitted_at,
        };
        if !queries::update_status(conn, &id, expected, body.to, submitted_at)? {
            return Err(stale(row.version));
        }
        let version = expected + 1;
        queries::insert_event(
            conn,
            &event(
                &keys,
                &id,
                &user,
                "transition",
                Some(from),
                Some(body.to),
                comment.as_deref(),
                version,
                None,
            ),
        )?;
        // The comment is sealed in the history; the append-only audit log,
        // which nothing can re-seal, records only that there was one.
        audit::Entry::new(Action::IncidentTransitioned)
            .by(&user)
            .on("incident", &id)
            .details(json!({"from": from, "to": body.to, "commented": comment.is_some(), "version": version}))
            .write(conn)?;
        let (row, base) =
            queries::find(conn, &id)?.ok_or_else(|| ApiError::internal("incident vanished"))?;
        Incident::view(row, base, &user, &keys)
    })
    .await
    .map(|incident| respond(StatusCode::OK, &incident))
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
        let (row, _) = find_visible(conn, &user, &id)?;
        if !user.may(Permission::ReviewIncidents) {
            return Err(ApiError::Forbidden("only reviewers and admins assess incidents".into()));
        }
        if user.is(&row.reporter_id) {
            return Err(ApiError::Forbidden("four eyes: you may not assess an incident you reported".into()));
        }
        let expected = current_version(expected, row.version)?;
        let sealed = keys.seal(&override_reason_context(&id), &reason);
        if !queries::update_assessment(conn, &id, expected, body.assessment, &sealed)? {
            return Err(stale(row.version));
        }
        let version = expected + 1;
        let comment = format!("{} → {}: {reason}", row.consent_assessment, body.assessment.as_str());
        queries::insert_event(conn, &event(&keys, &id, &user, "assessment_overridden", None, None, Some(&comment), version, None))?;
        // The reason is sealed on the incident and in the history, never in the audit log.
        audit::Entry::new(Action::AssessmentOverridden)
            .by(&user)
            .on("incident", &id)
            .details(json!({
                "from": row.consent_assessment, "to": body.assessment, "computed": row.computed_assessment,
                "version": version,
            }))
            .write(conn)?;
        let (row, base) = queries::find(conn, &id)?.ok_or_else(|| ApiError::internal("incident vanished"))?;
        Incident::view(row, base, &user, &keys)
    })
    .await
    .map(|incident| respond(StatusCode::OK, &incident))
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
        let (row, _) = find_visible(conn, &user, &id)?;
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
