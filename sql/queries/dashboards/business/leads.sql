-- Leads (registrations) of the selected projects by the traffic source of the session they
-- signed up in ('unknown' until the sessions refresher has seen it), over the whole UTC days
-- touching the range (analytics.lead_summary counts per day): KYC completion, marketing
-- consent and the verification tiers, in percent of the leads.
SELECT w.name AS "Project",
       s.traffic_source AS "Source",
       sum(s.registrations) AS "Leads",
       100.0 * sum(s.kyc_completed) / sum(s.registrations) AS "KYC completed",
       100.0 * sum(s.consenting) / sum(s.registrations) AS "Consenting",
       100.0 * sum(s.basic) / sum(s.registrations) AS "Basic tier",
       100.0 * sum(s.advanced) / sum(s.registrations) AS "Advanced tier",
       100.0 * sum(s.premium) / sum(s.registrations) AS "Premium tier"
FROM analytics.lead_summary s
JOIN processed_data.ico_websites w ON w.id = s.ico_website_id
WHERE s.day >= ($__timeFrom()::timestamptz AT TIME ZONE 'UTC')::date
  AND s.day <= ($__timeTo()::timestamptz AT TIME ZONE 'UTC')::date
  AND s.ico_website_id IN ($project)
  AND s.traffic_source <> 'all'
GROUP BY w.id, w.name, s.traffic_source
ORDER BY w.id, "Leads" DESC, s.traffic_source
