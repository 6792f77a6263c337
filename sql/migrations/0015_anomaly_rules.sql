-- Page views by country per window (ISO code -> count), what the anomalies' country mix is
-- judged on; NULL for windows written before they were counted.
ALTER TABLE analytics.window_aggregates ADD COLUMN page_views_by_country jsonb;

-- analytics.anomalies now also holds conversion_rate, country_mix and revenue_24h verdicts
-- (dataflows/anomalies.py): same key, same overwrite semantics.
COMMENT ON COLUMN analytics.anomalies.metric IS
    'events | registrations | revenue_usd (z-score on a 5-minute window); conversion_rate '
    '(registrations per session, two-proportion z); country_mix (page views by country, '
    'chi-square z); revenue_24h (the 24 hours ending at window_end, against the mean of the '
    'same hours of up to 7 days before)';
COMMENT ON COLUMN analytics.anomalies.direction IS 'spike | drop | shift (country_mix)';
