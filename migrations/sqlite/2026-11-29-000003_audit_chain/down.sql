DROP TABLE audit_refusal_tally;
DROP TRIGGER incident_events_no_delete;
DROP TRIGGER incident_events_no_update;
DROP TRIGGER audit_log_chained;
DROP INDEX audit_log_seq_key;
ALTER TABLE audit_log DROP COLUMN hash;
ALTER TABLE audit_log DROP COLUMN prev_hash;
ALTER TABLE audit_log DROP COLUMN seq;
