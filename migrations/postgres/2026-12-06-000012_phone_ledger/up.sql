-- Successful phone-number exchanges, per app and China calendar day: WeChat
-- bills each one (see service/profile.rs). One row per app a day, whatever
-- the number of users.
CREATE TABLE phone_exchanges (
    appid  TEXT   NOT NULL,
    day    DATE   NOT NULL,
    count  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (appid, day)
);
-- When the account's phone number was last verified by WeChat, so that a
-- client can skip the paid button. Numbers stored before this column came
-- from WeChat too; their last change is the best time known.
ALTER TABLE accounts ADD COLUMN phone_verified_at TIMESTAMP;
UPDATE accounts SET phone_verified_at = updated_at WHERE phone_number IS NOT NULL;
