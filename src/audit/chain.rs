//! The audit log as a hash chain. Each row written by `Entry::write` (the only
//! writer) carries its place `seq`, the hash of the row before it (`prev_hash`)
//! and its own `hash`: SHA-256 over `prev_hash` and every column of its content.
//! `basewatch audit verify` walks the chain and names the first row that was
//! altered, inserted or removed.
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

use std::collections::VecDeque;

use chrono::NaiveDateTime;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    hex(&h.finalize())
}

/// What the first chained row follows: the rows written before the chain, by
/// number and the last id, so that adding or removing one of them shows.
pub fn genesis(unchained: i64, last_unchained_id: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(b" genesis");
    h.update(unchained.to_be_bytes());
    field(&mut h, last_unchained_id);
    hex(&h.finalize())
}

#[derive(QueryableByName)]
struct Unchained {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<Text>)]
    last_id: Option<String>,
}

fn unchained(conn: &mut DbConnection) -> QueryResult<Unchained> {
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

/// Appends one row at the head of the chain. Writers take turns: on PostgreSQL
/// a transaction-scoped advisory lock, held until the caller's transaction
/// commits, so the head read next is the one the row follows; on SQLite the
/// write lock (`BEGIN IMMEDIATE`, which every transaction here takes). Outside
/// a transaction the row gets one of its own.
pub(super) fn append(conn: &mut DbConnection, c: &Content<'_>) -> QueryResult<()> {
    in_write_transaction(conn, |conn| {
        if let DbConnection::Postgres(_) = conn {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({LOCK_KEY})")).execute(conn)?;
        }
        let (seq, prev_hash) = head(conn)?;
        let hash = hash(&prev_hash, c);
        diesel::insert_into(audit_log::table)
            .values((
                audit_log::id.eq(c.id),
                audit_log::at.eq(c.at),
                audit_log::actor_id.eq(c.actor_id),
                audit_log::action.eq(c.action),
                audit_log::entity_type.eq(c.entity_type),
                audit_log::entity_id.eq(c.entity_id),
                audit_log::details.eq(c.details),
                audit_log::request_id.eq(c.request_id),
                audit_log::seq.eq(seq + 1),
                audit_log::prev_hash.eq(&prev_hash),
                audit_log::hash.eq(&hash),
            ))
            .execute(conn)
            .map(|_| ())
    })
}

/// Runs `work` in the caller's transaction, or in one of its own (on SQLite
/// `BEGIN IMMEDIATE`, so that reading the head and writing after it cannot be
/// split by another writer).
pub(super) fn in_write_transaction<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    type Manager = <DbConnection as Connection>::TransactionManager;
    if Manager::transaction_manager_status_mut(conn)
        .transaction_depth()?
        .is_some()
    {
        return work(conn);
    }
    match conn {
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?
        }
        DbConnection::Postgres(_) => Manager::begin_transaction(conn)?,
    }
    match work(conn) {
        Ok(value) => match Manager::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = Manager::rollback_transaction(conn);
                Err(e)
            }
        },
        Err(e) => {
            let _ = Manager::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// The first thing wrong with the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The row's content or hash no longer match: edited after it was written
    /// (or written with a forged hash).
    Altered { seq: i64, id: String },
    /// A row that was not written by the chain's writer: it follows the row
    /// before it, but the next row follows that one directly; or it carries no
    /// chain columns although written after the chain began.
    Inserted { seq: Option<i64>, id: String },
    /// Rows are missing before this one (`from..=to` by place, when known).
    Missing {
        from: i64,
        to: i64,
        before_seq: i64,
        before_id: String,
    },
    /// The first chained row does not follow the unchained rows now in the
    /// log: one of those was added or removed.
    UnchainedChanged { unchained: i64, first_id: String },
    /// The anchored row is gone or differs from the anchor.
    AnchorMismatch { seq: i64, found: Option<String> },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Altered { seq, id } => write!(
                f,
                "row seq {seq} (id {id}) was altered: its content no longer matches its hash"
            ),
            Finding::Inserted { seq: Some(seq), id } => write!(
                f,
                "row seq {seq} (id {id}) was inserted: the row after it follows the row before it"
            ),
            Finding::Inserted { seq: None, id } => write!(
                f,
                "row id {id} was inserted: it carries no chain columns but was written after the chain began"
            ),
            Finding::Missing {
                from,
                to,
                before_seq,
                before_id,
            } => {
                if from == to {
                    write!(f, "row seq {from} is missing")?;
                } else {
                    write!(f, "rows seq {from} to {to} are missing")?;
                }
                write!(f, " (just before row seq {before_seq}, id {before_id})")
            }
            Finding::UnchainedChanged {
                unchained,
                first_id,
            } => write!(
                f,
                "the {unchained} unchained rows written before the chain are not those the chain \
                 began after (its first row is id {first_id}): one was added or removed"
            ),
            Finding::AnchorMismatch { seq, found: None } => write!(
                f,
                "the anchored row seq {seq} is missing: rows were cut from the end of the log"
            ),
            Finding::AnchorMismatch {
                seq,
                found: Some(hash),
            } => write!(
                f,
                "row seq {seq} hashes to {hash}, not to the anchor: the log was rewritten up to it"
            ),
        }
    }
}

/// An intact chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub chained: i64,
    pub unchained: i64,
    /// `(seq, hash)` of the last row: the anchor to keep elsewhere.
    pub head: Option<(i64, String)>,
}

/// Reads the chain a page at a time (a log of millions of rows never sits in memory).
struct Walk<'c> {
    conn: &'c mut DbConnection,
    after: i64,
    buffer: VecDeque<ChainRow>,
    done: bool,
}

const PAGE: i64 = 5_000;

impl Walk<'_> {
    fn fill(&mut self) -> QueryResult<()> {
        if self.buffer.is_empty() && !self.done {
            let page: Vec<ChainRow> = audit_log::table
                .filter(audit_log::seq.gt(self.after))
                .order(audit_log::seq.asc())
                .limit(PAGE)
                .select(ChainRow::as_select())
                .load(self.conn)?;
            self.done = (page.len() as i64) < PAGE;
            if let Some(last) = page.last() {
                self.after = last.seq.unwrap_or(self.after);
            }
            self.buffer.extend(page);
        }
        Ok(())
    }

    fn next(&mut self) -> QueryResult<Option<ChainRow>> {
        self.fill()?;
        Ok(self.buffer.pop_front())
    }

    fn peek(&mut self) -> QueryResult<Option<&ChainRow>> {
        self.fill()?;
        Ok(self.buffer.front())
    }
}

/// Walks the whole chain (and checks `anchor`, a `(seq, hash)` kept elsewhere).
pub fn verify(
    conn: &mut DbConnection,
    anchor: Option<(i64, &str)>,
) -> QueryResult<Result<Summary, Finding>> {
    let before = unchained(conn)?;
    // Unchained rows are only those from before the chain: any newer one was slipped in.
    let first_chained_id: Option<String> = audit_log::table
        .filter(audit_log::seq.is_not_null())
        .select(diesel::dsl::min(audit_log::id))
        .first(conn)?;
    if let Some(first) = &first_chained_id {
        let slipped: Option<String> = audit_log::table
            .filter(audit_log::seq.is_null())
            .filter(audit_log::id.gt(first))
            .select(audit_log::id)
            .order(audit_log::id.asc())
            .first(conn)
            .optional()?;
        if let Some(id) = slipped {
            return Ok(Err(Finding::Inserted { seq: None, id }));
        }
    }

    let mut walk = Walk {
        conn,
        after: i64::MIN,
        buffer: VecDeque::new(),
        done: false,
    };
    // The last two good rows: (seq, hash); the first is the genesis.
    let mut previous: (i64, String) = (0, genesis(before.n, before.last_id.as_deref()));
    let mut before_previous: Option<(i64, String)> = None;
    let mut chained = 0i64;
    while let Some(row) = walk.next()? {
        let (Some(seq), Some(prev_hash), Some(stored)) = (row.seq, &row.prev_hash, &row.hash)
        else {
            return Ok(Err(Finding::Altered {
                seq: row.seq.unwrap_or_default(),
                id: row.id,
            }));
        };
        if seq != previous.0 + 1 && prev_hash != &previous.1 {
            return Ok(Err(Finding::Missing {
                from: previous.0 + 1,
                to: seq - 1,
                before_seq: seq,
                before_id: row.id,
            }));
        }
        if &hash(prev_hash, &row.content()) != stored {
            return Ok(Err(Finding::Altered { seq, id: row.id }));
        }
        if prev_hash != &previous.1 {
            // Not the row it says it follows. Which one is the stranger?
            if let Some((_, older)) = &before_previous
                && prev_hash == older
            {
                let id = previous_id(walk.conn, previous.0)?;
                return Ok(Err(Finding::Inserted {
                    seq: Some(previous.0),
                    id,
                }));
            }
            if let Some(next) = walk.peek()?
                && next.prev_hash.as_deref() == Some(previous.1.as_str())
            {
                return Ok(Err(Finding::Inserted {
                    seq: Some(seq),
                    id: row.id,
                }));
            }
            if previous.0 == 0 {
                return Ok(Err(Finding::UnchainedChanged {
                    unchained: before.n,
                    first_id: row.id,
                }));
            }
            return Ok(Err(Finding::Missing {
                from: previous.0 + 1,
                to: seq - 1,
                before_seq: seq,
                before_id: row.id,
            }));
        }
        chained += 1;
        before_previous = Some(std::mem::replace(&mut previous, (seq, stored.clone())));
    }
    if let Some((anchor_seq, anchor_hash)) = anchor {
        let found: Option<Option<String>> = audit_log::table
            .filter(audit_log::seq.eq(anchor_seq))
            .select(audit_log::hash)
            .first(walk.conn)
            .optional()?;
        match found {
            Some(Some(hash)) if hash == anchor_hash => {}
            other => {
                return Ok(Err(Finding::AnchorMismatch {
                    seq: anchor_seq,
                    found: other.flatten(),
                }));
            }
        }
    }
    Ok(Ok(Summary {
        chained,
        unchained: before.n,
        head: (previous.0 > 0).then_some(previous),
    }))
}

fn previous_id(conn: &mut DbConnection, seq: i64) -> QueryResult<String> {
    audit_log::table
        .filter(audit_log::seq.eq(seq))
        .select(audit_log::id)
        .first(conn)
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
