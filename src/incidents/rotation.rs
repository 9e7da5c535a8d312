//! `basewatch rotate-data-key`: re-seals narratives under the current data key.
//!
//! Runs beside a live service. Each row is re-sealed with a compare-and-swap on
//! its sealed text, so a concurrent edit is never overwritten: the row is read
//! again in the next round.

use diesel::prelude::*;

use crate::crypto::DataKeys;
use crate::db::schema::incidents;
use crate::db::{self, DbConnection};
use crate::error::ApiError;

const BATCH: i64 = 500;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    pub resealed: usize,
    pub retried: usize,
}

pub fn reseal_all(conn: &mut DbConnection, keys: &DataKeys) -> Result<Rotation, ApiError> {
    let current = keys.current_id().to_owned();
    let mut report = Rotation::default();
    loop {
        let lost = reseal_pass(conn, keys, &current, &mut report)?;
        if lost == 0 {
            return Ok(report);
        }
    }
}

/// One pass over the rows not under the current key; returns how many lost a
/// race with an edit (they are read again by the next pass).
fn reseal_pass(
    conn: &mut DbConnection,
    keys: &DataKeys,
    current: &str,
    report: &mut Rotation,
) -> Result<usize, ApiError> {
    let mut lost = 0;
    let mut after = String::new();
    loop {
        let rows: Vec<(String, String, Option<String>)> = incidents::table
            .filter(incidents::narrative.is_not_null())
            .filter(
                incidents::narrative_key_id
                    .is_null()
                    .or(incidents::narrative_key_id.ne(current)),
            )
            .filter(incidents::id.gt(&after))
            .order(incidents::id)
            .select((
                incidents::id,
                incidents::narrative.assume_not_null(),
                incidents::narrative_key_id,
            ))
            .limit(BATCH)
            .load(conn)?;
        let Some((last, _, _)) = rows.last() else {
            return Ok(lost);
        };
        after = last.clone();
        db::in_transaction(conn, |conn| {
            for (id, text, key_id) in &rows {
                let plain = keys
                    .open(id, key_id.as_deref(), text)
                    .map_err(ApiError::internal)?;
                let sealed = keys.seal(id, &plain);
                let changed = diesel::update(
                    incidents::table
                        .filter(incidents::id.eq(id))
                        .filter(incidents::narrative.eq(text)),
                )
                .set((
                    incidents::narrative.eq(&sealed.text),
                    incidents::narrative_key_id.eq(&sealed.key_id),
                ))
                .execute(conn)?;
                if changed == 1 {
                    report.resealed += 1;
                } else {
                    report.retried += 1;
                    lost += 1;
                }
            }
            Ok::<_, ApiError>(())
        })?;
    }
}
