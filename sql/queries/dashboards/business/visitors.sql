-- Sessions (a site session id split at 30 minutes of inactivity) that started in the range.
-- From the rollup of whole days and hours, and the sessions of the partial hours at the ends.
SELECT coalesce(sum(sessions), 0) AS "Sessions"
FROM analytics.sessions_rollup_between($__timeFrom()::timestamptz, $__timeTo()::timestamptz)
WHERE ico_website_id IN ($project)
