//! Refused requests (401 and 403) in the audit log, bounded whatever is sent.
//!
//! Each row names the route template (`/api/v1/incidents/{id}`, or
//! `(no route)`), the method, and the path cut to `PATH_CHARS` characters with
//! its original length. A refused signed-in user gets one row per refusal,
//! with their id. Anonymous refusals are counted per client address (an IPv6
//! address by its /64, which one host usually holds whole) and minute in
//! `audit_refusal_tally`, a small working table, and written to the log as ONE
//! row with the count once the minute is over: audit rows are never updated,
//! and at most one row per address and minute reaches the log however fast or
//! long the requests are. A tally is sealed by the next refusal after its
//! minute (by anyone), or when an admin reads the log (`list`); until then it
//! waits, durably, in the tally table.

use actix_web::HttpMessage;
use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::web;
use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;
use serde_json::json;

use super::{Action, Entry, cut};
use crate::auth::AuthenticatedActor;
use crate::db::schema::audit_refusal_tally as tally;
use crate::db::{self, DbConnection};
use crate::state::AppState;

/// How much of a refused path is kept.
pub const PATH_CHARS: usize = 256;
/// The route of a request that matched none.
pub const NO_ROUTE: &str = "(no route)";

/// One refused request, already bounded.
#[derive(Debug, Clone)]
struct Refusal {
    actor: Option<String>,
    address: String,
    method: String,
    route: String,
    path: String,
    path_length: i32,
    status: i32,
    request_id: Option<String>,
}

/// Records a refused request (the middleware's one call): 401, 403, and 429
/// (a throttled sign-in). A failed sign-in (401) has its own record
/// (`auth.login_failed`), so that one is left out here.
pub async fn record(res: &ServiceResponse<BoxBody>, request_id: Option<&str>) {
    let req = res.request();
    if req.path() == "/api/v1/auth/login" && res.status() == StatusCode::UNAUTHORIZED {
        return;
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return;
    };
    let path = req.path();
    let refusal = Refusal {
        actor: req
            .extensions()
            .get::<AuthenticatedActor>()
            .map(|a| a.0.clone()),
        address: crate::http::client_address(
            req,
            state.settings.trust_proxy,
            state.settings.trusted_proxy_hops,
        ),
        method: cut(req.method().as_str(), 16).to_owned(),
        route: req
            .match_pattern()
            .map_or_else(|| NO_ROUTE.to_owned(), |p| cut(&p, PATH_CHARS).to_owned()),
        path: cut(path, PATH_CHARS).to_owned(),
        path_length: i32::try_from(path.len()).unwrap_or(i32::MAX),
        status: i32::from(res.status().as_u16()),
        request_id: request_id.map(|id| cut(id, 64).to_owned()),
    };
    let written = db::run(&state.pool, move |conn| {
        Ok::<_, db::StoreError>(refusal.write(conn)?)
    })
    .await;
    if let Err(e) = written {
        tracing::error!(error = %e, "could not audit a refused request");
    }
}

impl Refusal {
    fn write(self, conn: &mut DbConnection) -> QueryResult<()> {
        let Some(actor) = &self.actor else {
            return self.count(conn);
        };
        Entry::new(Action::RequestRefused)
            .actor(Some(actor))
            .request(self.request_id.as_deref())
            .details(json!({
                "method": self.method,
                "route": self.route,
                "path": self.path,
                "path_length": self.path_length,
                "status": self.status,
            }))
            .write(conn)
    }

    /// Seals the tallies of the minutes before this one, then counts this
    /// refusal in its (address, minute) tally. Two steps, not one transaction:
    /// the count is a single statement that waits for nothing while it holds
    /// its row, so a sealer (which holds the chain's lock) can never wait on a
    /// writer that waits on it.
    fn count(self, conn: &mut DbConnection) -> QueryResult<()> {
        let now = db::now();
        let minute = minute_of(now);
        seal(conn, Some(minute))?;
        let first_id = db::new_id();
        macro_rules! upsert {
            ($c:expr) => {
                diesel::insert_into(tally::table)
                    .values((
                        tally::address.eq(&self.address),
                        tally::minute.eq(minute),
                        tally::refusals.eq(1i64),
                        tally::first_id.eq(&first_id),
                        tally::first_at.eq(now),
                        tally::request_id.eq(&self.request_id),
                        tally::method.eq(&self.method),
                        tally::route.eq(&self.route),
                        tally::path.eq(&self.path),
                        tally::path_length.eq(self.path_length),
                        tally::status.eq(self.status),
                    ))
                    .on_conflict((tally::address, tally::minute))
                    .do_update()
                    .set(tally::refusals.eq(tally::refusals + 1i64))
                    .execute($c)
            };
        }
        match conn {
            DbConnection::Postgres(c) => upsert!(c)?,
            DbConnection::Sqlite(c) => upsert!(c)?,
        };
        Ok(())
    }
}

type TallyRow = (
    String,
    NaiveDateTime,
    i64,
    String,
    NaiveDateTime,
    Option<String>,
    String,
    String,
    String,
    i32,
    i32,
);

/// Writes the tallies of the minutes before `before` (all of them when `None`)
/// to the audit log, one row each, and removes them from the tally table, in
/// one transaction: each tally reaches the log exactly once.
pub fn seal(conn: &mut DbConnection, before: Option<NaiveDateTime>) -> QueryResult<usize> {
    // Mostly there is nothing to seal: a read, no write lock.
    let mut due = tally::table.select(tally::first_id).into_boxed();
    if let Some(minute) = before {
        due = due.filter(tally::minute.lt(minute));
    }
    if due.first::<String>(conn).optional()?.is_none() {
        return Ok(0);
    }
    db::in_transaction(conn, |conn| {
        let sealed: Vec<TallyRow> = match before {
            Some(minute) => diesel::delete(tally::table.filter(tally::minute.lt(minute)))
                .returning(TALLY_COLUMNS)
                .get_results(conn)?,
            None => diesel::delete(tally::table)
                .returning(TALLY_COLUMNS)
                .get_results(conn)?,
        };
        let mut sealed = sealed;
        // In the order they happened, so that the chain reads like the log.
        sealed.sort_by(|a, b| a.3.cmp(&b.3));
        for (
            address,
            minute,
            refusals,
            first_id,
            first_at,
            request_id,
            method,
            route,
            path,
            path_length,
            status,
        ) in &sealed
        {
            Entry::new(Action::RequestRefused)
                .request(request_id.as_deref())
                .details(json!({
                    "address": address,
                    "minute": minute.and_utc(),
                    "first_id": first_id,
                    "first_at": first_at.and_utc(),
                    "refusals": refusals,
                    "method": method,
                    "route": route,
                    "path": path,
                    "path_length": path_length,
                    "status": status,
                }))
                .write(conn)?;
        }
        Ok(sealed.len())
    })
}

const TALLY_COLUMNS: (
    tally::address,
    tally::minute,
    tally::refusals,
    tally::first_id,
    tally::first_at,
    tally::request_id,
    tally::method,
    tally::route,
    tally::path,
    tally::path_length,
    tally::status,
) = (
    tally::address,
    tally::minute,
    tally::refusals,
    tally::first_id,
    tally::first_at,
    tally::request_id,
    tally::method,
    tally::route,
    tally::path,
    tally::path_length,
    tally::status,
);

/// How many tallies wait to be sealed (for `audit verify`'s summary).
pub fn pending(conn: &mut DbConnection) -> QueryResult<i64> {
    tally::table.count().get_result(conn)
}

fn minute_of(t: NaiveDateTime) -> NaiveDateTime {
    t.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_start_on_the_minute() {
        let t = chrono::DateTime::from_timestamp(1_700_000_059, 999_999_000)
            .unwrap()
            .naive_utc();
        assert_eq!(minute_of(t).and_utc().timestamp(), 1_700_000_040);
    }

    #[test]
    fn long_text_is_cut_on_a_character() {
        assert_eq!(cut("ééé", 2), "éé");
        assert_eq!(cut("ab", 5), "ab");
    }
}
