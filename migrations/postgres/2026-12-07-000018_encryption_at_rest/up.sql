-- Encryption at rest: accounts.phone_number now holds the number sealed
-- under the data key (`wxe1.<key id>.<…>`), and this its keyed hash
-- (HMAC-SHA256 under a key derived from the data key), so that an admin can
-- still find an account by its phone number. Values written before this
-- release are sealed, and their hashes filled, by the server at start-up.
ALTER TABLE accounts ADD COLUMN phone_hash TEXT;
CREATE INDEX accounts_phone_hash ON accounts (phone_hash) WHERE phone_hash IS NOT NULL;
-- The rows still in plain text, and only those: the server's start-up looks
-- for them through these, so that with none left it reads nothing. Written
-- as the server's query writes its condition, for the planner to match.
CREATE INDEX identities_session_key_plain ON identities (id) WHERE session_key NOT LIKE 'wxe1.%';
CREATE INDEX accounts_phone_plain ON accounts (id) WHERE phone_number NOT LIKE 'wxe1.%';
