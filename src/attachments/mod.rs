//! Evidence attachments: photos, documents and recordings of an incident,
//! cleaned of what betrays whoever made them (`clean.rs`), sealed at rest in
//! chunks (`seal.rs`) in the database, streamed in and out.
//!
//! `routes.rs` parses and responds; `service.rs` owns every change (through
//! the incident service's `record`: history, audit, change feed) and every
//! download's audit; `queries.rs` the SQL; who may do what is `auth::Actor`'s.

pub mod clean;
pub mod error;
pub mod queries;
pub mod routes;
pub mod seal;
pub mod service;
pub mod spool;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::{Insertable, Queryable, Selectable};
use serde::Serialize;
use utoipa::ToSchema;

pub use error::AttachmentError;

use crate::auth::Actor;
use crate::crypto::DataKeys;
use crate::db::schema::attachments;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = attachments)]
#[diesel(treat_none_as_default_value = false)]
pub struct AttachmentRow {
    pub id: String,
    pub incident_id: String,
    /// The detected type (`clean::Kind::media_type`).
    pub media_type: String,
    /// Of the cleaned file.
    pub size: i64,
    /// Hex SHA-256 of the cleaned file.
    pub sha256: String,
    /// JSON list of what the cleaner removed.
    pub removed: String,
    /// Sealed (`file_name_context`) under `key_id`.
    pub file_name: Option<String>,
    /// The data key the chunks and the file name are sealed under.
    pub key_id: String,
    /// Hex salt of the attachment's own key (`seal.rs`).
    pub salt: String,
    pub chunks: i32,
    pub uploaded_by: String,
    pub uploaded_at: NaiveDateTime,
}

/// What binds a sealed file name to its attachment.
pub fn file_name_context(incident_id: &str, attachment_id: &str) -> String {
    format!("{incident_id}/attachments/{attachment_id}/file_name")
}

impl AttachmentRow {
    pub fn file_name(&self, keys: &DataKeys) -> Result<Option<String>, AttachmentError> {
        self.file_name
            .as_deref()
            .map(|text| {
                keys.open(
                    &file_name_context(&self.incident_id, &self.id),
                    Some(&self.key_id),
                    text,
                )
                .map_err(AttachmentError::corrupt)
            })
            .transpose()
    }

    /// Opens the chunks, in order.
    pub fn opener(&self, keys: &DataKeys) -> Result<seal::Opener, AttachmentError> {
        seal::Opener::new(
            keys,
            &self.key_id,
            &self.salt,
            &self.incident_id,
            &self.id,
            self.chunks,
        )
        .map_err(AttachmentError::corrupt)
    }

    /// The name a download is saved under: the uploaded name, or one made of
    /// the id, always ending in the detected type's extension.
    pub fn download_name(&self, keys: &DataKeys) -> Result<String, AttachmentError> {
        let extension = extension_of(&self.media_type);
        let name = self
            .file_name(keys)?
            .unwrap_or_else(|| format!("attachment-{}", self.id));
        let has_extension = name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case(extension));
        Ok(if has_extension {
            name
        } else {
            format!("{name}.{extension}")
        })
    }
}

fn extension_of(media_type: &str) -> &'static str {
    match media_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        "audio/mpeg" => "mp3",
        "audio/mp4" => "m4a",
        "audio/ogg" => "ogg",
        "audio/wav" => "wav",
        _ => "bin",
    }
}

/// An attachment's metadata as the API shows it (never its content).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attachment {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub incident_id: String,
    /// The type detected from the content (not the one declared).
    #[schema(example = "image/jpeg")]
    pub media_type: String,
    /// Bytes of the cleaned file, as stored and downloaded.
    pub size: i64,
    /// Hex SHA-256 of the cleaned file.
    #[schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    pub sha256: String,
    /// What the cleaner removed before anything was stored (e.g. `exif`, `id3`).
    pub removed: Vec<String>,
    /// The file name sent with the upload; only for those who may download it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub file_name: Option<String>,
    /// Who uploaded it. Absent for partners, who never see people (but present
    /// when it was the caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid, nullable = false)]
    pub uploaded_by: Option<String>,
    pub uploaded_at: DateTime<Utc>,
}

impl Attachment {
    pub fn view(
        row: AttachmentRow,
        reporter_id: &str,
        reads: bool,
        viewer: &Actor,
        keys: &DataKeys,
    ) -> Result<Self, AttachmentError> {
        let file_name = if reads { row.file_name(keys)? } else { None };
        let people = viewer.sight(reporter_id).people || viewer.is(&row.uploaded_by);
        Ok(Self {
            removed: serde_json::from_str(&row.removed).map_err(AttachmentError::corrupt)?,
            file_name,
            uploaded_by: people.then_some(row.uploaded_by),
            uploaded_at: row.uploaded_at.and_utc(),
            id: row.id,
            incident_id: row.incident_id,
            media_type: row.media_type,
            size: row.size,
            sha256: row.sha256,
        })
    }
}

/// An attachment's metadata in the change feed and exports: never its
/// content, its name or who uploaded it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentSummary {
    #[schema(format = Uuid)]
    pub id: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
}
