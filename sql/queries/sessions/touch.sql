-- The session ids a sink batch stored events of, and the event-time range of those events; run
-- in the batch's transaction, so a refresher that claims the row sees the events.
INSERT INTO analytics.sessions_touched (session_ids, first_at, last_at)
VALUES (%(session_ids)s::uuid[], %(first_at)s, %(last_at)s)
