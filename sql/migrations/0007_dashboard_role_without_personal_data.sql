-- The dashboard role (grafana_reader) reads the raw tables through their parents, column by
-- column: everything but the dead letters' payloads (the records as they arrived, personal data
-- included, sealed by the dataflow) and the registrations' social handles. Reading through a
-- partitioned parent checks only the parent's privileges, so the partitions themselves (today's
-- and every one `maintain` creates later) are not granted, or they would be a way around it.
REVOKE SELECT ON ALL TABLES IN SCHEMA raw_data FROM grafana_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA raw_data REVOKE SELECT ON TABLES FROM grafana_reader;

GRANT SELECT ON raw_data.clickstream_events, raw_data.conversions TO grafana_reader;
GRANT SELECT (registration_id, user_id, session_id, "timestamp", email, wallet_address,
              consent_marketing, kyc_completed, verification_tier, country, region,
              ico_website_id)
    ON raw_data.user_registrations TO grafana_reader;
GRANT SELECT (source_topic, source_partition, source_offset, stage, reason, event_type,
              received_at)
    ON raw_data.dead_letters TO grafana_reader;
