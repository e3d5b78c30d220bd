-- The sealed values stay sealed: run this only on a database whose values
-- were never sealed, or restore a backup.
DROP INDEX accounts_phone_plain;
DROP INDEX identities_session_key_plain;
DROP INDEX accounts_phone_hash;
ALTER TABLE accounts DROP COLUMN phone_hash;
