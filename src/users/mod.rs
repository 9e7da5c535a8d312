//! Users: who may sign in, with which role, for which organisation.

pub mod queries;
pub mod routes;

use chrono::{DateTime, NaiveDateTime};
use diesel::{Queryable, Selectable};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::schema::users;
use crate::domain::{DisplayName, Email, OrganisationId, OrganisationKind, Password, Role, UserId};
use crate::domain_error::DomainError;
use crate::validation::{valid_display_name, valid_email, valid_password, valid_uuid};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub organisation_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub active: bool,
    pub password_changed_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Bumped whenever every access token issued so far must stop working.
    pub token_generation: i64,
}

impl UserRow {
    pub fn role(&self) -> Result<Role, DomainError> {
        self.role.parse().map_err(DomainError::corrupt)
    }
}

/// The organisation a user belongs to, as shown beside the user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganisationRef {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
}

/// A user as the API shows it. Password hashes never leave the database.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(example = "monitor@demo.basewatch.org")]
    pub email: String,
    #[schema(example = "Field Monitor")]
    pub name: String,
    pub role: Role,
    pub organisation: OrganisationRef,
    /// A deactivated user cannot sign in, and their tokens stop working at once.
    pub active: bool,
    pub created_at: DateTime<chrono::Utc>,
    pub updated_at: DateTime<chrono::Utc>,
}

impl User {
    pub fn from_row(row: UserRow, organisation_name: String) -> Result<Self, DomainError> {
        Ok(Self {
            role: row.role()?,
            organisation: OrganisationRef {
                id: row.organisation_id,
                name: organisation_name,
            },
            id: row.id,
            email: row.email,
            name: row.name,
            active: row.active,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

/// A new account. Only admins create accounts.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Unique regardless of case; stored lower-cased.
    #[validate(custom(function = "valid_email"))]
    #[schema(example = "new.monitor@example.org", format = Email, max_length = 254)]
    pub email: String,
    #[validate(custom(function = "valid_display_name"))]
    #[schema(value_type = crate::domain::DisplayName)]
    pub name: String,
    pub role: Role,
    #[validate(custom(function = "valid_uuid"))]
    #[schema(format = Uuid)]
    pub organisation_id: String,
    /// 12 to 1024 characters, and hard to guess: common passwords, keyboard
    /// patterns and the account's own email or name are refused.
    #[validate(custom(function = "valid_password"))]
    #[schema(example = "a long passphrase", min_length = 12, max_length = 1024, format = Password)]
    pub password: String,
}

/// Changes to an account; every field is optional.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[validate(custom(function = "valid_display_name"))]
    #[schema(value_type = Option<crate::domain::DisplayName>)]
    pub name: Option<String>,
    pub role: Option<Role>,
    /// `false` deactivates the account and revokes its sessions at once.
    pub active: Option<bool>,
    #[validate(custom(function = "valid_uuid"))]
    #[schema(format = Uuid)]
    pub organisation_id: Option<String>,
    /// A password reset: the user's sessions are revoked. Judged like a new
    /// account's password.
    #[validate(custom(function = "valid_password"))]
    #[schema(min_length = 12, max_length = 1024, format = Password)]
    pub password: Option<String>,
}

/// A validated new account, ready to store.
pub struct NewUser {
    pub email: Email,
    pub name: DisplayName,
    pub role: Role,
    pub organisation_id: OrganisationId,
    pub password: Password,
}

impl TryFrom<CreateUserRequest> for NewUser {
    type Error = DomainError;

    fn try_from(req: CreateUserRequest) -> Result<Self, DomainError> {
        Ok(Self {
            email: Email::parse(&req.email).map_err(|e| DomainError::invalid("email", e))?,
            name: DisplayName::parse(&req.name).map_err(|e| DomainError::invalid("name", e))?,
            role: req.role,
            organisation_id: OrganisationId::parse(&req.organisation_id)
                .map_err(|_| DomainError::invalid("organisation_id", "must be a UUID"))?,
            password: Password::parse_strong(req.password, &[&req.email, &req.name])
                .map_err(|e| DomainError::invalid("password", e))?,
        })
    }
}

/// A validated change.
#[derive(Default)]
pub struct UserChanges {
    pub name: Option<DisplayName>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub organisation_id: Option<OrganisationId>,
    pub password: Option<Password>,
}

impl TryFrom<UpdateUserRequest> for UserChanges {
    type Error = DomainError;

    fn try_from(req: UpdateUserRequest) -> Result<Self, DomainError> {
        Ok(Self {
            name: req
                .name
                .map(|n| DisplayName::parse(&n).map_err(|e| DomainError::invalid("name", e)))
                .transpose()?,
            role: req.role,
            active: req.active,
            organisation_id: req
                .organisation_id
                .map(|id| {
                    OrganisationId::parse(&id)
                        .map_err(|_| DomainError::invalid("organisation_id", "must be a UUID"))
                })
                .transpose()?,
            password: req
                .password
                .map(|p| Password::parse(p).map_err(|e| DomainError::invalid("password", e)))
                .transpose()?,
        })
    }
}

/// The rules an admin's change must follow, checked before anything is written.
pub fn check_changes(
    actor: &UserId,
    target: &UserId,
    changes: &UserChanges,
) -> Result<(), DomainError> {
    if actor == target {
        if changes.active == Some(false) {
            return Err(DomainError::Conflict(
                "you cannot deactivate your own account; another admin can".into(),
            ));
        }
        if changes.role.is_some_and(|r| r != Role::Admin) {
            return Err(DomainError::Conflict(
                "you cannot remove your own admin role; another admin can".into(),
            ));
        }
        // POST /me/password asks for the current password so that a stolen
        // access token cannot set one its thief knows; a reset of one's own
        // account here would skip that question.
        if changes.password.is_some() {
            return Err(DomainError::Conflict(
                "you cannot reset your own password here; change it with POST /api/v1/me/password, which asks for the current one".into(),
            ));
        }
    }
    Ok(())
}

/// Admin, reviewer and analyst accounts belong only to oversight offices: an
/// admin manages every organisation's accounts and reads the audit log;
/// reviewers and analysts read every organisation's incidents exactly (the
/// partner release exists because no partner organisation may). Checked on
/// every create and change, by the command line, and by the migration that
/// introduced the rule.
pub fn check_placement(role: Role, organisation_kind: OrganisationKind) -> Result<(), DomainError> {
    misplaced(role, organisation_kind).map_or(Ok(()), |why| Err(DomainError::invalid("role", why)))
}

/// Why `role` may not belong to an organisation of this kind, if it may not.
pub fn misplaced(role: Role, organisation_kind: OrganisationKind) -> Option<String> {
    (role.is_oversight_only() && organisation_kind != OrganisationKind::OversightOffice).then(
        || {
            format!(
                "{role} accounts belong only to oversight offices; this organisation is of kind {}",
                organisation_kind.as_str()
            )
        },
    )
}

/// A service account's role: never admin or reviewer (review is a person's
/// four-eyes act, administration a person's responsibility), and otherwise
/// placed like a person's (`check_placement`): monitor or partner anywhere it
/// may be, analyst only in an oversight office.
pub fn check_service_placement(
    role: Role,
    organisation_kind: OrganisationKind,
) -> Result<(), DomainError> {
    if matches!(role, Role::Admin | Role::Reviewer) {
        return Err(DomainError::invalid(
            "role",
            format!("a service account cannot be {role}: only monitor, partner or analyst"),
        ));
    }
    check_placement(role, organisation_kind)
}

/// The kind of an existing organisation; an unknown id is the caller's mistake.
pub fn organisation_kind(
    conn: &mut crate::db::DbConnection,
    id: &OrganisationId,
) -> Result<OrganisationKind, DomainError> {
    crate::organisations::queries::find(conn, id)?
        .ok_or_else(|| DomainError::invalid("organisation_id", "no organisation has this id"))?
        .kind
        .parse()
        .map_err(DomainError::corrupt)
}

/// Hashes the password and stores the account, for the command line and the demo
/// (the HTTP handler hashes on the blocking pool itself).
pub fn create_account(
    conn: &mut crate::db::DbConnection,
    user: &NewUser,
) -> Result<UserId, DomainError> {
    check_placement(user.role, organisation_kind(conn, &user.organisation_id)?)?;
    let hash = crate::auth::password::hash(&user.password).map_err(DomainError::corrupt)?;
    queries::insert(conn, user, &hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> UserId {
        UserId::from_db(s.into())
    }

    #[test]
    fn admins_cannot_lock_themselves_out() {
        let me = id("a");
        let deactivate = UserChanges {
            active: Some(false),
            ..Default::default()
        };
        let demote = UserChanges {
            role: Some(Role::Analyst),
            ..Default::default()
        };
        assert!(check_changes(&me, &me, &deactivate).is_err());
        assert!(check_changes(&me, &me, &demote).is_err());
        assert!(check_changes(&me, &id("b"), &deactivate).is_ok());
        assert!(check_changes(&me, &id("b"), &demote).is_ok());
    }

    #[test]
    fn service_accounts_never_administer_or_review() {
        use OrganisationKind::*;
        for role in Role::ALL {
            for kind in [OversightOffice, Ngo, Other] {
                let allowed = match role {
                    Role::Admin | Role::Reviewer => false,
                    Role::Analyst => kind == OversightOffice,
                    Role::Monitor | Role::Partner => true,
                };
                assert_eq!(
                    check_service_placement(role, kind).is_ok(),
                    allowed,
                    "{role} {kind:?}"
                );
            }
        }
    }

    #[test]
    fn oversight_roles_belong_only_to_oversight_offices() {
        use OrganisationKind::*;
        for role in Role::ALL {
            for kind in [OversightOffice, Ngo, Other] {
                let oversight = matches!(role, Role::Admin | Role::Reviewer | Role::Analyst);
                let allowed = !oversight || kind == OversightOffice;
                assert_eq!(
                    check_placement(role, kind).is_ok(),
                    allowed,
                    "{role} {kind:?}"
                );
            }
        }
    }
}
