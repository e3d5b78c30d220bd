ALTER TABLE identities DROP COLUMN session_key_issued_at;
