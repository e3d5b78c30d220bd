-- One WeChat access_token per app, shared by every node (see
-- wechat/access_token.rs). The token is sealed with a key derived from the
-- server key; a node that cannot open it fetches a new one.
CREATE TABLE wechat_access_tokens (
    appid         TEXT      PRIMARY KEY,
    sealed_token  BYTEA,
    expires_at    TIMESTAMP,
    refreshed_at  TIMESTAMP,
    -- The node fetching a token now, and until when the others leave it be.
    lease_holder  TEXT,
    lease_until   TIMESTAMP,
    -- WeChat allows 20 forced refreshes a day, 30 s apart.
    forced_at     TIMESTAMP,
    forced_day    BIGINT    NOT NULL DEFAULT 0,
    forced_count  INTEGER   NOT NULL DEFAULT 0
);
