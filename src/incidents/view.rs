//! What a viewer reads of an incident they may see, and of its history: the
//! one rule behind every answer that carries either (create, read, list, edit,
//! transition, override, history). README "Who sees what" states it.
//!
//! Whether the viewer may see the incident at all is `Actor::sees` (and
//! `queries::visible` in SQL); which parts they read is `Actor::sight`, which
//! this module applies.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::queries::EventRow;
use super::vocabulary::{ConsentAssessment, Status};
use super::{Consent, Incident, IncidentError, IncidentRow, NearestBase, comment_context};
use crate::auth::Actor;
use crate::crypto::DataKeys;
use crate::http::etag;

impl Incident {
    /// The answer carrying this incident, with its ETag and address.
    pub fn respond(&self, status: StatusCode) -> HttpResponse {
        HttpResponse::build(status)
            .insert_header((header::ETAG, etag(self.version)))
            .insert_header((header::LOCATION, format!("/api/v1/incidents/{}", self.id)))
            .json(self)
    }

    /// The incident as `viewer` reads it.
    pub fn view(
        row: IncidentRow,
        base_name: Option<String>,
        viewer: &Actor,
        keys: &DataKeys,
    ) -> Result<Self, IncidentError> {
        let sight = viewer.sight(&row.reporter_id);
        let mut content = row.structured_content()?;
        if sight.narrative {
            content.narrative = row.narrative(keys)?;
        }
        let override_reason = if sight.review_notes {
            row.override_reason(keys)?
        } else {
            None
        };
        let assessment = |s: &str| {
            ConsentAssessment::parse(s)
                .ok_or_else(|| IncidentError::Corrupt(format!("unknown assessment {s}")))
        };
        let reported_by_me = row.reporter_id == viewer.id.as_str();
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
                    .map_err(IncidentError::corrupt)?,
                override_reason,
            },
            id: row.id,
            version: row.version,
            reporter_id: sight.people.then_some(row.reporter_id),
            reported_by_me,
            organisation_id: row.organisation_id,
            content,
            synthetic: row.synthetic,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            submitted_at: row.submitted_at.map(|t| t.and_utc()),
        })
    }
}

/// One change in an incident's life.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    #[schema(format = Uuid)]
    pub id: String,
    pub at: DateTime<Utc>,
    /// Who made the change. Partners read it only for their own changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid, nullable = false)]
    pub actor_id: Option<String>,
    /// `created`, `edited`, `transition`, `assessment_overridden`,
    /// `attachment_added` or `attachment_removed` (for those two,
    /// `changed_fields` names `attachments/{attachment_id}`, and a removal's
    /// reason is its comment).
    #[schema(example = "transition")]
    pub kind: String,
    pub from_status: Option<Status>,
    pub to_status: Option<Status>,
    /// The reviewer's comment (for overrides: the assessments and the reason).
    /// Absent when there is none; partners read only the request for more
    /// information (`needs_info`) on their own reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub comment: Option<String>,
    /// The incident's version after this change.
    pub version: i32,
    /// For edits: the content fields that changed.
    pub changed_fields: Option<Vec<String>>,
}

impl HistoryEntry {
    /// A history entry of an incident reported by `reporter_id`, as `viewer` reads it.
    pub fn view(
        event: EventRow,
        reporter_id: &str,
        viewer: &Actor,
        keys: &DataKeys,
    ) -> Result<Self, IncidentError> {
        let sight = viewer.sight(reporter_id);
        // A request for more information is addressed to the reporter: they read
        // it on their own report whatever their role, as they must act on it.
        let to_reporter = reporter_id == viewer.id.as_str()
            && event.to_status.as_deref() == Some(Status::NeedsInfo.as_str());
        let comment = match (&event.comment, sight.review_notes || to_reporter) {
            (Some(text), true) => Some(
                keys.open(
                    &comment_context(&event.incident_id, &event.id),
                    event.comment_key_id.as_deref(),
                    text,
                )
                .map_err(IncidentError::corrupt)?,
            ),
            _ => None,
        };
        let own = event.actor_id == viewer.id.as_str();
        Ok(Self {
            actor_id: (sight.people || own).then_some(event.actor_id),
            at: event.at.and_utc(),
            kind: event.kind,
            from_status: event.from_status.as_deref().and_then(Status::parse),
            to_status: event.to_status.as_deref().and_then(Status::parse),
            comment,
            version: event.version,
            changed_fields: event
                .changed_fields
                .and_then(|f| serde_json::from_str(&f).ok()),
            id: event.id,
        })
    }
}
