-- Distinct sessions with at least one clickstream event in the range.
SELECT count(DISTINCT session_id) AS "Visitors"
FROM raw_data.clickstream_events
WHERE $__timeFilter("timestamp") AND ico_website_id IN ($project)
