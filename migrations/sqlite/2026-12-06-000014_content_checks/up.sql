-- Content security (see service/content.rs). A nickname or an avatar that
-- WeChat has not passed yet is pending: the user sees it, everyone else
-- the value before it.
ALTER TABLE accounts ADD COLUMN nickname_pending TEXT;
ALTER TABLE accounts ADD COLUMN avatar_pending TEXT;
-- The work list: one row per pending value, until it is decided (the
-- audit log keeps the decision). `checking`: an image WeChat is checking,
-- whose result comes by message push with its trace id; `review`: waiting
-- for an operator.
CREATE TABLE content_checks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    BIGINT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    identity_id   BIGINT    NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    field         TEXT      NOT NULL,
    value         TEXT      NOT NULL,
    status        TEXT      NOT NULL,
    trace_id      TEXT,
    label         BIGINT,
    reason        TEXT      NOT NULL DEFAULT '',
    attempts      INTEGER   NOT NULL DEFAULT 0,
    submitted_at  TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX content_checks_account_field ON content_checks (account_id, field);
CREATE UNIQUE INDEX content_checks_trace_id ON content_checks (trace_id);
CREATE INDEX content_checks_status ON content_checks (status, updated_at);
-- Pushes received lately, by a digest of their signed query: a replay of
-- one is refused. Kept ten minutes, twice the timestamps' allowed skew.
CREATE TABLE wechat_pushes_seen (
    digest   BLOB      PRIMARY KEY,
    seen_at  TIMESTAMP NOT NULL
);
CREATE INDEX wechat_pushes_seen_at ON wechat_pushes_seen (seen_at);
