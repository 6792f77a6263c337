-- The ten countries with the most visiting sessions.
SELECT country AS "Country", count(DISTINCT session_id) AS "Sessions"
FROM raw_data.clickstream_events
WHERE $__timeFilter("timestamp") AND ico_website_id IN ($project)
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 10
