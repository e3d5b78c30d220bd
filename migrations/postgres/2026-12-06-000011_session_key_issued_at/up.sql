-- When WeChat issued each identity's current session_key (see
-- service/user_data.rs: a key older than the data it should open is stale).
-- Until now every login replaced the key, so the last login is its time.
ALTER TABLE identities ADD COLUMN session_key_issued_at TIMESTAMP;
UPDATE identities SET session_key_issued_at = last_login_at;
ALTER TABLE identities ALTER COLUMN session_key_issued_at SET NOT NULL;
-- A node of the previous release, still running during a rolling upgrade,
-- inserts identities without the column: its logins are issued now.
ALTER TABLE identities ALTER COLUMN session_key_issued_at SET DEFAULT (now() AT TIME ZONE 'UTC');
