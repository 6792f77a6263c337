-- Seconds since the newest stored clickstream event (event time), within the lookback.
SELECT extract(epoch FROM now() - max("timestamp")) AS seconds_since_last_event
FROM raw_data.clickstream_events
WHERE $__timeFilter("timestamp")
