ALTER TABLE accounts DROP COLUMN phone_verified_at;
DROP TABLE phone_exchanges;
