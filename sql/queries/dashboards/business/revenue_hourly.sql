-- Purchases and their revenue per hour over the selected projects.
SELECT window_start AS "time",
       sum(revenue_usd) AS "Revenue",
       sum(purchases)   AS "Purchases"
FROM analytics.window_aggregates
WHERE window_length = interval '1 hour'
  AND $__timeFilter(window_start) AND ico_website_id IN ($project)
GROUP BY 1
ORDER BY 1
