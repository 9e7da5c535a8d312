//! POST /api/v1/incidents/batch: many reports in one request, read as they
//! arrive and stored in groups, each report on its own.
//!
//! The body is read item by item (a JSON array through an incremental scanner,
//! NDJSON line by line), so no more than one item, plus the group being
//! stored, is held at once. Items are stored in groups of `GROUP` in one
//! transaction, first without savepoints and, should a report fail, again
//! with a savepoint per report: a refused item is rolled back alone, and an
//! incident commits with its history and audit rows or not at all. While one
//! group is stored the next is read.
//!
//! The batch ends at the first item that cannot be read (broken JSON in an
//! array, an item over the body limit, an item past `MAX_ITEMS`): what came
//! before it stands and is answered, that item is answered with the problem
//! (400 or 413), and nothing after it is read. A broken NDJSON line is
//! answered 400 on its own and the next line is read, as lines do not depend
//! on each other. A server error (503, 500) answers the whole request: groups
//! before it may be stored, and re-sending the batch is safe (ids are the
//! client's, so what was stored answers 200).

use actix_web::http::header;
use std::pin::Pin;

use actix_web::web;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, post};
use chrono::Utc;
use diesel::Connection;
use futures_core::Stream;
use serde::Serialize;
use utoipa::ToSchema;

use super::content::IncidentContent;
use super::routes::{take_id, take_submit};
use super::{Incident, IncidentError, service};
use crate::auth::Actor;
use crate::crypto::DataKeys;
use crate::db::{self, DbConnection};
use crate::error::{ApiError, Problem};
use crate::http::{BodyLimit, DEFAULT_BODY_LIMIT, JsonObject};
use crate::state::AppState;

/// The most items a batch may hold.
pub const MAX_ITEMS: usize = 1000;
/// Items stored in one transaction (fewer when they reach the body limit together).
const GROUP: usize = 100;

pub const NDJSON: &str = "application/x-ndjson";

/// The answer to one item of a batch, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// The item's position in the batch, from 0.
    pub index: usize,
    /// The item's `id`, as sent (null when it had none).
    pub id: Option<String>,
    /// 201 stored; 200 an identical re-send, nothing stored; 409 the id exists with
    /// other content; 422 an invalid item; 400 broken JSON or an item past the
    /// 1,000th; 413 an item over the body limit; 408 the body stopped arriving
    /// within the request timeout while this item was read.
    #[schema(example = 201)]
    pub status: u16,
    /// The incident, on 201 and 200.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<Incident>,
    /// What was wrong, on every other status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

impl BatchResult {
    fn failed(
        index: usize,
        id: Option<String>,
        error: &ApiError,
        request_id: Option<&str>,
    ) -> Self {
        let problem = error.problem(request_id);
        Self {
            index,
            id,
            status: problem.status,
            incident: None,
            problem: Some(problem),
        }
    }
}

/// Report many incidents at once (up to 1,000).
///
/// The body is a JSON array of reports, or NDJSON (`application/x-ndjson`, one
/// report per line); each report is a `CreateIncidentRequest` that must carry
/// its `id`, and may be as large as a single report may be. The answer (200)
/// has one result per item, in order, each with its own status: 201 stored,
/// 200 an identical re-send (nothing stored), 409 the id exists with other
/// content, 422 an invalid item (with the field errors). One bad item never
/// spoils the others, and re-sending a batch stores nothing twice.
///
/// The batch ends at the first item that cannot be read: broken JSON in an
/// array (400), an item over the body limit (413), an item past the 1,000th
/// (400). The items before it are stored and answered, that item is answered
/// with the problem, and nothing after it is read. In NDJSON a broken line is
/// answered 400 and the next line is read. A 5xx answers the whole request;
/// part of the batch may then be stored: send it again.
///
/// A body that is not a JSON array, or empty, is refused whole (400), as is
/// one declared larger than 1,001 items at the body limit (413). The whole body
/// must arrive within the request timeout: an item cut off by it is answered
/// 408 and ends the batch, and a body whose array has not begun by then is
/// refused whole (408).
///
/// The answer is a JSON array, or NDJSON when `Accept` asks for `application/x-ndjson`.
#[utoipa::path(
    tag = "incidents",
    operation_id = "create_incidents_batch",
    security(("bearer" = [])),
    request_body(
        description = "Up to 1,000 reports, each with its `id`",
        content(
            (Vec<super::CreateIncidentRequest> = "application/json"),
            (super::CreateIncidentRequest = "application/x-ndjson"),
        )
    ),
    responses(
        (status = 200, description = "One result per item, in order", content(
            (Vec<BatchResult> = "application/json"),
            (BatchResult = "application/x-ndjson"),
        )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 403, response = crate::openapi::Forbidden),
        crate::openapi::SignedIn,
    )
)]
#[post("/incidents/batch")]
pub async fn create_incidents_batch(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: Actor,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    service::may_report(&user)?;
    let format = body_format(&req)?;
    let limit = req
        .app_data::<BodyLimit>()
        .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
    let most = limit.saturating_mul(MAX_ITEMS + 1);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > most) {
        return Err(ApiError::PayloadTooLarge { limit: most });
    }
    let ndjson_out = wants_ndjson(&req);
    let request_id = user.request_id.clone();
    let deadline = actix_web::rt::time::Instant::now() + state.settings.request_timeout;
    let mut reader = Reader::new(payload, format, limit, deadline);
    reader.open().await?;

    let mut results: Vec<String> = Vec::new();
    let mut pending = None;
    let mut index = 0;
    let mut ended = false;
    while !ended {
        let mut group = Vec::new();
        let mut group_bytes = 0;
        while group.len() < GROUP && group_bytes < limit {
            let item = match reader.next().await {
                Read::End => {
                    ended = true;
                    break;
                }
                _ if index == MAX_ITEMS => {
                    ended = true;
                    Item::refused(
                        index,
                        None,
                        ApiError::BadRequest(format!(
                            "a batch holds at most {MAX_ITEMS} items; this item and any after it were not read"
                        )),
                    )
                }
                Read::Stop(error) => {
                    ended = true;
                    Item::refused(index, None, error)
                }
                Read::Item(bytes) => {
                    group_bytes += bytes.len();
                    Item::prepare(index, &bytes)
                }
                Read::Broken(error) => Item::refused(index, None, error),
            };
            group.push(item);
            index += 1;
            if ended {
                break;
            }
        }
        let (actor, keys, rid) = (
            user.clone(),
            state.settings.data_keys.clone(),
            request_id.clone(),
        );
        let storing = db::start(&state.pool, move |conn| {
            store(conn, &actor, &keys, group, rid.as_deref())
        });
        if let Some(previous) = pending.replace(storing) {
            results.extend(previous.await?);
        }
    }
    if let Some(last) = pending {
        results.extend(last.await?);
    }
    Ok(respond(results, ndjson_out))
}

fn respond(results: Vec<String>, ndjson: bool) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if ndjson {
        let mut body = String::with_capacity(results.iter().map(|r| r.len() + 1).sum());
        for r in &results {
            body.push_str(r);
            body.push('\n');
        }
        res.content_type(NDJSON).body(body)
    } else {
        res.content_type("application/json")
            .body(format!("[{}]", results.join(",")))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Array,
    Lines,
}

fn body_format(req: &HttpRequest) -> Result<Format, ApiError> {
    match req.mime_type() {
        Ok(Some(mime)) if mime.essence_str() == NDJSON => Ok(Format::Lines),
        Ok(Some(mime)) if mime.essence_str() == "application/json" => Ok(Format::Array),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "a batch is application/json (an array) or {NDJSON} (one report per line)"
        ))),
    }
}

fn wants_ndjson(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| part.split(';').next().unwrap_or("").trim() == NDJSON)
}

/// One item, read and checked as far as can be without the database.
struct Item {
    index: usize,
    id: Option<String>,
    report: Result<Report, ApiError>,
}

struct Report {
    id: String,
    submit: bool,
    content: IncidentContent,
}

impl Item {
    fn refused(index: usize, id: Option<String>, error: ApiError) -> Self {
        Self {
            index,
            id,
            report: Err(error),
        }
    }

    fn prepare(index: usize, bytes: &[u8]) -> Self {
        let mut body = match crate::http::parse::<JsonObject>(bytes) {
            Ok(JsonObject(body)) => body,
            Err(e) => return Self::refused(index, None, e),
        };
        let sent_id = body.get("id").and_then(|v| v.as_str()).map(str::to_owned);
        let report = (|| {
            let id = take_id(&mut body)?.ok_or_else(|| {
                ApiError::invalid(
                    "id",
                    "is required: each item of a batch carries its client-generated id (a UUID)",
                )
            })?;
            let submit = take_submit(&mut body)?;
            let mut content = IncidentContent::from_object(body)?;
            content.check(Utc::now())?;
            Ok(Report {
                id,
                submit,
                content,
            })
        })();
        Self {
            index,
            id: sent_id,
            report,
        }
    }
}

/// Stores one group in one transaction and answers each item. A group is
/// first tried without savepoints: ids already stored go straight to the
/// re-send check, the others are reported. Should any report fail, the group
/// is rolled back and stored again with a savepoint per report, so that a
/// refused report is rolled back alone. A server error rolls the whole group back.
fn store(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    group: Vec<Item>,
    request_id: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    let answer = |item: &Item, stored: Result<(u16, Incident), &ApiError>| {
        let result = match stored {
            Ok((status, incident)) => BatchResult {
                index: item.index,
                id: item.id.clone(),
                status,
                incident: Some(incident),
                problem: None,
            },
            Err(e) => BatchResult::failed(item.index, item.id.clone(), e, request_id),
        };
        serde_json::to_string(&result).map_err(ApiError::internal)
    };
    let quick = db::in_transaction(conn, |conn| {
        let taken = taken_ids(conn, &group)?;
        let mut answers = Vec::with_capacity(group.len());
        for item in &group {
            let stored = match &item.report {
                Err(e) => {
                    answers.push(answer(item, Err(e)).map_err(Retry::No)?);
                    continue;
                }
                Ok(r) if taken.contains(&r.id) => {
                    service::resent(conn, actor, keys, &r.id, &r.content)
                        .map(|i| (200, i))
                        .map_err(ApiError::from)
                }
                Ok(r) => match service::report(conn, actor, keys, &r.id, &r.content, r.submit) {
                    Ok(incident) => Ok((201, incident)),
                    Err(e) => return Err(Retry::WithSavepoints(e.into())),
                },
            };
            match stored {
                Err(e) if server_error(&e) => return Err(Retry::No(e)),
                Err(e) => answers.push(answer(item, Err(&e)).map_err(Retry::No)?),
                Ok(stored) => answers.push(answer(item, Ok(stored)).map_err(Retry::No)?),
            }
        }
        Ok(answers)
    });
    match quick {
        Ok(answers) => return Ok(answers),
        Err(Retry::No(e)) => return Err(e),
        Err(Retry::WithSavepoints(e)) if matches!(e, ApiError::ConnectionLost) => return Err(e),
        Err(Retry::WithSavepoints(_)) => {}
    }
    db::in_transaction(conn, |conn| {
        group
            .iter()
            .map(|item| {
                let report = match &item.report {
                    Err(e) => return answer(item, Err(e)),
                    Ok(report) => report,
                };
                match store_one(conn, actor, keys, report) {
                    Err(e) if server_error(&e) => Err(e),
                    Err(e) => answer(item, Err(&e)),
                    Ok(stored) => answer(item, Ok(stored)),
                }
            })
            .collect()
    })
}

/// Why the first, savepoint-free try of a group stopped.
enum Retry {
    /// A report failed: the group is stored again, a savepoint per report.
    WithSavepoints(ApiError),
    /// A server error: the request fails.
    No(ApiError),
}

impl From<diesel::result::Error> for Retry {
    fn from(e: diesel::result::Error) -> Self {
        Self::No(e.into())
    }
}

/// Which of the group's ids are stored already.
fn taken_ids(
    conn: &mut DbConnection,
    group: &[Item],
) -> Result<std::collections::HashSet<String>, diesel::result::Error> {
    use crate::db::schema::incidents;
    use diesel::prelude::*;
    let ids: Vec<&str> = group
        .iter()
        .filter_map(|item| item.report.as_ref().ok().map(|r| r.id.as_str()))
        .collect();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    incidents::table
        .filter(incidents::id.eq_any(ids))
        .select(incidents::id)
        .load::<String>(conn)
        .map(|ids| ids.into_iter().collect())
}

fn store_one(
    conn: &mut DbConnection,
    actor: &Actor,
    keys: &DataKeys,
    r: &Report,
) -> Result<(u16, Incident), ApiError> {
    let created = conn.transaction::<_, IncidentError, _>(|conn| {
        service::report(conn, actor, keys, &r.id, &r.content, r.submit)
    });
    match created {
        Ok(incident) => Ok((201, incident)),
        Err(IncidentError::IdTaken) => service::resent(conn, actor, keys, &r.id, &r.content)
            .map(|i| (200, i))
            .map_err(ApiError::from),
        Err(e) => Err(e.into()),
    }
}

fn server_error(e: &ApiError) -> bool {
    actix_web::ResponseError::status_code(e).is_server_error()
}

enum Read {
    /// The bytes of one item.
    Item(Vec<u8>),
    /// An item that cannot be read (a broken NDJSON line); the next one can.
    Broken(ApiError),
    /// Nothing more can be read: the answer for the item at this point.
    Stop(ApiError),
    End,
}

/// Reads items off the body as it arrives, holding at most one item (and what
/// arrived with it) at once.
struct Reader {
    payload: web::Payload,
    format: Format,
    limit: usize,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    /// The whole body may not be larger than `MAX_ITEMS + 1` items at the limit.
    budget: usize,
    state: State,
    /// The whole body must have arrived by then (a body that drips never ends).
    deadline: actix_web::rt::time::Instant,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// After `[`: an item or `]`.
    First,
    /// After an item: `,` or `]`.
    Between,
    /// After `,`: an item.
    Item,
    /// After `]`: only white space.
    Closed,
}

impl Reader {
    fn new(
        payload: web::Payload,
        format: Format,
        limit: usize,
        deadline: actix_web::rt::time::Instant,
    ) -> Self {
        Self {
            payload,
            format,
            limit,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            budget: limit.saturating_mul(MAX_ITEMS + 1),
            state: State::First,
            deadline,
        }
    }

    /// Reads up to the array's `[`: a JSON body that is not an array is refused whole.
    async fn open(&mut self) -> Result<(), ApiError> {
        if self.format == Format::Lines {
            return Ok(());
        }
        loop {
            while self.pos < self.buf.len() && self.buf[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            if self.pos < self.buf.len() {
                break;
            }
            if !self.fill().await? {
                return Err(ApiError::BadRequest(
                    "the body is empty; send a JSON array of reports".into(),
                ));
            }
        }
        if self.buf[self.pos] != b'[' {
            return Err(ApiError::BadRequest(
                "a JSON batch is an array of reports: it starts with [".into(),
            ));
        }
        self.pos += 1;
        Ok(())
    }

    /// Reads the next piece of the body; false at its end.
    async fn fill(&mut self) -> Result<bool, ApiError> {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let payload = &mut self.payload;
        let next = actix_web::rt::time::timeout(
            self.deadline
                .saturating_duration_since(actix_web::rt::time::Instant::now()),
            std::future::poll_fn(|cx| Pin::new(&mut *payload).poll_next(cx)),
        )
        .await
        .map_err(|_| {
            ApiError::RequestTimeout(
                "the request body did not arrive within the request timeout".into(),
            )
        })?;
        match next {
            Some(Ok(bytes)) => {
                self.budget =
                    self.budget
                        .checked_sub(bytes.len())
                        .ok_or(ApiError::PayloadTooLarge {
                            limit: self.limit.saturating_mul(MAX_ITEMS + 1),
                        })?;
                self.buf.extend_from_slice(&bytes);
                Ok(true)
            }
            Some(Err(e)) => Err(ApiError::BadRequest(format!(
                "could not read the request body: {e}"
            ))),
            None => {
                self.eof = true;
                Ok(false)
            }
        }
    }

    fn too_large(&self) -> ApiError {
        ApiError::PayloadTooLarge { limit: self.limit }
    }

    async fn next(&mut self) -> Read {
        let read = match self.format {
            Format::Lines => self.next_line().await,
            Format::Array => self.next_element().await,
        };
        match read {
            Ok(read) => read,
            Err(e) => Read::Stop(e),
        }
    }

    async fn next_line(&mut self) -> Result<Read, ApiError> {
        loop {
            let rest = &self.buf[self.pos..];
            if let Some(n) = rest.iter().position(|&b| b == b'\n') {
                let line = trim(&rest[..n]).to_vec();
                self.pos += n + 1;
                if line.is_empty() {
                    continue;
                }
                return Ok(self.line(line));
            }
            if rest.len() > self.limit {
                return Err(self.too_large());
            }
            if self.eof || !self.fill().await? {
                let line = trim(&self.buf[self.pos..]).to_vec();
                self.pos = self.buf.len();
                return Ok(if line.is_empty() {
                    Read::End
                } else {
                    self.line(line)
                });
            }
        }
    }

    fn line(&self, line: Vec<u8>) -> Read {
        if line.len() > self.limit {
            return Read::Stop(self.too_large());
        }
        match serde_json::from_slice::<serde::de::IgnoredAny>(&line) {
            Ok(_) => Read::Item(line),
            Err(e) => Read::Broken(ApiError::BadRequest(format!("malformed JSON: {e}"))),
        }
    }

    async fn next_element(&mut self) -> Result<Read, ApiError> {
        loop {
            while self.pos < self.buf.len() && self.buf[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            if self.pos == self.buf.len() {
                if self.eof || !self.fill().await? {
                    return match self.state {
                        State::Closed => Ok(Read::End),
                        _ => Err(ApiError::BadRequest(
                            "malformed JSON: the array ends before its closing ]".into(),
                        )),
                    };
                }
                continue;
            }
            let c = self.buf[self.pos];
            match (self.state, c) {
                (State::First | State::Between, b']') => {
                    self.state = State::Closed;
                    self.pos += 1;
                }
                (State::Between, b',') => {
                    self.state = State::Item;
                    self.pos += 1;
                }
                (State::Between, _) => {
                    return Err(ApiError::BadRequest(
                        "malformed JSON: expected , or ] after an item".into(),
                    ));
                }
                (State::Closed, _) => {
                    return Err(ApiError::BadRequest(
                        "malformed JSON: something follows the closing ]".into(),
                    ));
                }
                (State::First | State::Item, _) => match self.element() {
                    Some(Ok(end)) => {
                        let item = self.buf[self.pos..end].to_vec();
                        self.pos = end;
                        self.state = State::Between;
                        return Ok(Read::Item(item));
                    }
                    Some(Err(e)) => return Err(e),
                    None => {
                        if self.buf.len() - self.pos > self.limit {
                            return Err(self.too_large());
                        }
                        if !self.fill().await? {
                            return Err(ApiError::BadRequest(
                                "malformed JSON: the body ends inside an item".into(),
                            ));
                        }
                    }
                },
            }
        }
    }

    /// Where the item starting at `pos` ends; None when more must be read first.
    fn element(&self) -> Option<Result<usize, ApiError>> {
        let rest = &self.buf[self.pos..];
        let mut items =
            serde_json::Deserializer::from_slice(rest).into_iter::<serde::de::IgnoredAny>();
        match items.next()? {
            Ok(_) => {
                let end = items.byte_offset();
                // A number at the end of what arrived may go on in the next piece.
                let closed = matches!(rest[end - 1], b'}' | b']' | b'"');
                if end > self.limit {
                    Some(Err(self.too_large()))
                } else if end == rest.len() && !closed && !self.eof {
                    None
                } else {
                    Some(Ok(self.pos + end))
                }
            }
            Err(e) if e.is_eof() => None,
            Err(e) => Some(Err(ApiError::BadRequest(format!("malformed JSON: {e}")))),
        }
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &line[start..end]
}
