-- Registrations as leads for each project's CRM: one row per registration with its KYC,
-- verification tier and marketing consent, written by the dataflow in the same sink batches as
-- the raw tables. Only a consenting lead's email is kept, sealed (AES-256-GCM, ico_core.pii)
-- under a key derived from CRM_EMAIL_KEY and bound to its registration id; the database never
-- holds that key, and only crm_reader may read the sealed bytes.
CREATE TABLE analytics.leads (
    registration_id    uuid PRIMARY KEY,
    ico_website_id     integer NOT NULL,
    session_id         uuid NOT NULL,     -- the site session it signed up in (its source)
    registered_at      timestamptz NOT NULL,
    country            char(2) NOT NULL,
    kyc_completed      boolean NOT NULL,
    verification_tier  text NOT NULL,
    consent_marketing  boolean NOT NULL,
    email_sealed       bytea,
    -- No consent, no email: enforced here, not only by the dataflow.
    CONSTRAINT leads_email_only_with_consent
        CHECK ((email_sealed IS NOT NULL) = consent_marketing)
);

CREATE INDEX leads_project_registered_idx ON analytics.leads (ico_website_id, registered_at);

-- Per project, UTC day of the sign-up and traffic source of the session it happened in (the
-- last touch, as in analytics.attribution; 'unknown' until the sessions refresher has seen
-- it): registrations, KYC completed, consenting, the verification tiers, and their shares.
-- Rows over all sources have traffic_source = 'all'.
CREATE VIEW analytics.lead_summary AS
SELECT ico_website_id,
       day,
       CASE WHEN grouping(traffic_source) = 0 THEN traffic_source ELSE 'all' END
           AS traffic_source,
       count(*) AS registrations,
       count(*) FILTER (WHERE kyc_completed) AS kyc_completed,
       count(*) FILTER (WHERE consent_marketing) AS consenting,
       count(*) FILTER (WHERE verification_tier = 'basic') AS basic,
       count(*) FILTER (WHERE verification_tier = 'advanced') AS advanced,
       count(*) FILTER (WHERE verification_tier = 'premium') AS premium,
       (count(*) FILTER (WHERE kyc_completed))::double precision / count(*) AS kyc_rate,
       (count(*) FILTER (WHERE consent_marketing))::double precision / count(*) AS consent_rate,
       (count(*) FILTER (WHERE verification_tier = 'basic'))::double precision / count(*)
           AS basic_share,
       (count(*) FILTER (WHERE verification_tier = 'advanced'))::double precision / count(*)
           AS advanced_share,
       (count(*) FILTER (WHERE verification_tier = 'premium'))::double precision / count(*)
           AS premium_share
FROM (
    SELECT l.ico_website_id,
           (l.registered_at AT TIME ZONE 'UTC')::date AS day,
           coalesce(s.traffic_source, 'unknown') AS traffic_source,
           l.kyc_completed, l.consent_marketing, l.verification_tier
    FROM analytics.leads l
    -- Sessions of one id do not overlap: at most one holds the sign-up.
    LEFT JOIN analytics.sessions s
        ON s.session_id = l.session_id
       AND l.registered_at BETWEEN s.session_start AND s.session_end
) l
GROUP BY GROUPING SETS ((ico_website_id, day), (ico_website_id, day, traffic_source));

-- The dashboards read everything but the sealed emails (the default privileges of 0003 granted
-- the whole table); the view runs with its owner's privileges and reads no email.
REVOKE SELECT ON analytics.leads FROM grafana_reader;
GRANT SELECT (registration_id, ico_website_id, session_id, registered_at, country,
              kyc_completed, verification_tier, consent_marketing)
    ON analytics.leads TO grafana_reader;

GRANT SELECT, INSERT, UPDATE ON analytics.leads TO ico_writer;

-- The CRM export's role (`ico-analytics crm leads`): the leads with their sealed emails and the
-- sessions that give their source, nothing else. Its login is made by whoever runs the export,
-- as a member of this role. Roles are cluster-wide, so it may already exist.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm_reader') THEN
        CREATE ROLE crm_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA analytics TO crm_reader;
GRANT SELECT ON analytics.leads, analytics.lead_summary, analytics.sessions TO crm_reader;
