//! Reference data: missions, their bases, and the troop deployments at each base.
//! Admins write it; every signed-in user reads it.

pub mod queries;
pub mod routes;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::domain::{CountryCode, DisplayName, check_date};
use crate::domain_error::DomainError;
use crate::validation::{FieldError, Invalid};

/// A peacekeeping or military operation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Mission {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(example = "MINUSTAH")]
    pub name: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "HT")]
    pub country: String,
    pub mandate_start: NaiveDate,
    /// Absent while the mandate runs.
    pub mandate_end: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMissionRequest {
    #[schema(value_type = crate::domain::DisplayName)]
    pub name: String,
    #[schema(example = "HT", value_type = CountryCode)]
    pub country: String,
    /// 1945-01-01 to 2100-12-31, like every date of a mission.
    #[schema(example = "2004-06-01")]
    pub mandate_start: NaiveDate,
    /// Not before `mandate_start`.
    #[schema(example = "2017-10-15")]
    pub mandate_end: Option<NaiveDate>,
}

/// Changes to a mission; `mandate_end: null` reopens the mandate.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMissionRequest {
    #[schema(value_type = Option<crate::domain::DisplayName>)]
    pub name: Option<String>,
    #[schema(value_type = Option<CountryCode>)]
    pub country: Option<String>,
    pub mandate_start: Option<NaiveDate>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<NaiveDate>)]
    pub mandate_end: Option<Option<NaiveDate>>,
}

/// Tells `"field": null` (Some(None): clear it) from an absent field (None: keep it).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Collects every invalid field of a request before answering.
#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|m| self.0.push(FieldError::new(field, m)))
            .ok()
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Invalid(self.0).into())
        }
    }
}

/// A mission as stored, after validation.
pub struct MissionFields {
    pub name: DisplayName,
    pub country: CountryCode,
    pub mandate_start: NaiveDate,
    pub mandate_end: Option<NaiveDate>,
}

impl MissionFields {
    pub fn parse(
        name: &str,
        country: &str,
        start: NaiveDate,
        end: Option<NaiveDate>,
    ) -> Result<Self, DomainError> {
        let mut checks = Checks::default();
        let name = checks.check("name", DisplayName::parse(name));
        let country = checks.check("country", CountryCode::parse(country));
        checks.check("mandate_start", check_date(start));
        if let Some(end) = end {
            checks.check("mandate_end", check_date(end));
        }
        if end.is_some_and(|end| end < start) {
            checks.fail("mandate_end", "must not be before mandate_start");
        }
        checks.finish()?;
        match (name, country) {
            (Some(name), Some(country)) => Ok(Self {
                name,
                country,
                mandate_start: start,
                mandate_end: end,
            }),
            _ => Err(DomainError::corrupt("checked fields missing")),
        }
    }
}

/// A base of a mission: where troops are stationed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Base {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub mission_id: String,
    #[schema(example = "Camp Bondsteel")]
    pub name: String,
    #[schema(example = 42.36)]
    pub latitude: f64,
    #[schema(example = 21.25)]
    pub longitude: f64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBaseRequest {
    #[schema(value_type = crate::domain::DisplayName)]
    pub name: String,
    #[schema(example = 42.36, minimum = -90, maximum = 90)]
    pub latitude: f64,
    #[schema(example = 21.25, minimum = -180, maximum = 180)]
    pub longitude: f64,
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBaseRequest {
    #[schema(value_type = Option<crate::domain::DisplayName>)]
    pub name: Option<String>,
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
}

pub fn check_latitude(value: f64) -> Result<f64, String> {
    if (-90.0..=90.0).contains(&value) {
        Ok(value)
    } else {
        Err("must be between -90 and 90".into())
    }
}

pub fn check_longitude(value: f64) -> Result<f64, String> {
    if (-180.0..=180.0).contains(&value) {
        Ok(value)
    } else {
        Err("must be between -180 and 180".into())
    }
}

/// Troops at a base over a period. Overlapping deployments at one base add up.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deployment {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub base_id: String,
    pub start_date: NaiveDate,
    /// Absent while the deployment lasts.
    pub end_date: Option<NaiveDate>,
    #[schema(example = 7000)]
    pub troop_count: i32,
    /// The troop-contributing country, ISO 3166-1 alpha-2.
    #[schema(example = "US")]
    pub contributing_country: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeploymentRequest {
    /// 1945-01-01 to 2100-12-31.
    #[schema(example = "1999-06-12")]
    pub start_date: NaiveDate,
    /// Not before `start_date`; absent while the deployment lasts.
    pub end_date: Option<NaiveDate>,
    #[validate(range(min = 0, max = 1_000_000, message = "must be between 0 and 1000000"))]
    #[schema(example = 7000, minimum = 0, maximum = 1_000_000)]
    pub troop_count: i32,
    #[schema(example = "US", value_type = CountryCode)]
    pub contributing_country: String,
}

/// Changes to a deployment; `end_date: null` makes it last again.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDeploymentRequest {
    /// 1945-01-01 to 2100-12-31.
    pub start_date: Option<NaiveDate>,
    /// Not before `start_date`; `null` while the deployment lasts.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<NaiveDate>)]
    pub end_date: Option<Option<NaiveDate>>,
    #[validate(range(min = 0, max = 1_000_000, message = "must be between 0 and 1000000"))]
    #[schema(example = 7000, minimum = 0, maximum = 1_000_000)]
    pub troop_count: Option<i32>,
    #[schema(example = "US", value_type = Option<CountryCode>)]
    pub contributing_country: Option<String>,
}

/// A deployment as stored, after validation.
pub struct DeploymentFields {
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub troop_count: i32,
    pub contributing_country: CountryCode,
}

impl DeploymentFields {
    pub fn parse(
        start_date: NaiveDate,
        end_date: Option<NaiveDate>,
        troop_count: i32,
        contributing_country: &str,
    ) -> Result<Self, DomainError> {
        let mut checks = Checks::default();
        let country = checks.check(
            "contributing_country",
            CountryCode::parse(contributing_country),
        );
        checks.check("start_date", check_date(start_date));
        if let Some(end) = end_date {
            checks.check("end_date", check_date(end));
        }
        if end_date.is_some_and(|end| end < start_date) {
            checks.fail("end_date", "must not be before start_date");
        }
        checks.finish()?;
        let contributing_country =
            country.ok_or_else(|| DomainError::corrupt("checked field missing"))?;
        Ok(Self {
            start_date,
            end_date,
            troop_count,
            contributing_country,
        })
    }
}
