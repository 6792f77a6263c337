-- Stored events per project and minute of event time: what the events-per-second, stored-per-
-- minute and slow-pages panels read, so a 7-day range costs ~200,000 small rows instead of
-- ~10 M raw events (dataflows/rollups.py says how they stay exact).
--
-- The sink records which minutes each batch stored events of (minutes_touched, in the batch's
-- own transaction); the sessions refresher claims those minutes and recomputes their rows from
-- the raw tables, which are de-duplicated by primary key.
CREATE TABLE analytics.minutes_touched (
    batch_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    minutes   timestamptz[] NOT NULL
);

CREATE TABLE analytics.minute_counts (
    minute           timestamptz NOT NULL,  -- date_bin('1 minute', "timestamp", '2000-01-01')
    ico_website_id   integer NOT NULL,
    clickstream      integer NOT NULL,
    registrations    integer NOT NULL,
    conversions      integer NOT NULL,
    timed_views      integer NOT NULL,      -- page views with a page load time
    slow_views       integer NOT NULL,      -- of those, slower than 3 s
    PRIMARY KEY (minute, ico_website_id)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON analytics.minute_counts, analytics.minutes_touched
    TO ico_writer;
REVOKE SELECT ON analytics.minutes_touched FROM grafana_reader;

-- The minutes already stored get their rows (a database migrated with data in it).
INSERT INTO analytics.minutes_touched (minutes)
SELECT coalesce(array_agg(DISTINCT m), '{}')
FROM (
    SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01') AS m
    FROM raw_data.clickstream_events
    UNION
    SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01')
    FROM raw_data.user_registrations
    UNION
    SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01') FROM raw_data.conversions
) stored
HAVING count(*) > 0;
