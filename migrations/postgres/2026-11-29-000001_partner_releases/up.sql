-- The partner release: per closed calendar month, counts at a fixed grain,
-- noised once (OpenDP discrete Laplace), stored and never recomputed.
-- One row per month; the UNIQUE month makes one builder win.
CREATE TABLE releases (
    id TEXT PRIMARY KEY NOT NULL,
    month TEXT NOT NULL UNIQUE,
    built_at TIMESTAMP NOT NULL,
    epsilon DOUBLE PRECISION NOT NULL,
    mechanism TEXT NOT NULL,
    parameters TEXT NOT NULL
);

-- dimension: `base` (value: a base id, or `none`; with victims) or one of
-- exploitation_type, consent_assessment, venue, distance_band,
-- perpetrator_affiliation (value: a vocabulary value, or `none`).
CREATE TABLE release_cells (
    release_id TEXT NOT NULL REFERENCES releases (id),
    month TEXT NOT NULL,
    mission_id TEXT NOT NULL,
    dimension TEXT NOT NULL,
    value TEXT NOT NULL,
    incidents BIGINT NOT NULL CHECK (incidents >= 0),
    victims BIGINT CHECK (victims >= 0),
    PRIMARY KEY (month, mission_id, dimension, value)
);
CREATE INDEX release_cells_mission_idx ON release_cells (mission_id, dimension, month);

-- A release is published once: changing it would publish new noise.
CREATE FUNCTION releases_never_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'releases are never changed';
END;
$$;
CREATE TRIGGER releases_no_change BEFORE UPDATE OR DELETE ON releases
    FOR EACH ROW EXECUTE FUNCTION releases_never_change();
CREATE TRIGGER release_cells_no_change BEFORE UPDATE OR DELETE ON release_cells
    FOR EACH ROW EXECUTE FUNCTION releases_never_change();
CREATE TRIGGER releases_no_truncate BEFORE TRUNCATE ON releases
    FOR EACH STATEMENT EXECUTE FUNCTION releases_never_change();
CREATE TRIGGER release_cells_no_truncate BEFORE TRUNCATE ON release_cells
    FOR EACH STATEMENT EXECUTE FUNCTION releases_never_change();
