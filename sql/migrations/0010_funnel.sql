-- The conversion funnel per project and UTC day of the session start: sessions -> registered
-- -> wallet connected -> purchased. Counted by session (each step within the session: the
-- session is the conversion window) and by user (distinct user ids; a visitor without one is
-- one per session), with each step's rate from the step before and the median and p90 of
-- time_to_convert (seconds from the visit's start) to the wallet connection and to the first
-- purchase. Rows over all sources and devices have traffic_source = device_type = 'all'; the
-- breakdowns by source (device_type 'all') and by device (traffic_source 'all') follow.
CREATE VIEW analytics.funnel AS
SELECT ico_website_id,
       day,
       CASE WHEN grouping(traffic_source) = 0 THEN traffic_source ELSE 'all' END
           AS traffic_source,
       CASE WHEN grouping(device_type) = 0 THEN device_type ELSE 'all' END AS device_type,
       count(*) AS sessions,
       count(*) FILTER (WHERE signed_up) AS registered_sessions,
       count(*) FILTER (WHERE wallet_connected) AS wallet_sessions,
       count(*) FILTER (WHERE purchased) AS purchased_sessions,
       count(DISTINCT visitor) AS visitors,
       count(DISTINCT user_id) FILTER (WHERE signed_up) AS registered_users,
       count(DISTINCT user_id) FILTER (WHERE wallet_connected) AS wallet_users,
       count(DISTINCT user_id) FILTER (WHERE purchased) AS purchasing_users,
       (count(*) FILTER (WHERE signed_up))::double precision / count(*) AS registration_rate,
       (count(*) FILTER (WHERE wallet_connected))::double precision
           / nullif(count(*) FILTER (WHERE signed_up), 0) AS wallet_rate,
       (count(*) FILTER (WHERE purchased))::double precision
           / nullif(count(*) FILTER (WHERE wallet_connected), 0) AS purchase_rate,
       (count(*) FILTER (WHERE purchased))::double precision / count(*) AS conversion_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_wallet)
           AS median_seconds_to_wallet,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds_to_wallet) AS p90_seconds_to_wallet,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_purchase)
           AS median_seconds_to_purchase,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds_to_purchase)
           AS p90_seconds_to_purchase
FROM (
    SELECT ico_website_id,
           (session_start AT TIME ZONE 'UTC')::date AS day,
           coalesce(traffic_source, 'unknown') AS traffic_source,
           coalesce(device_type, 'unknown') AS device_type,
           coalesce(user_id, session_id) AS visitor,
           user_id, signed_up, wallet_connected, purchased, seconds_to_wallet,
           seconds_to_purchase
    FROM analytics.sessions
) s
GROUP BY GROUPING SETS (
    (ico_website_id, day),
    (ico_website_id, day, traffic_source),
    (ico_website_id, day, device_type)
);
