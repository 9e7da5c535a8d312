//! Aggregates of incidents per mission, base, month, troop strength…: exact, in
//! SQL, for analysts and admins (with `k` suppression on request) and for anyone
//! over their own organisation; for partners, arithmetic over the partner release.

pub mod queries;
pub mod released;
pub mod routes;
pub mod suppression;
pub mod troops;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain_error::DomainError;

/// What a cell can be grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dimension {
    Mission,
    Base,
    Year,
    Month,
    ExploitationType,
    ConsentAssessment,
    Venue,
    PerpetratorAffiliation,
    DistanceBand,
    Status,
}

impl Dimension {
    pub const ALL: [Dimension; 10] = [
        Dimension::Mission,
        Dimension::Base,
        Dimension::Year,
        Dimension::Month,
        Dimension::ExploitationType,
        Dimension::ConsentAssessment,
        Dimension::Venue,
        Dimension::PerpetratorAffiliation,
        Dimension::DistanceBand,
        Dimension::Status,
    ];

    /// The name in `group_by`.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Mission => "mission",
            Dimension::Base => "base",
            Dimension::Year => "year",
            Dimension::Month => "month",
            Dimension::ExploitationType => "exploitation_type",
            Dimension::ConsentAssessment => "consent_assessment",
            Dimension::Venue => "venue",
            Dimension::PerpetratorAffiliation => "perpetrator_affiliation",
            Dimension::DistanceBand => "distance_band",
            Dimension::Status => "status",
        }
    }

    /// The name of its column in a cell.
    pub fn column(self) -> &'static str {
        match self {
            Dimension::Mission => "mission_id",
            Dimension::Base => "base_id",
            other => other.name(),
        }
    }

    /// `group_by=mission,base,month` → the dimensions, each once.
    pub fn parse_list(raw: &str) -> Result<Vec<Dimension>, DomainError> {
        let mut dims = Vec::new();
        for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let dim = Dimension::ALL
                .into_iter()
                .find(|d| d.name() == name)
                .ok_or_else(|| {
                    DomainError::BadQuery(format!(
                        "group_by: unknown dimension {name:?}; one of {}",
                        Dimension::ALL.map(Dimension::name).join(", ")
                    ))
                })?;
            if !dims.contains(&dim) {
                dims.push(dim);
            }
        }
        Ok(dims)
    }
}

/// One cell of an aggregate. Only the dimensions grouped by appear; a grouped
/// dimension is `null` where incidents have no value for it (a mission without
/// bases, no venue given…).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Cell {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub mission_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub mission_name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub base_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub base_name: Option<Option<String>>,
    /// `2004`
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "2004")]
    pub year: Option<Option<String>>,
    /// `2004-06`
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "2004-06")]
    pub month: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub exploitation_type: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub consent_assessment: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub venue: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub perpetrator_affiliation: Option<Option<String>>,
    /// `0-2`, `2-5`, `5-10`, `10-25` or `25+` km from the nearest base.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "2-5")]
    pub distance_band: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub status: Option<Option<String>>,
    /// Incidents in the cell; `null` when suppressed.
    pub incidents: Option<i64>,
    /// Victims in those incidents; `null` when suppressed, and in the release
    /// except per base (victims are released per mission × base × month only).
    pub victims: Option<i64>,
    /// Withheld to protect people in small places (fewer than `k` incidents, or
    /// recoverable from the total).
    pub suppressed: bool,
    /// With `month` and `base` or `mission`: the troops deployed, averaged over the days of the month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub troop_strength: Option<f64>,
    /// With `month` and `base` or `mission`: incidents per 1,000 troops (`null` without
    /// troops or when suppressed).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub incidents_per_1000_troops: Option<Option<f64>>,
}

impl Cell {
    /// The value of a grouped dimension, for ordering and CSV.
    pub fn value(&self, dim: Dimension) -> Option<&str> {
        let v = match dim {
            Dimension::Mission => &self.mission_id,
            Dimension::Base => &self.base_id,
            Dimension::Year => &self.year,
            Dimension::Month => &self.month,
            Dimension::ExploitationType => &self.exploitation_type,
            Dimension::ConsentAssessment => &self.consent_assessment,
            Dimension::Venue => &self.venue,
            Dimension::PerpetratorAffiliation => &self.perpetrator_affiliation,
            Dimension::DistanceBand => &self.distance_band,
            Dimension::Status => &self.status,
        };
        v.as_ref().and_then(|v| v.as_deref())
    }
}

/// Totals over every incident matched (not over cells: an incident with two
/// exploitation types is in two cells but counted once here).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Total {
    pub incidents: Option<i64>,
    pub victims: Option<i64>,
    pub suppressed: bool,
}

/// Which incidents an answer is about, and how.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every organisation's incidents, exactly: analysts and admins (their default).
    All,
    /// The caller's own organisation's incidents, exactly, with every filter.
    Own,
    /// Every organisation's incidents through the partner release: noised monthly
    /// cells, filters and grouping at release grain only (partners' default).
    Release,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Aggregate {
    pub scope: Scope,
    /// The dimensions, in the order asked.
    pub group_by: Vec<String>,
    /// The suppression threshold applied, if any.
    pub k: Option<u32>,
    pub cells: Vec<Cell>,
    /// With `scope=release`, the sum of the cells answered (so they agree).
    pub total: Total,
    /// With `scope=release`: the mechanism, ε, the months released, the noise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy: Option<crate::releases::queries::Privacy>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_by_lists_parse() {
        assert_eq!(
            Dimension::parse_list("mission, month").unwrap(),
            [Dimension::Mission, Dimension::Month]
        );
        assert!(Dimension::parse_list("").unwrap().is_empty());
        assert!(Dimension::parse_list("planet").is_err());
        assert_eq!(
            Dimension::parse_list("month,,month").unwrap(),
            [Dimension::Month]
        );
    }
}
