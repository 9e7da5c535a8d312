//! /api/v1/service-accounts (admin only)

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::queries::{self, AccountRow, SecretAdded, SecretRow};
use super::{
    CreateServiceAccountRequest, CreatedServiceAccount, MAX_LIVE_SECRETS, NewSecret, SecretInfo,
    ServiceAccount, UpdateServiceAccountRequest, hash_secret, new_secret, scopes, secret_hint,
};
use crate::audit::{self, Action};
use crate::auth::Admin;
use crate::db::{self, DbConnection};
use crate::domain::{DisplayName, OrganisationId};
use crate::error::ApiError;
use crate::http::{Cursor, Page, PageQuery, ValidJson};
use crate::state::AppState;
use crate::users::{OrganisationRef, check_service_placement, organisation_kind};

fn secret_info(row: SecretRow) -> SecretInfo {
    SecretInfo {
        id: row.id,
        hint: row.hint,
        created_at: row.created_at.and_utc(),
        last_used_at: row.last_used_at.map(|t| t.and_utc()),
    }
}

fn account(row: AccountRow, secrets: Vec<SecretRow>) -> Result<ServiceAccount, ApiError> {
    Ok(ServiceAccount {
        role: row.role.parse().map_err(ApiError::internal)?,
        scopes: scopes::split(&row.scopes).map_err(ApiError::internal)?,
        organisation: OrganisationRef {
            id: row.organisation_id,
            name: row.organisation_name,
        },
        id: row.id,
        name: row.name,
        active: row.active,
        secrets: secrets.into_iter().map(secret_info).collect(),
        last_used_at: row.last_used_at.map(|t| t.and_utc()),
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
    })
}

fn load(conn: &mut DbConnection, id: &str) -> Result<Option<ServiceAccount>, ApiError> {
    let Some(row) = queries::find(conn, id)? else {
        return Ok(None);
    };
    let secrets = queries::live_secrets(conn, std::slice::from_ref(&row.id))?;
    account(row, secrets).map(Some)
}

fn account_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|_| raw.to_owned())
        .map_err(|_| ApiError::not_found("service account"))
}

/// Create a service account for an organisation, with its first client secret.
///
/// The answer is the only one that shows the secret: only its hash is stored.
/// The role is monitor or partner (analyst in an oversight office), never admin
/// or reviewer (422 naming `role`).
#[utoipa::path(
    tag = "service-accounts",
    operation_id = "create_service_account",
    security(("bearer" = [])),
    request_body = CreateServiceAccountRequest,
    responses(
        (status = 201, description = "Created; the credentials are shown this once", body = CreatedServiceAccount,
            headers(("Location" = String, description = "The new account's address"))),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[post("/service-accounts")]
pub async fn create_service_account(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    ValidJson(req): ValidJson<CreateServiceAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = DisplayName::parse(&req.name).map_err(|e| ApiError::invalid("name", e))?;
    let organisation_id = OrganisationId::parse(&req.organisation_id)
        .map_err(|_| ApiError::invalid("organisation_id", "must be a UUID"))?;
    let granted = scopes::join(&req.scopes);
    let role = req.role;
    let secret = new_secret();
    let (hash, hint) = (hash_secret(&secret), secret_hint(&secret));
    let (created, secret_id) = db::transaction(&state.pool, move |conn| {
        if !crate::users::queries::hold_admin(conn, &admin.id)? {
            return Err(ApiError::Forbidden(
                "this action needs the admin role".into(),
            ));
        }
        check_service_placement(role, organisation_kind(conn, &organisation_id)?)?;
        let (id, secret_id) = queries::insert(
            conn,
            &queries::NewAccount {
                name: name.as_str(),
                role,
                organisation_id: &organisation_id,
                scopes: &granted,
                created_by: admin.id.as_str(),
            },
            &hash,
            &hint,
        )?;
        audit::Entry::new(Action::ServiceAccountCreated)
            .by(&admin)
            .on(audit::Entity::ServiceAccount, &id)
            .details(json!({
                "role": role,
                "organisation_id": organisation_id.as_str(),
                "scopes": granted,
                "secret_id": secret_id,
            }))
            .write(conn)?;
        let created = load(conn, &id)?.ok_or_else(|| ApiError::internal("account vanished"))?;
        Ok((created, secret_id))
    })
    .await?;
    let info = created
        .secrets
        .iter()
        .find(|s| s.id == secret_id)
        .cloned()
        .ok_or_else(|| ApiError::internal("secret vanished"))?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/service-accounts/{}", created.id),
        ))
        .json(CreatedServiceAccount {
            credentials: NewSecret {
                client_id: created.id.clone(),
                client_secret: secret,
                secret: info,
            },
            account: created,
        }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceAccountListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// List service accounts, oldest first.
#[utoipa::path(
    tag = "service-accounts",
    operation_id = "list_service_accounts",
    security(("bearer" = [])),
    params(ServiceAccountListQuery),
    responses(
        (status = 200, description = "A page of service accounts", body = Page<ServiceAccount>),
        (status = 400, response = crate::openapi::BadRequest),
        crate::openapi::AdminOnly,
    )
)]
#[get("/service-accounts")]
pub async fn list_service_accounts(
    state: web::Data<AppState>,
    _admin: Admin,
    query: crate::http::Query<ServiceAccountListQuery>,
) -> Result<web::Json<Page<ServiceAccount>>, ApiError> {
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let accounts = db::run(&state.pool, move |conn| {
        let rows = queries::list(conn, cursor.as_ref(), limit)?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut secrets = queries::live_secrets(conn, &ids)?;
        rows.into_iter()
            .map(|row| {
                let (mine, rest) = secrets.drain(..).partition(|s| s.account_id == row.id);
                secrets = rest;
                account(row, mine)
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(web::Json(Page::from_rows(accounts, limit, |a| {
        Cursor::encode(&a.id)
    })))
}

/// One service account, with its live secrets (never the secrets themselves).
#[utoipa::path(
    tag = "service-accounts",
    operation_id = "get_service_account",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The account's id (its client_id)")),
    responses(
        (status = 200, description = "The service account", body = ServiceAccount),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::AdminOnly,
    )
)]
#[get("/service-accounts/{id}")]
pub async fn get_service_account(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<String>,
) -> Result<web::Json<ServiceAccount>, ApiError> {
    let id = account_id(&id)?;
    db::run(&state.pool, move |conn| load(conn, &id))
        .await?
        .map(web::Json)
        .ok_or_else(|| ApiError::not_found("service account"))
}

/// Rename a service account, replace its scopes, or (de)activate it.
///
/// Deactivation stops its tokens at once, and a later reactivation does not
/// revive them. New scopes apply at once to tokens already issued.
#[utoipa::path(
    tag = "service-accounts",
    operation_id = "update_service_account",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The account's id")),
    request_body = UpdateServiceAccountRequest,
    responses(
        (status = 200, description = "Updated", body = ServiceAccount),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[patch("/service-accounts/{id}")]
pub async fn update_service_account(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    ValidJson(req): ValidJson<UpdateServiceAccountRequest>,
) -> Result<web::Json<ServiceAccount>, ApiError> {
    let id = account_id(&id)?;
    let name = req
        .name
        .map(|n| DisplayName::parse(&n).map_err(|e| ApiError::invalid("name", e)))
        .transpose()?;
    let granted = req.scopes.as_deref().map(scopes::join);
    let active = req.active;
    let updated = db::transaction(&state.pool, move |conn| {
        if queries::find(conn, &id)?.is_none() {
            return Err(ApiError::not_found("service account"));
        }
        if let Some(granted) = &granted {
            queries::set_scopes(conn, &id, granted)?;
        }
        queries::update_identity(conn, &id, name.as_ref().map(DisplayName::as_str), active)?;
        audit::Entry::new(Action::ServiceAccountUpdated)
            .by(&admin)
            .on(audit::Entity::ServiceAccount, &id)
            .details(json!({
                "name": name.as_ref().map(DisplayName::as_str),
                "scopes": granted,
                "active": active,
            }))
            .write(conn)?;
        load(conn, &id)?.ok_or_else(|| ApiError::internal("account vanished"))
    })
    .await?;
    Ok(web::Json(updated))
}

/// Add a client secret, for rotation.
///
/// Two may be live at once: deploy the new one, then revoke the old. A third
/// is refused (409) until one is revoked. The answer is the only one that
/// shows the secret.
#[utoipa::path(
    tag = "service-accounts",
    operation_id = "create_service_account_secret",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The account's id")),
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = NewSecret),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        crate::openapi::AdminOnly,
    )
)]
#[post("/service-accounts/{id}/secrets")]
pub async fn create_service_account_secret(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = account_id(&id)?;
    let secret = new_secret();
    let (hash, hint) = (hash_secret(&secret), secret_hint(&secret));
    let account = id.clone();
    let info = db::transaction(&state.pool, move |conn| {
        let secret_id =
            match queries::add_secret(conn, &account, &hash, &hint, MAX_LIVE_SECRETS)? {
                SecretAdded::Added(secret_id) => secret_id,
                SecretAdded::NoSuchAccount => return Err(ApiError::not_found("service account")),
                SecretAdded::TooMany => {
                    return Err(ApiError::Conflict(format!(
                        "a service account has at most {MAX_LIVE_SECRETS} live secrets; revoke one first"
                    )));
                }
            };
        audit::Entry::new(Action::ServiceAccountSecretAdded)
            .by(&admin)
            .on(audit::Entity::ServiceAccount, &account)
            .details(json!({"secret_id": secret_id}))
            .write(conn)?;
        queries::live_secrets(conn, std::slice::from_ref(&account))?
            .into_iter()
            .find(|s| s.id == secret_id)
            .map(secret_info)
            .ok_or_else(|| ApiError::internal("secret vanished"))
    })
    .await?;
    Ok(HttpResponse::Created().json(NewSecret {
        client_id: id,
        client_secret: secret,
        secret: info,
    }))
}

/// Revoke a client secret: tokens issued under it stop working on their next request.
#[utoipa::path(
    tag = "service-accounts",
    operation_id = "revoke_service_account_secret",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The account's id"),
        ("secret_id" = String, Path, format = Uuid, description = "The secret's id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::AdminOnly,
    )
)]
#[delete("/service-accounts/{id}/secrets/{secret_id}")]
pub async fn revoke_service_account_secret(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, secret_id) = path.into_inner();
    let id = account_id(&id)?;
    if uuid::Uuid::parse_str(&secret_id).is_err() {
        return Err(ApiError::not_found("live secret"));
    }
    db::transaction(&state.pool, move |conn| {
        if !queries::revoke_secret(conn, &id, &secret_id)? {
            return Err(ApiError::not_found("live secret"));
        }
        audit::Entry::new(Action::ServiceAccountSecretRevoked)
            .by(&admin)
            .on(audit::Entity::ServiceAccount, &id)
            .details(json!({"secret_id": secret_id}))
            .write(conn)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Retire a service account: deactivated, every secret revoked, its tokens
/// stopped at once. The account stays, as the reporter and actor its incidents
/// and audit records name.
#[utoipa::path(
    tag = "service-accounts",
    operation_id = "delete_service_account",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The account's id")),
    responses(
        (status = 204, description = "Retired"),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::AdminOnly,
    )
)]
#[delete("/service-accounts/{id}")]
pub async fn delete_service_account(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = account_id(&id)?;
    db::transaction(&state.pool, move |conn| {
        if queries::find(conn, &id)?.is_none() {
            return Err(ApiError::not_found("service account"));
        }
        queries::update_identity(conn, &id, None, Some(false))?;
        let revoked = queries::revoke_all_secrets(conn, &id)?;
        audit::Entry::new(Action::ServiceAccountUpdated)
            .by(&admin)
            .on(audit::Entity::ServiceAccount, &id)
            .details(json!({"active": false, "secrets_revoked": revoked}))
            .write(conn)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
