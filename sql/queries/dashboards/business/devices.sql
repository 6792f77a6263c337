-- Sessions started in the range by the device of their first page event.
SELECT coalesce(device_type, 'unknown') AS "Device", count(*) AS "Sessions"
FROM analytics.sessions
WHERE $__timeFilter(session_start) AND ico_website_id IN ($project)
GROUP BY 1
ORDER BY 2 DESC, 1
