//! /api/v1/incidents/{id}/attachments: upload (raw body), list, metadata,
//! download (streamed chunk by chunk from the database), remove.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{IntoParams, ToSchema};

use super::clean::{self, CleanError};
use super::seal::Opener;
use super::service::{self, PAGE, Stored, Upload};
use super::spool::{Arrival, Full, Received, Spool};
use super::{Attachment, AttachmentError, AttachmentRow, queries};
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

/// The answer to each refusal of the attachment rules: the one place their
/// statuses and problem texts are chosen.
impl From<AttachmentError> for ApiError {
    fn from(e: AttachmentError) -> Self {
        match e {
            AttachmentError::Incident(e) => e.into(),
            AttachmentError::NotFound => ApiError::not_found("attachment"),
            AttachmentError::Forbidden(why) => ApiError::Forbidden(why),
            AttachmentError::Conflict(why) => ApiError::Conflict(why),
            AttachmentError::Invalid(invalid) => invalid.into(),
            AttachmentError::Store(e) => e.into(),
            AttachmentError::Corrupt(why) => ApiError::internal(why),
        }
    }
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

/// The next item of a stream.
async fn next_chunk<S: futures_core::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *stream), cx)).await
}

/// How long an arrived file waits for a cleaning turn before it is answered 503.
const TURN_WAIT: Duration = Duration::from_secs(60);

/// Bytes gathered before each hop to the blocking pool that seals and writes them.
const SPOOL_WRITE: usize = 256 * 1024;

/// Receives the body into a sealed spool file, refusing it (413) as soon as it
/// passes `limit`.
async fn receive<S, E>(mut payload: S, limit: usize) -> Result<Received, ApiError>
where
    S: futures_core::Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut spool = web::block(|| Spool::new(None))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let mut gathered = Vec::with_capacity(SPOOL_WRITE);
    loop {
        let next = next_chunk(&mut payload).await;
        let end = next.is_none();
        if let Some(chunk) = next {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("the body broke off: {e}")))?;
            if spool.received() + gathered.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            gathered.extend_from_slice(&chunk);
        }
        if gathered.len() >= SPOOL_WRITE || (end && !gathered.is_empty()) {
            (spool, gathered) = web::block(move || {
                spool.push(&gathered)?;
                gathered.clear();
                Ok::<_, std::io::Error>((spool, gathered))
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        }
        if end {
            return web::block(move || spool.finish())
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal);
        }
    }
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
        description = "The file (at most BASEWATCH_MAX_ATTACHMENT_BYTES, 25 MiB by default). \
            Its Content-Type is the file's type: image/jpeg, image/png, image/webp, \
            application/pdf, audio/mpeg, audio/mp4, audio/ogg or audio/wav (or an alias such \
            as image/jpg or audio/mp3), or application/octet-stream when the client does not \
            know: the content decides, and a declared type it contradicts is 422. One media \
            type is listed so that generated clients send the body as it is.",
        content((FileBytes = "application/octet-stream"))
    ),
    responses(
        (status = 201, description = "Stored", body = Attachment,
            headers(("Location" = String, description = "The attachment's address"))),
        (status = 200, description = "A re-send of a stored attachment: nothing new was stored", body = Attachment),
        crate::openapi::UploadRefusals,
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
    let _arrival = admit(&state, &user, &incident_id, Some(&attachment_id)).await?;
    let received = in_time(&state, receive(payload, limits.max_bytes)).await?;
    let file = Incoming {
        incident_id,
        attachment_id,
        file_name,
        declared,
    };
    accept(&state, user, file, received).await
}

/// What an upload says of its file, besides the bytes.
struct Incoming {
    incident_id: String,
    attachment_id: String,
    file_name: Option<String>,
    /// The type the client declared (checked against the content).
    declared: String,
}

/// Asked before a byte of the body is read: whether the caller may attach to
/// the incident, and a place among the uploads arriving (only so many per
/// account and in all). The place is given back when the answer is dropped.
async fn admit(
    state: &AppState,
    user: &Actor,
    incident_id: &str,
    attachment_id: Option<&str>,
) -> Result<Arrival, ApiError> {
    let (actor, id) = (user.clone(), incident_id.to_owned());
    let attachment_id = attachment_id.map(str::to_owned);
    db::run(&state.pool, move |conn| {
        service::may_attach(conn, &actor, &id, attachment_id.as_deref())
    })
    .await?;
    state
        .arrivals
        .enter(user.id.as_str())
        .map_err(|full| ApiError::Throttled {
            detail: match full {
                Full::Account(n) => format!(
                    "this account already has {n} uploads arriving, the most it may have at once; \
                     send the next when one has finished"
                ),
                Full::Server(n) => format!(
                    "the server is receiving {n} uploads, the most it takes at once; try again shortly"
                ),
            },
            retry_after: 5,
        })
}

/// A body must arrive within 60 s (or the request timeout, if longer): 408 after.
async fn in_time<T>(
    state: &AppState,
    arriving: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    actix_web::rt::time::timeout(
        state.settings.request_timeout.max(Duration::from_secs(60)),
        arriving,
    )
    .await
    .map_err(|_| ApiError::RequestTimeout("the file did not arrive in time".into()))?
}

/// A file arrived whole: it waits for one of the few turns to be cleaned whole
/// in memory (a slow client, still sending, holds none), then is sealed,
/// stored and answered.
async fn accept(
    state: &AppState,
    user: Actor,
    file: Incoming,
    received: Received,
) -> Result<HttpResponse, ApiError> {
    let _turn = actix_web::rt::time::timeout(TURN_WAIT, state.cleaning.clone().acquire_owned())
        .await
        .map_err(|_| {
            ApiError::Unavailable(
                "every cleaning turn stayed taken for a minute; send the file again shortly".into(),
            )
        })?
        .map_err(ApiError::internal)?;
    let declared = file.declared;
    let limit = state.settings.attachments.max_bytes;
    let (cleaned, sha256) = web::block(move || {
        let data = received.read().map_err(ApiError::internal)?;
        let cleaned = clean::clean(&declared, data).map_err(refused)?;
        // Cleaning rewrites a PDF: what is stored must fit the limit too.
        if cleaned.bytes.len() > limit {
            return Err(ApiError::invalid(
                "body",
                format!(
                    "once cleaned the file is {} bytes, more than the {limit} an attachment may be",
                    cleaned.bytes.len()
                ),
            ));
        }
        let sha256 = crate::crypto::to_hex(&Sha256::digest(&cleaned.bytes));
        Ok((cleaned, sha256))
    })
    .await
    .map_err(ApiError::internal)??;

    let keys = state.settings.data_keys.clone();
    let limits = state.settings.attachments;
    let location = format!(
        "/api/v1/incidents/{}/attachments/{}",
        file.incident_id, file.attachment_id
    );
    let upload = Upload {
        incident_id: file.incident_id,
        attachment_id: file.attachment_id,
        file_name: file.file_name,
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

/// The form of `POST …/attachments`, for clients that only speak forms.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The attachment's id, made by the client (before or after `file`): a
    /// re-send under the same id stores nothing twice (200; another file: 409).
    /// Without it the server makes one, and a re-send stores the file again.
    #[schema(format = Uuid, nullable = false)]
    id: Option<String>,
    /// The file. Its part's `Content-Type` is its declared type (checked
    /// against the content), its `filename` the name kept (as `?filename=` on PUT).
    #[schema(value_type = String, format = Binary)]
    file: String,
}

/// Upload an attachment as `multipart/form-data`.
///
/// The same upload as `PUT …/attachments/{attachment_id}`, for clients that
/// only send forms: one `file` part and optionally an `id` part. Any other
/// part, a second file or a second id is 422.
#[utoipa::path(
    tag = "incidents",
    operation_id = "upload_attachment_form",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The incident's id")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = Attachment,
            headers(("Location" = String, description = "The attachment's address"))),
        (status = 200, description = "A re-send (same `id`) of a stored attachment: nothing new was stored", body = Attachment),
        crate::openapi::UploadRefusals,
        crate::openapi::SignedIn,
    )
)]
#[post("/incidents/{id}/attachments")]
pub async fn upload_attachment_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: Actor,
    path: web::Path<String>,
    form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let incident_id = parse_id(&path.into_inner(), "incident")?;
    match req.mime_type() {
        Ok(Some(mime)) if mime.essence_str() == "multipart/form-data" => {}
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be multipart/form-data (or PUT the raw file to \
                 …/attachments/{attachment_id})"
                    .into(),
            ));
        }
    }
    let limits = state.settings.attachments;
    // The form's own lines (boundaries, part headers) take a few hundred bytes.
    if declared_length(&req).unwrap_or(0) > limits.max_bytes + FORM_OVERHEAD {
        return Err(ApiError::PayloadTooLarge {
            limit: limits.max_bytes,
        });
    }
    let _arrival = admit(&state, &user, &incident_id, None).await?;
    let (attachment_id, file_name, declared, received) =
        in_time(&state, read_form(form, limits.max_bytes)).await?;
    let file = Incoming {
        incident_id,
        attachment_id: attachment_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        file_name,
        declared,
    };
    accept(&state, user, file, received).await
}

/// Room for a form's boundaries and part headers beside the file.
const FORM_OVERHEAD: usize = 64 * 1024;
/// The longest `id` part taken (a UUID is 36 characters).
const MAX_ID_PART: usize = 64;

fn form_error(e: MultipartError) -> ApiError {
    ApiError::BadRequest(format!("the form is not valid multipart/form-data: {e}"))
}

/// The `id` part's text.
async fn id_part(mut field: Field) -> Result<String, ApiError> {
    let mut text = Vec::new();
    while let Some(chunk) = next_chunk(&mut field).await {
        text.extend_from_slice(&chunk.map_err(form_error)?);
        if text.len() > MAX_ID_PART {
            return Err(ApiError::invalid("id", "must be a UUID"));
        }
    }
    let text = String::from_utf8(text).map_err(|_| ApiError::invalid("id", "must be a UUID"))?;
    uuid::Uuid::parse_str(text.trim())
        .map(|u| u.to_string())
        .map_err(|_| ApiError::invalid("id", "must be a UUID"))
}

/// A part's file name: `filename*` (RFC 8187: UTF-8 or Latin-1, as a client
/// sends a name that is not ASCII) before `filename`.
fn part_file_name(field: &Field) -> Result<Option<String>, ApiError> {
    let Some(disposition) = field.content_disposition() else {
        return Ok(None);
    };
    match disposition.get_filename_ext() {
        Some(ext) if ext.charset == header::Charset::Iso_8859_1 => {
            Ok(Some(ext.value.iter().copied().map(char::from).collect()))
        }
        Some(ext) => String::from_utf8(ext.value.clone())
            .map(Some)
            .map_err(|_| ApiError::invalid("filename", "filename* must be UTF-8 once decoded")),
        None => Ok(disposition.get_filename().map(str::to_owned)),
    }
}

/// Reads the form: one `file`, received into a spool, and an optional `id`.
async fn read_form(
    mut form: Multipart,
    limit: usize,
) -> Result<(Option<String>, Option<String>, String, Received), ApiError> {
    let mut id = None;
    let mut file = None;
    while let Some(field) = next_chunk(&mut form).await {
        let field = field.map_err(form_error)?;
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "id" if id.is_none() => id = Some(id_part(field).await?),
            "id" => return Err(ApiError::invalid("id", "send one id part")),
            "file" if file.is_none() => {
                let declared = field
                    .content_type()
                    .map(ToString::to_string)
                    .ok_or_else(|| {
                        ApiError::UnsupportedMediaType(
                            "send the file's type as its part's Content-Type".into(),
                        )
                    })?;
                let file_name = file_name(part_file_name(&field)?)?;
                let received = receive(field, limit).await?;
                file = Some((file_name, declared, received));
            }
            "file" => {
                return Err(ApiError::invalid("file", "send one file per request"));
            }
            other => {
                return Err(ApiError::invalid(
                    "body",
                    format!(
                        "the form has a part {:?}; it takes only `id` and `file`",
                        other.chars().take(64).collect::<String>()
                    ),
                ));
            }
        }
    }
    let (file_name, declared, received) =
        file.ok_or_else(|| ApiError::invalid("file", "the form has no file part"))?;
    Ok((id, file_name, declared, received))
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
    .map_err(ApiError::from)
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

/// Opens an attachment's chunks a page (one query) at a time. A page is read
/// with the sealing it is under; when `rotate-data-key` has re-sealed the
/// attachment since the last page, the reader opens the new sealing from its
/// first chunk, hands out only what it had not sent yet, and goes on: the
/// plaintext is the same, so the download does not break off.
struct Reader {
    pool: Pool,
    keys: DataKeys,
    row: AttachmentRow,
    opener: Option<Opener>,
    /// Chunks opened by the current opener.
    opened: i32,
    /// Chunks whose plaintext was handed out.
    sent: i32,
}

impl Reader {
    fn new(pool: Pool, keys: &DataKeys, row: &AttachmentRow) -> Result<Self, ApiError> {
        Ok(Self {
            pool,
            opener: Some(row.opener(keys)?),
            keys: keys.clone(),
            row: row.clone(),
            opened: 0,
            sent: 0,
        })
    }

    /// The next page of plaintext; empty after the last.
    async fn next_page(&mut self) -> Result<Bytes, ApiError> {
        let mut out = Vec::new();
        while self.sent < self.row.chunks && out.is_empty() {
            let (id, from) = (self.row.id.clone(), self.opened);
            let page = db::run::<_, ApiError, _>(&self.pool, move |conn| {
                Ok(queries::sealed_page(conn, &id, from, PAGE)?)
            })
            .await?;
            let Some((_, _, key_id, salt)) = page.first() else {
                self.opener = None;
                return Err(ApiError::internal("an attachment's chunks end early"));
            };
            if (key_id, salt) != (&self.row.key_id, &self.row.salt) {
                // Re-sealed since the last page: start the new sealing over.
                self.row.key_id.clone_from(key_id);
                self.row.salt.clone_from(salt);
                self.opener = Some(self.row.opener(&self.keys)?);
                self.opened = 0;
                continue;
            }
            let opener = self
                .opener
                .as_mut()
                .ok_or_else(|| ApiError::internal("the stream already failed"))?;
            for (seq, sealed, ..) in page {
                match opener.open(seq, &sealed) {
                    Ok(plain) if seq >= self.sent => {
                        out.extend_from_slice(&plain);
                        self.sent = seq + 1;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.opener = None;
                        return Err(ApiError::internal(e));
                    }
                }
                self.opened = seq + 1;
            }
            if self.opened >= self.row.chunks {
                opener.finish().map_err(ApiError::internal)?;
            }
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
