-- Webhooks (src/webhooks/): subscriptions, the outbox of deliveries (one row
-- per event and subscription, written in the change's own transaction), and
-- the log of attempts.
CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    -- The role whose view of an incident the payloads carry.
    role TEXT NOT NULL,
    -- Who created it: checked again at every delivery (deactivated, demoted).
    owner_id TEXT NOT NULL REFERENCES users (id),
    url TEXT NOT NULL,
    -- Event types, space-separated.
    events TEXT NOT NULL,
    description TEXT,
    -- Signing secrets, sealed with the data key (the server signs with them).
    secret TEXT NOT NULL,
    secret_key_id TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_key_id TEXT,
    previous_expires_at TIMESTAMP,
    paused BOOLEAN NOT NULL DEFAULT 0,
    disabled_at TIMESTAMP,
    disabled_reason TEXT,
    -- Failed attempts since the last success.
    failure_streak INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_subscriptions_org_idx ON webhook_subscriptions (organisation_id, id);

CREATE TABLE webhook_deliveries (
    -- The event id; the receiver sees it as webhook-id msg_<id>.
    id TEXT PRIMARY KEY NOT NULL,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    incident_id TEXT,
    -- The change's position in the change feed: the order per incident.
    position BIGINT,
    change_kind TEXT,
    version INTEGER,
    from_status TEXT,
    to_status TEXT,
    occurred_at TIMESTAMP NOT NULL,
    -- pending | succeeded | given_up | skipped
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    -- A worker's lease: another may take the delivery once it has passed.
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (subscription_id, incident_id, position);

CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at TIMESTAMP NOT NULL,
    -- succeeded | failed | given_up | skipped
    outcome TEXT NOT NULL,
    response_status INTEGER,
    latency_ms BIGINT,
    error TEXT,
    response_excerpt TEXT
);
CREATE INDEX webhook_attempts_subscription_idx ON webhook_attempts (subscription_id, id);
