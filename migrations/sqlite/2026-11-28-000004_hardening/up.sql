-- Narratives are sealed with AES-256-GCM; each row names the key that sealed it
-- (NULL: written before encryption, sealed by `basewatch rotate-data-key`).
ALTER TABLE incidents ADD COLUMN narrative_key_id TEXT;

-- Failed sign-ins, for the sliding-window throttle shared by every instance.
CREATE TABLE login_failures (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    email TEXT NOT NULL,
    address TEXT NOT NULL
);
CREATE INDEX login_failures_email_idx ON login_failures (email, at);
CREATE INDEX login_failures_address_idx ON login_failures (address, at);
CREATE INDEX login_failures_at_idx ON login_failures (at);
