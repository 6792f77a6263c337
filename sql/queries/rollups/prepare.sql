-- The refresher connection's working table: the minutes one refresh claimed.
CREATE TEMP TABLE IF NOT EXISTS minutes_refresh (
    minute  timestamptz PRIMARY KEY
) ON COMMIT DELETE ROWS
