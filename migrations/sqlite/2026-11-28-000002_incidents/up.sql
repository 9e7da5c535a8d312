-- Reference data (missions, bases, deployments), incidents with their history,
-- and the append-only audit log.

CREATE TABLE missions (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    mandate_start DATE NOT NULL,
    mandate_end DATE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (mandate_end IS NULL OR mandate_end >= mandate_start)
);
CREATE UNIQUE INDEX missions_name_key ON missions (lower(name));

CREATE TABLE bases (
    id TEXT PRIMARY KEY NOT NULL,
    mission_id TEXT NOT NULL REFERENCES missions (id),
    name TEXT NOT NULL,
    latitude DOUBLE PRECISION NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude DOUBLE PRECISION NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX bases_mission_name_key ON bases (mission_id, lower(name));

CREATE TABLE deployments (
    id TEXT PRIMARY KEY NOT NULL,
    base_id TEXT NOT NULL REFERENCES bases (id),
    start_date DATE NOT NULL,
    end_date DATE,
    troop_count INTEGER NOT NULL CHECK (troop_count >= 0),
    contributing_country TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CHECK (end_date IS NULL OR end_date >= start_date)
);
CREATE INDEX deployments_base_id_idx ON deployments (base_id, start_date);

CREATE TABLE incidents (
    id TEXT PRIMARY KEY NOT NULL,
    mission_id TEXT NOT NULL REFERENCES missions (id),
    base_id TEXT REFERENCES bases (id),
    base_distance_km DOUBLE PRECISION,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    reporter_id TEXT NOT NULL REFERENCES users (id),
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    occurred_at TIMESTAMP NOT NULL,
    latitude DOUBLE PRECISION NOT NULL,
    longitude DOUBLE PRECISION NOT NULL,
    location_precision TEXT,
    venue TEXT,
    victim_count INTEGER NOT NULL,
    source_type TEXT,
    source_reliability TEXT,
    source_credibility INTEGER,
    -- The client's content as sent, canonical JSON: re-sends compare its hash.
    content TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    narrative TEXT,
    consent_assessment TEXT NOT NULL,
    computed_assessment TEXT NOT NULL,
    assessment_indicators TEXT NOT NULL,
    assessment_override_reason TEXT,
    synthetic BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    submitted_at TIMESTAMP
);
-- Lists are newest first with keyset paging on (occurred_at, id); each filter
-- that narrows a list has an index that leads with it.
CREATE INDEX incidents_occurred_idx ON incidents (occurred_at, id);
CREATE INDEX incidents_mission_idx ON incidents (mission_id, occurred_at, id);
CREATE INDEX incidents_base_idx ON incidents (base_id, occurred_at, id);
CREATE INDEX incidents_status_idx ON incidents (status, occurred_at, id);
CREATE INDEX incidents_reporter_idx ON incidents (reporter_id, occurred_at, id);
CREATE INDEX incidents_organisation_idx ON incidents (organisation_id, occurred_at, id);
CREATE INDEX incidents_assessment_idx ON incidents (consent_assessment, occurred_at, id);

CREATE TABLE incident_exploitation_types (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    exploitation_type TEXT NOT NULL,
    PRIMARY KEY (incident_id, exploitation_type)
);
CREATE INDEX incident_exploitation_types_type_idx ON incident_exploitation_types (exploitation_type, incident_id);

CREATE TABLE incident_events (
    id TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    actor_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    comment TEXT,
    version INTEGER NOT NULL,
    changed_fields TEXT
);
CREATE INDEX incident_events_incident_idx ON incident_events (incident_id, id);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    entity_type TEXT,
    entity_id TEXT,
    details TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX audit_log_at_idx ON audit_log (at, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id, id);

-- No one edits or deletes the audit log, not even through SQL by mistake.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
