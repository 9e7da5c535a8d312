//! The SQL of users.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{NewUser, UserRow};
use crate::db::schema::{organisations, refresh_tokens, users};
use crate::db::{self, DbConnection};
use crate::domain::{Email, OrganisationId, Role, UserId};
use crate::domain_error::DomainError;
use crate::http::Cursor;

/// The `users.kind` of a person's account; service accounts (`service_accounts`)
/// have their own routes and never sign in with a password.
pub const PERSON: &str = "person";

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    id: &'a str,
    organisation_id: &'a str,
    email: &'a str,
    name: &'a str,
    role: &'a str,
    password_hash: &'a str,
    active: bool,
    password_changed_at: NaiveDateTime,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

pub fn insert(
    conn: &mut DbConnection,
    user: &NewUser,
    password_hash: &str,
) -> Result<UserId, DomainError> {
    let id = db::new_id();
    let now = db::now();
    let row = NewUserRow {
        id: &id,
        organisation_id: user.organisation_id.as_str(),
        email: user.email.as_str(),
        name: user.name.as_str(),
        role: user.role.as_str(),
        password_hash,
        active: true,
        password_changed_at: now,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(users::table)
        .values(&row)
        .execute(conn)
        .map_err(|e| match e {
            e if is_unique_violation(&e) => DomainError::Conflict(format!(
                "a user with the email {} already exists",
                user.email.as_str()
            )),
            e => unknown_organisation(e),
        })?;
    Ok(UserId::from_db(id))
}

/// A user with their organisation's name.
pub fn find(conn: &mut DbConnection, id: &UserId) -> QueryResult<Option<(UserRow, String)>> {
    users::table
        .inner_join(organisations::table)
        .filter(users::id.eq(id.as_str()))
        .filter(users::kind.eq(PERSON))
        .select((UserRow::as_select(), organisations::name))
        .first(conn)
        .optional()
}

/// Who an access token speaks for, in one round trip: the user, if they are
/// active, still at the token's generation, and the token's sign-in (`sid`,
/// its refresh token family) has not been revoked.
pub fn find_for_token(
    conn: &mut DbConnection,
    id: &UserId,
    sid: &str,
    generation: i64,
) -> QueryResult<Option<(String, String, String)>> {
    let live_sign_in = refresh_tokens::table
        .filter(refresh_tokens::family_id.eq(sid))
        .filter(refresh_tokens::user_id.eq(id.as_str()))
        .filter(refresh_tokens::revoked_at.is_null());
    users::table
        .filter(users::id.eq(id.as_str()))
        .filter(users::active.eq(true))
        .filter(users::token_generation.eq(generation))
        .filter(diesel::dsl::exists(live_sign_in))
        .select((users::id, users::role, users::organisation_id))
        .first(conn)
        .optional()
}

/// Takes the user's row lock and confirms the account is still active at
/// `generation`. Every transaction that starts or ends sign-ins touches the user
/// row first, so a sign-in racing a password reset either ends before the reset
/// (and is revoked by it) or sees the new generation (and is refused).
pub fn hold_if_current(conn: &mut DbConnection, id: &UserId, generation: i64) -> QueryResult<bool> {
    diesel::update(
        users::table
            .filter(users::id.eq(id.as_str()))
            .filter(users::active.eq(true))
            .filter(users::token_generation.eq(generation)),
    )
    .set(users::token_generation.eq(users::token_generation))
    .execute(conn)
    .map(|n| n == 1)
}

/// Any key will do as long as nothing else takes it: "bw-users".
const ADMINISTRATION_LOCK_KEY: i64 = 0x6277_2d75_7365_7273;

/// Serialises changes to accounts and confirms, once that turn is held, that the
/// acting admin still is an active admin. Two admins demoting or deactivating
/// each other at once were both authorised on the role they had when their
/// requests arrived and both succeeded, leaving neither an admin, an outcome
/// no order of the two requests gives. Now the second one sees the first and is
/// refused. PostgreSQL: a transaction-scoped advisory lock (row locks on the
/// two rows would deadlock, each admin holding their own); SQLite's
/// `BEGIN IMMEDIATE` serialises every writing transaction already.
pub fn hold_admin(conn: &mut DbConnection, admin: &UserId) -> QueryResult<bool> {
    if let DbConnection::Postgres(_) = conn {
        diesel::sql_query(format!(
            "SELECT pg_advisory_xact_lock({ADMINISTRATION_LOCK_KEY})"
        ))
        .execute(conn)?;
    }
    let admins: i64 = users::table
        .filter(users::id.eq(admin.as_str()))
        .filter(users::active.eq(true))
        .filter(users::role.eq(Role::Admin.as_str()))
        .count()
        .get_result(conn)?;
    Ok(admins == 1)
}

/// Ends every access token of a user issued so far; returns the new generation.
pub fn bump_generation(conn: &mut DbConnection, id: &UserId) -> QueryResult<i64> {
    diesel::update(users::table.filter(users::id.eq(id.as_str())))
        .set(users::token_generation.eq(users::token_generation + 1))
        .execute(conn)?;
    users::table
        .filter(users::id.eq(id.as_str()))
        .select(users::token_generation)
        .first(conn)
}

pub fn find_by_email(conn: &mut DbConnection, email: &Email) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email.as_str()))
        .filter(users::kind.eq(PERSON))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

#[derive(Debug, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub organisation_id: Option<OrganisationId>,
    pub active: Option<bool>,
}

/// Users in creation order (ids are time-ordered UUIDv7), `limit + 1` rows at most.
pub fn list(
    conn: &mut DbConnection,
    filter: &UserFilter,
    after: Option<&Cursor>,
    limit: i64,
) -> QueryResult<Vec<(UserRow, String)>> {
    let mut query = users::table
        .inner_join(organisations::table)
        .filter(users::kind.eq(PERSON))
        .select((UserRow::as_select(), organisations::name))
        .order(users::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(role) = filter.role {
        query = query.filter(users::role.eq(role.as_str()));
    }
    if let Some(org) = &filter.organisation_id {
        query = query.filter(users::organisation_id.eq(org.as_str().to_owned()));
    }
    if let Some(active) = filter.active {
        query = query.filter(users::active.eq(active));
    }
    if let Some(cursor) = after {
        query = query.filter(users::id.gt(cursor.0.clone()));
    }
    query.load(conn)
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
pub struct UserChangeset {
    pub name: Option<String>,
    pub role: Option<String>,
    pub active: Option<bool>,
    pub organisation_id: Option<String>,
    pub password_hash: Option<String>,
    pub password_changed_at: Option<NaiveDateTime>,
    pub updated_at: Option<NaiveDateTime>,
}

/// Applies a change; returns whether the user exists.
pub fn update(
    conn: &mut DbConnection,
    id: &UserId,
    changes: &UserChangeset,
) -> Result<bool, DomainError> {
    diesel::update(users::table.filter(users::id.eq(id.as_str())))
        .set(changes)
        .execute(conn)
        .map(|n| n == 1)
        .map_err(unknown_organisation)
}

fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// The only foreign key a user row has is its organisation.
fn unknown_organisation(e: diesel::result::Error) -> DomainError {
    match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        ) => DomainError::invalid("organisation_id", "no organisation has this id"),
        other => other.into(),
    }
}
