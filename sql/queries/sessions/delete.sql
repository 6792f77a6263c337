-- The stored sessions of the claimed ids that their new events can change: those within 30
-- minutes of the events' range (a late event may join two sessions or extend one).
DELETE FROM analytics.sessions s
USING unnest(%(session_ids)s::uuid[], %(first_at)s::timestamptz[], %(last_at)s::timestamptz[])
    AS t (session_id, first_at, last_at)
WHERE s.session_id = t.session_id
  AND s.session_end >= t.first_at - interval '30 minutes'
  AND s.session_start <= t.last_at + interval '30 minutes'
