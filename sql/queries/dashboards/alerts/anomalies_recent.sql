-- Verdicts of the lookback flagged as anomalous (a project's traffic, sign-ups, revenue,
-- conversion rate or country mix far from its last hour, or its 24-hour revenue below 80% of
-- its baseline), by the end of what they judged: a 24-hour verdict ends at its hour.
SELECT count(*) AS anomalies
FROM analytics.anomalies
WHERE is_anomaly AND $__timeFilter(window_end)
