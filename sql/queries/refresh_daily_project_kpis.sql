-- Recompute analytics.daily_project_kpis while dashboards keep reading the previous rows.
REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.daily_project_kpis
