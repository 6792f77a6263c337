-- Sessions started in the range by the device of their first page event.
-- From the rollup of whole days and hours, and the sessions of the partial hours at the ends.
SELECT coalesce(device_type, 'unknown') AS "Device", sum(sessions) AS "Sessions"
FROM analytics.sessions_rollup_between($__timeFrom()::timestamptz, $__timeTo()::timestamptz)
WHERE ico_website_id IN ($project)
GROUP BY 1
ORDER BY 2 DESC, 1
