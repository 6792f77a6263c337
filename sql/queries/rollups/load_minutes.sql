-- Recompute the page load histograms of the claimed minutes from the raw page views, per
-- project, per project and page type, and per project and device (migration 0018 says how a
-- histogram is packed). %(lo)s and %(hi)s bound all minutes, for partition pruning.
WITH views AS (
    SELECT t.minute, c.ico_website_id, c.page_type, c.device_type,
           analytics.page_load_bucket(c.page_load_time) AS bucket,
           c.page_load_time > 3 AS slow
    FROM pg_temp.minutes_refresh t
    CROSS JOIN LATERAL (
        SELECT ico_website_id, page_type, device_type, page_load_time
        FROM raw_data.clickstream_events
        WHERE "timestamp" >= t.minute AND "timestamp" < t.minute + interval '1 minute'
          AND "timestamp" >= %(lo)s AND "timestamp" < %(hi)s
          AND event_type = 'page_view' AND page_load_time IS NOT NULL
    ) c
), buckets AS (
    SELECT minute, ico_website_id,
           CASE grouping(page_type, device_type)
               WHEN 1 THEN 'page_type' WHEN 2 THEN 'device' ELSE 'project' END AS dimension,
           coalesce(page_type, device_type, '') AS value,
           bucket, count(*) AS views, count(*) FILTER (WHERE slow) AS slow_views
    FROM views
    GROUP BY GROUPING SETS (
        (minute, ico_website_id, bucket),
        (minute, ico_website_id, page_type, bucket),
        (minute, ico_website_id, device_type, bucket)
    )
)
INSERT INTO analytics.page_load_histograms (
    period_start, period, ico_website_id, dimension, value, views, slow_views, histogram
)
SELECT minute, interval '1 minute', ico_website_id, dimension, value, sum(views), sum(slow_views),
       sum(views * analytics.page_load_unit(bucket))
FROM buckets
GROUP BY minute, ico_website_id, dimension, value
