-- Page load time percentiles of the page views in the range by page type, and the share of
-- slow pages (over 3 s), slowest 95th percentile first.
SELECT c.page_type AS "Page type",
       percentile_cont(0.5) WITHIN GROUP (ORDER BY c.page_load_time) AS "p50",
       percentile_cont(0.95) WITHIN GROUP (ORDER BY c.page_load_time) AS "p95",
       percentile_cont(0.99) WITHIN GROUP (ORDER BY c.page_load_time) AS "p99",
       count(*) AS "Page views",
       100.0 * count(*) FILTER (WHERE c.page_load_time > 3) / count(*) AS "Slow share"
FROM raw_data.clickstream_events c
WHERE c.event_type = 'page_view' AND c.page_load_time IS NOT NULL
  AND $__timeFilter(c."timestamp") AND c.ico_website_id IN ($project)
GROUP BY c.page_type
ORDER BY "p95" DESC, 1
