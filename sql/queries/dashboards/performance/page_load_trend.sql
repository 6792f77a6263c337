-- Page load time per 5-minute window: the mean over all page views of the selected projects,
-- and the worst project's 95th percentile.
SELECT window_start AS "time",
       sum(avg_page_load_time * page_views) / nullif(sum(page_views), 0) AS "Mean",
       max(p95_page_load_time) AS "Worst project p95"
FROM analytics.window_aggregates
WHERE window_length = interval '5 minutes'
  AND $__timeFilter(window_start) AND ico_website_id IN ($project)
GROUP BY 1
ORDER BY 1
