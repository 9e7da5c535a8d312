//! Every change to attachments, and every download's audit. Changes go
//! through the incident service's `record` (history, audit row, change feed)
//! in the change's transaction; who may do what is `Actor`'s answer.

use diesel::prelude::*;
use serde_json::json;

use super::clean::Cleaned;
use super::error::AttachmentError;
use super::seal::Sealer;
use super::{Attachment, AttachmentRow, file_name_context, queries};
use crate::audit::{self, Action, Entity};
use crate::auth::Actor;
use crate::config::AttachmentLimits;
use crate::crypto::DataKeys;
use crate::db::schema::{attachment_chunks, attachments, incidents};
use crate::db::{self, DbConnection};
use crate::incidents::IncidentRow;
use crate::incidents::queries::HistoryKind;
use crate::incidents::service::{History, find_visible, record};
use crate::validation::Invalid;

/// Sealed chunks read (downloads, rotation) or written (uploads) per query.
pub const PAGE: i64 = 16;

/// A cleaned upload, ready to be stored.
pub struct Upload {
    pub incident_id: String,
    pub attachment_id: String,
    pub file_name: Option<String>,
    pub cleaned: Cleaned,
    /// Hex SHA-256 of the cleaned bytes.
    pub sha256: String,
}

/// What an upload did.
pub enum Stored {
    Created(Attachment),
    /// A re-send of an attachment already stored: nothing new was stored.
    Resent(Attachment),
}

fn refused_upload(actor: &Actor, incident: &IncidentRow) -> AttachmentError {
    AttachmentError::Forbidden(if actor.is(&incident.reporter_id) {
        format!(
            "the incident is {}; reporters add attachments only to drafts and incidents sent back for more information",
            incident.status
        )
    } else {
        "only the incident's reporter and its reviewers add attachments".into()
    })
}

/// Whether the actor may attach to the incident, asked before the body is
/// read; with the attachment's id (a PUT names it in the path), also whether
/// the id once named a removed attachment (409 at once, not after the upload).
pub fn may_attach(
    conn: &mut DbConnection,
    actor: &Actor,
    incident_id: &str,
    attachment_id: Option<&str>,
) -> Result<(), AttachmentError> {
    let (incident, _) = find_visible(conn, actor, incident_id)?;
    if !actor.attaches_to(&incident) {
        return Err(refused_upload(actor, &incident));
    }
    match attachment_id {
        Some(id) if queries::was_removed(conn, id)? => Err(removed_id()),
        _ => Ok(()),
    }
}

fn removed_id() -> AttachmentError {
    AttachmentError::Conflict(
        "this id belonged to an attachment that was removed; send a new id".into(),
    )
}

fn view(
    row: AttachmentRow,
    incident: &IncidentRow,
    actor: &Actor,
    keys: &DataKeys,
) -> Result<Attachment, AttachmentError> {
    let reads = actor.reads_attachments(incident);
    Attachment::view(row, &incident.reporter_id, reads, actor, keys)
}

/// Stores a cleaned upload sealed in chunks and records it; a re-send of the
/// same cleaned bytes under the same id by the same uploader stores nothing.
/// The id of a removed attachment is refused: it named another file.
pub fn store(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    limits: &AttachmentLimits,
    upload: Upload,
) -> Result<Stored, AttachmentError> {
    let (incident, _) = find_visible(conn, actor, &upload.incident_id)?;
    if let Some(existing) = queries::find(conn, &upload.attachment_id)? {
        return if existing.incident_id == incident.id
            && existing.sha256 == upload.sha256
            && actor.is(&existing.uploaded_by)
        {
            Ok(Stored::Resent(view(existing, &incident, actor, keys)?))
        } else {
            Err(AttachmentError::Conflict(
                "an attachment with this id already exists with different content; \
                 send a new id for a new file"
                    .into(),
            ))
        };
    }
    if queries::was_removed(conn, &upload.attachment_id)? {
        return Err(removed_id());
    }
    if !actor.attaches_to(&incident) {
        return Err(refused_upload(actor, &incident));
    }
    // Two uploads at once must not both see room for one more (PostgreSQL's
    // READ COMMITTED would let them; SQLite's writers already take turns).
    queries::lock_incident(conn, &incident.id)?;
    let held = queries::count(conn, &incident.id)?;
    if held >= limits.per_incident {
        return Err(AttachmentError::Conflict(format!(
            "the incident already holds {held} attachments, the most it may hold; remove one first"
        )));
    }

    let id = upload.attachment_id;
    let bytes = upload.cleaned.bytes;
    let sealer = Sealer::new(keys, &incident.id, &id);
    let file_name = upload
        .file_name
        .map(|name| keys.seal(&file_name_context(&incident.id, &id), &name));
    let row = AttachmentRow {
        id: id.clone(),
        incident_id: incident.id.clone(),
        media_type: upload.cleaned.kind.media_type().to_owned(),
        size: bytes.len() as i64,
        sha256: upload.sha256,
        removed: serde_json::to_string(&upload.cleaned.removed)
            .map_err(AttachmentError::corrupt)?,
        file_name: file_name.map(|s| s.text),
        key_id: sealer.key_id.clone(),
        salt: sealer.salt.clone(),
        chunks: super::seal::chunk_count(bytes.len()) as i32,
        uploaded_by: actor.id.as_str().to_owned(),
        uploaded_at: db::now(),
    };
    queries::insert(conn, &row)?;
    let mut batch = Vec::with_capacity(PAGE as usize);
    sealer.seal_all(&bytes, |seq, sealed| {
        batch.push((seq, sealed));
        if batch.len() == PAGE as usize || seq + 1 == row.chunks {
            insert_chunks(conn, &id, &batch)?;
            batch.clear();
        }
        Ok::<_, diesel::result::Error>(())
    })?;
    drop(bytes);
    recorded(
        conn,
        actor,
        keys,
        &incident,
        &row,
        (HistoryKind::AttachmentAdded, None),
        Action::AttachmentAdded,
        json!({"removed": upload.cleaned.removed}),
    )?;
    Ok(Stored::Created(view(row, &incident, actor, keys)?))
}

/// A few sealed chunks in one INSERT (MultiConnection has no multi-row insert:
/// the backends' own connections do it).
fn insert_chunks(
    conn: &mut DbConnection,
    attachment_id: &str,
    chunks: &[(i32, Vec<u8>)],
) -> QueryResult<()> {
    let rows: Vec<_> = chunks
        .iter()
        .map(|(seq, data)| {
            (
                attachment_chunks::attachment_id.eq(attachment_id),
                attachment_chunks::seq.eq(*seq),
                attachment_chunks::data.eq(data.as_slice()),
            )
        })
        .collect();
    match conn {
        DbConnection::Postgres(c) => diesel::insert_into(attachment_chunks::table)
            .values(&rows)
            .execute(c)
            .map(drop),
        DbConnection::Sqlite(c) => diesel::insert_into(attachment_chunks::table)
            .values(&rows)
            .execute(c)
            .map(drop),
    }
}

/// An attachment changes the incident without changing its content or
/// version: `updated_at` moves, so `updated_since` followers see it.
fn touch(conn: &mut DbConnection, incident_id: &str) -> QueryResult<()> {
    diesel::update(incidents::table.find(incident_id))
        .set(incidents::updated_at.eq(db::now()))
        .execute(conn)
        .map(drop)
}

/// An incident's attachments, for whoever sees the incident (file names only
/// for those who may download).
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    incident_id: &str,
) -> Result<Vec<Attachment>, AttachmentError> {
    let (incident, _) = find_visible(conn, actor, incident_id)?;
    queries::list(conn, &incident.id)?
        .into_iter()
        .map(|row| view(row, &incident, actor, keys))
        .collect()
}

fn find_on(
    conn: &mut DbConnection,
    incident: &IncidentRow,
    attachment_id: &str,
) -> Result<AttachmentRow, AttachmentError> {
    queries::find(conn, attachment_id)?
        .filter(|a| a.incident_id == incident.id)
        .ok_or(AttachmentError::NotFound)
}

/// One attachment's metadata.
pub fn get(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    incident_id: &str,
    attachment_id: &str,
) -> Result<Attachment, AttachmentError> {
    let (incident, _) = find_visible(conn, actor, incident_id)?;
    let row = find_on(conn, &incident, attachment_id)?;
    view(row, &incident, actor, keys)
}

/// Checks the actor may download the attachment and audits the download.
pub fn download(
    conn: &mut DbConnection,
    actor: &Actor,
    incident_id: &str,
    attachment_id: &str,
) -> Result<AttachmentRow, AttachmentError> {
    let (incident, _) = find_visible(conn, actor, incident_id)?;
    let row = find_on(conn, &incident, attachment_id)?;
    if !actor.reads_attachments(&incident) {
        return Err(AttachmentError::Forbidden(
            "attachments are downloaded only by those who read the incident's narrative".into(),
        ));
    }
    // A chunk row gone is known before a byte is sent (the stream checks the rest).
    let stored: i64 = attachment_chunks::table
        .filter(attachment_chunks::attachment_id.eq(&row.id))
        .count()
        .get_result(conn)?;
    if stored != i64::from(row.chunks) {
        return Err(AttachmentError::Corrupt(format!(
            "attachment {} has {stored} of its {} chunks",
            row.id, row.chunks
        )));
    }
    audit::Entry::new(Action::AttachmentDownloaded)
        .by(actor)
        .on(Entity::Incident, &incident.id)
        .details(json!({"attachment_id": row.id, "size": row.size, "sha256": row.sha256}))
        .write(conn)?;
    Ok(row)
}

/// Removes an attachment: its reporter from a draft, a reviewer with a reason.
/// Its id stays behind (`removed_attachments`), never to name another file.
pub fn remove(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    incident_id: &str,
    attachment_id: &str,
    reason: Option<String>,
) -> Result<(), AttachmentError> {
    let (incident, _) = find_visible(conn, actor, incident_id)?;
    let row = find_on(conn, &incident, attachment_id)?;
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    match actor.removes_attachments(&incident) {
        None => {
            return Err(AttachmentError::Forbidden(
                "attachments are removed by the reporter of a draft, or by a reviewer with a reason"
                    .into(),
            ));
        }
        Some(true) if reason.is_none() => {
            return Err(Invalid::field(
                "reason",
                "a reason is required to remove an attachment from an incident under review",
            )
            .into());
        }
        Some(_) => {}
    }
    queries::delete(conn, &row)?;
    let reasoned = reason.is_some();
    // The reason is sealed in the history; the audit log records that there was one.
    recorded(
        conn,
        actor,
        keys,
        &incident,
        &row,
        (HistoryKind::AttachmentRemoved, reason),
        Action::AttachmentRemoved,
        json!({"reasoned": reasoned}),
    )
}

/// Records an attachment added or removed through the incident service
/// (history, audit row, change feed), and moves the incident's `updated_at`.
/// The audit row names the attachment by id, type, size and hash; `details` adds to it.
#[allow(clippy::too_many_arguments)]
fn recorded(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    incident: &IncidentRow,
    row: &AttachmentRow,
    (kind, comment): (HistoryKind, Option<String>),
    action: Action,
    mut details: serde_json::Value,
) -> Result<(), AttachmentError> {
    touch(conn, &incident.id)?;
    details["attachment_id"] = json!(row.id);
    details["media_type"] = json!(row.media_type);
    details["size"] = json!(row.size);
    details["sha256"] = json!(row.sha256);
    record(
        conn,
        actor,
        keys,
        &incident.id,
        incident.version,
        History {
            changed_fields: Some(vec![format!("attachments/{}", row.id)]),
            comment,
            ..History::of(kind)
        },
        action,
        details,
    )
    .map_err(AttachmentError::from)
}

/// `rotate-data-key`: re-seals every attachment still under a retired data
/// key (chunks and file name, with a new salt), one attachment per
/// transaction, a page of chunks at a time. Returns how many were re-sealed.
pub fn reseal_all(conn: &mut DbConnection, keys: &DataKeys) -> Result<usize, AttachmentError> {
    let current = keys.current_id().to_owned();
    let mut done = 0;
    let mut after = String::new();
    loop {
        let ids: Vec<String> = attachments::table
            .filter(attachments::key_id.ne(&current))
            .filter(attachments::id.gt(&after))
            .order(attachments::id)
            .select(attachments::id)
            .limit(100)
            .load(conn)?;
        let Some(last) = ids.last() else {
            return Ok(done);
        };
        after = last.clone();
        for id in ids {
            if db::in_transaction(conn, |conn| reseal(conn, keys, &id))? {
                done += 1;
            }
        }
    }
}

fn reseal(conn: &mut DbConnection, keys: &DataKeys, id: &str) -> Result<bool, AttachmentError> {
    // Read again in the transaction: removed or re-sealed since.
    let Some(row) = queries::find(conn, id)?.filter(|r| r.key_id != keys.current_id()) else {
        return Ok(false);
    };
    let mut opener = row.opener(keys)?;
    let mut sealer = Sealer::new(keys, &row.incident_id, &row.id);
    let mut from = 0;
    while from < row.chunks {
        let page = queries::chunks(conn, &row.id, from, PAGE)?;
        if page.is_empty() {
            break;
        }
        for (seq, data) in page {
            let plain = opener.open(seq, &data).map_err(AttachmentError::corrupt)?;
            let sealed = sealer.seal(&plain, seq + 1 == row.chunks);
            queries::replace_chunk(conn, &row.id, seq, &sealed)?;
            from = seq + 1;
        }
    }
    opener.finish().map_err(AttachmentError::corrupt)?;
    let file_name = row.file_name(keys)?.map(|name| {
        keys.seal(&file_name_context(&row.incident_id, &row.id), &name)
            .text
    });
    diesel::update(
        attachments::table
            .filter(attachments::id.eq(&row.id))
            .filter(attachments::key_id.eq(&row.key_id)),
    )
    .set((
        attachments::key_id.eq(&sealer.key_id),
        attachments::salt.eq(&sealer.salt),
        attachments::file_name.eq(file_name),
    ))
    .execute(conn)?;
    Ok(true)
}
