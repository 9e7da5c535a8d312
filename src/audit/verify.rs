//! `basewatch audit verify`: walks the hash chain (`super::chain`) from its
//! first row and names the first one that was altered, inserted or removed.

use std::collections::VecDeque;

use diesel::prelude::*;

use super::chain::{ChainRow, genesis, hash, unchained};
use crate::db::DbConnection;
use crate::db::schema::audit_log;

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
    /// Several rows claim the same place, so that a walk by place passes one by.
    SharedPlace { seq: i64, id: String },
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
            Finding::SharedPlace { seq, id } => write!(
                f,
                "row id {id} was inserted: it shares place seq {seq} with another row"
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
    // The anchor is checked on the row the walk reached at that place, never
    // looked up apart from it: a row the walk does not link (a decoy carrying
    // the anchored hash beside a rewritten chain) must not satisfy it.
    let mut anchored: Option<String> = None;
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
        if anchor.is_some_and(|(anchor_seq, _)| anchor_seq == seq) && anchored.is_none() {
            anchored = Some(stored.clone());
        }
        before_previous = Some(std::mem::replace(&mut previous, (seq, stored.clone())));
    }
    // Every chained row must have been walked: rows sharing a place (the
    // unique index dropped on a copy) would otherwise hide one from the walk.
    let stored_chained: i64 = audit_log::table
        .filter(audit_log::seq.is_not_null())
        .count()
        .get_result(walk.conn)?;
    if stored_chained != chained {
        let shared: Option<(Option<i64>, Option<String>)> = audit_log::table
            .filter(audit_log::seq.is_not_null())
            .group_by(audit_log::seq)
            .having(diesel::dsl::count_star().gt(1))
            .select((audit_log::seq, diesel::dsl::max(audit_log::id)))
            .first(walk.conn)
            .optional()?;
        let (seq, id) = shared.unwrap_or_default();
        return Ok(Err(Finding::SharedPlace {
            seq: seq.unwrap_or_default(),
            id: id.unwrap_or_default(),
        }));
    }
    if let Some((anchor_seq, anchor_hash)) = anchor
        && anchored.as_deref() != Some(anchor_hash)
    {
        return Ok(Err(Finding::AnchorMismatch {
            seq: anchor_seq,
            found: anchored,
        }));
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
