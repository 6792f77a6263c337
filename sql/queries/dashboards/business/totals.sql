-- Additive totals over the 5-minute windows that start in the range.
SELECT coalesce(sum(page_views), 0)    AS "Page views",
       coalesce(sum(registrations), 0) AS "Registrations",
       coalesce(sum(purchases), 0)     AS "Purchases",
       coalesce(sum(revenue_usd), 0)   AS "Revenue"
FROM analytics.window_aggregates
WHERE window_length = interval '5 minutes'
  AND $__timeFilter(window_start) AND ico_website_id IN ($project)
