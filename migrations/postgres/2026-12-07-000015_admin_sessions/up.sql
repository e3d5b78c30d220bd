-- Admin roles (see domain/admin_role.rs). Admins made before roles existed
-- could do everything, so they become owners.
ALTER TABLE admins ADD COLUMN role TEXT NOT NULL DEFAULT 'owner';
-- The admin's language on the admin site; NULL: from the browser.
ALTER TABLE admins ADD COLUMN locale TEXT;
-- TOTP second factor: the secret (sealed with the data key), when it was
-- turned on, and the last time step accepted, so that a code is never
-- accepted twice.
ALTER TABLE admins ADD COLUMN totp_secret BYTEA;
ALTER TABLE admins ADD COLUMN totp_enabled_at TIMESTAMP;
ALTER TABLE admins ADD COLUMN totp_last_step BIGINT;
-- One-time recovery codes, by SHA-256 (they are long random strings).
CREATE TABLE admin_recovery_codes (
    id         BIGSERIAL PRIMARY KEY,
    admin_id   BIGINT    NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    code_hash  TEXT      NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
CREATE UNIQUE INDEX admin_recovery_codes_hash ON admin_recovery_codes (admin_id, code_hash);
-- Signed-in admin sessions. The cookie holds a random id; only its SHA-256
-- is kept here, so a copy of this table signs nobody in. Deleting a row
-- signs its session out on every node at its next request.
CREATE TABLE admin_sessions (
    id           BIGSERIAL PRIMARY KEY,
    admin_id     BIGINT    NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    token_hash   TEXT      NOT NULL,
    csrf         TEXT      NOT NULL,
    -- Password checked, second factor not yet: such a session may only
    -- finish signing in.
    second_factor_pending BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE UNIQUE INDEX admin_sessions_token_hash ON admin_sessions (token_hash);
CREATE INDEX admin_sessions_admin_id ON admin_sessions (admin_id);
CREATE INDEX admin_sessions_last_seen_at ON admin_sessions (last_seen_at);
