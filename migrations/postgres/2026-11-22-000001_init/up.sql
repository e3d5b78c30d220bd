-- Users of the mini-program, one row per (appid, openid). Timestamps are UTC.
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    appid         TEXT      NOT NULL,
    openid        TEXT      NOT NULL,
    unionid       TEXT,
    session_key   TEXT      NOT NULL,
    nickname      TEXT      NOT NULL DEFAULT '',
    avatar_url    TEXT      NOT NULL DEFAULT '',
    gender        SMALLINT  NOT NULL DEFAULT 0 CHECK (gender IN (0, 1, 2)),
    country       TEXT      NOT NULL DEFAULT '',
    province      TEXT      NOT NULL DEFAULT '',
    city          TEXT      NOT NULL DEFAULT '',
    language      TEXT      NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP NOT NULL,
    login_count   BIGINT    NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_appid_openid ON users (appid, openid);
CREATE INDEX users_unionid ON users (unionid);

-- Session tokens. Only the SHA-256 of a token is stored.
CREATE TABLE sessions (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   BYTEA     NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP,
    client_ip    TEXT,
    user_agent   TEXT
);
CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);
CREATE INDEX sessions_user_id ON sessions (user_id, id);
