-- Sessions started in the range by the device they landed with.
SELECT device_type AS "Device", count(*) AS "Sessions"
FROM analytics.sessions
WHERE $__timeFilter(started_at) AND ico_website_id IN ($project) AND device_type IS NOT NULL
GROUP BY 1
ORDER BY 2 DESC, 1
