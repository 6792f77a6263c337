-- One row per selected project, best revenue first; raise progress is the range's revenue
-- against the project's target raise.
WITH visits AS (
    SELECT ico_website_id, count(DISTINCT session_id) AS visitors,
           avg(page_load_time) FILTER (WHERE event_type = 'page_view') AS avg_load
    FROM raw_data.clickstream_events
    WHERE $__timeFilter("timestamp") AND ico_website_id IN ($project)
    GROUP BY ico_website_id
), signups AS (
    SELECT ico_website_id, count(*) AS registrations
    FROM raw_data.user_registrations
    WHERE $__timeFilter("timestamp") AND ico_website_id IN ($project)
    GROUP BY ico_website_id
), sales AS (
    SELECT ico_website_id, count(*) AS purchases, sum(amount_usd) AS revenue
    FROM raw_data.conversions
    WHERE conversion_type IN ('presale_participate', 'token_purchase')
      AND $__timeFilter("timestamp") AND ico_website_id IN ($project)
    GROUP BY ico_website_id
)
SELECT w.name AS "Project",
       w.token_symbol AS "Token",
       coalesce(v.visitors, 0) AS "Visitors",
       coalesce(s.registrations, 0) AS "Registrations",
       coalesce(p.purchases, 0) AS "Purchases",
       coalesce(p.revenue, 0) AS "Revenue",
       100 * coalesce(p.revenue, 0) / w.target_raise_usd AS "Raise progress",
       v.avg_load AS "Avg page load"
FROM processed_data.ico_websites w
LEFT JOIN visits v ON v.ico_website_id = w.id
LEFT JOIN signups s ON s.ico_website_id = w.id
LEFT JOIN sales p ON p.ico_website_id = w.id
WHERE w.id IN ($project)
ORDER BY "Revenue" DESC, w.id
