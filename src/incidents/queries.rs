//! The SQL of incidents and their history.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::IncidentError;
use super::IncidentRow;
use super::content::IncidentContent;
use super::vocabulary::{ConsentAssessment, ExploitationType, Status};
use crate::auth::Actor;
use crate::auth::actor::Visibility;
use crate::crypto::Sealed;
use crate::db::schema::{
    bases, incident_events, incident_exploitation_types, incident_perpetrator_affiliations,
    incidents,
};
use crate::db::{self, DbConnection, MultiBackend};

pub fn insert(
    conn: &mut DbConnection,
    row: &IncidentRow,
    content: &IncidentContent,
) -> QueryResult<()> {
    diesel::insert_into(incidents::table)
        .values(row)
        .execute(conn)?;
    insert_dimensions(conn, &row.id, content)
}

/// The multi-valued dimensions (exploitation types, perpetrator affiliations),
/// one row each, so that lists and aggregates can filter and group on them.
pub fn replace_dimensions(
    conn: &mut DbConnection,
    id: &str,
    content: &IncidentContent,
) -> QueryResult<()> {
    diesel::delete(
        incident_exploitation_types::table.filter(incident_exploitation_types::incident_id.eq(id)),
    )
    .execute(conn)?;
    diesel::delete(
        incident_perpetrator_affiliations::table
            .filter(incident_perpetrator_affiliations::incident_id.eq(id)),
    )
    .execute(conn)?;
    insert_dimensions(conn, id, content)
}

fn insert_dimensions(
    conn: &mut DbConnection,
    id: &str,
    content: &IncidentContent,
) -> QueryResult<()> {
    let mut affiliations: Vec<_> = content.perpetrators.iter().map(|p| p.affiliation).collect();
    affiliations.sort();
    affiliations.dedup();
    for a in affiliations {
        diesel::insert_into(incident_perpetrator_affiliations::table)
            .values((
                incident_perpetrator_affiliations::incident_id.eq(id),
                incident_perpetrator_affiliations::affiliation.eq(a.as_str()),
            ))
            .execute(conn)?;
    }
    for t in &content.exploitation_types {
        diesel::insert_into(incident_exploitation_types::table)
            .values((
                incident_exploitation_types::incident_id.eq(id),
                incident_exploitation_types::exploitation_type.eq(t.as_str()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// An incident with the name of its nearest base.
pub fn find(
    conn: &mut DbConnection,
    id: &str,
) -> QueryResult<Option<(IncidentRow, Option<String>)>> {
    incidents::table
        .left_join(bases::table.on(incidents::base_id.eq(bases::id.nullable())))
        .filter(incidents::id.eq(id))
        .select((IncidentRow::as_select(), bases::name.nullable()))
        .first(conn)
        .optional()
}

/// Which of these ids are stored.
pub fn find_ids(conn: &mut DbConnection, ids: &[&str]) -> QueryResult<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    incidents::table
        .filter(incidents::id.eq_any(ids))
        .select(incidents::id)
        .load(conn)
}

/// Incidents with the names of their nearest bases, by id (those stored).
pub fn find_many(
    conn: &mut DbConnection,
    ids: &[&str],
) -> QueryResult<Vec<(IncidentRow, Option<String>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    incidents::table
        .left_join(bases::table.on(incidents::base_id.eq(bases::id.nullable())))
        .filter(incidents::id.eq_any(ids))
        .select((IncidentRow::as_select(), bases::name.nullable()))
        .load(conn)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub mission_id: Option<String>,
    pub base_id: Option<String>,
    pub status: Option<Status>,
    pub occurred_from: Option<NaiveDateTime>,
    pub occurred_to: Option<NaiveDateTime>,
    pub exploitation_type: Option<ExploitationType>,
    pub consent_assessment: Option<ConsentAssessment>,
    pub reported_by_me: bool,
    pub bbox: Option<BoundingBox>,
    /// Exports leave out drafts, even the caller's own.
    pub non_draft_only: bool,
    /// Updated at or after this time.
    pub updated_since: Option<NaiveDateTime>,
    pub order: Order,
}

/// The orders of the incident list: newest first by when it happened (the
/// default), or oldest first by when it last changed (`sort=updated_at`), so
/// that a client paging with `updated_since` meets an incident changed while it
/// pages again on a later page instead of losing it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    #[default]
    Occurred,
    Updated,
}

/// A position in the list: the last incident served, in the order it was
/// served in (a cursor of one order is refused in the other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub order: Order,
    pub at: NaiveDateTime,
    pub id: String,
}

/// What marks a cursor of the `updated_at` order (the default order's cursors
/// keep the form they had before there was a choice).
const UPDATED_PREFIX: &str = "u:";

impl Cursor {
    pub fn encode(order: Order, at: NaiveDateTime, id: &str) -> String {
        let prefix = match order {
            Order::Occurred => "",
            Order::Updated => UPDATED_PREFIX,
        };
        URL_SAFE_NO_PAD.encode(format!("{prefix}{}:{id}", at.and_utc().timestamp_micros()))
    }

    /// A cursor this API issued for `order`.
    pub fn decode(raw: &str, order: Order) -> Result<Self, IncidentError> {
        let invalid = || IncidentError::BadCursor("cursor is not one this API issued");
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?)
            .map_err(|_| invalid())?;
        let (issued_for, text) = match text.strip_prefix(UPDATED_PREFIX) {
            Some(rest) => (Order::Updated, rest),
            None => (Order::Occurred, text.as_str()),
        };
        if issued_for != order {
            return Err(IncidentError::BadCursor(
                "cursor belongs to another sort order; start again without it",
            ));
        }
        let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
        // A forged time outside the dates Basewatch records (PostgreSQL cannot even
        // bind one before 4713 BC) is refused like any other forgery.
        let at = micros
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_micros)
            .filter(|t| crate::domain::check_date(t.date_naive()).is_ok())
            .ok_or_else(invalid)?
            .naive_utc();
        // Ids are stored hyphenated and lower case: compare with that form only.
        let id = uuid::Uuid::parse_str(id).map_err(|_| invalid())?;
        Ok(Self {
            order,
            at,
            id: id.hyphenated().to_string(),
        })
    }
}

/// The visibility rule of `Actor::sees`, in SQL, on any boxed query that has
/// `incidents` in it: the list, the export and the change feed share it.
macro_rules! visible_to {
    ($query:expr, $viewer:expr) => {{
        let viewer: &Actor = $viewer;
        let me = viewer.id.as_str().to_owned();
        let draft = Status::Draft.as_str();
        match viewer.visibility() {
            Visibility::All => $query.filter(
                incidents::status
                    .ne(draft)
                    .or(incidents::reporter_id.eq(me)),
            ),
            Visibility::OwnOrganisation => $query.filter(
                incidents::organisation_id
                    .eq(viewer.organisation_id.as_str().to_owned())
                    .and(
                        incidents::status
                            .ne(draft)
                            .or(incidents::reporter_id.eq(me)),
                    ),
            ),
            Visibility::Own => $query.filter(incidents::reporter_id.eq(me)),
        }
    }};
}
pub(crate) use visible_to;

/// In the filter's order, `limit + 1` rows at most, only what the
/// viewer may see, each with the name of its nearest base.
pub fn list(
    conn: &mut DbConnection,
    viewer: &Actor,
    filter: &Filter,
    after: Option<&Cursor>,
    limit: i64,
) -> QueryResult<Vec<(IncidentRow, Option<String>)>> {
    visible(viewer, filter, after, limit)
        .select((IncidentRow::as_select(), bases::name.nullable()))
        .load(conn)
}

/// Incidents with their nearest base (LEFT JOIN): both databases drop the join
/// when no base column is selected, as the export does.
type WithBase = diesel::dsl::LeftJoinOn<
    incidents::table,
    bases::table,
    diesel::dsl::Eq<incidents::base_id, diesel::dsl::Nullable<bases::id>>,
>;

/// The query behind lists and exports: the incidents the viewer may see that
/// pass the filter, in the filter's order, after the cursor,
/// `limit + 1` rows at most. The caller picks the columns.
pub fn visible(
    viewer: &Actor,
    filter: &Filter,
    after: Option<&Cursor>,
    limit: i64,
) -> diesel::dsl::IntoBoxed<'static, WithBase, MultiBackend> {
    let me = viewer.id.as_str().to_owned();
    let draft = Status::Draft.as_str();
    let mut query = incidents::table
        .left_join(bases::table.on(incidents::base_id.eq(bases::id.nullable())))
        .limit(limit + 1)
        .into_boxed();
    query = match filter.order {
        Order::Occurred => query.order((incidents::occurred_at.desc(), incidents::id.desc())),
        Order::Updated => query.order((incidents::updated_at.asc(), incidents::id.asc())),
    };
    query = visible_to!(query, viewer);

    if let Some(mission) = &filter.mission_id {
        query = query.filter(incidents::mission_id.eq(mission.clone()));
    }
    if let Some(base) = &filter.base_id {
        query = query.filter(incidents::base_id.eq(base.clone()));
    }
    if let Some(status) = filter.status {
        query = query.filter(incidents::status.eq(status.as_str()));
    }
    if let Some(from) = filter.occurred_from {
        query = query.filter(incidents::occurred_at.ge(from));
    }
    if let Some(to) = filter.occurred_to {
        query = query.filter(incidents::occurred_at.lt(to));
    }
    if let Some(t) = filter.exploitation_type {
        query = query.filter(
            incidents::id.eq_any(
                incident_exploitation_types::table
                    .filter(incident_exploitation_types::exploitation_type.eq(t.as_str()))
                    .select(incident_exploitation_types::incident_id),
            ),
        );
    }
    if let Some(assessment) = filter.consent_assessment {
        query = query.filter(incidents::consent_assessment.eq(assessment.as_str()));
    }
    if filter.non_draft_only {
        query = query.filter(incidents::status.ne(draft));
    }
    if filter.reported_by_me {
        query = query.filter(incidents::reporter_id.eq(me));
    }
    if let Some(b) = filter.bbox {
        query = query.filter(incidents::latitude.between(b.min_lat, b.max_lat));
        query = if b.min_lon <= b.max_lon {
            query.filter(incidents::longitude.between(b.min_lon, b.max_lon))
        } else {
            // The box crosses the antimeridian.
            query.filter(
                incidents::longitude
                    .ge(b.min_lon)
                    .or(incidents::longitude.le(b.max_lon)),
            )
        };
    }
    if let Some(since) = filter.updated_since {
        query = query.filter(incidents::updated_at.ge(since));
    }
    match after {
        Some(c) if c.order == Order::Updated => {
            query = query.filter(incidents::updated_at.ge(c.at)).filter(
                incidents::updated_at.gt(c.at).or(incidents::updated_at
                    .eq(c.at)
                    .and(incidents::id.gt(c.id.clone()))),
            );
        }
        _ => {}
    }
    if let Some(c) = after.filter(|c| c.order == Order::Occurred) {
        // The first condition is implied by the second; it is there so that the
        // planner scans the (occurred_at, id) index from the cursor on, instead of
        // from the newest row, which would make each later page slower.
        query = query.filter(incidents::occurred_at.le(c.at)).filter(
            incidents::occurred_at.lt(c.at).or(incidents::occurred_at
                .eq(c.at)
                .and(incidents::id.lt(c.id.clone()))),
        );
    }
    query
}

/// What an edit changes: the content and everything derived from it.
#[derive(AsChangeset)]
#[diesel(table_name = incidents, treat_none_as_null = true)]
pub struct ContentChanges {
    pub mission_id: String,
    pub base_id: Option<String>,
    pub base_distance_km: Option<f64>,
    pub occurred_at: NaiveDateTime,
    pub latitude: f64,
    pub longitude: f64,
    pub location_precision: Option<String>,
    pub venue: Option<String>,
    pub victim_count: i32,
    pub source_type: Option<String>,
    pub source_reliability: Option<String>,
    pub source_credibility: Option<i32>,
    pub content: String,
    pub content_hash: String,
    pub content_hash_key_id: Option<String>,
    pub narrative: Option<String>,
    pub narrative_key_id: Option<String>,
    pub consent_assessment: String,
    pub computed_assessment: String,
    pub assessment_indicators: String,
}

/// Optimistic concurrency: each update applies only to the version the caller
/// read, in the same statement, so of two concurrent writers one gets `false`.
macro_rules! versioned_update {
    ($conn:expr, $id:expr, $version:expr, $changes:expr) => {
        diesel::update(
            incidents::table
                .filter(incidents::id.eq($id))
                .filter(incidents::version.eq($version)),
        )
        .set((
            $changes,
            incidents::version.eq($version + 1),
            incidents::updated_at.eq(db::now()),
        ))
        .execute($conn)
        .map(|n| n == 1)
    };
}

pub fn update_content(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    changes: &ContentChanges,
) -> QueryResult<bool> {
    versioned_update!(conn, id, version, changes)
}

pub fn update_status(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    to: Status,
    submitted_at: Option<NaiveDateTime>,
) -> QueryResult<bool> {
    versioned_update!(
        conn,
        id,
        version,
        (
            incidents::status.eq(to.as_str()),
            incidents::submitted_at.eq(submitted_at)
        )
    )
}

/// `reason` is sealed (`super::override_reason_context`).
pub fn update_assessment(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    assessment: ConsentAssessment,
    reason: &Sealed,
) -> QueryResult<bool> {
    versioned_update!(
        conn,
        id,
        version,
        (
            incidents::consent_assessment.eq(assessment.as_str()),
            incidents::assessment_override_reason.eq(&reason.text),
            incidents::assessment_override_reason_key_id.eq(&reason.key_id)
        )
    )
}

/// What a history entry records; `as_str` is what is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryKind {
    Created,
    Edited,
    Transition,
    AssessmentOverridden,
    AttachmentAdded,
    AttachmentRemoved,
}

impl HistoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Edited => "edited",
            Self::Transition => "transition",
            Self::AssessmentOverridden => "assessment_overridden",
            Self::AttachmentAdded => "attachment_added",
            Self::AttachmentRemoved => "attachment_removed",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_events)]
// NULL for None, not DEFAULT: PostgreSQL's COPY (bulk loads) needs every column.
#[diesel(treat_none_as_default_value = false)]
pub struct EventRow {
    pub id: String,
    pub incident_id: String,
    pub at: NaiveDateTime,
    pub actor_id: String,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    /// Sealed (`super::comment_context`) under the key `comment_key_id` names
    /// (None: plaintext from before sealing).
    pub comment: Option<String>,
    pub version: i32,
    pub changed_fields: Option<String>,
    pub comment_key_id: Option<String>,
}

pub fn insert_event(conn: &mut DbConnection, event: &EventRow) -> QueryResult<()> {
    diesel::insert_into(incident_events::table)
        .values(event)
        .execute(conn)
        .map(|_| ())
}

/// Oldest first.
pub fn events(conn: &mut DbConnection, incident_id: &str) -> QueryResult<Vec<EventRow>> {
    incident_events::table
        .filter(incident_events::incident_id.eq(incident_id))
        .select(EventRow::as_select())
        .order(incident_events::id.asc())
        .load(conn)
}

#[derive(Insertable)]
#[diesel(table_name = incident_exploitation_types, treat_none_as_default_value = false)]
struct TypeRow<'a> {
    incident_id: &'a str,
    exploitation_type: &'static str,
}

#[derive(Insertable)]
#[diesel(table_name = incident_perpetrator_affiliations, treat_none_as_default_value = false)]
struct AffiliationRow<'a> {
    incident_id: &'a str,
    affiliation: &'static str,
}

/// Rows per INSERT: at most 32 columns (diesel's limit here) × 1,023 stays
/// under SQLite's 32,766 parameters.
const BATCH: usize = 32_766 / 32;

/// Stores many incidents with their dimensions and first history entry, in
/// bulk (COPY on PostgreSQL, multi-row INSERTs on SQLite), for the bulk loader
/// and the demo. Diesel's connection over both backends cannot batch, so this
/// runs on the backend's own connection.
pub fn insert_many(
    conn: &mut DbConnection,
    incidents_: &[(IncidentRow, IncidentContent, EventRow)],
) -> QueryResult<()> {
    let rows: Vec<&IncidentRow> = incidents_.iter().map(|(r, _, _)| r).collect();
    match conn {
        // COPY is PostgreSQL's bulk path: several times faster than multi-row INSERTs.
        DbConnection::Postgres(c) => {
            diesel::copy_from(incidents::table)
                .from_insertable(rows)
                .execute(c)?;
        }
        DbConnection::Sqlite(c) => {
            for chunk in rows.chunks(BATCH) {
                diesel::insert_into(incidents::table)
                    .values(chunk.to_vec())
                    .execute(c)?;
            }
        }
    }
    let stored: Vec<_> = incidents_.iter().map(|(r, c, e)| (r, c, e)).collect();
    insert_reported(conn, &stored)
}

/// What follows the rows of incidents just stored in bulk: their dimensions,
/// their first history entries, and their `reported` changes in the feed.
pub fn insert_reported(
    conn: &mut DbConnection,
    stored: &[(&IncidentRow, &IncidentContent, &EventRow)],
) -> QueryResult<()> {
    let events: Vec<&EventRow> = stored.iter().map(|(_, _, e)| *e).collect();
    let mut types = Vec::new();
    let mut affiliations = Vec::new();
    for (row, content, _) in stored {
        types.extend(content.exploitation_types.iter().map(|t| TypeRow {
            incident_id: &row.id,
            exploitation_type: t.as_str(),
        }));
        let mut seen: Vec<&'static str> = content
            .perpetrators
            .iter()
            .map(|p| p.affiliation.as_str())
            .collect();
        seen.sort();
        seen.dedup();
        affiliations.extend(seen.into_iter().map(|a| AffiliationRow {
            incident_id: &row.id,
            affiliation: a,
        }));
    }
    match conn {
        DbConnection::Postgres(c) => {
            if !events.is_empty() {
                diesel::copy_from(incident_events::table)
                    .from_insertable(events.clone())
                    .execute(c)?;
            }
            if !types.is_empty() {
                diesel::copy_from(incident_exploitation_types::table)
                    .from_insertable(types)
                    .execute(c)?;
            }
            if !affiliations.is_empty() {
                diesel::copy_from(incident_perpetrator_affiliations::table)
                    .from_insertable(affiliations)
                    .execute(c)?;
            }
        }
        DbConnection::Sqlite(c) => {
            for chunk in events.chunks(BATCH) {
                diesel::insert_into(incident_events::table)
                    .values(chunk.to_vec())
                    .execute(c)?;
            }
            for chunk in types.chunks(BATCH) {
                diesel::insert_into(incident_exploitation_types::table)
                    .values(chunk)
                    .execute(c)?;
            }
            for chunk in affiliations.chunks(BATCH) {
                diesel::insert_into(incident_perpetrator_affiliations::table)
                    .values(chunk)
                    .execute(c)?;
            }
        }
    }
    crate::changes::append_reported(conn, &events)
}
