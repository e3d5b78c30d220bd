-- WeChat's risk rank (getuserriskrank: 0 lowest to 4 highest) of an
-- identity, asked at its first login when the app's risk check is on; NULL
-- when it was not asked, or WeChat did not answer.
ALTER TABLE identities ADD COLUMN risk_rank SMALLINT;
-- The highest rank of the account's identities, kept with them, so that
-- the admin table filters and sorts accounts by it through an index.
ALTER TABLE accounts ADD COLUMN risk_rank SMALLINT;
CREATE INDEX accounts_risk_rank_id ON accounts ((COALESCE(risk_rank, -1)), id);
