//! Opaque refresh tokens: stored only as SHA-256 hashes, rotated on every use.
//!
//! Each login starts a family. Using a token marks it used and issues the next
//! one in the same family; presenting a token that was already used means it was
//! copied, so the whole family is revoked (OAuth 2.0 Security BCP, section 4.14).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::StoreError;
use crate::db::schema::refresh_tokens;
use crate::db::{self, DbConnection};
use crate::domain::UserId;

const PREFIX: &str = "bwr_";

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn generate() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Stores a new token in `family` and returns it; only its hash is kept.
pub fn issue(
    conn: &mut DbConnection,
    user: &UserId,
    family: &str,
    ttl: Duration,
) -> QueryResult<String> {
    let token = generate();
    let now = db::now();
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(14));
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(db::new_id()),
            refresh_tokens::user_id.eq(user.as_str()),
            refresh_tokens::family_id.eq(family),
            refresh_tokens::token_hash.eq(hash(&token)),
            refresh_tokens::created_at.eq(now),
            refresh_tokens::expires_at.eq(now + ttl),
        ))
        .execute(conn)?;
    Ok(token)
}

pub fn new_family() -> String {
    db::new_id()
}

/// What presenting a refresh token led to.
pub enum Rotation {
    /// The token was live: it is now used, and the caller may have the next one.
    Accepted { user: UserId, family: String },
    /// The token was already used: its family is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Refused,
}

/// Marks a presented token used. The conditional UPDATE comes first, so two
/// requests racing with one token cannot both succeed: the loser sees a reuse.
pub fn rotate(conn: &mut DbConnection, presented: &str) -> Result<Rotation, StoreError> {
    if !presented.starts_with(PREFIX) {
        return Ok(Rotation::Refused);
    }
    let token_hash = hash(presented);
    let now = db::now();
    let claimed = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(&token_hash))
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null())
            .filter(refresh_tokens::expires_at.gt(now)),
    )
    .set(refresh_tokens::used_at.eq(now))
    .execute(conn)?;

    let row: Option<(String, String, Option<NaiveDateTime>)> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(&token_hash))
        .select((
            refresh_tokens::user_id,
            refresh_tokens::family_id,
            refresh_tokens::used_at,
        ))
        .first(conn)
        .optional()?;
    Ok(match (claimed, row) {
        (1, Some((user, family, _))) => Rotation::Accepted {
            user: UserId::from_db(user),
            family,
        },
        (_, Some((_, family, Some(_)))) => {
            revoke_family(conn, &family)?;
            Rotation::Reused
        }
        _ => Rotation::Refused,
    })
}

pub fn revoke_family(conn: &mut DbConnection, family: &str) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(db::now()))
    .execute(conn)
}

/// Revokes the family of a presented token (logout); unknown tokens change nothing.
pub fn revoke_by_token(conn: &mut DbConnection, presented: &str) -> QueryResult<usize> {
    let family: Option<String> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash(presented)))
        .select(refresh_tokens::family_id)
        .first(conn)
        .optional()?;
    match family {
        Some(family) => revoke_family(conn, &family),
        None => Ok(0),
    }
}

/// Revokes every session of a user (deactivation, password reset).
pub fn revoke_all_for_user(conn: &mut DbConnection, user: &UserId) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user.as_str()))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(db::now()))
    .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), a);
    }
}
