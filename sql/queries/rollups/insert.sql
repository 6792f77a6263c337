-- Recompute the rows of the claimed minutes (pg_temp.minutes_refresh) from the raw events, which
-- are de-duplicated by primary key: exact whatever was replayed or arrived late. %(lo)s and
-- %(hi)s bound all minutes, so only the partitions they cover are planned; LATERAL reads each
-- minute by its own time range (the BRIN index), not the span between the minutes.
INSERT INTO analytics.minute_counts (
    minute, ico_website_id, clickstream, registrations, conversions, timed_views, slow_views
)
SELECT t.minute, e.ico_website_id, sum(e.clickstream), sum(e.registrations),
       sum(e.conversions), sum(e.timed_views), sum(e.slow_views)
FROM pg_temp.minutes_refresh t
CROSS JOIN LATERAL (
    SELECT c.ico_website_id, count(*) AS clickstream, 0 AS registrations, 0 AS conversions,
           count(*) FILTER (
               WHERE c.event_type = 'page_view' AND c.page_load_time IS NOT NULL
           ) AS timed_views,
           count(*) FILTER (WHERE c.event_type = 'page_view' AND c.page_load_time > 3)
               AS slow_views
    FROM raw_data.clickstream_events c
    WHERE c."timestamp" >= t.minute AND c."timestamp" < t.minute + interval '1 minute'
      AND c."timestamp" >= %(lo)s AND c."timestamp" < %(hi)s
    GROUP BY 1
    UNION ALL
    SELECT r.ico_website_id, 0, count(*), 0, 0, 0
    FROM raw_data.user_registrations r
    WHERE r."timestamp" >= t.minute AND r."timestamp" < t.minute + interval '1 minute'
      AND r."timestamp" >= %(lo)s AND r."timestamp" < %(hi)s
    GROUP BY 1
    UNION ALL
    SELECT v.ico_website_id, 0, 0, count(*), 0, 0
    FROM raw_data.conversions v
    WHERE v."timestamp" >= t.minute AND v."timestamp" < t.minute + interval '1 minute'
      AND v."timestamp" >= %(lo)s AND v."timestamp" < %(hi)s
    GROUP BY 1
) e
GROUP BY 1, 2
