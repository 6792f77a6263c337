-- Delete the stored sessions of the claimed ids that their new events can change, those within
-- 30 minutes of the events' range (a late event may join two sessions or extend one), and widen
-- each id's read range to the sessions deleted: every event of every session the new events can
-- now belong to lies within it.
WITH gone AS (
    DELETE FROM analytics.sessions s
    USING pg_temp.sessions_refresh t
    WHERE s.session_id = t.session_id
      AND s.session_end >= t.first_at - interval '30 minutes'
      AND s.session_start <= t.last_at + interval '30 minutes'
    RETURNING s.session_id, s.session_start, s.session_end
)
UPDATE pg_temp.sessions_refresh t
SET read_from = least(t.read_from, g.session_start),
    read_to = greatest(t.read_to, g.session_end)
FROM (
    SELECT session_id, min(session_start) AS session_start, max(session_end) AS session_end
    FROM gone
    GROUP BY session_id
) g
WHERE g.session_id = t.session_id
