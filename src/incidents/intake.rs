//! Building what is stored from what a reporter sent: derived columns, rows,
//! history entries, merge patches. Used by the handlers and the demo data.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use super::content::IncidentContent;
use super::queries::{ContentChanges, EventRow, HistoryKind};
use super::vocabulary::Status;
use super::{IncidentError, IncidentRow, classify, geo};
use crate::auth::Actor;
use crate::crypto::DataKeys;
use crate::db::{self, DbConnection};
use crate::missions::Base;
use crate::missions::queries as missions;

/// Everything stored that follows from the content: its columns, the nearest
/// base (and its name, for the answer) and the consent assessment.
pub fn derive(
    conn: &mut DbConnection,
    keys: &DataKeys,
    id: &str,
    content: &IncidentContent,
) -> Result<(ContentChanges, Option<String>), IncidentError> {
    let bases = missions::bases_of_mission(conn, &content.mission_id)?;
    derive_among(bases.as_deref(), keys, id, content)
}

/// The same, given the bases of the incident's mission (`None`: no mission
/// has its id), read once for many reports.
pub fn derive_among(
    bases: Option<&[Base]>,
    keys: &DataKeys,
    id: &str,
    content: &IncidentContent,
) -> Result<(ContentChanges, Option<String>), IncidentError> {
    let bases =
        bases.ok_or_else(|| IncidentError::invalid("mission_id", "no mission has this id"))?;
    let changes = derive_with(bases, keys, id, content)?;
    let name = bases
        .iter()
        .find(|b| Some(&b.id) == changes.base_id.as_ref())
        .map(|b| b.name.clone());
    Ok((changes, name))
}

/// The same, given the bases of the incident's mission (bulk loads know them).
/// The narrative is sealed under the current data key, bound to the incident's
/// id, and the content hash keyed with it.
pub fn derive_with(
    bases: &[Base],
    keys: &DataKeys,
    id: &str,
    content: &IncidentContent,
) -> Result<ContentChanges, IncidentError> {
    let (narrative, narrative_key_id) = keys.seal_option(id, content.narrative.as_deref());
    let nearest = geo::nearest(bases, content.latitude, content.longitude);
    let assessment = classify::assess(content);
    let stored_json = content.stored_json();
    let hash = super::content::content_hash(keys, id, &stored_json, content.narrative.as_deref());
    Ok(ContentChanges {
        mission_id: content.mission_id.clone(),
        base_id: nearest.map(|(b, _)| b.id.clone()),
        base_distance_km: nearest.map(|(_, d)| d),
        occurred_at: db::truncate(content.occurred_at.naive_utc()),
        latitude: content.latitude,
        longitude: content.longitude,
        location_precision: content.location_precision.map(|p| p.as_str().to_owned()),
        venue: content.venue.map(|v| v.as_str().to_owned()),
        victim_count: i32::try_from(content.victims.count).unwrap_or(i32::MAX),
        source_type: content
            .source
            .as_ref()
            .map(|s| s.source_type.as_str().to_owned()),
        source_reliability: content
            .source
            .as_ref()
            .map(|s| s.reliability.as_str().to_owned()),
        source_credibility: content.source.as_ref().map(|s| i32::from(s.credibility)),
        content: stored_json,
        content_hash: hash.hex,
        content_hash_key_id: Some(hash.key_id),
        narrative,
        narrative_key_id,
        consent_assessment: assessment.value.as_str().to_owned(),
        computed_assessment: assessment.value.as_str().to_owned(),
        assessment_indicators: serde_json::to_string(&assessment.indicators)
            .map_err(IncidentError::corrupt)?,
    })
}

pub fn row_from(
    id: &str,
    reporter: &Actor,
    d: ContentChanges,
    status: Status,
    now: NaiveDateTime,
) -> IncidentRow {
    IncidentRow {
        id: id.to_owned(),
        mission_id: d.mission_id,
        base_id: d.base_id,
        base_distance_km: d.base_distance_km,
        status: status.as_str().to_owned(),
        version: 1,
        reporter_id: reporter.id.as_str().to_owned(),
        organisation_id: reporter.organisation_id.as_str().to_owned(),
        occurred_at: d.occurred_at,
        latitude: d.latitude,
        longitude: d.longitude,
        location_precision: d.location_precision,
        venue: d.venue,
        victim_count: d.victim_count,
        source_type: d.source_type,
        source_reliability: d.source_reliability,
        source_credibility: d.source_credibility,
        content: d.content,
        content_hash: d.content_hash,
        content_hash_key_id: d.content_hash_key_id,
        narrative: d.narrative,
        narrative_key_id: d.narrative_key_id,
        consent_assessment: d.consent_assessment,
        computed_assessment: d.computed_assessment,
        assessment_indicators: d.assessment_indicators,
        assessment_override_reason: None,
        assessment_override_reason_key_id: None,
        synthetic: false,
        created_at: now,
        updated_at: now,
        submitted_at: (status == Status::Submitted).then_some(now),
    }
}

/// A history entry, its comment sealed under the current data key and bound
/// to the entry.
#[allow(clippy::too_many_arguments)]
pub fn event(
    keys: &DataKeys,
    incident_id: &str,
    actor: &Actor,
    kind: HistoryKind,
    from: Option<Status>,
    to: Option<Status>,
    comment: Option<&str>,
    version: i32,
    changed_fields: Option<Vec<String>>,
) -> EventRow {
    let id = db::new_id();
    let (comment, comment_key_id) =
        keys.seal_option(&super::comment_context(incident_id, &id), comment);
    EventRow {
        id,
        incident_id: incident_id.to_owned(),
        at: db::now(),
        actor_id: actor.id.as_str().to_owned(),
        kind: kind.as_str().to_owned(),
        from_status: from.map(|s| s.as_str().to_owned()),
        to_status: to.map(|s| s.as_str().to_owned()),
        comment,
        version,
        changed_fields: changed_fields.map(|f| serde_json::to_string(&f).unwrap_or_default()),
        comment_key_id,
    }
}

/// RFC 7396 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

pub fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        assert_eq!(
            changed_fields(&json!({"a": 1, "b": 2}), &json!({"a": 1, "c": 3})),
            ["b", "c"]
        );
    }
}
