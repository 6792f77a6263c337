-- The ten countries most sessions started in the range came from.
SELECT country AS "Country", count(*) AS "Sessions"
FROM analytics.sessions
WHERE $__timeFilter(started_at) AND ico_website_id IN ($project) AND country IS NOT NULL
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 10
