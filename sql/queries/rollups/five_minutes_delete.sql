-- The stored 5-minute rows of the claimed minutes' periods, about to be recomputed.
DELETE FROM analytics.five_minute_counts f
WHERE f.period_start IN (
    SELECT DISTINCT date_bin('5 minutes', minute, timestamptz '2000-01-01')
    FROM pg_temp.minutes_refresh
)
