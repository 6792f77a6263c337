-- Hourly rollups of the sessions, for the dashboard panels that count sessions by project,
-- device, traffic source or place: a 7-day panel reads a few thousand rollup rows instead of
-- over a million sessions (and the geography panels' registrations a few thousand instead of
-- hundreds of thousands of raw rows).
--
-- An hour is date_bin('1 hour', t, '2000-01-01 UTC'): whole UTC hours, whatever the session's
-- TimeZone. A row holds the sessions that started in its hour (the registrations made in it).
-- The sessions refresher (dataflows/sessions.py) keeps them exact: in the transaction that
-- deletes and recomputes sessions, it recomputes the rows of every (project, hour) whose
-- sessions or registrations it touched (sql/queries/sessions/rollup.sql). Nothing else writes
-- analytics.sessions but `maintain`'s retention, which deletes whole UTC days of both.
--
-- The panels read them through the functions below, which give exact answers for any range:
-- the hours wholly inside it from the rollup, the minutes at either end from the exact tables.

-- By device and traffic source, with the funnel: sessions, leaderboard, buyer conversion,
-- funnel, devices and traffic sources panels.
CREATE TABLE analytics.sessions_hourly (
    ico_website_id    integer NOT NULL,
    hour              timestamptz NOT NULL,
    device_type       text,
    traffic_source    text,
    sessions          integer NOT NULL,
    bounces           integer NOT NULL,
    page_views        integer NOT NULL,
    signed_up         integer NOT NULL,  -- sessions that signed up
    wallet_connected  integer NOT NULL,  -- sessions that connected a wallet
    purchased         integer NOT NULL,  -- sessions that bought tokens
    purchases         integer NOT NULL,
    revenue_usd       numeric(16, 2) NOT NULL
);
CREATE INDEX sessions_hourly_project_hour_idx ON analytics.sessions_hourly (ico_website_id, hour);

-- By place of the session's first page event: the geography panels.
CREATE TABLE analytics.sessions_geo_hourly (
    ico_website_id  integer NOT NULL,
    hour            timestamptz NOT NULL,
    country         char(2),
    region          text,
    sessions        integer NOT NULL,
    revenue_usd     numeric(16, 2) NOT NULL
);
CREATE INDEX sessions_geo_hourly_project_hour_idx
    ON analytics.sessions_geo_hourly (ico_website_id, hour);

-- Registrations by place and hour they happened: the geography panels.
CREATE TABLE analytics.registrations_geo_hourly (
    ico_website_id  integer NOT NULL,
    hour            timestamptz NOT NULL,
    country         char(2) NOT NULL,
    region          text NOT NULL,
    registrations   integer NOT NULL
);
CREATE INDEX registrations_geo_hourly_project_hour_idx
    ON analytics.registrations_geo_hourly (ico_website_id, hour);

-- The refresher runs as the dataflow's role; the dashboards read (default privileges of 0003
-- already grant it, said again here).
GRANT SELECT, INSERT, DELETE
    ON analytics.sessions_hourly, analytics.sessions_geo_hourly, analytics.registrations_geo_hourly
    TO ico_writer;
GRANT SELECT
    ON analytics.sessions_hourly, analytics.sessions_geo_hourly, analytics.registrations_geo_hourly
    TO grafana_reader;

-- The rows of the sessions started in [t_from, t_to] (both included, as Grafana's
-- $__timeFilter), shaped as analytics.sessions_hourly: the stored hours wholly inside the
-- range, then one row per session of the partial hours at its ends (at most two hours of
-- sessions, read through sessions_project_start_idx). The whole hours are [hf, ht), hf the
-- first hour starting at or after t_from, ht the hour holding t_to; the ends are [t_from, hf)
-- and [max(ht, hf), t_to] (within one hour, the first end is the whole range). A plain SQL
-- function, so the planner inlines it: the bounds are constants for the index scans and the
-- callers' filter on the project is pushed into each part.
CREATE FUNCTION analytics.sessions_hourly_between(t_from timestamptz, t_to timestamptz)
RETURNS SETOF analytics.sessions_hourly
LANGUAGE sql STABLE
AS $$
    SELECT h.*
    FROM analytics.sessions_hourly h
    WHERE h.hour >= t_from AND h.hour <= t_to - interval '1 hour'
    UNION ALL
    SELECT s.ico_website_id, date_bin('1 hour', s.session_start, timestamptz '2000-01-01 00:00+00'),
           s.device_type, s.traffic_source, 1, s.bounce::integer, s.page_views,
           s.signed_up::integer, s.wallet_connected::integer, s.purchased::integer, s.purchases,
           s.revenue_usd
    FROM analytics.sessions s
    WHERE s.session_start >= t_from AND s.session_start <= t_to
      AND s.session_start < date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour'
    UNION ALL
    SELECT s.ico_website_id, date_bin('1 hour', s.session_start, timestamptz '2000-01-01 00:00+00'),
           s.device_type, s.traffic_source, 1, s.bounce::integer, s.page_views,
           s.signed_up::integer, s.wallet_connected::integer, s.purchased::integer, s.purchases,
           s.revenue_usd
    FROM analytics.sessions s
    WHERE s.session_start >= greatest(date_bin('1 hour', t_to, timestamptz '2000-01-01 00:00+00'), date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour')
      AND s.session_start <= t_to
$$;

-- The same for analytics.sessions_geo_hourly.
CREATE FUNCTION analytics.sessions_geo_hourly_between(t_from timestamptz, t_to timestamptz)
RETURNS SETOF analytics.sessions_geo_hourly
LANGUAGE sql STABLE
AS $$
    SELECT h.*
    FROM analytics.sessions_geo_hourly h
    WHERE h.hour >= t_from AND h.hour <= t_to - interval '1 hour'
    UNION ALL
    SELECT s.ico_website_id, date_bin('1 hour', s.session_start, timestamptz '2000-01-01 00:00+00'), s.country, s.region, 1, s.revenue_usd
    FROM analytics.sessions s
    WHERE s.session_start >= t_from AND s.session_start <= t_to
      AND s.session_start < date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour'
    UNION ALL
    SELECT s.ico_website_id, date_bin('1 hour', s.session_start, timestamptz '2000-01-01 00:00+00'), s.country, s.region, 1, s.revenue_usd
    FROM analytics.sessions s
    WHERE s.session_start >= greatest(date_bin('1 hour', t_to, timestamptz '2000-01-01 00:00+00'), date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour')
      AND s.session_start <= t_to
$$;

-- The same for analytics.registrations_geo_hourly, the ends from raw_data.user_registrations.
CREATE FUNCTION analytics.registrations_geo_hourly_between(t_from timestamptz, t_to timestamptz)
RETURNS SETOF analytics.registrations_geo_hourly
LANGUAGE sql STABLE
AS $$
    SELECT h.*
    FROM analytics.registrations_geo_hourly h
    WHERE h.hour >= t_from AND h.hour <= t_to - interval '1 hour'
    UNION ALL
    SELECT r.ico_website_id, date_bin('1 hour', r."timestamp", timestamptz '2000-01-01 00:00+00'), r.country, r.region,
           1
    FROM raw_data.user_registrations r
    WHERE r."timestamp" >= t_from AND r."timestamp" <= t_to
      AND r."timestamp" < date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour'
    UNION ALL
    SELECT r.ico_website_id, date_bin('1 hour', r."timestamp", timestamptz '2000-01-01 00:00+00'), r.country, r.region,
           1
    FROM raw_data.user_registrations r
    WHERE r."timestamp" >= greatest(date_bin('1 hour', t_to, timestamptz '2000-01-01 00:00+00'), date_bin('1 hour', t_from - interval '1 microsecond', timestamptz '2000-01-01 00:00+00') + interval '1 hour')
      AND r."timestamp" <= t_to
$$;

-- The sessions and registrations stored so far.
INSERT INTO analytics.sessions_hourly
SELECT ico_website_id, date_bin('1 hour', session_start, timestamptz '2000-01-01 00:00+00'),
       device_type, traffic_source, count(*), count(*) FILTER (WHERE bounce), sum(page_views),
       count(*) FILTER (WHERE signed_up), count(*) FILTER (WHERE wallet_connected),
       count(*) FILTER (WHERE purchased), sum(purchases), sum(revenue_usd)
FROM analytics.sessions
GROUP BY 1, 2, 3, 4;

INSERT INTO analytics.sessions_geo_hourly
SELECT ico_website_id, date_bin('1 hour', session_start, timestamptz '2000-01-01 00:00+00'),
       country, region, count(*), sum(revenue_usd)
FROM analytics.sessions
GROUP BY 1, 2, 3, 4;

INSERT INTO analytics.registrations_geo_hourly
SELECT ico_website_id, date_bin('1 hour', "timestamp", timestamptz '2000-01-01 00:00+00'),
       country, region, count(*)
FROM raw_data.user_registrations
GROUP BY 1, 2, 3, 4;
