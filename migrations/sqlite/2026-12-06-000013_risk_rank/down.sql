DROP INDEX accounts_risk_rank_id;
ALTER TABLE accounts DROP COLUMN risk_rank;
ALTER TABLE identities DROP COLUMN risk_rank;
