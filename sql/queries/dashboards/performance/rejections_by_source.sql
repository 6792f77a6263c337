-- Records refused per minute of arrival, by the topic they came from.
SELECT date_bin('1 minute', received_at, timestamptz '2000-01-01') AS "time",
       source_topic AS metric, count(*) AS value
FROM raw_data.dead_letters
WHERE $__timeFilter(received_at)
GROUP BY 1, 2
ORDER BY 1, 2
