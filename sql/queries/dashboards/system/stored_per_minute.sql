-- Stored events per minute of event time, by kind. The whole minutes of the range come from
-- the minute counts (refreshed every 30 s), the partial minutes at its ends from the raw
-- events: the same answer as counting the raw events of the range.
WITH counts AS (
    SELECT minute AS t, clickstream AS c, registrations AS r, conversions AS v
    FROM analytics.minute_counts
    WHERE minute >= analytics.period_after($__timeFrom(), '1 minute')
      AND minute < date_bin('1 minute', $__timeTo()::timestamptz, timestamptz '2000-01-01')
    UNION ALL
    SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01'), 1, 0, 0
    FROM raw_data.clickstream_events
    WHERE (("timestamp" >= $__timeFrom()
            AND "timestamp" < analytics.period_after($__timeFrom(), '1 minute'))
           OR ("timestamp" >= date_bin('1 minute', $__timeTo()::timestamptz,
                                       timestamptz '2000-01-01')
               AND "timestamp" <= $__timeTo()))
    UNION ALL
    SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01'), 0, 1, 0
    FROM raw_data.user_registrations
    WHERE (("timestamp" >= $__timeFrom()
            AND "timestamp" < analytics.period_after($__timeFrom(), '1 minute'))
           OR ("timestamp" >= date_bin('1 minute', $__timeTo()::timestamptz,
                                       timestamptz '2000-01-01')
               AND "timestamp" <= $__timeTo()))
    UNION ALL
    SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01'), 0, 0, 1
    FROM raw_data.conversions
    WHERE (("timestamp" >= $__timeFrom()
            AND "timestamp" < analytics.period_after($__timeFrom(), '1 minute'))
           OR ("timestamp" >= date_bin('1 minute', $__timeTo()::timestamptz,
                                       timestamptz '2000-01-01')
               AND "timestamp" <= $__timeTo()))
), minutes AS (
    SELECT t, sum(c) AS c, sum(r) AS r, sum(v) AS v FROM counts GROUP BY t
)
SELECT m.t AS "time", k.metric, k.n AS value
FROM minutes m
CROSS JOIN LATERAL (VALUES ('Clickstream', m.c), ('Registrations', m.r), ('Conversions', m.v))
    AS k (metric, n)
WHERE k.n > 0
ORDER BY 1, 2
