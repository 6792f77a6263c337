-- Records refused per minute of arrival, averaged over each of Grafana's intervals (whole
-- minutes), by the topic they came from. The arrival time and topic are both in the
-- received_at index (migration 0025): an index-only scan, not a visit to every dead letter.
SELECT date_bin(make_interval(mins => greatest(1, $__interval_ms / 60000)), received_at,
                timestamptz '2000-01-01') AS "time",
       source_topic AS metric, count(*)::numeric / greatest(1, $__interval_ms / 60000) AS value
FROM raw_data.dead_letters
WHERE $__timeFilter(received_at)
GROUP BY 1, 2
ORDER BY 1, 2
