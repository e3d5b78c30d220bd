-- The webhook outbox: each event is written in the transaction of the
-- change it reports, then delivered, at least once, by a background thread
-- on any node. `payload` is the exact JSON body that is sent and signed.
CREATE TABLE webhook_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT      NOT NULL,
    kind            TEXT      NOT NULL,
    payload         TEXT      NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    -- When a node may (next) try it; a node that takes it moves this
    -- ahead, so that other nodes leave it alone meanwhile.
    next_attempt_at TIMESTAMP NOT NULL,
    attempts        INTEGER   NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    TIMESTAMP,
    -- Set when the retries ran out.
    failed_at       TIMESTAMP
);
CREATE UNIQUE INDEX webhook_events_event_id ON webhook_events (event_id);
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at, id)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_events_created_at ON webhook_events (created_at);
