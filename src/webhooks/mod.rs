//! Webhooks: subscriptions, an outbox written in each change's transaction,
//! and a worker that delivers signed requests with retries.
//!
//! - `routes`: `/api/v1/webhooks` (admins: any organisation and role; service
//!   accounts with `webhooks:manage`: their own subscriptions, with their own
//!   organisation and role).
//! - `outbox`: `enqueue` is called by the incident service (`record`) for every
//!   change, in the change's transaction: one delivery row per change and
//!   subscription that wants its type and may see the incident. A change that
//!   rolls back leaves no row; one that commits leaves them all.
//! - `worker`: claims due deliveries under a lease (`FOR UPDATE SKIP LOCKED` on
//!   PostgreSQL), builds each payload at sending time as the subscription sees
//!   the incident then, signs it (`signing`), sends it (`outbound`) and records
//!   the attempt.
//!
//! # Order
//! Per subscription and incident, events are delivered in the order of the
//! changes (their change-feed position): an event is not sent while an earlier
//! one for the same incident is pending or retrying. Across incidents no order
//! holds: one incident's retries do not hold back another's events.
//!
//! # Retries
//! After a failed attempt (timeout, connection error, 429 or 5xx) the next one
//! waits `RETRY_SCHEDULE[n]` with ±10 % jitter, or longer when a 429 or 503
//! names a `Retry-After`: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 14 h, 14 h,
//! 16 h: eleven attempts over about three days. Any other answer is final
//! (`given_up`). A subscription is disabled, with the reason shown to its
//! managers, when an event is given up after `DISABLE_AFTER` consecutive
//! failed attempts to it; `PATCH {"paused": false}` enables it again, and the
//! events queued meanwhile are delivered.

pub mod outbound;
pub mod outbox;
pub mod queries;
pub mod routes;
pub mod signing;
pub mod worker;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Actor;
use crate::auth::actor::ActorKind;
use crate::changes::ChangeKind;
use crate::domain::{OrganisationId, Role, UserId};
use crate::service_accounts::scopes::{self, Scope};
use crate::validation::{valid_text, valid_uuid};

/// What a subscriber hears about.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[schema(as = WebhookEventType)]
pub enum EventType {
    /// An incident was reported (drafts only once they are submitted and visible).
    #[serde(rename = "incident.reported")]
    IncidentReported,
    /// The reporter edited an incident.
    #[serde(rename = "incident.updated")]
    IncidentUpdated,
    /// An incident moved in the review workflow (`change.from`, `change.to`).
    #[serde(rename = "incident.status_changed")]
    IncidentStatusChanged,
    /// A reviewer overrode the consent assessment.
    #[serde(rename = "incident.assessment_overridden")]
    IncidentAssessmentOverridden,
    /// A test event sent by `POST /webhooks/{id}/ping`.
    #[serde(rename = "ping")]
    Ping,
}

impl EventType {
    pub const ALL: [Self; 5] = [
        Self::IncidentReported,
        Self::IncidentUpdated,
        Self::IncidentStatusChanged,
        Self::IncidentAssessmentOverridden,
        Self::Ping,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IncidentReported => "incident.reported",
            Self::IncidentUpdated => "incident.updated",
            Self::IncidentStatusChanged => "incident.status_changed",
            Self::IncidentAssessmentOverridden => "incident.assessment_overridden",
            Self::Ping => "ping",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn of(kind: ChangeKind) -> Self {
        match kind {
            ChangeKind::Reported => Self::IncidentReported,
            // An attachment added or removed changes what the incident holds.
            ChangeKind::Edited | ChangeKind::AttachmentAdded | ChangeKind::AttachmentRemoved => {
                Self::IncidentUpdated
            }
            ChangeKind::Moved => Self::IncidentStatusChanged,
            ChangeKind::Assessed => Self::IncidentAssessmentOverridden,
        }
    }
}

/// Event types as stored: space-separated, sorted, once each.
pub fn join_events(events: &[EventType]) -> String {
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn split_events(text: &str) -> Vec<EventType> {
    text.split(' ').filter_map(EventType::parse).collect()
}

/// Waits after the 1st, 2nd... failed attempt; `MAX_ATTEMPTS` in all.
pub const RETRY_SCHEDULE: [Duration; 10] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(16 * 3600),
];
pub const MAX_ATTEMPTS: i32 = RETRY_SCHEDULE.len() as i32 + 1;
/// Consecutive failed attempts (across events) after which a given-up event
/// disables the subscription.
pub const DISABLE_AFTER: i32 = MAX_ATTEMPTS;

/// The wait after `attempts` failed attempts, scaled, with ±10 % jitter;
/// `None` once every attempt is spent.
pub fn retry_delay(attempts: i32, scale: f64) -> Option<Duration> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    let base = RETRY_SCHEDULE.get(index)?.mul_f64(scale.max(0.0));
    let mut byte = [0u8; 1];
    getrandom::fill(&mut byte).expect("the operating system provides randomness");
    let jitter = 0.9 + 0.2 * f64::from(byte[0]) / 255.0;
    Some(base.mul_f64(jitter))
}

/// Who a subscription's payloads are built for, decided again at every
/// delivery from the account that created it: a deactivated account, a
/// service account that lost `webhooks:manage`, or an admin who no longer is
/// one stops its subscriptions' deliveries (`skipped`); a service account's
/// current role and organisation apply.
pub fn viewer(sub: &queries::SubscriptionRow, owner: &queries::Owner) -> Result<Actor, String> {
    if !owner.active {
        return Err("the account that created the subscription is deactivated".into());
    }
    let role = owner.role.parse::<Role>().map_err(|e| e.to_string())?;
    match &owner.scopes {
        Some(granted) => {
            if !scopes::split(granted)
                .unwrap_or_default()
                .contains(&Scope::WebhooksManage)
            {
                return Err("the service account no longer holds webhooks:manage".into());
            }
            Ok(Actor {
                id: UserId::from_db(owner.id.clone()),
                role,
                organisation_id: OrganisationId::from_db(owner.organisation_id.clone()),
                request_id: None,
                kind: ActorKind::ServiceAccount,
            })
        }
        None if role != Role::Admin => {
            Err("the admin who created the subscription no longer holds the admin role".into())
        }
        // Nobody's own incidents: the subscription's id stands for the viewer.
        None => Ok(Actor::person(
            UserId::from_db(sub.id.clone()),
            sub.role.parse::<Role>().map_err(|e| e.to_string())?,
            OrganisationId::from_db(sub.organisation_id.clone()),
        )),
    }
}

/// A webhook subscription.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Subscription {
    #[schema(format = Uuid)]
    pub id: String,
    /// Whose incidents it may carry, as `role` sees them.
    #[schema(format = Uuid)]
    pub organisation_id: String,
    pub role: Role,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: Option<String>,
    /// Set by its managers: nothing is sent while paused (events wait).
    pub paused: bool,
    /// Set by the service after repeated failures: nothing is sent (events
    /// wait) until a manager sends `paused: false`.
    pub disabled: Option<Disabled>,
    /// While a rotated-out secret still signs (beside the current one).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Disabled {
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// A new subscription and its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedSubscription {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// `whsec_` and the base64 of 32 random bytes: the HMAC key (decoded) of
    /// the `webhook-signature` header. Shown only here and on rotation.
    pub secret: String,
}

fn valid_events(events: &[EventType]) -> Result<(), validator::ValidationError> {
    if events.is_empty() {
        let mut e = validator::ValidationError::new("length");
        e.message = Some("must list at least one event type".into());
        return Err(e);
    }
    Ok(())
}

/// A new subscription.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// https (public addresses only).
    #[schema(format = "uri", max_length = 2000)]
    pub url: String,
    #[validate(custom(function = "valid_events"))]
    #[schema(min_items = 1)]
    pub events: Vec<EventType>,
    #[validate(length(max = 500), custom(function = "valid_text"))]
    #[schema(max_length = 500, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub description: Option<String>,
    /// Admins: the organisation whose view the payloads take (default: their
    /// own). Service accounts: their own, or omitted.
    #[validate(custom(function = "valid_uuid"))]
    #[schema(format = Uuid)]
    pub organisation_id: Option<String>,
    /// Admins: the role whose view the payloads take (default: partner in an
    /// NGO, analyst in an oversight office). Service accounts: their own, or omitted.
    #[schema(schema_with = view_roles)]
    pub role: Option<Role>,
}

/// The roles whose view a subscription may take: never a monitor's, which
/// holds only that monitor's own reports.
fn view_roles() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "partner or analyst; reviewer or admin in an oversight office. Never monitor. \
             Absent or null: the default.",
        ))
        .enum_values(Some([
            serde_json::json!("partner"),
            serde_json::json!("analyst"),
            serde_json::json!("reviewer"),
            serde_json::json!("admin"),
            serde_json::Value::Null,
        ]))
        .build()
}

/// Changes to a subscription; every field is optional.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[schema(format = "uri", max_length = 2000)]
    pub url: Option<String>,
    #[validate(custom(function = "valid_events"))]
    #[schema(min_items = 1)]
    pub events: Option<Vec<EventType>>,
    #[validate(length(max = 500), custom(function = "valid_text"))]
    #[schema(max_length = 500, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub description: Option<String>,
    /// `true` pauses; `false` resumes, and enables a disabled subscription.
    pub paused: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// How long the old secret keeps signing beside the new one (default a day, at most a week).
    #[serde(default, deserialize_with = "crate::validation::whole_number")]
    #[validate(range(max = 604_800))]
    #[schema(maximum = 604_800)]
    pub overlap_seconds: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new secret, shown this once.
    pub secret: String,
    /// Until when the previous secret signs too (absent with no overlap).
    pub previous_expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueuedEvent {
    #[schema(format = Uuid)]
    pub event_id: String,
}

/// One event, or every event created since a time: exactly one of the two.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct RedeliverRequest {
    #[validate(custom(function = "valid_uuid"))]
    pub event_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// The document says "exactly one of the two" as JSON Schema does: one of two
/// objects, each with its one required field.
impl utoipa::PartialSchema for RedeliverRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        let only = |field: &str, description: &str, format: KnownFormat| {
            ObjectBuilder::new()
                .property(
                    field,
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::KnownFormat(format)))
                        .description(Some(description)),
                )
                .required(field)
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        OneOfBuilder::new()
            .description(Some(
                "One event (`event_id`), or every event created since a time (`since`, not in \
                 the future): exactly one of the two.",
            ))
            .item(only(
                "event_id",
                "The event to deliver again",
                KnownFormat::Uuid,
            ))
            .item(only(
                "since",
                "Deliver again every event created since this time",
                KnownFormat::DateTime,
            ))
            .into()
    }
}

impl ToSchema for RedeliverRequest {}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// Events queued again (an event already pending is not counted).
    pub queued: i64,
}

/// Where an attempt, or an event waiting for one, stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    Succeeded,
    /// Failed; another attempt follows.
    Failed,
    /// Waiting for its (next) attempt.
    Pending,
    /// Failed for good: a final answer, or every retry spent.
    GivenUp,
    /// Not sent: the subscription no longer sees the incident, or its account
    /// is deactivated or demoted.
    Skipped,
}

/// One entry of the delivery log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    #[schema(format = Uuid)]
    pub event_id: String,
    pub event_type: EventType,
    #[schema(format = Uuid)]
    pub incident_id: Option<String>,
    /// 1 for the first attempt (for a pending event: the one to come).
    pub attempt: i32,
    /// When it was made (for a pending event: when it is due).
    pub at: DateTime<Utc>,
    pub status: AttemptStatus,
    pub response_status: Option<i32>,
    pub latency_ms: Option<i64>,
    pub error: Option<String>,
    /// The start of the response body (at most 256 characters).
    pub response_excerpt: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spans_about_three_days() {
        let total: Duration = RETRY_SCHEDULE.iter().sum();
        assert!(total > Duration::from_secs(2 * 86_400) && total < Duration::from_secs(4 * 86_400));
        assert_eq!(retry_delay(0, 1.0), None);
        assert_eq!(retry_delay(MAX_ATTEMPTS, 1.0), None);
        let first = retry_delay(1, 1.0).unwrap();
        assert!(first >= Duration::from_millis(4500) && first <= Duration::from_millis(5500));
    }

    #[test]
    fn event_types_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        let joined = join_events(&[
            EventType::Ping,
            EventType::IncidentReported,
            EventType::Ping,
        ]);
        assert_eq!(
            split_events(&joined),
            vec![EventType::IncidentReported, EventType::Ping]
        );
    }
}
