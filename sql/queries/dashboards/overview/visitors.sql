-- Sessions that started in the range.
SELECT count(*) AS "Visitors"
FROM analytics.sessions
WHERE $__timeFilter(started_at) AND ico_website_id IN ($project)
