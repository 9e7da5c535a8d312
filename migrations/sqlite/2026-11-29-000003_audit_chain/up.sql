-- The audit log becomes a hash chain (see src/audit/chain.rs): each new row carries
-- its place (`seq`), the hash of the row before it and its own hash. Rows written
-- before this migration stay unchained (seq NULL); the chain starts after them.
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_log_seq_key ON audit_log (seq);

-- Every row written from now on is chained: only audit::Entry::write writes them.
CREATE TRIGGER audit_log_chained BEFORE INSERT ON audit_log
WHEN NEW.seq IS NULL OR NEW.prev_hash IS NULL OR NEW.hash IS NULL
BEGIN
    SELECT RAISE(ABORT, 'audit rows are chained: write them through audit::Entry::write');
END;

-- The incident history is append-only like the audit log. Only the sealed comment
-- may be rewritten (re-sealed under a new data key): the trigger names every
-- other column, so it also holds once that sealing adds its key column.
CREATE TRIGGER incident_events_no_update
BEFORE UPDATE OF id, incident_id, at, actor_id, kind, from_status, to_status, version, changed_fields
ON incident_events
BEGIN
    SELECT RAISE(ABORT, 'the incident history is append-only');
END;
CREATE TRIGGER incident_events_no_delete BEFORE DELETE ON incident_events
BEGIN
    SELECT RAISE(ABORT, 'the incident history is append-only');
END;

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
