-- Stored events per minute of event time, by kind, over every project: the minute counts
-- (refreshed every 30 s) with the partial minutes at the range's ends counted from the raw
-- events, the same answer as counting the raw events of the range (migration 0018).
WITH minutes AS (
    SELECT minute AS t, sum(clickstream) AS c, sum(registrations) AS r, sum(conversions) AS v
    -- Every project as a lateral column, not an ARRAY(SELECT …) argument: a subquery among
    -- the arguments keeps PostgreSQL from inlining the function, which then materializes all
    -- its rows (200,000 at 7 days) before they are grouped (twice as slow).
    FROM (SELECT array_agg(id) AS ids FROM processed_data.ico_websites) p
    CROSS JOIN LATERAL analytics.minute_counts_in($__timeFrom(), $__timeTo(), p.ids)
    GROUP BY 1
)
SELECT m.t AS "time", k.metric, k.n AS value
FROM minutes m
CROSS JOIN LATERAL (VALUES ('Clickstream', m.c), ('Registrations', m.r), ('Conversions', m.v))
    AS k (metric, n)
WHERE k.n > 0
ORDER BY 1, 2
