-- Daily partitions of the raw tables for a week either side of today (UTC), so the sink never
-- waits on DDL and late events of the last week still land in their day's partition.
SELECT raw_data.ensure_daily_partitions(today - 7, today + 7)
FROM (SELECT (now() AT TIME ZONE 'UTC')::date AS today) AS t;
