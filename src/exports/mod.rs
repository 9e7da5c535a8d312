//! /api/v1/exports/incidents: every incident a caller may export, streamed as
//! CSV (optionally with the HXL hashtag row), NDJSON or GeoJSON, page by page
//! from keyset queries, so memory stays flat however many rows there are.

pub mod columns;
mod encode;

use self::columns::ExportRow;
use self::encode::Encoder;
use crate::crypto::DataKeys;
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, Action};
use crate::auth::Actor;
use crate::auth::Permission;
use crate::db::schema::{bases, missions};
use crate::db::{self, Pool};
use crate::error::ApiError;
use crate::http::Query;
use crate::incidents::filter::IncidentListQuery;
use crate::incidents::queries::{self as incidents, Cursor, Filter, Order};
use crate::incidents::vocabulary::{ConsentAssessment, ExploitationType, Status};
use crate::state::AppState;

/// Rows per database round trip.
const PAGE: i64 = 1000;

#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Ndjson,
    Geojson,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ColumnNames {
    /// Basewatch's own names (the default).
    Basewatch,
    /// Human Trafficking Case Data Standard / CTDC names.
    Htcds,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    #[param(inline)]
    pub format: ExportFormat,
    /// CSV only: a row of HXL hashtags under the header.
    pub hxl: Option<bool>,
    /// Column names: `htcds` for the Human Trafficking Case Data Standard's.
    #[param(inline)]
    pub schema: Option<ColumnNames>,
    #[param(format = Uuid)]
    pub mission_id: Option<String>,
    #[param(format = Uuid)]
    pub base_id: Option<String>,
    /// Any status but `draft`: drafts are never exported.
    #[param(schema_with = exported_status)]
    pub status: Option<Status>,
    /// Occurred at or after this time.
    pub occurred_from: Option<DateTime<Utc>>,
    /// Occurred before this time.
    pub occurred_to: Option<DateTime<Utc>>,
    pub exploitation_type: Option<ExploitationType>,
    pub consent_assessment: Option<ConsentAssessment>,
    /// `min_lon,min_lat,max_lon,max_lat` (WGS 84), `min_lat` at most `max_lat`.
    // The pattern is incidents::filter::BBOX_PATTERN (a test compares).
    #[param(
        example = "21.0,42.3,21.4,42.8",
        pattern = r"^-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]+)?),-?(?:90(?:\.0+)?|[0-8]?[0-9](?:\.[0-9]+)?),-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]+)?),-?(?:90(?:\.0+)?|[0-8]?[0-9](?:\.[0-9]+)?)$"
    )]
    pub bbox: Option<String>,
}

/// The statuses an export may filter on: every one but `draft`.
fn exported_status() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("Any status but `draft`: drafts are never exported."))
        .enum_values(Some(
            Status::ALL
                .iter()
                .filter(|s| **s != Status::Draft)
                .map(|s| s.as_str()),
        ))
        .build()
}

/// Export incidents row by row.
///
/// Analysts and admins export every non-draft incident; partners their
/// organisation's, without narratives. Newest first. The body is streamed.
#[utoipa::path(
    tag = "analysis",
    operation_id = "export_incidents",
    security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "The export, as an attachment", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
            (Object = "application/geo+json"),
        ), headers(("Content-Disposition" = String, description = "attachment; filename=…"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 403, response = crate::openapi::Forbidden),
        crate::openapi::SignedIn,
    )
)]
#[get("/exports/incidents")]
pub async fn export_incidents(
    state: web::Data<AppState>,
    user: Actor,
    query: Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    if !user.may(Permission::ExportIncidents) {
        return Err(ApiError::Forbidden(
            "exports are for analysts, admins and partners".into(),
        ));
    }
    let q = query.into_inner();
    let hxl = q.hxl.unwrap_or(false);
    if hxl && q.format != ExportFormat::Csv {
        return Err(ApiError::BadRequest("hxl=true goes with format=csv".into()));
    }
    let htcds = q.schema == Some(ColumnNames::Htcds);
    let list = IncidentListQuery {
        mission_id: q.mission_id,
        base_id: q.base_id,
        status: q.status,
        occurred_from: q.occurred_from,
        occurred_to: q.occurred_to,
        exploitation_type: q.exploitation_type,
        consent_assessment: q.consent_assessment,
        reported_by_me: None,
        updated_since: None,
        sort: None,
        bbox: q.bbox,
        limit: None,
        cursor: None,
    };
    let mut filter = list.filter()?;
    if filter.status == Some(Status::Draft) {
        return Err(ApiError::BadRequest("drafts are never exported".into()));
    }
    filter.non_draft_only = true;
    // Partners never get narratives: without the keys they cannot even be opened.
    let narrative_keys = user
        .may(Permission::ExportNarratives)
        .then(|| state.settings.data_keys.clone());
    let format = q.format;
    let audit_filters = json!({
        "format": format, "hxl": hxl, "schema": if htcds { "htcds" } else { "basewatch" },
        "mission_id": filter.mission_id, "base_id": filter.base_id, "status": filter.status,
        "occurred_from": list.occurred_from, "occurred_to": list.occurred_to,
        "exploitation_type": filter.exploitation_type, "consent_assessment": filter.consent_assessment,
        "bbox": list.bbox,
    });

    let (tx, rx) = mpsc::channel(4);
    let (handed_tx, handed) = oneshot::channel();
    let job = Job {
        pool: state.pool.clone(),
        user,
        filter,
        encoder: format.encoder(hxl),
        htcds,
        narrative_keys,
    };
    let (content_type, extension) = (job.encoder.content_type(), job.encoder.extension());
    actix_web::rt::spawn(async move {
        let (produced, result) = job.run(&tx).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, rows = produced, "export stopped");
            let _ = tx
                .send(Err(std::io::Error::other(
                    "the export failed; see the server log",
                )))
                .await;
        }
        drop(tx);
        // What the response body handed to the connection, known once it is dropped.
        let Handed { rows, to_the_end } = handed.await.unwrap_or_default();
        let outcome = match (&result, to_the_end) {
            (Err(_), _) => Outcome::Failed,
            (Ok(()), true) => Outcome::Completed,
            (Ok(()), false) => Outcome::Aborted,
        };
        let user = job.user.clone();
        let written = db::run::<_, ApiError, _>(&job.pool, move |conn| {
            Ok(audit::Entry::new(Action::IncidentsExported)
                .by(&user)
                .details(json!({
                    "filters": audit_filters,
                    "rows": rows,
                    "outcome": outcome,
                    "completed": outcome == Outcome::Completed,
                }))
                .write(conn)?)
        })
        .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "could not audit an export");
        }
    });

    let filename = format!(
        "basewatch-incidents-{}.{extension}",
        Utc::now().format("%Y%m%dT%H%M%SZ")
    );
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(Streamed {
            chunks: rx,
            handed: Handed::default(),
            report: Some(handed_tx),
        }))
}

/// How an export ended, in its audit row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    /// Every row was handed to the connection.
    Completed,
    /// The client went away first.
    Aborted,
    /// The server could not produce the rest.
    Failed,
}

/// What the response body handed to the connection.
#[derive(Debug, Default, Clone, Copy)]
struct Handed {
    rows: usize,
    to_the_end: bool,
}

/// The response body: chunks as the export job produces them. When actix drops
/// it (the body ended, or the client went away) it reports what it handed over.
struct Streamed {
    chunks: mpsc::Receiver<Chunk>,
    handed: Handed,
    report: Option<oneshot::Sender<Handed>>,
}

impl MessageBody for Streamed {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        match self.chunks.poll_recv(cx) {
            Poll::Ready(Some(Ok((bytes, rows)))) => {
                self.handed.rows += rows;
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => {
                self.handed.to_the_end = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if let Some(report) = self.report.take() {
            let _ = report.send(self.handed);
        }
    }
}

struct Job {
    pool: Pool,
    user: Actor,
    filter: Filter,
    encoder: Box<dyn Encoder>,
    htcds: bool,
    narrative_keys: Option<DataKeys>,
}

/// Bytes and the rows they hold.
type Chunk = Result<(Bytes, usize), std::io::Error>;

impl Job {
    /// Sends the export chunk by chunk; returns how many rows went into the
    /// channel. A closed channel (the client went away) ends it quietly.
    async fn run(&self, tx: &mpsc::Sender<Chunk>) -> (usize, Result<(), ApiError>) {
        let mut rows = 0;
        let cols = columns::columns(self.narrative_keys.is_some());
        let names: Vec<&str> = cols
            .iter()
            .map(|(b, h, _)| if self.htcds { *h } else { *b })
            .collect();
        let tags: Vec<&str> = cols.iter().map(|(_, _, tag)| *tag).collect();
        let head = self.encoder.head(&names, &tags);
        if !send(tx, head, 0).await {
            return (0, Ok(()));
        }
        let names_of = db::run(&self.pool, |conn| {
            let missions = missions::table
                .select((missions::id, (missions::name, missions::country)))
                .load::<(String, (String, String))>(conn)?;
            let bases = bases::table
                .select((bases::id, bases::name))
                .load::<(String, String)>(conn)?;
            Ok((missions, bases))
        })
        .await;
        let (missions, bases): (HashMap<_, _>, HashMap<_, _>) = match names_of {
            Ok((m, b)) => (m.into_iter().collect(), b.into_iter().collect()),
            Err(e) => return (0, Err(e)),
        };
        // The next page is fetched (on the blocking pool) while this one is written
        // out: `db::start` sets it going at once.
        let fetch = |after: Option<Cursor>| {
            let (user, filter) = (self.user.clone(), self.filter.clone());
            db::start(&self.pool, move |conn| {
                let rows = incidents::visible(&user, &filter, after.as_ref(), PAGE - 1)
                    .select(ExportRow::as_select())
                    .load::<ExportRow>(conn)?;
                let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
                let attachments = crate::attachments::queries::summaries(conn, &ids)?;
                Ok((rows, attachments))
            })
        };
        let mut pending = Some(fetch(None));
        while let Some(next) = pending.take() {
            let (page, mut attachments) = match next.await {
                Ok(page) => page,
                Err(e) => return (rows, Err(e)),
            };
            if page.len() as i64 >= PAGE {
                let last = page.last().map(|r| Cursor {
                    order: Order::Occurred,
                    at: r.occurred_at,
                    id: r.id.clone(),
                });
                pending = Some(fetch(last));
            }
            let written = self.write_page(&page, &mut attachments, &missions, &bases, &names, rows);
            let chunk = match written {
                Ok(chunk) => chunk,
                Err(e) => return (rows, Err(e)),
            };
            if !send(tx, chunk, page.len()).await {
                return (rows, Ok(()));
            }
            rows += page.len();
        }
        send(tx, self.encoder.tail().to_vec(), 0).await;
        (rows, Ok(()))
    }

    /// One page in the export's format. `before` is how many rows went out
    /// already (GeoJSON separates features with commas).
    fn write_page(
        &self,
        page: &[ExportRow],
        attachments: &mut HashMap<String, Vec<crate::attachments::AttachmentSummary>>,
        missions: &HashMap<String, (String, String)>,
        bases: &HashMap<String, String>,
        names: &[&str],
        before: usize,
    ) -> Result<Vec<u8>, ApiError> {
        let with_narrative = self.narrative_keys.is_some();
        let mut out = Vec::with_capacity(page.len() * 700);
        for (i, row) in page.iter().enumerate() {
            let mut parsed = row.parse(self.narrative_keys.as_ref())?;
            parsed.attach(attachments.remove(&row.id).unwrap_or_default());
            let base_name = row.base_id.as_ref().and_then(|b| bases.get(b));
            let cells = columns::record(
                row,
                &parsed,
                missions.get(&row.mission_id),
                base_name.map(String::as_str),
                with_narrative,
            );
            self.encoder
                .record(&mut out, names, &cells, before + i == 0)
                .map_err(ApiError::internal)?;
        }
        Ok(out)
    }
}

/// Sends a chunk; false when the client has gone. Empty chunks are never sent:
/// in chunked transfer encoding an empty chunk ends the body.
async fn send(tx: &mpsc::Sender<Chunk>, bytes: Vec<u8>, rows: usize) -> bool {
    bytes.is_empty() || tx.send(Ok((Bytes::from(bytes), rows))).await.is_ok()
}
