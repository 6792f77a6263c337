-- Share of the sessions started in the range that bought tokens (presale or sale).
SELECT 100.0 * count(*) FILTER (WHERE purchased) / nullif(count(*), 0) AS "Buyer conversion"
FROM analytics.sessions
WHERE $__timeFilter(session_start) AND ico_website_id IN ($project)
