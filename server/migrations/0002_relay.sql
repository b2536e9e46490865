-- The relay exchanges (docs/relay.md): a transaction's progress between exchanges.
-- relay_state: kazashi_protocol::online::TransactionState as JSON; outstanding: the script
-- the relay was last given (JSON); step: that script's step (0 before the first), the
-- compare-and-set guard that applies every report exactly once; last_report: the SHA-256 of
-- the last report applied, so that the same report sent again gets the same answer.
ALTER TABLE transactions ADD COLUMN relay_state TEXT;
ALTER TABLE transactions ADD COLUMN outstanding TEXT;
ALTER TABLE transactions ADD COLUMN step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE transactions ADD COLUMN last_report TEXT;
