-- Recompute the sessions of the claimed ids from the raw events within 26 hours of the touched
-- range (a session lasts at most 24 h), and insert those the delete removed: the ones within 30
-- minutes of that range. %(lo)s and %(hi)s bound all ranges, so only the partitions they cover
-- are read. A session is a run of a session id's events with no gap over 30 minutes, cut every
-- 24 hours from its first event; ties in time are ordered by event id.
WITH touched AS (
    SELECT *
    FROM unnest(%(session_ids)s::uuid[], %(first_at)s::timestamptz[], %(last_at)s::timestamptz[])
        AS t (session_id, first_at, last_at)
),
events AS (
    SELECT c.session_id, c."timestamp" AS ts, c.event_id AS id, c.ico_website_id, c.user_id,
           true AS clickstream, c.event_type = 'page_view' AS page_view, c.page_url,
           c.traffic_source, c.utm_source, c.utm_medium, c.utm_campaign, c.device_type,
           c.country, false AS registration, NULL::text AS conversion_type,
           NULL::numeric AS amount_usd, NULL::double precision AS time_to_convert
    FROM touched t
    JOIN raw_data.clickstream_events c ON c.session_id = t.session_id
    WHERE c."timestamp" BETWEEN t.first_at - interval '26 hours' AND t.last_at + interval '26 hours'
      AND c."timestamp" BETWEEN %(lo)s AND %(hi)s
    UNION ALL
    SELECT r.session_id, r."timestamp", r.registration_id, r.ico_website_id, r.user_id,
           false, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true, NULL, NULL, NULL
    FROM touched t
    JOIN raw_data.user_registrations r ON r.session_id = t.session_id
    WHERE r."timestamp" BETWEEN t.first_at - interval '26 hours' AND t.last_at + interval '26 hours'
      AND r."timestamp" BETWEEN %(lo)s AND %(hi)s
    UNION ALL
    SELECT v.session_id, v."timestamp", v.conversion_id, v.ico_website_id, v.user_id,
           false, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, v.conversion_type,
           v.amount_usd, v.time_to_convert
    FROM touched t
    JOIN raw_data.conversions v ON v.session_id = t.session_id
    WHERE v."timestamp" BETWEEN t.first_at - interval '26 hours' AND t.last_at + interval '26 hours'
      AND v."timestamp" BETWEEN %(lo)s AND %(hi)s
),
gaps AS (
    SELECT e.*,
           CASE WHEN e.ts - lag(e.ts) OVER w > interval '30 minutes' THEN 1 ELSE 0 END AS gap
    FROM events e
    WINDOW w AS (PARTITION BY e.session_id ORDER BY e.ts, e.id)
),
runs AS (
    SELECT g.*, sum(g.gap) OVER (PARTITION BY g.session_id ORDER BY g.ts, g.id) AS run
    FROM gaps g
),
cut AS (
    SELECT r.*,
           floor(extract(epoch FROM r.ts - min(r.ts) OVER (PARTITION BY r.session_id, r.run))
                 / 86400)::integer AS day_cut
    FROM runs r
),
sessions AS (
    SELECT session_id,
           min(ts) AS session_start,
           max(ts) AS session_end,
           (array_agg(ico_website_id ORDER BY ts, id))[1] AS ico_website_id,
           (array_agg(user_id ORDER BY ts DESC, id DESC) FILTER (WHERE user_id IS NOT NULL))[1]
               AS user_id,
           extract(epoch FROM max(ts) - min(ts))::double precision AS duration_seconds,
           count(*)::integer AS events,
           count(*) FILTER (WHERE page_view)::integer AS page_views,
           (array_agg(page_url ORDER BY ts, id) FILTER (WHERE page_view))[1] AS entry_page,
           (array_agg(page_url ORDER BY ts DESC, id DESC) FILTER (WHERE page_view))[1]
               AS exit_page,
           (array_agg(traffic_source ORDER BY ts, id) FILTER (WHERE clickstream))[1]
               AS traffic_source,
           (array_agg(utm_source ORDER BY ts, id) FILTER (WHERE clickstream))[1] AS utm_source,
           (array_agg(utm_medium ORDER BY ts, id) FILTER (WHERE clickstream))[1] AS utm_medium,
           (array_agg(utm_campaign ORDER BY ts, id) FILTER (WHERE clickstream))[1]
               AS utm_campaign,
           (array_agg(device_type ORDER BY ts, id) FILTER (WHERE clickstream))[1] AS device_type,
           (array_agg(country ORDER BY ts, id) FILTER (WHERE clickstream))[1] AS country,
           bool_or(registration) AS signed_up,
           bool_or(conversion_type IS NOT DISTINCT FROM 'wallet_connect') AS wallet_connected,
           bool_or(conversion_type IN ('presale_participate', 'token_purchase')) AS purchased,
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
)
INSERT INTO analytics.sessions (
    session_id, session_start, session_end, ico_website_id, user_id, duration_seconds, events,
    page_views, bounce, entry_page, exit_page, traffic_source, utm_source, utm_medium,
    utm_campaign, device_type, country, signed_up, wallet_connected, purchased, purchases,
    revenue_usd, seconds_to_wallet, seconds_to_purchase
)
SELECT s.session_id, s.session_start, s.session_end, s.ico_website_id, s.user_id,
       s.duration_seconds, s.events, s.page_views, s.page_views = 1, s.entry_page, s.exit_page,
       s.traffic_source, s.utm_source, s.utm_medium, s.utm_campaign, s.device_type, s.country,
       s.signed_up, s.wallet_connected, coalesce(s.purchased, false), s.purchases,
       s.revenue_usd,
       s.seconds_to_wallet, s.seconds_to_purchase
FROM sessions s
JOIN touched t ON t.session_id = s.session_id
WHERE s.session_end >= t.first_at - interval '30 minutes'
  AND s.session_start <= t.last_at + interval '30 minutes'
