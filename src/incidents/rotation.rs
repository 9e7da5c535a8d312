//! `basewatch rotate-data-key`: brings everything the data keys protect under
//! the current key: narratives, override reasons and history comments are
//! re-sealed (plaintext ones from before sealing are sealed), and content
//! hashes are keyed again (rows without a keyed hash get one); attachments
//! are re-sealed chunk by chunk (`attachments::service::reseal_all`).
//!
//! Runs beside a live service. Rows are read in batches by id and each is
//! written with a compare-and-swap on what was read, so a concurrent edit is
//! never overwritten: the row is read again in the next pass.

use diesel::prelude::*;

use super::IncidentError;
use super::content::content_hash;
use super::{comment_context, override_reason_context};
use crate::crypto::DataKeys;
use crate::db::schema::{incident_events, incidents};
use crate::db::{self, DbConnection};

/// Rows read and written per transaction, unless told otherwise.
pub const BATCH: i64 = 500;

/// How many values each job brought under the current key.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    pub narratives: usize,
    pub override_reasons: usize,
    pub comments: usize,
    pub content_hashes: usize,
    /// Attachments (chunks and file name) re-sealed under a new salt.
    pub attachments: usize,
    /// Writes that lost a race with an edit, and were done again.
    pub retried: usize,
}

pub fn reseal_all(
    conn: &mut DbConnection,
    keys: &DataKeys,
    batch: i64,
) -> Result<Rotation, IncidentError> {
    let current = keys.current_id().to_owned();
    let mut report = Rotation::default();
    report.narratives = until_done(conn, &mut report.retried, |conn, after| {
        narratives(conn, keys, &current, after, batch)
    })?;
    report.override_reasons = until_done(conn, &mut report.retried, |conn, after| {
        override_reasons(conn, keys, &current, after, batch)
    })?;
    report.comments = until_done(conn, &mut report.retried, |conn, after| {
        comments(conn, keys, &current, after, batch)
    })?;
    report.content_hashes = until_done(conn, &mut report.retried, |conn, after| {
        hashes(conn, keys, &current, after, batch)
    })?;
    report.attachments = crate::attachments::service::reseal_all(conn, keys).map_err(|e| {
        use crate::attachments::AttachmentError;
        match e {
            AttachmentError::Store(e) => IncidentError::Store(e),
            AttachmentError::Incident(e) => e,
            other => IncidentError::corrupt(other),
        }
    })?;
    Ok(report)
}

/// What one batch did: the last id it read (None: nothing was left), how many
/// rows it wrote and how many lost a race.
struct Batch {
    last: Option<String>,
    done: usize,
    lost: usize,
}

/// Runs `batch` over the whole table, pass after pass, until a pass loses no race.
fn until_done(
    conn: &mut DbConnection,
    retried: &mut usize,
    mut batch: impl FnMut(&mut DbConnection, &str) -> Result<Batch, IncidentError>,
) -> Result<usize, IncidentError> {
    let mut done = 0;
    loop {
        let mut lost = 0;
        let mut after = String::new();
        loop {
            let b = db::in_transaction(conn, |conn| batch(conn, &after))?;
            done += b.done;
            lost += b.lost;
            match b.last {
                Some(last) => after = last,
                None => break,
            }
        }
        *retried += lost;
        if lost == 0 {
            return Ok(done);
        }
    }
}

fn tally(last: Option<String>, changed: impl IntoIterator<Item = bool>) -> Batch {
    let (mut done, mut lost) = (0, 0);
    for c in changed {
        if c {
            done += 1;
        } else {
            lost += 1;
        }
    }
    Batch { last, done, lost }
}

fn narratives(
    conn: &mut DbConnection,
    keys: &DataKeys,
    current: &str,
    after: &str,
    batch: i64,
) -> Result<Batch, IncidentError> {
    let rows: Vec<(String, String, Option<String>)> = incidents::table
        .filter(incidents::narrative.is_not_null())
        .filter(
            incidents::narrative_key_id
                .is_null()
                .or(incidents::narrative_key_id.ne(current)),
        )
        .filter(incidents::id.gt(after))
        .order(incidents::id)
        .select((
            incidents::id,
            incidents::narrative.assume_not_null(),
            incidents::narrative_key_id,
        ))
        .limit(batch)
        .load(conn)?;
    let mut changed = Vec::with_capacity(rows.len());
    for (id, text, key_id) in &rows {
        let plain = keys
            .open(id, key_id.as_deref(), text)
            .map_err(IncidentError::corrupt)?;
        let sealed = keys.seal(id, &plain);
        let n = diesel::update(
            incidents::table
                .filter(incidents::id.eq(id))
                .filter(incidents::narrative.eq(text)),
        )
        .set((
            incidents::narrative.eq(&sealed.text),
            incidents::narrative_key_id.eq(&sealed.key_id),
        ))
        .execute(conn)?;
        changed.push(n == 1);
    }
    Ok(tally(rows.last().map(|r| r.0.clone()), changed))
}

fn override_reasons(
    conn: &mut DbConnection,
    keys: &DataKeys,
    current: &str,
    after: &str,
    batch: i64,
) -> Result<Batch, IncidentError> {
    let rows: Vec<(String, String, Option<String>)> = incidents::table
        .filter(incidents::assessment_override_reason.is_not_null())
        .filter(
            incidents::assessment_override_reason_key_id
                .is_null()
                .or(incidents::assessment_override_reason_key_id.ne(current)),
        )
        .filter(incidents::id.gt(after))
        .order(incidents::id)
        .select((
            incidents::id,
            incidents::assessment_override_reason.assume_not_null(),
            incidents::assessment_override_reason_key_id,
        ))
        .limit(batch)
        .load(conn)?;
    let mut changed = Vec::with_capacity(rows.len());
    for (id, text, key_id) in &rows {
        let context = override_reason_context(id);
        let plain = keys
            .open(&context, key_id.as_deref(), text)
            .map_err(IncidentError::corrupt)?;
        let sealed = keys.seal(&context, &plain);
        let n = diesel::update(
            incidents::table
                .filter(incidents::id.eq(id))
                .filter(incidents::assessment_override_reason.eq(text)),
        )
        .set((
            incidents::assessment_override_reason.eq(&sealed.text),
            incidents::assessment_override_reason_key_id.eq(&sealed.key_id),
        ))
        .execute(conn)?;
        changed.push(n == 1);
    }
    Ok(tally(rows.last().map(|r| r.0.clone()), changed))
}

/// History entries are append-only: this UPDATE sets `comment` and
/// `comment_key_id` and nothing else, the only columns the history's
/// protection lets change.
fn comments(
    conn: &mut DbConnection,
    keys: &DataKeys,
    current: &str,
    after: &str,
    batch: i64,
) -> Result<Batch, IncidentError> {
    let rows: Vec<(String, String, String, Option<String>)> = incident_events::table
        .filter(incident_events::comment.is_not_null())
        .filter(
            incident_events::comment_key_id
                .is_null()
                .or(incident_events::comment_key_id.ne(current)),
        )
        .filter(incident_events::id.gt(after))
        .order(incident_events::id)
        .select((
            incident_events::id,
            incident_events::incident_id,
            incident_events::comment.assume_not_null(),
            incident_events::comment_key_id,
        ))
        .limit(batch)
        .load(conn)?;
    let mut changed = Vec::with_capacity(rows.len());
    for (id, incident_id, text, key_id) in &rows {
        let context = comment_context(incident_id, id);
        let plain = keys
            .open(&context, key_id.as_deref(), text)
            .map_err(IncidentError::corrupt)?;
        let sealed = keys.seal(&context, &plain);
        let n = diesel::update(
            incident_events::table
                .filter(incident_events::id.eq(id))
                .filter(incident_events::comment.eq(text)),
        )
        .set((
            incident_events::comment.eq(&sealed.text),
            incident_events::comment_key_id.eq(&sealed.key_id),
        ))
        .execute(conn)?;
        changed.push(n == 1);
    }
    Ok(tally(rows.last().map(|r| r.0.clone()), changed))
}

/// The keyed hash is computed again from what is stored (the `content` text
/// as it is, the narrative opened). The swap checks the hash and the content
/// read, so an edit in between (which writes both) wins.
fn hashes(
    conn: &mut DbConnection,
    keys: &DataKeys,
    current: &str,
    after: &str,
    batch: i64,
) -> Result<Batch, IncidentError> {
    type Row = (String, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = incidents::table
        .filter(
            incidents::content_hash_key_id
                .is_null()
                .or(incidents::content_hash_key_id.ne(current)),
        )
        .filter(incidents::id.gt(after))
        .order(incidents::id)
        .select((
            incidents::id,
            incidents::content,
            incidents::content_hash,
            incidents::narrative,
            incidents::narrative_key_id,
        ))
        .limit(batch)
        .load(conn)?;
    let mut changed = Vec::with_capacity(rows.len());
    for (id, content, hash, narrative, narrative_key_id) in &rows {
        let narrative = narrative
            .as_deref()
            .map(|text| keys.open(id, narrative_key_id.as_deref(), text))
            .transpose()
            .map_err(IncidentError::corrupt)?;
        let keyed = content_hash(keys, id, content, narrative.as_deref());
        let n = diesel::update(
            incidents::table
                .filter(incidents::id.eq(id))
                .filter(incidents::content_hash.eq(hash))
                .filter(incidents::content.eq(content)),
        )
        .set((
            incidents::content_hash.eq(&keyed.hex),
            incidents::content_hash_key_id.eq(&keyed.key_id),
        ))
        .execute(conn)?;
        changed.push(n == 1);
    }
    Ok(tally(rows.last().map(|r| r.0.clone()), changed))
}
