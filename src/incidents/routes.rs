//! /api/v1/incidents: report, read, list, edit.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::IntoParams;

use super::content::IncidentContent;
use super::intake::{changed_fields, derive, event, merge_patch, row_from};
use super::queries::{self, BoundingBox, Cursor, Filter};
use super::vocabulary::{ConsentAssessment, ExploitationType, Status};
use super::{CreateIncidentRequest, Incident, IncidentRow, can_see, workflow};
use crate::audit::{self, Action};
use crate::auth::CurrentUser;
use crate::auth::policy::{self, Action as Permission};
use crate::db::{self, DbConnection};
use crate::domain::parse_id;
use crate::error::ApiError;
use crate::http::{
    IfMatch, JsonObject, Page, PageQuery, Query, ValidJson, etag, if_match, query_time, query_uuid,
};
use crate::state::AppState;

/// The answer carrying one incident, with its ETag.
pub fn respond(status: StatusCode, incident: &Incident) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(incident.version)))
        .insert_header((
            header::LOCATION,
            format!("/api/v1/incidents/{}", incident.id),
        ))
        .json(incident)
}

/// Loads an incident the caller may see; any other answers 404, as if it did not exist.
pub fn find_visible(
    conn: &mut DbConnection,
    user: &CurrentUser,
    id: &str,
) -> Result<(IncidentRow, Option<String>), ApiError> {
    match queries::find(conn, id)? {
        Some((row, base)) if can_see(user, &row) => Ok((row, base)),
        _ => Err(ApiError::not_found("incident")),
    }
}

fn take_id(body: &mut Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.remove("id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => uuid::Uuid::parse_str(&s)
            .map(|u| Some(u.to_string()))
            .map_err(|_| ApiError::invalid("id", "must be a UUID")),
        Some(_) => Err(ApiError::invalid("id", "must be a UUID string")),
    }
}

fn take_submit(body: &mut Map<String, Value>) -> Result<bool, ApiError> {
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
    user: CurrentUser,
    ValidJson(JsonObject(mut body)): ValidJson<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    if !policy::allows(user.role, Permission::ReportIncidents) {
        return Err(ApiError::Forbidden(
            "analysts read incidents; they do not report them".into(),
        ));
    }
    let id = take_id(&mut body)?;
    let submit = take_submit(&mut body)?;
    let mut content = IncidentContent::from_object(body)?;
    content.check(Utc::now())?;
    let id = id.unwrap_or_else(db::new_id);

    let (actor, stored, resent_id) = (user.clone(), content.clone(), id.clone());
    let keys = state.settings.data_keys.clone();
    let sealing = keys.clone();
    let created = db::transaction(&state.pool, move |conn| {
        let (derived, base_name) = derive(conn, &sealing, &id, &stored)?;
        let now = db::now();
        let status = if submit { Status::Submitted } else { Status::Draft };
        let row = row_from(&id, &actor, derived, status, now);
        queries::insert(conn, &row, &stored)?;
        queries::insert_event(conn, &event(&sealing, &row.id, &actor, "created", None, Some(status), None, 1, None))?;
        audit::Entry::new(Action::IncidentCreated)
            .by(&actor)
            .on("incident", &row.id)
            .details(json!({"mission_id": row.mission_id, "status": row.status, "consent_assessment": row.consent_assessment}))
            .write(conn)?;
        // What was stored is known: no need to read it back.
        Incident::view(row, base_name, &actor, &sealing)
    })
    .await;

    match created {
        Ok(incident) => Ok(respond(StatusCode::CREATED, &incident)),
        // The id exists: a re-send of the same report, or a clash.
        Err(ApiError::Conflict(_)) => db::run(&state.pool, move |conn| {
            let (row, base) = queries::find(conn, &resent_id)?
                .ok_or_else(|| ApiError::internal("conflicting incident vanished"))?;
            if row.reporter_id == user.id.as_str() && row.holds(&keys, &content)? {
                Incident::view(row, base, &user, &keys)
            } else {
                Err(ApiError::Conflict(
                    "an incident with this id already exists with different content; \
                         send a new id for a new report"
                        .into(),
                ))
            }
        })
        .await
        .map(|incident| respond(StatusCode::OK, &incident)),
        Err(other) => Err(other),
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
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "incident")?;
    let keys = state.settings.data_keys.clone();
    db::run(&state.pool, move |conn| {
        let (row, base) = find_visible(conn, &user, &id)?;
        Incident::view(row, base, &user, &keys)
    })
    .await
    .map(|incident| respond(StatusCode::OK, &incident))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentListQuery {
    #[param(format = Uuid)]
    pub mission_id: Option<String>,
    /// Incidents whose nearest base is this one.
    #[param(format = Uuid)]
    pub base_id: Option<String>,
    pub status: Option<Status>,
    /// Occurred at or after this time.
    pub occurred_from: Option<DateTime<Utc>>,
    /// Occurred before this time.
    pub occurred_to: Option<DateTime<Utc>>,
    pub exploitation_type: Option<ExploitationType>,
    pub consent_assessment: Option<ConsentAssessment>,
    /// Only incidents the caller reported.
    pub reported_by_me: Option<bool>,
    /// `min_lon,min_lat,max_lon,max_lat` (WGS 84, as in GeoJSON), `min_lat` at most
    /// `max_lat`; may cross the antimeridian (`min_lon` > `max_lon`).
    // The pattern is BBOX_PATTERN (attributes take literals only; a test compares).
    #[param(
        example = "21.0,42.3,21.4,42.8",
        pattern = r"^-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]+)?),-?(?:90(?:\.0+)?|[0-8]?[0-9](?:\.[0-9]+)?),-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]+)?),-?(?:90(?:\.0+)?|[0-8]?[0-9](?:\.[0-9]+)?)$"
    )]
    pub bbox: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(min_length = 1, max_length = 200, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

impl IncidentListQuery {
    /// The filters of the list (exports take the same).
    pub fn filter(&self) -> Result<Filter, ApiError> {
        Ok(Filter {
            mission_id: query_uuid(self.mission_id.as_deref(), "mission_id")?,
            base_id: query_uuid(self.base_id.as_deref(), "base_id")?,
            status: self.status,
            occurred_from: query_time(self.occurred_from, "occurred_from")?,
            occurred_to: query_time(self.occurred_to, "occurred_to")?,
            exploitation_type: self.exploitation_type,
            consent_assessment: self.consent_assessment,
            reported_by_me: self.reported_by_me.unwrap_or(false),
            bbox: self.bbox.as_deref().map(parse_bbox).transpose()?,
            non_draft_only: false,
        })
    }
}

/// The grammar of `bbox`, in the OpenAPI document: four decimal numbers (no
/// exponent, no `+`, no spaces), longitudes within ±180 and latitudes within ±90.
/// `parse_bbox` accepts exactly these strings (and refuses `min_lat > max_lat`).
pub const BBOX_PATTERN: &str = r"^-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]+)?),-?(?:90(?:\.0+)?|[0-8]?[0-9](?:\.[0-9]+)?),-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]+)?),-?(?:90(?:\.0+)?|[0-8]?[0-9](?:\.[0-9]+)?)$";

/// One coordinate of a bbox as `BBOX_PATTERN` writes it: an optional `-`, at
/// most `int_digits` digits (three only as 1xx), an optional `.` and digits, and
/// within `limit` degrees.
fn bbox_number(raw: &str, longitude: bool) -> Option<f64> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let (int, frac) = match digits.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (digits, None),
    };
    let int_ok = match int.len() {
        1 | 2 => true,
        3 => longitude && int.starts_with('1'),
        _ => false,
    };
    if !int_ok
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let value: f64 = raw.parse().ok()?;
    let limit = if longitude { 180.0 } else { 90.0 };
    (-limit..=limit).contains(&value).then_some(value)
}

pub fn parse_bbox(raw: &str) -> Result<BoundingBox, ApiError> {
    let invalid = || {
        ApiError::BadRequest(
            "bbox must be min_lon,min_lat,max_lon,max_lat in decimal degrees (e.g. 21.0,42.3,21.4,42.8), \
             longitudes within ±180, latitudes within ±90, min_lat at most max_lat"
                .into(),
        )
    };
    let parts: Vec<&str> = raw.split(',').collect();
    let [min_lon, min_lat, max_lon, max_lat] = parts[..] else {
        return Err(invalid());
    };
    let lon = |p: &str| bbox_number(p, true).ok_or_else(invalid);
    let lat = |p: &str| bbox_number(p, false).ok_or_else(invalid);
    let (min_lon, min_lat, max_lon, max_lat) =
        (lon(min_lon)?, lat(min_lat)?, lon(max_lon)?, lat(max_lat)?);
    if min_lat > max_lat {
        return Err(invalid());
    }
    Ok(BoundingBox {
        min_lon,
        min_lat,
        max_lon,
        max_lat,
    })
}

/// List the incidents the caller may see, newest first.
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
    user: CurrentUser,
    query: Query<IncidentListQuery>,
) -> Result<web::Json<Page<Incident>>, ApiError> {
    let q = query.into_inner();
    let limit = PageQuery {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let cursor = q.cursor.as_deref().map(Cursor::decode).transpose()?;
    let filter = q.filter()?;
    let keys = state.settings.data_keys.clone();
    let items = db::run(&state.pool, move |conn| {
        queries::list(conn, &user, &filter, cursor.as_ref(), limit)?
            .into_iter()
            .map(|(row, base)| Incident::view(row, base, &user, &keys))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let page = Page::from_rows(items, limit, |i| {
        Cursor::encode(i.content.occurred_at.naive_utc(), &i.id)
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
    user: CurrentUser,
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
        let (row, _) = find_visible(conn, &user, &id)?;
        if row.reporter_id != user.id.as_str() {
            return Err(ApiError::Forbidden("only the reporter may edit an incident".into()));
        }
        let expected = current_version(expected, row.version)?;
        let status = row.status()?;
        if !workflow::editable(status) {
            return Err(ApiError::Conflict(format!(
                "the incident is {}; reporters edit only drafts and incidents sent back for more information",
                status.as_str()
            )));
        }
        let before = serde_json::to_value(row.content(&keys)?).map_err(ApiError::internal)?;
        let mut merged = before.clone();
        merge_patch(&mut merged, &Value::Object(patch));
        let Value::Object(object) = merged else {
            return Err(ApiError::internal("merged content is not an object"));
        };
        let mut content = IncidentContent::from_object(object)?;
        content.check(Utc::now())?;
        let after = serde_json::to_value(&content).map_err(ApiError::internal)?;
        let changed = changed_fields(&before, &after);

        let (mut changes, _) = derive(conn, &keys, &id, &content)?;
        if row.assessment_override_reason.is_some() {
            changes.consent_assessment = row.consent_assessment.clone();
        }
        if !queries::update_content(conn, &id, expected, &changes)? {
            return Err(stale(row.version));
        }
        queries::replace_dimensions(conn, &id, &content)?;
        queries::insert_event(conn, &event(&keys, &id, &user, "edited", None, None, None, expected + 1, Some(changed.clone())))?;
        audit::Entry::new(Action::IncidentUpdated)
            .by(&user)
            .on("incident", &id)
            .details(json!({"changed_fields": changed, "version": expected + 1}))
            .write(conn)?;
        let (row, base) = queries::find(conn, &id)?.ok_or_else(|| ApiError::internal("incident vanished"))?;
        Incident::view(row, base, &user, &keys)
    })
    .await
    .map(|incident| respond(StatusCode::OK, &incident))
}

/// The `If-Match` version, when it is the current one (428 without it, 412 when stale).
/// The version to update from: the current one, when `If-Match` names it.
pub fn current_version(if_match: Result<IfMatch, ApiError>, current: i32) -> Result<i32, ApiError> {
    if if_match?.matches(current) {
        Ok(current)
    } else {
        Err(stale(current))
    }
}

pub fn stale(current: i32) -> ApiError {
    ApiError::PreconditionFailed(format!(
        "the incident has changed (it is at version {current}); read it again and reapply your change"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounding_boxes() {
        assert!(parse_bbox("21.0,42.3,21.4,42.8").is_ok());
        assert!(parse_bbox("179,-10,-179,10").is_ok());
        for bad in ["", "1,2,3", "a,b,c,d", "0,50,1,40", "0,0,0,91", "1,2,3,4,5"] {
            assert!(parse_bbox(bad).is_err(), "{bad}");
        }
    }

    /// The document's pattern and the server agree on every string but one kind:
    /// a pattern-valid box with min_lat > max_lat, which only the server refuses.
    #[test]
    fn the_bbox_pattern_is_what_the_server_accepts() {
        let pattern = regex_lite::Regex::new(BBOX_PATTERN).unwrap();
        let numbers = [
            "0", "-0", "1", "09", "21.0", "42.8", "-72.34", "90", "90.0", "90.5", "-90", "91",
            "99", "100", "179.99", "180", "180.0", "180.01", "-180", "181", "199", "200", "1000",
            "1.", ".5", "+1", "1e1", "inf", "NaN", " 1", "1 ", "--1", "1\\x0", "١", "1.5.5", "",
            "0x1",
        ];
        let mut agreed = 0;
        for a in numbers {
            for b in numbers {
                for raw in [
                    format!("{a},{b},{a},{b}"),
                    format!("{b},{a},{b},{a}"),
                    format!("{a},0,{b},0"),
                ] {
                    let server = parse_bbox(&raw).is_ok();
                    let document = pattern.is_match(&raw);
                    assert_eq!(
                        server, document,
                        "{raw:?}: server {server}, document {document}"
                    );
                    agreed += 1;
                }
            }
        }
        assert_eq!(agreed, numbers.len() * numbers.len() * 3);
        // The README's example, and the forgery the old double-escaped pattern let through.
        assert!(
            pattern.is_match("21.0,42.3,21.4,42.8") && parse_bbox("21.0,42.3,21.4,42.8").is_ok()
        );
        assert!(!pattern.is_match("1\\x0,2,3,4") && parse_bbox("1\\x0,2,3,4").is_err());
        assert!(pattern.is_match("0,50,1,40") && parse_bbox("0,50,1,40").is_err());
        // The document states this very pattern for the list and the export.
        let documented = |params: Vec<utoipa::openapi::path::Parameter>| {
            let bbox = params.into_iter().find(|p| p.name == "bbox").unwrap();
            serde_json::to_value(bbox.schema).unwrap()["pattern"].clone()
        };
        for params in [
            <IncidentListQuery as IntoParams>::into_params(|| None),
            <crate::exports::ExportQuery as IntoParams>::into_params(|| None),
        ] {
            assert_eq!(documented(params), BBOX_PATTERN);
        }
    }

    #[test]
    fn forged_cursors_are_refused() {
        let id = uuid::Uuid::now_v7().to_string();
        let at = chrono::NaiveDate::from_ymd_opt(2024, 1, 10)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap();
        assert_eq!(
            Cursor::decode(&Cursor::encode(at, &id)).unwrap(),
            Cursor {
                occurred_at: at,
                id: id.clone()
            }
        );
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
            assert!(Cursor::decode(&forged).is_err(), "{forged}");
        }
        let braced = Cursor::decode(&forge(&format!(
            "1704880800000000:{{{}}}",
            id.to_uppercase()
        )))
        .unwrap();
        assert_eq!(braced.id, id, "the stored form of the id");
    }
}
