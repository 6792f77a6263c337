-- Each selected project's landing-page experiment since it started (not only the range): per
-- variant, visitors (site session ids), sign-ups and rate; on B's row the lift over A, the
-- two-proportion z-test's p-value and the 95% interval of the difference in points; the
-- sample-ratio-mismatch check on both (analytics.experiment_results).
SELECT w.name AS "Project",
       e.experiment_id AS "Experiment",
       e.variant AS "Variant",
       e.visitors AS "Visitors",
       e.conversions AS "Sign-ups",
       100 * e.rate AS "Rate",
       100 * e.lift AS "Lift",
       e.p_value AS "p-value",
       100 * e.diff_ci_low AS "Difference from",
       100 * e.diff_ci_high AS "Difference to",
       CASE WHEN e.sample_ratio_mismatch THEN 'mismatch' ELSE 'ok' END AS "Sample ratio"
FROM analytics.experiment_results e
JOIN processed_data.ico_websites w ON w.id = e.ico_website_id
WHERE e.ico_website_id IN ($project)
ORDER BY w.id, e.variant
