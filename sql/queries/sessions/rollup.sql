-- Recompute the rollups' rows (migration 0019) of the (project, hour)s this refresh touched
-- (pg_temp.sessions_refresh_hours) from the sessions and registrations now stored: each such
-- hour's rows deleted and regrouped, in the refresh's transaction. Runs under the refresher's
-- lock, so no other refresh changes those sessions meanwhile; a registration committed after
-- this reads the raw table has a touched batch not yet claimed, whose refresh redoes its hour.
DELETE FROM analytics.sessions_hourly h
USING pg_temp.sessions_refresh_hours t
WHERE h.ico_website_id = t.ico_website_id AND h.hour = t.hour;

INSERT INTO analytics.sessions_hourly
SELECT t.ico_website_id, t.hour, s.device_type, s.traffic_source, count(*),
       count(*) FILTER (WHERE s.bounce), sum(s.page_views),
       count(*) FILTER (WHERE s.signed_up), count(*) FILTER (WHERE s.wallet_connected),
       count(*) FILTER (WHERE s.purchased), sum(s.purchases), sum(s.revenue_usd)
FROM pg_temp.sessions_refresh_hours t
JOIN analytics.sessions s
  ON s.ico_website_id = t.ico_website_id
 AND s.session_start >= t.hour AND s.session_start < t.hour + interval '1 hour'
GROUP BY t.ico_website_id, t.hour, s.device_type, s.traffic_source;

DELETE FROM analytics.sessions_geo_hourly h
USING pg_temp.sessions_refresh_hours t
WHERE h.ico_website_id = t.ico_website_id AND h.hour = t.hour;

INSERT INTO analytics.sessions_geo_hourly
SELECT t.ico_website_id, t.hour, s.country, s.region, count(*), sum(s.revenue_usd)
FROM pg_temp.sessions_refresh_hours t
JOIN analytics.sessions s
  ON s.ico_website_id = t.ico_website_id
 AND s.session_start >= t.hour AND s.session_start < t.hour + interval '1 hour'
GROUP BY t.ico_website_id, t.hour, s.country, s.region;

DELETE FROM analytics.registrations_geo_hourly h
USING pg_temp.sessions_refresh_hours t
WHERE h.ico_website_id = t.ico_website_id AND h.hour = t.hour;

INSERT INTO analytics.registrations_geo_hourly
SELECT t.ico_website_id, t.hour, r.country, r.region, count(*)
FROM pg_temp.sessions_refresh_hours t
JOIN raw_data.user_registrations r
  ON r.ico_website_id = t.ico_website_id
 AND r."timestamp" >= t.hour AND r."timestamp" < t.hour + interval '1 hour'
GROUP BY t.ico_website_id, t.hour, r.country, r.region
