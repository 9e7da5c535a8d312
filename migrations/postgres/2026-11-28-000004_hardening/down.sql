DROP TABLE login_failures;
ALTER TABLE incidents DROP COLUMN narrative_key_id;
