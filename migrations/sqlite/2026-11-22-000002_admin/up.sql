-- Operators of the admin site.
CREATE TABLE admins (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT      NOT NULL,
    password_hash TEXT      NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP
);
CREATE UNIQUE INDEX admins_username ON admins (username);

-- What operators did. Failed sign-ins are also what the sign-in throttle counts.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TIMESTAMP NOT NULL,
    admin_id   BIGINT,
    username   TEXT      NOT NULL,
    action     TEXT      NOT NULL,
    ip         TEXT,
    detail     TEXT      NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_throttle_user ON audit_log (action, username, created_at);
CREATE INDEX audit_log_throttle_ip ON audit_log (action, ip, created_at);

-- The admin user table sorts on every column with id as tie-breaker and
-- pages by keyset, so each sort has an index ending in id.
CREATE INDEX users_openid_id ON users (openid, id);
CREATE INDEX users_unionid_sort ON users (COALESCE(unionid, ''), id);
CREATE INDEX users_nickname_id ON users (nickname, id);
CREATE INDEX users_gender_id ON users (gender, id);
CREATE INDEX users_province_id ON users (province, id);
CREATE INDEX users_city_id ON users (city, id);
-- Lists the cities of a province for the filter without scanning its users.
CREATE INDEX users_province_city ON users (province, city);
CREATE INDEX users_created_at_id ON users (created_at, id);
CREATE INDEX users_last_login_at_id ON users (last_login_at, id);

-- Active-session totals and per-user revokes.
CREATE INDEX sessions_expires_at ON sessions (expires_at) WHERE revoked_at IS NULL;
