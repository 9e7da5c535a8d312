//! The SQL of organisations.

use diesel::prelude::*;

use super::OrganisationRow;
use crate::db::schema::{lower, organisations, users};
use crate::db::{self, DbConnection};
use crate::domain::{DisplayName, OrganisationId, OrganisationKind, Role};
use crate::domain_error::DomainError;
use crate::http::Cursor;

pub fn insert(
    conn: &mut DbConnection,
    name: &DisplayName,
    kind: OrganisationKind,
) -> Result<OrganisationRow, DomainError> {
    let row = OrganisationRow {
        id: db::new_id(),
        name: name.as_str().to_owned(),
        kind: kind.as_str().to_owned(),
        created_at: db::now(),
    };
    diesel::insert_into(organisations::table)
        .values((
            organisations::id.eq(&row.id),
            organisations::name.eq(&row.name),
            organisations::kind.eq(&row.kind),
            organisations::created_at.eq(row.created_at),
        ))
        .execute(conn)
        .map_err(|e| DomainError::on_duplicate(e, || duplicate(&row.name)))?;
    Ok(row)
}

fn duplicate(name: &str) -> String {
    format!("an organisation named {name:?} already exists")
}

pub fn update(
    conn: &mut DbConnection,
    id: &OrganisationId,
    name: &DisplayName,
    kind: OrganisationKind,
) -> Result<(), DomainError> {
    diesel::update(organisations::table.find(id.as_str()))
        .set((
            organisations::name.eq(name.as_str()),
            organisations::kind.eq(kind.as_str()),
        ))
        .execute(conn)
        .map_err(|e| DomainError::on_duplicate(e, || duplicate(name.as_str())))?;
    Ok(())
}

/// The roles of the accounts in an organisation, deactivated ones included
/// (they may be reactivated).
pub fn roles_in(conn: &mut DbConnection, id: &OrganisationId) -> Result<Vec<Role>, DomainError> {
    users::table
        .filter(users::organisation_id.eq(id.as_str()))
        .select(users::role)
        .distinct()
        .load::<String>(conn)?
        .iter()
        .map(|role| role.parse().map_err(DomainError::corrupt))
        .collect()
}

pub fn find(conn: &mut DbConnection, id: &OrganisationId) -> QueryResult<Option<OrganisationRow>> {
    organisations::table
        .find(id.as_str())
        .select(OrganisationRow::as_select())
        .first(conn)
        .optional()
}

/// Names are unique regardless of case.
pub fn find_by_name(
    conn: &mut DbConnection,
    name: &DisplayName,
) -> QueryResult<Option<OrganisationRow>> {
    organisations::table
        .filter(lower(organisations::name).eq(name.as_str().to_lowercase()))
        .select(OrganisationRow::as_select())
        .first(conn)
        .optional()
}

pub fn list(
    conn: &mut DbConnection,
    after: Option<&Cursor>,
    limit: i64,
) -> QueryResult<Vec<OrganisationRow>> {
    let mut query = organisations::table
        .select(OrganisationRow::as_select())
        .order(organisations::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(cursor) = after {
        query = query.filter(organisations::id.gt(cursor.0.clone()));
    }
    query.load(conn)
}

/// The organisation with this name, created with `kind` when there is none.
pub fn find_or_create(
    conn: &mut DbConnection,
    name: &DisplayName,
    kind: OrganisationKind,
) -> Result<OrganisationRow, DomainError> {
    match find_by_name(conn, name)? {
        Some(row) => Ok(row),
        None => insert(conn, name, kind),
    }
}
