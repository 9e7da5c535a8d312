//! Incidents: offline-safe intake, consent classification, nearest base,
//! the review workflow and the history of every change.
//!
//! `routes.rs` (create, read, list, edit) and `review.rs` (transitions,
//! assessment overrides, history) are the handlers; `queries.rs` the SQL;
//! `content.rs`, `classify.rs`, `geo.rs` and `workflow.rs` the rules.

pub mod classify;
pub mod content;
pub mod geo;
pub mod intake;
pub mod queries;
pub mod review;
pub mod rotation;
pub mod routes;
pub mod vocabulary;
pub mod workflow;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::{Insertable, Queryable, Selectable};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use self::content::IncidentContent;
use self::vocabulary::{ConsentAssessment, Status};
use crate::auth::CurrentUser;
use crate::crypto::DataKeys;
use crate::db::schema::incidents;
use crate::domain::Role;
use crate::error::ApiError;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = incidents)]
// NULL for None, not DEFAULT: PostgreSQL's COPY (bulk loads) needs every column.
#[diesel(treat_none_as_default_value = false)]
pub struct IncidentRow {
    pub id: String,
    pub mission_id: String,
    pub base_id: Option<String>,
    pub base_distance_km: Option<f64>,
    pub status: String,
    pub version: i32,
    pub reporter_id: String,
    pub organisation_id: String,
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
    pub narrative: Option<String>,
    pub consent_assessment: String,
    pub computed_assessment: String,
    pub assessment_indicators: String,
    pub assessment_override_reason: Option<String>,
    pub synthetic: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub submitted_at: Option<NaiveDateTime>,
    /// The data key that sealed `narrative` (None: stored before encryption).
    pub narrative_key_id: Option<String>,
}

impl IncidentRow {
    pub fn status(&self) -> Result<Status, ApiError> {
        Status::parse(&self.status)
            .ok_or_else(|| ApiError::internal(format!("unknown status {}", self.status)))
    }

    /// The content as the reporter sent it (canonical form), without the
    /// narrative, which is sealed on its own.
    pub fn structured_content(&self) -> Result<IncidentContent, ApiError> {
        serde_json::from_str(&self.content).map_err(ApiError::internal)
    }

    /// The narrative, opened with the data key that sealed it.
    pub fn narrative(&self, keys: &DataKeys) -> Result<Option<String>, ApiError> {
        self.narrative
            .as_deref()
            .map(|text| {
                keys.open(&self.id, self.narrative_key_id.as_deref(), text)
                    .map_err(ApiError::internal)
            })
            .transpose()
    }

    /// The content as the reporter sent it, narrative included.
    pub fn content(&self, keys: &DataKeys) -> Result<IncidentContent, ApiError> {
        let mut content = self.structured_content()?;
        content.narrative = self.narrative(keys)?;
        Ok(content)
    }
}

/// Who may see an incident. Nobody sees another's draft; monitors see their own
/// reports, partners their organisation's, reviewers, analysts and admins all.
/// `queries::visible_to` is the same rule in SQL, for lists.
pub fn can_see(viewer: &CurrentUser, row: &IncidentRow) -> bool {
    if row.reporter_id == viewer.id.as_str() {
        return true;
    }
    if row.status == Status::Draft.as_str() {
        return false;
    }
    match viewer.role {
        Role::Reviewer | Role::Analyst | Role::Admin => true,
        Role::Partner => row.organisation_id == viewer.organisation_id.as_str(),
        Role::Monitor => false,
    }
}

/// Partners read only the narratives they wrote themselves.
pub fn can_read_narrative(viewer: &CurrentUser, row: &IncidentRow) -> bool {
    row.reporter_id == viewer.id.as_str()
        || matches!(viewer.role, Role::Reviewer | Role::Analyst | Role::Admin)
}

/// The base an incident is nearest to, among its mission's bases.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NearestBase {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    /// Great-circle distance from the incident, km.
    #[schema(example = 2.417)]
    pub distance_km: f64,
}

/// Where the incident falls on the consent spectrum and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Consent {
    /// The assessment in force: the computed one, or a reviewer's override.
    pub assessment: ConsentAssessment,
    /// What the indicators alone give.
    pub computed: ConsentAssessment,
    /// The indicators that decided `computed`, e.g. `means_of_control:debt_bondage`.
    pub indicators: Vec<String>,
    /// Why a reviewer overrode the computed assessment, if one did.
    pub override_reason: Option<String>,
}

/// An incident as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Incident {
    #[schema(format = Uuid)]
    pub id: String,
    pub status: Status,
    /// Increases with every change; send it back as `If-Match` to change the incident.
    pub version: i32,
    /// Computed by the server; absent when the mission has no bases.
    pub base: Option<NearestBase>,
    #[schema(format = Uuid)]
    pub reporter_id: String,
    #[schema(format = Uuid)]
    pub organisation_id: String,
    #[serde(flatten)]
    pub content: IncidentContent,
    pub consent: Consent,
    /// Demo data, not a real report.
    pub synthetic: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
}

impl Incident {
    pub fn view(
        row: IncidentRow,
        base_name: Option<String>,
        viewer: &CurrentUser,
        keys: &DataKeys,
    ) -> Result<Self, ApiError> {
        let mut content = row.structured_content()?;
        if can_read_narrative(viewer, &row) {
            content.narrative = row.narrative(keys)?;
        }
        let assessment = |s: &str| {
            ConsentAssessment::parse(s)
                .ok_or_else(|| ApiError::internal(format!("unknown assessment {s}")))
        };
        Ok(Self {
            status: row.status()?,
            base: match (row.base_id, base_name, row.base_distance_km) {
                (Some(id), Some(name), Some(distance_km)) => Some(NearestBase {
                    id,
                    name,
                    distance_km,
                }),
                _ => None,
            },
            consent: Consent {
                assessment: assessment(&row.consent_assessment)?,
                computed: assessment(&row.computed_assessment)?,
                indicators: serde_json::from_str(&row.assessment_indicators)
                    .map_err(ApiError::internal)?,
                override_reason: row.assessment_override_reason,
            },
            id: row.id,
            version: row.version,
            reporter_id: row.reporter_id,
            organisation_id: row.organisation_id,
            content,
            synthetic: row.synthetic,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            submitted_at: row.submitted_at.map(|t| t.and_utc()),
        })
    }
}

/// A new report. Send the same `id` again after a lost answer: the same content
/// returns the stored incident (200), different content is refused (409).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; routes::create_incident parses it field by field
pub struct CreateIncidentRequest {
    /// Generated by the client (a UUID), so that re-sends cannot create duplicates.
    #[schema(format = Uuid)]
    id: Option<String>,
    /// `true` submits the report for review at once; `false` (the default) keeps a draft.
    #[serde(default)]
    submit: bool,
    #[serde(flatten)]
    content: IncidentContent,
}

/// A move in the review workflow.
#[derive(Debug, Deserialize, validator::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: Status,
    /// Required for `unsubstantiated`, `needs_info`, `referred` and reopening.
    #[validate(length(max = 5000, message = "must be at most 5000 characters"))]
    pub comment: Option<String>,
}

/// A reviewer's override of the computed assessment.
#[derive(Debug, Deserialize, validator::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentOverrideRequest {
    pub assessment: ConsentAssessment,
    /// Why; not blank.
    #[validate(length(min = 1, max = 5000, message = "must be 1 to 5000 characters"))]
    #[schema(min_length = 1, max_length = 5000, pattern = r"\S")]
    pub reason: String,
}
