-- Exact token revocation: access tokens carry the user's token generation, which
-- a password change or reset and a deactivation bump, so every access token
-- issued before stops at once (not "to the second"), and a reactivation does not
-- revive them. Each access token also names its sign-in (the refresh token
-- family), checked on every request.
ALTER TABLE users ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;

-- The sign-in throttle reserves an attempt before the password is checked; a
-- reservation is in flight until its answer is known.
ALTER TABLE login_failures ADD COLUMN in_flight BOOLEAN NOT NULL DEFAULT FALSE;

-- Admin, reviewer and analyst accounts belong only to oversight offices (they
-- see every organisation's accounts or incidents exactly). An existing one in
-- another organisation stops the upgrade: move the account to an oversight
-- office or give it another role, then migrate again (see the README,
-- "Authentication").
CREATE TEMPORARY TABLE admins_outside_oversight_offices (
    n INTEGER NOT NULL
        CONSTRAINT admin_accounts_belong_only_to_oversight_offices CHECK (n = 0)
);
INSERT INTO admins_outside_oversight_offices
SELECT COUNT(*) FROM users
JOIN organisations ON organisations.id = users.organisation_id
WHERE users.role IN ('admin', 'reviewer', 'analyst') AND organisations.kind <> 'oversight_office';
DROP TABLE admins_outside_oversight_offices;
