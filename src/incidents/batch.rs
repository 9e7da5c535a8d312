//! POST /api/v1/incidents/batch: many reports in one request, read as they
//! arrive, stored in groups, and answered as each group is stored.
//!
//! The body is read item by item (a JSON array through an incremental scanner,
//! NDJSON line by line), so no more than one item, plus the group being
//! stored, is held at once; the answers go out group by group, so they are
//! not held either. Items are stored in groups of `GROUP` in one transaction,
//! in bulk (`super::bulk`): a refused item is answered alone, and an incident
//! commits with its history, audit and change-feed rows or not at all. While
//! one group is stored the next is read.
//!
//! The batch ends at the first item that cannot be read (broken JSON in an
//! array, an item over the body limit, an item past `MAX_ITEMS`): what came
//! before it stands and is answered, that item is answered with the problem
//! (400 or 413), and nothing after it is read. A broken NDJSON line is
//! answered 400 on its own and the next line is read, as lines do not depend
//! on each other. A server error (503, 500) in the first group answers the
//! whole request; after the answer has begun it cuts the body off (a JSON
//! array without its `]`). Groups before it may be stored, and re-sending the
//! batch is safe (ids are the client's, so what was stored answers 200).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, post};
use chrono::Utc;
use futures_core::Stream;
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::content::IncidentContent;
use super::routes::{take_id, take_submit};
use super::{Incident, bulk, service};
use crate::auth::Actor;
use crate::db;
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
    pub(super) fn failed(
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
/// answered 400 and the next line is read.
///
/// The answers are sent as each group of 100 is stored. A server error while
/// the first group is stored answers the whole request (5xx); after that it
/// cuts the answer off (a JSON array without its closing `]`, NDJSON short of
/// one line per item). Either way part of the batch may be stored: send it
/// again (what was stored answers 200).
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
    let deadline = actix_web::rt::time::Instant::now() + state.settings.request_timeout;
    let mut reader = Reader::new(payload, format, limit, deadline);
    reader.open().await?;

    let (tx, mut rx) = mpsc::channel(1);
    actix_web::rt::spawn(intake(reader, state.into_inner(), user, limit, tx));
    // The answer begins once the first group is stored: an error before then
    // (the database unreachable, say) still answers the whole request.
    let (first, last) = rx
        .recv()
        .await
        .ok_or_else(|| ApiError::internal("the batch stopped before its first group"))??;
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(if ndjson_out {
            NDJSON
        } else {
            "application/json"
        });
    let mut answers = Answers {
        first: Some(first),
        groups: rx,
        ndjson: ndjson_out,
        opened: false,
        answered: 0,
        done: false,
    };
    if last {
        // A batch of one group is answered whole, with its length.
        let first = answers.first.take().unwrap_or_default();
        let mut body = answers.encode(&first);
        body.push_str(answers.close());
        return Ok(res.body(body));
    }
    Ok(res.body(answers))
}

/// One group's answers, serialised, and whether it is the last; or the server
/// error that ends the batch.
type Answered = Result<(Vec<String>, bool), ApiError>;

/// A group being stored.
type Storing = Pin<Box<dyn Future<Output = Result<Vec<String>, ApiError>>>>;

/// Reads the body group by group and stores each (`bulk::store`), reading the
/// next group while one is stored, and hands each group's answers on as soon
/// as it is stored. Stops at a server error, or when the client has gone.
async fn intake(
    mut reader: Reader,
    state: std::sync::Arc<AppState>,
    user: Actor,
    limit: usize,
    answers: mpsc::Sender<Answered>,
) {
    let mut pending: Option<Storing> = None;
    let mut index = 0;
    let mut ended = false;
    while !ended {
        let mut group = Vec::new();
        let mut group_bytes = 0;
        while group.len() < GROUP && group_bytes < limit {
            let Some(read) = next_item(&mut reader, &mut pending, &answers).await else {
                return;
            };
            let item = match read {
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
        let (actor, keys) = (user.clone(), state.settings.data_keys.clone());
        let storing = Box::pin(db::start(&state.pool, move |conn| {
            let request_id = actor.request_id.clone();
            bulk::store(conn, &actor, &keys, group, request_id.as_deref())
        }));
        if let Some(previous) = pending.replace(storing)
            && !forward(&answers, previous.await, false).await
        {
            return;
        }
    }
    if let Some(last) = pending {
        forward(&answers, last.await, true).await;
    }
}

/// Reads the next item, handing on the answers of the group being stored as
/// soon as they are ready. `None`: stop (the client has gone, or a server
/// error ended the batch).
async fn next_item(
    reader: &mut Reader,
    pending: &mut Option<Storing>,
    answers: &mpsc::Sender<Answered>,
) -> Option<Read> {
    let mut read = std::pin::pin!(reader.next());
    loop {
        let next = std::future::poll_fn(|cx| {
            if let Some(storing) = pending.as_mut()
                && let Poll::Ready(stored) = storing.as_mut().poll(cx)
            {
                return Poll::Ready(Err(stored));
            }
            read.as_mut().poll(cx).map(Ok)
        })
        .await;
        match next {
            Ok(read) => return Some(read),
            Err(stored) => {
                *pending = None;
                if !forward(answers, stored, false).await {
                    return None;
                }
            }
        }
    }
}

/// Hands a group's answers on; false when the batch must stop.
async fn forward(
    answers: &mpsc::Sender<Answered>,
    stored: Result<Vec<String>, ApiError>,
    last: bool,
) -> bool {
    let failed = stored.is_err();
    answers
        .send(stored.map(|results| (results, last)))
        .await
        .is_ok()
        && !failed
}

/// The response body: each group's answers as it is stored, in order, as one
/// JSON array or as NDJSON. A server error after the first group ends the body
/// early (a JSON array without its closing `]`), so that a client cannot take
/// a cut answer for a whole one.
struct Answers {
    first: Option<Vec<String>>,
    groups: mpsc::Receiver<Answered>,
    ndjson: bool,
    /// Whether the array's `[` was sent.
    opened: bool,
    answered: usize,
    done: bool,
}

impl MessageBody for Answers {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let group = match self.first.take() {
                Some(first) => first,
                None => match std::task::ready!(self.groups.poll_recv(cx)) {
                    Some(Ok((group, _))) => group,
                    Some(Err(e)) => {
                        self.done = true;
                        tracing::error!(error = %e, "a batch failed after its answer began; its body is cut off");
                        return Poll::Ready(Some(Err(std::io::Error::other(e.to_string()))));
                    }
                    None => {
                        self.done = true;
                        let close = self.close();
                        return Poll::Ready((!close.is_empty()).then(|| Ok(Bytes::from(close))));
                    }
                },
            };
            let chunk = self.encode(&group);
            // In chunked transfer encoding an empty chunk would end the body.
            if !chunk.is_empty() {
                return Poll::Ready(Some(Ok(Bytes::from(chunk))));
            }
        }
    }
}

impl Answers {
    /// What ends the body.
    fn close(&self) -> &'static str {
        if self.ndjson { "" } else { "]" }
    }

    fn encode(&mut self, group: &[String]) -> String {
        let mut chunk = String::with_capacity(group.iter().map(|r| r.len() + 1).sum::<usize>() + 1);
        if !self.ndjson && !self.opened {
            chunk.push('[');
        }
        self.opened = true;
        for result in group {
            if self.ndjson {
                chunk.push_str(result);
                chunk.push('\n');
            } else {
                if self.answered > 0 {
                    chunk.push(',');
                }
                chunk.push_str(result);
            }
            self.answered += 1;
        }
        chunk
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
pub(super) struct Item {
    pub index: usize,
    pub id: Option<String>,
    pub report: Result<Report, ApiError>,
}

pub(super) struct Report {
    pub id: String,
    pub submit: bool,
    pub content: IncidentContent,
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
