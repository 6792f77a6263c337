-- Per selected project and UTC sign-up day touching the range (analytics.user_conversion, as of
-- its last refresh with the daily KPIs, migration 0021): the
-- users who signed up, the share whose first purchase (presale or sale) came within 1 and
-- within 7 days of signing up, and the median and p90 hours to it (of those within 7 days).
-- A day less than 7 days old is still filling (its users may still buy within their 7 days):
-- "Window" says "open" so that its figures do not pass for final ones.
SELECT c.day AS "Sign-up day",
       w.name AS "Project",
       c.signed_up_users AS "Signed up",
       100.0 * c.purchased_within_1d / c.signed_up_users AS "Bought within 1 day",
       100 * c.purchase_rate_7d AS "Bought within 7 days",
       c.median_hours_to_purchase AS "Median hours",
       c.p90_hours_to_purchase AS "p90 hours",
       CASE WHEN c.open_window THEN 'open' ELSE 'closed' END AS "Window"
FROM analytics.user_conversion c
JOIN processed_data.ico_websites w ON w.id = c.ico_website_id
WHERE c.day >= ($__timeFrom()::timestamptz AT TIME ZONE 'UTC')::date
  AND c.day <= ($__timeTo()::timestamptz AT TIME ZONE 'UTC')::date
  AND c.ico_website_id IN ($project)
ORDER BY c.day DESC, w.id
