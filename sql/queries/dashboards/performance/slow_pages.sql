-- Share of page views slower than 3 s per Grafana interval (whole minutes) of event time, over
-- the selected projects: the 5-minute and minute counts (refreshed every 30 s) with the partial
-- minutes at the range's ends counted from the raw page views, the same answer as the raw page
-- views of the range (migrations 0018, 0025).
SELECT e.bucket_start AS "time", 100.0 * sum(e.slow_views) / sum(e.timed_views) AS "Slow pages"
FROM analytics.event_counts_in(
    $__timeFrom(), $__timeTo(), ARRAY[$project]::integer[],
    make_interval(mins => greatest(1, $__interval_ms / 60000))
) e
GROUP BY 1
HAVING sum(e.timed_views) > 0
ORDER BY 1
