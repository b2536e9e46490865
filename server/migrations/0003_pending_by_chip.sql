-- Pending transactions by chip: the per-chip serialization checks (state = 'pending' AND
-- chip_id = ?) on every registration and chip hello find the chip's few pending rows in the
-- index instead of reading every pending row. It replaces the index by state alone, which
-- served the same prefix (counts by state).
DROP INDEX transactions_state;
CREATE INDEX transactions_state_chip ON transactions (state, chip_id);
