-- Sessions: a site session_id split at 30 minutes of inactivity and capped at 24 hours, one row
-- per session, computed in PostgreSQL from the raw events (dataflows/sessions.py says why).
--
-- The sink records which session ids each batch touched (sessions_touched, in the batch's own
-- transaction); a refresher claims those ids and recomputes their sessions from the raw tables.
-- Reading a session's events needs an index by session id on each raw table: on clickstream it
-- costs the sink ~3 µs per stored event, the price of sessions that are exact whatever the
-- lateness or the replay.
CREATE INDEX clickstream_events_session_idx
    ON raw_data.clickstream_events USING hash (session_id);
CREATE INDEX user_registrations_session_idx
    ON raw_data.user_registrations USING hash (session_id);
CREATE INDEX conversions_session_idx
    ON raw_data.conversions USING hash (session_id);

-- One row per stored sink batch whose sessions are not recomputed yet: the session ids it
-- stored events of and the event-time range of those events. A row per batch, not per
-- session, keeps the sink's cost per event near zero (an upsert per session cost ~20 µs).
CREATE TABLE analytics.sessions_touched (
    batch_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_ids  uuid[] NOT NULL,
    first_at     timestamptz NOT NULL,
    last_at      timestamptz NOT NULL
);

CREATE TABLE analytics.sessions (
    session_id         uuid NOT NULL,         -- the site's session id (several sessions may share it)
    session_start      timestamptz NOT NULL,  -- its first event
    session_end        timestamptz NOT NULL,  -- its last event
    ico_website_id     integer NOT NULL,
    user_id            uuid,                  -- the last user id seen in it, once the visitor has one
    duration_seconds   double precision NOT NULL,
    events             integer NOT NULL,      -- clickstream, registrations and conversions
    page_views         integer NOT NULL,
    bounce             boolean NOT NULL,      -- exactly one page view
    entry_page         text,                  -- page_url of the first page view
    exit_page          text,                  -- page_url of the last page view
    traffic_source     text,                  -- of the first clickstream event
    utm_source         text,
    utm_medium         text,
    utm_campaign       text,
    device_type        text,
    country            char(2),
    signed_up          boolean NOT NULL,
    wallet_connected   boolean NOT NULL,
    purchased          boolean NOT NULL,
    purchases          integer NOT NULL,      -- presale_participate + token_purchase events
    revenue_usd        numeric(16, 2) NOT NULL,  -- presale_participate + token_purchase
    seconds_to_wallet  double precision,      -- time_to_convert of its first wallet connection
    seconds_to_purchase double precision,     -- time_to_convert of its first purchase
    PRIMARY KEY (session_id, session_start)
);

CREATE INDEX sessions_project_start_idx ON analytics.sessions (ico_website_id, session_start);

GRANT SELECT, INSERT, UPDATE, DELETE ON analytics.sessions, analytics.sessions_touched
    TO ico_writer;
REVOKE SELECT ON analytics.sessions_touched FROM grafana_reader;
