-- Share of page views slower than 3 s per minute of event time, over the selected projects. The
-- whole minutes of the range come from the minute counts (refreshed every 30 s), the partial
-- minutes at its ends from the raw events: the same answer as the raw page views of the range.
WITH counts AS (
    SELECT minute AS t, timed_views AS timed, slow_views AS slow
    FROM analytics.minute_counts
    WHERE minute >= analytics.period_after($__timeFrom(), '1 minute')
      AND minute < date_bin('1 minute', $__timeTo()::timestamptz, timestamptz '2000-01-01')
      AND ico_website_id IN ($project)
    UNION ALL
    SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01'), 1,
           (page_load_time > 3)::integer
    FROM raw_data.clickstream_events
    WHERE event_type = 'page_view' AND page_load_time IS NOT NULL
      AND (("timestamp" >= $__timeFrom()
            AND "timestamp" < analytics.period_after($__timeFrom(), '1 minute'))
           OR ("timestamp" >= date_bin('1 minute', $__timeTo()::timestamptz,
                                       timestamptz '2000-01-01')
               AND "timestamp" <= $__timeTo())) AND ico_website_id IN ($project)
)
SELECT t AS "time", 100.0 * sum(slow) / sum(timed) AS "Slow pages"
FROM counts
GROUP BY 1
HAVING sum(timed) > 0
ORDER BY 1
