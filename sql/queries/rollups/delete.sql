-- The stored rows of the claimed minutes, about to be recomputed.
DELETE FROM analytics.minute_counts c
USING pg_temp.minutes_refresh t
WHERE c.minute = t.minute
