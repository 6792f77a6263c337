-- Projects by revenue over [%(since)s, %(until)s): the 5-minute windows starting in it and the
-- sessions started in it, so a week costs thousands of window rows, not millions of events.
-- Exact, as over the raw tables, for bounds on 5-minute boundaries.
WITH windows AS (
    SELECT ico_website_id,
           sum(events) AS events,
           sum(page_views) AS page_views,
           sum(registrations) AS registrations,
           sum(purchases) AS purchases,
           sum(revenue_usd) AS revenue_usd
    FROM analytics.window_aggregates
    WHERE window_length = interval '5 minutes'
      AND window_start >= %(since)s AND window_start < %(until)s
    GROUP BY ico_website_id
), started AS (
    SELECT ico_website_id, count(*) AS sessions
    FROM analytics.sessions
    WHERE session_start >= %(since)s AND session_start < %(until)s
    GROUP BY ico_website_id
)
SELECT w.id AS ico_website_id,
       w.name,
       w.token_symbol,
       coalesce(a.events, 0) AS events,
       coalesce(a.page_views, 0) AS page_views,
       coalesce(s.sessions, 0) AS sessions,
       coalesce(a.registrations, 0) AS registrations,
       coalesce(a.purchases, 0) AS purchases,
       coalesce(a.revenue_usd, 0) AS revenue_usd,
       100 * coalesce(a.revenue_usd, 0) / w.target_raise_usd AS raise_progress
FROM processed_data.ico_websites w
LEFT JOIN windows a ON a.ico_website_id = w.id
LEFT JOIN started s ON s.ico_website_id = w.id
ORDER BY revenue_usd DESC, w.id
LIMIT %(limit)s
