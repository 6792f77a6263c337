-- One row per selected project, best revenue first: sessions started in the range, and the
-- 5-minute windows starting in it for the rest; raise progress is the range's revenue against
-- the project's target raise.
WITH visits AS (
    -- From the rollup of whole days and hours, and the sessions of the partial hours at the ends.
    SELECT ico_website_id, sum(sessions) AS sessions
    FROM analytics.sessions_rollup_between($__timeFrom()::timestamptz, $__timeTo()::timestamptz)
    WHERE ico_website_id IN ($project)
    GROUP BY ico_website_id
), windows AS (
    SELECT ico_website_id,
           sum(registrations) AS registrations,
           sum(purchases) AS purchases,
           sum(revenue_usd) AS revenue,
           -- each window's mean weighted by its page views: the range's mean page load
           sum(avg_page_load_time * page_views)
               / nullif(sum(page_views) FILTER (WHERE avg_page_load_time IS NOT NULL), 0)
               AS avg_load
    FROM analytics.window_aggregates
    WHERE window_length = interval '5 minutes'
      AND $__timeFilter(window_start) AND ico_website_id IN ($project)
    GROUP BY ico_website_id
)
SELECT w.name AS "Project",
       w.token_symbol AS "Token",
       coalesce(v.sessions, 0) AS "Sessions",
       coalesce(a.registrations, 0) AS "Registrations",
       coalesce(a.purchases, 0) AS "Purchases",
       coalesce(a.revenue, 0) AS "Revenue",
       100 * coalesce(a.revenue, 0) / w.target_raise_usd AS "Raise progress",
       a.avg_load AS "Avg page load"
FROM processed_data.ico_websites w
LEFT JOIN visits v ON v.ico_website_id = w.id
LEFT JOIN windows a ON a.ico_website_id = w.id
WHERE w.id IN ($project)
ORDER BY "Revenue" DESC, w.id
