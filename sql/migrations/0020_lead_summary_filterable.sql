-- The dashboards' Leads panel reads analytics.lead_summary for some projects and a few UTC days,
-- but PostgreSQL does not push a filter on the view's columns through its GROUPING SETS: every
-- lead was joined to its session and grouped on each refresh, however short the range. The same
-- rows as two GROUP BYs under UNION ALL, over a CTE inlined into both (NOT MATERIALIZED), let the project and day filters reach the leads (and a
-- filter on traffic_source drop the 'all' branch), and the index finds those leads by project
-- and UTC day of sign-up, the expression the view groups by.
CREATE INDEX leads_project_day_idx
    ON analytics.leads (ico_website_id, ((registered_at AT TIME ZONE 'UTC')::date));

CREATE OR REPLACE VIEW analytics.lead_summary AS
WITH l AS NOT MATERIALIZED (
    SELECT l.ico_website_id,
           (l.registered_at AT TIME ZONE 'UTC')::date AS day,
           coalesce(s.traffic_source, 'unknown') AS traffic_source,
           l.kyc_completed, l.consent_marketing, l.verification_tier
    FROM analytics.leads l
    -- Sessions of one id do not overlap: at most one holds the sign-up.
    LEFT JOIN analytics.sessions s
        ON s.session_id = l.session_id
       AND l.registered_at BETWEEN s.session_start AND s.session_end
)
SELECT ico_website_id,
       day,
       traffic_source,
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
FROM l
GROUP BY ico_website_id, day, traffic_source
UNION ALL
SELECT ico_website_id,
       day,
       'all',
       count(*),
       count(*) FILTER (WHERE kyc_completed),
       count(*) FILTER (WHERE consent_marketing),
       count(*) FILTER (WHERE verification_tier = 'basic'),
       count(*) FILTER (WHERE verification_tier = 'advanced'),
       count(*) FILTER (WHERE verification_tier = 'premium'),
       (count(*) FILTER (WHERE kyc_completed))::double precision / count(*),
       (count(*) FILTER (WHERE consent_marketing))::double precision / count(*),
       (count(*) FILTER (WHERE verification_tier = 'basic'))::double precision / count(*),
       (count(*) FILTER (WHERE verification_tier = 'advanced'))::double precision / count(*),
       (count(*) FILTER (WHERE verification_tier = 'premium'))::double precision / count(*)
FROM l
GROUP BY ico_website_id, day;
