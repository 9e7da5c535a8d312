//! Incidents: offline-safe intake, consent classification, nearest base,
//! the review workflow and the history of every change.
//!
//! `routes.rs` (create, read, list, edit) and `review.rs` (transitions,
//! assessment overrides, history) are the handlers, which parse, call
//! `service.rs` (the only code that changes an incident) and respond;
//! `filter.rs` the list's filters (the export takes them too); `queries.rs` the SQL;
//! `content.rs`, `classify.rs`, `geo.rs` and `workflow.rs` the rules;
//! `view.rs` what each viewer reads of an incident and its history.

pub mod batch;
mod bulk;
pub mod classify;
pub mod content;
pub mod error;
pub mod filter;
pub mod geo;
pub mod intake;
pub mod queries;
pub mod review;
pub mod rotation;
pub mod routes;
pub mod service;
pub mod view;
pub mod vocabulary;
pub mod workflow;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::{Insertable, Queryable, Selectable};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use self::content::IncidentContent;
pub use self::error::IncidentError;
use self::vocabulary::{ConsentAssessment, Status};
use crate::crypto::DataKeys;
use crate::db::schema::incidents;

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
    /// The data key `content_hash` is keyed with (None: no keyed hash yet).
    pub content_hash_key_id: Option<String>,
    /// The data key that sealed `assessment_override_reason` (None: plaintext, from before).
    pub assessment_override_reason_key_id: Option<String>,
}

/// What binds a sealed override reason to its incident (the narrative's is the id alone).
pub fn override_reason_context(incident_id: &str) -> String {
    format!("{incident_id}/assessment_override_reason")
}

/// What binds a sealed history comment to its entry.
pub fn comment_context(incident_id: &str, event_id: &str) -> String {
    format!("{incident_id}/events/{event_id}/comment")
}

impl IncidentRow {
    pub fn status(&self) -> Result<Status, IncidentError> {
        Status::parse(&self.status)
            .ok_or_else(|| IncidentError::Corrupt(format!("unknown status {}", self.status)))
    }

    /// The content as the reporter sent it (canonical form), without the
    /// narrative, which is sealed on its own.
    pub fn structured_content(&self) -> Result<IncidentContent, IncidentError> {
        serde_json::from_str(&self.content).map_err(IncidentError::corrupt)
    }

    /// The narrative, opened with the data key that sealed it.
    pub fn narrative(&self, keys: &DataKeys) -> Result<Option<String>, IncidentError> {
        self.narrative
            .as_deref()
            .map(|text| {
                keys.open(&self.id, self.narrative_key_id.as_deref(), text)
                    .map_err(IncidentError::corrupt)
            })
            .transpose()
    }

    /// The content as the reporter sent it, narrative included.
    pub fn content(&self, keys: &DataKeys) -> Result<IncidentContent, IncidentError> {
        let mut content = self.structured_content()?;
        content.narrative = self.narrative(keys)?;
        Ok(content)
    }

    /// The reviewer's reason for overriding the assessment, opened.
    pub fn override_reason(&self, keys: &DataKeys) -> Result<Option<String>, IncidentError> {
        self.assessment_override_reason
            .as_deref()
            .map(|text| {
                keys.open(
                    &override_reason_context(&self.id),
                    self.assessment_override_reason_key_id.as_deref(),
                    text,
                )
                .map_err(IncidentError::corrupt)
            })
            .transpose()
    }

    /// Whether `content` is what this row holds (an offline re-send): by the
    /// keyed hash, or, for a row without one yet, by the content itself.
    pub fn holds(&self, keys: &DataKeys, content: &IncidentContent) -> Result<bool, IncidentError> {
        let stored_json = content.stored_json();
        match &self.content_hash_key_id {
            Some(key_id) => keys
                .content_hash_matches(
                    key_id,
                    &self.content_hash,
                    &content::hash_parts(&self.id, &stored_json, content.narrative.as_deref()),
                )
                .map_err(IncidentError::corrupt),
            None => Ok(self.content == stored_json && self.narrative(keys)? == content.narrative),
        }
    }
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
    /// Why a reviewer overrode the computed assessment, if one did. Absent for
    /// partners, who never read reviewers' notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
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
    /// Who reported it. Absent for partners, who never see reporters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid, nullable = false)]
    pub reporter_id: Option<String>,
    /// Whether the caller reported it.
    pub reported_by_me: bool,
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
