-- Recompute the dashboards' materialized views while dashboards keep reading the previous rows.
REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.daily_project_kpis;
REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.experiment_results;
REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.user_conversion
