-- The highest 95th-percentile page load time of any project's 5-minute window in the lookback.
SELECT coalesce(max(p95_page_load_time), 0) AS worst_p95_page_load
FROM analytics.window_aggregates
WHERE window_length = interval '5 minutes' AND $__timeFilter(window_start)
