//! The service-account side of the auth extractor: is the token still good
//! (account active at the token's generation, secret not revoked), is the
//! client within its request limit, and does the token carry the scope the
//! operation needs.

use crate::db;
use crate::domain::{OrganisationId, Role, UserId};
use crate::error::ApiError;
use crate::http::rate_limit::{self, Quota, RateLimited};
use crate::service_accounts::queries;
use crate::service_accounts::scopes::{self, Need, Scope};
use crate::state::AppState;

const TOKEN_ENDED: &str = "the access token was revoked or its account deactivated; request a new token at /api/v1/oauth/token";

pub struct Client {
    pub id: UserId,
    pub role: Role,
    pub organisation_id: OrganisationId,
    /// The token's scopes that the account still has.
    pub scopes: Vec<Scope>,
    pub quota: Quota,
}

/// Checks the token against the database and counts the request.
pub async fn check(
    state: &AppState,
    id: &UserId,
    secret_id: &str,
    generation: i64,
    granted: &str,
) -> Result<Client, ApiError> {
    let limits = state.settings.client_rate_limit;
    let (account, secret) = (id.as_str().to_owned(), secret_id.to_owned());
    let found = db::run::<_, ApiError, _>(&state.pool, move |conn| {
        let Some(found) = queries::find_for_token(conn, &account, &secret, generation)? else {
            return Ok(None);
        };
        let quota = rate_limit::hit(conn, &account, &limits, chrono::Utc::now().timestamp())?;
        Ok(Some((found, quota)))
    })
    .await?;
    let ((id, role, organisation_id, current), quota) =
        found.ok_or(ApiError::Unauthorized(TOKEN_ENDED))?;
    let current = scopes::split(&current).map_err(ApiError::internal)?;
    let granted = scopes::split(granted).map_err(|_| ApiError::Unauthorized(TOKEN_ENDED))?;
    Ok(Client {
        id: UserId::from_db(id),
        role: role.parse().map_err(ApiError::internal)?,
        organisation_id: OrganisationId::from_db(organisation_id),
        scopes: granted
            .into_iter()
            .filter(|s| current.contains(s))
            .collect(),
        quota,
    })
}

impl Client {
    /// Within the request limit, and holding the scope the operation needs.
    pub fn admit(&self, method: &str, pattern: Option<&str>) -> Result<(), actix_web::Error> {
        if self.quota.exceeded() {
            return Err(RateLimited {
                limit: self.quota.limit,
                window_secs: self.quota.window_secs,
                retry_after: self.quota.reset_secs,
            }
            .into());
        }
        match scopes::required(method, pattern.unwrap_or_default()) {
            Need::AnyScope => Ok(()),
            Need::Scope(scope) if self.scopes.contains(&scope) => Ok(()),
            Need::Scope(scope) => {
                Err(ApiError::Forbidden(format!("this token lacks the scope {scope}")).into())
            }
            Need::PeopleOnly => Err(ApiError::Forbidden(
                "this operation is not open to service accounts".into(),
            )
            .into()),
        }
    }
}
