-- The Time to convert panel read analytics.user_conversion, which finds every user's first
-- sign-up over all of raw_data.user_registrations before it can filter by day: its cost grows
-- with the whole history. As with analytics.experiment_results (0017), the computation stays as
-- analytics.user_conversion_now and analytics.user_conversion becomes its materialized copy,
-- refreshed concurrently with the daily KPIs (`maintain`; every 15 minutes in the chart), so
-- its open_window is as of the last refresh.
ALTER VIEW analytics.user_conversion RENAME TO user_conversion_now;

CREATE MATERIALIZED VIEW analytics.user_conversion AS
SELECT * FROM analytics.user_conversion_now;

CREATE UNIQUE INDEX user_conversion_key ON analytics.user_conversion (ico_website_id, day);
