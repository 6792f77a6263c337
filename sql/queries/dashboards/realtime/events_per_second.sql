-- Stored events per second by kind, averaged over each of Grafana's intervals (whole minutes)
-- of event time: the 5-minute and minute counts (refreshed every 30 s) with the partial
-- minutes at the range's ends counted from the raw events, the same answer as counting the raw
-- events of the range (migrations 0018, 0025). The interval is written out, not taken from a
-- subquery, so that the planner folds it and reads only the rows it needs.
WITH buckets AS (
    SELECT bucket_start AS t, sum(clickstream) AS c, sum(registrations) AS r,
           sum(conversions) AS v
    FROM analytics.event_counts_in(
        $__timeFrom(), $__timeTo(), ARRAY[$project]::integer[],
        make_interval(mins => greatest(1, $__interval_ms / 60000))
    )
    GROUP BY 1
)
SELECT b.t AS "time", k.metric, k.n / (60.0 * greatest(1, $__interval_ms / 60000)) AS value
FROM buckets b
CROSS JOIN LATERAL (VALUES ('Clickstream', b.c), ('Registrations', b.r), ('Conversions', b.v))
    AS k (metric, n)
WHERE k.n > 0
ORDER BY 1, 2
