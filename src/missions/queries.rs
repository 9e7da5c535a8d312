//! The SQL of missions, bases and deployments.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::{Base, Deployment, DeploymentFields, Mission, MissionFields};
use crate::db::schema::{bases, deployments, missions};
use crate::db::{self, DbConnection};
use crate::domain_error::DomainError;
use crate::http::Cursor;

type MissionRow = (
    String,
    String,
    String,
    NaiveDate,
    Option<NaiveDate>,
    NaiveDateTime,
    NaiveDateTime,
);
type BaseRow = (
    String,
    String,
    String,
    f64,
    f64,
    NaiveDateTime,
    NaiveDateTime,
);
type DeploymentRow = (
    String,
    String,
    NaiveDate,
    Option<NaiveDate>,
    i32,
    String,
    NaiveDateTime,
);

fn mission(
    (id, name, country, mandate_start, mandate_end, created_at, updated_at): MissionRow,
) -> Mission {
    Mission {
        id,
        name,
        country,
        mandate_start,
        mandate_end,
        created_at: created_at.and_utc(),
        updated_at: updated_at.and_utc(),
    }
}

fn base((id, mission_id, name, latitude, longitude, created_at, updated_at): BaseRow) -> Base {
    Base {
        id,
        mission_id,
        name,
        latitude,
        longitude,
        created_at: created_at.and_utc(),
        updated_at: updated_at.and_utc(),
    }
}

fn deployment(
    (id, base_id, start_date, end_date, troop_count, contributing_country, created_at): DeploymentRow,
) -> Deployment {
    Deployment {
        id,
        base_id,
        start_date,
        end_date,
        troop_count,
        contributing_country,
        created_at: created_at.and_utc(),
    }
}

const MISSION_COLUMNS: (
    missions::id,
    missions::name,
    missions::country,
    missions::mandate_start,
    missions::mandate_end,
    missions::created_at,
    missions::updated_at,
) = (
    missions::id,
    missions::name,
    missions::country,
    missions::mandate_start,
    missions::mandate_end,
    missions::created_at,
    missions::updated_at,
);

const BASE_COLUMNS: (
    bases::id,
    bases::mission_id,
    bases::name,
    bases::latitude,
    bases::longitude,
    bases::created_at,
    bases::updated_at,
) = (
    bases::id,
    bases::mission_id,
    bases::name,
    bases::latitude,
    bases::longitude,
    bases::created_at,
    bases::updated_at,
);

fn duplicate_mission(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("a mission named {name:?} already exists")
}

pub fn insert_mission(
    conn: &mut DbConnection,
    fields: &MissionFields,
) -> Result<String, DomainError> {
    let id = db::new_id();
    let now = db::now();
    diesel::insert_into(missions::table)
        .values((
            missions::id.eq(&id),
            missions::name.eq(fields.name.as_str()),
            missions::country.eq(fields.country.as_str()),
            missions::mandate_start.eq(fields.mandate_start),
            missions::mandate_end.eq(fields.mandate_end),
            missions::created_at.eq(now),
            missions::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(|e| DomainError::on_duplicate(e, duplicate_mission(fields.name.as_str())))?;
    Ok(id)
}

pub fn update_mission(
    conn: &mut DbConnection,
    id: &str,
    fields: &MissionFields,
) -> Result<(), DomainError> {
    diesel::update(missions::table.find(id))
        .set((
            missions::name.eq(fields.name.as_str()),
            missions::country.eq(fields.country.as_str()),
            missions::mandate_start.eq(fields.mandate_start),
            missions::mandate_end.eq(fields.mandate_end),
            missions::updated_at.eq(db::now()),
        ))
        .execute(conn)
        .map_err(|e| DomainError::on_duplicate(e, duplicate_mission(fields.name.as_str())))?;
    Ok(())
}

pub fn find_mission(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Mission>> {
    missions::table
        .find(id)
        .select(MISSION_COLUMNS)
        .first::<MissionRow>(conn)
        .optional()
        .map(|row| row.map(mission))
}

pub fn list_missions(
    conn: &mut DbConnection,
    after: Option<&Cursor>,
    limit: i64,
) -> QueryResult<Vec<Mission>> {
    let mut query = missions::table
        .select(MISSION_COLUMNS)
        .order(missions::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(cursor) = after {
        query = query.filter(missions::id.gt(cursor.0.clone()));
    }
    Ok(query
        .load::<MissionRow>(conn)?
        .into_iter()
        .map(mission)
        .collect())
}

fn duplicate_base(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("this mission already has a base named {name:?}")
}

pub fn insert_base(
    conn: &mut DbConnection,
    mission_id: &str,
    name: &str,
    lat: f64,
    lon: f64,
) -> Result<String, DomainError> {
    let id = db::new_id();
    let now = db::now();
    diesel::insert_into(bases::table)
        .values((
            bases::id.eq(&id),
            bases::mission_id.eq(mission_id),
            bases::name.eq(name),
            bases::latitude.eq(lat),
            bases::longitude.eq(lon),
            bases::created_at.eq(now),
            bases::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(|e| DomainError::on_duplicate(e, duplicate_base(name)))?;
    Ok(id)
}

pub fn update_base(
    conn: &mut DbConnection,
    id: &str,
    name: &str,
    lat: f64,
    lon: f64,
) -> Result<(), DomainError> {
    diesel::update(bases::table.find(id))
        .set((
            bases::name.eq(name),
            bases::latitude.eq(lat),
            bases::longitude.eq(lon),
            bases::updated_at.eq(db::now()),
        ))
        .execute(conn)
        .map_err(|e| DomainError::on_duplicate(e, duplicate_base(name)))?;
    Ok(())
}

pub fn find_base(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Base>> {
    bases::table
        .find(id)
        .select(BASE_COLUMNS)
        .first::<BaseRow>(conn)
        .optional()
        .map(|row| row.map(base))
}

pub fn list_bases(
    conn: &mut DbConnection,
    mission_id: &str,
    after: Option<&Cursor>,
    limit: i64,
) -> QueryResult<Vec<Base>> {
    let mut query = bases::table
        .filter(bases::mission_id.eq(mission_id.to_owned()))
        .select(BASE_COLUMNS)
        .order(bases::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(cursor) = after {
        query = query.filter(bases::id.gt(cursor.0.clone()));
    }
    Ok(query.load::<BaseRow>(conn)?.into_iter().map(base).collect())
}

/// Every base of a mission, for finding an incident's nearest one.
pub fn all_bases(conn: &mut DbConnection, mission_id: &str) -> QueryResult<Vec<Base>> {
    Ok(bases::table
        .filter(bases::mission_id.eq(mission_id))
        .select(BASE_COLUMNS)
        .order(bases::id.asc())
        .load::<BaseRow>(conn)?
        .into_iter()
        .map(base)
        .collect())
}

/// A mission's bases in one round trip: `None` when no mission has this id.
pub fn bases_of_mission(
    conn: &mut DbConnection,
    mission_id: &str,
) -> QueryResult<Option<Vec<Base>>> {
    let rows = missions::table
        .left_join(bases::table)
        .filter(missions::id.eq(mission_id))
        .select((missions::id, BASE_COLUMNS.nullable()))
        .order(bases::id.asc())
        .load::<(String, Option<BaseRow>)>(conn)?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter().filter_map(|(_, b)| b.map(base)).collect(),
    ))
}

pub fn insert_deployment(
    conn: &mut DbConnection,
    base_id: &str,
    fields: &DeploymentFields,
) -> QueryResult<String> {
    let id = db::new_id();
    diesel::insert_into(deployments::table)
        .values((
            deployments::id.eq(&id),
            deployments::base_id.eq(base_id),
            deployments::start_date.eq(fields.start_date),
            deployments::end_date.eq(fields.end_date),
            deployments::troop_count.eq(fields.troop_count),
            deployments::contributing_country.eq(fields.contributing_country.as_str()),
            deployments::created_at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(id)
}

pub fn update_deployment(
    conn: &mut DbConnection,
    id: &str,
    fields: &DeploymentFields,
) -> QueryResult<()> {
    diesel::update(deployments::table.find(id))
        .set((
            deployments::start_date.eq(fields.start_date),
            deployments::end_date.eq(fields.end_date),
            deployments::troop_count.eq(fields.troop_count),
            deployments::contributing_country.eq(fields.contributing_country.as_str()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Whether a deployment had this id.
pub fn delete_deployment(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    Ok(diesel::delete(deployments::table.find(id)).execute(conn)? == 1)
}

pub fn find_deployment(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Deployment>> {
    deployments::table
        .find(id)
        .first::<DeploymentRow>(conn)
        .optional()
        .map(|row| row.map(deployment))
}

pub fn list_deployments(
    conn: &mut DbConnection,
    base_id: &str,
    after: Option<&Cursor>,
    limit: i64,
) -> QueryResult<Vec<Deployment>> {
    let mut query = deployments::table
        .filter(deployments::base_id.eq(base_id.to_owned()))
        .order(deployments::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(cursor) = after {
        query = query.filter(deployments::id.gt(cursor.0.clone()));
    }
    Ok(query
        .load::<DeploymentRow>(conn)?
        .into_iter()
        .map(deployment)
        .collect())
}
