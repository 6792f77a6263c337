-- The minute counts summed per 5 minutes, so that a panel over a week reads ~40,000 rows
-- instead of ~200,000 (7 days of 20 projects' minutes). The events-per-second, stored-per-
-- minute and slow-pages panels group by Grafana's interval ($__interval_ms, 1 minute up to a
-- day, 10 minutes at 7 days on a 1,200-point panel); every interval of 5 minutes or more is a
-- whole number of 5-minute periods, all counted from 2000-01-01 as date_bin does.
--
-- The sessions refresher recomputes the periods of the minutes it recomputes, from their minute
-- rows, in the same transaction (dataflows/rollups.py): exact under replay like the minutes.
CREATE TABLE analytics.five_minute_counts (
    period_start     timestamptz NOT NULL,  -- date_bin('5 minutes', "timestamp", '2000-01-01')
    ico_website_id   integer NOT NULL,
    clickstream      integer NOT NULL,
    registrations    integer NOT NULL,
    conversions      integer NOT NULL,
    timed_views      integer NOT NULL,
    slow_views       integer NOT NULL,
    PRIMARY KEY (period_start, ico_website_id)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON analytics.five_minute_counts TO ico_writer;

-- A database migrated with data in it: the periods of the minutes already counted.
INSERT INTO analytics.five_minute_counts
SELECT date_bin('5 minutes', minute, timestamptz '2000-01-01'), ico_website_id,
       sum(clickstream), sum(registrations), sum(conversions), sum(timed_views), sum(slow_views)
FROM analytics.minute_counts
GROUP BY 1, 2;

-- The stored events in [time_from, time_to] of the selected projects, each row with the start
-- of its bucket (date_bin(bucket, …) from 2000-01-01; bucket a whole number of minutes): the
-- whole 5-minute periods from their rows when bucket is a multiple of 5 minutes (a period then
-- lies in one bucket), the other whole minutes from the minute rows, the partial minutes at
-- the ends from the raw events (two short time ranges, read by the time indexes), so every
-- count is exact. Several rows may share a (bucket_start, project): sum them.
CREATE FUNCTION analytics.event_counts_in(
    time_from timestamptz, time_to timestamptz, projects integer[], bucket interval
) RETURNS TABLE (
    bucket_start timestamptz, ico_website_id integer, clickstream integer,
    registrations integer, conversions integer, timed_views integer, slow_views integer
)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH partial AS (
        SELECT e.ico_website_id, 1 AS clickstream, 0 AS registrations, 0 AS conversions,
               (e.event_type = 'page_view' AND e.page_load_time IS NOT NULL)::integer AS timed,
               (e.event_type = 'page_view' AND e.page_load_time > 3)::integer AS slow,
               e."timestamp"
        FROM raw_data.clickstream_events e
        UNION ALL
        SELECT r.ico_website_id, 0, 1, 0, 0, 0, r."timestamp"
        FROM raw_data.user_registrations r
        UNION ALL
        SELECT v.ico_website_id, 0, 0, 1, 0, 0, v."timestamp"
        FROM raw_data.conversions v
    )
    SELECT date_bin(bucket, f.period_start, timestamptz '2000-01-01'), f.ico_website_id,
           f.clickstream, f.registrations, f.conversions, f.timed_views, f.slow_views
    FROM analytics.five_minute_counts f
    WHERE extract(epoch FROM bucket) % 300 = 0
      AND f.period_start >= analytics.period_after(time_from, interval '5 minutes')
      AND f.period_start < date_bin('5 minutes', time_to, timestamptz '2000-01-01')
      AND f.ico_website_id = ANY (projects)
    UNION ALL
    SELECT date_bin(bucket, c.minute, timestamptz '2000-01-01'), c.ico_website_id,
           c.clickstream, c.registrations, c.conversions, c.timed_views, c.slow_views
    FROM analytics.minute_counts c
    WHERE c.minute >= analytics.period_after(time_from, interval '1 minute')
      AND c.minute < date_bin('1 minute', time_to, timestamptz '2000-01-01')
      AND NOT (extract(epoch FROM bucket) % 300 = 0
               AND c.minute >= analytics.period_after(time_from, interval '5 minutes')
               AND c.minute < date_bin('5 minutes', time_to, timestamptz '2000-01-01'))
      AND c.ico_website_id = ANY (projects)
    UNION ALL
    SELECT date_bin(bucket, p."timestamp", timestamptz '2000-01-01'), p.ico_website_id,
           sum(p.clickstream)::integer, sum(p.registrations)::integer,
           sum(p.conversions)::integer, sum(p.timed)::integer, sum(p.slow)::integer
    FROM partial p
    WHERE ((p."timestamp" >= time_from
            AND p."timestamp" < analytics.period_after(time_from, interval '1 minute'))
           OR (p."timestamp" >= date_bin('1 minute', time_to, timestamptz '2000-01-01')
               AND p."timestamp" <= time_to))
      AND p.ico_website_id = ANY (projects)
    GROUP BY 1, 2;
END;

-- Replaced by event_counts_in (its bucket of 1 minute gives the same rows).
DROP FUNCTION analytics.minute_counts_in(timestamptz, timestamptz, integer[]);

-- The rejections-by-source panel counts dead letters by arrival time and topic: with the topic
-- in the arrival-time index it reads the index alone (the rows carry the payloads). The index
-- serves every query the one it replaces did.
CREATE INDEX dead_letters_received_at_topic_idx ON raw_data.dead_letters (received_at)
    INCLUDE (source_topic);
DROP INDEX raw_data.dead_letters_received_at_idx;
