-- The span of all read ranges: constants for the recomputation's partition pruning.
SELECT min(read_from), max(read_to) FROM pg_temp.sessions_refresh
