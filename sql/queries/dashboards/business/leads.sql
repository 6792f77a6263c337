-- Leads (registrations) of the selected projects by the traffic source of the session they
-- signed up in ('unknown' when the sessions refresher found none), over the whole UTC days
-- touching the range: KYC completion, marketing consent and the verification tiers, in percent
-- of the leads. From the day rows of analytics.leads_rollup (migration 0023, kept by the
-- sessions refresher): analytics.lead_summary's counts without joining each lead to its session.
SELECT w.name AS "Project",
       r.traffic_source AS "Source",
       sum(r.registrations) AS "Leads",
       100.0 * sum(r.kyc_completed) / sum(r.registrations) AS "KYC completed",
       100.0 * sum(r.consenting) / sum(r.registrations) AS "Consenting",
       100.0 * sum(r.basic) / sum(r.registrations) AS "Basic tier",
       100.0 * sum(r.advanced) / sum(r.registrations) AS "Advanced tier",
       100.0 * sum(r.premium) / sum(r.registrations) AS "Premium tier"
FROM analytics.leads_rollup r
JOIN processed_data.ico_websites w ON w.id = r.ico_website_id
WHERE r.span = interval '1 day'
  AND r.span_start >= date_bin('1 day', $__timeFrom()::timestamptz, timestamptz '2000-01-01 00:00+00')
  AND r.span_start <= $__timeTo()::timestamptz
  AND r.ico_website_id IN ($project)
GROUP BY w.id, w.name, r.traffic_source
ORDER BY w.id, "Leads" DESC, r.traffic_source
