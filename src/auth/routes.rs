//! /api/v1/auth/* and /api/v1/me

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;
use validator::Validate;

use super::{CurrentUser, password, refresh, throttle};
use crate::audit::{self, Action};
use crate::db;
use crate::domain::{Email, UserId};
use crate::error::ApiError;
use crate::http::ValidJson;
use crate::state::AppState;
use crate::users::{User, queries as users};

const BAD_CREDENTIALS: &str = "invalid email or password";
const BAD_REFRESH: &str = "the refresh token is invalid, expired or revoked; sign in again";

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[validate(length(min = 1, max = 254, message = "must be 1 to 254 characters"))]
    #[schema(
        example = "monitor@demo.basewatch.org",
        min_length = 1,
        max_length = 254
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

fn tokens(
    state: &AppState,
    user: &UserId,
    refresh_token: String,
) -> Result<TokenResponse, ApiError> {
    Ok(TokenResponse {
        access_token: state.jwt.issue(user.as_str()).map_err(ApiError::internal)?,
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl.as_secs(),
        refresh_token,
        refresh_expires_in: state.settings.refresh_token_ttl.as_secs(),
    })
}

/// Sign in with email and password.
///
/// A wrong password, an unknown email and a deactivated account all answer the
/// same 401, in about the same time. After too many failures for one account or
/// from one address within the window (5 and 20 in 15 minutes by default) the
/// answer is 429 with `Retry-After`, whatever the password.
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
    let account = throttle::account_key(&req.email);
    let address = client_address(&http, state.settings.trust_proxy);
    let limits = state.settings.login_throttle;
    let (throttled_account, throttled_address) = (account.clone(), address.clone());
    let rid = request_id.to_string();
    db::run(&state.pool, move |conn| {
        match throttle::check(conn, &limits, &throttled_account, &throttled_address)? {
            None => Ok(()),
            Some(wait) => {
                audit::Entry::new(Action::LoginThrottled)
                    .request(Some(&rid))
                    .details(json!({
                        "email": throttled_account,
                        "address": throttled_address,
                        "retry_after": wait.as_secs(),
                    }))
                    .write(conn)?;
                Err(ApiError::TooManyRequests {
                    retry_after: wait.as_secs(),
                })
            }
        }
    })
    .await?;
    let user = match Email::parse(&req.email) {
        Ok(email) => {
            db::run(&state.pool, move |conn| {
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
    let request_id = Some(request_id.to_string());
    let user = match user {
        Some(user) if password_ok && user.active => user,
        known => {
            let reason = match &known {
                None => "unknown email",
                Some(u) if !u.active => "deactivated account",
                Some(_) => "wrong password",
            };
            let target = known.map(|u| u.id);
            db::transaction(&state.pool, move |conn| {
                throttle::record_failure(conn, &limits, &account, &address)?;
                let mut entry = audit::Entry::new(Action::LoginFailed)
                    .request(request_id.as_deref())
                    .details(json!({"email": req.email, "reason": reason}));
                if let Some(id) = &target {
                    entry = entry.on("user", id);
                }
                Ok(entry.write(conn)?)
            })
            .await?;
            return Err(ApiError::Unauthorized(BAD_CREDENTIALS));
        }
    };
    let id = UserId::from_db(user.id);
    let ttl = state.settings.refresh_token_ttl;
    let user_id = id.clone();
    let refresh_token = db::transaction(&state.pool, move |conn| {
        throttle::clear_account(conn, &account)?;
        let token = refresh::issue(conn, &user_id, &refresh::new_family(), ttl)?;
        audit::Entry::new(Action::LoginSucceeded)
            .actor(Some(user_id.as_str()))
            .request(request_id.as_deref())
            .on("user", user_id.as_str())
            .write(conn)?;
        Ok(token)
    })
    .await?;
    tracing::info!(user_id = %id, "signed in");
    Ok(web::Json(tokens(&state, &id, refresh_token)?))
}

/// Exchange a refresh token for a new access and refresh token.
///
/// Each refresh token works once. Presenting one that was already used revokes
/// every token of that sign-in, since it must have been copied.
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
    let next = db::transaction(&state.pool, move |conn| {
        Ok(match refresh::rotate(conn, &req.refresh_token)? {
            refresh::Rotation::Accepted { user, family } => match users::find(conn, &user)? {
                Some((row, _)) if row.active => {
                    Some((user.clone(), refresh::issue(conn, &user, &family, ttl)?))
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
    let (user, refresh_token) = next.ok_or(ApiError::Unauthorized(BAD_REFRESH))?;
    Ok(web::Json(tokens(&state, &user, refresh_token)?))
}

/// Sign out: revokes the refresh token and every token rotated from the same sign-in.
///
/// Answers 204 whether or not the token was live, so it reveals nothing.
/// Access tokens already issued stay valid until they expire (15 minutes by default).
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
    db::run(&state.pool, move |conn| {
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
pub async fn get_me(
    state: web::Data<AppState>,
    me: CurrentUser,
) -> Result<web::Json<User>, ApiError> {
    let (row, org) = db::run(&state.pool, move |conn| Ok(users::find(conn, &me.id)?))
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    Ok(web::Json(User::from_row(row, org)?))
}

/// Who is signing in, as far as the throttle can tell: the peer address, or
/// behind a trusted proxy the first `X-Forwarded-For` address.
fn client_address(req: &HttpRequest, trust_proxy: bool) -> String {
    let info = req.connection_info();
    let address = if trust_proxy {
        info.realip_remote_addr()
    } else {
        info.peer_addr()
    };
    // Ports change with every connection; the host is what is throttled.
    match address.map(|a| {
        a.parse::<std::net::SocketAddr>()
            .map(|s| s.ip().to_string())
    }) {
        Some(Ok(ip)) => ip,
        Some(Err(_)) => address.unwrap_or("unknown").to_owned(),
        None => "unknown".to_owned(),
    }
}
