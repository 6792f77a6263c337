-- The pipeline's transformations, one row each: rows no longer listed are removed, new ones
-- added, existing ones (and their "timestamp", when they were first recorded) kept.
-- Keep in step with dataflows/ when a transformation changes.
WITH lineage (source_table, target_table, transformation) AS (
    VALUES
    ('generator/ico_websites.csv', 'processed_data.ico_websites',
     'reference data: upsert by id on every migrate'),
    ('topic:clickstream-events', 'raw_data.clickstream_events',
     'decode Avro + validate + dedupe on event_id (in flight, and against stored rows by Kafka coordinates) + enrich (region, traffic_source, pseudonymise ip_address with HMAC)'),
    ('topic:user-registrations', 'raw_data.user_registrations',
     'decode Avro + validate + dedupe on registration_id (in flight, and against stored rows by Kafka coordinates) + enrich (region, pseudonymise email and wallet_address with HMAC)'),
    ('topic:conversions', 'raw_data.conversions',
     'decode Avro + validate + dedupe on conversion_id (in flight, and against stored rows by Kafka coordinates)'),
    ('topic:clickstream-events', 'raw_data.dead_letters',
     'records failing decode or validation, with reason and Kafka coordinates'),
    ('topic:user-registrations', 'raw_data.dead_letters',
     'records failing decode or validation, with reason and Kafka coordinates'),
    ('topic:conversions', 'raw_data.dead_letters',
     'records failing decode or validation, with reason and Kafka coordinates'),
    ('raw_data.clickstream_events', 'analytics.window_aggregates',
     'event-time tumbling windows 5m/15m/1h per ico_website_id: events, page views, sessions, users, load times'),
    ('raw_data.user_registrations', 'analytics.window_aggregates',
     'event-time tumbling windows 5m/15m/1h per ico_website_id: registrations, users'),
    ('raw_data.conversions', 'analytics.window_aggregates',
     'event-time tumbling windows 5m/15m/1h per ico_website_id: wallet connects, purchases, revenue'),
    ('raw_data.clickstream_events', 'analytics.sessions',
     'sessions per session_id (30 min inactivity, 24 h cap), recomputed in PostgreSQL for the session ids each sink batch touched: pages, entry/exit, source, UTM, device, country'),
    ('raw_data.user_registrations', 'analytics.sessions',
     'sessions per session_id (30 min inactivity, 24 h cap): signed up, user id'),
    ('raw_data.conversions', 'analytics.sessions',
     'sessions per session_id (30 min inactivity, 24 h cap): wallet connected, purchases, revenue, time to convert'),
    ('analytics.sessions', 'analytics.sessions_rollup',
     'rollup per hour and UTC day, recomputed by the sessions refresher for the hours it touched: sessions per ico_website_id, hour or day of their start, device and traffic source, with bounces, page views, funnel flags, purchases, revenue'),
    ('analytics.sessions', 'analytics.sessions_geo_rollup',
     'rollup per hour and UTC day, recomputed by the sessions refresher for the hours it touched: sessions and revenue per ico_website_id, hour or day of their start, country and region'),
    ('raw_data.user_registrations', 'analytics.registrations_geo_rollup',
     'rollup per hour and UTC day, recomputed by the sessions refresher for the hours it touched: registrations per ico_website_id, hour or day, country and region'),
    ('analytics.window_aggregates', 'analytics.daily_project_kpis',
     'materialized view refreshed by maintain: 1-hour windows summed per ico_website_id and UTC day'),
    ('analytics.sessions', 'analytics.daily_project_kpis',
     'materialized view refreshed by maintain: sessions started per ico_website_id and UTC day'),
    ('topic:user-registrations', 'analytics.leads',
     'decode Avro + validate + dedupe on registration_id: KYC, verification tier, consent; the email of consenting registrations only, sealed with AES-256-GCM under a key derived from CRM_EMAIL_KEY'),
    ('analytics.window_aggregates', 'analytics.anomalies',
     'complete 5-minute windows per ico_website_id: z-score of events, registrations, revenue against the 12 windows before; flagged windows also to topic:alerts')
), removed AS (
    DELETE FROM analytics.data_lineage AS d
    WHERE (d.source_table, d.target_table, d.transformation) NOT IN (SELECT * FROM lineage)
)
-- NOT EXISTS rather than relying on ON CONFLICT alone: that would still draw an id from the
-- sequence for every existing row on every run.
INSERT INTO analytics.data_lineage (source_table, target_table, transformation)
SELECT * FROM lineage AS l
WHERE NOT EXISTS (
    SELECT FROM analytics.data_lineage AS d
    WHERE (d.source_table, d.target_table, d.transformation)
          = (l.source_table, l.target_table, l.transformation)
)
ON CONFLICT (source_table, target_table, transformation) DO NOTHING;
