-- Login codes within their retry window (see service/code_retry.rs): a
-- retried login with the same code gets the same token back. Keyed by an
-- HMAC of the app and the code; the token is sealed. The rows
-- live a minute.
CREATE TABLE login_codes (
    code_hash     BLOB      PRIMARY KEY,
    -- NULL while the login that holds the code is under way.
    sealed_token  BLOB,
    -- While under way: until when the other requests wait for it. Once
    -- done: until when a retry gets the token back.
    expires_at    TIMESTAMP NOT NULL
);
CREATE INDEX login_codes_expires_at ON login_codes (expires_at);
