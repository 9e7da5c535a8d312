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
DO $$
DECLARE
    misplaced TEXT;
BEGIN
    SELECT string_agg(users.email, ', ') INTO misplaced
    FROM users JOIN organisations ON organisations.id = users.organisation_id
    WHERE users.role IN ('admin', 'reviewer', 'analyst') AND organisations.kind <> 'oversight_office';
    IF misplaced IS NOT NULL THEN
        RAISE EXCEPTION 'admin, reviewer and analyst accounts belong only to oversight offices; move or demote: %', misplaced;
    END IF;
END
$$;
