-- Login codes within their retry window (see service/code_retry.rs). On
-- SQLite wxlogin holds them in memory (db/code_claims.rs says why); the
-- table is here so that both backends have one schema.
CREATE TABLE login_codes (
    code_hash     BLOB      PRIMARY KEY,
    sealed_token  BLOB      NOT NULL,
    claimed_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL
);
