-- Stored events per minute of event time by kind, over every project, averaged over each of
-- Grafana's intervals (whole minutes): the 5-minute and minute counts (refreshed every 30 s)
-- with the partial minutes at the range's ends counted from the raw events, the same answer as
-- counting the raw events of the range (migrations 0018, 0025). The interval is written out,
-- not taken from a subquery, so that the planner folds it and reads only the rows it needs.
WITH buckets AS (
    SELECT e.bucket_start AS t, sum(e.clickstream) AS c, sum(e.registrations) AS r,
           sum(e.conversions) AS v
    -- Every project as a lateral column, not an ARRAY(SELECT …) argument: a subquery among
    -- the arguments keeps PostgreSQL from inlining the function, which then materializes all
    -- its rows before they are grouped.
    FROM (SELECT array_agg(id) AS ids FROM processed_data.ico_websites) p
    CROSS JOIN LATERAL analytics.event_counts_in(
        $__timeFrom(), $__timeTo(), p.ids,
        make_interval(mins => greatest(1, $__interval_ms / 60000))
    ) e
    GROUP BY 1
)
SELECT b.t AS "time", k.metric, k.n::numeric / greatest(1, $__interval_ms / 60000) AS value
FROM buckets b
CROSS JOIN LATERAL (VALUES ('Clickstream', b.c), ('Registrations', b.r), ('Conversions', b.v))
    AS k (metric, n)
WHERE k.n > 0
ORDER BY 1, 2
