-- Attribution: sign-ups, purchases and revenue per project and UTC day of the session they
-- happened in, credited to a traffic source and UTM campaign by two models:
--   first_touch: the user's first session with their user id (the one they signed up in);
--   last_touch:  the session the sign-up or purchase happened in.
-- Visits before the sign-up in other site sessions carry no user id and are not linked.
CREATE VIEW analytics.attribution AS
WITH member_sessions AS (
    SELECT s.ico_website_id,
           (s.session_start AT TIME ZONE 'UTC')::date AS day,
           s.traffic_source,
           s.utm_campaign,
           first_value(s.traffic_source) OVER first AS first_source,
           first_value(s.utm_campaign) OVER first AS first_campaign,
           s.signed_up,
           s.purchases,
           s.revenue_usd
    FROM analytics.sessions s
    WHERE s.user_id IS NOT NULL
    WINDOW first AS (PARTITION BY s.ico_website_id, s.user_id
                     ORDER BY s.session_start, s.session_id)
)
SELECT ico_website_id, day, 'first_touch' AS model,
       first_source AS traffic_source, first_campaign AS utm_campaign,
       count(*) FILTER (WHERE signed_up) AS registrations,
       sum(purchases) AS purchases,
       sum(revenue_usd) AS revenue_usd
FROM member_sessions
GROUP BY ico_website_id, day, first_source, first_campaign
UNION ALL
SELECT ico_website_id, day, 'last_touch',
       traffic_source, utm_campaign,
       count(*) FILTER (WHERE signed_up),
       sum(purchases),
       sum(revenue_usd)
FROM member_sessions
GROUP BY ico_website_id, day, traffic_source, utm_campaign;

-- Weekly cohorts by sign-up week (ISO weeks, Monday, UTC): for each cohort and each week since
-- (0 = the sign-up week, up to the newest session's week), how many of its users came back
-- (a session started after their sign-up) and how many purchased (in any session that week,
-- the week of a session being that of its start, or of the sign-up for the one it happened in),
-- and those counts as shares of the cohort.
CREATE VIEW analytics.cohort_retention AS
WITH members AS (
    SELECT ico_website_id, user_id, min("timestamp") AS signed_up_at
    FROM raw_data.user_registrations
    GROUP BY ico_website_id, user_id
),
cohorts AS (
    SELECT ico_website_id, user_id, signed_up_at,
           date_trunc('week', signed_up_at AT TIME ZONE 'UTC')::date AS cohort_week
    FROM members
),
activity AS (
    SELECT c.ico_website_id, c.cohort_week, c.user_id,
           -- The sign-up session may have started the week before: it counts from the sign-up.
           (date_trunc('week', greatest(s.session_start, c.signed_up_at) AT TIME ZONE 'UTC')::date
            - c.cohort_week) / 7 AS week,
           s.session_start > c.signed_up_at AS returned,
           s.purchased
    FROM cohorts c
    JOIN analytics.sessions s ON s.user_id = c.user_id AND s.ico_website_id = c.ico_website_id
    WHERE s.session_end >= c.signed_up_at
),
sizes AS (
    SELECT ico_website_id, cohort_week, count(*) AS cohort_users
    FROM cohorts
    GROUP BY ico_website_id, cohort_week
),
weeks AS (
    SELECT z.ico_website_id, z.cohort_week, z.cohort_users, w.week
    FROM sizes z
    CROSS JOIN LATERAL generate_series(
        0,
        ((SELECT date_trunc('week', max(session_start) AT TIME ZONE 'UTC')::date
          FROM analytics.sessions) - z.cohort_week) / 7
    ) AS w (week)
)
SELECT w.ico_website_id,
       w.cohort_week,
       w.cohort_users,
       w.week,
       count(DISTINCT a.user_id) FILTER (WHERE a.returned) AS returned_users,
       count(DISTINCT a.user_id) FILTER (WHERE a.purchased) AS purchased_users,
       (count(DISTINCT a.user_id) FILTER (WHERE a.returned))::double precision / w.cohort_users
           AS returned_share,
       (count(DISTINCT a.user_id) FILTER (WHERE a.purchased))::double precision / w.cohort_users
           AS purchased_share
FROM weeks w
LEFT JOIN activity a
    ON a.ico_website_id = w.ico_website_id AND a.cohort_week = w.cohort_week AND a.week = w.week
GROUP BY w.ico_website_id, w.cohort_week, w.cohort_users, w.week;
