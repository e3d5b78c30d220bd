-- Back to one row per (appid, openid): each identity becomes a user with its
-- account's profile. An account with several identities is copied into each;
-- ids are the identities'.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    appid         TEXT    NOT NULL,
    openid        TEXT    NOT NULL,
    unionid       TEXT,
    session_key   TEXT    NOT NULL,
    nickname      TEXT    NOT NULL DEFAULT '',
    avatar_url    TEXT    NOT NULL DEFAULT '',
    gender        SMALLINT NOT NULL DEFAULT 0 CHECK (gender IN (0, 1, 2)),
    country       TEXT    NOT NULL DEFAULT '',
    province      TEXT    NOT NULL DEFAULT '',
    city          TEXT    NOT NULL DEFAULT '',
    language      TEXT    NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP NOT NULL,
    login_count   BIGINT  NOT NULL DEFAULT 0,
    phone_number  TEXT,
    phone_country_code TEXT
);
INSERT INTO users
    SELECT i.id, i.appid, i.openid, COALESCE(i.unionid, a.unionid), i.session_key, a.nickname, a.avatar_url,
           a.gender, a.country, a.province, a.city, a.language, i.created_at, a.updated_at,
           i.last_login_at, i.login_count, a.phone_number, a.phone_country_code
    FROM identities i JOIN accounts a ON a.id = i.account_id;
CREATE TABLE sessions_old (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   BLOB    NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP,
    client_ip    TEXT,
    user_agent   TEXT
);
INSERT INTO sessions_old
    SELECT id, identity_id, token_hash, created_at, expires_at, last_seen_at, revoked_at, client_ip, user_agent FROM sessions;
DROP TABLE sessions;
DROP TABLE identities;
DROP TABLE accounts;
ALTER TABLE sessions_old RENAME TO sessions;
CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);
CREATE INDEX sessions_user_id ON sessions (user_id, id);
CREATE INDEX sessions_expires_at ON sessions (expires_at) WHERE revoked_at IS NULL;
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE UNIQUE INDEX users_appid_openid ON users (appid, openid);
CREATE INDEX users_unionid ON users (unionid);
CREATE INDEX users_openid_id ON users (openid, id);
CREATE INDEX users_unionid_sort ON users (COALESCE(unionid, ''), id);
CREATE INDEX users_nickname_id ON users (nickname, id);
CREATE INDEX users_gender_id ON users (gender, id);
CREATE INDEX users_province_id ON users (province, id);
CREATE INDEX users_city_id ON users (city, id);
CREATE INDEX users_province_city ON users (province, city);
CREATE INDEX users_created_at_id ON users (created_at, id);
CREATE INDEX users_last_login_at_id ON users (last_login_at, id);
CREATE INDEX users_province_last_login ON users (province, last_login_at, id);
CREATE INDEX users_province_created ON users (province, created_at, id);
