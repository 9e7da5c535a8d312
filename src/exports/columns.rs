//! The columns of a row-level export: Basewatch's names, the HTCDS/CTDC names
//! (`schema=htcds`) and the HXL hashtags (`hxl=true`), in one table.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::attachments::AttachmentSummary;
use crate::crypto::DataKeys;
use crate::csv_safe;
use crate::db::schema::incidents;
use crate::domain_error::DomainError;
use crate::incidents::content::IncidentContent;

/// (Basewatch name, HTCDS/CTDC name, HXL hashtag)
///
/// Hashtags and attributes come only from the HXL 1.1 dictionary, each for what
/// the dictionary says it means (`#affected` is a number of people, so the
/// victims' nationalities are `#country+code+origin`, not an `#affected` column).
/// A column the dictionary has no words for is left untagged (`""`), as HXL
/// allows, rather than tagged with an invented attribute: the age bands (HXL's
/// age attributes are loose, CTDC's bands are not), the distance to the base,
/// means of control, recruitment, the Admiralty grades, the consent assessment
/// and the synthetic flag. `scripts/validate-exports.sh` checks the table with
/// libhxl and the pinned dictionary.
pub const COLUMNS: &[(&str, &str, &str)] = &[
    ("id", "caseId", "#event+code"),
    ("mission_id", "missionId", "#activity+code"),
    ("mission_name", "missionName", "#activity+name"),
    ("country", "countryOfExploitation", "#country+code"),
    ("base_id", "nearestBaseId", "#loc+code"),
    ("base_name", "nearestBaseName", "#loc+name"),
    ("base_distance_km", "distanceToBaseKm", ""),
    ("status", "caseStatus", "#status"),
    ("occurred_at", "dateOfIncident", "#date+occurred"),
    ("latitude", "latitude", "#geo+lat"),
    ("longitude", "longitude", "#geo+lon"),
    ("location_precision", "locationPrecision", ""),
    ("venue", "exploitationVenue", "#loc+type"),
    ("exploitation_types", "vic_TypeOfExploit", "#event+type"),
    ("means_of_control", "vic_MethodsOfControl", ""),
    ("recruitment", "vic_MethodOfRecruitment", ""),
    ("movement_facilitated", "movementFacilitated", ""),
    ("victims", "vic_Count", "#affected"),
    ("victims_age_0_8", "vic_AgeBroad_0--8", ""),
    ("victims_age_9_17", "vic_AgeBroad_9--17", ""),
    ("victims_age_18_20", "vic_AgeBroad_18--20", ""),
    ("victims_age_21_23", "vic_AgeBroad_21--23", ""),
    ("victims_age_24_26", "vic_AgeBroad_24--26", ""),
    ("victims_age_27_29", "vic_AgeBroad_27--29", ""),
    ("victims_age_30_38", "vic_AgeBroad_30--38", ""),
    ("victims_age_39_47", "vic_AgeBroad_39--47", ""),
    ("victims_age_48_plus", "vic_AgeBroad_48+", ""),
    ("victims_age_unknown", "vic_AgeBroad_Unknown", ""),
    ("victims_female", "vic_Gender_Female", "#affected+f"),
    ("victims_male", "vic_Gender_Male", "#affected+m"),
    ("victims_sex_other", "vic_Gender_Other", "#affected+i"),
    ("victims_sex_unknown", "vic_Gender_Unknown", ""),
    (
        "victims_nationalities",
        "vic_Citizenship",
        "#country+code+origin",
    ),
    (
        "perpetrator_affiliations",
        "perp_Affiliation",
        "#group+type",
    ),
    (
        "perpetrator_contingent_countries",
        "perp_ContingentCountry",
        "",
    ),
    ("perpetrators", "perp_Count", "#group+num"),
    ("source_type", "sourceType", "#meta+source"),
    ("source_reliability", "sourceReliability", ""),
    ("source_credibility", "sourceCredibility", ""),
    ("consent_assessment", "consentAssessment", ""),
    ("consent_computed", "consentComputed", ""),
    ("consent_indicators", "consentIndicators", "#indicator+code"),
    ("synthetic", "synthetic", ""),
    ("submitted_at", "dateOfReport", "#date+reported"),
    ("attachment_count", "attachmentCount", ""),
    ("attachment_ids", "attachmentIds", ""),
    ("attachment_types", "attachmentTypes", ""),
    ("attachment_sizes", "attachmentSizes", ""),
    ("attachment_sha256", "attachmentSha256", ""),
    ("narrative", "caseNarrative", "#description"),
];

/// Column indexes of the coordinates, which GeoJSON puts in the geometry.
pub const LATITUDE: usize = 9;
pub const LONGITUDE: usize = 10;

/// The columns an export has: without the narrative for partners. No column
/// carries a person (reporter, reviewer) or a reviewer's note (comments,
/// override reasons), for anyone: what a partner may not read of an incident
/// (`crate::incidents::view::Sight`) never reaches an export.
pub fn columns(with_narrative: bool) -> &'static [(&'static str, &'static str, &'static str)] {
    if with_narrative {
        COLUMNS
    } else {
        &COLUMNS[..COLUMNS.len() - 1]
    }
}

/// Exactly the columns of `incidents` an export reads (the rest of a row, such
/// as reporter and organisation, never leaves in an export).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = incidents)]
pub struct ExportRow {
    pub id: String,
    pub mission_id: String,
    pub base_id: Option<String>,
    pub base_distance_km: Option<f64>,
    pub status: String,
    pub occurred_at: NaiveDateTime,
    pub content: String,
    pub narrative: Option<String>,
    pub narrative_key_id: Option<String>,
    pub consent_assessment: String,
    pub computed_assessment: String,
    pub assessment_indicators: String,
    pub synthetic: bool,
    pub submitted_at: Option<NaiveDateTime>,
}

/// What a row needs besides itself: parsed content, opened narrative and the
/// names of its mission and base.
pub struct Parsed {
    pub content: IncidentContent,
    pub indicators: Vec<String>,
    pub narrative: Option<String>,
    /// Attachment metadata (never contents), and the sizes as text for lists.
    pub attachments: Vec<AttachmentSummary>,
    pub attachment_sizes: Vec<String>,
}

impl Parsed {
    pub fn attach(&mut self, attachments: Vec<AttachmentSummary>) {
        self.attachment_sizes = attachments.iter().map(|a| a.size.to_string()).collect();
        self.attachments = attachments;
    }
}

impl ExportRow {
    /// Parses the content and, with the data keys, opens the narrative.
    pub fn parse(&self, keys: Option<&DataKeys>) -> Result<Parsed, DomainError> {
        let narrative = match (keys, &self.narrative) {
            (Some(keys), Some(sealed)) => Some(
                keys.open(&self.id, self.narrative_key_id.as_deref(), sealed)
                    .map_err(DomainError::corrupt)?,
            ),
            _ => None,
        };
        Ok(Parsed {
            content: serde_json::from_str(&self.content).map_err(DomainError::corrupt)?,
            indicators: serde_json::from_str(&self.assessment_indicators)
                .map_err(DomainError::corrupt)?,
            narrative,
            attachments: Vec::new(),
            attachment_sizes: Vec::new(),
        })
    }
}

/// One value of an export, borrowed from the row where it can be, written
/// straight into CSV or JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Text(&'a str),
    Owned(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<&'a str>),
}

impl<'a, T: Into<Cell<'a>>> From<Option<T>> for Cell<'a> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Cell::Null, Into::into)
    }
}

impl From<u32> for Cell<'_> {
    fn from(n: u32) -> Self {
        Cell::Int(n.into())
    }
}

impl From<f64> for Cell<'_> {
    fn from(x: f64) -> Self {
        Cell::Float(x)
    }
}

impl From<bool> for Cell<'_> {
    fn from(b: bool) -> Self {
        Cell::Bool(b)
    }
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(s: &'a str) -> Self {
        Cell::Text(s)
    }
}

impl Cell<'_> {
    /// Appends this cell as one CSV field to `out`: lists joined with `;`,
    /// nulls empty, numbers and booleans bare, as in JSON.
    ///
    /// Text (narratives, mission and base names, lists, times) goes through
    /// `csv_safe::text`, so a spreadsheet never runs it as a formula, and is always
    /// quoted (OWASP's advice), so a spreadsheet that splits on `;` or tabs (as
    /// some locales do) cannot cut a narrative into a cell that starts with `=`.
    /// Numbers are ours and stay numbers: a longitude of -72.34 is written -72.34.
    pub fn write_csv(&self, out: &mut Vec<u8>) {
        match self {
            Cell::Null => {}
            Cell::Text(s) => quoted(out, &csv_safe::text(s)),
            Cell::Owned(s) => quoted(out, &csv_safe::text(s)),
            Cell::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Cell::Int(_) | Cell::Float(_) => {
                // Writing into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, self);
            }
            Cell::List(items) => quoted(out, &csv_safe::text(&items.join(";"))),
        }
    }
}

/// A CSV text field: in double quotes, each inner quote doubled (RFC 4180).
fn quoted(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    for part in text.split_inclusive('"') {
        out.extend_from_slice(part.as_bytes());
        if part.ends_with('"') {
            out.push(b'"');
        }
    }
    out.push(b'"');
}

impl Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Null => serializer.serialize_unit(),
            Cell::Text(s) => serializer.serialize_str(s),
            Cell::Owned(s) => serializer.serialize_str(s),
            Cell::Int(n) => serializer.serialize_i64(*n),
            Cell::Float(x) => serializer.serialize_f64(*x),
            Cell::Bool(b) => serializer.serialize_bool(*b),
            Cell::List(items) => serializer.collect_seq(items),
        }
    }
}

/// An incident as a JSON object of the given column names, leaving out the
/// columns at the indexes in `skip`.
pub struct Object<'a> {
    pub names: &'a [&'a str],
    pub cells: &'a [Cell<'a>],
    pub skip: &'a [usize],
}

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (i, (name, cell)) in self.names.iter().zip(self.cells).enumerate() {
            if !self.skip.contains(&i) {
                map.serialize_entry(name, cell)?;
            }
        }
        map.end()
    }
}

fn timestamp(t: DateTime<Utc>) -> Cell<'static> {
    Cell::Owned(t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// One incident's cells, in the order of `COLUMNS` (without the narrative when
/// `parsed.narrative` is None and the caller asked for none).
pub fn record<'a>(
    row: &'a ExportRow,
    parsed: &'a Parsed,
    mission: Option<&'a (String, String)>,
    base_name: Option<&'a str>,
    with_narrative: bool,
) -> Vec<Cell<'a>> {
    let c = &parsed.content;
    let a = &c.victims.age_bands;
    let s = &c.victims.sexes;
    let text = |t: Option<&'a str>| t.map_or(Cell::Null, Cell::Text);
    let mut cells = Vec::with_capacity(COLUMNS.len());
    cells.extend([
        Cell::Text(&row.id),
        Cell::Text(&row.mission_id),
        text(mission.map(|m| m.0.as_str())),
        text(mission.map(|m| m.1.as_str())),
        text(row.base_id.as_deref()),
        text(base_name),
        row.base_distance_km.into(),
        Cell::Text(&row.status),
        timestamp(c.occurred_at),
        c.latitude.into(),
        c.longitude.into(),
        c.location_precision.map(|p| p.as_str()).into(),
        c.venue.map(|v| v.as_str()).into(),
        Cell::List(c.exploitation_types.iter().map(|t| t.as_str()).collect()),
        Cell::List(c.means_of_control.iter().map(|m| m.as_str()).collect()),
        Cell::List(c.recruitment.iter().map(|r| r.as_str()).collect()),
        c.movement_facilitated.into(),
        c.victims.count.into(),
        a.age_0_8.into(),
        a.age_9_17.into(),
        a.age_18_20.into(),
        a.age_21_23.into(),
        a.age_24_26.into(),
        a.age_27_29.into(),
        a.age_30_38.into(),
        a.age_39_47.into(),
        a.age_48_plus.into(),
        a.unknown.into(),
        s.female.into(),
        s.male.into(),
        s.other.into(),
        s.unknown.into(),
        Cell::List(c.victims.nationalities.iter().map(String::as_str).collect()),
        Cell::List(
            c.perpetrators
                .iter()
                .map(|p| p.affiliation.as_str())
                .collect(),
        ),
        Cell::List(
            c.perpetrators
                .iter()
                .filter_map(|p| p.contingent_country.as_deref())
                .collect(),
        ),
        // In i64: each count may be up to u32::MAX, and a u32 sum of two of them
        // overflowed (a panic that cut the export off, or a wrong number).
        Cell::Int(
            c.perpetrators
                .iter()
                .filter_map(|p| p.count)
                .map(i64::from)
                .sum(),
        ),
        c.source.as_ref().map(|s| s.source_type.as_str()).into(),
        c.source.as_ref().map(|s| s.reliability.as_str()).into(),
        c.source.as_ref().map(|s| u32::from(s.credibility)).into(),
        Cell::Text(&row.consent_assessment),
        Cell::Text(&row.computed_assessment),
        Cell::List(parsed.indicators.iter().map(String::as_str).collect()),
        row.synthetic.into(),
        row.submitted_at
            .map_or(Cell::Null, |t| timestamp(t.and_utc())),
        Cell::Int(parsed.attachments.len() as i64),
        Cell::List(parsed.attachments.iter().map(|a| a.id.as_str()).collect()),
        Cell::List(
            parsed
                .attachments
                .iter()
                .map(|a| a.media_type.as_str())
                .collect(),
        ),
        Cell::List(parsed.attachment_sizes.iter().map(String::as_str).collect()),
        Cell::List(
            parsed
                .attachments
                .iter()
                .map(|a| a.sha256.as_str())
                .collect(),
        ),
    ]);
    if with_narrative {
        cells.push(text(parsed.narrative.as_deref()));
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_column_names_a_person_or_a_reviewers_note() {
        let partner = columns(false);
        assert_eq!(partner.len(), COLUMNS.len() - 1);
        for (name, htcds, hxl) in COLUMNS {
            for word in ["reporter", "actor", "reviewer", "comment", "override"] {
                for label in [name, htcds, hxl] {
                    assert!(!label.to_lowercase().contains(word), "{label}");
                }
            }
        }
        assert!(partner.iter().all(|(name, _, _)| *name != "narrative"));
    }

    #[test]
    fn the_table_is_consistent() {
        assert_eq!(COLUMNS[LATITUDE].0, "latitude");
        assert_eq!(COLUMNS[LONGITUDE].0, "longitude");
        assert_eq!(COLUMNS.last().unwrap().0, "narrative");
        let tagged: Vec<&str> = COLUMNS
            .iter()
            .map(|c| c.2)
            .filter(|t| !t.is_empty())
            .collect();
        let distinct: std::collections::HashSet<&str> = tagged.iter().copied().collect();
        assert_eq!(distinct.len(), tagged.len(), "a hashtag names one column");
        for tag in tagged {
            assert!(
                tag.starts_with('#')
                    && tag[1..].split('+').all(|p| !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')),
                "{tag}"
            );
        }
        let csv = |cell: Cell| {
            let mut out = Vec::new();
            cell.write_csv(&mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(csv(Cell::List(vec!["a", "b"])), "\"a;b\"");
        assert_eq!(csv(Cell::Null), "");
        assert_eq!(csv(Cell::Float(1.5)), "1.5");
        assert_eq!(csv(Cell::Float(2.0)), "2.0");
        assert_eq!(csv(Cell::Int(7)), "7");
        assert_eq!(csv(Cell::Bool(false)), "false");
        assert_eq!(csv(Cell::Float(-72.34)), "-72.34");
        assert_eq!(csv(Cell::Int(-1)), "-1");
        assert_eq!(csv(Cell::Text("")), "\"\"");
        assert_eq!(csv(Cell::Text("=1+1")), "\"'=1+1\"");
        assert_eq!(csv(Cell::Text("a \"b\" c\"")), "\"a \"\"b\"\" c\"\"\"");
        assert_eq!(csv(Cell::Owned("-2+3".into())), "\"'-2+3\"");
        assert_eq!(csv(Cell::List(vec!["@x", "b"])), "\"'@x;b\"");
        assert_eq!(csv(Cell::List(vec!["a", "=b"])), "\"a;=b\"");
    }
}
