-- Login codes within their retry window (see service/code_retry.rs): a
-- retried login with the same code gets the same token back. Keyed by an
-- HMAC of the app and the code; the token is sealed. A row is written once,
-- when its login starts, with the token that login will make; it is done
-- when that token's session exists. No index but the key: the sweep of old
-- rows scans a table of one minute of logins.
CREATE TABLE login_codes (
    code_hash     BLOB      PRIMARY KEY,
    sealed_token  BLOB      NOT NULL,
    claimed_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL
);
