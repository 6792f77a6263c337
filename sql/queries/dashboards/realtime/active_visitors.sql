-- Sessions with a clickstream event in the last 5 and 30 minutes before the range's end
-- ("now" on a live dashboard).
SELECT count(DISTINCT session_id) FILTER (
           WHERE "timestamp" > $__timeTo()::timestamptz - interval '5 minutes'
       ) AS "Last 5 minutes",
       count(DISTINCT session_id) AS "Last 30 minutes"
FROM raw_data.clickstream_events
WHERE "timestamp" > $__timeTo()::timestamptz - interval '30 minutes'
  AND "timestamp" <= $__timeTo()::timestamptz AND ico_website_id IN ($project)
