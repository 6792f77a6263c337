-- Visiting sessions by traffic source (from UTM tags and referrer, set by the dataflow); a
-- session counts under each source it arrived from.
SELECT traffic_source AS "Source", count(DISTINCT session_id) AS "Sessions"
FROM raw_data.clickstream_events
WHERE $__timeFilter("timestamp") AND ico_website_id IN ($project)
GROUP BY 1
ORDER BY 2 DESC, 1
