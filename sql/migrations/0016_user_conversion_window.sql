-- The funnel by user across days (analytics.funnel counts within a session): per project and
-- UTC day of sign-up, the users who signed up, and of them those whose first wallet connection
-- and first purchase (presale or sale) after signing up came within 1 and within 7 days, in any
-- later visit; with the median and p90 hours from sign-up to that first purchase (within 7
-- days). A day less than 7 days old is still filling: open_window says so.
CREATE VIEW analytics.user_conversion AS
WITH members AS (
    SELECT ico_website_id, user_id, min("timestamp") AS signed_up_at
    FROM raw_data.user_registrations
    GROUP BY ico_website_id, user_id
),
firsts AS (
    SELECT m.ico_website_id, m.user_id, m.signed_up_at,
           min(c."timestamp") FILTER (WHERE c.conversion_type = 'wallet_connect') AS wallet_at,
           min(c."timestamp") FILTER (
               WHERE c.conversion_type IN ('presale_participate', 'token_purchase'))
               AS purchase_at
    FROM members m
    LEFT JOIN raw_data.conversions c
           ON c.ico_website_id = m.ico_website_id
          AND c.user_id = m.user_id
          AND c."timestamp" >= m.signed_up_at
    GROUP BY m.ico_website_id, m.user_id, m.signed_up_at
)
SELECT ico_website_id,
       (signed_up_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS signed_up_users,
       count(*) FILTER (WHERE wallet_at < signed_up_at + interval '1 day') AS wallet_within_1d,
       count(*) FILTER (WHERE wallet_at < signed_up_at + interval '7 days') AS wallet_within_7d,
       count(*) FILTER (WHERE purchase_at < signed_up_at + interval '1 day')
           AS purchased_within_1d,
       count(*) FILTER (WHERE purchase_at < signed_up_at + interval '7 days')
           AS purchased_within_7d,
       (count(*) FILTER (WHERE purchase_at < signed_up_at + interval '7 days'))::double precision
           / count(*) AS purchase_rate_7d,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM purchase_at - signed_up_at) / 3600
       ) FILTER (WHERE purchase_at < signed_up_at + interval '7 days') AS median_hours_to_purchase,
       percentile_cont(0.9) WITHIN GROUP (
           ORDER BY extract(epoch FROM purchase_at - signed_up_at) / 3600
       ) FILTER (WHERE purchase_at < signed_up_at + interval '7 days') AS p90_hours_to_purchase,
       (signed_up_at AT TIME ZONE 'UTC')::date > (now() AT TIME ZONE 'UTC')::date - 7
           AS open_window
FROM firsts
GROUP BY ico_website_id, (signed_up_at AT TIME ZONE 'UTC')::date;
