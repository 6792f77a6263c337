-- Every dashboard refresh read analytics.experiment_results, which assigns every session ever
-- stored to its variant: seconds at a week of traffic. The computation stays, as
-- analytics.experiment_results_now, and analytics.experiment_results becomes its materialized
-- copy, refreshed concurrently with the daily KPIs (`maintain`; every 15 minutes in the chart).
ALTER VIEW analytics.experiment_results RENAME TO experiment_results_now;

CREATE MATERIALIZED VIEW analytics.experiment_results AS
SELECT * FROM analytics.experiment_results_now;

CREATE UNIQUE INDEX experiment_results_key
    ON analytics.experiment_results (ico_website_id, variant);
