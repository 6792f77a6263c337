-- Stored events per minute of event time, by kind.
SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01') AS "time",
       'Clickstream' AS metric, count(*) AS value
FROM raw_data.clickstream_events WHERE $__timeFilter("timestamp") GROUP BY 1
UNION ALL
SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01'), 'Registrations', count(*)
FROM raw_data.user_registrations WHERE $__timeFilter("timestamp") GROUP BY 1
UNION ALL
SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01'), 'Conversions', count(*)
FROM raw_data.conversions WHERE $__timeFilter("timestamp") GROUP BY 1
ORDER BY 1, 2
