-- Sessions, registrations and revenue per region in the range, against the period of the same
-- length just before it (shift in percent). A session, and the revenue of its purchases, count
-- where and when it started (the region of its first page event); a registration where and
-- when it happened.
WITH sessions AS (
    -- The rollup of whole days and hours, and the sessions of the partial hours at the ends,
    -- over both periods and over the range: the period before is their difference.
    SELECT s.region,
           sum(s.sessions) FILTER (WHERE s.cur) AS cur,
           sum(s.sessions) FILTER (WHERE NOT s.cur)
               - coalesce(sum(s.sessions) FILTER (WHERE s.cur), 0) AS prev,
           coalesce(sum(s.revenue_usd) FILTER (WHERE s.cur), 0) AS revenue,
           sum(s.revenue_usd) FILTER (WHERE NOT s.cur)
               - coalesce(sum(s.revenue_usd) FILTER (WHERE s.cur), 0) AS revenue_before
    FROM (
        SELECT *, false AS cur FROM analytics.sessions_geo_rollup_between(
            $__timeFrom()::timestamptz - ($__timeTo()::timestamptz - $__timeFrom()::timestamptz),
            $__timeTo()::timestamptz)
        UNION ALL
        SELECT *, true FROM analytics.sessions_geo_rollup_between(
            $__timeFrom()::timestamptz, $__timeTo()::timestamptz)
    ) s
    WHERE s.ico_website_id IN ($project) AND s.region IS NOT NULL
    GROUP BY s.region
), signups AS (
    -- The same, of the registrations.
    SELECT r.region,
           coalesce(sum(r.registrations) FILTER (WHERE r.cur), 0) AS cur,
           sum(r.registrations) FILTER (WHERE NOT r.cur)
               - coalesce(sum(r.registrations) FILTER (WHERE r.cur), 0) AS prev
    FROM (
        SELECT *, false AS cur FROM analytics.registrations_geo_rollup_between(
            $__timeFrom()::timestamptz - ($__timeTo()::timestamptz - $__timeFrom()::timestamptz),
            $__timeTo()::timestamptz)
        UNION ALL
        SELECT *, true FROM analytics.registrations_geo_rollup_between(
            $__timeFrom()::timestamptz, $__timeTo()::timestamptz)
    ) r
    WHERE r.ico_website_id IN ($project)
    GROUP BY r.region
)
SELECT region AS "Region",
       coalesce(s.cur, 0) AS "Sessions",
       100.0 * (coalesce(s.cur, 0) - s.prev) / nullif(s.prev, 0) AS "Sessions shift",
       coalesce(g.cur, 0) AS "Registrations",
       100.0 * (coalesce(g.cur, 0) - g.prev) / nullif(g.prev, 0) AS "Registrations shift",
       coalesce(s.revenue, 0) AS "Revenue",
       100.0 * (coalesce(s.revenue, 0) - s.revenue_before) / nullif(s.revenue_before, 0)
           AS "Revenue shift"
FROM sessions s
FULL JOIN signups g USING (region)
ORDER BY "Sessions" DESC, region
