-- Issue 10, findings 1 and 10: keyed content hashes, and reviewers' comments and
-- override reasons sealed at rest like narratives. Each sealed or keyed value names
-- the data key that made it; NULL means "from before": plaintext, or no keyed hash.
ALTER TABLE incidents ADD COLUMN content_hash_key_id TEXT;
ALTER TABLE incidents ADD COLUMN assessment_override_reason_key_id TEXT;
ALTER TABLE incident_events ADD COLUMN comment_key_id TEXT;

-- The plain SHA-256 hashes confirm a guessed narrative offline: forget them now
-- rather than at the next `basewatch rotate-data-key`. Until that command writes
-- keyed hashes for these rows, a re-send is compared with the stored content itself.
UPDATE incidents SET content_hash = '' WHERE content_hash_key_id IS NULL;
