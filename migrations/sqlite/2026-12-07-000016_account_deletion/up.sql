-- A closed account (DELETE /api/me, or an operator): its personal data is
-- erased and its identities deleted; the row stays, with only its id, its
-- creation time and this, for the audit trail.
ALTER TABLE accounts ADD COLUMN deleted_at TIMESTAMP;
