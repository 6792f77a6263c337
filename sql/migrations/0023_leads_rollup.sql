-- The leads counted per project, hour and UTC day, and traffic source of the sign-up session:
-- what the dashboards' Leads panel reads instead of analytics.lead_summary. The view is exact
-- and live, but EXPLAIN (ANALYZE, BUFFERS) of the panel on 7 days at 1,000 events/minute shows
-- it joining every lead of the range (940,000: about one event in ten is a sign-up) to its
-- session by a parallel hash join over a sequential scan of all 2 M sessions, spilling to
-- disk: 3.1 s, 1.7 s at 24 h (the whole days touching the range). The panel now reads the day
-- rows: at most 8 per project and source for 7 days.
--
-- Kept exact like the sessions' rollups (0019): the sessions refresher, in the transaction that
-- recomputes sessions, recomputes the hour rows of every (project, hour) whose sessions or
-- registrations it touched, then the day rows of their days from the hour rows
-- (sql/queries/sessions/rollup.sql). A lead's row and its registration's may be stored in
-- different sink batches, so a batch of leads touches their sessions too
-- (dataflows/sessions.py): the refresh after the later of the two counts the lead with its
-- session's source. `maintain`'s retention deletes whole days of leads and of these rows.
-- The rows are those of analytics.lead_summary by hour and day, without the 'all' rows.
CREATE TABLE analytics.leads_rollup (
    ico_website_id  integer NOT NULL,
    span            interval NOT NULL,     -- '1 hour' or '1 day'
    span_start      timestamptz NOT NULL,  -- date_bin(span, registered_at, '2000-01-01 UTC')
    traffic_source  text NOT NULL,         -- of the sign-up session; 'unknown' without one
    -- bigint like the view's counts, so that sums of them are numeric like its sums
    registrations   bigint NOT NULL,
    kyc_completed   bigint NOT NULL,
    consenting      bigint NOT NULL,
    basic           bigint NOT NULL,
    advanced        bigint NOT NULL,
    premium         bigint NOT NULL,
    PRIMARY KEY (ico_website_id, span, span_start, traffic_source)
);

GRANT SELECT, INSERT, DELETE ON analytics.leads_rollup TO ico_writer;
GRANT SELECT ON analytics.leads_rollup TO grafana_reader;

-- The leads stored so far: their hours, then their days.
INSERT INTO analytics.leads_rollup
SELECT l.ico_website_id, interval '1 hour',
       date_bin('1 hour', l.registered_at, timestamptz '2000-01-01 00:00+00'),
       coalesce(s.traffic_source, 'unknown'),
       count(*), count(*) FILTER (WHERE l.kyc_completed),
       count(*) FILTER (WHERE l.consent_marketing),
       count(*) FILTER (WHERE l.verification_tier = 'basic'),
       count(*) FILTER (WHERE l.verification_tier = 'advanced'),
       count(*) FILTER (WHERE l.verification_tier = 'premium')
FROM analytics.leads l
-- Sessions of one id do not overlap: at most one holds the sign-up.
LEFT JOIN analytics.sessions s
    ON s.session_id = l.session_id
   AND l.registered_at BETWEEN s.session_start AND s.session_end
GROUP BY 1, 3, 4;

INSERT INTO analytics.leads_rollup
SELECT ico_website_id, interval '1 day',
       date_bin('1 day', span_start, timestamptz '2000-01-01 00:00+00'), traffic_source,
       sum(registrations), sum(kyc_completed), sum(consenting), sum(basic), sum(advanced),
       sum(premium)
FROM analytics.leads_rollup
GROUP BY 1, 3, 4;
