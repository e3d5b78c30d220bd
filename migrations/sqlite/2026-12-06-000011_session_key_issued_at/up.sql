-- When WeChat issued each identity's current session_key (see
-- service/user_data.rs: a key older than the data it should open is stale).
-- Until now every login replaced the key, so the last login is its time.
ALTER TABLE identities ADD COLUMN session_key_issued_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE identities SET session_key_issued_at = last_login_at;
