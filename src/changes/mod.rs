//! The change feed: every change of an incident (reported, edited, moved in
//! the workflow, assessed), one row each in `changes`, written by the incident
//! service in the change's own transaction (`incidents::service::record`, the
//! one place that also writes the history and the audit row), and read by
//! `GET /api/v1/changes` in the order of `position`.
//!
//! # Why a follower never misses a change
//!
//! A reader keeps the last position it read and asks for the ones after it.
//! That is only safe if no change can become visible at a position lower than
//! one a reader has already seen. A PostgreSQL sequence does not give this:
//! writer A takes 7, writer B takes 8 and commits first, a reader reads up to 8
//! and moves on, then A commits 7 behind it, and the reader never sees it.
//!
//! So positions are handed out under a lock held until commit: the audit
//! chain's transaction-scoped advisory lock (`audit::chain::take_turn`), which
//! every incident change takes anyway to write its chained audit row. Under it
//! a writer reads the highest position and takes the next one; the next writer
//! cannot take the lock, hence cannot take a position, before the previous one
//! has committed (PostgreSQL makes a commit visible before it releases the
//! transaction's locks). Positions therefore become visible in increasing order
//! with no gaps, and a reader that has seen position n has seen every position
//! below it. On SQLite every writing transaction holds the database's single
//! write lock (`BEGIN IMMEDIATE`), which gives the same order.

pub mod routes;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Actor;
use crate::auth::actor::Visibility;
use crate::crypto::DataKeys;
use crate::db::DbConnection;
use crate::db::schema::{bases, changes, incidents};
use crate::domain_error::DomainError;
use crate::incidents::queries::visible_to;
use crate::incidents::vocabulary::Status;
use crate::incidents::{Incident, IncidentError, IncidentRow};

/// What a change did; `as_str` is what is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The incident was reported (as a draft, or submitted at once).
    Reported,
    /// The reporter edited its content.
    Edited,
    /// It moved in the review workflow.
    Moved,
    /// A reviewer overrode its consent assessment.
    Assessed,
    /// An attachment was added (`attachments` lists what it holds now).
    AttachmentAdded,
    /// An attachment was removed.
    AttachmentRemoved,
}

impl ChangeKind {
    pub const ALL: [Self; 6] = [
        Self::Reported,
        Self::Edited,
        Self::Moved,
        Self::Assessed,
        Self::AttachmentAdded,
        Self::AttachmentRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "reported",
            Self::Edited => "edited",
            Self::Moved => "moved",
            Self::Assessed => "assessed",
            Self::AttachmentAdded => "attachment_added",
            Self::AttachmentRemoved => "attachment_removed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = changes)]
pub struct ChangeRow {
    pub position: i64,
    pub incident_id: String,
    pub kind: String,
    pub version: i32,
    pub at: NaiveDateTime,
    pub actor_id: String,
}

/// Records a change at the next position, in the caller's transaction (see the
/// module comment for why the position is taken under the audit chain's lock).
pub fn append(
    conn: &mut DbConnection,
    incident_id: &str,
    kind: ChangeKind,
    version: i32,
    actor_id: &str,
    at: NaiveDateTime,
) -> QueryResult<i64> {
    crate::audit::chain::take_turn(conn)?;
    let last: Option<i64> = changes::table
        .select(diesel::dsl::max(changes::position))
        .first(conn)?;
    let position = last.unwrap_or(0) + 1;
    diesel::insert_into(changes::table)
        .values((
            changes::position.eq(position),
            changes::incident_id.eq(incident_id),
            changes::kind.eq(kind.as_str()),
            changes::version.eq(version),
            changes::at.eq(at),
            changes::actor_id.eq(actor_id),
        ))
        .execute(conn)?;
    Ok(position)
}

#[derive(Insertable)]
#[diesel(table_name = changes)]
#[diesel(treat_none_as_default_value = false)]
struct NewChange {
    position: i64,
    incident_id: String,
    kind: String,
    version: i32,
    at: NaiveDateTime,
    actor_id: String,
}

/// Rows per INSERT on SQLite: 6 columns each, under its 32,766 parameters.
const BATCH: usize = 5_000;

/// Records the first history entries of incidents stored in bulk (the demo
/// and the bulk loader, which write around the service) as `reported`
/// changes at the next positions, under the same lock as `append`, and
/// queues their webhook deliveries.
pub fn append_reported(
    conn: &mut DbConnection,
    reported: &[&crate::incidents::queries::EventRow],
) -> QueryResult<()> {
    crate::db::in_transaction(conn, |conn| {
        crate::audit::chain::take_turn(conn)?;
        let last: Option<i64> = changes::table
            .select(diesel::dsl::max(changes::position))
            .first(conn)?;
        let rows: Vec<NewChange> = reported
            .iter()
            .zip(last.unwrap_or(0) + 1..)
            .map(|(event, position)| NewChange {
                position,
                incident_id: event.incident_id.clone(),
                kind: ChangeKind::Reported.as_str().to_owned(),
                version: event.version,
                at: event.at,
                actor_id: event.actor_id.clone(),
            })
            .collect();
        let refs: Vec<&NewChange> = rows.iter().collect();
        match conn {
            DbConnection::Postgres(c) => {
                diesel::copy_from(changes::table)
                    .from_insertable(refs)
                    .execute(c)?;
            }
            DbConnection::Sqlite(c) => {
                for chunk in refs.chunks(BATCH) {
                    diesel::insert_into(changes::table)
                        .values(chunk.to_vec())
                        .execute(c)?;
                }
            }
        }
        // Webhook subscribers hear of these reports as of any other change,
        // in the same transaction.
        let queued: Vec<crate::webhooks::outbox::Change<'_>> = rows
            .iter()
            .zip(reported)
            .map(|(row, event)| crate::webhooks::outbox::Change {
                position: row.position,
                incident_id: &row.incident_id,
                kind: ChangeKind::Reported,
                version: row.version,
                from: None,
                to: event.to_status.as_deref().and_then(Status::parse),
                at: row.at,
            })
            .collect();
        crate::webhooks::outbox::enqueue(conn, &queued)?;
        Ok(())
    })
}

/// A position in the feed: the last change served (0: before the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedCursor(pub i64);

const CURSOR_PREFIX: &str = "changes:";

impl FeedCursor {
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{}", self.0))
    }

    pub fn decode(raw: &str) -> Result<Self, DomainError> {
        let invalid = || DomainError::BadQuery("cursor is not one this feed issued".into());
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?)
            .map_err(|_| invalid())?;
        let digits = text.strip_prefix(CURSOR_PREFIX).ok_or_else(invalid)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        digits.parse::<i64>().map(Self).map_err(|_| invalid())
    }
}

/// The changes after `after` whose incident the viewer may see now (the rule
/// of the incident list), oldest first, at most `limit`.
pub fn after(
    conn: &mut DbConnection,
    viewer: &Actor,
    after: FeedCursor,
    limit: i64,
) -> QueryResult<Vec<(ChangeRow, IncidentRow, Option<String>)>> {
    let query = changes::table
        .inner_join(incidents::table)
        .left_join(bases::table.on(incidents::base_id.eq(bases::id.nullable())))
        .filter(changes::position.gt(after.0))
        .order(changes::position.asc())
        .limit(limit)
        .into_boxed();
    visible_to!(query, viewer)
        .select((
            ChangeRow::as_select(),
            IncidentRow::as_select(),
            bases::name.nullable(),
        ))
        .load(conn)
}

/// A change, with the incident as the caller may see it now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Change {
    /// Its place in the feed.
    pub position: i64,
    pub kind: ChangeKind,
    /// The incident's version right after this change.
    pub version: i32,
    pub at: DateTime<Utc>,
    /// Who made the change. Absent for partners, who never see people (but
    /// present when it was the caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid, nullable = false)]
    pub actor_id: Option<String>,
    /// The incident as it is now (it may have changed again since).
    pub incident: Incident,
    /// The incident's attachments now: metadata only, never contents.
    pub attachments: Vec<crate::attachments::AttachmentSummary>,
}

impl Change {
    pub fn view(
        change: ChangeRow,
        row: IncidentRow,
        base: Option<String>,
        attachments: Vec<crate::attachments::AttachmentSummary>,
        viewer: &Actor,
        keys: &DataKeys,
    ) -> Result<Self, IncidentError> {
        let people = viewer.sight(&row.reporter_id).people || viewer.is(&change.actor_id);
        Ok(Self {
            position: change.position,
            kind: ChangeKind::parse(&change.kind)
                .ok_or_else(|| IncidentError::Corrupt(format!("unknown change {}", change.kind)))?,
            version: change.version,
            at: change.at.and_utc(),
            actor_id: people.then_some(change.actor_id),
            incident: Incident::view(row, base, viewer, keys)?,
            attachments,
        })
    }
}

/// One page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePage {
    pub items: Vec<Change>,
    /// Always present: pass it as `cursor` for the changes after this page. When
    /// nothing new has happened it is the cursor that was sent; ask again later.
    pub next_cursor: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        for n in [0, 1, 42, i64::MAX] {
            assert_eq!(
                FeedCursor::decode(&FeedCursor(n).encode()).unwrap(),
                FeedCursor(n)
            );
        }
        let forge = |s: &str| URL_SAFE_NO_PAD.encode(s);
        for forged in [
            String::new(),
            "!!".into(),
            "42".into(),
            forge("changes:"),
            forge("changes:-1"),
            forge("changes:+1"),
            forge("changes:1 "),
            forge("changes:99999999999999999999"),
            forge("other:1"),
        ] {
            assert!(FeedCursor::decode(&forged).is_err(), "{forged}");
        }
    }

    #[test]
    fn stored_kinds_round_trip() {
        for kind in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(kind.as_str()), Some(kind));
        }
    }
}
