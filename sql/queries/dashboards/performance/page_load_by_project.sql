-- Page load time percentiles of the page views in the range by project, and the share of
-- slow pages (over 3 s), slowest 95th percentile first.
SELECT w.name AS "Project",
       percentile_cont(0.5) WITHIN GROUP (ORDER BY c.page_load_time) AS "p50",
       percentile_cont(0.95) WITHIN GROUP (ORDER BY c.page_load_time) AS "p95",
       percentile_cont(0.99) WITHIN GROUP (ORDER BY c.page_load_time) AS "p99",
       count(*) AS "Page views",
       100.0 * count(*) FILTER (WHERE c.page_load_time > 3) / count(*) AS "Slow share"
FROM raw_data.clickstream_events c
JOIN processed_data.ico_websites w ON w.id = c.ico_website_id
WHERE c.event_type = 'page_view' AND c.page_load_time IS NOT NULL
  AND $__timeFilter(c."timestamp") AND c.ico_website_id IN ($project)
GROUP BY w.name
ORDER BY "p95" DESC, 1
