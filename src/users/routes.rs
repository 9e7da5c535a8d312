//! /api/v1/users (admin only)

use actix_web::http::header;
use actix_web::{HttpResponse, get, patch, post, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::queries::{self, UserChangeset, UserFilter};
use super::{
    CreateUserRequest, NewUser, UpdateUserRequest, User, UserChanges, check_changes,
    check_placement, organisation_kind,
};
use crate::audit::{self, Action};
use crate::auth::{Admin, password, refresh};
use crate::db;
use crate::domain::{OrganisationId, Role, UserId};
use crate::error::ApiError;
use crate::http::{Cursor, Page, PageQuery, ValidJson};
use crate::state::AppState;

/// Create a user in an organisation.
///
/// The password must be hard to guess (422 naming `password`, with advice);
/// an admin account must belong to an oversight office (422 naming `role`).
#[utoipa::path(
    tag = "users",
    operation_id = "create_user",
    security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = User,
            headers(("Location" = String, description = "The new user's address"))),
        (status = 409, response = crate::openapi::Conflict),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    ValidJson(req): ValidJson<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    // zxcvbn takes milliseconds: judge the password on the blocking pool.
    let new = web::block(move || NewUser::try_from(req))
        .await
        .map_err(ApiError::internal)??;
    let password = new.password.clone();
    let hash = web::block(move || password::hash(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let user = db::transaction(&state.pool, move |conn| {
        if !queries::hold_admin(conn, &admin.id)? {
            return Err(ApiError::Forbidden(
                "this action needs the admin role".into(),
            ));
        }
        check_placement(new.role, organisation_kind(conn, &new.organisation_id)?)?;
        let id = queries::insert(conn, &new, &hash)?;
        let (row, org) =
            queries::find(conn, &id)?.ok_or_else(|| ApiError::internal("user vanished"))?;
        let user = User::from_row(row, org)?;
        audit::Entry::new(Action::UserCreated)
            .by(&admin)
            .on(audit::Entity::User, id.as_str())
            .details(json!({"email": user.email, "role": user.role, "organisation_id": user.organisation.id}))
            .write(conn)?;
        Ok(user)
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/users/{}", user.id)))
        .json(user))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Only users with this role.
    pub role: Option<Role>,
    /// Only users of this organisation.
    #[param(format = Uuid)]
    pub organisation_id: Option<String>,
    /// Only active (`true`) or deactivated (`false`) users.
    pub active: Option<bool>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// List users, oldest first.
#[utoipa::path(
    tag = "users",
    operation_id = "list_users",
    security(("bearer" = [])),
    params(UserListQuery),
    responses(
        (status = 200, description = "A page of users", body = Page<User>),
        (status = 400, response = crate::openapi::BadRequest),
        crate::openapi::AdminOnly,
    )
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: Admin,
    query: crate::http::Query<UserListQuery>,
) -> Result<web::Json<Page<User>>, ApiError> {
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let filter = UserFilter {
        role: query.role,
        organisation_id: query
            .organisation_id
            .map(|id| {
                OrganisationId::parse(&id)
                    .map_err(|_| ApiError::BadRequest("organisation_id must be a UUID".into()))
            })
            .transpose()?,
        active: query.active,
    };
    let rows = db::run::<_, ApiError, _>(&state.pool, move |conn| {
        Ok(queries::list(conn, &filter, cursor.as_ref(), limit)?)
    })
    .await?;
    let users = rows
        .into_iter()
        .map(|(row, org)| User::from_row(row, org))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(web::Json(Page::from_rows(users, limit, |u| {
        Cursor::encode(&u.id)
    })))
}

/// One user.
#[utoipa::path(
    tag = "users",
    operation_id = "get_user",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::AdminOnly,
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<String>,
) -> Result<web::Json<User>, ApiError> {
    let id = UserId::parse(&id)?;
    let (row, org) =
        db::run::<_, ApiError, _>(&state.pool, move |conn| Ok(queries::find(conn, &id)?))
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(web::Json(User::from_row(row, org)?))
}

/// Change a user's name, role, organisation or status, or reset their password.
///
/// Deactivating a user or resetting their password ends all their sessions at
/// once, access tokens included; a role or organisation change applies to their
/// existing tokens at once. Admins cannot deactivate themselves, drop their
/// own admin role or reset their own password (409; `POST /me/password` asks for
/// the current one), and admin accounts belong only to oversight
/// offices (422 naming `role` otherwise).
#[utoipa::path(
    tag = "users",
    operation_id = "update_user",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The user's id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The updated user", body = User),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    ValidJson(req): ValidJson<UpdateUserRequest>,
) -> Result<web::Json<User>, ApiError> {
    let id = UserId::parse(&id)?;
    let changes = UserChanges::try_from(req)?;
    check_changes(&admin.id, &id, &changes)?;
    // A reset password is judged against the account's own words, so the
    // account is read first (and a missing one answers 404 before any hashing).
    if let Some(password) = &changes.password {
        let target = id.clone();
        let (row, _) =
            db::run::<_, ApiError, _>(&state.pool, move |conn| Ok(queries::find(conn, &target)?))
                .await?
                .ok_or_else(|| ApiError::not_found("user"))?;
        let new_name = changes.name.as_ref().map_or("", |n| n.as_str()).to_owned();
        let password = password.clone();
        web::block(move || password.check_strength(&[&row.email, &row.name, &new_name]))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::invalid("password", e))?;
    }
    let password_hash = match changes.password.clone() {
        Some(p) => Some(
            web::block(move || password::hash(&p))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    let user = db::transaction(&state.pool, move |conn| {
        if !queries::hold_admin(conn, &admin.id)? {
            return Err(ApiError::Forbidden(
                "this action needs the admin role".into(),
            ));
        }
        let now = db::now();
        let (current, _) = queries::find(conn, &id)?.ok_or_else(|| ApiError::not_found("user"))?;
        let role = changes.role.unwrap_or(current.role()?);
        let organisation = changes
            .organisation_id
            .clone()
            .unwrap_or_else(|| OrganisationId::from_db(current.organisation_id.clone()));
        check_placement(role, organisation_kind(conn, &organisation)?)?;
        // A reset or a deactivation ends every sign-in and every access token.
        // Role and organisation are read from this row on every request, so a
        // change to them applies to existing tokens at once without ending them.
        let ends_sessions = changes.active == Some(false) || password_hash.is_some();
        let details = json!({
            "name": changes.name.as_ref().map(|n| n.as_str().to_owned()),
            "role": changes.role,
            "active": changes.active,
            "organisation_id": changes.organisation_id.as_ref().map(|o| o.as_str().to_owned()),
            "password_reset": password_hash.is_some(),
            "sessions_ended": ends_sessions,
        });
        let changeset = UserChangeset {
            name: changes.name.map(|n| n.as_str().to_owned()),
            role: changes.role.map(|r| r.as_str().to_owned()),
            active: changes.active,
            organisation_id: changes
                .organisation_id
                .as_ref()
                .map(|o| o.as_str().to_owned()),
            password_changed_at: password_hash.is_some().then_some(now),
            password_hash,
            updated_at: Some(now),
        };
        if !queries::update(conn, &id, &changeset)? {
            return Err(ApiError::not_found("user"));
        }
        if ends_sessions {
            queries::bump_generation(conn, &id)?;
            refresh::revoke_all_for_user(conn, &id)?;
        }
        audit::Entry::new(Action::UserUpdated)
            .by(&admin)
            .on(audit::Entity::User, id.as_str())
            .details(details)
            .write(conn)?;
        let (row, org) =
            queries::find(conn, &id)?.ok_or_else(|| ApiError::internal("user vanished"))?;
        Ok(User::from_row(row, org)?)
    })
    .await?;
    Ok(web::Json(user))
}
