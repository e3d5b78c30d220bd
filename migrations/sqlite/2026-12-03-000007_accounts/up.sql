-- One account per person, with one identity per (appid, openid).
--
-- `users` becomes `accounts`: every existing user is an account with the
-- same id, owning the profile, and gets one identity, also with the same id,
-- holding what belongs to the mini-program: appid, openid, session_key. Every
-- session keeps its token and now names its identity too. The admin table's
-- indexes keep the names they had under `users`.

DROP INDEX users_appid_openid;
DROP INDEX users_openid_id;
ALTER TABLE users RENAME TO accounts;

CREATE TABLE identities (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    BIGINT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    appid         TEXT      NOT NULL,
    openid        TEXT      NOT NULL,
    -- What WeChat last said for this openid; the account's unionid is the
    -- one that links.
    unionid       TEXT,
    session_key   TEXT      NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP NOT NULL,
    login_count   BIGINT    NOT NULL DEFAULT 0
);
INSERT INTO identities (id, account_id, appid, openid, unionid, session_key, created_at, last_login_at, login_count)
    SELECT id, id, appid, openid, unionid, session_key, created_at, last_login_at, login_count FROM accounts;
-- Led by openid: the login's look-up, the upsert's key, and the admin's
-- openid search all read it.
CREATE UNIQUE INDEX identities_openid_appid ON identities (openid, appid);
CREATE INDEX identities_account_appid ON identities (account_id, appid);

-- A unionid links at most one account. The old table allowed a unionid on
-- several rows (one per appid); the oldest keeps it, and the others are
-- merged into it at their next login, as any back-filled unionid is.
UPDATE accounts SET unionid = NULL
    WHERE unionid IS NOT NULL
      AND id > (SELECT MIN(a.id) FROM accounts a WHERE a.unionid = accounts.unionid);
DROP INDEX users_unionid;
CREATE UNIQUE INDEX accounts_unionid ON accounts (unionid);

ALTER TABLE accounts DROP COLUMN appid;
ALTER TABLE accounts DROP COLUMN openid;
ALTER TABLE accounts DROP COLUMN session_key;

-- Sessions: `user_id` becomes `account_id`, and `identity_id` is added. SQLite
-- cannot add a NOT NULL reference to a table, so the table is rebuilt.
CREATE TABLE sessions_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   BIGINT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    identity_id  BIGINT    NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    token_hash   BLOB      NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP,
    client_ip    TEXT,
    user_agent   TEXT
);
INSERT INTO sessions_new (id, account_id, identity_id, token_hash, created_at, expires_at, last_seen_at, revoked_at, client_ip, user_agent)
    SELECT id, user_id, user_id, token_hash, created_at, expires_at, last_seen_at, revoked_at, client_ip, user_agent FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);
CREATE INDEX sessions_account_id ON sessions (account_id, id);
CREATE INDEX sessions_identity_id ON sessions (identity_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at) WHERE revoked_at IS NULL;
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
