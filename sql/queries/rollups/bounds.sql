-- The span of the claimed minutes: constants for the recomputation's partition pruning.
SELECT min(minute), max(minute) + interval '1 minute' FROM pg_temp.minutes_refresh
