-- Daily partitions and retention for the raw tables, dashboard indexes, the Grafana role.

-- Range-partitioned tables in raw_data keyed on "timestamp", with their DEFAULT partition
-- (NULL when none). The partition functions below work on whatever this returns, so a new
-- daily-partitioned raw table needs no change here.
CREATE FUNCTION raw_data.daily_partitioned_tables()
RETURNS TABLE (parent regclass, default_partition regclass, parent_name name)
LANGUAGE sql STABLE AS $$
    SELECT c.oid::regclass, NULLIF(p.partdefid, 0)::regclass, c.relname
    FROM pg_partitioned_table p
    JOIN pg_class c ON c.oid = p.partrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
    WHERE n.nspname = 'raw_data' AND p.partstrat = 'r' AND p.partnatts = 1
      AND a.attname = 'timestamp'
    ORDER BY c.relname
$$;

-- Creates raw_data.<table>_pYYYYMMDD for each UTC day in [from_day, to_day] that lacks one and
-- returns how many it created. Idempotent.
--
-- CREATE TABLE ... PARTITION OF fails when the DEFAULT partition already holds rows of that
-- day (late or early events), so every partition is built as a plain table, those rows are
-- moved into it and it is then attached, all in the caller's transaction. ATTACH also takes a
-- weaker lock on the parent than CREATE ... PARTITION OF, so the sink keeps writing meanwhile.
CREATE FUNCTION raw_data.ensure_daily_partitions(from_day date, to_day date)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    day date;
    part name;
    lo timestamptz;
    hi timestamptz;
    created integer := 0;
BEGIN
    -- Several pods may run migrate() at once; the partition names would collide.
    PERFORM pg_advisory_xact_lock(hashtext('raw_data.ensure_daily_partitions'));
    FOR t IN SELECT * FROM raw_data.daily_partitioned_tables() LOOP
        FOR day IN SELECT generate_series(from_day, to_day, interval '1 day')::date LOOP
            part := format('%s_p%s', t.parent_name, to_char(day, 'YYYYMMDD'));
            CONTINUE WHEN to_regclass(format('raw_data.%I', part)) IS NOT NULL;
            lo := day::timestamp AT TIME ZONE 'UTC';
            hi := (day + 1)::timestamp AT TIME ZONE 'UTC';
            EXECUTE format('CREATE TABLE raw_data.%I (LIKE %s INCLUDING DEFAULTS)', part, t.parent);
            IF t.default_partition IS NOT NULL THEN
                EXECUTE format(
                    'WITH moved AS (DELETE FROM %s WHERE "timestamp" >= $1 AND "timestamp" < $2 '
                    'RETURNING *) INSERT INTO raw_data.%I SELECT * FROM moved',
                    t.default_partition, part)
                USING lo, hi;
            END IF;
            EXECUTE format('ALTER TABLE %s ATTACH PARTITION raw_data.%I FOR VALUES FROM (%L) TO (%L)',
                           t.parent, part, lo, hi);
            created := created + 1;
        END LOOP;
    END LOOP;
    RETURN created;
END
$$;

-- Retention: drops the daily partitions of UTC days before today - days, deletes rows that old
-- from the DEFAULT partitions, and returns the number of partitions dropped.
CREATE FUNCTION raw_data.drop_partitions_older_than(days integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    cutoff date := (now() AT TIME ZONE 'UTC')::date - days;
    t record;
    child regclass;
    dropped integer := 0;
BEGIN
    FOR t IN SELECT * FROM raw_data.daily_partitioned_tables() LOOP
        FOR child IN
            SELECT c.oid::regclass
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = t.parent
              AND c.relname ~ ('^' || t.parent_name || '_p[0-9]{8}$')
              AND to_date(right(c.relname, 8), 'YYYYMMDD') < cutoff
        LOOP
            EXECUTE format('DROP TABLE %s', child);
            dropped := dropped + 1;
        END LOOP;
        IF t.default_partition IS NOT NULL THEN
            EXECUTE format('DELETE FROM %s WHERE "timestamp" < $1', t.default_partition)
            USING cutoff::timestamp AT TIME ZONE 'UTC';
        END IF;
    END LOOP;
    RETURN dropped;
END
$$;

-- Dashboard access paths: time ranges overall and per project, and session lookups. Indexes on
-- a partitioned table cascade to every present and future partition.
-- Time ranges alone use BRIN: rows arrive roughly in time order, so block ranges summarise
-- well, and a BRIN costs the sink next to nothing per row where a btree cost about 15% of
-- its throughput. Ordered "latest N" reads go through the per-project btree.
CREATE INDEX clickstream_events_timestamp_idx
    ON raw_data.clickstream_events USING brin ("timestamp");
CREATE INDEX clickstream_events_website_timestamp_idx
    ON raw_data.clickstream_events (ico_website_id, "timestamp");
CREATE INDEX clickstream_events_session_idx ON raw_data.clickstream_events (session_id);
CREATE INDEX user_registrations_timestamp_idx
    ON raw_data.user_registrations USING brin ("timestamp");
CREATE INDEX user_registrations_website_timestamp_idx
    ON raw_data.user_registrations (ico_website_id, "timestamp");
CREATE INDEX conversions_timestamp_idx ON raw_data.conversions USING brin ("timestamp");
CREATE INDEX conversions_website_timestamp_idx
    ON raw_data.conversions (ico_website_id, "timestamp");

-- Read-only role for Grafana. Roles are cluster-wide while migrations run per database, so it
-- may already exist (another database, or a concurrent migration in one).
-- Grafana's login user is granted this role by whoever creates that user (the Helm chart).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'grafana_reader') THEN
        CREATE ROLE grafana_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA raw_data, processed_data, analytics TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA raw_data, processed_data, analytics TO grafana_reader;
-- Covers tables, views and materialized views that later migrations create; default privileges
-- apply to objects created by the role running this migration, which runs them all.
ALTER DEFAULT PRIVILEGES IN SCHEMA raw_data, processed_data, analytics
    GRANT SELECT ON TABLES TO grafana_reader;
