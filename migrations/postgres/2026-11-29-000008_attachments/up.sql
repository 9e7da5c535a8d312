-- Evidence attachments (src/attachments/): the cleaned file sealed in 64 KiB
-- chunks (AES-256-GCM STREAM, src/attachments/seal.rs), stored in the database
-- so a backup stays one thing. `key_id` names the data key that seals the
-- chunks and the file name; `salt` derives the attachment's own key from it.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL CHECK (size >= 0),
    sha256 TEXT NOT NULL,
    removed TEXT NOT NULL,
    file_name TEXT,
    key_id TEXT NOT NULL,
    salt TEXT NOT NULL,
    chunks INTEGER NOT NULL CHECK (chunks >= 1),
    uploaded_by TEXT NOT NULL REFERENCES users (id),
    uploaded_at TIMESTAMP NOT NULL
);
CREATE INDEX attachments_incident_idx ON attachments (incident_id, uploaded_at, id);

CREATE TABLE attachment_chunks (
    attachment_id TEXT NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL CHECK (seq >= 0),
    data BYTEA NOT NULL,
    PRIMARY KEY (attachment_id, seq)
);
-- Sealed bytes do not compress: keep them out of TOAST's compression attempts.
ALTER TABLE attachment_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
