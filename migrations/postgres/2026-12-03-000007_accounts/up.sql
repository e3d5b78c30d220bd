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
    id            BIGSERIAL PRIMARY KEY,
    account_id    BIGINT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    appid         TEXT      NOT NULL,
    openid        TEXT      COLLATE "C" NOT NULL,
    -- What WeChat last said for this openid; the account's unionid is the
    -- one that links.
    unionid       TEXT      COLLATE "C",
    session_key   TEXT      NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP NOT NULL,
    login_count   BIGINT    NOT NULL DEFAULT 0
);
INSERT INTO identities (id, account_id, appid, openid, unionid, session_key, created_at, last_login_at, login_count)
    SELECT id, id, appid, openid, unionid, session_key, created_at, last_login_at, login_count FROM accounts;
SELECT setval('identities_id_seq', COALESCE((SELECT MAX(id) FROM identities), 0) + 1, false);
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

ALTER TABLE accounts DROP COLUMN appid, DROP COLUMN openid, DROP COLUMN session_key;

-- Sessions: `user_id` becomes `account_id`, and `identity_id` is added.
ALTER TABLE sessions RENAME COLUMN user_id TO account_id;
ALTER INDEX sessions_user_id RENAME TO sessions_account_id;
ALTER TABLE sessions ADD COLUMN identity_id BIGINT;
UPDATE sessions SET identity_id = account_id;
ALTER TABLE sessions ALTER COLUMN identity_id SET NOT NULL,
    ADD FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE;
CREATE INDEX sessions_identity_id ON sessions (identity_id);
