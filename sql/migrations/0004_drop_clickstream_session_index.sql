-- The per-session btree on raw clickstream events served no dashboard or query, and each of its
-- entries cost the sink about 3 µs of the ~12 µs PostgreSQL spends per stored event (measured on
-- 3,000-row merges): a quarter of the raw write cost, paid for every page view. The dashboards'
-- per-session panels scan a time range of raw events, which this index never served.
DROP INDEX raw_data.clickstream_events_session_idx;
