-- Recompute the rollups' rows (migrations 0019, 0023) of the (project, hour)s this refresh
-- touched (pg_temp.sessions_refresh_hours) from the sessions, registrations and leads now
-- stored, then the rows of their days from the hour rows: each one's rows deleted and
-- regrouped, in the refresh's transaction. It runs under the refresher's lock, so no other
-- refresh changes those sessions meanwhile; a registration (or lead) committed after this reads
-- the raw table has a touched batch not yet claimed, whose refresh redoes its hour.
DELETE FROM analytics.sessions_rollup r
USING pg_temp.sessions_refresh_hours t
WHERE r.ico_website_id = t.ico_website_id AND r.span = interval '1 hour'
  AND r.span_start = t.hour;

INSERT INTO analytics.sessions_rollup
SELECT t.ico_website_id, interval '1 hour', t.hour, s.device_type, s.traffic_source,
       count(*), count(*) FILTER (WHERE s.bounce), sum(s.page_views),
       count(*) FILTER (WHERE s.signed_up), count(*) FILTER (WHERE s.wallet_connected),
       count(*) FILTER (WHERE s.purchased), sum(s.purchases), sum(s.revenue_usd)
FROM pg_temp.sessions_refresh_hours t
JOIN analytics.sessions s
  ON s.ico_website_id = t.ico_website_id
 AND s.session_start >= t.hour AND s.session_start < t.hour + interval '1 hour'
GROUP BY t.ico_website_id, t.hour, s.device_type, s.traffic_source;

DELETE FROM analytics.sessions_geo_rollup r
USING pg_temp.sessions_refresh_hours t
WHERE r.ico_website_id = t.ico_website_id AND r.span = interval '1 hour'
  AND r.span_start = t.hour;

INSERT INTO analytics.sessions_geo_rollup
SELECT t.ico_website_id, interval '1 hour', t.hour, s.country, s.region,
       count(*), sum(s.revenue_usd)
FROM pg_temp.sessions_refresh_hours t
JOIN analytics.sessions s
  ON s.ico_website_id = t.ico_website_id
 AND s.session_start >= t.hour AND s.session_start < t.hour + interval '1 hour'
GROUP BY t.ico_website_id, t.hour, s.country, s.region;

DELETE FROM analytics.registrations_geo_rollup r
USING pg_temp.sessions_refresh_hours t
WHERE r.ico_website_id = t.ico_website_id AND r.span = interval '1 hour'
  AND r.span_start = t.hour;

INSERT INTO analytics.registrations_geo_rollup
SELECT t.ico_website_id, interval '1 hour', t.hour, s.country, s.region,
       count(*)
FROM pg_temp.sessions_refresh_hours t
JOIN raw_data.user_registrations s
  ON s.ico_website_id = t.ico_website_id
 AND s."timestamp" >= t.hour AND s."timestamp" < t.hour + interval '1 hour'
GROUP BY t.ico_website_id, t.hour, s.country, s.region;

DELETE FROM analytics.leads_rollup r
USING pg_temp.sessions_refresh_hours t
WHERE r.ico_website_id = t.ico_website_id AND r.span = interval '1 hour'
  AND r.span_start = t.hour;

-- The leads by the traffic source of their sign-up session (migration 0023); a lead stored in a
-- later batch than its registration touched its session, so its hour is redone then.
INSERT INTO analytics.leads_rollup
SELECT t.ico_website_id, interval '1 hour', t.hour, coalesce(s.traffic_source, 'unknown'),
       count(*), count(*) FILTER (WHERE l.kyc_completed),
       count(*) FILTER (WHERE l.consent_marketing),
       count(*) FILTER (WHERE l.verification_tier = 'basic'),
       count(*) FILTER (WHERE l.verification_tier = 'advanced'),
       count(*) FILTER (WHERE l.verification_tier = 'premium')
FROM pg_temp.sessions_refresh_hours t
JOIN analytics.leads l
  ON l.ico_website_id = t.ico_website_id
 AND l.registered_at >= t.hour AND l.registered_at < t.hour + interval '1 hour'
-- Sessions of one id do not overlap: at most one holds the sign-up.
LEFT JOIN analytics.sessions s
  ON s.session_id = l.session_id
 AND l.registered_at BETWEEN s.session_start AND s.session_end
GROUP BY t.ico_website_id, t.hour, coalesce(s.traffic_source, 'unknown');

INSERT INTO pg_temp.sessions_refresh_days
SELECT DISTINCT ico_website_id, date_bin('1 day', hour, timestamptz '2000-01-01 00:00+00')
FROM pg_temp.sessions_refresh_hours;

DELETE FROM analytics.sessions_rollup r
USING pg_temp.sessions_refresh_days t
WHERE r.ico_website_id = t.ico_website_id AND r.span = interval '1 day'
  AND r.span_start = t.day;

INSERT INTO analytics.sessions_rollup
SELECT t.ico_website_id, interval '1 day', t.day, r.device_type, r.traffic_source,
       sum(sessions), sum(bounces), sum(page_views), sum(signed_up),
       sum(wallet_connected), sum(purchased), sum(purchases), sum(revenue_usd)
FROM pg_temp.sessions_refresh_days t
JOIN analytics.sessions_rollup r
  ON r.ico_website_id = t.ico_website_id AND r.span = interval '1 hour'
 AND r.span_start >= t.day AND r.span_start < t.day + interval '1 day'
GROUP BY t.ico_website_id, t.day, r.device_type, r.traffic_source;

DELETE FROM analytics.sessions_geo_rollup r
USING pg_temp.sessions_refresh_days t
WHERE r.ico_website_id = t.ico_website_id AND r.span = interval '1 day'
  AND r.span_start = t.day;

INSERT INTO analytics.sessions_geo_rollup
SELECT t.ico_website_id, interval '1 day', t.day, r.country, r.region,
       sum(sessions), sum(revenue_usd)
FROM pg_temp.sessions_refresh_days t
JOIN analytics.sessions_geo_rollup r
  ON r.ico_website_id = t.ico_website_id AND r.span = interval '1 hour'
 AND r.span_start >= t.day AND r.span_start < t.day + interval '1 day'
GROUP BY t.ico_website_id, t.day, r.country, r.region;

DELETE FROM analytics.registrations_geo_rollup r
USING pg_temp.sessions_refresh_days t
WHERE r.ico_website_id = t.ico_website_id AND r.span = interval '1 day'
  AND r.span_start = t.day;

INSERT INTO analytics.registrations_geo_rollup
SELECT t.ico_website_id, interval '1 day', t.day, r.country, r.region,
       sum(registrations)
FROM pg_temp.sessions_refresh_days t
JOIN analytics.registrations_geo_rollup r
  ON r.ico_website_id = t.ico_website_id AND r.span = interval '1 hour'
 AND r.span_start >= t.day AND r.span_start < t.day + interval '1 day'
GROUP BY t.ico_website_id, t.day, r.country, r.region;

DELETE FROM analytics.leads_rollup r
USING pg_temp.sessions_refresh_days t
WHERE r.ico_website_id = t.ico_website_id AND r.span = interval '1 day'
  AND r.span_start = t.day;

INSERT INTO analytics.leads_rollup
SELECT t.ico_website_id, interval '1 day', t.day, r.traffic_source,
       sum(r.registrations), sum(r.kyc_completed), sum(r.consenting), sum(r.basic),
       sum(r.advanced), sum(r.premium)
FROM pg_temp.sessions_refresh_days t
JOIN analytics.leads_rollup r
  ON r.ico_website_id = t.ico_website_id AND r.span = interval '1 hour'
 AND r.span_start >= t.day AND r.span_start < t.day + interval '1 day'
GROUP BY t.ico_website_id, t.day, r.traffic_source