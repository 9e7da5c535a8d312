//! The audit log: who did what, when, to what. Rows are written in the same
//! transaction as the change they record, and nothing can edit or delete them
//! (the migrations add triggers that refuse UPDATE and DELETE).

pub mod routes;

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
    LoginThrottled,
    RequestRefused,
    OrganisationCreated,
    UserCreated,
    UserUpdated,
    MissionCreated,
    MissionUpdated,
    BaseCreated,
    BaseUpdated,
    DeploymentCreated,
    IncidentCreated,
    IncidentUpdated,
    IncidentTransitioned,
    AssessmentOverridden,
    StatsQueried,
    IncidentsExported,
    AnalysisQueried,
    PasswordChanged,
    PasswordChangeRefused,
}

impl Action {
    pub const ALL: [Action; 21] = [
        Action::LoginSucceeded,
        Action::LoginFailed,
        Action::LoginThrottled,
        Action::RequestRefused,
        Action::OrganisationCreated,
        Action::UserCreated,
        Action::UserUpdated,
        Action::MissionCreated,
        Action::MissionUpdated,
        Action::BaseCreated,
        Action::BaseUpdated,
        Action::DeploymentCreated,
        Action::IncidentCreated,
        Action::IncidentUpdated,
        Action::IncidentTransitioned,
        Action::AssessmentOverridden,
        Action::StatsQueried,
        Action::IncidentsExported,
        Action::AnalysisQueried,
        Action::PasswordChanged,
        Action::PasswordChangeRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::LoginSucceeded => "auth.login_succeeded",
            Action::LoginFailed => "auth.login_failed",
            Action::LoginThrottled => "auth.login_throttled",
            Action::RequestRefused => "request.refused",
            Action::OrganisationCreated => "organisation.created",
            Action::UserCreated => "user.created",
            Action::UserUpdated => "user.updated",
            Action::MissionCreated => "mission.created",
            Action::MissionUpdated => "mission.updated",
            Action::BaseCreated => "base.created",
            Action::BaseUpdated => "base.updated",
            Action::DeploymentCreated => "deployment.created",
            Action::IncidentCreated => "incident.created",
            Action::IncidentUpdated => "incident.updated",
            Action::IncidentTransitioned => "incident.transitioned",
            Action::AssessmentOverridden => "incident.assessment_overridden",
            Action::StatsQueried => "stats.queried",
            Action::IncidentsExported => "incidents.exported",
            Action::AnalysisQueried => "analysis.queried",
            Action::PasswordChanged => "user.password_changed",
            Action::PasswordChangeRefused => "user.password_change_refused",
        }
    }
}

/// One row to append.
pub struct Entry<'a> {
    pub actor_id: Option<&'a str>,
    pub action: Action,
    pub entity: Option<(&'a str, &'a str)>,
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

    pub fn by(mut self, actor: &'a crate::auth::CurrentUser) -> Self {
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

    pub fn on(mut self, entity_type: &'a str, entity_id: &'a str) -> Self {
        self.entity = Some((entity_type, entity_id));
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn write(self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(audit_log::table)
            .values((
                audit_log::id.eq(db::new_id()),
                audit_log::at.eq(db::now()),
                audit_log::actor_id.eq(self.actor_id),
                audit_log::action.eq(self.action.as_str()),
                audit_log::entity_type.eq(self.entity.map(|e| e.0)),
                audit_log::entity_id.eq(self.entity.map(|e| e.1)),
                audit_log::details.eq(self.details.to_string()),
                audit_log::request_id.eq(self.request_id),
            ))
            .execute(conn)
            .map(|_| ())
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
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            details: serde_json::from_str(&row.details).unwrap_or(Value::Null),
            request_id: row.request_id,
        }
    }
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

/// Newest first.
pub fn list(
    conn: &mut DbConnection,
    filter: &Filter,
    before: Option<&Cursor>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
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
