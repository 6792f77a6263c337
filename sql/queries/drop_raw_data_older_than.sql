-- Retention of raw data: the daily partitions (and DEFAULT-partition rows) of UTC days before
-- today - %(days)s, the dead letters that arrived before then, the sessions that started
-- before then with their rollups, the minute and 5-minute counts and page load histograms of
-- before then (all derived from the raw events) and the leads registered before then (a lead
-- is a registration, emails included) with their rollup. Returns the partitions dropped and the
-- dead letters deleted.
WITH dead AS (
    DELETE FROM raw_data.dead_letters
    WHERE received_at < (now() AT TIME ZONE 'UTC')::date - %(days)s
    RETURNING 1
),
sessions AS (
    DELETE FROM analytics.sessions
    WHERE session_start < (now() AT TIME ZONE 'UTC')::date - %(days)s
),
minutes AS (
    DELETE FROM analytics.minute_counts
    WHERE minute < (now() AT TIME ZONE 'UTC')::date - %(days)s
),
five_minutes AS (
    DELETE FROM analytics.five_minute_counts
    WHERE period_start < (now() AT TIME ZONE 'UTC')::date - %(days)s
),
load_times AS (
    DELETE FROM analytics.page_load_histograms
    WHERE period_start < (now() AT TIME ZONE 'UTC')::date - %(days)s
),
sessions_rollup AS (
    DELETE FROM analytics.sessions_rollup
    WHERE span_start < (now() AT TIME ZONE 'UTC')::date - %(days)s
),
sessions_geo_rollup AS (
    DELETE FROM analytics.sessions_geo_rollup
    WHERE span_start < (now() AT TIME ZONE 'UTC')::date - %(days)s
),
registrations_geo_rollup AS (
    DELETE FROM analytics.registrations_geo_rollup
    WHERE span_start < (now() AT TIME ZONE 'UTC')::date - %(days)s
),
leads AS (
    DELETE FROM analytics.leads
    WHERE registered_at < (now() AT TIME ZONE 'UTC')::date - %(days)s
),
leads_rollup AS (
    DELETE FROM analytics.leads_rollup
    WHERE span_start < (now() AT TIME ZONE 'UTC')::date - %(days)s
)
SELECT raw_data.drop_partitions_older_than(%(days)s), (SELECT count(*) FROM dead)
