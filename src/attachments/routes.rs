//! /api/v1/incidents/{id}/attachments: upload (raw body), list, metadata,
//! download (streamed chunk by chunk from the database), remove.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{IntoParams, ToSchema};

use super::clean::{self, CleanError};
use super::seal::Opener;
use super::service::{self, PAGE, Stored, Upload};
use super::{Attachment, AttachmentRow, queries};
use crate::auth::Actor;
use crate::crypto::DataKeys;
use crate::db::{self, Pool};
use crate::domain::{self, parse_id};
use crate::error::ApiError;
use crate::http::{Page, Query};
use crate::state::AppState;

/// The bytes of a file.
pub struct FileBytes;

impl utoipa::PartialSchema for FileBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for FileBytes {}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name, kept sealed and given back on download (its folders
    /// are dropped; the detected type's extension is added when missing).
    /// Refused anywhere in it: control characters, format characters
    /// (bidirectional controls and marks U+200E, U+200F, U+061C, U+202A to
    /// U+202E, U+2066 to U+2069; zero-width characters U+200B to U+200D,
    /// U+2060, U+FEFF; soft hyphen...) and the line and paragraph separators
    /// U+2028, U+2029. Percent-encoded bytes must be UTF-8.
    // `domain::NO_UNSEEN_PATTERN`, written out because utoipa takes a literal only
    // (a unit test holds them equal).
    #[param(
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E\u200B-\u200F\u2028-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB]*$"
    )]
    pub filename: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveAttachmentRequest {
    /// Why; required of reviewers, not of the reporter of a draft.
    #[schema(max_length = 5000)]
    pub reason: Option<String>,
}

const MAX_NAME_CHARS: usize = 255;

/// The name as kept: its last path component. A character not seen where it
/// stands (`domain::unseen`) is refused anywhere in the name as sent, as the
/// document's pattern says: before trimming, which drops U+2028 and U+0085.
fn file_name(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    if let Some(c) = raw.chars().find(|&c| domain::unseen(c)) {
        return Err(ApiError::invalid(
            "filename",
            format!(
                "must not hold control or format characters (bidirectional controls, \
                 zero-width characters, line separators); U+{:04X} is one",
                u32::from(c)
            ),
        ));
    }
    let name = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid(
            "filename",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok((!name.is_empty() && name != "." && name != "..").then(|| name.to_owned()))
}

fn attachment_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::invalid("attachment_id", "must be a UUID"))
}

fn refused(e: CleanError) -> ApiError {
    match e {
        CleanError::Unsupported { detected } => ApiError::UnsupportedMediaType(format!(
            "{}; attachments may be JPEG, PNG, WebP, PDF, MP3, M4A, Ogg or WAV",
            match detected {
                Some(t) => format!("the content is {t}"),
                None => "the content is of no type Basewatch takes".into(),
            }
        )),
        CleanError::Mismatch { declared, detected } => ApiError::invalid(
            "Content-Type",
            format!("declared {declared:?} but the content is {detected}"),
        ),
        CleanError::Unsafe(why) => {
            ApiError::invalid("body", format!("the file cannot be stored safely: {why}"))
        }
    }
}

/// Reads the body, refusing it (413) as soon as it passes `limit`.
async fn read_body(
    mut payload: web::Payload,
    limit: usize,
    expected: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut data = Vec::with_capacity(expected.min(limit));
    while let Some(chunk) =
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut payload), cx)).await
    {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("the body broke off: {e}")))?;
        if data.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Upload an attachment under an id of the client's making.
///
/// The raw file is the body, its type the `Content-Type`. The type is decided
/// by the content, and metadata that betrays whoever made the file (EXIF GPS
/// and device, audio tags, PDF authors) is removed before anything is stored;
/// the answer says what was removed. The same id with the same (cleaned) file
/// again: 200, nothing stored; with another file: 409. The reporter uploads
/// while the incident is a draft or sent back for more information; reviewers
/// and admins to any incident they review.
#[utoipa::path(
    tag = "incidents",
    operation_id = "upload_attachment",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The incident's id"),
        ("attachment_id" = String, Path, format = Uuid, description = "The attachment's id, made by the client"),
        UploadQuery,
    ),
    request_body(
        description = "The file (at most BASEWATCH_MAX_ATTACHMENT_BYTES, 25 MiB by default)",
        content(
            (FileBytes = "image/jpeg"), (FileBytes = "image/png"), (FileBytes = "image/webp"),
            (FileBytes = "application/pdf"), (FileBytes = "audio/mpeg"), (FileBytes = "audio/mp4"),
            (FileBytes = "audio/ogg"), (FileBytes = "audio/wav"),
        )
    ),
    responses(
        (status = 201, description = "Stored", body = Attachment,
            headers(("Location" = String, description = "The attachment's address"))),
        (status = 200, description = "A re-send of a stored attachment: nothing new was stored", body = Attachment),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, response = crate::openapi::ValidationFailed),
        crate::openapi::SignedIn,
    )
)]
#[put("/incidents/{id}/attachments/{attachment_id}")]
pub async fn upload_attachment(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: Actor,
    path: web::Path<(String, String)>,
    query: Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (incident_id, attachment_id) = path.into_inner();
    let incident_id = parse_id(&incident_id, "incident")?;
    let attachment_id = self::attachment_id(&attachment_id)?;
    let file_name = file_name(query.into_inner().filename)?;
    let declared = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType("send the file's type as Content-Type".into())
        })?;
    let limits = state.settings.attachments;
    let expected = declared_length(&req).unwrap_or(0);
    if expected > limits.max_bytes {
        return Err(ApiError::PayloadTooLarge {
            limit: limits.max_bytes,
        });
    }
    let (actor, id) = (user.clone(), incident_id.clone());
    db::run(&state.pool, move |conn| {
        service::may_attach(conn, &actor, &id)
    })
    .await?;

    // Files are cleaned whole in memory: only so many at once, and a body is
    // not read before its turn.
    let _turn = state
        .cleaning
        .clone()
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    let data = actix_web::rt::time::timeout(
        state.settings.request_timeout.max(Duration::from_secs(60)),
        read_body(payload, limits.max_bytes, expected),
    )
    .await
    .map_err(|_| ApiError::RequestTimeout("the file did not arrive in time".into()))??;
    let (cleaned, sha256) = web::block(move || {
        clean::clean(&declared, data).map(|cleaned| {
            let sha256 = crate::crypto::to_hex(&Sha256::digest(&cleaned.bytes));
            (cleaned, sha256)
        })
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(refused)?;

    let keys = state.settings.data_keys.clone();
    let location = format!("/api/v1/incidents/{incident_id}/attachments/{attachment_id}");
    let upload = Upload {
        incident_id,
        attachment_id,
        file_name,
        cleaned,
        sha256,
    };
    let stored = db::transaction(&state.pool, move |conn| {
        service::store(conn, &user, &keys, &limits, upload)
    })
    .await?;
    Ok(match stored {
        Stored::Created(attachment) => HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .json(attachment),
        Stored::Resent(attachment) => HttpResponse::Ok().json(attachment),
    })
}

/// An incident's attachments (metadata only), for whoever sees the incident.
#[utoipa::path(
    tag = "incidents",
    operation_id = "list_attachments",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The incident's id")),
    responses(
        (status = 200, description = "Every attachment of the incident, oldest first (one page)", body = Page<Attachment>),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::SignedIn,
    )
)]
#[get("/incidents/{id}/attachments")]
pub async fn list_attachments(
    state: web::Data<AppState>,
    user: Actor,
    id: web::Path<String>,
) -> Result<web::Json<Page<Attachment>>, ApiError> {
    let id = parse_id(&id, "incident")?;
    let keys = state.settings.data_keys.clone();
    let items = db::run(&state.pool, move |conn| {
        service::list(conn, &user, &keys, &id)
    })
    .await?;
    Ok(web::Json(Page {
        items,
        next_cursor: None,
    }))
}

fn ids(path: (String, String)) -> Result<(String, String), ApiError> {
    Ok((
        parse_id(&path.0, "incident")?,
        parse_id(&path.1, "attachment")?,
    ))
}

/// One attachment's metadata.
#[utoipa::path(
    tag = "incidents",
    operation_id = "get_attachment",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The incident's id"),
        ("attachment_id" = String, Path, format = Uuid, description = "The attachment's id"),
    ),
    responses(
        (status = 200, description = "The attachment", body = Attachment),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::SignedIn,
    )
)]
#[get("/incidents/{id}/attachments/{attachment_id}")]
pub async fn get_attachment(
    state: web::Data<AppState>,
    user: Actor,
    path: web::Path<(String, String)>,
) -> Result<web::Json<Attachment>, ApiError> {
    let (incident_id, attachment_id) = ids(path.into_inner())?;
    let keys = state.settings.data_keys.clone();
    db::run(&state.pool, move |conn| {
        service::get(conn, &user, &keys, &incident_id, &attachment_id)
    })
    .await
    .map(web::Json)
}

/// Download an attachment (always as a download, never shown inline).
///
/// For whoever reads the incident's narrative: partners only their own
/// reports'. Every download is audited. The body is streamed from the
/// database chunk by chunk; a chunk that does not open ends it (a 500 when
/// it is the first).
#[utoipa::path(
    tag = "incidents",
    operation_id = "download_attachment",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The incident's id"),
        ("attachment_id" = String, Path, format = Uuid, description = "The attachment's id"),
    ),
    responses(
        (status = 200, description = "The cleaned file, of the detected type", content(
            (FileBytes = "image/jpeg"), (FileBytes = "image/png"), (FileBytes = "image/webp"),
            (FileBytes = "application/pdf"), (FileBytes = "audio/mpeg"), (FileBytes = "audio/mp4"),
            (FileBytes = "audio/ogg"), (FileBytes = "audio/wav"),
        ), headers(
            ("Content-Disposition" = String, description = "attachment; filename=…; filename*=UTF-8''…"),
            ("Content-Length" = u64, description = "The file's size"),
        )),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::SignedIn,
    )
)]
#[get("/incidents/{id}/attachments/{attachment_id}/content")]
pub async fn download_attachment(
    state: web::Data<AppState>,
    user: Actor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (incident_id, attachment_id) = ids(path.into_inner())?;
    let row = db::transaction(&state.pool, move |conn| {
        service::download(conn, &user, &incident_id, &attachment_id)
    })
    .await?;
    let keys = state.settings.data_keys.clone();
    let name = row.download_name(&keys)?;
    let mut reader = Reader::new(state.pool.clone(), &keys, &row)?;
    // The first page is opened before answering, so a broken file is a 500.
    let first = reader.next_page().await?;
    let (tx, rx) = mpsc::channel(2);
    actix_web::rt::spawn(async move {
        let mut page = Some(first);
        while let Some(bytes) = page.take() {
            if bytes.is_empty() || tx.send(Ok(bytes)).await.is_err() {
                return;
            }
            match reader.next_page().await {
                Ok(next) => page = Some(next),
                Err(e) => {
                    tracing::error!(error = %e, "an attachment broke off while streamed");
                    let _ = tx.send(Err(std::io::Error::other("sealed chunk"))).await;
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(row.media_type.as_str())
        .insert_header((header::CONTENT_DISPOSITION, content_disposition(&name)))
        .body(Streamed {
            chunks: rx,
            size: row.size as u64,
        }))
}

/// Opens an attachment's chunks a page (one query) at a time.
struct Reader {
    pool: Pool,
    opener: Option<Opener>,
    attachment_id: String,
    next: i32,
    count: i32,
}

impl Reader {
    fn new(pool: Pool, keys: &DataKeys, row: &AttachmentRow) -> Result<Self, ApiError> {
        Ok(Self {
            pool,
            opener: Some(row.opener(keys)?),
            attachment_id: row.id.clone(),
            next: 0,
            count: row.chunks,
        })
    }

    /// The next page of plaintext; empty after the last.
    async fn next_page(&mut self) -> Result<Bytes, ApiError> {
        if self.next >= self.count {
            return Ok(Bytes::new());
        }
        let (id, from) = (self.attachment_id.clone(), self.next);
        let page = db::run::<_, ApiError, _>(&self.pool, move |conn| {
            Ok(queries::chunks(conn, &id, from, PAGE)?)
        })
        .await?;
        let opener = self
            .opener
            .as_mut()
            .ok_or_else(|| ApiError::internal("the stream already failed"))?;
        if page.is_empty() {
            self.opener = None;
            return Err(ApiError::internal("an attachment's chunks end early"));
        }
        let mut out = Vec::with_capacity(page.len() * super::seal::CHUNK);
        for (seq, sealed) in page {
            match opener.open(seq, &sealed) {
                Ok(plain) => out.extend_from_slice(&plain),
                Err(e) => {
                    self.opener = None;
                    return Err(ApiError::internal(e));
                }
            }
            self.next = seq + 1;
        }
        if self.next >= self.count {
            opener.finish().map_err(ApiError::internal)?;
        }
        Ok(Bytes::from(out))
    }
}

/// RFC 6266: an ASCII fallback name and the exact one, percent-encoded (RFC 8187).
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The download's body: pages as the reader opens them, with its length known
/// up front (a stream that breaks off ends the connection short of it).
struct Streamed {
    chunks: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    size: u64,
}

impl MessageBody for Streamed {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.size)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.chunks.poll_recv(cx)
    }
}

/// Remove an attachment.
///
/// The reporter removes from a draft; reviewers and admins from an incident
/// they review, with a reason (sealed in the history). History and audit
/// record the removal.
#[utoipa::path(
    tag = "incidents",
    operation_id = "delete_attachment",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The incident's id"),
        ("attachment_id" = String, Path, format = Uuid, description = "The attachment's id"),
    ),
    request_body(content = Option<RemoveAttachmentRequest>, description = "The reason (reviewers); may be left out by the reporter of a draft"),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::BodyErrors,
        crate::openapi::SignedIn,
    )
)]
#[delete("/incidents/{id}/attachments/{attachment_id}")]
pub async fn delete_attachment(
    state: web::Data<AppState>,
    user: Actor,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (incident_id, attachment_id) = ids(path.into_inner())?;
    let reason = if body.is_empty() || body.trim_ascii() == b"null" {
        None
    } else {
        let request: RemoveAttachmentRequest = crate::http::parse(&body)?;
        if request
            .reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > 5000)
        {
            return Err(ApiError::invalid(
                "reason",
                "must be at most 5000 characters",
            ));
        }
        request.reason
    };
    let keys = state.settings.data_keys.clone();
    db::transaction(&state.pool, move |conn| {
        service::remove(conn, &user, &keys, &incident_id, &attachment_id, reason)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept_safe() {
        assert_eq!(file_name(None).unwrap(), None);
        assert_eq!(
            file_name(Some("../../etc/passwd".into())).unwrap(),
            Some("passwd".into())
        );
        assert_eq!(
            file_name(Some("C:\\Users\\x\\photo.jpg".into())).unwrap(),
            Some("photo.jpg".into())
        );
        assert_eq!(file_name(Some("dir/".into())).unwrap(), None);
        assert!(file_name(Some("a\u{0}b".into())).is_err());
        assert!(file_name(Some("a\nb".into())).is_err());
        assert!(file_name(Some("x".repeat(256))).is_err());
        for hidden in [
            "a\u{202E}gnp.exe",
            "a.png\u{2028}",
            "a\u{200B}/b.png",
            "\u{FEFF}a",
        ] {
            assert!(file_name(Some(hidden.into())).is_err(), "{hidden:?}");
        }
        assert_eq!(
            file_name(Some("تقرير.png".into())).unwrap(),
            Some("تقرير.png".into())
        );
        assert_eq!(
            content_disposition("Café \"x\";.jpg"),
            "attachment; filename=\"Caf_ _x__.jpg\"; filename*=UTF-8''Caf%C3%A9%20%22x%22%3B.jpg"
        );
    }

    /// The document states the rule the server applies.
    #[test]
    fn the_file_name_pattern_is_the_domain_rule() {
        use utoipa::IntoParams;
        let params = UploadQuery::into_params(|| None);
        let json = serde_json::to_value(&params[0]).unwrap();
        assert_eq!(json["schema"]["pattern"], domain::NO_UNSEEN_PATTERN);
    }
}
