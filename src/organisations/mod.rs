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
use crate::error::ApiError;
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
    type Error = ApiError;

    fn try_from(row: OrganisationRow) -> Result<Self, ApiError> {
        Ok(Self {
            kind: row.kind.parse().map_err(ApiError::internal)?,
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
    #[schema(
        example = "Mission Oversight Office",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$"
    )]
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
    #[schema(
        example = "Mission Oversight Office",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub name: Option<String>,
    pub kind: Option<OrganisationKind>,
}
