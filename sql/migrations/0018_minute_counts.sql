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

-- Page load histograms: what the page-load-by-project/page-type/device panels read instead of
-- sorting every raw page view of the range (4.4–6.4 s for 7 days of 1,000 events/minute).
-- One row per period (a minute, and an hour summed from its minutes), project and dimension
-- value ('project' with value '', 'page_type', 'device'): the page views with a load time, those
-- over 3 s, and how many fell in each of 180 log-spaced buckets of load time, packed into one
-- numeric (bucket i's count is the 12 decimal digits at 10^(12 i)), so that sum(histogram)
-- adds whole histograms in one numeric addition, ~1 µs a row (unnesting an int[] of 180 costs
-- ~60 µs a row). Bucket 0 holds (0, 10 ms); bucket i >= 1 holds [10 ms * 1.05^(i-1),
-- 10 ms * 1.05^i), the last one up to the 60 s limit.
CREATE TABLE analytics.page_load_histograms (
    period_start    timestamptz NOT NULL,
    period          interval NOT NULL,    -- '1 minute' or '1 hour'
    ico_website_id  integer NOT NULL,
    dimension       text NOT NULL,        -- 'project', 'page_type' or 'device'
    value           text NOT NULL,        -- the page type or device; '' for 'project'
    views           integer NOT NULL,     -- page views with a page load time
    slow_views      integer NOT NULL,     -- of those, slower than 3 s
    histogram       numeric NOT NULL,
    PRIMARY KEY (period, dimension, period_start, ico_website_id, value)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON analytics.page_load_histograms TO ico_writer;

-- The bucket of a load time in seconds (see above).
CREATE FUNCTION analytics.page_load_bucket(seconds double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN seconds < 0.01 THEN 0
            ELSE least(179, floor(ln(seconds / 0.01) / ln(1.05))::integer + 1) END;

-- The first period boundary at or after a time (periods of '1 minute' or '1 hour' from
-- 2000-01-01 UTC, as date_bin counts them).
CREATE FUNCTION analytics.period_after(at timestamptz, period interval) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN date_bin(period, at - interval '1 microsecond', timestamptz '2000-01-01') + period;

-- A histogram holding one count in bucket i (sum them to count many).
CREATE FUNCTION analytics.page_load_unit(bucket integer) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ('1' || repeat('0', 12 * bucket))::numeric;

-- The q-quantile of a histogram, as percentile_cont computes it from the values (interpolating
-- between the two values around rank q * (n - 1)), each value estimated by the geometric middle
-- of its bucket: within sqrt(1.05) - 1 = 2.47 % of the exact percentile (and within 5 ms under
-- 10 ms). NULL for an empty histogram.
CREATE FUNCTION analytics.page_load_percentile(histogram numeric, q double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH counts AS (
        SELECT i, substr(lpad(histogram::text, 2160, '0'), 2160 - 12 * i - 11, 12)::bigint AS n
        FROM generate_series(0, 179) AS i
    ), upto AS (
        -- values in buckets 0..i
        SELECT i, sum(n) OVER (ORDER BY i) AS upto FROM counts
    ), rank AS (
        SELECT q * (max(upto) - 1) AS k FROM upto HAVING max(upto) > 0
    ), around AS (
        -- the buckets of the values of (0-based) ranks floor(k) and ceil(k)
        SELECT r.k,
               (SELECT min(i) FROM upto WHERE upto > floor(r.k)) AS lo,
               (SELECT min(i) FROM upto WHERE upto > ceil(r.k)) AS hi
        FROM rank r
    ), mids AS (
        SELECT k,
               CASE WHEN lo = 0 THEN 0.005 ELSE 0.01 * 1.05 ^ (lo - 0.5) END AS lo,
               CASE WHEN hi = 0 THEN 0.005 ELSE 0.01 * 1.05 ^ (hi - 0.5) END AS hi
        FROM around
    )
    SELECT lo + (hi - lo) * (k - floor(k)) FROM mids;
END;

-- The histograms of the page views in [time_from, time_to] by (project, value) of a
-- dimension, for the selected projects: the whole hours from the hour rows, the other whole
-- minutes from the minute rows, the partial minutes at the ends from the raw page views (two
-- short time ranges, read by the time index), so views and slow views are exact. Several rows
-- may share a (project, value): sum them.
CREATE FUNCTION analytics.page_load_histograms_in(
    time_from timestamptz, time_to timestamptz, dim text, projects integer[]
) RETURNS TABLE (
    ico_website_id integer, value text, views bigint, slow_views bigint, histogram numeric
)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT h.ico_website_id, h.value, h.views::bigint, h.slow_views::bigint, h.histogram
    FROM analytics.page_load_histograms h
    WHERE h.period = interval '1 hour' AND h.dimension = dim
      AND h.period_start >= analytics.period_after(time_from, interval '1 hour')
      AND h.period_start < date_bin('1 hour', time_to, timestamptz '2000-01-01')
      AND h.ico_website_id = ANY (projects)
    UNION ALL
    SELECT h.ico_website_id, h.value, h.views::bigint, h.slow_views::bigint, h.histogram
    FROM analytics.page_load_histograms h
    WHERE h.period = interval '1 minute' AND h.dimension = dim
      AND h.period_start >= analytics.period_after(time_from, interval '1 minute')
      AND h.period_start < date_bin('1 minute', time_to, timestamptz '2000-01-01')
      AND NOT (h.period_start >= analytics.period_after(time_from, interval '1 hour')
               AND h.period_start < date_bin('1 hour', time_to, timestamptz '2000-01-01'))
      AND h.ico_website_id = ANY (projects)
    UNION ALL
    SELECT c.ico_website_id,
           CASE dim WHEN 'page_type' THEN c.page_type WHEN 'device' THEN c.device_type
                    ELSE '' END,
           count(*), count(*) FILTER (WHERE c.page_load_time > 3),
           sum(analytics.page_load_unit(analytics.page_load_bucket(c.page_load_time)))
    FROM raw_data.clickstream_events c
    WHERE c.event_type = 'page_view' AND c.page_load_time IS NOT NULL
      AND ((c."timestamp" >= time_from
            AND c."timestamp" < analytics.period_after(time_from, interval '1 minute'))
           OR (c."timestamp" >= date_bin('1 minute', time_to, timestamptz '2000-01-01')
               AND c."timestamp" <= time_to))
      AND c."timestamp" BETWEEN time_from AND time_to
      AND c.ico_website_id = ANY (projects)
    GROUP BY 1, 2;
END;

-- The stored events in [time_from, time_to] per minute and project, for the selected projects:
-- the whole minutes from the minute counts, the partial minutes at the ends from the raw
-- events (two short time ranges, read by the time indexes), so every count is exact.
CREATE FUNCTION analytics.minute_counts_in(
    time_from timestamptz, time_to timestamptz, projects integer[]
) RETURNS TABLE (
    minute timestamptz, ico_website_id integer, clickstream bigint, registrations bigint,
    conversions bigint, timed_views bigint, slow_views bigint
)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH partial AS (
        SELECT e.ico_website_id, date_bin('1 minute', e."timestamp", timestamptz '2000-01-01')
                   AS minute,
               1 AS clickstream, 0 AS registrations, 0 AS conversions,
               (e.event_type = 'page_view' AND e.page_load_time IS NOT NULL)::integer AS timed,
               (e.event_type = 'page_view' AND e.page_load_time > 3)::integer AS slow,
               e."timestamp"
        FROM raw_data.clickstream_events e
        UNION ALL
        SELECT r.ico_website_id, date_bin('1 minute', r."timestamp", timestamptz '2000-01-01'),
               0, 1, 0, 0, 0, r."timestamp"
        FROM raw_data.user_registrations r
        UNION ALL
        SELECT v.ico_website_id, date_bin('1 minute', v."timestamp", timestamptz '2000-01-01'),
               0, 0, 1, 0, 0, v."timestamp"
        FROM raw_data.conversions v
    )
    SELECT c.minute, c.ico_website_id, c.clickstream::bigint, c.registrations::bigint,
           c.conversions::bigint, c.timed_views::bigint, c.slow_views::bigint
    FROM analytics.minute_counts c
    WHERE c.minute >= analytics.period_after(time_from, interval '1 minute')
      AND c.minute < date_bin('1 minute', time_to, timestamptz '2000-01-01')
      AND c.ico_website_id = ANY (projects)
    UNION ALL
    SELECT p.minute, p.ico_website_id, sum(p.clickstream), sum(p.registrations),
           sum(p.conversions), sum(p.timed), sum(p.slow)
    FROM partial p
    WHERE ((p."timestamp" >= time_from
            AND p."timestamp" < analytics.period_after(time_from, interval '1 minute'))
           OR (p."timestamp" >= date_bin('1 minute', time_to, timestamptz '2000-01-01')
               AND p."timestamp" <= time_to))
      AND p.ico_website_id = ANY (projects)
    GROUP BY 1, 2;
END;
