-- Share of the sessions started in the range that bought tokens (presale or sale).
-- From the rollup of whole days and hours, and the sessions of the partial hours at the ends.
SELECT 100.0 * sum(purchased) / nullif(sum(sessions), 0) AS "Buyer conversion"
FROM analytics.sessions_rollup_between($__timeFrom()::timestamptz, $__timeTo()::timestamptz)
WHERE ico_website_id IN ($project)
