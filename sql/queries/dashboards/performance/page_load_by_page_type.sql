-- Page load time percentiles of the page views in the range by page type, and the share of
-- slow pages (over 3 s), slowest 95th percentile first. From the page load histograms
-- (migration 0018): page views and slow share exact, percentiles within 2.47 %.
SELECT value AS "Page type",
       analytics.page_load_percentile(sum(histogram), 0.5) AS "p50",
       analytics.page_load_percentile(sum(histogram), 0.95) AS "p95",
       analytics.page_load_percentile(sum(histogram), 0.99) AS "p99",
       sum(views)::bigint AS "Page views",
       100.0 * sum(slow_views) / sum(views) AS "Slow share"
FROM analytics.page_load_histograms_in($__timeFrom(), $__timeTo(), 'page_type',
                                       ARRAY[$project]::integer[])
GROUP BY value
ORDER BY "p95" DESC, 1
