-- Seconds since the newest stored clickstream event (event time), within the lookback. The
-- newest event is taken per project from the (project, time) index, not by scanning the range.
SELECT extract(epoch FROM now() - max(n.newest)) AS seconds_since_last_event
FROM processed_data.ico_websites w
CROSS JOIN LATERAL (
    SELECT max("timestamp") AS newest FROM raw_data.clickstream_events
    WHERE ico_website_id = w.id AND $__timeFilter("timestamp")
) n
