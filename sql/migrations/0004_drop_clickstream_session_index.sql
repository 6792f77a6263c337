-- The per-session btree on raw clickstream events served no dashboard or query, and each of its
-- entries cost the sink about 3 µs of the ~12 µs PostgreSQL spends per stored event (measured on
-- 3,000-row merges): a quarter of the raw write cost, paid for every page view. Session-level
-- questions belong to the sessions the dataflow builds, not to scans of raw events.
DROP INDEX raw_data.clickstream_events_session_idx;
