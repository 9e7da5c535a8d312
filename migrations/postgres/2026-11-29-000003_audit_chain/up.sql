-- The audit log becomes a hash chain (see src/audit/chain.rs): each new row carries
-- its place (`seq`), the hash of the row before it and its own hash. Rows written
-- before this migration stay unchained (seq NULL); the chain starts after them.
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_log_seq_key ON audit_log (seq);
-- Every row written from now on is chained (NOT VALID: the older rows are not).
ALTER TABLE audit_log ADD CONSTRAINT audit_log_chained
    CHECK (seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL) NOT VALID;

-- Row triggers do not see TRUNCATE: a statement trigger refuses it.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The incident history is append-only like the audit log. Only the sealed comment
-- may be rewritten (re-sealed under a new data key): every other column is
-- compared, so the trigger also holds once that sealing adds its key column.
CREATE FUNCTION incident_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (OLD.id, OLD.incident_id, OLD.at, OLD.actor_id, OLD.kind, OLD.from_status,
            OLD.to_status, OLD.version, OLD.changed_fields)
           IS NOT DISTINCT FROM
           (NEW.id, NEW.incident_id, NEW.at, NEW.actor_id, NEW.kind, NEW.from_status,
            NEW.to_status, NEW.version, NEW.changed_fields) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'the incident history is append-only';
END;
$$;
CREATE TRIGGER incident_events_no_change BEFORE UPDATE OR DELETE ON incident_events
    FOR EACH ROW EXECUTE FUNCTION incident_events_append_only();
CREATE TRIGGER incident_events_no_truncate BEFORE TRUNCATE ON incident_events
    FOR EACH STATEMENT EXECUTE FUNCTION incident_events_append_only();

-- Anonymous refusals (401/403 without a signed-in user) are counted here per
-- client address and minute, and written to the audit log as one row with the
-- count once the minute is over (src/audit/refusals.rs). A working table, not a
-- record: rows leave it when they are sealed into the log.
CREATE TABLE audit_refusal_tally (
    address TEXT NOT NULL,
    minute TIMESTAMP NOT NULL,
    refusals BIGINT NOT NULL,
    first_id TEXT NOT NULL,
    first_at TIMESTAMP NOT NULL,
    request_id TEXT,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    path TEXT NOT NULL,
    path_length INTEGER NOT NULL,
    status INTEGER NOT NULL,
    PRIMARY KEY (address, minute)
);
CREATE INDEX audit_refusal_tally_minute_idx ON audit_refusal_tally (minute);
