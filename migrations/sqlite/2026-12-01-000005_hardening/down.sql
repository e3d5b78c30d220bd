DROP TABLE readiness_probe;
DROP INDEX sessions_revoked_at;
DROP INDEX audit_log_created_at;
CREATE INDEX audit_log_throttle_ip ON audit_log (action, ip, created_at);
CREATE INDEX audit_log_throttle_user ON audit_log (action, username, created_at);
DROP INDEX sign_in_throttle_window;
DROP TABLE sign_in_throttle;
