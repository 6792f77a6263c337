-- Recompute the 5-minute rows of the claimed minutes' periods: the sums of their minute rows,
-- which the same transaction has just recomputed.
INSERT INTO analytics.five_minute_counts (
    period_start, ico_website_id, clickstream, registrations, conversions, timed_views,
    slow_views
)
SELECT t.period_start, c.ico_website_id, sum(c.clickstream), sum(c.registrations),
       sum(c.conversions), sum(c.timed_views), sum(c.slow_views)
FROM (
    SELECT DISTINCT date_bin('5 minutes', minute, timestamptz '2000-01-01') AS period_start
    FROM pg_temp.minutes_refresh
) t
JOIN analytics.minute_counts c
  ON c.minute >= t.period_start AND c.minute < t.period_start + interval '5 minutes'
GROUP BY t.period_start, c.ico_website_id
