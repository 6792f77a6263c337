-- Stored events per second, averaged over each minute of event time, by kind.
SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01') AS "time",
       'Clickstream' AS metric, count(*) / 60.0 AS value
FROM raw_data.clickstream_events
WHERE $__timeFilter("timestamp") AND ico_website_id IN ($project) GROUP BY 1
UNION ALL
SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01'), 'Registrations', count(*) / 60.0
FROM raw_data.user_registrations
WHERE $__timeFilter("timestamp") AND ico_website_id IN ($project) GROUP BY 1
UNION ALL
SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01'), 'Conversions', count(*) / 60.0
FROM raw_data.conversions
WHERE $__timeFilter("timestamp") AND ico_website_id IN ($project) GROUP BY 1
ORDER BY 1, 2
