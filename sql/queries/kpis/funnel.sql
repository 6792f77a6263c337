-- The token-sale funnel per project over the sessions started in [%(since)s, %(until)s): each
-- step reached within the session, by session and by user, with the rate from the step before.
SELECT w.id AS ico_website_id,
       w.name,
       count(s.session_id) AS sessions,
       count(*) FILTER (WHERE s.signed_up) AS registered,
       count(*) FILTER (WHERE s.wallet_connected) AS wallet_connected,
       count(*) FILTER (WHERE s.purchased) AS purchased,
       count(DISTINCT s.user_id) FILTER (WHERE s.signed_up) AS registered_users,
       count(DISTINCT s.user_id) FILTER (WHERE s.purchased) AS purchasing_users,
       (count(*) FILTER (WHERE s.signed_up))::double precision
           / nullif(count(s.session_id), 0) AS registration_rate,
       (count(*) FILTER (WHERE s.wallet_connected))::double precision
           / nullif(count(*) FILTER (WHERE s.signed_up), 0) AS wallet_rate,
       (count(*) FILTER (WHERE s.purchased))::double precision
           / nullif(count(*) FILTER (WHERE s.wallet_connected), 0) AS purchase_rate
FROM processed_data.ico_websites w
LEFT JOIN analytics.sessions s
       ON s.ico_website_id = w.id
      AND s.session_start >= %(since)s AND s.session_start < %(until)s
GROUP BY w.id, w.name
ORDER BY w.id
