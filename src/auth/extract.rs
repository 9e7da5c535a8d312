use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use tracing_actix_web::RequestId;

use super::actor::{Actor, ActorKind};
use super::policy::Permission;
use crate::domain::{OrganisationId, UserId};
use crate::error::ApiError;
use crate::state::AppState;
use crate::users::queries;

const BEARER_REQUIRED: &str =
    "a valid access token is required: send Authorization: Bearer <access_token>";

/// Left in the request's extensions so that a refusal (403) can be audited with
/// the identity of whoever was refused.
#[derive(Clone, Debug)]
pub struct AuthenticatedActor(pub String);

impl FromRequest for Actor {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state is missing"))?;
            let token = token.ok_or(ApiError::Unauthorized(BEARER_REQUIRED))?;
            let claims = state.jwt.verify(&token).map_err(|e| {
                tracing::debug!(error = %e, "access token refused");
                ApiError::Unauthorized(BEARER_REQUIRED)
            })?;
            let id =
                UserId::parse(&claims.sub).map_err(|_| ApiError::Unauthorized(BEARER_REQUIRED))?;
            // A sign-in id is a UUID the server issued. Anything else (a NUL, which
            // PostgreSQL cannot bind in text, or 10,000 characters) never reaches a query.
            if uuid::Uuid::parse_str(&claims.sid).is_err() {
                return Err(ApiError::Unauthorized(BEARER_REQUIRED).into());
            }
            if let Some(granted) = claims.scope.as_deref() {
                let client =
                    super::client::check(&state, &id, &claims.sid, claims.r#gen, granted).await?;
                req.extensions_mut()
                    .insert(AuthenticatedActor(client.id.as_str().to_owned()));
                req.extensions_mut().insert(client.quota);
                client.admit(req.method().as_str(), req.match_pattern().as_deref())?;
                return Ok(Actor {
                    id: client.id,
                    role: client.role,
                    organisation_id: client.organisation_id,
                    request_id,
                    kind: ActorKind::ServiceAccount,
                });
            }
            // One round trip decides it: an active account at the token's
            // generation, and a sign-in that was not ended.
            let found = crate::db::run::<_, ApiError, _>(&state.pool, move |conn| {
                Ok(queries::find_for_token(
                    conn,
                    &id,
                    &claims.sid,
                    claims.r#gen,
                )?)
            })
            .await?;
            let (id, role, organisation_id) =
                found.ok_or(ApiError::Unauthorized(BEARER_REQUIRED))?;
            req.extensions_mut().insert(AuthenticatedActor(id.clone()));
            Ok(Actor {
                request_id,
                ..Actor::person(
                    UserId::from_db(id),
                    role.parse().map_err(ApiError::internal)?,
                    OrganisationId::from_db(organisation_id),
                )
            })
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_owned())
}

/// A caller allowed to administer accounts; anyone else gets 403.
#[derive(Clone, Debug)]
pub struct Admin(pub Actor);

impl FromRequest for Admin {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = Actor::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if user.may(Permission::Administer) {
                Ok(Admin(user))
            } else {
                Err(ApiError::Forbidden("this action needs the admin role".into()).into())
            }
        })
    }
}
