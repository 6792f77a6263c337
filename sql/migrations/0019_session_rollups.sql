-- Rollups of the sessions by hour and by UTC day, for the dashboard panels that count sessions
-- by project, device, traffic source or place: a 7-day panel reads a few thousand rows instead
-- of two million sessions (and the geography panels' registrations instead of hundreds of
-- thousands of raw rows).
--
-- Each table holds rows of two spans: span = '1 hour' (span_start a whole UTC hour) and
-- span = '1 day' (a UTC midnight), each the sessions that started in it (the registrations
-- made in it); spans are date_bin(span, t, '2000-01-01 UTC'), whatever the TimeZone. The
-- sessions refresher (dataflows/sessions.py) keeps them exact: in the transaction that deletes
-- and recomputes sessions, it recomputes the hour rows of every (project, hour) whose sessions
-- or registrations it touched, then the day rows of their days from the hour rows
-- (sql/queries/sessions/rollup.sql). Nothing else writes analytics.sessions but `maintain`'s
-- retention, which deletes whole days of both.
--
-- The panels read them through the functions below, which give exact answers for any range:
-- whole days and whole hours from the rollup, the minutes at either end from the exact tables.

-- By device and traffic source, with the funnel: the sessions, leaderboard, buyer conversion,
-- funnel, devices and traffic sources panels.
CREATE TABLE analytics.sessions_rollup (
    ico_website_id    integer NOT NULL,
    span              interval NOT NULL,     -- '1 hour' or '1 day'
    span_start        timestamptz NOT NULL,
    device_type       text,
    traffic_source    text,
    sessions          integer NOT NULL,
    bounces           integer NOT NULL,
    page_views        integer NOT NULL,
    signed_up         integer NOT NULL,      -- sessions that signed up
    wallet_connected  integer NOT NULL,      -- sessions that connected a wallet
    purchased         integer NOT NULL,      -- sessions that bought tokens
    purchases         integer NOT NULL,
    revenue_usd       numeric(16, 2) NOT NULL
);
CREATE INDEX sessions_rollup_key_idx ON analytics.sessions_rollup (ico_website_id, span, span_start);

-- By place of the session's first page event: the geography panels.
CREATE TABLE analytics.sessions_geo_rollup (
    ico_website_id  integer NOT NULL,
    span            interval NOT NULL,
    span_start      timestamptz NOT NULL,
    country         char(2),
    region          text,
    sessions        integer NOT NULL,
    revenue_usd     numeric(16, 2) NOT NULL
);
CREATE INDEX sessions_geo_rollup_key_idx
    ON analytics.sessions_geo_rollup (ico_website_id, span, span_start);

-- Registrations by the place and time they happened: the geography panels.
CREATE TABLE analytics.registrations_geo_rollup (
    ico_website_id  integer NOT NULL,
    span            interval NOT NULL,
    span_start      timestamptz NOT NULL,
    country         char(2) NOT NULL,
    region          text NOT NULL,
    registrations   integer NOT NULL
);
CREATE INDEX registrations_geo_rollup_key_idx
    ON analytics.registrations_geo_rollup (ico_website_id, span, span_start);

-- The refresher runs as the dataflow's role; the dashboards read (the default privileges of
-- 0003 grant it already; said here for whoever reads the grants).
GRANT SELECT, INSERT, DELETE
    ON analytics.sessions_rollup, analytics.sessions_geo_rollup, analytics.registrations_geo_rollup
    TO ico_writer;
GRANT SELECT
    ON analytics.sessions_rollup, analytics.sessions_geo_rollup, analytics.registrations_geo_rollup
    TO grafana_reader;

-- The rows of the sessions started in [t_from, t_to] (both included, as Grafana's
-- $__timeFilter), shaped as analytics.sessions_rollup: the whole UTC days inside the range
-- [df, dt), the whole hours [hf, ht) outside those days, and one row per session of the
-- partial hours at the ends, [t_from, hf) and [max(ht, hf), t_to] (at most two hours of
-- sessions, through sessions_project_start_idx). hf and df are the first hour and day starting
-- at or after t_from, ht and dt the hour and day holding t_to; without a whole day, the hours
-- are [hf, ht) in the first part. A plain SQL function, so the planner inlines it: the bounds
-- are constants for the index scans and the callers' filter on the project goes into each part.
CREATE FUNCTION analytics.sessions_rollup_between(t_from timestamptz, t_to timestamptz)
RETURNS SETOF analytics.sessions_rollup
LANGUAGE sql STABLE
AS $$
    -- whole days
    SELECT r.* FROM analytics.sessions_rollup r
    WHERE r.span = interval '1 day'
      AND r.span_start >= t_from AND r.span_start <= t_to - interval '1 day'
    UNION ALL
    -- whole hours before the first whole day (all whole hours when there is none)
    SELECT r.* FROM analytics.sessions_rollup r
    WHERE r.span = interval '1 hour'
      AND r.span_start >= date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour'
      AND r.span_start < least(date_bin('1 hour', t_to, timestamptz '2000-01-01 00:00+00'),
                               date_bin('1 day', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 day')
    UNION ALL
    -- whole hours after the last whole day
    SELECT r.* FROM analytics.sessions_rollup r
    WHERE r.span = interval '1 hour'
      AND r.span_start >= greatest(date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour',
                                   date_bin('1 day', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 day',
                                   date_bin('1 day', t_to, timestamptz '2000-01-01 00:00+00'))
      AND r.span_start < date_bin('1 hour', t_to, timestamptz '2000-01-01 00:00+00')
    UNION ALL
    -- the partial hour at the start (all of the range when it lies within one hour)
    SELECT s.ico_website_id, interval '0', s.session_start, s.device_type, s.traffic_source,
           1, s.bounce::integer, s.page_views, s.signed_up::integer,
           s.wallet_connected::integer, s.purchased::integer, s.purchases, s.revenue_usd
    FROM analytics.sessions s
    WHERE s.session_start >= t_from AND s.session_start <= t_to
      AND s.session_start < date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour'
    UNION ALL
    -- the partial hour at the end
    SELECT s.ico_website_id, interval '0', s.session_start, s.device_type, s.traffic_source,
           1, s.bounce::integer, s.page_views, s.signed_up::integer,
           s.wallet_connected::integer, s.purchased::integer, s.purchases, s.revenue_usd
    FROM analytics.sessions s
    WHERE s.session_start >= greatest(date_bin('1 hour', t_to, timestamptz '2000-01-01 00:00+00'), date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour')
      AND s.session_start <= t_to
$$;

-- The same for analytics.sessions_geo_rollup (a session's row has span 0).
CREATE FUNCTION analytics.sessions_geo_rollup_between(t_from timestamptz, t_to timestamptz)
RETURNS SETOF analytics.sessions_geo_rollup
LANGUAGE sql STABLE
AS $$
    -- whole days
    SELECT r.* FROM analytics.sessions_geo_rollup r
    WHERE r.span = interval '1 day'
      AND r.span_start >= t_from AND r.span_start <= t_to - interval '1 day'
    UNION ALL
    -- whole hours before the first whole day (all whole hours when there is none)
    SELECT r.* FROM analytics.sessions_geo_rollup r
    WHERE r.span = interval '1 hour'
      AND r.span_start >= date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour'
      AND r.span_start < least(date_bin('1 hour', t_to, timestamptz '2000-01-01 00:00+00'),
                               date_bin('1 day', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 day')
    UNION ALL
    -- whole hours after the last whole day
    SELECT r.* FROM analytics.sessions_geo_rollup r
    WHERE r.span = interval '1 hour'
      AND r.span_start >= greatest(date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour',
                                   date_bin('1 day', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 day',
                                   date_bin('1 day', t_to, timestamptz '2000-01-01 00:00+00'))
      AND r.span_start < date_bin('1 hour', t_to, timestamptz '2000-01-01 00:00+00')
    UNION ALL
    -- the partial hour at the start (all of the range when it lies within one hour)
    SELECT s.ico_website_id, interval '0', s.session_start, s.country, s.region, 1, s.revenue_usd
    FROM analytics.sessions s
    WHERE s.session_start >= t_from AND s.session_start <= t_to
      AND s.session_start < date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour'
    UNION ALL
    -- the partial hour at the end
    SELECT s.ico_website_id, interval '0', s.session_start, s.country, s.region, 1, s.revenue_usd
    FROM analytics.sessions s
    WHERE s.session_start >= greatest(date_bin('1 hour', t_to, timestamptz '2000-01-01 00:00+00'), date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour')
      AND s.session_start <= t_to
$$;

-- The same for analytics.registrations_geo_rollup, the ends from raw_data.user_registrations.
CREATE FUNCTION analytics.registrations_geo_rollup_between(t_from timestamptz, t_to timestamptz)
RETURNS SETOF analytics.registrations_geo_rollup
LANGUAGE sql STABLE
AS $$
    -- whole days
    SELECT r.* FROM analytics.registrations_geo_rollup r
    WHERE r.span = interval '1 day'
      AND r.span_start >= t_from AND r.span_start <= t_to - interval '1 day'
    UNION ALL
    -- whole hours before the first whole day (all whole hours when there is none)
    SELECT r.* FROM analytics.registrations_geo_rollup r
    WHERE r.span = interval '1 hour'
      AND r.span_start >= date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour'
      AND r.span_start < least(date_bin('1 hour', t_to, timestamptz '2000-01-01 00:00+00'),
                               date_bin('1 day', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 day')
    UNION ALL
    -- whole hours after the last whole day
    SELECT r.* FROM analytics.registrations_geo_rollup r
    WHERE r.span = interval '1 hour'
      AND r.span_start >= greatest(date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour',
                                   date_bin('1 day', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 day',
                                   date_bin('1 day', t_to, timestamptz '2000-01-01 00:00+00'))
      AND r.span_start < date_bin('1 hour', t_to, timestamptz '2000-01-01 00:00+00')
    UNION ALL
    -- the partial hour at the start (all of the range when it lies within one hour)
    SELECT r.ico_website_id, interval '0', r."timestamp", r.country, r.region, 1
    FROM raw_data.user_registrations r
    WHERE r."timestamp" >= t_from AND r."timestamp" <= t_to
      AND r."timestamp" < date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour'
    UNION ALL
    -- the partial hour at the end
    SELECT r.ico_website_id, interval '0', r."timestamp", r.country, r.region, 1
    FROM raw_data.user_registrations r
    WHERE r."timestamp" >= greatest(date_bin('1 hour', t_to, timestamptz '2000-01-01 00:00+00'), date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour')
      AND r."timestamp" <= t_to
$$;

-- The sessions and registrations stored so far: their hours, then their days.
INSERT INTO analytics.sessions_rollup
SELECT ico_website_id, interval '1 hour', date_bin('1 hour', session_start, timestamptz '2000-01-01 00:00+00'),
       device_type, traffic_source, count(*), count(*) FILTER (WHERE bounce), sum(page_views),
       count(*) FILTER (WHERE signed_up), count(*) FILTER (WHERE wallet_connected),
       count(*) FILTER (WHERE purchased), sum(purchases), sum(revenue_usd)
FROM analytics.sessions
GROUP BY 1, 3, 4, 5;

INSERT INTO analytics.sessions_geo_rollup
SELECT ico_website_id, interval '1 hour', date_bin('1 hour', session_start, timestamptz '2000-01-01 00:00+00'),
       country, region, count(*), sum(revenue_usd)
FROM analytics.sessions
GROUP BY 1, 3, 4, 5;

INSERT INTO analytics.registrations_geo_rollup
SELECT ico_website_id, interval '1 hour', date_bin('1 hour', "timestamp", timestamptz '2000-01-01 00:00+00'),
       country, region, count(*)
FROM raw_data.user_registrations
GROUP BY 1, 3, 4, 5;

INSERT INTO analytics.sessions_rollup
SELECT ico_website_id, interval '1 day', date_bin('1 day', span_start, timestamptz '2000-01-01 00:00+00'),
       device_type, traffic_source, sum(sessions), sum(bounces), sum(page_views),
       sum(signed_up), sum(wallet_connected), sum(purchased), sum(purchases), sum(revenue_usd)
FROM analytics.sessions_rollup
GROUP BY 1, 3, 4, 5;

INSERT INTO analytics.sessions_geo_rollup
SELECT ico_website_id, interval '1 day', date_bin('1 day', span_start, timestamptz '2000-01-01 00:00+00'),
       country, region, sum(sessions), sum(revenue_usd)
FROM analytics.sessions_geo_rollup
GROUP BY 1, 3, 4, 5;

INSERT INTO analytics.registrations_geo_rollup
SELECT ico_website_id, interval '1 day', date_bin('1 day', span_start, timestamptz '2000-01-01 00:00+00'),
       country, region, sum(registrations)
FROM analytics.registrations_geo_rollup
GROUP BY 1, 3, 4, 5;
