-- Sessions started in the range by the device of their first page event.
-- From the hourly rollup (and the sessions of the partial hours at the range's ends).
SELECT coalesce(device_type, 'unknown') AS "Device", sum(sessions) AS "Sessions"
FROM analytics.sessions_hourly_between($__timeFrom()::timestamptz, $__timeTo()::timestamptz)
WHERE ico_website_id IN ($project)
GROUP BY 1
ORDER BY 2 DESC, 1
