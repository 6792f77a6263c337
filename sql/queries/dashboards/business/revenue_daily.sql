-- Revenue per day (UTC) over the selected projects, and what it is of their target raise.
SELECT date_bin('1 day', a.window_start, timestamptz '2000-01-01') AS "time",
       sum(a.revenue_usd) AS "Revenue",
       100 * sum(a.revenue_usd) / (
           SELECT sum(target_raise_usd) FROM processed_data.ico_websites WHERE id IN ($project)
       ) AS "Of target raise"
FROM analytics.window_aggregates a
WHERE a.window_length = interval '1 hour'
  AND $__timeFilter(a.window_start) AND a.ico_website_id IN ($project)
GROUP BY 1
ORDER BY 1
