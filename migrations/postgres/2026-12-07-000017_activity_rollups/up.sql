-- The admin overview's charts read these, never the big tables.
--
-- New accounts and logins per UTC hour: each node counts in memory and
-- adds its counts every few seconds. Hours, not days, so that any display
-- time zone (whole hours from UTC) can be drawn from them.
CREATE TABLE activity_hours (
    hour         TIMESTAMP PRIMARY KEY,
    new_accounts BIGINT NOT NULL DEFAULT 0,
    logins       BIGINT NOT NULL DEFAULT 0
);
-- What happened before this table: accounts by their creation, and logins
-- by the sessions still kept (--session-retention).
INSERT INTO activity_hours (hour, new_accounts, logins)
    SELECT date_trunc('hour', created_at), COUNT(*), 0 FROM accounts GROUP BY date_trunc('hour', created_at);
INSERT INTO activity_hours (hour, new_accounts, logins)
    SELECT date_trunc('hour', created_at), 0, COUNT(*) FROM sessions
    -- (SQLite needs a WHERE to read the ON CONFLICT below as an upsert.)
    WHERE true GROUP BY date_trunc('hour', created_at)
    ON CONFLICT (hour) DO UPDATE SET logins = excluded.logins;
-- Accounts by gender and by province, recounted every few minutes by one
-- node at a time: a GROUP BY over every account is too slow for a page.
CREATE TABLE profile_totals (
    kind        TEXT      NOT NULL,
    value       TEXT      NOT NULL,
    accounts    BIGINT    NOT NULL,
    computed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, value)
);
