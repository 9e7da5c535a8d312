//! /api/v1/auth/* and /api/v1/me

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;
use validator::Validate;

use super::{Actor, password, refresh, throttle};
use crate::audit::{self, Action};
use crate::db;
use crate::domain::{Email, Password, UserId};
use crate::error::ApiError;
use crate::http::ValidJson;
use crate::state::AppState;
use crate::users::{User, queries as users};
use crate::validation::{valid_password, valid_text};

const BAD_CREDENTIALS: &str = "invalid email or password";
const BAD_REFRESH: &str = "the refresh token is invalid, expired or revoked; sign in again";

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[validate(
        length(min = 1, max = 254, message = "must be 1 to 254 characters"),
        custom(function = "valid_text")
    )]
    #[schema(
        example = "monitor@demo.basewatch.org",
        min_length = 1,
        max_length = 254,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub email: String,
    #[validate(length(min = 1, max = 1024, message = "must be 1 to 1024 characters"))]
    #[schema(example = "demo-password-monitor", format = Password, min_length = 1, max_length = 1024)]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[validate(length(min = 1, max = 512, message = "must be 1 to 512 characters"))]
    #[schema(min_length = 1, max_length = 512)]
    pub refresh_token: String,
}

/// A new session, or the next tokens of one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    /// Single use: exchange it at /api/v1/auth/refresh for the next pair.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    #[schema(example = 1209600)]
    pub refresh_expires_in: u64,
}

fn tokens(state: &AppState, user: &UserId, session: &Session) -> Result<TokenResponse, ApiError> {
    Ok(TokenResponse {
        access_token: state
            .jwt
            .issue(user.as_str(), &session.family, session.generation)
            .map_err(ApiError::internal)?,
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl.as_secs(),
        refresh_token: session.refresh_token.clone(),
        refresh_expires_in: state.settings.refresh_token_ttl.as_secs(),
    })
}

/// A sign-in as stored: its refresh token family (the access token's `sid`), the
/// user's token generation, and the next refresh token.
struct Session {
    family: String,
    generation: i64,
    refresh_token: String,
}

/// Starts a new sign-in for a user whose row `hold_if_current` has just locked.
fn start_session(
    conn: &mut db::DbConnection,
    user: &UserId,
    generation: i64,
    ttl: std::time::Duration,
) -> Result<Session, ApiError> {
    let family = refresh::new_family();
    let refresh_token = refresh::issue(conn, user, &family, ttl)?;
    Ok(Session {
        family,
        generation,
        refresh_token,
    })
}

/// Reserves a sign-in attempt for the account and the caller's address (see
/// `throttle`); a refusal answers 429. Refusals are audited like every other
/// anonymous refusal, tallied per address and minute (`audit::refusals`), so a
/// client hammering a locked account cannot grow the audit log a row a request.
async fn reserve_attempt(
    state: &AppState,
    http: &HttpRequest,
    account: String,
) -> Result<throttle::Ticket, ApiError> {
    let settings = &state.settings;
    let address =
        crate::http::client_address(http, settings.trust_proxy, settings.trusted_proxy_hops);
    let limits = settings.login_throttle;
    db::transaction(&state.pool, move |conn| {
        throttle::reserve(conn, &limits, &account, &address)
    })
    .await?
    .map_err(|wait| ApiError::TooManyRequests {
        retry_after: wait.as_secs(),
    })
}

/// Sign in with email and password.
///
/// A wrong password, an unknown email and a deactivated account all answer the
/// same 401, in about the same time. Each attempt is counted before the password
/// is checked: after too many for one account or from one address within the
/// window (5 and 20 in 15 minutes by default) the answer is 429 with
/// `Retry-After`, whatever the password, however many attempts arrive at once.
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
        crate::openapi::BodyErrors,
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    http: HttpRequest,
    request_id: RequestId,
    ValidJson(mut req): ValidJson<LoginRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let request_id = Some(request_id.to_string());
    let ticket = reserve_attempt(&state, &http, throttle::account_key(&req.email)).await?;
    let user = match Email::parse(&req.email) {
        Ok(email) => {
            db::run::<_, ApiError, _>(&state.pool, move |conn| {
                Ok(users::find_by_email(conn, &email)?)
            })
            .await?
        }
        Err(_) => None,
    };
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    let candidate = std::mem::take(&mut req.password);
    let password_ok = web::block(move || password::verify(stored_hash.as_deref(), &candidate))
        .await
        .map_err(ApiError::internal)?;
    let ttl = state.settings.refresh_token_ttl;
    let email = req.email;
    // Ok(session) or Err(why it failed), decided and recorded in one transaction.
    let outcome = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        let reason = match &user {
            None => "unknown email",
            Some(u) if !u.active => "deactivated account",
            Some(_) if !password_ok => "wrong password",
            Some(u) => {
                let id = UserId::from_db(u.id.clone());
                // A reset or deactivation that landed meanwhile wins.
                if users::hold_if_current(conn, &id, u.token_generation)? {
                    throttle::settle_success(conn, &ticket)?;
                    let session = start_session(conn, &id, u.token_generation, ttl)?;
                    audit::Entry::new(Action::LoginSucceeded)
                        .actor(Some(id.as_str()))
                        .request(request_id.as_deref())
                        .on(audit::Entity::User, id.as_str())
                        .write(conn)?;
                    return Ok(Ok((id, session)));
                }
                "account changed during sign-in"
            }
        };
        throttle::settle_failure(conn, &ticket)?;
        let mut entry = audit::Entry::new(Action::LoginFailed)
            .request(request_id.as_deref())
            .details(json!({"email": email, "reason": reason}));
        if let Some(u) = &user {
            entry = entry.on(audit::Entity::User, &u.id);
        }
        entry.write(conn)?;
        Ok(Err(()))
    })
    .await?;
    let (id, session) = outcome.map_err(|()| ApiError::Unauthorized(BAD_CREDENTIALS))?;
    tracing::info!(user_id = %id, "signed in");
    Ok(web::Json(tokens(&state, &id, &session)?))
}

/// Exchange a refresh token for a new access and refresh token.
///
/// Each refresh token works once. Presenting one that was already used revokes
/// every token of that sign-in, access tokens included, since it must have been copied.
#[utoipa::path(
    tag = "auth",
    operation_id = "refresh_session",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "The next tokens", body = TokenResponse),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
        crate::openapi::BodyErrors,
    )
)]
#[post("/auth/refresh")]
pub async fn refresh_session(
    state: web::Data<AppState>,
    ValidJson(req): ValidJson<RefreshRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let ttl = state.settings.refresh_token_ttl;
    // The revocation on reuse must be committed even though the answer is a 401,
    // so the transaction ends with Ok and the refusal is decided outside it.
    let next = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        Ok(match refresh::rotate(conn, &req.refresh_token)? {
            refresh::Rotation::Accepted { user, family } => match users::find(conn, &user)? {
                Some((row, _))
                    if row.active && users::hold_if_current(conn, &user, row.token_generation)? =>
                {
                    let refresh_token = refresh::issue(conn, &user, &family, ttl)?;
                    Some((
                        user,
                        Session {
                            family,
                            generation: row.token_generation,
                            refresh_token,
                        },
                    ))
                }
                _ => None,
            },
            refresh::Rotation::Reused => {
                tracing::warn!("a used refresh token was presented again; its session is revoked");
                None
            }
            refresh::Rotation::Refused => None,
        })
    })
    .await?;
    let (user, session) = next.ok_or(ApiError::Unauthorized(BAD_REFRESH))?;
    Ok(web::Json(tokens(&state, &user, &session)?))
}

/// Sign out: revokes the refresh token and every token of the same sign-in.
///
/// The access tokens of that sign-in stop working at once. Answers 204 whether
/// or not the token was live, so it reveals nothing.
#[utoipa::path(
    tag = "auth",
    operation_id = "logout",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out"),
        (status = 503, response = crate::openapi::Unavailable),
        crate::openapi::BodyErrors,
    )
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    ValidJson(req): ValidJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    db::run::<_, ApiError, _>(&state.pool, move |conn| {
        Ok(refresh::revoke_by_token(conn, &req.refresh_token)?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user, with role and organisation.
#[utoipa::path(
    tag = "auth",
    operation_id = "get_me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = User),
        crate::openapi::SignedIn,
    )
)]
#[get("/me")]
pub async fn get_me(state: web::Data<AppState>, me: Actor) -> Result<web::Json<User>, ApiError> {
    let (row, org) =
        db::run::<_, ApiError, _>(&state.pool, move |conn| Ok(users::find(conn, &me.id)?))
            .await?
            .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    Ok(web::Json(User::from_row(row, org)?))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[validate(length(min = 1, max = 1024, message = "must be 1 to 1024 characters"))]
    #[schema(format = Password, min_length = 1, max_length = 1024)]
    pub current_password: String,
    /// 12 to 1024 characters, and hard to guess: common passwords, keyboard
    /// patterns and the account's own email or name are refused.
    #[validate(custom(function = "valid_password"))]
    #[schema(example = "a long passphrase", min_length = 12, max_length = 1024, format = Password)]
    pub new_password: String,
}

/// Change your own password.
///
/// The current password is required, and wrong ones count against the sign-in
/// throttle of the account (429 once used up). A change ends every sign-in of
/// the account, this one included: the answer carries the tokens of a new
/// sign-in, and the access token that made the request stops working.
#[utoipa::path(
    tag = "auth",
    operation_id = "change_password",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed; the tokens of the new sign-in", body = TokenResponse),
        (status = 429, response = crate::openapi::TooManyRequests),
        crate::openapi::BodyErrors,
        crate::openapi::SignedIn,
    )
)]
#[post("/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    http: HttpRequest,
    me: Actor,
    ValidJson(mut req): ValidJson<ChangePasswordRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let id = me.id.clone();
    let (row, _) = db::run::<_, ApiError, _>(&state.pool, move |conn| Ok(users::find(conn, &id)?))
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    // The new password is judged first: a refusal here says nothing about the
    // current one, and costs no attempt.
    let (chosen, email, name) = (
        std::mem::take(&mut req.new_password),
        row.email.clone(),
        row.name.clone(),
    );
    // zxcvbn takes milliseconds: off the async worker.
    let new_password = web::block(move || Password::parse_strong(chosen, &[&email, &name]))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::invalid("new_password", e))?;
    if new_password.expose() == req.current_password {
        return Err(ApiError::invalid(
            "new_password",
            "must differ from the current password",
        ));
    }
    let ticket = reserve_attempt(&state, &http, throttle::account_key(&row.email)).await?;
    let (stored, candidate) = (
        row.password_hash.clone(),
        std::mem::take(&mut req.current_password),
    );
    let checked = web::block(move || {
        if password::verify(Some(&stored), &candidate) {
            password::hash(&new_password).map(Some)
        } else {
            Ok(None)
        }
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let ttl = state.settings.refresh_token_ttl;
    let user = me.clone();
    let outcome = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        let Some(hash) = checked else {
            throttle::settle_failure(conn, &ticket)?;
            audit::Entry::new(Action::PasswordChangeRefused)
                .by(&user)
                .on(audit::Entity::User, user.id.as_str())
                .details(json!({"reason": "wrong current password"}))
                .write(conn)?;
            return Ok(Err(ApiError::invalid(
                "current_password",
                "is not the account's current password",
            )));
        };
        if !users::hold_if_current(conn, &user.id, row.token_generation)? {
            // The reservation is settled (committed with this answer), not left
            // in flight to count as a burst.
            throttle::settle_failure(conn, &ticket)?;
            return Ok(Err(ApiError::Unauthorized(
                "the account changed meanwhile; sign in again",
            )));
        }
        throttle::settle_success(conn, &ticket)?;
        let now = db::now();
        users::update(
            conn,
            &user.id,
            &users::UserChangeset {
                password_hash: Some(hash),
                password_changed_at: Some(now),
                updated_at: Some(now),
                ..Default::default()
            },
        )?;
        let generation = users::bump_generation(conn, &user.id)?;
        let ended = refresh::revoke_all_for_user(conn, &user.id)?;
        let session = start_session(conn, &user.id, generation, ttl)?;
        audit::Entry::new(Action::PasswordChanged)
            .by(&user)
            .on(audit::Entity::User, user.id.as_str())
            .details(json!({"revoked_refresh_tokens": ended}))
            .write(conn)?;
        Ok(Ok(session))
    })
    .await?;
    let session = outcome?;
    tracing::info!(user_id = %me.id, "changed their password");
    Ok(web::Json(tokens(&state, &me.id, &session)?))
}
