DROP TABLE wechat_pushes_seen;
DROP TABLE content_checks;
ALTER TABLE accounts DROP COLUMN avatar_pending;
ALTER TABLE accounts DROP COLUMN nickname_pending;
