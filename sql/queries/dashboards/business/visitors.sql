-- Sessions (a site session id split at 30 minutes of inactivity) that started in the range.
SELECT count(*) AS "Sessions"
FROM analytics.sessions
WHERE $__timeFilter(session_start) AND ico_website_id IN ($project)
