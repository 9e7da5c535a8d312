//! Per-client request limits for service accounts: a fixed-window counter per
//! client in the database, so every instance shares it, incremented by one
//! upsert per request. Answers carry the IETF httpapi draft's `RateLimit-Policy`
//! and `RateLimit` headers; over the limit, 429 with `Retry-After`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::config::ClientRateLimit;
use crate::db::DbConnection;
use crate::db::schema::client_request_windows;

pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Where a client stands in its current window; left in the request's
/// extensions by the auth extractor for `headers` to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub window_secs: u64,
    /// Requests counted in this window, this one included.
    pub used: u64,
    /// Seconds until the window ends.
    pub reset_secs: u64,
}

impl Quota {
    pub fn exceeded(&self) -> bool {
        self.used > u64::from(self.limit)
    }

    pub fn remaining(&self) -> u64 {
        u64::from(self.limit).saturating_sub(self.used)
    }
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    requests: i64,
}

/// Counts one request of `client_id` at `now` (seconds since the epoch).
pub fn hit(
    conn: &mut DbConnection,
    client_id: &str,
    limits: &ClientRateLimit,
    now: i64,
) -> QueryResult<Quota> {
    let window = limits.window.as_secs().max(1) as i64;
    let start = now - now.rem_euclid(window);
    let sql = match conn {
        DbConnection::Postgres(_) => {
            "INSERT INTO client_request_windows (client_id, window_start, requests) VALUES ($1, $2, 1) \
             ON CONFLICT (client_id, window_start) DO UPDATE SET requests = client_request_windows.requests + 1 \
             RETURNING requests"
        }
        DbConnection::Sqlite(_) => {
            "INSERT INTO client_request_windows (client_id, window_start, requests) VALUES (?, ?, 1) \
             ON CONFLICT (client_id, window_start) DO UPDATE SET requests = client_request_windows.requests + 1 \
             RETURNING requests"
        }
    };
    let counted: Counted = diesel::sql_query(sql)
        .bind::<Text, _>(client_id)
        .bind::<BigInt, _>(start)
        .get_result(conn)?;
    if counted.requests == 1 {
        // A new window: the client's earlier ones are done with.
        diesel::delete(
            client_request_windows::table
                .filter(client_request_windows::client_id.eq(client_id))
                .filter(client_request_windows::window_start.lt(start)),
        )
        .execute(conn)?;
    }
    Ok(Quota {
        limit: limits.requests,
        window_secs: window as u64,
        used: counted.requests.max(0) as u64,
        reset_secs: (start + window - now).max(1) as u64,
    })
}

/// 429 for a client over its limit.
#[derive(Debug, thiserror::Error)]
#[error(
    "this client made more than {limit} requests in {window_secs} seconds; try again in {retry_after} seconds"
)]
pub struct RateLimited {
    pub limit: u32,
    pub window_secs: u64,
    pub retry_after: u64,
}

impl ResponseError for RateLimited {
    fn status_code(&self) -> StatusCode {
        StatusCode::TOO_MANY_REQUESTS
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, self.retry_after))
            .body(self.to_string())
    }
}

/// Puts the `RateLimit-Policy` and `RateLimit` headers on every answer to a
/// client the extractor counted. Outside the problem renderer, so that they
/// survive it.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    let quota = res.request().extensions().get::<Quota>().copied();
    if let Some(quota) = quota {
        let headers = res.headers_mut();
        let policy = format!("\"default\";q={};w={}", quota.limit, quota.window_secs);
        let state = format!("\"default\";r={};t={}", quota.remaining(), quota.reset_secs);
        for (name, value) in [(RATELIMIT_POLICY, policy), (RATELIMIT, state)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
    Ok(res)
}
