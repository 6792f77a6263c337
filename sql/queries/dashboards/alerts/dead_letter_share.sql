-- Percentage of the lookback's records that were refused: dead letters by arrival, stored
-- events by event time (the two clocks agree for live traffic).
WITH refused AS (
    SELECT count(*) AS n FROM raw_data.dead_letters WHERE $__timeFilter(received_at)
), stored AS (
    SELECT (SELECT count(*) FROM raw_data.clickstream_events WHERE $__timeFilter("timestamp"))
         + (SELECT count(*) FROM raw_data.user_registrations WHERE $__timeFilter("timestamp"))
         + (SELECT count(*) FROM raw_data.conversions WHERE $__timeFilter("timestamp")) AS n
)
SELECT coalesce(100.0 * refused.n / nullif(refused.n + stored.n, 0), 0) AS dead_letter_share
FROM refused, stored
