-- Page views and visiting sessions per 5-minute window over the selected projects (a session
-- counts once per project it visits).
SELECT window_start AS "time",
       sum(page_views)      AS "Page views",
       sum(unique_sessions) AS "Sessions"
FROM analytics.window_aggregates
WHERE window_length = interval '5 minutes'
  AND $__timeFilter(window_start) AND ico_website_id IN ($project)
GROUP BY 1
ORDER BY 1
