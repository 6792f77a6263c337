-- Sessions, registrations and revenue per country in the range, against the period of the same
-- length just before it (shift in percent). A purchase counts where its session browsed from.
WITH period AS (
    SELECT $__timeFrom()::timestamptz AS t0, $__timeTo()::timestamptz AS t1,
           $__timeFrom()::timestamptz - ($__timeTo()::timestamptz - $__timeFrom()::timestamptz) AS p0
), visits AS (
    SELECT c.session_id, c.country, c.region, c."timestamp" >= p.t0 AS now
    FROM raw_data.clickstream_events c, period p
    WHERE c."timestamp" >= p.p0 AND c."timestamp" <= p.t1 AND c.ico_website_id IN ($project)
), sessions AS (
    SELECT country, region, count(DISTINCT session_id) FILTER (WHERE now) AS cur,
           count(DISTINCT session_id) FILTER (WHERE NOT now) AS prev
    FROM visits GROUP BY country, region
), signups AS (
    SELECT r.country, r.region, count(*) FILTER (WHERE r."timestamp" >= p.t0) AS cur,
           count(*) FILTER (WHERE r."timestamp" < p.t0) AS prev
    FROM raw_data.user_registrations r, period p
    WHERE r."timestamp" >= p.p0 AND r."timestamp" <= p.t1 AND r.ico_website_id IN ($project)
    GROUP BY country, region
), origin AS (
    SELECT DISTINCT ON (session_id) session_id, country, region
    FROM visits ORDER BY session_id, country
), sales AS (
    SELECT country, region,
           coalesce(sum(c.amount_usd) FILTER (WHERE c."timestamp" >= p.t0), 0) AS cur,
           coalesce(sum(c.amount_usd) FILTER (WHERE c."timestamp" < p.t0), 0) AS prev
    FROM raw_data.conversions c
    JOIN origin o USING (session_id)
    CROSS JOIN period p
    WHERE c.conversion_type IN ('presale_participate', 'token_purchase')
      AND c."timestamp" >= p.p0 AND c."timestamp" <= p.t1 AND c.ico_website_id IN ($project)
    GROUP BY country, region
)
SELECT country AS "Country", region AS "Region",
       coalesce(s.cur, 0) AS "Sessions",
       100.0 * (coalesce(s.cur, 0) - s.prev) / nullif(s.prev, 0) AS "Sessions shift",
       coalesce(g.cur, 0) AS "Registrations",
       100.0 * (coalesce(g.cur, 0) - g.prev) / nullif(g.prev, 0) AS "Registrations shift",
       coalesce(r.cur, 0) AS "Revenue",
       100.0 * (coalesce(r.cur, 0) - r.prev) / nullif(r.prev, 0) AS "Revenue shift"
FROM sessions s
FULL JOIN signups g USING (country, region)
FULL JOIN sales r USING (country, region)
ORDER BY "Sessions" DESC, country, region
