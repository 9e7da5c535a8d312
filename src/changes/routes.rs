//! GET /api/v1/changes: the change feed.

use actix_web::{get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Change, ChangePage, FeedCursor};
use crate::auth::Actor;
use crate::db;
use crate::error::ApiError;
use crate::http::{PageQuery, Query};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangeFeedQuery {
    /// The `next_cursor` of the previous page; without it, the feed starts at
    /// the first change.
    #[param(min_length = 1, max_length = 100, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
    /// How many changes to return, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Follow every change of the incidents the caller may see.
///
/// Oldest first: reported, edited, moved in the workflow, assessed. Each
/// change carries the incident as the caller may see it now; a change of an
/// incident the caller may not see (now) is left out, by the rules of the
/// incident list. `next_cursor` is always present: keep it and ask again to
/// get what happened since. A change is never skipped, however many clients
/// write at once.
#[utoipa::path(
    tag = "incidents",
    operation_id = "list_changes",
    security(("bearer" = [])),
    params(ChangeFeedQuery),
    responses(
        (status = 200, description = "The changes after the cursor", body = ChangePage),
        (status = 400, response = crate::openapi::BadRequest),
        crate::openapi::SignedIn,
    )
)]
#[get("/changes")]
pub async fn list_changes(
    state: web::Data<AppState>,
    user: Actor,
    query: Query<ChangeFeedQuery>,
) -> Result<web::Json<ChangePage>, ApiError> {
    let q = query.into_inner();
    let limit = PageQuery {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let from = match q.cursor.as_deref() {
        Some(raw) => FeedCursor::decode(raw)?,
        None => FeedCursor(0),
    };
    let keys = state.settings.data_keys.clone();
    let items = db::run(&state.pool, move |conn| {
        let changes = super::after(conn, &user, from, limit)?;
        let ids: Vec<&str> = changes.iter().map(|(_, row, _)| row.id.as_str()).collect();
        let attachments = crate::attachments::queries::summaries(conn, &ids)?;
        changes
            .into_iter()
            .map(|(change, row, base)| {
                let held = attachments.get(&row.id).cloned().unwrap_or_default();
                Change::view(change, row, base, held, &user, &keys)
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let next = items.last().map_or(from, |c| FeedCursor(c.position));
    Ok(web::Json(ChangePage {
        items,
        next_cursor: next.encode(),
    }))
}
