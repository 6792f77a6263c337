-- Event-time tumbling aggregates per project, written by the dataflow as full-row overwrites
-- keyed by (ico_website_id, window_length, window_start): a replay recomputes the same row.
CREATE TABLE analytics.window_aggregates (
    ico_website_id       integer NOT NULL,
    window_length        interval NOT NULL,   -- 5 minutes | 15 minutes | 1 hour
    window_start         timestamptz NOT NULL,
    window_end           timestamptz NOT NULL,
    events               bigint NOT NULL,     -- valid, de-duplicated events of all three kinds
    page_views           bigint NOT NULL,
    unique_sessions      bigint NOT NULL,
    unique_users         bigint NOT NULL,     -- distinct non-null user_id over all kinds
    registrations        bigint NOT NULL,
    conversions          bigint NOT NULL,     -- all conversion events
    wallet_connects      bigint NOT NULL,
    purchases            bigint NOT NULL,     -- presale_participate + token_purchase
    revenue_usd          numeric(16, 2) NOT NULL,  -- sum of amount_usd of purchases
    avg_page_load_time   double precision,    -- over page views; NULL when none
    p95_page_load_time   double precision,    -- percentile_cont(0.95) semantics
    PRIMARY KEY (ico_website_id, window_length, window_start)
);

CREATE INDEX window_aggregates_dashboard_idx
    ON analytics.window_aggregates (window_length, window_start DESC);
