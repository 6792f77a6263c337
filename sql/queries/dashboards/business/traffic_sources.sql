-- Sessions started in the range by the traffic source they arrived from (UTM tags and
-- referrer of their first page event, set by the dataflow).
SELECT coalesce(traffic_source, 'unknown') AS "Source", count(*) AS "Sessions"
FROM analytics.sessions
WHERE $__timeFilter(session_start) AND ico_website_id IN ($project)
GROUP BY 1
ORDER BY 2 DESC, 1
