-- The stored page load histograms of the claimed minutes and of their hours and days, about to
-- be recomputed.
DELETE FROM analytics.page_load_histograms h
WHERE (h.period = interval '1 minute'
       AND h.period_start IN (SELECT minute FROM pg_temp.minutes_refresh))
   OR (h.period = interval '1 hour'
       AND h.period_start IN (
           SELECT DISTINCT date_bin('1 hour', minute, timestamptz '2000-01-01')
           FROM pg_temp.minutes_refresh
       ))
   OR (h.period = interval '1 day'
       AND h.period_start IN (
           SELECT DISTINCT date_bin('1 day', minute, timestamptz '2000-01-01')
           FROM pg_temp.minutes_refresh
       ))
