-- Share of page views slower than 3 s per minute of event time, over the selected projects.
SELECT date_bin('1 minute', "timestamp", timestamptz '2000-01-01') AS "time",
       100.0 * count(*) FILTER (WHERE page_load_time > 3) / count(*) AS "Slow pages"
FROM raw_data.clickstream_events
WHERE event_type = 'page_view' AND page_load_time IS NOT NULL
  AND $__timeFilter("timestamp") AND ico_website_id IN ($project)
GROUP BY 1
ORDER BY 1
