-- Hardening: sign-in counters, retention indexes, the readiness probe.

-- Admin sign-in throttling. One row per key: the client's IP ('ip'), a
-- username from one IP ('user_ip'), and a username from anywhere ('user').
-- An attempt reserves its slot by incrementing `attempts` before the password
-- is checked, so concurrent guesses cannot overrun the limit. A window starts
-- at its first attempt and lasts 15 minutes.
CREATE TABLE sign_in_throttle (
    kind         TEXT      NOT NULL,
    subject      TEXT      NOT NULL,
    window_start TIMESTAMP NOT NULL,
    attempts     BIGINT    NOT NULL,
    PRIMARY KEY (kind, subject)
);
CREATE INDEX sign_in_throttle_window ON sign_in_throttle (window_start);

-- The throttle no longer counts the audit log.
DROP INDEX audit_log_throttle_user;
DROP INDEX audit_log_throttle_ip;
-- Retention: old entries are pruned in batches.
CREATE INDEX audit_log_created_at ON audit_log (created_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- /readyz writes here while database writes are known to fail, to learn
-- when they succeed again: a quarter MiB, then nothing, so that a write
-- that fits in space already allocated does not count as recovery.
CREATE TABLE readiness_probe (
    id         BIGINT    PRIMARY KEY,
    written_at TIMESTAMP NOT NULL,
    padding    BLOB
);
