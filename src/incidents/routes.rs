//! /api/v1/incidents: report, read, list, edit.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::Utc;
use serde_json::{Map, Value};

use super::content::IncidentContent;
use super::filter::IncidentListQuery;
use super::queries::{self, Cursor, Order};
use super::{CreateIncidentRequest, Incident, IncidentError, service};
use crate::auth::Actor;
use crate::db;
use crate::domain::parse_id;
use crate::error::ApiError;
use crate::http::{JsonObject, Page, PageQuery, Query, ValidJson, if_match};
use crate::state::AppState;

pub(super) fn take_id(body: &mut Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.remove("id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => uuid::Uuid::parse_str(&s)
            .map(|u| Some(u.to_string()))
            .map_err(|_| ApiError::invalid("id", "must be a UUID")),
        Some(_) => Err(ApiError::invalid("id", "must be a UUID string")),
    }
}

pub(super) fn take_submit(body: &mut Map<String, Value>) -> Result<bool, ApiError> {
    match body.remove("submit") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(_) => Err(ApiError::invalid("submit", "must be true or false")),
    }
}

/// Report an incident.
///
/// Monitors, reviewers, admins and partners report; analysts do not. The
/// server finds the nearest base of the mission and assesses consent.
#[utoipa::path(
    tag = "incidents",
    operation_id = "create_incident",
    security(("bearer" = [])),
    request_body = CreateIncidentRequest,
    responses(
        (status = 201, description = "Stored", body = Incident, headers(
            ("Location" = String, description = "The incident's address"),
            ("ETag" = String, description = "Its version, for If-Match"))),
        (status = 200, description = "A re-send of a stored report: nothing new was stored", body = Incident,
            headers(("ETag" = String, description = "Its version, for If-Match"))),
        (status = 409, response = crate::openapi::Conflict),
        crate::openapi::BodyErrors,
        (status = 403, response = crate::openapi::Forbidden),
        crate::openapi::SignedIn,
    )
)]
#[post("/incidents")]
pub async fn create_incident(
    state: web::Data<AppState>,
    user: Actor,
    ValidJson(JsonObject(mut body)): ValidJson<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    service::may_report(&user)?;
    let id = take_id(&mut body)?;
    let submit = take_submit(&mut body)?;
    let mut content = IncidentContent::from_object(body)?;
    content.check(Utc::now())?;
    let id = id.unwrap_or_else(db::new_id);

    let (actor, stored, resent_id) = (user.clone(), content.clone(), id.clone());
    let keys = state.settings.data_keys.clone();
    let sealing = keys.clone();
    let created = db::transaction(&state.pool, move |conn| {
        service::report(conn, &actor, &sealing, &id, &stored, submit)
    })
    .await;
    match created {
        Ok(incident) => Ok(incident.respond(StatusCode::CREATED)),
        // The id exists: a re-send of the same report, or a clash.
        Err(IncidentError::IdTaken) => db::run(&state.pool, move |conn| {
            service::resent(conn, &user, &keys, &resent_id, &content)
        })
        .await
        .map(|incident| incident.respond(StatusCode::OK))
        .map_err(ApiError::from),
        Err(other) => Err(other.into()),
    }
}

/// One incident, with its version as `ETag`.
#[utoipa::path(
    tag = "incidents",
    operation_id = "get_incident",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The incident's id")),
    responses(
        (status = 200, description = "The incident", body = Incident,
            headers(("ETag" = String, description = "Its version, for If-Match"))),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::SignedIn,
    )
)]
#[get("/incidents/{id}")]
pub async fn get_incident(
    state: web::Data<AppState>,
    user: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "incident")?;
    let keys = state.settings.data_keys.clone();
    db::run(&state.pool, move |conn| {
        let (row, base) = service::find_visible(conn, &user, &id)?;
        Incident::view(row, base, &user, &keys)
    })
    .await
    .map(|incident| incident.respond(StatusCode::OK))
    .map_err(ApiError::from)
}

/// List the incidents the caller may see.
///
/// Newest first by when they happened, or (`sort=updated_at`) oldest first by
/// when they last changed; with `updated_since`, a client fetches what changed
/// since its last visit.
#[utoipa::path(
    tag = "incidents",
    operation_id = "list_incidents",
    security(("bearer" = [])),
    params(IncidentListQuery),
    responses(
        (status = 200, description = "A page of incidents", body = Page<Incident>),
        (status = 400, response = crate::openapi::BadRequest),
        crate::openapi::SignedIn,
    )
)]
#[get("/incidents")]
pub async fn list_incidents(
    state: web::Data<AppState>,
    user: Actor,
    query: Query<IncidentListQuery>,
) -> Result<web::Json<Page<Incident>>, ApiError> {
    let q = query.into_inner();
    let limit = PageQuery {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let filter = q.filter()?;
    let order = filter.order;
    let cursor = q
        .cursor
        .as_deref()
        .map(|raw| Cursor::decode(raw, order))
        .transpose()?;
    let keys = state.settings.data_keys.clone();
    let items = db::run(&state.pool, move |conn| {
        queries::list(conn, &user, &filter, cursor.as_ref(), limit)?
            .into_iter()
            .map(|(row, base)| Incident::view(row, base, &user, &keys))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let page = Page::from_rows(items, limit, |i| match order {
        Order::Occurred => Cursor::encode(order, i.content.occurred_at.naive_utc(), &i.id),
        Order::Updated => Cursor::encode(order, i.updated_at.naive_utc(), &i.id),
    });
    Ok(web::Json(page))
}

/// Edit a report (JSON merge patch: fields sent replace, `null` clears).
///
/// Only the reporter, and only while the incident is a draft or sent back for
/// more information. The nearest base and the assessment are computed again.
#[utoipa::path(
    tag = "incidents",
    operation_id = "update_incident",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The incident's id"),
        ("If-Match" = String, Header, description = "The ETag of the version being edited (`\"3\"`), several (`\"3\", \"4\"`), or `*` for whatever version is current"),
    ),
    request_body(
        content = crate::openapi::IncidentPatch,
        content_type = "application/merge-patch+json",
        description = "Any fields of the incident's content (see CreateIncidentRequest), merged into it"
    ),
    responses(
        (status = 200, description = "The edited incident", body = Incident,
            headers(("ETag" = String, description = "The new version"))),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        crate::openapi::Versioned,
        crate::openapi::BodyErrors,
        crate::openapi::SignedIn,
    )
)]
#[patch("/incidents/{id}")]
pub async fn update_incident(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: Actor,
    id: web::Path<String>,
    ValidJson(JsonObject(patch)): ValidJson<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "incident")?;
    let expected = if_match(&req);
    for key in ["id", "submit"] {
        if patch.contains_key(key) {
            let why = if key == "id" {
                "cannot be changed"
            } else {
                "submit with POST /incidents/{id}/transitions"
            };
            return Err(ApiError::invalid(key, why));
        }
    }
    let keys = state.settings.data_keys.clone();
    db::transaction(&state.pool, move |conn| {
        service::edit(conn, &user, &keys, &id, expected, patch)
    })
    .await
    .map(|incident| incident.respond(StatusCode::OK))
    .map_err(ApiError::from)
}

/// The answer to each refusal of the incident rules: the one place their
/// statuses and problem texts are chosen.
impl From<IncidentError> for ApiError {
    fn from(e: IncidentError) -> Self {
        match e {
            IncidentError::NotFound => ApiError::not_found("incident"),
            IncidentError::Forbidden(why) => ApiError::Forbidden(why),
            IncidentError::Stale { current } => ApiError::PreconditionFailed(format!(
                "the incident has changed (it is at version {current}); read it again and reapply your change"
            )),
            IncidentError::VersionRequired => ApiError::PreconditionRequired(
                "send If-Match with the ETag of the version you read, e.g. If-Match: \"3\"".into(),
            ),
            IncidentError::Conflict(why) => ApiError::Conflict(why),
            IncidentError::Invalid(invalid) => invalid.into(),
            IncidentError::IdTaken => {
                ApiError::Conflict("a record with the same unique value already exists".into())
            }
            IncidentError::Resent => ApiError::Conflict(
                "an incident with this id already exists with different content; \
                 send a new id for a new report"
                    .into(),
            ),
            IncidentError::BadCursor(why) => ApiError::BadRequest(why.into()),
            IncidentError::Store(e) => e.into(),
            IncidentError::Corrupt(why) => ApiError::internal(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_cursors_are_refused() {
        let id = uuid::Uuid::now_v7().to_string();
        let at = chrono::NaiveDate::from_ymd_opt(2024, 1, 10)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap();
        assert_eq!(
            Cursor::decode(&Cursor::encode(Order::Occurred, at, &id), Order::Occurred).unwrap(),
            Cursor {
                order: Order::Occurred,
                at,
                id: id.clone()
            }
        );
        let updated = Cursor::encode(Order::Updated, at, &id);
        assert_eq!(Cursor::decode(&updated, Order::Updated).unwrap().at, at);
        assert!(Cursor::decode(&updated, Order::Occurred).is_err());
        assert!(Cursor::decode(&Cursor::encode(Order::Occurred, at, &id), Order::Updated).is_err());
        use base64::Engine;
        let forge = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        for forged in [
            String::new(),
            "!!".into(),
            forge(&format!("-210000000000000000:{id}")),
            forge(&format!("{}:{id}", i64::MIN)),
            forge(&format!("{}:{id}", i64::MAX)),
            forge(&format!("253402300800000000:{id}")),
            forge("1704880800000000:not-a-uuid"),
            forge("1704880800000000"),
            forge("1704880800000000:\u{0}"),
        ] {
            assert!(
                Cursor::decode(&forged, Order::Occurred).is_err(),
                "{forged}"
            );
        }
        let braced = Cursor::decode(
            &forge(&format!("1704880800000000:{{{}}}", id.to_uppercase())),
            Order::Occurred,
        )
        .unwrap();
        assert_eq!(braced.id, id, "the stored form of the id");
    }
}
