//! The sign-in throttle: sign-in attempts counted per account and per client
//! address over a sliding window, in the database so that every instance
//! shares it.
//!
//! An attempt is *reserved* before its password is looked at: one transaction,
//! serialised per account and per address (PostgreSQL advisory locks, SQLite's
//! `BEGIN IMMEDIATE`), counts the attempts in the window and records this one.
//! So however many requests arrive at once, at most the limit are ever
//! evaluated. A reservation stays counted as a failure unless it succeeds:
//! - a failure keeps it (it *is* a failed sign-in);
//! - a success that overlapped no other attempt on the account clears the
//!   account's earlier failures and itself: the counter starts again;
//! - a success that overlapped other attempts (a burst: people do not sign in
//!   in parallel with themselves, scripts that guess do) keeps its slot too, so
//!   a burst is bounded by the limit even when it carries the right password.
//!
//! The check runs the same way whether the account exists or not, so a 429
//! tells nothing about the account.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::config::LoginThrottle;
use crate::db::StoreError;
use crate::db::schema::login_failures;
use crate::db::{self, DbConnection};

/// An attempt still in flight after this long was abandoned (the request died);
/// it counts as a failure and no longer makes later attempts a burst.
const IN_FLIGHT_GRACE: chrono::Duration = chrono::Duration::seconds(60);

/// How the throttle keys an account: the address as typed, trimmed and lower-cased,
/// so that variants of one address share a counter (and unknown ones count too).
pub fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A reserved attempt: the password may now be checked.
#[derive(Debug)]
pub struct Ticket {
    id: String,
    at: NaiveDateTime,
    account: String,
    /// Other attempts on the account were in flight when this one was reserved.
    burst: bool,
}

/// Reserves an attempt, or says how long to wait. Must run inside a transaction
/// (`db::in_transaction`), which the locks below last for.
pub fn reserve(
    conn: &mut DbConnection,
    limits: &LoginThrottle,
    account: &str,
    address: &str,
) -> Result<Result<Ticket, Duration>, StoreError> {
    lock(conn, 1, account)?;
    lock(conn, 2, address)?;
    if let Some(wait) = check(conn, limits, account, address)? {
        return Ok(Err(wait));
    }
    let now = db::now();
    diesel::delete(login_failures::table.filter(login_failures::at.le(now - window(limits))))
        .execute(conn)?;
    let in_flight: i64 = login_failures::table
        .filter(login_failures::email.eq(account))
        .filter(login_failures::in_flight.eq(true))
        .filter(login_failures::at.gt(now - IN_FLIGHT_GRACE))
        .count()
        .get_result(conn)?;
    let id = db::new_id();
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::id.eq(&id),
            login_failures::at.eq(now),
            login_failures::email.eq(account),
            login_failures::address.eq(address),
            login_failures::in_flight.eq(true),
        ))
        .execute(conn)?;
    Ok(Ok(Ticket {
        id,
        at: now,
        account: account.to_owned(),
        burst: in_flight > 0,
    }))
}

/// The attempt failed: its reservation stays, as a failure, for the window.
pub fn settle_failure(conn: &mut DbConnection, ticket: &Ticket) -> QueryResult<()> {
    diesel::update(login_failures::table.find(&ticket.id))
        .set(login_failures::in_flight.eq(false))
        .execute(conn)?;
    Ok(())
}

/// The attempt succeeded. Alone, it clears the account's earlier failures and
/// itself; within a burst it keeps its slot (see the module documentation).
/// Must run inside a transaction.
pub fn settle_success(conn: &mut DbConnection, ticket: &Ticket) -> Result<(), StoreError> {
    lock(conn, 1, &ticket.account)?;
    let later: i64 = login_failures::table
        .filter(login_failures::email.eq(&ticket.account))
        .filter(login_failures::at.ge(ticket.at))
        .filter(login_failures::id.ne(&ticket.id))
        .count()
        .get_result(conn)?;
    if ticket.burst || later > 0 {
        settle_failure(conn, ticket)?;
    } else {
        diesel::delete(
            login_failures::table
                .filter(login_failures::email.eq(&ticket.account))
                .filter(login_failures::at.le(ticket.at)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Serialises reservations per key on PostgreSQL until the transaction ends
/// (namespace 1: accounts, 2: addresses; always taken in that order). SQLite's
/// `BEGIN IMMEDIATE` already serialises every writing transaction.
fn lock(conn: &mut DbConnection, namespace: i32, key: &str) -> QueryResult<()> {
    if let DbConnection::Postgres(pg) = conn {
        let digest = Sha256::digest(key.as_bytes());
        let hash = i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<diesel::sql_types::Integer, _>(namespace)
            .bind::<diesel::sql_types::Integer, _>(hash)
            .execute(pg)?;
    }
    Ok(())
}

/// `Some(wait)` while the account or the address has used up its attempts.
fn check(
    conn: &mut DbConnection,
    limits: &LoginThrottle,
    account: &str,
    address: &str,
) -> QueryResult<Option<Duration>> {
    let now = db::now();
    let since = now - window(limits);
    // The time of the n-th latest attempt in the window, when there are n.
    macro_rules! nth_latest {
        ($column:expr, $key:expr, $n:expr) => {
            login_failures::table
                .filter($column.eq($key))
                .filter(login_failures::at.gt(since))
                .order(login_failures::at.desc())
                .select(login_failures::at)
                .offset(i64::from($n) - 1)
                .first::<NaiveDateTime>(conn)
                .optional()?
        };
    }
    let by_account = nth_latest!(login_failures::email, account, limits.per_account);
    let by_address = nth_latest!(login_failures::address, address, limits.per_address);
    // The count falls under the limit when the limit-th latest attempt leaves the window.
    Ok([by_account, by_address]
        .into_iter()
        .flatten()
        .map(|at| {
            let expires = at + window(limits);
            let wait = (expires - now).num_milliseconds().max(0) as u64;
            Duration::from_secs(wait.div_ceil(1000).max(1))
        })
        .max())
}

fn window(limits: &LoginThrottle) -> chrono::Duration {
    chrono::Duration::from_std(limits.window).unwrap_or(chrono::Duration::minutes(15))
}
