-- Sessions, registrations and revenue per country in the range, against the period of the same
-- length just before it (shift in percent). A session, and the revenue of its purchases, count
-- where and when it started (the country of its first page event); a registration where and
-- when it happened.
WITH period AS (
    SELECT $__timeFrom()::timestamptz AS t0, $__timeTo()::timestamptz AS t1,
           $__timeFrom()::timestamptz - ($__timeTo()::timestamptz - $__timeFrom()::timestamptz) AS p0
), sessions AS (
    SELECT s.country, s.region,
           count(*) FILTER (WHERE s.session_start >= p.t0) AS cur,
           count(*) FILTER (WHERE s.session_start < p.t0) AS prev,
           coalesce(sum(s.revenue_usd) FILTER (WHERE s.session_start >= p.t0), 0) AS revenue,
           coalesce(sum(s.revenue_usd) FILTER (WHERE s.session_start < p.t0), 0) AS revenue_before
    FROM analytics.sessions s, period p
    WHERE s.session_start >= p.p0 AND s.session_start <= p.t1 AND s.ico_website_id IN ($project)
      AND s.country IS NOT NULL
    GROUP BY s.country, s.region
), signups AS (
    SELECT r.country, r.region, count(*) FILTER (WHERE r."timestamp" >= p.t0) AS cur,
           count(*) FILTER (WHERE r."timestamp" < p.t0) AS prev
    FROM raw_data.user_registrations r, period p
    WHERE r."timestamp" >= p.p0 AND r."timestamp" <= p.t1 AND r.ico_website_id IN ($project)
    GROUP BY country, region
)
SELECT country AS "Country", region AS "Region",
       coalesce(s.cur, 0) AS "Sessions",
       100.0 * (coalesce(s.cur, 0) - s.prev) / nullif(s.prev, 0) AS "Sessions shift",
       coalesce(g.cur, 0) AS "Registrations",
       100.0 * (coalesce(g.cur, 0) - g.prev) / nullif(g.prev, 0) AS "Registrations shift",
       coalesce(s.revenue, 0) AS "Revenue",
       100.0 * (coalesce(s.revenue, 0) - s.revenue_before) / nullif(s.revenue_before, 0)
           AS "Revenue shift"
FROM sessions s
FULL JOIN signups g USING (country, region)
ORDER BY "Sessions" DESC, country, region
