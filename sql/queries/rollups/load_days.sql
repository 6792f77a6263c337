-- Recompute the day rows of the claimed minutes' days (UTC): the sums of their hour rows, so
-- run after load_hours.
INSERT INTO analytics.page_load_histograms (
    period_start, period, ico_website_id, dimension, value, views, slow_views, histogram
)
SELECT t.day, interval '1 day', h.ico_website_id, h.dimension, h.value, sum(h.views),
       sum(h.slow_views), sum(h.histogram)
FROM (
    SELECT DISTINCT date_bin('1 day', minute, timestamptz '2000-01-01') AS day
    FROM pg_temp.minutes_refresh
) t
JOIN analytics.page_load_histograms h
  ON h.period = interval '1 hour'
 AND h.period_start >= t.day AND h.period_start < t.day + interval '1 day'
GROUP BY t.day, h.ico_website_id, h.dimension, h.value
