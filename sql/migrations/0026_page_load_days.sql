-- Page load histograms per day: the page-load-by-page-type panel took 171-197 ms over 7 days
-- (by device 73 ms), nearly all of it in sum(histogram) over the hour rows of the range (20
-- projects x 10 page types x 168 hours = 33,600 numerics of 2,160 digits; by device 10,080).
-- A row per UTC day (the sum of its hour rows, as an hour is the sum of its minutes) lets a
-- week read ~6 day rows per (project, value) and ~24 hour rows for its partial days.
--
-- The sessions refresher recomputes the days of the minutes it recomputes, from their hour
-- rows, in the same transaction (dataflows/rollups.py); retention deletes before a UTC day, so
-- it keeps or deletes a day row with its hours.

-- A database migrated with data in it: the days of the hours already stored.
INSERT INTO analytics.page_load_histograms (
    period_start, period, ico_website_id, dimension, value, views, slow_views, histogram
)
SELECT date_bin('1 day', period_start, timestamptz '2000-01-01'), interval '1 day',
       ico_website_id, dimension, value, sum(views), sum(slow_views), sum(histogram)
FROM analytics.page_load_histograms
WHERE period = interval '1 hour'
GROUP BY 1, 3, 4, 5;

-- As in 0018, with the whole days of the range from the day rows first: the whole hours
-- outside them from the hour rows, the other whole minutes from the minute rows, the partial
-- minutes at the ends from the raw page views. A day boundary is an hour boundary, so the
-- whole days lie inside the whole hours. Several rows may share a (project, value): sum them.
CREATE OR REPLACE FUNCTION analytics.page_load_histograms_in(
    time_from timestamptz, time_to timestamptz, dim text, projects integer[]
) RETURNS TABLE (
    ico_website_id integer, value text, views bigint, slow_views bigint, histogram numeric
)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT h.ico_website_id, h.value, h.views::bigint, h.slow_views::bigint, h.histogram
    FROM analytics.page_load_histograms h
    WHERE h.period = interval '1 day' AND h.dimension = dim
      AND h.period_start >= analytics.period_after(time_from, interval '1 day')
      -- greatest: a range without a whole day is empty, not inverted (which the planner
      -- would estimate as a default 0.5 % of the rows, enough to plan workers at 1 hour)
      AND h.period_start < greatest(analytics.period_after(time_from, interval '1 day'),
                                    date_bin('1 day', time_to, timestamptz '2000-01-01'))
      AND h.ico_website_id = ANY (projects)
    UNION ALL
    SELECT h.ico_website_id, h.value, h.views::bigint, h.slow_views::bigint, h.histogram
    FROM analytics.page_load_histograms h
    WHERE h.period = interval '1 hour' AND h.dimension = dim
      AND h.period_start >= analytics.period_after(time_from, interval '1 hour')
      AND h.period_start < date_bin('1 hour', time_to, timestamptz '2000-01-01')
      AND NOT (h.period_start >= analytics.period_after(time_from, interval '1 day')
               AND h.period_start < date_bin('1 day', time_to, timestamptz '2000-01-01'))
      AND h.ico_website_id = ANY (projects)
    UNION ALL
    SELECT h.ico_website_id, h.value, h.views::bigint, h.slow_views::bigint, h.histogram
    FROM analytics.page_load_histograms h
    WHERE h.period = interval '1 minute' AND h.dimension = dim
      AND h.period_start >= analytics.period_after(time_from, interval '1 minute')
      AND h.period_start < date_bin('1 minute', time_to, timestamptz '2000-01-01')
      AND NOT (h.period_start >= analytics.period_after(time_from, interval '1 hour')
               AND h.period_start < date_bin('1 hour', time_to, timestamptz '2000-01-01'))
      AND h.ico_website_id = ANY (projects)
    UNION ALL
    SELECT c.ico_website_id,
           CASE dim WHEN 'page_type' THEN c.page_type WHEN 'device' THEN c.device_type
                    ELSE '' END,
           count(*), count(*) FILTER (WHERE c.page_load_time > 3),
           sum(analytics.page_load_unit(analytics.page_load_bucket(c.page_load_time)))
    FROM raw_data.clickstream_events c
    WHERE c.event_type = 'page_view' AND c.page_load_time IS NOT NULL
      AND ((c."timestamp" >= time_from
            AND c."timestamp" < analytics.period_after(time_from, interval '1 minute'))
           OR (c."timestamp" >= date_bin('1 minute', time_to, timestamptz '2000-01-01')
               AND c."timestamp" <= time_to))
      AND c."timestamp" BETWEEN time_from AND time_to
      AND c.ico_website_id = ANY (projects)
    GROUP BY 1, 2;
END;
