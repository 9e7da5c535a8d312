//! Organisations: every user belongs to one (an oversight office, an NGO…).

pub mod queries;
pub mod routes;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::{Queryable, Selectable};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::schema::organisations;
use crate::domain::OrganisationKind;
use crate::domain_error::DomainError;
use crate::validation::valid_display_name;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organisations)]
pub struct OrganisationRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Organisation {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(example = "Mission Oversight Office")]
    pub name: String,
    pub kind: OrganisationKind,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<OrganisationRow> for Organisation {
    type Error = DomainError;

    fn try_from(row: OrganisationRow) -> Result<Self, DomainError> {
        Ok(Self {
            kind: row.kind.parse().map_err(DomainError::corrupt)?,
            id: row.id,
            name: row.name,
            created_at: row.created_at.and_utc(),
        })
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganisationRequest {
    /// Unique regardless of case.
    #[validate(custom(function = "valid_display_name"))]
    #[schema(value_type = crate::domain::DisplayName)]
    pub name: String,
    pub kind: OrganisationKind,
}

/// Changes to an organisation. A new `kind` must fit every account inside it
/// (admin, reviewer and analyst accounts belong only to oversight offices).
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganisationRequest {
    /// Unique regardless of case.
    #[validate(custom(function = "valid_display_name"))]
    #[schema(value_type = Option<crate::domain::DisplayName>)]
    pub name: Option<String>,
    pub kind: Option<OrganisationKind>,
}
