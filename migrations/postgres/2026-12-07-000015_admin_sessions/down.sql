DROP TABLE admin_sessions;
DROP TABLE admin_recovery_codes;
ALTER TABLE admins DROP COLUMN totp_last_step;
ALTER TABLE admins DROP COLUMN totp_enabled_at;
ALTER TABLE admins DROP COLUMN totp_secret;
ALTER TABLE admins DROP COLUMN locale;
ALTER TABLE admins DROP COLUMN role;
