-- Verdicts on each project's complete 5-minute windows (dataflows/anomalies.py), written as
-- full-row overwrites keyed by (ico_website_id, metric, window_start): a window flagged earlier
-- and cleared by late events keeps its row with is_anomaly = false.
CREATE TABLE analytics.anomalies (
    ico_website_id   integer NOT NULL,
    metric           text NOT NULL,              -- events | registrations | revenue_usd
    window_start     timestamptz NOT NULL,
    window_end       timestamptz NOT NULL,
    value            double precision NOT NULL,
    baseline_mean    double precision NOT NULL,  -- over the 12 windows before
    baseline_stddev  double precision NOT NULL,
    z_score          double precision NOT NULL,  -- scale floored at sqrt(mean) and 1
    direction        text NOT NULL,              -- spike | drop
    is_anomaly       boolean NOT NULL,
    PRIMARY KEY (ico_website_id, metric, window_start)
);

CREATE INDEX anomalies_dashboard_idx ON analytics.anomalies (window_start DESC) WHERE is_anomaly;
