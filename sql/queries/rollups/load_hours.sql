-- Recompute the hour rows of the claimed minutes' hours: the sums of their minute rows.
INSERT INTO analytics.page_load_histograms (
    period_start, period, ico_website_id, dimension, value, views, slow_views, histogram
)
SELECT t.hour, interval '1 hour', h.ico_website_id, h.dimension, h.value, sum(h.views),
       sum(h.slow_views), sum(h.histogram)
FROM (
    SELECT DISTINCT date_bin('1 hour', minute, timestamptz '2000-01-01') AS hour
    FROM pg_temp.minutes_refresh
) t
JOIN analytics.page_load_histograms h
  ON h.period = interval '1 minute'
 AND h.period_start >= t.hour AND h.period_start < t.hour + interval '1 hour'
GROUP BY t.hour, h.ico_website_id, h.dimension, h.value
