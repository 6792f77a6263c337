-- Live KPIs per project for the terminal demo: totals over the 1-hour windows that end after
-- %(since)s (additive columns only; the demo's events are stamped from its start on) and the
-- current 5-minute window's unique sessions and p95 load time.
WITH hourly AS (
    SELECT ico_website_id,
           sum(events)        AS events,
           sum(page_views)    AS page_views,
           sum(registrations) AS registrations,
           sum(wallet_connects) AS wallet_connects,
           sum(purchases)     AS purchases,
           sum(revenue_usd)   AS revenue_usd
    FROM analytics.window_aggregates
    WHERE window_length = interval '1 hour' AND window_end > %(since)s
    GROUP BY ico_website_id
), latest AS (
    SELECT DISTINCT ON (ico_website_id)
           ico_website_id, unique_sessions, p95_page_load_time
    FROM analytics.window_aggregates
    WHERE window_length = interval '5 minutes' AND window_end > %(since)s
    ORDER BY ico_website_id, window_start DESC
)
SELECT w.id, w.name, w.token_symbol,
       coalesce(h.events, 0), coalesce(h.page_views, 0), coalesce(h.registrations, 0),
       coalesce(h.wallet_connects, 0), coalesce(h.purchases, 0), coalesce(h.revenue_usd, 0),
       l.unique_sessions, l.p95_page_load_time
FROM processed_data.ico_websites w
LEFT JOIN hourly h ON h.ico_website_id = w.id
LEFT JOIN latest l ON l.ico_website_id = w.id
ORDER BY coalesce(h.revenue_usd, 0) DESC, w.id;
