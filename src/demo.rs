//! `serve --demo`: two organisations and one account per role, created once.
//! Every name here is fictitious; the passwords are public by design.

use crate::db::DbConnection;
use crate::domain::{DisplayName, Email, OrganisationId, OrganisationKind, Password, Role};
use crate::error::ApiError;
use crate::organisations::queries as organisations;
use crate::users::{self, NewUser, queries as user_queries};

pub const OVERSIGHT_OFFICE: &str = "Demo Mission Oversight Office";
pub const NGO: &str = "Demo NGO Partner";

/// (email, name, role, organisation)
pub const ACCOUNTS: [(&str, &str, Role, &str); 7] = [
    (
        "admin@demo.basewatch.org",
        "Demo Admin",
        Role::Admin,
        OVERSIGHT_OFFICE,
    ),
    (
        "reviewer@demo.basewatch.org",
        "Demo Reviewer",
        Role::Reviewer,
        OVERSIGHT_OFFICE,
    ),
    (
        "reviewer2@demo.basewatch.org",
        "Demo Second Reviewer",
        Role::Reviewer,
        OVERSIGHT_OFFICE,
    ),
    (
        "analyst@demo.basewatch.org",
        "Demo Analyst",
        Role::Analyst,
        OVERSIGHT_OFFICE,
    ),
    (
        "monitor@demo.basewatch.org",
        "Demo Field Monitor",
        Role::Monitor,
        OVERSIGHT_OFFICE,
    ),
    (
        "monitor2@demo.basewatch.org",
        "Demo Second Field Monitor",
        Role::Monitor,
        OVERSIGHT_OFFICE,
    ),
    (
        "partner@demo.basewatch.org",
        "Demo NGO Partner",
        Role::Partner,
        NGO,
    ),
];

pub fn password_for(role: Role) -> String {
    format!("demo-password-{role}")
}

/// Creates whatever of the demo data is missing; returns how many accounts it created.
pub fn seed(conn: &mut DbConnection) -> Result<usize, ApiError> {
    let office = organisations::find_or_create(
        conn,
        &name(OVERSIGHT_OFFICE),
        OrganisationKind::OversightOffice,
    )?;
    let ngo = organisations::find_or_create(conn, &name(NGO), OrganisationKind::Ngo)?;
    let mut created = 0;
    for (email, display_name, role, org) in ACCOUNTS {
        let email = Email::parse(email).map_err(ApiError::internal)?;
        if user_queries::find_by_email(conn, &email)?.is_some() {
            continue;
        }
        let organisation_id = if org == NGO { &ngo.id } else { &office.id };
        let user = NewUser {
            email,
            name: name(display_name),
            role,
            organisation_id: OrganisationId::from_db(organisation_id.clone()),
            password: Password::parse(password_for(role)).map_err(ApiError::internal)?,
        };
        users::create_account(conn, &user)?;
        created += 1;
    }
    Ok(created)
}

fn name(raw: &str) -> DisplayName {
    DisplayName::parse(raw).expect("demo names are valid")
}
