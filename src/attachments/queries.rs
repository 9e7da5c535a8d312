//! The SQL of attachments and their sealed chunks.

use diesel::prelude::*;

use super::{AttachmentRow, AttachmentSummary};
use crate::db::DbConnection;
use crate::db::schema::{attachment_chunks, attachments, removed_attachments};

pub fn insert(conn: &mut DbConnection, row: &AttachmentRow) -> QueryResult<()> {
    diesel::insert_into(attachments::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn insert_chunk(
    conn: &mut DbConnection,
    attachment_id: &str,
    seq: i32,
    data: &[u8],
) -> QueryResult<()> {
    diesel::insert_into(attachment_chunks::table)
        .values((
            attachment_chunks::attachment_id.eq(attachment_id),
            attachment_chunks::seq.eq(seq),
            attachment_chunks::data.eq(data),
        ))
        .execute(conn)
        .map(drop)
}

/// An attachment by its id alone (a re-sent id may name one of another incident).
pub fn find(conn: &mut DbConnection, attachment_id: &str) -> QueryResult<Option<AttachmentRow>> {
    attachments::table
        .find(attachment_id)
        .select(AttachmentRow::as_select())
        .first(conn)
        .optional()
}

/// An incident's attachments, oldest first.
pub fn list(conn: &mut DbConnection, incident_id: &str) -> QueryResult<Vec<AttachmentRow>> {
    attachments::table
        .filter(attachments::incident_id.eq(incident_id))
        .order((attachments::uploaded_at, attachments::id))
        .select(AttachmentRow::as_select())
        .load(conn)
}

pub fn count(conn: &mut DbConnection, incident_id: &str) -> QueryResult<i64> {
    attachments::table
        .filter(attachments::incident_id.eq(incident_id))
        .count()
        .get_result(conn)
}

/// Up to `limit` sealed chunks from position `from` on, in order.
pub fn chunks(
    conn: &mut DbConnection,
    attachment_id: &str,
    from: i32,
    limit: i64,
) -> QueryResult<Vec<(i32, Vec<u8>)>> {
    attachment_chunks::table
        .filter(attachment_chunks::attachment_id.eq(attachment_id))
        .filter(attachment_chunks::seq.ge(from))
        .order(attachment_chunks::seq)
        .select((attachment_chunks::seq, attachment_chunks::data))
        .limit(limit)
        .load(conn)
}

/// A chunk's position and sealed bytes, with the key id and salt of the
/// sealing it belongs to.
pub type SealedChunk = (i32, Vec<u8>, String, String);

/// A page of chunks with the sealing (key id, salt) they were read under, in
/// one statement, so one snapshot: a rotation that commits between two pages
/// shows as a new sealing, never as chunks that do not open.
pub fn sealed_page(
    conn: &mut DbConnection,
    attachment_id: &str,
    from: i32,
    limit: i64,
) -> QueryResult<Vec<SealedChunk>> {
    attachment_chunks::table
        .inner_join(attachments::table)
        .filter(attachment_chunks::attachment_id.eq(attachment_id))
        .filter(attachment_chunks::seq.ge(from))
        .order(attachment_chunks::seq)
        .select((
            attachment_chunks::seq,
            attachment_chunks::data,
            attachments::key_id,
            attachments::salt,
        ))
        .limit(limit)
        .load(conn)
}

/// Holds the incident's row until the transaction ends (PostgreSQL), so that
/// attachments are counted and added one upload at a time.
pub fn lock_incident(conn: &mut DbConnection, incident_id: &str) -> QueryResult<()> {
    use crate::db::schema::incidents;
    match conn {
        DbConnection::Postgres(c) => incidents::table
            .find(incident_id)
            .select(incidents::id)
            .for_update()
            .execute(c)
            .map(drop),
        DbConnection::Sqlite(_) => Ok(()),
    }
}

pub fn replace_chunk(
    conn: &mut DbConnection,
    attachment_id: &str,
    seq: i32,
    data: &[u8],
) -> QueryResult<usize> {
    diesel::update(
        attachment_chunks::table
            .filter(attachment_chunks::attachment_id.eq(attachment_id))
            .filter(attachment_chunks::seq.eq(seq)),
    )
    .set(attachment_chunks::data.eq(data))
    .execute(conn)
}

/// Deletes an attachment and its chunks, leaving its id behind as a tombstone.
pub fn delete(conn: &mut DbConnection, row: &AttachmentRow) -> QueryResult<()> {
    diesel::delete(attachment_chunks::table.filter(attachment_chunks::attachment_id.eq(&row.id)))
        .execute(conn)?;
    diesel::delete(attachments::table.find(&row.id)).execute(conn)?;
    diesel::insert_into(removed_attachments::table)
        .values((
            removed_attachments::id.eq(&row.id),
            removed_attachments::incident_id.eq(&row.incident_id),
            removed_attachments::removed_at.eq(crate::db::now()),
        ))
        .execute(conn)
        .map(drop)
}

/// Whether the id named an attachment that was removed.
pub fn was_removed(conn: &mut DbConnection, attachment_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        removed_attachments::table.find(attachment_id),
    ))
    .get_result(conn)
}

/// The metadata of the attachments of these incidents, by incident, for the
/// change feed and exports.
pub fn summaries(
    conn: &mut DbConnection,
    incident_ids: &[&str],
) -> QueryResult<std::collections::HashMap<String, Vec<AttachmentSummary>>> {
    let mut by_incident: std::collections::HashMap<String, Vec<AttachmentSummary>> =
        std::collections::HashMap::new();
    if incident_ids.is_empty() {
        return Ok(by_incident);
    }
    let rows: Vec<(String, String, String, i64, String)> = attachments::table
        .filter(attachments::incident_id.eq_any(incident_ids))
        .order((attachments::uploaded_at, attachments::id))
        .select((
            attachments::incident_id,
            attachments::id,
            attachments::media_type,
            attachments::size,
            attachments::sha256,
        ))
        .load(conn)?;
    for (incident_id, id, media_type, size, sha256) in rows {
        by_incident
            .entry(incident_id)
            .or_default()
            .push(AttachmentSummary {
                id,
                media_type,
                size,
                sha256,
            });
    }
    Ok(by_incident)
}
