//! The audit log: who did what, when, to what. Rows are written in the same
//! transaction as the change they record, and nothing can edit or delete them
//! (the migrations add triggers that refuse UPDATE, DELETE and TRUNCATE). Each
//! row is chained to the one before it (`chain`), so that a change made past
//! the triggers (a copied SQLite file, a superuser) shows in `basewatch audit verify`.

pub mod chain;
pub mod refusals;
pub mod routes;
pub mod verify;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::db::schema::audit_log;
use crate::db::{self, DbConnection};
use crate::http::Cursor;

/// What happened, as `resource.verb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    LoginSucceeded,
    LoginFailed,
    RequestRefused,
    OrganisationCreated,
    OrganisationUpdated,
    UserCreated,
    UserUpdated,
    MissionCreated,
    MissionUpdated,
    BaseCreated,
    BaseUpdated,
    DeploymentCreated,
    DeploymentUpdated,
    DeploymentDeleted,
    IncidentCreated,
    IncidentUpdated,
    IncidentTransitioned,
    AssessmentOverridden,
    StatsQueried,
    IncidentsExported,
    AnalysisQueried,
    SyntheticIncidentsSeeded,
    ReleaseBuilt,
    PasswordChanged,
    PasswordChangeRefused,
    ServiceAccountCreated,
    ServiceAccountUpdated,
    ServiceAccountSecretAdded,
    ServiceAccountSecretRevoked,
    ClientTokenIssued,
    ClientAuthFailed,
    AttachmentAdded,
    AttachmentRemoved,
    AttachmentDownloaded,
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
    WebhookSecretRotated,
    WebhookRedelivered,
}

impl Action {
    pub const ALL: [Action; 39] = [
        Action::LoginSucceeded,
        Action::LoginFailed,
        Action::RequestRefused,
        Action::OrganisationCreated,
        Action::OrganisationUpdated,
        Action::UserCreated,
        Action::UserUpdated,
        Action::MissionCreated,
        Action::MissionUpdated,
        Action::BaseCreated,
        Action::BaseUpdated,
        Action::DeploymentCreated,
        Action::DeploymentUpdated,
        Action::DeploymentDeleted,
        Action::IncidentCreated,
        Action::IncidentUpdated,
        Action::IncidentTransitioned,
        Action::AssessmentOverridden,
        Action::StatsQueried,
        Action::IncidentsExported,
        Action::AnalysisQueried,
        Action::SyntheticIncidentsSeeded,
        Action::ReleaseBuilt,
        Action::PasswordChanged,
        Action::PasswordChangeRefused,
        Action::ServiceAccountCreated,
        Action::ServiceAccountUpdated,
        Action::ServiceAccountSecretAdded,
        Action::ServiceAccountSecretRevoked,
        Action::ClientTokenIssued,
        Action::ClientAuthFailed,
        Action::AttachmentAdded,
        Action::AttachmentRemoved,
        Action::AttachmentDownloaded,
        Action::WebhookCreated,
        Action::WebhookUpdated,
        Action::WebhookDeleted,
        Action::WebhookSecretRotated,
        Action::WebhookRedelivered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::LoginSucceeded => "auth.login_succeeded",
            Action::LoginFailed => "auth.login_failed",
            Action::RequestRefused => "request.refused",
            Action::OrganisationCreated => "organisation.created",
            Action::OrganisationUpdated => "organisation.updated",
            Action::UserCreated => "user.created",
            Action::UserUpdated => "user.updated",
            Action::MissionCreated => "mission.created",
            Action::MissionUpdated => "mission.updated",
            Action::BaseCreated => "base.created",
            Action::BaseUpdated => "base.updated",
            Action::DeploymentCreated => "deployment.created",
            Action::DeploymentUpdated => "deployment.updated",
            Action::DeploymentDeleted => "deployment.deleted",
            Action::IncidentCreated => "incident.created",
            Action::IncidentUpdated => "incident.updated",
            Action::IncidentTransitioned => "incident.transitioned",
            Action::AssessmentOverridden => "incident.assessment_overridden",
            Action::StatsQueried => "stats.queried",
            Action::IncidentsExported => "incidents.exported",
            Action::AnalysisQueried => "analysis.queried",
            Action::SyntheticIncidentsSeeded => "incidents.seeded",
            Action::ReleaseBuilt => "release.built",
            Action::PasswordChanged => "user.password_changed",
            Action::PasswordChangeRefused => "user.password_change_refused",
            Action::ServiceAccountCreated => "service_account.created",
            Action::ServiceAccountUpdated => "service_account.updated",
            Action::ServiceAccountSecretAdded => "service_account.secret_added",
            Action::ServiceAccountSecretRevoked => "service_account.secret_revoked",
            Action::ClientTokenIssued => "auth.client_token_issued",
            Action::ClientAuthFailed => "auth.client_auth_failed",
            Action::AttachmentAdded => "incident.attachment_added",
            Action::AttachmentRemoved => "incident.attachment_removed",
            Action::AttachmentDownloaded => "incident.attachment_downloaded",
            Action::WebhookCreated => "webhook.created",
            Action::WebhookUpdated => "webhook.updated",
            Action::WebhookDeleted => "webhook.deleted",
            Action::WebhookSecretRotated => "webhook.secret_rotated",
            Action::WebhookRedelivered => "webhook.redelivered",
        }
    }
}

/// What an audit row is about; `as_str` is what is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    Organisation,
    User,
    Mission,
    Base,
    Deployment,
    Incident,
    Release,
    ServiceAccount,
    Webhook,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organisation => "organisation",
            Self::User => "user",
            Self::Mission => "mission",
            Self::Base => "base",
            Self::Deployment => "deployment",
            Self::Incident => "incident",
            Self::Release => "release",
            Self::ServiceAccount => "service_account",
            Self::Webhook => "webhook",
        }
    }
}

/// One row to append.
pub struct Entry<'a> {
    pub actor_id: Option<&'a str>,
    pub action: Action,
    pub entity: Option<(Entity, &'a str)>,
    pub details: Value,
    pub request_id: Option<&'a str>,
}

impl<'a> Entry<'a> {
    pub fn new(action: Action) -> Self {
        Self {
            actor_id: None,
            action,
            entity: None,
            details: Value::Object(Default::default()),
            request_id: None,
        }
    }

    pub fn by(mut self, actor: &'a crate::auth::Actor) -> Self {
        self.actor_id = Some(actor.id.as_str());
        self.request_id = actor.request_id.as_deref();
        self
    }

    pub fn actor(mut self, actor_id: Option<&'a str>) -> Self {
        self.actor_id = actor_id;
        self
    }

    pub fn request(mut self, request_id: Option<&'a str>) -> Self {
        self.request_id = request_id;
        self
    }

    pub fn on(mut self, entity: Entity, entity_id: &'a str) -> Self {
        self.entity = Some((entity, entity_id));
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// Appends the row at the head of the hash chain. Inside the caller's
    /// transaction when there is one.
    pub fn write(self, conn: &mut DbConnection) -> QueryResult<()> {
        write_all(conn, vec![self])
    }
}

/// Appends the rows, in order, at the head of the hash chain: the one place
/// audit rows are written. Inside the caller's transaction when there is one.
pub fn write_all(conn: &mut DbConnection, entries: Vec<Entry<'_>>) -> QueryResult<()> {
    // Always the time of the write, so that ids (and the `/audit` cursor)
    // follow the order rows were appended in; a sealed refusal tally names
    // the first refusal it counts in its details.
    let written: Vec<(Entry<'_>, String, NaiveDateTime, String)> = entries
        .into_iter()
        .map(|mut e| {
            let details = bounded(std::mem::take(&mut e.details)).to_string();
            (e, db::new_id(), db::now(), details)
        })
        .collect();
    let rows: Vec<chain::Content<'_>> = written
        .iter()
        .map(|(e, id, at, details)| chain::Content {
            id,
            at: *at,
            actor_id: e.actor_id,
            action: e.action.as_str(),
            entity_type: e.entity.map(|x| x.0.as_str()),
            entity_id: e.entity.map(|x| x.1),
            details,
            request_id: e.request_id,
        })
        .collect();
    chain::append_many(conn, &rows)
}

/// The longest text kept in `details`: what a client sent (an email typed at
/// sign-in, a path) cannot make a row large.
pub const DETAIL_CHARS: usize = 512;

/// `text` cut to `max` characters.
pub fn cut(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

fn bounded(details: Value) -> Value {
    match details {
        Value::String(s) if s.chars().count() > DETAIL_CHARS => {
            Value::String(format!("{}… ({} bytes)", cut(&s, DETAIL_CHARS), s.len()))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(bounded).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (cut(&k, DETAIL_CHARS).to_owned(), bounded(v)))
                .collect(),
        ),
        other => other,
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: String,
    pub at: NaiveDateTime,
    pub actor_id: Option<String>,
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub details: String,
    pub request_id: Option<String>,
}

/// One audit record.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecord {
    #[schema(format = Uuid)]
    pub id: String,
    pub at: DateTime<Utc>,
    /// The user who acted; absent for anonymous requests.
    #[schema(format = Uuid)]
    pub actor_id: Option<String>,
    /// What acted: `person` or `service` (a service account); absent with `actor_id`.
    #[schema(example = "person")]
    pub actor_kind: Option<String>,
    #[schema(example = "incident.transitioned")]
    pub action: String,
    #[schema(example = "incident")]
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    /// What changed, with which filters, how many rows: never passwords or narratives.
    #[schema(value_type = Object)]
    pub details: Value,
    pub request_id: Option<String>,
}

impl From<AuditRow> for AuditRecord {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            at: row.at.and_utc(),
            actor_id: row.actor_id,
            actor_kind: None,
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            details: serde_json::from_str(&row.details).unwrap_or(Value::Null),
            request_id: row.request_id,
        }
    }
}

/// The kind (`person` or `service`) of each of these actors.
pub fn actor_kinds(
    conn: &mut DbConnection,
    actors: &[String],
) -> QueryResult<std::collections::HashMap<String, String>> {
    use crate::db::schema::users;
    Ok(users::table
        .filter(users::id.eq_any(actors))
        .select((users::id, users::kind))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

#[derive(Debug, Default)]
pub struct Filter {
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// Newest first. Pending refusal tallies are sealed first, so that a reader
/// sees every refusal up to now.
pub fn list(
    conn: &mut DbConnection,
    filter: &Filter,
    before: Option<&Cursor>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    refusals::seal(conn, None)?;
    let mut query = audit_log::table
        .select(AuditRow::as_select())
        .order(audit_log::id.desc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(actor) = &filter.actor_id {
        query = query.filter(audit_log::actor_id.eq(actor.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::action.eq(action.clone()));
    }
    if let Some(entity_type) = &filter.entity_type {
        query = query.filter(audit_log::entity_type.eq(entity_type.clone()));
    }
    if let Some(entity_id) = &filter.entity_id {
        query = query.filter(audit_log::entity_id.eq(entity_id.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_log::at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_log::at.lt(to));
    }
    if let Some(cursor) = before {
        query = query.filter(audit_log::id.lt(cursor.0.clone()));
    }
    query.load(conn)
}
