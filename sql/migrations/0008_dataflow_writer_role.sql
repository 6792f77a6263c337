-- The dataflow's role: it merges rows into the tables it writes and reads them back only as the
-- merge needs (ON CONFLICT ... WHERE compares the stored row), and may do nothing else: no DDL,
-- no deletes, no reference data. Migrations and `maintain` run as the owner; the Helm chart logs
-- the dataflow in as a member of this role. Like grafana_reader, roles are cluster-wide, so it
-- may already exist.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ico_writer') THEN
        CREATE ROLE ico_writer NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA raw_data, analytics TO ico_writer;
-- Through the partitioned parents only, which is where the sink writes.
GRANT SELECT, INSERT, UPDATE
    ON raw_data.clickstream_events, raw_data.user_registrations, raw_data.conversions,
       raw_data.dead_letters, analytics.window_aggregates, analytics.anomalies
    TO ico_writer;
