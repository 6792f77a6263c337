-- The region of a session's first page event, for the geography panels (the dashboards read
-- sessions, not millions of events); the sessions stored so far get theirs from their events.
ALTER TABLE analytics.sessions ADD COLUMN region text;

UPDATE analytics.sessions s
SET region = (
    SELECT c.region
    FROM raw_data.clickstream_events c
    WHERE c.session_id = s.session_id
      AND c."timestamp" BETWEEN s.session_start AND s.session_end
    ORDER BY c."timestamp", c.event_id
    LIMIT 1
);

CREATE INDEX sessions_start_idx ON analytics.sessions (session_start);

-- One row per project and UTC day: what the daily panels and the users' daily queries read,
-- so a 7- or 90-day range costs a few hundred rows instead of millions of raw events.
-- Event counts and revenue are the day's 1-hour windows summed (an hour never straddles a UTC
-- day, so the sums are exact); the session columns are the sessions that started that day.
-- A materialized view: `ico-analytics maintain` (and `demo`) refresh it CONCURRENTLY, which
-- needs the unique index below and lets dashboards read the old rows during the refresh.
CREATE MATERIALIZED VIEW analytics.daily_project_kpis AS
WITH windows AS (
    SELECT ico_website_id,
           (window_start AT TIME ZONE 'UTC')::date AS day,
           sum(events) AS events,
           sum(page_views) AS page_views,
           sum(registrations) AS registrations,
           sum(wallet_connects) AS wallet_connects,
           sum(purchases) AS purchases,
           sum(revenue_usd) AS revenue_usd,
           -- each hour's mean weighted by its page views: the day's mean page load
           sum(avg_page_load_time * page_views)
               / nullif(sum(page_views) FILTER (WHERE avg_page_load_time IS NOT NULL), 0)
               AS avg_page_load_time
    FROM analytics.window_aggregates
    WHERE window_length = interval '1 hour'
    GROUP BY 1, 2
), started AS (
    SELECT ico_website_id,
           (session_start AT TIME ZONE 'UTC')::date AS day,
           count(*) AS sessions,
           count(*) FILTER (WHERE bounce) AS bounces,
           avg(duration_seconds) AS avg_session_seconds,
           count(*) FILTER (WHERE signed_up) AS registered_sessions,
           count(*) FILTER (WHERE wallet_connected) AS wallet_sessions,
           count(*) FILTER (WHERE purchased) AS purchased_sessions,
           count(DISTINCT user_id) AS active_users  -- with a user id in a session started
    FROM analytics.sessions
    GROUP BY 1, 2
)
SELECT ico_website_id,
       day,
       coalesce(w.events, 0)::bigint AS events,
       coalesce(w.page_views, 0)::bigint AS page_views,
       coalesce(w.registrations, 0)::bigint AS registrations,
       coalesce(w.wallet_connects, 0)::bigint AS wallet_connects,
       coalesce(w.purchases, 0)::bigint AS purchases,
       coalesce(w.revenue_usd, 0)::numeric(16, 2) AS revenue_usd,
       w.avg_page_load_time,
       coalesce(s.sessions, 0) AS sessions,
       coalesce(s.bounces, 0) AS bounces,
       s.avg_session_seconds,
       coalesce(s.registered_sessions, 0) AS registered_sessions,
       coalesce(s.wallet_sessions, 0) AS wallet_sessions,
       coalesce(s.purchased_sessions, 0) AS purchased_sessions,
       coalesce(s.active_users, 0) AS active_users
FROM windows w
FULL JOIN started s USING (ico_website_id, day);

CREATE UNIQUE INDEX daily_project_kpis_key ON analytics.daily_project_kpis (day, ico_website_id);
