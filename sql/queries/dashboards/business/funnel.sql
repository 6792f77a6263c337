-- Sessions started in the range reaching each step of the token-sale funnel within the
-- session: visit, registration, wallet connection, purchase (presale or sale), with each
-- step's conversion rate from the step before and from the visit.
WITH reached AS (
    -- From the rollup of whole days and hours, and the sessions of the partial hours at the ends.
    SELECT coalesce(sum(sessions), 0) AS visited,
           coalesce(sum(signed_up), 0) AS registered,
           coalesce(sum(wallet_connected), 0) AS wallet,
           coalesce(sum(purchased), 0) AS bought
    FROM analytics.sessions_rollup_between($__timeFrom()::timestamptz, $__timeTo()::timestamptz)
    WHERE ico_website_id IN ($project)
), steps AS (
    SELECT v.step, v.stage, v.sessions
    FROM reached r
    CROSS JOIN LATERAL (VALUES
        (1, 'Visited', r.visited),
        (2, 'Registered', r.registered),
        (3, 'Connected a wallet', r.wallet),
        (4, 'Bought tokens', r.bought)
    ) AS v (step, stage, sessions)
)
SELECT stage AS "Stage", sessions AS "Sessions",
       100.0 * sessions / nullif(lag(sessions) OVER (ORDER BY step), 0) AS "Of previous step",
       100.0 * sessions / nullif(first_value(sessions) OVER (ORDER BY step), 0) AS "Of visitors"
FROM steps ORDER BY step
