-- Service accounts: partner systems that sign in with the OAuth 2.0 client
-- credentials grant. Each is also a row in `users` (kind 'service'), so that
-- incidents.reporter_id and the audit log's actor_id can name it; such a row
-- has no password any password can match, and sign-in, refresh and password
-- change refuse it.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';

CREATE TABLE service_accounts (
    id TEXT PRIMARY KEY REFERENCES users (id),
    -- Space-separated OAuth scopes the account may ask for.
    scopes TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    last_used_at TIMESTAMP
);

-- Client secrets, stored only as SHA-256 hashes (they are 256-bit random
-- values, so a plain hash cannot be reversed by guessing). At most two are live
-- at once, for rotation.
CREATE TABLE service_account_secrets (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES service_accounts (id),
    secret_hash TEXT NOT NULL UNIQUE,
    -- The first characters of the secret, to tell secrets apart in lists.
    hint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX service_account_secrets_account ON service_account_secrets (account_id);

-- Per-client request counts in fixed windows, shared by every instance.
CREATE TABLE client_request_windows (
    client_id TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (client_id, window_start)
);
