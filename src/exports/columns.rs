//! The columns of a row-level export: Basewatch's names, the HTCDS/CTDC names
//! (`schema=htcds`) and the HXL hashtags (`hxl=true`), in one table.

use crate::crypto::DataKeys;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::incidents::IncidentRow;

/// (Basewatch name, HTCDS/CTDC name, HXL hashtag)
pub const COLUMNS: &[(&str, &str, &str)] = &[
    ("id", "caseId", "#event+id"),
    ("mission_id", "missionId", "#activity+mission+id"),
    ("mission_name", "missionName", "#activity+mission+name"),
    ("country", "countryOfExploitation", "#country+code"),
    ("base_id", "nearestBaseId", "#loc+base+id"),
    ("base_name", "nearestBaseName", "#loc+name"),
    ("base_distance_km", "distanceToBaseKm", "#loc+distance"),
    ("status", "caseStatus", "#status"),
    ("occurred_at", "dateOfIncident", "#date+occurred"),
    ("latitude", "latitude", "#geo+lat"),
    ("longitude", "longitude", "#geo+lon"),
    ("location_precision", "locationPrecision", "#geo+precision"),
    ("venue", "exploitationVenue", "#loc+type"),
    ("exploitation_types", "vic_TypeOfExploit", "#event+type"),
    (
        "means_of_control",
        "vic_MethodsOfControl",
        "#indicator+control",
    ),
    (
        "recruitment",
        "vic_MethodOfRecruitment",
        "#indicator+recruitment",
    ),
    (
        "movement_facilitated",
        "movementFacilitated",
        "#indicator+movement",
    ),
    ("victims", "vic_Count", "#affected+victims"),
    (
        "victims_age_0_8",
        "vic_AgeBroad_0--8",
        "#affected+victims+age0_8",
    ),
    (
        "victims_age_9_17",
        "vic_AgeBroad_9--17",
        "#affected+victims+age9_17",
    ),
    (
        "victims_age_18_20",
        "vic_AgeBroad_18--20",
        "#affected+victims+age18_20",
    ),
    (
        "victims_age_21_23",
        "vic_AgeBroad_21--23",
        "#affected+victims+age21_23",
    ),
    (
        "victims_age_24_26",
        "vic_AgeBroad_24--26",
        "#affected+victims+age24_26",
    ),
    (
        "victims_age_27_29",
        "vic_AgeBroad_27--29",
        "#affected+victims+age27_29",
    ),
    (
        "victims_age_30_38",
        "vic_AgeBroad_30--38",
        "#affected+victims+age30_38",
    ),
    (
        "victims_age_39_47",
        "vic_AgeBroad_39--47",
        "#affected+victims+age39_47",
    ),
    (
        "victims_age_48_plus",
        "vic_AgeBroad_48+",
        "#affected+victims+age48plus",
    ),
    (
        "victims_age_unknown",
        "vic_AgeBroad_Unknown",
        "#affected+victims+age_unknown",
    ),
    ("victims_female", "vic_Gender_Female", "#affected+victims+f"),
    ("victims_male", "vic_Gender_Male", "#affected+victims+m"),
    (
        "victims_sex_other",
        "vic_Gender_Other",
        "#affected+victims+sex_other",
    ),
    (
        "victims_sex_unknown",
        "vic_Gender_Unknown",
        "#affected+victims+sex_unknown",
    ),
    (
        "victims_nationalities",
        "vic_Citizenship",
        "#affected+victims+nationality",
    ),
    (
        "perpetrator_affiliations",
        "perp_Affiliation",
        "#group+perpetrator+type",
    ),
    (
        "perpetrator_contingent_countries",
        "perp_ContingentCountry",
        "#group+perpetrator+country",
    ),
    ("perpetrators", "perp_Count", "#group+perpetrator+num"),
    ("source_type", "sourceType", "#meta+source"),
    (
        "source_reliability",
        "sourceReliability",
        "#meta+reliability",
    ),
    (
        "source_credibility",
        "sourceCredibility",
        "#meta+credibility",
    ),
    (
        "consent_assessment",
        "consentAssessment",
        "#indicator+consent",
    ),
    (
        "consent_computed",
        "consentComputed",
        "#indicator+consent+computed",
    ),
    (
        "consent_indicators",
        "consentIndicators",
        "#indicator+consent+reasons",
    ),
    ("synthetic", "synthetic", "#meta+synthetic"),
    ("submitted_at", "dateOfReport", "#date+reported"),
    ("narrative", "caseNarrative", "#description"),
];

/// Column indexes of the coordinates, which GeoJSON puts in the geometry.
pub const LATITUDE: usize = 9;
pub const LONGITUDE: usize = 10;

/// The columns an export has: without the narrative for partners.
pub fn columns(with_narrative: bool) -> &'static [(&'static str, &'static str, &'static str)] {
    if with_narrative {
        COLUMNS
    } else {
        &COLUMNS[..COLUMNS.len() - 1]
    }
}

/// One incident as typed values, in the order of `COLUMNS`.
pub fn record(
    row: &IncidentRow,
    mission: Option<&(String, String)>,
    base_name: Option<&str>,
    narrative: Option<&DataKeys>,
) -> Result<Vec<Value>, ApiError> {
    let c = row.structured_content()?;
    let a = &c.victims.age_bands;
    let s = &c.victims.sexes;
    let list = |items: Vec<&str>| json!(items);
    let mut values = vec![
        json!(row.id),
        json!(row.mission_id),
        json!(mission.map(|m| &m.0)),
        json!(mission.map(|m| &m.1)),
        json!(row.base_id),
        json!(base_name),
        json!(row.base_distance_km),
        json!(row.status),
        json!(
            c.occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        json!(c.latitude),
        json!(c.longitude),
        json!(c.location_precision.map(|p| p.as_str())),
        json!(c.venue.map(|v| v.as_str())),
        list(c.exploitation_types.iter().map(|t| t.as_str()).collect()),
        list(c.means_of_control.iter().map(|m| m.as_str()).collect()),
        list(c.recruitment.iter().map(|r| r.as_str()).collect()),
        json!(c.movement_facilitated),
        json!(c.victims.count),
        json!(a.age_0_8),
        json!(a.age_9_17),
        json!(a.age_18_20),
        json!(a.age_21_23),
        json!(a.age_24_26),
        json!(a.age_27_29),
        json!(a.age_30_38),
        json!(a.age_39_47),
        json!(a.age_48_plus),
        json!(a.unknown),
        json!(s.female),
        json!(s.male),
        json!(s.other),
        json!(s.unknown),
        json!(c.victims.nationalities),
        list(
            c.perpetrators
                .iter()
                .map(|p| p.affiliation.as_str())
                .collect(),
        ),
        list(
            c.perpetrators
                .iter()
                .filter_map(|p| p.contingent_country.as_deref())
                .collect(),
        ),
        json!(c.perpetrators.iter().filter_map(|p| p.count).sum::<u32>()),
        json!(c.source.as_ref().map(|s| s.source_type.as_str())),
        json!(c.source.as_ref().map(|s| s.reliability.as_str())),
        json!(c.source.as_ref().map(|s| s.credibility)),
        json!(row.consent_assessment),
        json!(row.computed_assessment),
        serde_json::from_str::<Value>(&row.assessment_indicators).map_err(ApiError::internal)?,
        json!(row.synthetic),
        json!(row.submitted_at.map(|t| {
            t.and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })),
    ];
    if let Some(keys) = narrative {
        values.push(json!(row.narrative(keys)?));
    }
    Ok(values)
}

/// A value as a CSV field: lists joined with `;`, nulls empty.
pub fn csv_field(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(csv_field).collect::<Vec<_>>().join(";"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        assert_eq!(COLUMNS[LATITUDE].0, "latitude");
        assert_eq!(COLUMNS[LONGITUDE].0, "longitude");
        assert_eq!(COLUMNS.last().unwrap().0, "narrative");
        for (_, _, tag) in COLUMNS {
            assert!(
                tag.starts_with('#')
                    && tag[1..].split('+').all(|p| !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')),
                "{tag}"
            );
        }
        assert_eq!(csv_field(&json!(["a", "b"])), "a;b");
        assert_eq!(csv_field(&json!(null)), "");
        assert_eq!(csv_field(&json!(1.5)), "1.5");
    }
}
