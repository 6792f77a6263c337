-- Page load time percentiles of the page views in the range by project, and the share of
-- slow pages (over 3 s), slowest 95th percentile first. From the page load histograms
-- (migration 0018): page views and slow share exact, percentiles within 2.47 %.
-- The three percentiles come from one page_load_percentiles call per row (migration 0022).
SELECT "Project", p[1] AS "p50", p[2] AS "p95", p[3] AS "p99", "Page views",
       "Slow share"
FROM (
    SELECT w.name AS "Project",
           analytics.page_load_percentiles(sum(h.histogram), ARRAY[0.5, 0.95, 0.99]) AS p,
           sum(h.views)::bigint AS "Page views",
           100.0 * sum(h.slow_views) / sum(h.views) AS "Slow share"
    FROM analytics.page_load_histograms_in($__timeFrom(), $__timeTo(), 'project',
                                           ARRAY[$project]::integer[]) h
    JOIN processed_data.ico_websites w ON w.id = h.ico_website_id
    GROUP BY w.name
) by_project
ORDER BY "p95" DESC, 1
