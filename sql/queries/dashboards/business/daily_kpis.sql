-- Per UTC day touching the range, over the selected projects, whole days from the
-- materialized analytics.daily_project_kpis: as fresh as its last refresh by `maintain`.
SELECT day AS "Day",
       sum(sessions) AS "Sessions",
       100.0 * sum(bounces) / nullif(sum(sessions), 0) AS "Bounce rate",
       sum(page_views) AS "Page views",
       sum(registrations) AS "Registrations",
       sum(purchases) AS "Purchases",
       sum(revenue_usd) AS "Revenue",
       100.0 * sum(purchased_sessions) / nullif(sum(sessions), 0) AS "Buyer conversion"
FROM analytics.daily_project_kpis
WHERE day >= ($__timeFrom()::timestamptz AT TIME ZONE 'UTC')::date
  AND day <= ($__timeTo()::timestamptz AT TIME ZONE 'UTC')::date
  AND ico_website_id IN ($project)
GROUP BY day
ORDER BY day DESC
