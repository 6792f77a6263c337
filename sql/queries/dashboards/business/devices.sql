-- Visiting sessions by device type.
SELECT device_type AS "Device", count(DISTINCT session_id) AS "Sessions"
FROM raw_data.clickstream_events
WHERE $__timeFilter("timestamp") AND ico_website_id IN ($project)
GROUP BY 1
ORDER BY 2 DESC, 1
