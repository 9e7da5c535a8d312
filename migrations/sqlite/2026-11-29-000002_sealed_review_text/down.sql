-- Sealed comments and reasons stay sealed (the code before this migration shows
-- them as they are stored), and re-sends of rows hashed since then answer 409.
ALTER TABLE incident_events DROP COLUMN comment_key_id;
ALTER TABLE incidents DROP COLUMN assessment_override_reason_key_id;
ALTER TABLE incidents DROP COLUMN content_hash_key_id;
