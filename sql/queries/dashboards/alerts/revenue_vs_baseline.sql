-- Revenue of the last 24 hours in percent of its baseline: the mean revenue of the (up to
-- seven) 24-hour periods before it that have windows. No baseline, no value: nothing to judge.
WITH hourly AS (
    SELECT window_start, sum(revenue_usd) AS revenue
    FROM analytics.window_aggregates
    WHERE window_length = interval '1 hour' AND $__timeFilter(window_start)
    GROUP BY 1
), days AS (
    SELECT floor(extract(epoch FROM $__timeTo()::timestamptz - window_start) / 86400)::int
               AS days_ago,
           sum(revenue) AS revenue
    FROM hourly
    GROUP BY 1
)
SELECT 100 * coalesce(sum(revenue) FILTER (WHERE days_ago = 0), 0)
       / nullif(avg(revenue) FILTER (WHERE days_ago BETWEEN 1 AND 7), 0) AS revenue_vs_baseline
FROM days
