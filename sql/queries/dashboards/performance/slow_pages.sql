-- Share of page views slower than 3 s per minute of event time, over the selected projects:
-- the minute counts (refreshed every 30 s) with the partial minutes at the range's ends
-- counted from the raw page views, the same answer as the raw page views of the range.
SELECT minute AS "time", 100.0 * sum(slow_views) / sum(timed_views) AS "Slow pages"
FROM analytics.minute_counts_in($__timeFrom(), $__timeTo(), ARRAY[$project]::integer[])
GROUP BY 1
HAVING sum(timed_views) > 0
ORDER BY 1
