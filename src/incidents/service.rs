//! The only code that changes an incident. Each change authorises the actor,
//! checks the version they read, applies a versioned update, and records the
//! history entry and the audit row in the caller's transaction, then returns
//! the incident as the actor sees it. New consumers of changes (a change feed,
//! webhooks) hook into `record`.
//!
//! Re-sealing under a new data key (`rotation.rs`) changes no content and no
//! version, so it stays a storage operation of its own.

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::content::IncidentContent;
use super::intake::{changed_fields, derive, event, merge_patch, row_from};
use super::queries::{self, HistoryKind};
use super::vocabulary::{ConsentAssessment, Status};
use super::workflow::{self, Refusal};
use super::{Incident, IncidentError, IncidentRow, override_reason_context};
use crate::audit::{self, Action, Entity};
use crate::auth::{Actor, Permission};
use crate::changes::{self, ChangeKind};
use crate::crypto::DataKeys;
use crate::db::{self, DbConnection, StoreError};
use crate::http::IfMatch;

/// The version the caller read (`If-Match`); `None` when they did not say.
pub type Expected = Option<IfMatch>;

/// Loads an incident the actor may see; any other answers 404, as if it did not exist.
pub fn find_visible(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
) -> Result<(IncidentRow, Option<String>), IncidentError> {
    match queries::find(conn, id)? {
        Some((row, base)) if actor.sees(&row) => Ok((row, base)),
        _ => Err(IncidentError::NotFound),
    }
}

/// Whether the actor reports incidents (checked before their report is read).
pub fn may_report(actor: &Actor) -> Result<(), IncidentError> {
    if actor.may(Permission::ReportIncidents) {
        Ok(())
    } else {
        Err(IncidentError::Forbidden(
            "analysts read incidents; they do not report them".into(),
        ))
    }
}

/// Stores a new report (a draft, or submitted at once).
pub fn report(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    id: &str,
    content: &IncidentContent,
    submit: bool,
) -> Result<Incident, IncidentError> {
    may_report(actor)?;
    let (derived, base_name) = derive(conn, keys, id, content)?;
    let status = if submit {
        Status::Submitted
    } else {
        Status::Draft
    };
    let row = row_from(id, actor, derived, status, db::now());
    queries::insert(conn, &row, content).map_err(|e| match StoreError::from(e) {
        StoreError::UniqueViolation(_) => IncidentError::IdTaken,
        other => IncidentError::Store(other),
    })?;
    record(
        conn,
        actor,
        keys,
        &row.id,
        1,
        History {
            to: Some(status),
            ..History::of(HistoryKind::Created)
        },
        Action::IncidentCreated,
        reported_details(&row),
    )?;
    // What was stored is known: no need to read it back.
    Incident::view(row, base_name, actor, keys)
}

/// After `report` found the id taken: the stored incident when this is a
/// re-send of the same report by the same reporter, a conflict otherwise.
pub fn resent(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    id: &str,
    content: &IncidentContent,
) -> Result<Incident, IncidentError> {
    let (row, base) = queries::find(conn, id)?
        .ok_or_else(|| IncidentError::corrupt("conflicting incident vanished"))?;
    resent_as(row, base, actor, keys, content)
}

/// What the audit row of a new report records.
pub fn reported_details(row: &IncidentRow) -> Value {
    json!({"mission_id": row.mission_id, "status": row.status, "consent_assessment": row.consent_assessment})
}

/// The stored incident `row` (under the id of a report) when `content` is a
/// re-send of it by its reporter, a conflict otherwise.
pub fn resent_as(
    row: IncidentRow,
    base: Option<String>,
    actor: &Actor,
    keys: &DataKeys,
    content: &IncidentContent,
) -> Result<Incident, IncidentError> {
    if actor.is(&row.reporter_id) && row.holds(keys, content)? {
        Incident::view(row, base, actor, keys)
    } else {
        Err(IncidentError::Resent)
    }
}

/// The reporter's edit, a JSON merge patch of the content; the nearest base
/// and the assessment are computed again (an overridden assessment stays).
pub fn edit(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    id: &str,
    expected: Expected,
    patch: Map<String, Value>,
) -> Result<Incident, IncidentError> {
    let authorise = |actor: &Actor, row: &IncidentRow| {
        if actor.is(&row.reporter_id) {
            Ok(())
        } else {
            Err(IncidentError::Forbidden(
                "only the reporter may edit an incident".into(),
            ))
        }
    };
    change(
        conn,
        actor,
        keys,
        id,
        expected,
        authorise,
        |conn, row, expected| {
            let status = row.status()?;
            if !workflow::editable(status) {
                return Err(IncidentError::Conflict(format!(
                    "the incident is {}; reporters edit only drafts and incidents sent back for more information",
                    status.as_str()
                )));
            }
            let before =
                serde_json::to_value(row.content(keys)?).map_err(IncidentError::corrupt)?;
            let mut merged = before.clone();
            merge_patch(&mut merged, &Value::Object(patch));
            let Value::Object(object) = merged else {
                return Err(IncidentError::corrupt("merged content is not an object"));
            };
            let mut content = IncidentContent::from_object(object)?;
            content.check(Utc::now())?;
            let after = serde_json::to_value(&content).map_err(IncidentError::corrupt)?;
            let changed = changed_fields(&before, &after);

            let (mut changes, _) = derive(conn, keys, id, &content)?;
            if row.assessment_override_reason.is_some() {
                changes.consent_assessment = row.consent_assessment.clone();
            }
            if !queries::update_content(conn, id, expected, &changes)? {
                return Ok(None);
            }
            queries::replace_dimensions(conn, id, &content)?;
            let version = expected + 1;
            Ok(Some(Applied {
                history: History {
                    changed_fields: Some(changed.clone()),
                    ..History::of(HistoryKind::Edited)
                },
                action: Action::IncidentUpdated,
                details: json!({"changed_fields": changed, "version": version}),
            }))
        },
    )
}

/// A move in the review workflow (`workflow::MOVES`).
#[allow(clippy::too_many_arguments)]
pub fn transition(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    id: &str,
    expected: Expected,
    to: Status,
    comment: Option<String>,
) -> Result<Incident, IncidentError> {
    let comment = comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    change(
        conn,
        actor,
        keys,
        id,
        expected,
        |_, _| Ok(()),
        |conn, row, expected| {
            let from = row.status()?;
            workflow::check(from, to, actor, &row.reporter_id, comment.as_deref())
                .map_err(|refusal| refused(refusal, from, to))?;
            let submitted_at = match to {
                Status::Submitted => Some(db::now()),
                _ => row.submitted_at,
            };
            if !queries::update_status(conn, id, expected, to, submitted_at)? {
                return Ok(None);
            }
            let version = expected + 1;
            // The comment is sealed in the history; the append-only audit log,
            // which nothing can re-seal, records only that there was one.
            Ok(Some(Applied {
                details: json!({"from": from, "to": to, "commented": comment.is_some(), "version": version}),
                history: History {
                    from: Some(from),
                    to: Some(to),
                    comment: comment.clone(),
                    ..History::of(HistoryKind::Transition)
                },
                action: Action::IncidentTransitioned,
            }))
        },
    )
}

fn refused(refusal: Refusal, from: Status, to: Status) -> IncidentError {
    match refusal {
        Refusal::Illegal { allowed } => IncidentError::Conflict(format!(
            "{} → {} is not a move of the workflow; from {} the moves are: {}",
            from.as_str(),
            to.as_str(),
            from.as_str(),
            allowed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Refusal::NotYours(why) => IncidentError::Forbidden(why.into()),
        Refusal::FourEyes => IncidentError::Forbidden(
            "four eyes: you may not review an incident you reported".into(),
        ),
        Refusal::CommentRequired => IncidentError::invalid(
            "comment",
            format!("a comment is required to move to {}", to.as_str()),
        ),
    }
}

/// A reviewer's override of the computed assessment, with a reason.
pub fn override_assessment(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    id: &str,
    expected: Expected,
    assessment: ConsentAssessment,
    reason: &str,
) -> Result<Incident, IncidentError> {
    let authorise = |actor: &Actor, row: &IncidentRow| {
        if !actor.may(Permission::ReviewIncidents) {
            return Err(IncidentError::Forbidden(
                "only reviewers and admins assess incidents".into(),
            ));
        }
        if actor.is(&row.reporter_id) {
            return Err(IncidentError::Forbidden(
                "four eyes: you may not assess an incident you reported".into(),
            ));
        }
        Ok(())
    };
    change(
        conn,
        actor,
        keys,
        id,
        expected,
        authorise,
        |conn, row, expected| {
            let sealed = keys.seal(&override_reason_context(id), reason);
            if !queries::update_assessment(conn, id, expected, assessment, &sealed)? {
                return Ok(None);
            }
            let version = expected + 1;
            // The reason is sealed on the incident and in the history, never in the audit log.
            Ok(Some(Applied {
                history: History {
                    comment: Some(format!(
                        "{} → {}: {reason}",
                        row.consent_assessment,
                        assessment.as_str()
                    )),
                    ..History::of(HistoryKind::AssessmentOverridden)
                },
                action: Action::AssessmentOverridden,
                details: json!({
                    "from": row.consent_assessment, "to": assessment, "computed": row.computed_assessment,
                    "version": version,
                }),
            }))
        },
    )
}

/// What a change records: its history entry and its audit row.
struct Applied {
    history: History,
    action: Action,
    details: Value,
}

/// A history entry to record (`record`).
pub(crate) struct History {
    pub kind: HistoryKind,
    pub from: Option<Status>,
    pub to: Option<Status>,
    pub comment: Option<String>,
    pub changed_fields: Option<Vec<String>>,
}

impl History {
    pub(crate) fn of(kind: HistoryKind) -> Self {
        Self {
            kind,
            from: None,
            to: None,
            comment: None,
            changed_fields: None,
        }
    }
}

/// Every change of an existing incident: find it (404 unless visible),
/// `authorise` (403), check the version (428, 412), `apply` the versioned
/// update (`None` when another writer got there first: 412), record it, read
/// it back as the actor sees it.
fn change(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    id: &str,
    expected: Expected,
    authorise: impl FnOnce(&Actor, &IncidentRow) -> Result<(), IncidentError>,
    apply: impl FnOnce(&mut DbConnection, &IncidentRow, i32) -> Result<Option<Applied>, IncidentError>,
) -> Result<Incident, IncidentError> {
    let (row, _) = find_visible(conn, actor, id)?;
    authorise(actor, &row)?;
    let expected = current_version(expected, row.version)?;
    let Some(applied) = apply(conn, &row, expected)? else {
        return Err(lost_race(conn, id));
    };
    record(
        conn,
        actor,
        keys,
        id,
        expected + 1,
        applied.history,
        applied.action,
        applied.details,
    )?;
    let (row, base) =
        queries::find(conn, id)?.ok_or_else(|| IncidentError::corrupt("incident vanished"))?;
    Incident::view(row, base, actor, keys)
}

/// The history entry, the audit row and the change-feed entry of a change, in
/// its transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    id: &str,
    version: i32,
    history: History,
    action: Action,
    details: Value,
) -> Result<(), IncidentError> {
    let kind = match history.kind {
        HistoryKind::Created => ChangeKind::Reported,
        HistoryKind::Edited => ChangeKind::Edited,
        HistoryKind::Transition => ChangeKind::Moved,
        HistoryKind::AssessmentOverridden => ChangeKind::Assessed,
        HistoryKind::AttachmentAdded => ChangeKind::AttachmentAdded,
        HistoryKind::AttachmentRemoved => ChangeKind::AttachmentRemoved,
    };
    let event = event(
        keys,
        id,
        actor,
        history.kind,
        history.from,
        history.to,
        history.comment.as_deref(),
        version,
        history.changed_fields,
    );
    queries::insert_event(conn, &event)?;
    audit::Entry::new(action)
        .by(actor)
        .on(Entity::Incident, id)
        .details(details)
        .write(conn)?;
    let position = changes::append(conn, id, kind, version, actor.id.as_str(), event.at)?;
    crate::webhooks::outbox::enqueue(
        conn,
        &[crate::webhooks::outbox::Change {
            position,
            incident_id: id,
            kind,
            version,
            from: history.from,
            to: history.to,
            at: event.at,
        }],
    )?;
    Ok(())
}

/// The version to update from: the current one, when `If-Match` names it.
fn current_version(expected: Expected, current: i32) -> Result<i32, IncidentError> {
    match expected {
        None => Err(IncidentError::VersionRequired),
        Some(tags) if tags.matches(current) => Ok(current),
        Some(_) => Err(IncidentError::Stale { current }),
    }
}

/// A versioned update found another version than the one read (a concurrent
/// writer won): the answer names the version stored now.
fn lost_race(conn: &mut DbConnection, id: &str) -> IncidentError {
    match queries::find(conn, id) {
        Ok(Some((row, _))) => IncidentError::Stale {
            current: row.version,
        },
        Ok(None) => IncidentError::NotFound,
        Err(e) => e.into(),
    }
}
