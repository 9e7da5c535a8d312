-- The ids of removed attachments (src/attachments/service.rs `remove`), written
-- in the removal's transaction: an id, once used, never names another file, on
-- this incident or another (`store` refuses it with 409).
CREATE TABLE removed_attachments (
    id TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    removed_at TIMESTAMP NOT NULL
);
