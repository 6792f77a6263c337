-- One row per site session (dataflows/sessions.py), a full-row overwrite keyed by session_id.
CREATE TABLE analytics.sessions (
    session_id        uuid PRIMARY KEY,
    ico_website_id    integer NOT NULL,
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz NOT NULL,
    events            integer NOT NULL,
    page_views        integer NOT NULL,
    landing_page      text,          -- of the earliest clickstream event; NULL without one
    country           char(2),
    device_type       text,
    traffic_source    text,
    user_id           uuid,          -- of the earliest event that names a user
    registered        boolean NOT NULL,
    wallet_connected  boolean NOT NULL,
    purchased         boolean NOT NULL,
    purchases         integer NOT NULL,
    revenue_usd       numeric(16, 2) NOT NULL
);

CREATE INDEX sessions_started_idx ON analytics.sessions (started_at, ico_website_id);

-- The token-sale funnel per project and hour of session start: how many sessions went how far.
CREATE VIEW analytics.funnel_hourly AS
SELECT ico_website_id,
       date_trunc('hour', started_at) AS hour,
       count(*) AS sessions,
       count(*) FILTER (WHERE registered) AS registered,
       count(*) FILTER (WHERE wallet_connected) AS wallet_connected,
       count(*) FILTER (WHERE purchased) AS purchased,
       sum(revenue_usd) AS revenue_usd
FROM analytics.sessions
GROUP BY 1, 2;
