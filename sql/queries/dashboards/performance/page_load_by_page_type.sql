-- Page load time percentiles of the page views in the range by page type, and the share of
-- slow pages (over 3 s), slowest 95th percentile first. From the page load histograms
-- (migration 0018): page views and slow share exact, percentiles within 2.47 %.
-- The three percentiles come from one page_load_percentiles call per row (migration 0022).
SELECT "Page type", p[1] AS "p50", p[2] AS "p95", p[3] AS "p99", "Page views",
       "Slow share"
FROM (
    SELECT value AS "Page type",
           analytics.page_load_percentiles(sum(histogram), ARRAY[0.5, 0.95, 0.99]) AS p,
           sum(views)::bigint AS "Page views",
           100.0 * sum(slow_views) / sum(views) AS "Slow share"
    FROM analytics.page_load_histograms_in($__timeFrom(), $__timeTo(), 'page_type',
                                           ARRAY[$project]::integer[])
    GROUP BY value
) by_page_type
ORDER BY "p95" DESC, 1
