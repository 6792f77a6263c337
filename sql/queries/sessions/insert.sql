-- Recompute the sessions of the claimed ids (pg_temp.sessions_refresh) from their raw events
-- within each one's read range. %(lo)s and %(hi)s bound all ranges, so
-- only the partitions they cover are planned. A session is a run of a session id's events with
-- no gap over 30 minutes, cut every 24 hours from its first event; ties in time are ordered by
-- event id. The hours the new sessions started in, and those of the sessions' registrations,
-- are noted for the rollups.
WITH events AS (
    -- LATERAL: one index range scan per session (session_id, "timestamp"), whatever share of
    -- the partition the touched sessions are.
    SELECT e.*
    FROM pg_temp.sessions_refresh t
    CROSS JOIN LATERAL (
        SELECT c.session_id, c."timestamp" AS ts, c.event_id AS id, c.ico_website_id,
               c.user_id, true AS clickstream, c.event_type = 'page_view' AS page_view,
               c.page_url, c.traffic_source, c.utm_source, c.utm_medium, c.utm_campaign,
               c.device_type, c.country, c.region, false AS registration, NULL::text AS conversion_type,
               NULL::numeric AS amount_usd, NULL::double precision AS time_to_convert
        FROM raw_data.clickstream_events c
        WHERE c.session_id = t.session_id
          AND c."timestamp" BETWEEN t.read_from AND t.read_to
          AND c."timestamp" BETWEEN %(lo)s AND %(hi)s
        UNION ALL
        SELECT r.session_id, r."timestamp", r.registration_id, r.ico_website_id, r.user_id,
               false, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true, NULL, NULL,
               NULL
        FROM raw_data.user_registrations r
        WHERE r.session_id = t.session_id
          AND r."timestamp" BETWEEN t.read_from AND t.read_to
          AND r."timestamp" BETWEEN %(lo)s AND %(hi)s
        UNION ALL
        SELECT v.session_id, v."timestamp", v.conversion_id, v.ico_website_id, v.user_id,
               false, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false,
               v.conversion_type, v.amount_usd, v.time_to_convert
        FROM raw_data.conversions v
        WHERE v.session_id = t.session_id
          AND v."timestamp" BETWEEN t.read_from AND t.read_to
          AND v."timestamp" BETWEEN %(lo)s AND %(hi)s
    ) e
),
gaps AS (
    SELECT e.*,
           CASE WHEN e.ts - lag(e.ts) OVER w <= interval '30 minutes' THEN 0 ELSE 1 END AS gap
    FROM events e
    WINDOW w AS (PARTITION BY e.session_id ORDER BY e.ts, e.id)
),
runs AS (
    -- A run starts at each gap (and at a session id's first event); its start time is the
    -- latest run start so far.
    SELECT g.*,
           sum(g.gap) OVER w AS run,
           max(CASE WHEN g.gap = 1 THEN g.ts END) OVER w AS run_start
    FROM gaps g
    WINDOW w AS (PARTITION BY g.session_id ORDER BY g.ts, g.id)
),
cut AS (
    SELECT r.*, floor(extract(epoch FROM r.ts - r.run_start) / 86400)::integer AS day_cut
    FROM runs r
),
grouped AS (
    -- Every ordered aggregate sorts by (ts, id), the order the windows above already sorted
    -- by, so the rows are sorted once; "last" values are the last element of such an array.
    SELECT session_id,
           min(ts) AS session_start,
           max(ts) AS session_end,
           (array_agg(ico_website_id ORDER BY ts, id))[1] AS ico_website_id,
           array_agg(user_id ORDER BY ts, id) FILTER (WHERE user_id IS NOT NULL) AS users,
           count(*)::integer AS events,
           count(*) FILTER (WHERE page_view)::integer AS page_views,
           array_agg(page_url ORDER BY ts, id) FILTER (WHERE page_view) AS pages,
           (array_agg(traffic_source ORDER BY ts, id) FILTER (WHERE clickstream))[1]
               AS traffic_source,
           (array_agg(utm_source ORDER BY ts, id) FILTER (WHERE clickstream))[1] AS utm_source,
           (array_agg(utm_medium ORDER BY ts, id) FILTER (WHERE clickstream))[1] AS utm_medium,
           (array_agg(utm_campaign ORDER BY ts, id) FILTER (WHERE clickstream))[1]
               AS utm_campaign,
           (array_agg(device_type ORDER BY ts, id) FILTER (WHERE clickstream))[1] AS device_type,
           (array_agg(country ORDER BY ts, id) FILTER (WHERE clickstream))[1] AS country,
           (array_agg(region ORDER BY ts, id) FILTER (WHERE clickstream))[1] AS region,
           bool_or(registration) AS signed_up,
           bool_or(conversion_type IS NOT DISTINCT FROM 'wallet_connect') AS wallet_connected,
           count(*) FILTER (
               WHERE conversion_type IN ('presale_participate', 'token_purchase'))::integer
               AS purchases,
           coalesce(sum(amount_usd) FILTER (
               WHERE conversion_type IN ('presale_participate', 'token_purchase')), 0)
               AS revenue_usd,
           (array_agg(time_to_convert ORDER BY ts, id)
               FILTER (WHERE conversion_type = 'wallet_connect'))[1] AS seconds_to_wallet,
           (array_agg(time_to_convert ORDER BY ts, id)
               FILTER (WHERE conversion_type IN ('presale_participate', 'token_purchase')))[1]
               AS seconds_to_purchase
    FROM cut
    GROUP BY session_id, run, day_cut
),
sessions AS (
    SELECT g.*,
           g.users[cardinality(g.users)] AS user_id,
           extract(epoch FROM g.session_end - g.session_start)::double precision
               AS duration_seconds,
           g.pages[1] AS entry_page,
           g.pages[cardinality(g.pages)] AS exit_page
    FROM grouped g
),
stored AS (
    INSERT INTO analytics.sessions (
        session_id, session_start, session_end, ico_website_id, user_id, duration_seconds, events,
        page_views, bounce, entry_page, exit_page, traffic_source, utm_source, utm_medium,
        utm_campaign, device_type, country, region, signed_up, wallet_connected, purchased,
        purchases, revenue_usd, seconds_to_wallet, seconds_to_purchase
    )
    SELECT s.session_id, s.session_start, s.session_end, s.ico_website_id, s.user_id,
           s.duration_seconds, s.events, s.page_views, s.page_views = 1, s.entry_page, s.exit_page,
           s.traffic_source, s.utm_source, s.utm_medium, s.utm_campaign, s.device_type, s.country,
           s.region, s.signed_up, s.wallet_connected, s.purchases > 0, s.purchases,
           s.revenue_usd,
           s.seconds_to_wallet, s.seconds_to_purchase
    FROM sessions s
    RETURNING ico_website_id, session_start
)
INSERT INTO pg_temp.sessions_refresh_hours (ico_website_id, hour)
SELECT ico_website_id, date_bin('1 hour', session_start, timestamptz '2000-01-01 00:00+00')
FROM stored
UNION
SELECT ico_website_id, date_bin('1 hour', ts, timestamptz '2000-01-01 00:00+00')
FROM events
WHERE registration
ON CONFLICT DO NOTHING
