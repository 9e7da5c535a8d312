//! POST /api/v1/oauth/token: the OAuth 2.0 client credentials grant (RFC 6749
//! §4.4) for service accounts. Its errors follow RFC 6749 §5.2, the one
//! documented exception to problem+json.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use super::throttle;
use crate::audit::{self, Action};
use crate::db;
use crate::error::ApiError;
use crate::service_accounts::scopes::{self, Scope};
use crate::service_accounts::{queries, secret_matches};
use crate::state::AppState;

const REALM: &str = "Basic realm=\"basewatch\", charset=\"UTF-8\"";
const FORM: &str = "application/x-www-form-urlencoded";
/// Grant types of RFC 6749 that exist but that a service account may not use.
const OTHER_GRANTS: [&str; 3] = ["authorization_code", "password", "refresh_token"];

/// Marks a response whose error format is fixed by its own standard, so that
/// the problem renderer leaves it as it is.
#[derive(Clone, Copy, Debug)]
pub struct OwnErrorFormat;

/// The token request (RFC 6749 §4.4.2), form-encoded. Authenticate either with
/// HTTP Basic (`client_secret_basic`: the form-encoded client id and secret) or
/// with `client_id` and `client_secret` here (`client_secret_post`), not both.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClientTokenRequest {
    #[schema(example = "client_credentials")]
    pub grant_type: String,
    /// Space-separated; a subset of the account's scopes. Absent: all of them.
    #[schema(example = "incidents:write incidents:read")]
    pub scope: Option<String>,
    /// `client_secret_post` only: the service account's id.
    #[schema(format = Uuid)]
    pub client_id: Option<String>,
    /// `client_secret_post` only.
    #[schema(format = Password)]
    pub client_secret: Option<String>,
}

/// An access token for a service account (RFC 6749 §5.1). No refresh token:
/// ask for a new access token with the client credentials.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientTokenResponse {
    /// A JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    #[schema(example = 900)]
    pub expires_in: u64,
    /// The scopes granted, space-separated.
    #[schema(example = "incidents:write incidents:read")]
    pub scope: String,
}

/// An error of the token endpoint (RFC 6749 §5.2).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type` or `invalid_scope`.
    #[schema(example = "invalid_client")]
    pub error: String,
    pub error_description: String,
}

struct Refusal {
    error: &'static str,
    description: String,
}

fn refuse(error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        error,
        description: description.into(),
    }
}

impl Refusal {
    fn response(self) -> HttpResponse {
        let mut res = if self.error == "invalid_client" {
            let mut res = HttpResponse::Unauthorized();
            res.insert_header((header::WWW_AUTHENTICATE, REALM));
            res
        } else {
            HttpResponse::BadRequest()
        };
        let mut res = res
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(OAuthError {
                error: self.error.into(),
                error_description: self.description,
            });
        res.extensions_mut().insert(OwnErrorFormat);
        res
    }
}

/// Client id and secret from `Authorization: Basic`, each form-decoded (§2.3.1).
fn basic_credentials(value: &HeaderValue) -> Option<Result<(String, String), Refusal>> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bad = || refuse("invalid_client", "the Basic credentials cannot be decoded");
    let decoded = match B64
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    {
        Some(decoded) => decoded,
        None => return Some(Err(bad())),
    };
    let Some((id, secret)) = decoded.split_once(':') else {
        return Some(Err(bad()));
    };
    let form_decode = |part: &str| -> String {
        form_urlencoded::parse(
            format!("x={}", part.replace('&', "%26").replace('=', "%3D")).as_bytes(),
        )
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
    };
    Some(Ok((form_decode(id), form_decode(secret))))
}

/// The form's parameters; a parameter without a value counts as absent (§3.1),
/// one given twice is refused (§3.2).
fn parameters(body: &[u8]) -> Result<Vec<(String, String)>, Refusal> {
    let mut params: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(body) {
        if value.is_empty() {
            continue;
        }
        if params.iter().any(|(n, _)| *n == name) {
            return Err(refuse(
                "invalid_request",
                format!("the parameter {name} is given more than once"),
            ));
        }
        params.push((name.into_owned(), value.into_owned()));
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Get an access token for a service account (OAuth 2.0 client credentials).
///
/// The request is `application/x-www-form-urlencoded` with
/// `grant_type=client_credentials` and an optional `scope`; the client
/// authenticates with HTTP Basic (`client_secret_basic`) or with `client_id`
/// and `client_secret` in the body (`client_secret_post`), not both. Errors
/// follow RFC 6749 §5.2 (`{"error", "error_description"}`), not problem+json:
/// `invalid_client` answers 401 with `WWW-Authenticate: Basic`, the others 400.
/// `unauthorized_client` answers a grant type of RFC 6749 that service accounts
/// may not use; `invalid_grant` does not arise, as this grant presents none.
/// Failed client authentications are throttled like sign-ins (429).
#[utoipa::path(
    tag = "auth",
    operation_id = "issue_client_token",
    security(("client_secret_basic" = []), ()),
    request_body(content = ClientTokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An access token", body = ClientTokenResponse),
        (status = 400, description = "invalid_request, unsupported_grant_type, unauthorized_client or invalid_scope (RFC 6749 §5.2)", body = OAuthError),
        (status = 401, description = "invalid_client (RFC 6749 §5.2)", body = OAuthError,
            headers(("WWW-Authenticate" = String, description = "Basic realm=\"basewatch\""))),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
#[post("/oauth/token")]
pub async fn issue_client_token(
    state: web::Data<AppState>,
    http: HttpRequest,
    request_id: RequestId,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    match issue(&state, &http, request_id.to_string(), &body).await? {
        Ok(token) => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(token)),
        Err(refusal) => Ok(refusal.response()),
    }
}

async fn issue(
    state: &AppState,
    http: &HttpRequest,
    request_id: String,
    body: &[u8],
) -> Result<Result<ClientTokenResponse, Refusal>, ApiError> {
    let form = http
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM));
    if !form {
        return Ok(Err(refuse(
            "invalid_request",
            format!("the request body must be {FORM}"),
        )));
    }
    let params = match parameters(body) {
        Ok(params) => params,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let basic = http
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(basic_credentials);
    let posted = (param(&params, "client_id"), param(&params, "client_secret"));
    let (client_id, secret) = match (basic, posted) {
        (Some(_), (Some(_), _) | (_, Some(_))) => {
            return Ok(Err(refuse(
                "invalid_request",
                "use one client authentication method: HTTP Basic or client_id and client_secret in the body, not both",
            )));
        }
        (Some(Err(refusal)), _) => return Ok(Err(refusal)),
        (Some(Ok(credentials)), _) => credentials,
        (None, (Some(id), Some(secret))) => (id.to_owned(), secret.to_owned()),
        (None, _) => {
            return Ok(Err(refuse(
                "invalid_client",
                "authenticate the client with HTTP Basic or with client_id and client_secret",
            )));
        }
    };
    let grant_type = match param(&params, "grant_type") {
        None => return Ok(Err(refuse("invalid_request", "grant_type is required"))),
        Some(g) if g == "client_credentials" || OTHER_GRANTS.contains(&g) => g.to_owned(),
        Some(other) => {
            return Ok(Err(refuse(
                "unsupported_grant_type",
                format!(
                    "the grant type {:?} is not supported; use client_credentials",
                    audit::cut(other, 64)
                ),
            )));
        }
    };
    let asked = match param(&params, "scope").map(scopes::split).transpose() {
        Ok(asked) => asked,
        Err(e) => return Ok(Err(refuse("invalid_scope", e))),
    };

    let settings = &state.settings;
    let address =
        crate::http::client_address(http, settings.trust_proxy, settings.trusted_proxy_hops);
    let limits = settings.login_throttle;
    let known = uuid::Uuid::parse_str(&client_id)
        .ok()
        .map(|id| id.hyphenated().to_string());
    let key = format!("client:{}", known.as_deref().unwrap_or_default());
    let ticket = db::transaction(&state.pool, move |conn| {
        throttle::reserve(conn, &limits, &key, &address)
    })
    .await?
    .map_err(|wait| ApiError::TooManyRequests {
        retry_after: wait.as_secs(),
    })?;

    let lookup = known.clone();
    let found = db::run::<_, ApiError, _>(&state.pool, move |conn| {
        let Some(lookup) = lookup else {
            return Ok(None);
        };
        let Some(account) = queries::find(conn, &lookup)? else {
            return Ok(None);
        };
        let secrets = queries::live_secrets(conn, std::slice::from_ref(&lookup))?;
        Ok(Some((account, secrets)))
    })
    .await?;
    // Every live secret is compared, so the time taken does not say which matched.
    let matched = found.as_ref().and_then(|(_, secrets)| {
        secrets
            .iter()
            .filter(|s| secret_matches(&secret, &s.secret_hash))
            .map(|s| s.id.clone())
            .next_back()
    });
    let ttl = state.jwt.ttl.as_secs();
    let outcome = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        let (account, secret_id) = match (found, matched) {
            (Some((account, _)), Some(secret_id)) if account.active => (account, secret_id),
            (found, _) => {
                throttle::settle_failure(conn, &ticket)?;
                let mut entry = audit::Entry::new(Action::ClientAuthFailed)
                    .request(Some(&request_id))
                    .details(json!({"client_id": known}));
                if let Some((account, _)) = &found {
                    entry = entry.on(audit::Entity::ServiceAccount, &account.id);
                }
                entry.write(conn)?;
                return Ok(Err(refuse(
                    "invalid_client",
                    "unknown client, wrong secret, or a deactivated account",
                )));
            }
        };
        throttle::settle_success(conn, &ticket)?;
        if grant_type != "client_credentials" {
            return Ok(Err(refuse(
                "unauthorized_client",
                format!(
                    "a service account may use only the client_credentials grant, not {grant_type}"
                ),
            )));
        }
        let allowed = scopes::split(&account.scopes).map_err(ApiError::internal)?;
        let granted: Vec<Scope> = match asked {
            None => allowed,
            Some(asked) => {
                if let Some(missing) = asked.iter().find(|s| !allowed.contains(s)) {
                    return Ok(Err(refuse(
                        "invalid_scope",
                        format!("this client may not be granted the scope {missing}"),
                    )));
                }
                asked
            }
        };
        if granted.is_empty() {
            return Ok(Err(refuse("invalid_scope", "ask for at least one scope")));
        }
        let scope = scopes::join(&granted);
        queries::touch(conn, &account.id, &secret_id)?;
        audit::Entry::new(Action::ClientTokenIssued)
            .actor(Some(&account.id))
            .request(Some(&request_id))
            .on(audit::Entity::ServiceAccount, &account.id)
            .details(json!({"secret_id": secret_id, "scope": scope}))
            .write(conn)?;
        Ok(Ok((account.id, secret_id, account.token_generation, scope)))
    })
    .await?;
    let (id, secret_id, generation, scope) = match outcome {
        Ok(issued) => issued,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let access_token = state
        .jwt
        .issue_for_client(&id, &secret_id, generation, &scope)
        .map_err(ApiError::internal)?;
    Ok(Ok(ClientTokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: ttl,
        scope,
    }))
}
