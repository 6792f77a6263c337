-- The session ids a sink batch stored events of, and the event-time range of those events; run
-- in the batch's transaction, so a refresher that claims the id sees the events. The arrays are
-- sorted by session id: concurrent sink transactions lock the rows in one order.
INSERT INTO analytics.sessions_touched AS t (session_id, first_at, last_at)
SELECT *
FROM unnest(%(session_ids)s::uuid[], %(first_at)s::timestamptz[], %(last_at)s::timestamptz[])
ON CONFLICT (session_id) DO UPDATE
SET first_at = LEAST(t.first_at, EXCLUDED.first_at),
    last_at = GREATEST(t.last_at, EXCLUDED.last_at)
WHERE EXCLUDED.first_at < t.first_at OR EXCLUDED.last_at > t.last_at
