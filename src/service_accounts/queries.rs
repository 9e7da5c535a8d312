//! The SQL of service accounts and their secrets.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{organisations, service_account_secrets, service_accounts, users};
use crate::db::{self, DbConnection};
use crate::domain::{OrganisationId, Role};
use crate::http::Cursor;

/// The `users.kind` of a service account.
pub const KIND: &str = "service";
/// Matches no password: not a PHC string, so `password::verify` refuses it
/// even if a service account ever reached a password check.
const NO_PASSWORD: &str = "!service-account: signs in with a client secret";

#[derive(Debug, Clone, Queryable)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub organisation_id: String,
    pub organisation_name: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub token_generation: i64,
    pub scopes: String,
    pub last_used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = service_account_secrets)]
pub struct SecretRow {
    pub id: String,
    pub account_id: String,
    pub secret_hash: String,
    pub hint: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

macro_rules! account_columns {
    () => {
        (
            users::id,
            users::name,
            users::role,
            users::organisation_id,
            organisations::name,
            users::active,
            users::created_at,
            users::updated_at,
            users::token_generation,
            service_accounts::scopes,
            service_accounts::last_used_at,
        )
    };
}

/// A new service account, validated.
pub struct NewAccount<'a> {
    pub name: &'a str,
    pub role: Role,
    pub organisation_id: &'a OrganisationId,
    /// Space-separated, as `scopes::join` makes them.
    pub scopes: &'a str,
    pub created_by: &'a str,
}

/// A new service account's identity row in `users`, its account row and its
/// first secret (hash and hint); returns the account id and the secret's id.
pub fn insert(
    conn: &mut DbConnection,
    account: &NewAccount<'_>,
    secret_hash: &str,
    hint: &str,
) -> QueryResult<(String, String)> {
    let id = db::new_id();
    let now = db::now();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&id),
            users::organisation_id.eq(account.organisation_id.as_str()),
            // Unique like every account's, and in a reserved domain (RFC 2606)
            // that no person's address can be.
            users::email.eq(format!("{id}@service-accounts.invalid")),
            users::name.eq(account.name),
            users::role.eq(account.role.as_str()),
            users::password_hash.eq(NO_PASSWORD),
            users::active.eq(true),
            users::password_changed_at.eq(now),
            users::created_at.eq(now),
            users::updated_at.eq(now),
            users::kind.eq(KIND),
        ))
        .execute(conn)?;
    diesel::insert_into(service_accounts::table)
        .values((
            service_accounts::id.eq(&id),
            service_accounts::scopes.eq(account.scopes),
            service_accounts::created_by.eq(account.created_by),
        ))
        .execute(conn)?;
    let secret_id = insert_secret(conn, &id, secret_hash, hint)?;
    Ok((id, secret_id))
}

fn insert_secret(
    conn: &mut DbConnection,
    account_id: &str,
    secret_hash: &str,
    hint: &str,
) -> QueryResult<String> {
    let id = db::new_id();
    diesel::insert_into(service_account_secrets::table)
        .values((
            service_account_secrets::id.eq(&id),
            service_account_secrets::account_id.eq(account_id),
            service_account_secrets::secret_hash.eq(secret_hash),
            service_account_secrets::hint.eq(hint),
            service_account_secrets::created_at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(id)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<AccountRow>> {
    service_accounts::table
        .inner_join(users::table)
        .inner_join(organisations::table.on(organisations::id.eq(users::organisation_id)))
        .filter(service_accounts::id.eq(id))
        .select(account_columns!())
        .first(conn)
        .optional()
}

/// Accounts in creation order, `limit + 1` rows at most.
pub fn list(
    conn: &mut DbConnection,
    after: Option<&Cursor>,
    limit: i64,
) -> QueryResult<Vec<AccountRow>> {
    let mut query = service_accounts::table
        .inner_join(users::table)
        .inner_join(organisations::table.on(organisations::id.eq(users::organisation_id)))
        .select(account_columns!())
        .order(service_accounts::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(cursor) = after {
        query = query.filter(service_accounts::id.gt(cursor.0.clone()));
    }
    query.load(conn)
}

/// The live (unrevoked) secrets of the given accounts, oldest first.
pub fn live_secrets(conn: &mut DbConnection, accounts: &[String]) -> QueryResult<Vec<SecretRow>> {
    service_account_secrets::table
        .filter(service_account_secrets::account_id.eq_any(accounts))
        .filter(service_account_secrets::revoked_at.is_null())
        .order(service_account_secrets::id.asc())
        .select(SecretRow::as_select())
        .load(conn)
}

/// Takes the account's row lock (PostgreSQL) so that concurrent secret
/// changes of one account run one after the other; false if there is no such account.
fn hold(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::update(service_accounts::table.find(id))
        .set(service_accounts::scopes.eq(service_accounts::scopes))
        .execute(conn)
        .map(|n| n == 1)
}

pub enum SecretAdded {
    Added(String),
    NoSuchAccount,
    TooMany,
}

/// Adds a secret unless the account already has `max` live ones. Must run in a transaction.
pub fn add_secret(
    conn: &mut DbConnection,
    account_id: &str,
    secret_hash: &str,
    hint: &str,
    max: i64,
) -> QueryResult<SecretAdded> {
    if !hold(conn, account_id)? {
        return Ok(SecretAdded::NoSuchAccount);
    }
    let live: i64 = service_account_secrets::table
        .filter(service_account_secrets::account_id.eq(account_id))
        .filter(service_account_secrets::revoked_at.is_null())
        .count()
        .get_result(conn)?;
    if live >= max {
        return Ok(SecretAdded::TooMany);
    }
    insert_secret(conn, account_id, secret_hash, hint).map(SecretAdded::Added)
}

/// Revokes one live secret of the account; false if it has no such live secret.
pub fn revoke_secret(
    conn: &mut DbConnection,
    account_id: &str,
    secret_id: &str,
) -> QueryResult<bool> {
    diesel::update(
        service_account_secrets::table
            .filter(service_account_secrets::id.eq(secret_id))
            .filter(service_account_secrets::account_id.eq(account_id))
            .filter(service_account_secrets::revoked_at.is_null()),
    )
    .set(service_account_secrets::revoked_at.eq(db::now()))
    .execute(conn)
    .map(|n| n == 1)
}

/// Revokes every live secret of the account; returns how many.
pub fn revoke_all_secrets(conn: &mut DbConnection, account_id: &str) -> QueryResult<usize> {
    diesel::update(
        service_account_secrets::table
            .filter(service_account_secrets::account_id.eq(account_id))
            .filter(service_account_secrets::revoked_at.is_null()),
    )
    .set(service_account_secrets::revoked_at.eq(db::now()))
    .execute(conn)
}

pub fn set_scopes(conn: &mut DbConnection, id: &str, scopes: &str) -> QueryResult<()> {
    diesel::update(service_accounts::table.find(id))
        .set(service_accounts::scopes.eq(scopes))
        .execute(conn)?;
    Ok(())
}

/// Name and active flag live on the identity row; deactivating also bumps the
/// token generation, so a reactivation does not revive old tokens.
pub fn update_identity(
    conn: &mut DbConnection,
    id: &str,
    name: Option<&str>,
    active: Option<bool>,
) -> QueryResult<()> {
    let now = db::now();
    if let Some(name) = name {
        diesel::update(users::table.find(id))
            .set((users::name.eq(name), users::updated_at.eq(now)))
            .execute(conn)?;
    }
    if let Some(active) = active {
        diesel::update(users::table.find(id))
            .set((users::active.eq(active), users::updated_at.eq(now)))
            .execute(conn)?;
        if !active {
            diesel::update(users::table.find(id))
                .set(users::token_generation.eq(users::token_generation + 1))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// A token was issued under this secret: both it and the account were used now.
pub fn touch(conn: &mut DbConnection, account_id: &str, secret_id: &str) -> QueryResult<()> {
    let now = db::now();
    diesel::update(service_accounts::table.find(account_id))
        .set(service_accounts::last_used_at.eq(now))
        .execute(conn)?;
    diesel::update(service_account_secrets::table.find(secret_id))
        .set(service_account_secrets::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// What a service account's token speaks for, in one round trip: the account
/// if it is active at the token's generation and the secret the token was
/// issued under is still live. Returns role, organisation and current scopes.
pub fn find_for_token(
    conn: &mut DbConnection,
    id: &str,
    secret_id: &str,
    generation: i64,
) -> QueryResult<Option<(String, String, String, String)>> {
    let live_secret = service_account_secrets::table
        .filter(service_account_secrets::id.eq(secret_id))
        .filter(service_account_secrets::account_id.eq(id))
        .filter(service_account_secrets::revoked_at.is_null());
    service_accounts::table
        .inner_join(users::table)
        .filter(users::id.eq(id))
        .filter(users::kind.eq(KIND))
        .filter(users::active.eq(true))
        .filter(users::token_generation.eq(generation))
        .filter(diesel::dsl::exists(live_secret))
        .select((
            users::id,
            users::role,
            users::organisation_id,
            service_accounts::scopes,
        ))
        .first(conn)
        .optional()
}
