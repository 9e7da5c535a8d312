//! The sign-in throttle: failed sign-ins counted per account and per client
//! address over a sliding window, in the database so that every instance
//! shares it.
//!
//! The check runs before the password is looked at, and the same way whether
//! the account exists or not, so a 429 tells nothing about the account.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::config::LoginThrottle;
use crate::db::schema::login_failures;
use crate::db::{self, DbConnection};

/// How the throttle keys an account: the address as typed, trimmed and lower-cased,
/// so that variants of one address share a counter (and unknown ones count too).
pub fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// `Some(wait)` while the account or the address has used up its failures.
pub fn check(
    conn: &mut DbConnection,
    limits: &LoginThrottle,
    account: &str,
    address: &str,
) -> QueryResult<Option<Duration>> {
    let now = db::now();
    let since = now - window(limits);
    // The time of the n-th latest failure in the window, when there are n.
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
    // The count falls under the limit when the limit-th latest failure leaves the window.
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

/// Records a failure, and forgets failures older than the window.
pub fn record_failure(
    conn: &mut DbConnection,
    limits: &LoginThrottle,
    account: &str,
    address: &str,
) -> QueryResult<()> {
    let now = db::now();
    diesel::delete(login_failures::table.filter(login_failures::at.le(now - window(limits))))
        .execute(conn)?;
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::id.eq(db::new_id()),
            login_failures::at.eq(now),
            login_failures::email.eq(account),
            login_failures::address.eq(address),
        ))
        .execute(conn)?;
    Ok(())
}

/// A successful sign-in clears the account's failures (not the address's).
pub fn clear_account(conn: &mut DbConnection, account: &str) -> QueryResult<()> {
    diesel::delete(login_failures::table.filter(login_failures::email.eq(account)))
        .execute(conn)?;
    Ok(())
}

fn window(limits: &LoginThrottle) -> chrono::Duration {
    chrono::Duration::from_std(limits.window).unwrap_or(chrono::Duration::minutes(15))
}
