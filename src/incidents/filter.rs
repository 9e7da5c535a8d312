//! The filters of the incident list, shared by the list and the export:
//! the query parameters, their parsing, and the grammar of `bbox`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::queries::{BoundingBox, Filter, Order};
use super::vocabulary::{ConsentAssessment, ExploitationType, Status};
use crate::domain_error::DomainError;
use crate::http::{query_time, query_uuid};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentListQuery {
    #[param(format = Uuid)]
    pub mission_id: Option<String>,
    /// Incidents whose nearest base is this one.
    #[param(format = Uuid)]
    pub base_id: Option<String>,
    pub status: Option<Status>,
    /// Occurred at or after this time.
    pub occurred_from: Option<DateTime<Utc>>,
    /// Occurred before this time.
    pub occurred_to: Option<DateTime<Utc>>,
    pub exploitation_type: Option<ExploitationType>,
    pub consent_assessment: Option<ConsentAssessment>,
    /// Only incidents the caller reported.
    pub reported_by_me: Option<bool>,
    /// `min_lon,min_lat,max_lon,max_lat` (WGS 84, as in GeoJSON), `min_lat` at most
    /// `max_lat`; may cross the antimeridian (`min_lon` > `max_lon`).
    // The pattern is BBOX_PATTERN (attributes take literals only; a test compares).
    #[param(
        example = "21.0,42.3,21.4,42.8",
        pattern = r"^-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]+)?),-?(?:90(?:\.0+)?|[0-8]?[0-9](?:\.[0-9]+)?),-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]+)?),-?(?:90(?:\.0+)?|[0-8]?[0-9](?:\.[0-9]+)?)$"
    )]
    pub bbox: Option<String>,
    /// Updated (reported or changed in any way) at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// `occurred_at` (the default): newest first by when it happened;
    /// `updated_at`: oldest first by when it last changed. A cursor belongs to
    /// the order it was issued in.
    #[param(inline)]
    pub sort: Option<Sort>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(min_length = 1, max_length = 200, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

/// The orders of the incident list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    OccurredAt,
    UpdatedAt,
}

impl IncidentListQuery {
    /// The filters of the list (exports take the same).
    pub fn filter(&self) -> Result<Filter, DomainError> {
        Ok(Filter {
            mission_id: query_uuid(self.mission_id.as_deref(), "mission_id")?,
            base_id: query_uuid(self.base_id.as_deref(), "base_id")?,
            status: self.status,
            occurred_from: query_time(self.occurred_from, "occurred_from")?,
            occurred_to: query_time(self.occurred_to, "occurred_to")?,
            exploitation_type: self.exploitation_type,
            consent_assessment: self.consent_assessment,
            reported_by_me: self.reported_by_me.unwrap_or(false),
            bbox: self.bbox.as_deref().map(parse_bbox).transpose()?,
            non_draft_only: false,
            updated_since: query_time(self.updated_since, "updated_since")?,
            order: match self.sort {
                None | Some(Sort::OccurredAt) => Order::Occurred,
                Some(Sort::UpdatedAt) => Order::Updated,
            },
        })
    }
}

/// The grammar of `bbox`, in the OpenAPI document: four decimal numbers (no
/// exponent, no `+`, no spaces), longitudes within ±180 and latitudes within ±90.
/// `parse_bbox` accepts exactly these strings (and refuses `min_lat > max_lat`).
pub const BBOX_PATTERN: &str = r"^-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]+)?),-?(?:90(?:\.0+)?|[0-8]?[0-9](?:\.[0-9]+)?),-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]+)?),-?(?:90(?:\.0+)?|[0-8]?[0-9](?:\.[0-9]+)?)$";

/// One coordinate of a bbox as `BBOX_PATTERN` writes it: an optional `-`, at
/// most `int_digits` digits (three only as 1xx), an optional `.` and digits, and
/// within `limit` degrees.
fn bbox_number(raw: &str, longitude: bool) -> Option<f64> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let (int, frac) = match digits.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (digits, None),
    };
    let int_ok = match int.len() {
        1 | 2 => true,
        3 => longitude && int.starts_with('1'),
        _ => false,
    };
    if !int_ok
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let value: f64 = raw.parse().ok()?;
    let limit = if longitude { 180.0 } else { 90.0 };
    (-limit..=limit).contains(&value).then_some(value)
}

pub fn parse_bbox(raw: &str) -> Result<BoundingBox, DomainError> {
    let invalid = || {
        DomainError::BadQuery(
            "bbox must be min_lon,min_lat,max_lon,max_lat in decimal degrees (e.g. 21.0,42.3,21.4,42.8), \
             longitudes within ±180, latitudes within ±90, min_lat at most max_lat"
                .into(),
        )
    };
    let parts: Vec<&str> = raw.split(',').collect();
    let [min_lon, min_lat, max_lon, max_lat] = parts[..] else {
        return Err(invalid());
    };
    let lon = |p: &str| bbox_number(p, true).ok_or_else(invalid);
    let lat = |p: &str| bbox_number(p, false).ok_or_else(invalid);
    let (min_lon, min_lat, max_lon, max_lat) =
        (lon(min_lon)?, lat(min_lat)?, lon(max_lon)?, lat(max_lat)?);
    if min_lat > max_lat {
        return Err(invalid());
    }
    Ok(BoundingBox {
        min_lon,
        min_lat,
        max_lon,
        max_lat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounding_boxes() {
        assert!(parse_bbox("21.0,42.3,21.4,42.8").is_ok());
        assert!(parse_bbox("179,-10,-179,10").is_ok());
        for bad in ["", "1,2,3", "a,b,c,d", "0,50,1,40", "0,0,0,91", "1,2,3,4,5"] {
            assert!(parse_bbox(bad).is_err(), "{bad}");
        }
    }

    /// The document's pattern and the server agree on every string but one kind:
    /// a pattern-valid box with min_lat > max_lat, which only the server refuses.
    #[test]
    fn the_bbox_pattern_is_what_the_server_accepts() {
        let pattern = regex_lite::Regex::new(BBOX_PATTERN).unwrap();
        let numbers = [
            "0", "-0", "1", "09", "21.0", "42.8", "-72.34", "90", "90.0", "90.5", "-90", "91",
            "99", "100", "179.99", "180", "180.0", "180.01", "-180", "181", "199", "200", "1000",
            "1.", ".5", "+1", "1e1", "inf", "NaN", " 1", "1 ", "--1", "1\\x0", "١", "1.5.5", "",
            "0x1",
        ];
        let mut agreed = 0;
        for a in numbers {
            for b in numbers {
                for raw in [
                    format!("{a},{b},{a},{b}"),
                    format!("{b},{a},{b},{a}"),
                    format!("{a},0,{b},0"),
                ] {
                    let server = parse_bbox(&raw).is_ok();
                    let document = pattern.is_match(&raw);
                    assert_eq!(
                        server, document,
                        "{raw:?}: server {server}, document {document}"
                    );
                    agreed += 1;
                }
            }
        }
        assert_eq!(agreed, numbers.len() * numbers.len() * 3);
        // The README's example, and the forgery the old double-escaped pattern let through.
        assert!(
            pattern.is_match("21.0,42.3,21.4,42.8") && parse_bbox("21.0,42.3,21.4,42.8").is_ok()
        );
        assert!(!pattern.is_match("1\\x0,2,3,4") && parse_bbox("1\\x0,2,3,4").is_err());
        assert!(pattern.is_match("0,50,1,40") && parse_bbox("0,50,1,40").is_err());
        // The document states this very pattern for the list and the export.
        let documented = |params: Vec<utoipa::openapi::path::Parameter>| {
            let bbox = params.into_iter().find(|p| p.name == "bbox").unwrap();
            serde_json::to_value(bbox.schema).unwrap()["pattern"].clone()
        };
        for params in [
            <IncidentListQuery as IntoParams>::into_params(|| None),
            <crate::exports::ExportQuery as IntoParams>::into_params(|| None),
        ] {
            assert_eq!(documented(params), BBOX_PATTERN);
        }
    }
}
