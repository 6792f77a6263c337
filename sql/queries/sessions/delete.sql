-- Delete the stored sessions of the claimed ids that their new events can change, those within
-- 30 minutes of the events' range (a late event may join two sessions or extend one), and widen
-- each id's read range to the sessions deleted: every event of every session the new events can
-- now belong to lies within it. The hours the deleted sessions started in are noted for the
-- rollups.
WITH gone AS (
    DELETE FROM analytics.sessions s
    USING pg_temp.sessions_refresh t
    WHERE s.session_id = t.session_id
      AND s.session_end >= t.first_at - interval '30 minutes'
      AND s.session_start <= t.last_at + interval '30 minutes'
    RETURNING s.session_id, s.session_start, s.session_end, s.ico_website_id
),
hours AS (
    INSERT INTO pg_temp.sessions_refresh_hours (ico_website_id, hour)
    SELECT DISTINCT ico_website_id,
           date_bin('1 hour', session_start, timestamptz '2000-01-01 00:00+00')
    FROM gone
    ON CONFLICT DO NOTHING
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
