-- Backend services that introspect tokens (POST /oauth/introspect), each
-- with a client id and a secret of which only the SHA-256 is kept. A revoked
-- service keeps its row, for the audit trail and its call count; its name
-- can then be given to a new one.
CREATE TABLE services (
    id           INTEGER   PRIMARY KEY AUTOINCREMENT,
    name         TEXT      NOT NULL,
    client_id    TEXT      NOT NULL,
    secret_hash  BLOB      NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP,
    last_used_at TIMESTAMP,
    calls        BIGINT    NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX services_client_id ON services (client_id);
CREATE UNIQUE INDEX services_live_name ON services (name) WHERE revoked_at IS NULL;
