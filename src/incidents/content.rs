//! What a reporter says about an incident, and the rules it must follow.
//!
//! `IncidentContent` is exactly what a client may send. Once `check`ed it is in
//! canonical form (lists sorted and deduplicated, codes upper-cased), so that
//! two re-sends of the same report hash the same.
//!
//! The hash is keyed (HMAC under a sub-key of the data key, `crate::crypto`)
//! and covers the incident's id, the stored JSON and the narrative: without the
//! key, a copy of the database confirms no guess, and two incidents with the
//! same content do not show it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::vocabulary::{
    Affiliation, ExploitationType, LocationPrecision, MeansOfControl, Recruitment, Reliability,
    SourceType, Venue,
};
use crate::crypto::{DataKeys, KeyedHash};
use crate::domain::CountryCode;
use crate::validation::{FieldError, Invalid};

pub const MAX_NARRATIVE_CHARS: usize = 20_000;
const MAX_VICTIMS: u32 = 100_000;
const MAX_PERPETRATOR_GROUPS: usize = 50;
/// Field devices' clocks drift; a report a few minutes "ahead" is not from the future.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// Every field of `IncidentContent` (a test checks the list).
pub const CONTENT_FIELDS: &[&str] = &[
    "mission_id",
    "occurred_at",
    "latitude",
    "longitude",
    "location_precision",
    "venue",
    "exploitation_types",
    "means_of_control",
    "recruitment",
    "movement_facilitated",
    "victims",
    "perpetrators",
    "source",
    "narrative",
];

/// Fields the server sets; a client that sends one is told so by name.
pub const SERVER_FIELDS: &[&str] = &[
    "status",
    "version",
    "reporter_id",
    "organisation_id",
    "base",
    "base_id",
    "base_distance_km",
    "consent",
    "consent_assessment",
    "computed_assessment",
    "assessment_indicators",
    "synthetic",
    "created_at",
    "updated_at",
    "submitted_at",
];

/// The victims: counts only. Never names or identifying details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Victims {
    /// How many people were affected.
    #[schema(example = 3, minimum = 0, maximum = 100000)]
    pub count: u32,
    #[serde(default)]
    pub age_bands: AgeBands,
    #[serde(default)]
    pub sexes: Sexes,
    /// ISO 3166-1 alpha-2 codes.
    #[serde(default)]
    #[schema(example = json!(["NP", "IN"]), value_type = Vec<CountryCode>)]
    pub nationalities: Vec<String>,
}

/// How many victims fall in each CTDC age band; together at most `count`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgeBands {
    #[serde(rename = "0-8", default)]
    pub age_0_8: u32,
    #[serde(rename = "9-17", default)]
    pub age_9_17: u32,
    #[serde(rename = "18-20", default)]
    pub age_18_20: u32,
    #[serde(rename = "21-23", default)]
    pub age_21_23: u32,
    #[serde(rename = "24-26", default)]
    pub age_24_26: u32,
    #[serde(rename = "27-29", default)]
    pub age_27_29: u32,
    #[serde(rename = "30-38", default)]
    pub age_30_38: u32,
    #[serde(rename = "39-47", default)]
    pub age_39_47: u32,
    #[serde(rename = "48+", default)]
    pub age_48_plus: u32,
    #[serde(default)]
    pub unknown: u32,
}

impl AgeBands {
    pub fn minors(&self) -> u64 {
        u64::from(self.age_0_8) + u64::from(self.age_9_17)
    }

    pub fn total(&self) -> u64 {
        [
            self.age_0_8,
            self.age_9_17,
            self.age_18_20,
            self.age_21_23,
            self.age_24_26,
            self.age_27_29,
            self.age_30_38,
            self.age_39_47,
            self.age_48_plus,
            self.unknown,
        ]
        .into_iter()
        .map(u64::from)
        .sum()
    }
}

/// How many victims of each sex; together at most `count`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sexes {
    #[serde(default)]
    pub female: u32,
    #[serde(default)]
    pub male: u32,
    #[serde(default)]
    pub other: u32,
    #[serde(default)]
    pub unknown: u32,
}

impl Sexes {
    pub fn total(&self) -> u64 {
        [self.female, self.male, self.other, self.unknown]
            .into_iter()
            .map(u64::from)
            .sum()
    }
}

/// A group of suspected perpetrators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Perpetrator {
    pub affiliation: Affiliation,
    /// For UN personnel: the contingent's country, ISO 3166-1 alpha-2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<CountryCode>)]
    pub contingent_country: Option<String>,
    /// How many people, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub count: Option<u32>,
}

/// Where the information comes from, graded with the Admiralty code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    #[serde(rename = "type")]
    pub source_type: SourceType,
    pub reliability: Reliability,
    /// Information credibility: 1 (confirmed) to 6 (cannot be judged).
    #[schema(minimum = 1, maximum = 6, example = 2)]
    pub credibility: u8,
}

/// What a reporter records about an incident.
// Unknown fields are refused by `from_object` rather than by serde: the
// incident's view extends this schema, which `deny_unknown_fields` would close
// in the OpenAPI document (`additionalProperties: false`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncidentContent {
    /// The mission the incident is reported under; the server finds its nearest base.
    #[schema(format = Uuid)]
    pub mission_id: String,
    /// When it happened: not in the future, not before 1945.
    pub occurred_at: DateTime<Utc>,
    #[schema(minimum = -90, maximum = 90, example = 18.55)]
    pub latitude: f64,
    #[schema(minimum = -180, maximum = 180, example = -72.33)]
    pub longitude: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_precision: Option<LocationPrecision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<Venue>,
    #[serde(default)]
    pub exploitation_types: Vec<ExploitationType>,
    #[serde(default)]
    pub means_of_control: Vec<MeansOfControl>,
    #[serde(default)]
    pub recruitment: Vec<Recruitment>,
    /// Someone arranged or facilitated the people's movement (across a border or within
    /// the country). With no sign of coercion this indicates smuggling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub movement_facilitated: Option<bool>,
    pub victims: Victims,
    #[serde(default)]
    pub perpetrators: Vec<Perpetrator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Free text, the most sensitive field: shown only to the reporter, reviewers,
    /// analysts and admins; never exported to partners. At most 20,000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 20000)]
    pub narrative: Option<String>,
}

impl IncidentContent {
    /// Parses a JSON object, refusing the fields the server owns by name.
    pub fn from_object(object: Map<String, Value>) -> Result<Self, Invalid> {
        let owned: Vec<FieldError> = object
            .keys()
            .filter(|k| !CONTENT_FIELDS.contains(&k.as_str()))
            .map(|k| {
                if SERVER_FIELDS.contains(&k.as_str()) {
                    FieldError::new(k.as_str(), "is set by the server and cannot be sent")
                } else {
                    FieldError::new(
                        k.as_str(),
                        format!(
                            "unknown field `{k}`, expected one of {}",
                            CONTENT_FIELDS.join(", ")
                        ),
                    )
                }
            })
            .collect();
        if !owned.is_empty() {
            return Err(Invalid(owned));
        }
        serde_path_to_error::deserialize(Value::Object(object)).map_err(crate::http::json_error)
    }

    /// Checks every rule, reporting every failing field at once, and puts the
    /// content in canonical form.
    pub fn check(&mut self, now: DateTime<Utc>) -> Result<(), Invalid> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: String| errors.push(FieldError::new(field, message));

        match uuid::Uuid::parse_str(&self.mission_id) {
            Ok(id) => self.mission_id = id.to_string(),
            Err(_) => fail("mission_id", "must be a UUID".into()),
        }
        if self.occurred_at > now + CLOCK_SKEW {
            fail("occurred_at", "must not be in the future".into());
        } else if self.occurred_at.date_naive() < crate::domain::EARLIEST_DATE {
            fail(
                "occurred_at",
                format!("must not be before {}", crate::domain::EARLIEST_DATE),
            );
        }
        if !(-90.0..=90.0).contains(&self.latitude) {
            fail("latitude", "must be between -90 and 90".into());
        }
        if !(-180.0..=180.0).contains(&self.longitude) {
            fail("longitude", "must be between -180 and 180".into());
        }

        let victims = &mut self.victims;
        if victims.count > MAX_VICTIMS {
            fail("victims.count", format!("must be at most {MAX_VICTIMS}"));
        }
        let count = u64::from(victims.count);
        if victims.age_bands.total() > count {
            fail(
                "victims.age_bands",
                format!(
                    "add up to {}, more than victims.count ({count})",
                    victims.age_bands.total()
                ),
            );
        }
        if victims.sexes.total() > count {
            fail(
                "victims.sexes",
                format!(
                    "add up to {}, more than victims.count ({count})",
                    victims.sexes.total()
                ),
            );
        }
        for (i, code) in victims.nationalities.iter_mut().enumerate() {
            match CountryCode::parse(code) {
                Ok(c) => *code = c.as_str().to_owned(),
                Err(e) => fail(&format!("victims.nationalities[{i}]"), e),
            }
        }
        victims.nationalities.sort();
        victims.nationalities.dedup();

        if self.perpetrators.len() > MAX_PERPETRATOR_GROUPS {
            fail(
                "perpetrators",
                format!("at most {MAX_PERPETRATOR_GROUPS} groups"),
            );
        }
        for (i, p) in self.perpetrators.iter_mut().enumerate() {
            if let Some(code) = &mut p.contingent_country {
                match CountryCode::parse(code) {
                    Ok(c) => *code = c.as_str().to_owned(),
                    Err(e) => fail(&format!("perpetrators[{i}].contingent_country"), e),
                }
            }
            if p.count == Some(0) {
                fail(
                    &format!("perpetrators[{i}].count"),
                    "must be at least 1 when given".into(),
                );
            }
        }
        if let Some(source) = &self.source
            && !(1..=6).contains(&source.credibility)
        {
            fail("source.credibility", "must be between 1 and 6".into());
        }
        if let Some(narrative) = &self.narrative {
            let chars = narrative.chars().count();
            if chars > MAX_NARRATIVE_CHARS {
                fail(
                    "narrative",
                    format!("is {chars} characters; at most {MAX_NARRATIVE_CHARS}"),
                );
            }
        }
        if errors.is_empty() {
            self.canonicalise();
            Ok(())
        } else {
            Err(Invalid(errors))
        }
    }

    fn canonicalise(&mut self) {
        self.exploitation_types.sort();
        self.exploitation_types.dedup();
        self.means_of_control.sort();
        self.means_of_control.dedup();
        self.recruitment.sort();
        self.recruitment.dedup();
        if self
            .narrative
            .as_deref()
            .is_some_and(|n| n.trim().is_empty())
        {
            self.narrative = None;
        }
        // What the database keeps (microseconds), so a re-send compares equal.
        self.occurred_at = crate::db::to_utc(crate::db::truncate(self.occurred_at.naive_utc()));
    }

    /// The keyed hash of this content as incident `id`, under the current key.
    pub fn hash(&self, keys: &DataKeys, id: &str) -> KeyedHash {
        content_hash(keys, id, &self.stored_json(), self.narrative.as_deref())
    }

    /// The content as stored in the `content` column: everything but the narrative,
    /// which has a column of its own.
    pub fn stored_json(&self) -> String {
        let mut without_narrative = self.clone();
        without_narrative.narrative = None;
        serde_json::to_string(&without_narrative).expect("content serialises")
    }
}

/// The keyed hash of an incident's content, from what is stored: the `content`
/// column's text exactly (so `rotate-data-key` re-keys without parsing it again)
/// and the narrative in clear.
pub fn content_hash(
    keys: &DataKeys,
    id: &str,
    stored_json: &str,
    narrative: Option<&str>,
) -> KeyedHash {
    keys.content_hash(&hash_parts(id, stored_json, narrative))
}

/// The message the content hash covers (the crypto layer frames each part).
pub fn hash_parts<'a>(
    id: &'a str,
    stored_json: &'a str,
    narrative: Option<&'a str>,
) -> [&'a [u8]; 4] {
    [
        id.as_bytes(),
        stored_json.as_bytes(),
        if narrative.is_some() { b"1" } else { b"0" },
        narrative.unwrap_or_default().as_bytes(),
    ]
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use serde_json::json;

    pub fn sample() -> IncidentContent {
        serde_json::from_value(json!({
            "mission_id": "0191f1d2-0000-7000-8000-000000000001",
            "occurred_at": "2024-05-01T21:30:00Z",
            "latitude": 18.55, "longitude": -72.33,
            "victims": {"count": 2}
        }))
        .unwrap()
    }

    fn fields(result: Result<(), Invalid>) -> Vec<String> {
        match result {
            Err(Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Ok(()) => panic!("expected validation errors"),
        }
    }

    #[test]
    fn a_plain_report_passes_and_is_canonical() {
        let mut c = sample();
        c.exploitation_types = vec![
            ExploitationType::Other,
            ExploitationType::SexualExploitation,
            ExploitationType::Other,
        ];
        c.victims.nationalities = vec!["np".into(), "NP".into(), "in".into()];
        c.check(Utc::now()).unwrap();
        assert_eq!(
            c.exploitation_types,
            [
                ExploitationType::SexualExploitation,
                ExploitationType::Other
            ]
        );
        assert_eq!(c.victims.nationalities, ["IN", "NP"]);
    }

    #[test]
    fn every_broken_rule_is_named() {
        let mut c = sample();
        c.mission_id = "nope".into();
        c.occurred_at = Utc::now() + Duration::hours(1);
        c.latitude = 91.0;
        c.longitude = -181.0;
        c.victims.age_bands.age_9_17 = 3;
        c.victims.sexes.female = 3;
        c.victims.nationalities = vec!["ZZ".into()];
        c.perpetrators = vec![Perpetrator {
            affiliation: Affiliation::UnMilitary,
            contingent_country: Some("QQ".into()),
            count: Some(0),
        }];
        c.source = Some(Source {
            source_type: SourceType::Media,
            reliability: Reliability::C,
            credibility: 7,
        });
        c.narrative = Some("x".repeat(MAX_NARRATIVE_CHARS + 1));
        assert_eq!(
            fields(c.check(Utc::now())),
            [
                "mission_id",
                "occurred_at",
                "latitude",
                "longitude",
                "victims.age_bands",
                "victims.sexes",
                "victims.nationalities[0]",
                "perpetrators[0].contingent_country",
                "perpetrators[0].count",
                "source.credibility",
                "narrative",
            ]
        );
    }

    #[test]
    fn a_few_minutes_of_clock_skew_is_tolerated() {
        let mut c = sample();
        c.occurred_at = Utc::now() + Duration::minutes(2);
        assert!(c.check(Utc::now()).is_ok());
    }

    #[test]
    fn the_hash_ignores_order_and_duplicates() {
        let (mut a, mut b) = (sample(), sample());
        a.means_of_control = vec![MeansOfControl::Threats, MeansOfControl::DebtBondage];
        b.means_of_control = vec![
            MeansOfControl::DebtBondage,
            MeansOfControl::Threats,
            MeansOfControl::Threats,
        ];
        a.check(Utc::now()).unwrap();
        b.check(Utc::now()).unwrap();
        let keys = DataKeys::parse(&DataKeys::generate_hex(), &[]).unwrap();
        assert_eq!(a.hash(&keys, "id").hex, b.hash(&keys, "id").hex);
        // The same content as another incident hashes differently.
        assert_ne!(a.hash(&keys, "id").hex, a.hash(&keys, "other").hex);
        b.victims.count = 3;
        assert_ne!(a.hash(&keys, "id").hex, b.hash(&keys, "id").hex);
        // The narrative counts, and "none" is not an empty one.
        let mut c = a.clone();
        c.narrative = Some("x".into());
        assert_ne!(a.hash(&keys, "id").hex, c.hash(&keys, "id").hex);
        assert_ne!(
            content_hash(&keys, "id", &a.stored_json(), None).hex,
            content_hash(&keys, "id", &a.stored_json(), Some("")).hex
        );
    }

    #[test]
    fn the_field_list_is_complete() {
        let mut full = sample();
        full.location_precision = Some(LocationPrecision::Exact);
        full.venue = Some(Venue::Hotel);
        full.movement_facilitated = Some(true);
        full.source = Some(Source {
            source_type: SourceType::Media,
            reliability: Reliability::A,
            credibility: 1,
        });
        full.narrative = Some("x".into());
        let value = serde_json::to_value(full).unwrap();
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        let mut listed = CONTENT_FIELDS.to_vec();
        listed.sort();
        assert_eq!(keys, listed);
    }

    #[test]
    fn server_fields_are_refused_by_name() {
        let mut object = serde_json::to_value(sample())
            .unwrap()
            .as_object()
            .unwrap()
            .clone();
        object.insert("status".into(), json!("verified"));
        object.insert("version".into(), json!(9));
        match IncidentContent::from_object(object) {
            Err(Invalid(errors)) => {
                let names: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(names, ["status", "version"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
