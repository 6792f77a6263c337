-- Sessions started in the range by the traffic source they arrived from (UTM tags and
-- referrer of their landing event, as the dataflow classifies them).
SELECT traffic_source AS "Source", count(*) AS "Sessions"
FROM analytics.sessions
WHERE $__timeFilter(started_at) AND ico_website_id IN ($project) AND traffic_source IS NOT NULL
GROUP BY 1
ORDER BY 2 DESC, 1
