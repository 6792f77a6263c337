-- How far the sessions started in the range went down the token-sale funnel.
WITH reached AS (
    SELECT count(*) AS visited,
           count(*) FILTER (WHERE registered) AS registered,
           count(*) FILTER (WHERE wallet_connected) AS wallet_connected,
           count(*) FILTER (WHERE purchased) AS purchased
    FROM analytics.sessions
    WHERE $__timeFilter(started_at) AND ico_website_id IN ($project)
)
SELECT stage AS "Stage", sessions AS "Sessions"
FROM reached, LATERAL (VALUES
    (1, 'Visited', visited),
    (2, 'Registered', registered),
    (3, 'Connected a wallet', wallet_connected),
    (4, 'Bought tokens', purchased)
) AS funnel (step, stage, sessions)
ORDER BY step
