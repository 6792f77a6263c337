-- Distinct users (user ids) and visitors (a user id, or the session id before there is one)
-- per project with a session overlapping [%(since)s, %(until)s), from analytics.sessions and
-- its (ico_website_id, session_start) index: sessions last at most 24 hours, which bounds the
-- scan. Over the raw tables this is counting the ids of every event of those sessions.
SELECT w.id AS ico_website_id,
       w.name,
       count(DISTINCT s.user_id) AS active_users,
       count(DISTINCT coalesce(s.user_id, s.session_id)) AS active_visitors,
       count(s.session_id) AS sessions
FROM processed_data.ico_websites w
LEFT JOIN analytics.sessions s
       ON s.ico_website_id = w.id
      AND s.session_start < %(until)s
      AND s.session_start >= %(since)s::timestamptz - interval '24 hours'
      AND s.session_end >= %(since)s
GROUP BY w.id, w.name
ORDER BY active_users DESC, w.id
