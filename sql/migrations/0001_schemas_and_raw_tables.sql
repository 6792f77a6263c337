-- Schemas, reference data and the raw event tables.
-- Raw tables are range-partitioned by day on "timestamp"; partitions are created ahead of time
-- by raw_data.ensure_daily_partitions() (0003) and a DEFAULT partition catches anything else,
-- so an insert never fails for want of a partition.
-- Primary keys include "timestamp" because PostgreSQL requires the partition key in them; the
-- dataflow upserts on them, so a replay overwrites instead of duplicating.

CREATE SCHEMA IF NOT EXISTS raw_data;
CREATE SCHEMA IF NOT EXISTS processed_data;
CREATE SCHEMA IF NOT EXISTS analytics;

CREATE TABLE processed_data.ico_websites (
    id                integer PRIMARY KEY,
    name              text NOT NULL,
    token_symbol      text NOT NULL,
    domain            text NOT NULL,
    category          text NOT NULL,
    target_raise_usd  numeric(14, 2) NOT NULL,
    token_price_usd   numeric(12, 6) NOT NULL,
    launch_date       date NOT NULL,
    country           char(2) NOT NULL
);

CREATE TABLE raw_data.clickstream_events (
    event_id        uuid NOT NULL,
    session_id      uuid NOT NULL,
    user_id         uuid,
    "timestamp"     timestamptz NOT NULL,
    event_type      text NOT NULL,
    page_type       text NOT NULL,
    page_url        text NOT NULL,
    referrer        text,
    utm_source      text,
    utm_medium      text,
    utm_campaign    text,
    traffic_source  text NOT NULL,   -- enriched: organic|social|referral|paid|email|direct
    country         char(2) NOT NULL,
    region          text NOT NULL,   -- enriched from country
    device_type     text NOT NULL,
    browser         text NOT NULL,
    page_load_time  double precision,
    scroll_depth    integer,
    ip_address      text NOT NULL,   -- HMAC pseudonym, never the address
    user_agent      text NOT NULL,
    ico_website_id  integer NOT NULL,
    PRIMARY KEY (event_id, "timestamp")
) PARTITION BY RANGE ("timestamp");

CREATE TABLE raw_data.user_registrations (
    registration_id    uuid NOT NULL,
    user_id            uuid NOT NULL,
    session_id         uuid NOT NULL,
    "timestamp"        timestamptz NOT NULL,
    email              text NOT NULL,   -- HMAC pseudonym
    wallet_address     text,            -- HMAC pseudonym
    social_handles     jsonb NOT NULL DEFAULT '{}',
    consent_marketing  boolean NOT NULL,
    kyc_completed      boolean NOT NULL,
    verification_tier  text NOT NULL,
    country            char(2) NOT NULL,
    region             text NOT NULL,
    ico_website_id     integer NOT NULL,
    PRIMARY KEY (registration_id, "timestamp")
) PARTITION BY RANGE ("timestamp");

CREATE TABLE raw_data.conversions (
    conversion_id    uuid NOT NULL,
    user_id          uuid NOT NULL,
    session_id       uuid NOT NULL,
    "timestamp"      timestamptz NOT NULL,
    conversion_type  text NOT NULL,
    amount_usd       numeric(14, 2),
    token_amount     numeric(24, 6),
    payment_method   text,
    time_to_convert  double precision NOT NULL,
    ico_website_id   integer NOT NULL,
    PRIMARY KEY (conversion_id, "timestamp")
) PARTITION BY RANGE ("timestamp");

CREATE TABLE raw_data.clickstream_events_default PARTITION OF raw_data.clickstream_events DEFAULT;
CREATE TABLE raw_data.user_registrations_default PARTITION OF raw_data.user_registrations DEFAULT;
CREATE TABLE raw_data.conversions_default PARTITION OF raw_data.conversions DEFAULT;

-- Records that could not be decoded or validated, keyed by where they came from so a replay
-- overwrites. The embedded source uses partition 0 and the generator's sequence number as offset.
CREATE TABLE raw_data.dead_letters (
    source_topic      text NOT NULL,
    source_partition  integer NOT NULL,
    source_offset     bigint NOT NULL,
    stage             text NOT NULL,   -- decode|validate
    reason            text NOT NULL,
    event_type        text,            -- when the schema id was readable
    record_key        bytea,
    payload           bytea,
    PRIMARY KEY (source_topic, source_partition, source_offset)
);

CREATE TABLE analytics.data_lineage (
    id              bigserial PRIMARY KEY,
    source_table    text NOT NULL,
    target_table    text NOT NULL,
    transformation  text NOT NULL,
    "timestamp"     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_table, target_table, transformation)
);
