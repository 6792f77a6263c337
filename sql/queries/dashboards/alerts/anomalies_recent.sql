-- Windows of the lookback flagged as anomalous (a project's traffic, registrations or revenue
-- far from its last hour).
SELECT count(*) AS anomalies
FROM analytics.anomalies
WHERE is_anomaly AND $__timeFilter(window_start)
