//! The audit log as a hash chain. Each row written by `Entry::write` (the only
//! writer) carries its place `seq`, the hash of the row before it (`prev_hash`)
//! and its own `hash`: SHA-256 over `prev_hash` and every column of its content.
//! `basewatch audit verify` walks the chain (`super::verify`) and names the
//! first row that was altered, inserted or removed.
//!
//! The chain is unkeyed: anyone may recompute it, so it proves that the rows
//! still form the sequence they were written as *unless* someone recomputed
//! every hash after the change. What the chain cannot prove by itself (rows cut
//! from its end, a rewritten tail) it proves against an anchor: a `seq:hash`
//! printed by `audit verify` and kept outside the database. A keyed chain (HMAC
//! under the data key) was not chosen: every writer would need the key, and old
//! rows would stop verifying once a retired key is removed.
//!
//! Rows written before the chain existed (`seq` NULL) are not covered: the
//! chain starts after them, its first link commits to how many there were and
//! the last one's id, and `audit verify` counts them as unchained.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use sha2::{Digest, Sha256};

use crate::db::DbConnection;
use crate::db::schema::audit_log;

/// Rows with their chain columns, as verified.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct ChainRow {
    pub seq: Option<i64>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
    pub id: String,
    pub at: NaiveDateTime,
    pub actor_id: Option<String>,
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub details: String,
    pub request_id: Option<String>,
}

/// What a hash covers: every column a reader sees.
pub struct Content<'a> {
    pub id: &'a str,
    pub at: NaiveDateTime,
    pub actor_id: Option<&'a str>,
    pub action: &'a str,
    pub entity_type: Option<&'a str>,
    pub entity_id: Option<&'a str>,
    pub details: &'a str,
    pub request_id: Option<&'a str>,
}

impl ChainRow {
    pub fn content(&self) -> Content<'_> {
        Content {
            id: &self.id,
            at: self.at,
            actor_id: self.actor_id.as_deref(),
            action: &self.action,
            entity_type: self.entity_type.as_deref(),
            entity_id: self.entity_id.as_deref(),
            details: &self.details,
            request_id: self.request_id.as_deref(),
        }
    }
}

const DOMAIN: &[u8] = b"basewatch audit chain v1";

/// Every field length-prefixed, absent distinct from empty: no two different
/// rows encode to the same bytes.
fn field(h: &mut Sha256, value: Option<&str>) {
    match value {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
    }
}

/// The hash of a row that follows `prev_hash`.
pub fn hash(prev_hash: &str, c: &Content<'_>) -> String {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    let at = c.at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    for value in [
        Some(prev_hash),
        Some(c.id),
        Some(at.as_str()),
        c.actor_id,
        Some(c.action),
        c.entity_type,
        c.entity_id,
        Some(c.details),
        c.request_id,
    ] {
        field(&mut h, value);
    }
    crate::crypto::to_hex(&h.finalize())
}

/// What the first chained row follows: the rows written before the chain, by
/// number and the last id, so that adding or removing one of them shows.
pub fn genesis(unchained: i64, last_unchained_id: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(b" genesis");
    h.update(unchained.to_be_bytes());
    field(&mut h, last_unchained_id);
    crate::crypto::to_hex(&h.finalize())
}

/// The rows written before the chain: how many, and the last id.
#[derive(QueryableByName)]
pub(super) struct Unchained {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_id: Option<String>,
}

pub(super) fn unchained(conn: &mut DbConnection) -> QueryResult<Unchained> {
    diesel::sql_query("SELECT COUNT(*) AS n, MAX(id) AS last_id FROM audit_log WHERE seq IS NULL")
        .get_result(conn)
}

/// The last chained row's place and hash, or the genesis when there is none.
fn head(conn: &mut DbConnection) -> QueryResult<(i64, String)> {
    let last = audit_log::table
        .filter(audit_log::seq.is_not_null())
        .order(audit_log::seq.desc())
        .select((audit_log::seq, audit_log::hash))
        .first::<(Option<i64>, Option<String>)>(conn)
        .optional()?;
    match last {
        Some((Some(seq), Some(hash))) => Ok((seq, hash)),
        Some(_) => Err(diesel::result::Error::QueryBuilderError(
            "a chained audit row has no hash".into(),
        )),
        None => {
            let before = unchained(conn)?;
            Ok((0, genesis(before.n, before.last_id.as_deref())))
        }
    }
}

/// Any key will do as long as nothing else takes it: "bw-audit".
const LOCK_KEY: i64 = 0x6277_2d61_7564_6974;

/// Waits for this writer's turn: on PostgreSQL the chain's transaction-scoped
/// advisory lock, held until the caller's transaction ends (taking it again in
/// the same transaction is a no-op); on SQLite the write lock every
/// transaction here already holds. The change feed hands out its positions
/// under the same lock (`crate::changes`).
pub fn take_turn(conn: &mut DbConnection) -> QueryResult<()> {
    if let DbConnection::Postgres(_) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({LOCK_KEY})")).execute(conn)?;
    }
    Ok(())
}

/// A chained row as inserted.
#[derive(Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
struct Link<'a> {
    id: &'a str,
    at: NaiveDateTime,
    actor_id: Option<&'a str>,
    action: &'a str,
    entity_type: Option<&'a str>,
    entity_id: Option<&'a str>,
    details: &'a str,
    request_id: Option<&'a str>,
    seq: Option<i64>,
    prev_hash: Option<String>,
    hash: Option<String>,
}

/// Rows per INSERT on SQLite: 11 columns each, under its 32,766 parameters.
const ROWS_PER_INSERT: usize = 2_000;

/// Appends rows at the head of the chain, in order. Writers take turns: on
/// PostgreSQL a transaction-scoped advisory lock, held until the caller's
/// transaction commits, so the head read next is the one the rows follow; on
/// SQLite the write lock (`BEGIN IMMEDIATE`, which every transaction here
/// takes). The head is read once and the rows are linked in memory, so many
/// rows cost one lock, one read and one INSERT. Outside a transaction the rows
/// get one of their own.
pub(super) fn append_many(conn: &mut DbConnection, rows: &[Content<'_>]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    crate::db::in_transaction(conn, |conn| {
        take_turn(conn)?;
        let (mut seq, mut prev_hash) = head(conn)?;
        let links: Vec<Link<'_>> = rows
            .iter()
            .map(|c| {
                let hash = hash(&prev_hash, c);
                seq += 1;
                Link {
                    id: c.id,
                    at: c.at,
                    actor_id: c.actor_id,
                    action: c.action,
                    entity_type: c.entity_type,
                    entity_id: c.entity_id,
                    details: c.details,
                    request_id: c.request_id,
                    seq: Some(seq),
                    prev_hash: Some(std::mem::replace(&mut prev_hash, hash.clone())),
                    hash: Some(hash),
                }
            })
            .collect();
        // The backends' own connections: diesel's connection over both cannot
        // insert many rows in one statement.
        match conn {
            DbConnection::Postgres(c) => {
                diesel::insert_into(audit_log::table)
                    .values(&links)
                    .execute(c)?;
            }
            DbConnection::Sqlite(c) => {
                for chunk in links.chunks(ROWS_PER_INSERT) {
                    diesel::insert_into(audit_log::table)
                        .values(chunk)
                        .execute(c)?;
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content<'a>(details: &'a str) -> Content<'a> {
        Content {
            id: "0190-a",
            at: chrono::DateTime::from_timestamp(1_700_000_000, 123_456_000)
                .unwrap()
                .naive_utc(),
            actor_id: None,
            action: "user.created",
            entity_type: Some("user"),
            entity_id: Some(""),
            details,
            request_id: None,
        }
    }

    #[test]
    fn every_field_and_the_link_change_the_hash() {
        let base = hash("p", &content("{}"));
        assert_eq!(base.len(), 64);
        assert_eq!(base, hash("p", &content("{}")), "deterministic");
        assert_ne!(base, hash("q", &content("{}")));
        assert_ne!(base, hash("p", &content("{ }")));
        let mut absent = content("{}");
        absent.entity_id = None;
        assert_ne!(base, hash("p", &absent), "absent is not empty");
        assert_ne!(genesis(0, None), genesis(1, None));
        assert_ne!(genesis(1, Some("a")), genesis(1, Some("b")));
    }
}
