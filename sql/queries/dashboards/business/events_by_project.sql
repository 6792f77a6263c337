-- Events per 5-minute window, one series per project.
SELECT a.window_start AS "time", w.name AS metric, a.events AS value
FROM analytics.window_aggregates a
JOIN processed_data.ico_websites w ON w.id = a.ico_website_id
WHERE a.window_length = interval '5 minutes'
  AND $__timeFilter(a.window_start) AND a.ico_website_id IN ($project)
ORDER BY 1, 2
