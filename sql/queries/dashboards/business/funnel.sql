-- Sessions reaching each step of the token-sale funnel in the range: visit, registration,
-- wallet connection, purchase (presale or sale), with each step's conversion rate from the
-- step before and from the visit.
WITH steps AS (
    SELECT 1 AS step, 'Visited' AS stage, count(DISTINCT session_id) AS sessions
    FROM raw_data.clickstream_events
    WHERE $__timeFilter("timestamp") AND ico_website_id IN ($project)
    UNION ALL
    SELECT 2, 'Registered', count(DISTINCT session_id)
    FROM raw_data.user_registrations
    WHERE $__timeFilter("timestamp") AND ico_website_id IN ($project)
    UNION ALL
    SELECT 3, 'Connected a wallet', count(DISTINCT session_id)
    FROM raw_data.conversions
    WHERE conversion_type = 'wallet_connect'
      AND $__timeFilter("timestamp") AND ico_website_id IN ($project)
    UNION ALL
    SELECT 4, 'Bought tokens', count(DISTINCT session_id)
    FROM raw_data.conversions
    WHERE conversion_type IN ('presale_participate', 'token_purchase')
      AND $__timeFilter("timestamp") AND ico_website_id IN ($project)
)
SELECT stage AS "Stage", sessions AS "Sessions",
       100.0 * sessions / nullif(lag(sessions) OVER (ORDER BY step), 0) AS "Of previous step",
       100.0 * sessions / nullif(first_value(sessions) OVER (ORDER BY step), 0) AS "Of visitors"
FROM steps ORDER BY step
