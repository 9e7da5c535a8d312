-- The change feed (GET /api/v1/changes, src/changes/): one row per change of an
-- incident, written by the incident service in the change's own transaction.
-- `position` is handed out under the audit chain's lock, so positions commit in
-- order (see src/changes/mod.rs). Existing history is carried over, oldest first.
CREATE TABLE changes (
    position BIGINT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_id TEXT NOT NULL
);
CREATE INDEX changes_incident_idx ON changes (incident_id, position);

INSERT INTO changes (position, incident_id, kind, version, at, actor_id)
SELECT ROW_NUMBER() OVER (ORDER BY at, id), incident_id,
       CASE kind
           WHEN 'created' THEN 'reported'
           WHEN 'edited' THEN 'edited'
           WHEN 'transition' THEN 'moved'
           ELSE 'assessed'
       END,
       version, at, actor_id
FROM incident_events;

-- The incident list by update time (`sort=updated_at`, `updated_since`).
CREATE INDEX incidents_updated_idx ON incidents (updated_at, id);
