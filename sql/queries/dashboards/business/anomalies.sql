-- Windows flagged as anomalous in the range, newest first: what was seen against the usual.
SELECT a.window_start AS "Window",
       w.name AS "Project",
       a.metric AS "Metric",
       a.direction AS "Direction",
       a.value AS "Value",
       a.baseline_mean AS "Usual",
       a.z_score AS "Score"
FROM analytics.anomalies a
JOIN processed_data.ico_websites w ON w.id = a.ico_website_id
WHERE a.is_anomaly AND $__timeFilter(a.window_start) AND a.ico_website_id IN ($project)
ORDER BY a.window_start DESC, w.name, a.metric
LIMIT 50
