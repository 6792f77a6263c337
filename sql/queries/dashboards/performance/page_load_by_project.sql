-- Page load time percentiles of the page views in the range by project, and the share of
-- slow pages (over 3 s), slowest 95th percentile first. From the page load histograms
-- (migration 0018): page views and slow share exact, percentiles within 2.47 %.
SELECT w.name AS "Project",
       analytics.page_load_percentile(sum(h.histogram), 0.5) AS "p50",
       analytics.page_load_percentile(sum(h.histogram), 0.95) AS "p95",
       analytics.page_load_percentile(sum(h.histogram), 0.99) AS "p99",
       sum(h.views)::bigint AS "Page views",
       100.0 * sum(h.slow_views) / sum(h.views) AS "Slow share"
FROM analytics.page_load_histograms_in($__timeFrom(), $__timeTo(), 'project',
                                       ARRAY[$project]::integer[]) h
JOIN processed_data.ico_websites w ON w.id = h.ico_website_id
GROUP BY w.name
ORDER BY "p95" DESC, 1
